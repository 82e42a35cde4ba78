//! The Lock service (`v3lockpb.Lock`): Lock and Unlock, etcd's v3lock.
//!
//! The mutex itself is `crate::concurrency`; this file turns its results
//! into responses (headers from `EtcdServer::header`). As in etcd, errors
//! come back as `Unknown` with etcd's text (see `concurrency::error`).

use etcd_proto::etcdserverpb::DeleteRangeRequest;
use etcd_proto::v3lockpb::lock_server::Lock;
use etcd_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::{Request, Response, Status};

use crate::api::validate;
use crate::concurrency::{Concurrency, ConcurrencyError};

pub struct LockService {
    concurrency: Concurrency,
}

impl LockService {
    pub fn new(concurrency: Concurrency) -> LockService {
        LockService { concurrency }
    }
}

impl LockService {
    /// The recipes acting as the request's caller.
    async fn acting_for<T>(&self, request: &Request<T>) -> Result<Concurrency, Status> {
        let server = self.concurrency.server();
        let caller = server.caller(request).await?;
        Ok(self.concurrency.acting_as(caller))
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    /// Waits until the lock is ours; the client leaving first withdraws
    /// from the queue (our key is deleted).
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        let locked = concurrency.lock(&req.name, req.lease).await?;
        Ok(Response::new(LockResponse {
            header: Some(self.concurrency.server().header(locked.revision)),
            key: locked.key,
        }))
    }

    /// Deletes the lock's key (whoever holds it: etcd checks nothing).
    async fn unlock(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let concurrency = self.acting_for(&request).await?;
        let req = request.into_inner();
        // etcd deletes through its KV service, with its checks.
        validate::delete_range(&DeleteRangeRequest {
            key: req.key.clone(),
            ..DeleteRangeRequest::default()
        })
        .map_err(ConcurrencyError::from)?;
        let revision = concurrency.unlock(req.key).await?;
        Ok(Response::new(UnlockResponse {
            header: Some(self.concurrency.server().header(revision)),
        }))
    }
}
