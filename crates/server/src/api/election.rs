//! The Election service (`v3electionpb.Election`): Campaign, Proclaim,
//! Leader, Observe, Resign, etcd's v3election.
//!
//! The election itself is `crate::concurrency`; this file turns its results
//! into responses (headers from `EtcdServer::header`). As in etcd, errors
//! come back as `Unknown` with etcd's text (see `concurrency::error`).

use std::pin::Pin;

use etcd_proto::v3electionpb::election_server::Election;
use etcd_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::concurrency::Concurrency;

pub struct ElectionService {
    concurrency: Concurrency,
}

impl ElectionService {
    pub fn new(concurrency: Concurrency) -> ElectionService {
        ElectionService { concurrency }
    }
}

impl ElectionService {
    /// The recipes acting as the request's caller.
    async fn acting_for<T>(&self, request: &Request<T>) -> Result<Concurrency, Status> {
        let server = self.concurrency.server();
        let caller = server.caller(request).await?;
        Ok(self.concurrency.acting_as(caller))
    }
}

#[tonic::async_trait]
impl Election for ElectionService {
    /// Waits until we lead; the client leaving first withdraws the
    /// candidacy (our key is deleted).
    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let elected = concurrency
            .campaign(&req.name, req.lease, &req.value)
            .await?;
        Ok(Response::new(CampaignResponse {
            header: Some(self.concurrency.server().header(elected.revision)),
            leader: Some(elected.leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let revision = concurrency.proclaim(req.leader, &req.value).await?;
        Ok(Response::new(ProclaimResponse {
            header: Some(self.concurrency.server().header(revision)),
        }))
    }

    async fn leader(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let (revision, kv) = concurrency.leader(&req.name).await?;
        Ok(Response::new(LeaderResponse {
            header: Some(self.concurrency.server().header(revision)),
            kv: Some(kv),
        }))
    }

    type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

    async fn observe(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let server = self.concurrency.server().clone();
        let updates = ReceiverStream::new(concurrency.observe(&req.name)).map(move |u| {
            Ok(LeaderResponse {
                header: Some(server.header(u.revision)),
                kv: Some(u.kv),
            })
        });
        Ok(Response::new(Box::pin(updates)))
    }

    async fn resign(
        &self,
        request: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let revision = concurrency.resign(req.leader).await?;
        Ok(Response::new(ResignResponse {
            header: Some(self.concurrency.server().header(revision)),
        }))
    }
}
