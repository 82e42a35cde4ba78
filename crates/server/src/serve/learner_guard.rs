//! What a learner serves: etcd answers only Maintenance.Status and
//! serializable Ranges on a member that is a learner, and refuses every
//! other request — writes, linearizable reads, watches, leases, member
//! lists — with `Unavailable "etcdserver: rpc not supported for learner"`
//! (etcd's gRPC interceptors, `isRPCSupportedForLearner`), so clients move
//! on to a voting member.
//!
//! [`LearnerGuard`] wraps the whole client router, so every service is
//! covered in this one place. Whether this member is a learner is read from
//! the committed membership for each request: a promoted learner serves
//! everything from then on. A Range is let through only when its request
//! says `serializable`, which takes reading its (unary, single-message)
//! body first; a body that cannot be read goes on unchanged, so the service
//! answers it as it answers any malformed request.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http_body_util::BodyExt;
use prost::Message;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{Bytes, Service};
use tonic::Status;

use etcd_proto::etcdserverpb::RangeRequest;

use crate::errors::EtcdError;
use crate::server::EtcdServer;

/// The one method a learner always serves.
const STATUS_METHOD: &str = "/etcdserverpb.Maintenance/Status";
/// The method a learner serves when the read is serializable.
const RANGE_METHOD: &str = "/etcdserverpb.KV/Range";
/// gRPC's message prefix: a compression flag and a 4-byte length.
const GRPC_PREFIX_BYTES: usize = 5;

/// The client router, refusing what a learner must not serve.
#[derive(Clone)]
pub struct LearnerGuard<S> {
    inner: S,
    server: Arc<EtcdServer>,
}

impl<S> LearnerGuard<S> {
    pub fn new(inner: S, server: Arc<EtcdServer>) -> Self {
        LearnerGuard { inner, server }
    }
}

impl<S> Service<Request<Body>> for LearnerGuard<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if !self.server.is_learner() {
            return Box::pin(self.inner.call(request));
        }
        let path = request.uri().path();
        if path == STATUS_METHOD {
            return Box::pin(self.inner.call(request));
        }
        if path != RANGE_METHOD {
            return Box::pin(async { Ok(refusal()) });
        }
        // The router was made ready for this call; a clone is not.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(status) => return Ok(status.into_http()),
            };
            if serializable_range(&bytes) == Some(false) {
                return Ok(refusal());
            }
            let body = Body::new(http_body_util::Full::new(bytes));
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

fn refusal() -> Response<Body> {
    Status::from(EtcdError::NotSupportedForLearner).into_http()
}

/// Whether the framed RangeRequest in `body` asks for a serializable read;
/// `None` when it cannot be read (compressed, truncated, not protobuf).
fn serializable_range(body: &Bytes) -> Option<bool> {
    let header = body.get(..GRPC_PREFIX_BYTES)?;
    if header[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let message = body.get(GRPC_PREFIX_BYTES..GRPC_PREFIX_BYTES.checked_add(len)?)?;
    RangeRequest::decode(message).ok().map(|r| r.serializable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(request: &RangeRequest) -> Bytes {
        let message = request.encode_to_vec();
        let mut body = vec![0];
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(&message);
        Bytes::from(body)
    }

    #[test]
    fn reads_the_serializable_flag_of_a_framed_range() {
        let mut request = RangeRequest {
            key: b"k".to_vec(),
            ..Default::default()
        };
        assert_eq!(serializable_range(&framed(&request)), Some(false));
        request.serializable = true;
        assert_eq!(serializable_range(&framed(&request)), Some(true));
        let body = framed(&request);
        assert_eq!(serializable_range(&body.slice(..body.len() - 1)), None);
        assert_eq!(
            serializable_range(&Bytes::from_static(&[1, 0, 0, 0, 0])),
            None
        );
        assert_eq!(serializable_range(&Bytes::new()), None);
    }
}
