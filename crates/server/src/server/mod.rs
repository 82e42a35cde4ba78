//! [`EtcdServer`]: one member's request pipeline, shared by every gRPC service
//! and the HTTP endpoints (`serve::http`).
//!
//! Services call its typed methods — [`kv`] (Range, Put, DeleteRange, Txn,
//! Compact, the health checks' probe read), [`lease`] (grant, revoke,
//! time-to-live), [`auth`] (identity, Authenticate, users, roles,
//! permissions), [`cluster`] (membership),
//! [`maintenance`] (status, alarms, hashes, snapshot, defragment,
//! move-leader), [`raft_state`] (who leads, learner or not, calls to the
//! leader) — and never Raft or storage themselves, so what every request
//! must pass (permissions, quota, metrics) has one place: the two steps
//! below. Each method takes the caller's identity first ([`Caller`], from
//! [`EtcdServer::caller`]).
//!
//! Every client write goes through [`EtcdServer::write`]: refuse when apply
//! lags far behind → check size → space quota (a write that would take the
//! backend past `--quota-backend-bytes` raises the NOSPACE alarm through Raft
//! and is refused) → propose through Raft with the caller (with etcd's
//! request timeout) → applied result; apply judges the caller's permissions
//! as of its entry (`etcd_storage::auth::check`). Every read goes through
//! [`EtcdServer::read`]: (linearizable reads only) wait for a ReadIndex →
//! run against a consistent backend snapshot, where the method judges the
//! caller by that same snapshot's users and roles. Response headers are
//! built in one place, [`EtcdServer::header`].

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmRequest, AlarmType, ResponseHeader};
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::{Caller, RaftRequest};
use etcd_raft::RaftNode;
use etcd_storage::request::quota_cost;
use etcd_storage::{ApplyResponse, ReadTxn};
use prost::Message;

use crate::auth::Authenticator;
use crate::errors::EtcdError;

pub mod auth;
pub mod cluster;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod raft_state;

/// Limits from the flags that shape requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-request-bytes`: the largest request that may enter the log.
    pub max_request_bytes: usize,
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// How long a proposal may take before the client gets "request timed
    /// out": etcd's 5 s plus two election timeouts.
    pub request_timeout: Duration,
    /// The backend size writes may not take the store past (see
    /// [`quota_bytes`]); `None`: no quota.
    pub quota_backend_bytes: Option<u64>,
}

/// etcd's quota when `--quota-backend-bytes` is 0.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The quota `--quota-backend-bytes` asks for: 0 means etcd's 2 GiB default,
/// a negative value turns the quota off.
pub fn quota_bytes(flag: i64) -> Option<u64> {
    match flag {
        f if f < 0 => None,
        0 => Some(DEFAULT_QUOTA_BYTES),
        f => Some(f as u64),
    }
}

/// Whether a request of `cost` fits: free requests always do; others only
/// while the backend stays strictly below the quota.
pub fn quota_allows(size: u64, cost: u64, quota: Option<u64>) -> bool {
    match quota {
        None => true,
        Some(_) if cost == 0 => true,
        Some(q) => size.saturating_add(cost) < q,
    }
}

/// etcd refuses new proposals while apply lags commit by more than this.
const MAX_APPLY_LAG: u64 = 5000;

/// Whether a read must be linearizable (the default) or may be served from
/// this member's state as it is (`serializable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Linearizable,
    Serializable,
}

pub struct EtcdServer {
    node: RaftNode,
    cluster_id: u64,
    limits: Limits,
    /// Tokens and how callers are identified (see [`crate::auth`]).
    authn: Arc<Authenticator>,
    /// When a measure of the backend's size in use last started.
    size_refreshed: std::sync::Mutex<std::time::Instant>,
}

impl EtcdServer {
    pub fn new(
        node: RaftNode,
        cluster_id: u64,
        limits: Limits,
        authn: Arc<Authenticator>,
    ) -> Arc<EtcdServer> {
        Arc::new(EtcdServer {
            node,
            cluster_id,
            limits,
            authn,
            size_refreshed: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    /// Raft itself, for starting and stopping the member (`run.rs`);
    /// requests go through the typed methods instead.
    pub(crate) fn node(&self) -> &RaftNode {
        &self.node
    }

    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    pub fn member_id(&self) -> u64 {
        self.node.member_id()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The header every response carries. `revision` is the store revision the
    /// response reflects; pass 0 for responses that are not about the store,
    /// and it is left 0 as etcd leaves it.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id(),
            revision,
            raft_term: self.node.term(),
        }
    }

    /// Completes a header produced by storage (which only knows the revision).
    pub fn fill_header(&self, header: &mut Option<ResponseHeader>) {
        let revision = header.as_ref().map_or(0, |h| h.revision);
        *header = Some(self.header(revision));
    }

    /// Proposes one write from `caller` and returns its applied result;
    /// apply judges it by the caller's permissions.
    pub(crate) async fn write(
        &self,
        caller: &Caller,
        request: Request,
    ) -> Result<ApplyResponse, EtcdError> {
        let proposal = RaftRequest {
            request: Some(request),
            id: 0,
            caller: (*caller != Caller::default()).then(|| caller.clone()),
        };
        if self.node.apply_lag() > MAX_APPLY_LAG {
            return Err(EtcdError::TooManyRequests);
        }
        if proposal.encoded_len() > self.limits.max_request_bytes {
            return Err(EtcdError::RequestTooLarge);
        }
        if let Some(request) = &proposal.request {
            self.check_quota(request).await?;
        }
        self.propose(proposal).await
    }

    /// The space quota step: when `request` would take the backend past the
    /// quota, raise NOSPACE for this member (unless it is already raised) and
    /// refuse. The file size is what etcd compares too (its db size).
    async fn check_quota(&self, request: &Request) -> Result<(), EtcdError> {
        let cost = quota_cost(request);
        if cost == 0 || self.limits.quota_backend_bytes.is_none() {
            return Ok(());
        }
        let size = self.node.backend().size()?;
        if quota_allows(size, cost, self.limits.quota_backend_bytes) {
            return Ok(());
        }
        let member_id = self.member_id();
        let raised = self
            .read(Consistency::Serializable, move |txn| {
                let active = txn.alarms(AlarmType::Nospace as i32)?;
                Ok(active.iter().any(|a| a.member_id == member_id))
            })
            .await?;
        if !raised {
            tracing::warn!(
                "quota-size-bytes" = ?self.limits.quota_backend_bytes,
                "backend-size-bytes" = size,
                "message exceeded backend quota; raising alarm"
            );
            let alarm = Request::Alarm(AlarmRequest {
                action: AlarmAction::Activate as i32,
                member_id,
                alarm: AlarmType::Nospace as i32,
            });
            // The refusal stands whether or not the alarm made it: a lost
            // alarm is raised again by the next write over quota.
            if let Err(e) = self
                .propose(RaftRequest {
                    request: Some(alarm),
                    id: 0,
                    caller: Some(crate::auth::member()),
                })
                .await
            {
                tracing::warn!(error = %e, "could not raise the NOSPACE alarm");
            }
        }
        Err(EtcdError::NoSpace)
    }

    /// Proposes through Raft within the request timeout.
    async fn propose(&self, proposal: RaftRequest) -> Result<ApplyResponse, EtcdError> {
        match tokio::time::timeout(self.limits.request_timeout, self.node.propose(proposal)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// The store's current revision, as this member has applied it.
    pub async fn current_revision(&self) -> Result<i64, EtcdError> {
        self.read(Consistency::Serializable, |txn| Ok(txn.current_revision()?))
            .await
    }

    /// Runs `f` against a consistent snapshot of the store, after a ReadIndex
    /// when the read must be linearizable. Storage calls block, so `f` runs on
    /// the blocking pool.
    pub(crate) async fn read<T, F>(&self, consistency: Consistency, f: F) -> Result<T, EtcdError>
    where
        F: FnOnce(&ReadTxn) -> Result<T, EtcdError> + Send + 'static,
        T: Send + 'static,
    {
        if consistency == Consistency::Linearizable {
            self.node.read_index().await?;
        }
        let backend = self.node.backend().clone();
        tokio::task::spawn_blocking(move || {
            let txn = backend.read()?;
            f(&txn)
        })
        .await
        .map_err(|e| EtcdError::Internal(format!("read task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_flag_follows_etcd() {
        assert_eq!(quota_bytes(0), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(quota_bytes(-1), None);
        assert_eq!(quota_bytes(4096), Some(4096));
    }

    #[test]
    fn quota_is_strictly_below() {
        assert!(quota_allows(100, 0, Some(10)));
        assert!(quota_allows(u64::MAX, 300, None));
        assert!(quota_allows(700, 299, Some(1000)));
        assert!(!quota_allows(700, 300, Some(1000)));
    }
}
