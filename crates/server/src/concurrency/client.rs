//! [`Concurrency`]: what the recipes use of the server — the request
//! pipeline for their reads and writes, the watch hub for waiting, the
//! lessor for session leases — in the shape of the few client calls etcd's
//! recipes make (txn, linearizable get, delete, lease grant).

use std::sync::Arc;

use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use etcd_proto::raftpb::Caller;
use tokio::sync::watch;

use super::ConcurrencyError;
use crate::errors::EtcdError;
use crate::lease::ttl::granted_ttl;
use crate::lease::Lessor;
use crate::server::EtcdServer;
use crate::watch::{Hub, Watch};

/// etcd's default session TTL, in seconds: a Lock or Campaign with lease 0
/// runs on a fresh lease of this TTL that nobody keeps alive, as etcd's
/// `concurrency.NewSession` grants one.
pub const SESSION_TTL: i64 = 60;

/// How often a session grant is retried when the chosen id was taken.
const GRANT_ATTEMPTS: usize = 3;

/// A cheap handle shared by the Lock and Election services.
#[derive(Clone)]
pub struct Concurrency {
    pub(super) server: Arc<EtcdServer>,
    /// Waiting for a deletion, and Observe, watch through it.
    hub: Hub,
    /// Picks ids for session leases.
    lessor: Arc<Lessor>,
    /// Flips to true when the member stops: waits end then, so a shutdown
    /// does not wait on them.
    shutdown: watch::Receiver<bool>,
    /// Whom the recipes' requests are judged as: the client whose Lock or
    /// Campaign they serve (see [`Concurrency::acting_as`]).
    pub(super) caller: Caller,
}

impl Concurrency {
    pub fn new(
        server: Arc<EtcdServer>,
        hub: Hub,
        lessor: Arc<Lessor>,
        shutdown: watch::Receiver<bool>,
    ) -> Concurrency {
        Concurrency {
            server,
            hub,
            lessor,
            shutdown,
            caller: crate::auth::anonymous(),
        }
    }

    /// This handle acting for `caller`: its reads and writes need the
    /// caller's permissions, as etcd's lock and election services act with
    /// the client's token.
    pub fn acting_as(&self, caller: Caller) -> Concurrency {
        Concurrency {
            caller,
            ..self.clone()
        }
    }

    pub fn server(&self) -> &Arc<EtcdServer> {
        &self.server
    }

    /// A txn through Raft (the recipes' txns always may write).
    pub(super) async fn txn(&self, txn: TxnRequest) -> Result<TxnResponse, EtcdError> {
        self.server.txn(&self.caller, txn).await
    }

    /// A linearizable range, as clientv3's Get.
    pub(super) async fn range(&self, range: RangeRequest) -> Result<RangeResponse, EtcdError> {
        self.server.range(&self.caller, range).await
    }

    /// Deletes `key`; the revision after it.
    pub(super) async fn delete(&self, key: Vec<u8>) -> Result<i64, EtcdError> {
        let req = DeleteRangeRequest {
            key,
            ..DeleteRangeRequest::default()
        };
        let resp = self.server.delete_range(&self.caller, req).await?;
        Ok(revision(&resp.header))
    }

    /// The lease a recipe runs on: the caller's, or for 0 a new lease of
    /// [`SESSION_TTL`] (etcd's session for `WithLease(0)`).
    pub(super) async fn session_lease(&self, lease: i64) -> Result<i64, EtcdError> {
        if lease != 0 {
            return Ok(lease);
        }
        let ttl = granted_ttl(SESSION_TTL, self.lessor.min_ttl())?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let id = self.lessor.new_id();
            match self.server.lease_grant(&self.caller, id, ttl).await {
                Ok(_) => return Ok(id),
                Err(EtcdError::LeaseExists) if attempt < GRANT_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Watches `key` (`range_end` as in a request) from `start_revision`.
    pub(super) fn watch(
        &self,
        key: &[u8],
        range_end: &[u8],
        start_revision: i64,
    ) -> Result<Watch, ConcurrencyError> {
        self.hub
            .watch(key, range_end, start_revision)
            .map_err(|e| EtcdError::Internal(format!("internal watch: {e}")).into())
    }

    /// Resolves once the member is stopping.
    pub(super) async fn stopping(&self) {
        let mut shutdown = self.shutdown.clone();
        // A dropped sender also means the member is stopping.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }
}

/// The revision of a response header produced by storage.
pub(super) fn revision(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

pub(super) fn unexpected(what: &str) -> EtcdError {
    EtcdError::Internal(format!("apply returned an unexpected response to {what}"))
}
