//! gRPC and plain HTTP on one port, as etcd serves them: an HTTP/2 request
//! whose `content-type` says `application/grpc` goes to the gRPC services;
//! every other request (HTTP/1.1, or HTTP/2 without gRPC's content type)
//! goes to the HTTP side. etcd's HTTP API (health, metrics, the JSON
//! gateway) is not built yet, so the HTTP side answers every path as Go's
//! `http.NotFound` does.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use tonic::body::Body;
use tonic::codegen::http::{header, HeaderValue, Request, Response, StatusCode, Version};
use tonic::codegen::Service;

/// Whether a request is gRPC (etcd's `grpcHandlerFunc` test).
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_2
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/grpc"))
}

/// Routes each request to `grpc` or to the HTTP side.
#[derive(Clone)]
pub struct Dispatch<G> {
    grpc: G,
}

impl<G> Dispatch<G> {
    pub fn new(grpc: G) -> Self {
        Dispatch { grpc }
    }
}

impl<G> Service<Request<Body>> for Dispatch<G>
where
    G: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    G::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<G::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.grpc.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_grpc(&request) {
            Either::Left(self.grpc.call(request))
        } else {
            Either::Right(futures::future::ready(Ok(not_found())))
        }
    }
}

/// Go's `http.NotFound`.
fn not_found() -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(
        tonic::codegen::Bytes::from_static(b"404 page not found\n"),
    )));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
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
