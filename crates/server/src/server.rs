//! [`EtcdServer`]: one member's request pipeline, shared by every gRPC service.
//!
//! Every client write goes through [`EtcdServer::write`]: refuse when apply
//! lags far behind → check size → propose through Raft (with etcd's request
//! timeout) → applied result. Every read goes through [`EtcdServer::read`]:
//! (linearizable reads only) wait for a ReadIndex → run against a consistent
//! backend snapshot. Authentication and the space quota will be steps of
//! these two functions, so services never talk to Raft or storage around
//! them. Response headers are built in one place, [`EtcdServer::header`].

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::ResponseHeader;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::RaftRequest;
use etcd_raft::RaftNode;
use etcd_storage::{ApplyResponse, ReadTxn};
use prost::Message;

use crate::errors::EtcdError;

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
}

impl EtcdServer {
    pub fn new(node: RaftNode, cluster_id: u64, limits: Limits) -> Arc<EtcdServer> {
        Arc::new(EtcdServer {
            node,
            cluster_id,
            limits,
        })
    }

    pub fn node(&self) -> &RaftNode {
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
            raft_term: self.node.status().term,
        }
    }

    /// Completes a header produced by storage (which only knows the revision).
    pub fn fill_header(&self, header: &mut Option<ResponseHeader>) {
        let revision = header.as_ref().map_or(0, |h| h.revision);
        *header = Some(self.header(revision));
    }

    /// Proposes one client write and returns its applied result.
    pub async fn write(&self, request: Request) -> Result<ApplyResponse, EtcdError> {
        let proposal = RaftRequest {
            request: Some(request),
        };
        let status = self.node.status();
        if status.committed_index.saturating_sub(status.applied_index) > MAX_APPLY_LAG {
            return Err(EtcdError::TooManyRequests);
        }
        if proposal.encoded_len() > self.limits.max_request_bytes {
            return Err(EtcdError::RequestTooLarge);
        }
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
    pub async fn read<T, F>(&self, consistency: Consistency, f: F) -> Result<T, EtcdError>
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
