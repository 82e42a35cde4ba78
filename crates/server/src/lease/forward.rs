//! Leases on any member. Only the leader times leases, so a keep-alive or a
//! "how long is left" taken by another member goes to the leader, as etcd
//! forwards LeaseRenew and LeaseTimeToLive over its peer URLs.
//!
//! Both halves live here: [`LeasePeerService`], the leader's answers on the
//! peer listener (the `LeasePeer` service), and [`renew`] / [`remaining`],
//! which serve locally on the leader and otherwise ask it through
//! `etcd_raft`'s leader client, retrying while leadership moves, within the
//! request timeout.

use std::sync::{Arc, OnceLock};

use etcd_proto::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use etcd_proto::raftpb::lease_peer_client::LeasePeerClient;
use etcd_proto::raftpb::lease_peer_server::{LeasePeer, LeasePeerServer};
use etcd_raft::leader_client::CallError;
use tonic::{Code, Request, Response, Status};

use super::Lessor;
use crate::errors::EtcdError;
use crate::server::EtcdServer;

/// A keep-alive for lease `id`, wherever this member stands: renewed here
/// on the leader, by the leader otherwise. Returns the TTL restarted.
pub async fn renew(server: &EtcdServer, lessor: &Lessor, id: i64) -> Result<i64, EtcdError> {
    if server.is_leader() {
        match lessor.renew(server, id).await {
            // Lost the leadership meanwhile: ask the new leader.
            Err(EtcdError::NotLeader) => {}
            other => return other,
        }
    }
    let asked = server
        .call_leader(|_, channel| async move {
            LeasePeerClient::new(channel)
                .lease_renew(LeaseKeepAliveRequest { id })
                .await
        })
        .await;
    match asked {
        Ok(response) => Ok(response.ttl),
        Err(CallError::Local) => lessor.renew(server, id).await,
        Err(e) => Err(call_error(e)),
    }
}

/// Seconds left on lease `id` by the leader's clock; `None` when the leader
/// does not know the lease.
pub async fn remaining(
    server: &EtcdServer,
    lessor: &Lessor,
    id: i64,
) -> Result<Option<i64>, EtcdError> {
    if server.is_leader() {
        return Ok(lessor.remaining(id));
    }
    let asked = server
        .call_leader(|_, channel| async move {
            LeasePeerClient::new(channel)
                .lease_remaining(LeaseTimeToLiveRequest { id, keys: false })
                .await
        })
        .await;
    match asked {
        Ok(response) => {
            let ttl = response.ttl;
            Ok((ttl >= 0).then_some(ttl))
        }
        Err(CallError::Local) => Ok(lessor.remaining(id)),
        Err(e) => Err(call_error(e)),
    }
}

fn call_error(e: CallError) -> EtcdError {
    match e {
        CallError::NoLeader => EtcdError::NoLeader,
        CallError::Timeout => EtcdError::Timeout,
        CallError::Refused(status) if status.code() == Code::NotFound => EtcdError::LeaseNotFound,
        CallError::Refused(status) => EtcdError::Internal(status.message().to_string()),
        CallError::Local => EtcdError::Internal("unexpected local leader".into()),
    }
}

/// What the leader's half needs; set once the member is ready to serve.
struct Ready {
    server: Arc<EtcdServer>,
    lessor: Arc<Lessor>,
}

/// The leader's half: the `LeasePeer` service. It is registered on the peer
/// listener before the server exists (peers must reach Raft first), and
/// answers `Unavailable` until [`LeasePeerService::ready`] is called.
#[derive(Clone, Default)]
pub struct LeasePeerService {
    ready: Arc<OnceLock<Ready>>,
}

impl LeasePeerService {
    pub fn new() -> LeasePeerService {
        LeasePeerService::default()
    }

    /// Starts answering with this member's server and lessor.
    pub fn ready(&self, server: Arc<EtcdServer>, lessor: Arc<Lessor>) {
        let _ = self.ready.set(Ready { server, lessor });
    }

    /// The tonic service, ready to add to the peer router.
    pub fn into_server(self) -> LeasePeerServer<LeasePeerService> {
        LeasePeerServer::new(self)
    }

    /// The server and lessor, when this member is ready and leads.
    fn leading(&self) -> Result<&Ready, Status> {
        let ready = self
            .ready
            .get()
            .ok_or_else(|| Status::unavailable("member is not ready"))?;
        if !ready.server.is_leader() {
            return Err(Status::unavailable("etcdserver: not leader"));
        }
        Ok(ready)
    }
}

#[tonic::async_trait]
impl LeasePeer for LeasePeerService {
    async fn lease_renew(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        let Ready { server, lessor } = self.leading()?;
        let id = request.into_inner().id;
        match lessor.renew(server, id).await {
            Ok(ttl) => Ok(Response::new(LeaseKeepAliveResponse {
                header: None,
                id,
                ttl,
            })),
            Err(EtcdError::LeaseNotFound) => {
                Err(Status::not_found(EtcdError::LeaseNotFound.to_string()))
            }
            // Not (or no longer) the leader: the caller asks again.
            Err(EtcdError::NotLeader | EtcdError::NoLeader) => {
                Err(Status::unavailable("etcdserver: not leader"))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn lease_remaining(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let Ready { lessor, .. } = self.leading()?;
        let id = request.into_inner().id;
        Ok(Response::new(LeaseTimeToLiveResponse {
            header: None,
            id,
            ttl: lessor.remaining(id).unwrap_or(-1),
            granted_ttl: 0,
            keys: Vec::new(),
        }))
    }
}
