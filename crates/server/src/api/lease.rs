//! The Lease service (`etcdserverpb.Lease`): LeaseGrant, LeaseRevoke,
//! LeaseKeepAlive, LeaseTimeToLive, LeaseLeases.
//!
//! Grants and revokes go through Raft. Before proposing a grant this service
//! does what etcd does around its apply: picks an id for ID 0, refuses a TTL
//! above the maximum and raises one below the minimum. Keep-alives and
//! remaining times come from the lessor (`crate::lease`), which only the
//! leader times (a follower asks the leader, see `lease::forward`);
//! attached keys and granted TTLs come from storage.

use std::collections::HashMap;
use std::sync::Arc;

use etcd_proto::etcdserverpb::lease_server::Lease;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use crate::errors::EtcdError;
use crate::lease::forward;
use crate::lease::ttl::granted_ttl;
use crate::lease::Lessor;
use crate::server::lease::StoredLease;
use crate::server::EtcdServer;

/// How often a grant with a server-chosen id is retried when the id turns
/// out to be taken (a client chose it at the same moment).
const CHOSEN_ID_ATTEMPTS: usize = 3;
/// Keep-alive responses buffered per stream before the stream stops reading
/// requests.
const KEEPALIVE_BUFFER: usize = 16;

pub struct LeaseService {
    server: Arc<EtcdServer>,
    lessor: Arc<Lessor>,
    /// Flips to true when the member stops: keep-alive streams, which never
    /// end on their own, end then so the shutdown does not wait on them.
    shutdown: watch::Receiver<bool>,
}

impl LeaseService {
    pub fn new(
        server: Arc<EtcdServer>,
        lessor: Arc<Lessor>,
        shutdown: watch::Receiver<bool>,
    ) -> LeaseService {
        LeaseService {
            server,
            lessor,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: GrpcRequest<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        let ttl = granted_ttl(req.ttl, self.lessor.min_ttl())?;
        let chosen = req.id == 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let id = if chosen { self.lessor.new_id() } else { req.id };
            match self.server.lease_grant(&caller, id, ttl).await {
                Ok(resp) => return Ok(Response::new(resp)),
                Err(EtcdError::LeaseExists) if chosen && attempt < CHOSEN_ID_ATTEMPTS => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn lease_revoke(
        &self,
        request: GrpcRequest<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let id = request.into_inner().id;
        Ok(Response::new(self.server.lease_revoke(&caller, id).await?))
    }

    type LeaseKeepAliveStream = ReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

    /// Answers each request in order, on a task per stream. A failure other
    /// than an unknown lease (which answers TTL 0) ends the stream with it.
    async fn lease_keep_alive(
        &self,
        request: GrpcRequest<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(KEEPALIVE_BUFFER);
        let server = self.server.clone();
        let lessor = self.lessor.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let stopping = async {
                    // A dropped sender also means the member is stopping.
                    let _ = shutdown.wait_for(|stopping| *stopping).await;
                };
                let next = tokio::select! {
                    next = inbound.message() => Some(next),
                    _ = stopping => None,
                    _ = tx.closed() => return,
                };
                let Some(next) = next else {
                    let _ = tx.send(Err(EtcdError::Stopped.into())).await;
                    return;
                };
                // The client closed its side, or the stream broke.
                let Ok(Some(req)) = next else { return };
                let resp = keep_alive_once(&server, &lessor, req.id).await;
                let failed = resp.is_err();
                if tx.send(resp).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn lease_time_to_live(
        &self,
        request: GrpcRequest<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        let id = req.id;
        let StoredLease {
            record,
            keys,
            revision,
        } = self.server.stored_lease(&caller, id, req.keys).await?;
        let resp = match record {
            None => LeaseTimeToLiveResponse {
                header: Some(self.server.header(revision)),
                id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Some(record) => LeaseTimeToLiveResponse {
                header: Some(self.server.header(revision)),
                id,
                // Revoked right after the read: report it as read.
                ttl: forward::remaining(&self.server, &self.lessor, id)
                    .await?
                    .unwrap_or_else(|| record.effective_ttl()),
                granted_ttl: record.ttl,
                keys,
            },
        };
        Ok(Response::new(resp))
    }

    /// Every lease storage holds, soonest expiry first as etcd lists them
    /// (the lessor's order; any it does not know yet last, by id).
    async fn lease_leases(
        &self,
        _request: GrpcRequest<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let (records, revision) = self.server.stored_leases().await?;
        let rank: HashMap<i64, usize> = self
            .lessor
            .leases()
            .into_iter()
            .enumerate()
            .map(|(rank, id)| (id, rank))
            .collect();
        let mut ids: Vec<i64> = records.iter().map(|r| r.id).collect();
        ids.sort_unstable_by_key(|id| (rank.get(id).copied().unwrap_or(usize::MAX), *id));
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.server.header(revision)),
            leases: ids.into_iter().map(|id| LeaseStatus { id }).collect(),
        }))
    }
}

/// One keep-alive: renews and answers {ID, TTL}; an unknown lease answers
/// TTL 0. The header is taken before the renewal, as etcd does, so its
/// revision is never later than the renewal (a revoke at a later revision
/// cannot look as if it came before a successful keep-alive).
async fn keep_alive_once(
    server: &EtcdServer,
    lessor: &Lessor,
    id: i64,
) -> Result<LeaseKeepAliveResponse, Status> {
    let header = server.header(server.current_revision().await?);
    let ttl = match forward::renew(server, lessor, id).await {
        Ok(ttl) => ttl,
        Err(EtcdError::LeaseNotFound) => 0,
        Err(e) => return Err(e.into()),
    };
    Ok(LeaseKeepAliveResponse {
        header: Some(header),
        id,
        ttl,
    })
}
