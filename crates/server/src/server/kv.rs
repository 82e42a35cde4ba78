//! The KV requests on [`EtcdServer`]: Range, Put, DeleteRange, Txn and
//! Compact, each one call for a handler (etcd's `v3_server.go` methods),
//! and the health checks' probe read.
//! Writes and txns that may write go through [`EtcdServer::write`]; ranges
//! and read-only txns through [`EtcdServer::read`], linearizable unless the
//! request says otherwise. Every response leaves with a full header.

use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::Caller;
use etcd_storage::request::Needs;
use etcd_storage::{is_read_only, ApplyResponse};

use super::{Consistency, EtcdServer};
use crate::errors::EtcdError;

fn consistency(serializable: bool) -> Consistency {
    if serializable {
        Consistency::Serializable
    } else {
        Consistency::Linearizable
    }
}

/// A read-only txn is linearizable unless every op in both branches is a
/// serializable range (a nested txn counts as not serializable), as in etcd.
fn txn_consistency(txn: &TxnRequest) -> Consistency {
    let all_serializable = txn
        .success
        .iter()
        .chain(&txn.failure)
        .all(|op| matches!(&op.request, Some(Op::RequestRange(r)) if r.serializable));
    consistency(all_serializable)
}

/// Apply answered a request with another request's response: a bug.
pub(super) fn unexpected(what: &str) -> EtcdError {
    EtcdError::Internal(format!("apply returned an unexpected response to {what}"))
}

impl EtcdServer {
    /// Judged by the snapshot it reads (read on the range).
    pub async fn range(
        &self,
        caller: &Caller,
        request: RangeRequest,
    ) -> Result<RangeResponse, EtcdError> {
        let caller = caller.clone();
        let mut resp = self
            .read(consistency(request.serializable), move |txn| {
                txn.authorize(Some(&caller), || Needs::range(&request))?;
                Ok(txn.range(&request)?)
            })
            .await?;
        self.fill_header(&mut resp.header);
        Ok(resp)
    }

    /// The health checks' probe: one read of the store, linearizable or
    /// not, within the request timeout; only whether it worked is kept.
    /// It stands for etcd's (a keys-only range of one key, as root), so no
    /// permission applies.
    pub async fn probe_read(&self, consistency: Consistency) -> Result<(), EtcdError> {
        let read = self.read(consistency, |txn| Ok(txn.current_revision().map(drop)?));
        match tokio::time::timeout(self.limits.request_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// Whether `caller` may watch `key` / `range_end` (read on it), judged
    /// when the watch is created, as etcd does.
    pub async fn check_watch(
        &self,
        caller: &Caller,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        if !self.node.backend().auth_maybe_enabled() {
            return Ok(());
        }
        let (caller, key, range_end) = (caller.clone(), key.to_vec(), range_end.to_vec());
        self.read(Consistency::Serializable, move |txn| {
            Ok(txn.authorize(Some(&caller), || Needs::read_of(&key, &range_end))?)
        })
        .await
    }

    pub async fn put(
        &self,
        caller: &Caller,
        request: PutRequest,
    ) -> Result<PutResponse, EtcdError> {
        match self.write(caller, Request::Put(request)).await? {
            ApplyResponse::Put(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("put")),
        }
    }

    pub async fn delete_range(
        &self,
        caller: &Caller,
        request: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError> {
        match self.write(caller, Request::DeleteRange(request)).await? {
            ApplyResponse::DeleteRange(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("delete range")),
        }
    }

    /// A txn: served from a snapshot when no branch can write, proposed
    /// otherwise; judged alike either way (every compare and op).
    pub async fn txn(
        &self,
        caller: &Caller,
        request: TxnRequest,
    ) -> Result<TxnResponse, EtcdError> {
        let mut resp = if is_read_only(&request) {
            let consistency = txn_consistency(&request);
            let caller = caller.clone();
            self.read(consistency, move |txn| {
                txn.authorize(Some(&caller), || Needs::txn(&request))?;
                Ok(txn.txn(&request)?)
            })
            .await?
        } else {
            match self.write(caller, Request::Txn(request)).await? {
                ApplyResponse::Txn(resp) => resp,
                _ => return Err(unexpected("txn")),
            }
        };
        self.fill_header(&mut resp.header);
        Ok(resp)
    }

    /// Open to every caller, as in etcd 3.4.
    pub async fn compact(
        &self,
        caller: &Caller,
        request: CompactionRequest,
    ) -> Result<CompactionResponse, EtcdError> {
        match self.write(caller, Request::Compaction(request)).await? {
            ApplyResponse::Compaction(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("compaction")),
        }
    }
}
