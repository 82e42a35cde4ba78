//! The KV service (`etcdserverpb.KV`): Range, Put, DeleteRange, Txn, Compact.
//!
//! Each handler validates, then hands the request to its method on
//! [`EtcdServer`] (`server/kv.rs`), which decides how it is served.

use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use tonic::{Request as GrpcRequest, Response, Status};

use crate::api::validate;
use crate::server::EtcdServer;

pub struct KvService {
    server: Arc<EtcdServer>,
}

impl KvService {
    pub fn new(server: Arc<EtcdServer>) -> KvService {
        KvService { server }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: GrpcRequest<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        validate::range(&req)?;
        Ok(Response::new(self.server.range(&caller, req).await?))
    }

    async fn put(&self, request: GrpcRequest<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        validate::put(&req)?;
        Ok(Response::new(self.server.put(&caller, req).await?))
    }

    async fn delete_range(
        &self,
        request: GrpcRequest<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        validate::delete_range(&req)?;
        Ok(Response::new(self.server.delete_range(&caller, req).await?))
    }

    async fn txn(&self, request: GrpcRequest<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        validate::txn(&req, self.server.limits().max_txn_ops)?;
        Ok(Response::new(self.server.txn(&caller, req).await?))
    }

    async fn compact(
        &self,
        request: GrpcRequest<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        Ok(Response::new(self.server.compact(&caller, req).await?))
    }
}
