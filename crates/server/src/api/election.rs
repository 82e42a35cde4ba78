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

#[tonic::async_trait]
impl Election for ElectionService {
    /// Waits until we lead; the client leaving first withdraws the
    /// candidacy (our key is deleted).
    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let req = request.into_inner();
        let elected = self
            .concurrency
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
        let req = request.into_inner();
        let revision = self.concurrency.proclaim(req.leader, &req.value).await?;
        Ok(Response::new(ProclaimResponse {
            header: Some(self.concurrency.server().header(revision)),
        }))
    }

    async fn leader(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let req = request.into_inner();
        let (revision, kv) = self.concurrency.leader(&req.name).await?;
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
        let req = request.into_inner();
        let server = self.concurrency.server().clone();
        let updates = ReceiverStream::new(self.concurrency.observe(&req.name)).map(move |u| {
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
        let req = request.into_inner();
        let revision = self.concurrency.resign(req.leader).await?;
        Ok(Response::new(ResignResponse {
            header: Some(self.concurrency.server().header(revision)),
        }))
    }
}
