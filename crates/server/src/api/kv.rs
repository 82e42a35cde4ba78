//! The KV service (`etcdserverpb.KV`): Range, Put, DeleteRange, Txn, Compact.
//!
//! Each handler validates, then hands the request to the server pipeline:
//! writes (and txns that may write) go through Raft; ranges and read-only txns
//! are served from a backend snapshot, after a ReadIndex unless the request is
//! serializable.

use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use etcd_proto::raftpb::raft_request::Request;
use etcd_storage::{is_read_only, ApplyResponse};
use tonic::{Request as GrpcRequest, Response, Status};

use crate::api::validate;
use crate::errors::EtcdError;
use crate::server::{Consistency, EtcdServer};

pub struct KvService {
    server: Arc<EtcdServer>,
}

impl KvService {
    pub fn new(server: Arc<EtcdServer>) -> KvService {
        KvService { server }
    }
}

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
    use etcd_proto::etcdserverpb::request_op::Request as Op;
    let all_serializable = txn
        .success
        .iter()
        .chain(&txn.failure)
        .all(|op| matches!(&op.request, Some(Op::RequestRange(r)) if r.serializable));
    consistency(all_serializable)
}

fn unexpected(what: &str) -> Status {
    EtcdError::Internal(format!("apply returned an unexpected response to {what}")).into()
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: GrpcRequest<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let req = request.into_inner();
        validate::range(&req)?;
        let mut resp = self
            .server
            .read(consistency(req.serializable), move |txn| {
                Ok(txn.range(&req)?)
            })
            .await?;
        self.server.fill_header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, request: GrpcRequest<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let req = request.into_inner();
        validate::put(&req)?;
        match self.server.write(Request::Put(req)).await? {
            ApplyResponse::Put(mut resp) => {
                self.server.fill_header(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("put")),
        }
    }

    async fn delete_range(
        &self,
        request: GrpcRequest<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let req = request.into_inner();
        validate::delete_range(&req)?;
        match self.server.write(Request::DeleteRange(req)).await? {
            ApplyResponse::DeleteRange(mut resp) => {
                self.server.fill_header(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("delete range")),
        }
    }

    async fn txn(&self, request: GrpcRequest<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let req = request.into_inner();
        validate::txn(&req, self.server.limits().max_txn_ops)?;
        let mut resp = if is_read_only(&req) {
            self.server
                .read(txn_consistency(&req), move |txn| Ok(txn.txn(&req)?))
                .await?
        } else {
            match self.server.write(Request::Txn(req)).await? {
                ApplyResponse::Txn(resp) => resp,
                _ => return Err(unexpected("txn")),
            }
        };
        self.server.fill_header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        request: GrpcRequest<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let req = request.into_inner();
        match self.server.write(Request::Compaction(req)).await? {
            ApplyResponse::Compaction(mut resp) => {
                self.server.fill_header(&mut resp.header);
                Ok(Response::new(resp))
            }
            _ => Err(unexpected("compaction")),
        }
    }
}
