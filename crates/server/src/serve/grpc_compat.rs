//! gRPC transport errors worded as grpc-go words them.
//!
//! Some requests fail inside tonic before any etcd code sees them, and tonic
//! words those failures differently from grpc-go, which the real etcd is
//! built on. Clients and scripts see the difference, so this module rewrites
//! them to grpc-go's code and message:
//!
//! - a request message over the receive limit (`--max-request-bytes` plus
//!   gRPC overhead): tonic's `OutOfRange "Error, decoded message length too
//!   large: found N bytes, the limit is: L bytes"` becomes
//!   `ResourceExhausted "grpc: received message larger than max (N vs. L)"`;
//! - a request body that is not valid protobuf: both answer `Internal`, but
//!   tonic's "failed to decode Protobuf message: ..." gets grpc-go's prefix,
//!   "grpc: error unmarshalling request: ..." for unary methods and
//!   "grpc: failed to unmarshal the received message ..." for methods whose
//!   requests grpc-go reads as a stream. The decoder's own wording after the
//!   prefix stays prost's: gogo-protobuf's cannot be reproduced.
//!
//! [`GrpcCompat`] wraps the whole gRPC router and rewrites trailers-only
//! responses, which is how tonic answers a request it could not read (for
//! unary and server-streaming methods it decodes the request before calling
//! the service). A request-streaming handler (Watch, LeaseKeepAlive) meets
//! the same errors while reading its stream, after the response headers are
//! gone: it passes them through [`grpc_go_status`] before ending the stream
//! with them.
//!
//! This module does not own etcd's own errors (see [`crate::errors`]) and
//! leaves every status it does not recognise exactly as it was.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::Service;
use tonic::{Code, Status};

/// Methods whose request grpc-go reads through its stream API (every method
/// with a streamed request or response), which words unmarshalling errors
/// differently from the unary path. From etcd's protos and grpc's health.proto.
const STREAM_READ_METHODS: &[&str] = &[
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Maintenance/Snapshot",
    "/v3electionpb.Election/Observe",
    "/grpc.health.v1.Health/Watch",
];

/// tonic's message for a request over the receive limit, up to the size.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large: found ";
/// What separates the size from the limit in [`TONIC_TOO_LARGE`].
const TONIC_TOO_LARGE_LIMIT: &str = " bytes, the limit is: ";
/// prost's `DecodeError` display prefix, which tonic-prost sends as is.
const PROST_DECODE: &str = "failed to decode Protobuf message: ";

/// Whether grpc-go reads `path`'s request through its stream API.
pub fn reads_request_as_stream(path: &str) -> bool {
    STREAM_READ_METHODS.contains(&path)
}

/// grpc-go's status for a request-reading error tonic reported as
/// `code`/`message`, or `None` when it is not one (including every etcd
/// error), so the caller keeps the original.
pub fn grpc_go_status(code: Code, message: &str, reads_stream: bool) -> Option<Status> {
    match code {
        Code::OutOfRange => {
            let (found, limit) = too_large_sizes(message)?;
            Some(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({found} vs. {limit})"
            )))
        }
        Code::Internal => {
            let reason = message.strip_prefix(PROST_DECODE)?;
            Some(Status::internal(if reads_stream {
                format!("grpc: failed to unmarshal the received message {reason}")
            } else {
                format!("grpc: error unmarshalling request: {reason}")
            }))
        }
        _ => None,
    }
}

/// The (message size, limit) of tonic's "length too large" message.
fn too_large_sizes(message: &str) -> Option<(u64, u64)> {
    let rest = message.strip_prefix(TONIC_TOO_LARGE)?;
    let (found, rest) = rest.split_once(TONIC_TOO_LARGE_LIMIT)?;
    let limit = rest.strip_suffix(" bytes")?;
    Some((found.parse().ok()?, limit.parse().ok()?))
}

/// Rewrites the status of a trailers-only response (`grpc-status` among the
/// headers); normal responses carry their status in trailers and are left
/// alone.
fn align_response<B>(response: &mut Response<B>, reads_stream: bool) {
    let Some(status) = aligned_headers(response.headers_mut(), reads_stream) else {
        return;
    };
    // tonic also keeps the status it answered with as an extension; keep the
    // two in agreement for anything that reads it further out.
    if response.extensions().get::<Status>().is_some() {
        response.extensions_mut().insert(status);
    }
}

/// Rewrites `grpc-status`/`grpc-message` in `headers` when they hold a
/// status [`grpc_go_status`] recognises; returns the new status.
fn aligned_headers(headers: &mut HeaderMap, reads_stream: bool) -> Option<Status> {
    let code = Code::from_bytes(headers.get(Status::GRPC_STATUS)?.as_bytes());
    let message = headers
        .get(Status::GRPC_MESSAGE)
        .map(|value| percent_decode(value.as_bytes()))
        .unwrap_or_default();
    let status = grpc_go_status(code, &message, reads_stream)?;
    // Writes both headers; it cannot fail for our messages (it
    // percent-encodes them), and on failure the original headers stay.
    status.add_header(headers).ok()?;
    Some(status)
}

/// Decodes the percent-encoding gRPC uses for `grpc-message`; a `%` that
/// does not start a valid escape is kept as is, as gRPC requires.
fn percent_decode(raw: &[u8]) -> String {
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if let (Some(high), Some(low)) = (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                // Two hex digits: at most 0xff.
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC router with grpc-go's wording for the transport errors tonic
/// produces itself (see the module doc).
#[derive(Clone, Debug)]
pub struct GrpcCompat<S> {
    /// The router every request goes to.
    inner: S,
}

impl<S> GrpcCompat<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcCompat<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Unpin,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = GrpcCompatFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let reads_stream = reads_request_as_stream(request.uri().path());
        GrpcCompatFuture {
            inner: self.inner.call(request),
            reads_stream,
        }
    }
}

/// The router's response future, rewriting the response once it is ready.
#[derive(Debug)]
pub struct GrpcCompatFuture<F> {
    inner: F,
    /// Picks grpc-go's streaming wording for unmarshalling errors.
    reads_stream: bool,
}

impl<F, B, E> Future for GrpcCompatFuture<F>
where
    F: Future<Output = Result<Response<B>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let reads_stream = self.reads_stream;
        Pin::new(&mut self.inner).poll(cx).map_ok(|mut response| {
            align_response(&mut response, reads_stream);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::future::Ready;

    fn code_and_message(status: Option<Status>) -> Option<(Code, String)> {
        status.map(|s| (s.code(), s.message().to_string()))
    }

    #[test]
    fn too_large_becomes_resource_exhausted() {
        let tonic = "Error, decoded message length too large: found 3145739 bytes, \
                     the limit is: 2097152 bytes";
        for reads_stream in [false, true] {
            assert_eq!(
                code_and_message(grpc_go_status(Code::OutOfRange, tonic, reads_stream)),
                Some((
                    Code::ResourceExhausted,
                    "grpc: received message larger than max (3145739 vs. 2097152)".into()
                ))
            );
        }
    }

    #[test]
    fn decode_error_gets_grpc_go_prefix() {
        let tonic = "failed to decode Protobuf message: PutRequest.key: buffer underflow";
        assert_eq!(
            code_and_message(grpc_go_status(Code::Internal, tonic, false)),
            Some((
                Code::Internal,
                "grpc: error unmarshalling request: PutRequest.key: buffer underflow".into()
            ))
        );
        assert_eq!(
            code_and_message(grpc_go_status(
                Code::Internal,
                "failed to decode Protobuf message: buffer underflow",
                true
            )),
            Some((
                Code::Internal,
                "grpc: failed to unmarshal the received message buffer underflow".into()
            ))
        );
    }

    #[test]
    fn other_statuses_are_left_alone() {
        let untouched = [
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (Code::OutOfRange, "Error, decoded message length too large"),
            (
                Code::OutOfRange,
                "Error, decoded message length too large: found x bytes, the limit is: 1 bytes",
            ),
            // The encoding side is a server bug, not a client's request.
            (
                Code::OutOfRange,
                "Error, encoded message length too large: found 9 bytes, the limit is: 1 bytes",
            ),
            (Code::Internal, "etcdserver: request timed out"),
            (
                Code::InvalidArgument,
                "failed to decode Protobuf message: invalid varint",
            ),
            (Code::Unimplemented, ""),
        ];
        for (code, message) in untouched {
            assert!(grpc_go_status(code, message, false).is_none(), "{message}");
        }
    }

    #[test]
    fn stream_read_methods() {
        assert!(reads_request_as_stream("/etcdserverpb.Watch/Watch"));
        assert!(reads_request_as_stream(
            "/etcdserverpb.Maintenance/Snapshot"
        ));
        assert!(!reads_request_as_stream("/etcdserverpb.KV/Put"));
        assert!(!reads_request_as_stream("/etcdserverpb.Maintenance/Status"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b%3A%25"), "a b:%");
        assert_eq!(percent_decode(b"100% sure %zz %4"), "100% sure %zz %4");
        assert_eq!(percent_decode(b"%E2%82%AC"), "\u{20ac}");
        assert_eq!(percent_decode(b""), "");
    }

    /// A router stand-in that answers every request with `status`, the way
    /// tonic answers a request it could not read: a trailers-only response.
    #[derive(Clone)]
    struct Answer(Status);

    impl Service<Request<()>> for Answer {
        type Response = Response<()>;
        type Error = Infallible;
        type Future = Ready<Result<Response<()>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(self.0.clone().into_http()))
        }
    }

    async fn answer(status: Status, path: &str) -> Response<()> {
        let request = Request::builder().uri(path).body(()).unwrap();
        GrpcCompat::new(Answer(status)).call(request).await.unwrap()
    }

    fn wire_status(response: &Response<()>) -> (Code, String) {
        let status = Status::from_header_map(response.headers()).unwrap();
        (status.code(), status.message().to_string())
    }

    #[tokio::test]
    async fn rewrites_trailers_only_responses() {
        let tonic = Status::out_of_range(
            "Error, decoded message length too large: found 3145728 bytes, \
             the limit is: 2097152 bytes",
        );
        let response = answer(tonic, "/etcdserverpb.KV/Put").await;
        let expected = (
            Code::ResourceExhausted,
            "grpc: received message larger than max (3145728 vs. 2097152)".to_string(),
        );
        assert_eq!(wire_status(&response), expected);
        let extension = response.extensions().get::<Status>().unwrap();
        assert_eq!(
            (extension.code(), extension.message().to_string()),
            expected
        );

        let tonic = Status::internal("failed to decode Protobuf message: invalid tag value: 0");
        let response = answer(tonic.clone(), "/etcdserverpb.KV/Range").await;
        assert_eq!(
            wire_status(&response),
            (
                Code::Internal,
                "grpc: error unmarshalling request: invalid tag value: 0".to_string()
            )
        );
        let response = answer(tonic, "/etcdserverpb.Maintenance/Snapshot").await;
        assert_eq!(
            wire_status(&response),
            (
                Code::Internal,
                "grpc: failed to unmarshal the received message invalid tag value: 0".to_string()
            )
        );
    }

    #[tokio::test]
    async fn leaves_other_responses_alone() {
        let etcd = Status::out_of_range("etcdserver: mvcc: required revision is a future revision");
        let response = answer(etcd.clone(), "/etcdserverpb.KV/Range").await;
        assert_eq!(
            wire_status(&response),
            (Code::OutOfRange, etcd.message().to_string())
        );

        // A normal response: no status among the headers.
        let request = Request::builder()
            .uri("/etcdserverpb.KV/Range")
            .body(())
            .unwrap();
        struct Ok200;
        impl Service<Request<()>> for Ok200 {
            type Response = Response<()>;
            type Error = Infallible;
            type Future = Ready<Result<Response<()>, Infallible>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: Request<()>) -> Self::Future {
                std::future::ready(Ok(Response::new(())))
            }
        }
        let response = GrpcCompat::new(Ok200).call(request).await.unwrap();
        assert!(response.headers().is_empty());
    }
}
