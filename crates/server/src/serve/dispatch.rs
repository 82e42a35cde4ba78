//! gRPC and plain HTTP on one port, as etcd serves them: an HTTP/2 request
//! whose `content-type` says `application/grpc` goes to the gRPC services;
//! every other request (HTTP/1.1, or HTTP/2 without gRPC's content type)
//! goes to the HTTP side ([`HttpApi`]). A gRPC request costs one header
//! check here and nothing else: its future is the gRPC stack's own, only
//! HTTP answers are boxed.
//!
//! Under `--listen-client-http-urls` a listener serves one side only
//! ([`Serves`]): the client URLs gRPC, the HTTP URLs everything else; a
//! request for the other side gets Go's 404.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either};
use futures::FutureExt;
use tonic::body::Body;
use tonic::codegen::http::{header, Request, Response, Version};
use tonic::codegen::Service;

use super::http::HttpApi;

/// Whether a request is gRPC (etcd's `grpcHandlerFunc` test).
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_2
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/grpc"))
}

/// Which side(s) a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    Both,
    GrpcOnly,
    HttpOnly,
}

/// Routes each request to `grpc` or to the HTTP side.
#[derive(Clone)]
pub struct Dispatch<G> {
    grpc: G,
    http: HttpApi,
    serves: Serves,
}

impl<G> Dispatch<G> {
    pub fn new(grpc: G, http: HttpApi, serves: Serves) -> Self {
        Dispatch { grpc, http, serves }
    }

    /// The same stack, serving `serves`.
    pub fn serving(self, serves: Serves) -> Self {
        Dispatch { serves, ..self }
    }
}

impl<G> Service<Request<Body>> for Dispatch<G>
where
    G: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    G::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<G::Future, BoxFuture<'static, Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The HTTP side is always ready.
        self.grpc.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let grpc = is_grpc(&request);
        if grpc && self.serves != Serves::HttpOnly {
            Either::Left(self.grpc.call(request))
        } else if !grpc && self.serves == Serves::GrpcOnly {
            Either::Right(async { Ok(HttpApi::not_found()) }.boxed())
        } else {
            let http = self.http.clone();
            Either::Right(async move { Ok(http.serve(request).await) }.boxed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, content_type: Option<&str>) -> Request<()> {
        let mut builder = Request::builder()
            .version(version)
            .uri("/etcdserverpb.KV/Range");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn grpc_is_http2_with_grpc_content_type() {
        assert!(is_grpc(&request(Version::HTTP_2, Some("application/grpc"))));
        assert!(is_grpc(&request(
            Version::HTTP_2,
            Some("application/grpc+proto")
        )));
        assert!(!is_grpc(&request(
            Version::HTTP_11,
            Some("application/grpc")
        )));
        assert!(!is_grpc(&request(
            Version::HTTP_2,
            Some("application/json")
        )));
        assert!(!is_grpc(&request(Version::HTTP_2, None)));
    }
}
