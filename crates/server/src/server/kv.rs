//! The KV requests on [`EtcdServer`]: Range, Put, DeleteRange, Txn and
//! Compact, each one call for a handler (etcd's `v3_server.go` methods).
//! Writes and txns that may write go through [`EtcdServer::write`]; ranges
//! and read-only txns through [`EtcdServer::read`], linearizable unless the
//! request says otherwise. Every response leaves with a full header.

use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_proto::raftpb::raft_request::Request;
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
    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, EtcdError> {
        let mut resp = self
            .read(consistency(request.serializable), move |txn| {
                Ok(txn.range(&request)?)
            })
            .await?;
        self.fill_header(&mut resp.header);
        Ok(resp)
    }

    pub async fn put(&self, request: PutRequest) -> Result<PutResponse, EtcdError> {
        match self.write(Request::Put(request)).await? {
            ApplyResponse::Put(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("put")),
        }
    }

    pub async fn delete_range(
        &self,
        request: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError> {
        match self.write(Request::DeleteRange(request)).await? {
            ApplyResponse::DeleteRange(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("delete range")),
        }
    }

    /// A txn: served from a snapshot when no branch can write, proposed
    /// otherwise.
    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, EtcdError> {
        let mut resp = if is_read_only(&request) {
            let consistency = txn_consistency(&request);
            self.read(consistency, move |txn| Ok(txn.txn(&request)?))
                .await?
        } else {
            match self.write(Request::Txn(request)).await? {
                ApplyResponse::Txn(resp) => resp,
                _ => return Err(unexpected("txn")),
            }
        };
        self.fill_header(&mut resp.header);
        Ok(resp)
    }

    pub async fn compact(
        &self,
        request: CompactionRequest,
    ) -> Result<CompactionResponse, EtcdError> {
        match self.write(Request::Compaction(request)).await? {
            ApplyResponse::Compaction(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("compaction")),
        }
    }
}
