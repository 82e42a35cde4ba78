//! etcd's JSON gateway: every v3 gRPC call as `POST /v3/<service>/<call>`
//! (and `/v3beta/...`) with its messages in protobuf's JSON mapping, as
//! etcd serves it with grpc-gateway v1.
//!
//! What it owns:
//! - [`routes`]: which path is which call, and its JSON ↔ protobuf
//!   conversions (the generated serde impls of `etcd_proto`);
//! - [`json_error`]: reading a JSON request, with Go's error wording;
//! - [`bridge`]: the in-process gRPC call — the gateway is a client of the
//!   client port's own gRPC stack (middleware, services, auth, errors), as
//!   etcd's gateway is a client of etcd's gRPC server;
//! - [`errors`]: grpc-gateway's error answers and HTTP statuses.
//!
//! Answers: a unary call's response as one JSON object; a streamed call's
//! (watch, lease keep-alive, election observe, snapshot) as chunked lines
//! `{"result":...}`, ending with `{"error":...}` if the call fails; the
//! `Authorization` header carries the auth token.

mod bridge;
mod errors;
mod json_error;
mod routes;

use std::convert::Infallible;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use tonic::body::Body;
use tonic::codegen::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tonic::Status;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

use bridge::{frame, grpc_request, JsonValues, Messages};
use routes::{Call, Kind};

/// The client port's gRPC stack, as the gateway calls it.
pub type GrpcService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// Serves the gateway's paths; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    grpc: GrpcService,
    /// The most a request body may hold (`--max-request-bytes` and the
    /// JSON encoding's growth: base64 and field names).
    body_limit: usize,
}

/// What the gateway makes of a path.
pub enum Route {
    Call(Call),
    /// Under `/v3/` or `/v3beta/`, but no call: the gateway's own 404.
    Unknown,
}

impl Gateway {
    pub fn new(grpc: GrpcService, max_request_bytes: usize) -> Gateway {
        Gateway {
            grpc,
            body_limit: max_request_bytes
                .saturating_mul(2)
                .saturating_add(1024 * 1024),
        }
    }

    /// The gateway's route for `path`; `None`: not the gateway's path.
    pub fn route(path: &str) -> Option<Route> {
        if let Some(call) = routes::lookup(path) {
            Some(Route::Call(call))
        } else if routes::is_under_gateway(path) {
            Some(Route::Unknown)
        } else {
            None
        }
    }

    /// Answers one request for `call` (already routed; POST only).
    pub async fn serve(&self, call: Call, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        match call.kind {
            Kind::Unary | Kind::ServerStream => {
                let body = match Limited::new(body, self.body_limit).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(e) => return failed(&Status::invalid_argument(e.to_string())),
                };
                let message = match (call.request)(&body) {
                    Ok(message) => message,
                    Err(text) => return failed(&Status::invalid_argument(text)),
                };
                let body = Body::new(Full::new(frame(&message)));
                let messages = match self.call(grpc_request(&parts, call.grpc_path, body)).await {
                    Ok(messages) => messages,
                    Err(status) => return failed(&status),
                };
                if call.kind == Kind::Unary {
                    unary(call, messages).await
                } else {
                    stream(call, messages).await
                }
            }
            Kind::Bidi => self.bidi(call, &parts, body).await,
        }
    }

    /// A bidirectional call: the body's JSON values become the request
    /// stream. The first is read before anything is answered, so a body
    /// that is not a request fails the whole call (grpc-gateway answers
    /// that with its untyped error: code Unknown); a later bad value ends
    /// the request stream, and the responses go on.
    async fn bidi(
        &self,
        call: Call,
        parts: &tonic::codegen::http::request::Parts,
        body: Body,
    ) -> Response<Body> {
        let mut values = JsonValues::new(body, self.body_limit);
        let first = match values.next().await {
            Some(value) => {
                let raw = value.unwrap_or_else(|rest| rest);
                match (call.request)(&raw) {
                    Ok(message) => Some(frame(&message)),
                    Err(text) => return failed(&Status::unknown(text)),
                }
            }
            None => None,
        };
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            if let Some(first) = first {
                if sender.send(first).await.is_err() {
                    return;
                }
            }
            while let Some(Ok(raw)) = values.next().await {
                let Ok(message) = (call.request)(&raw) else {
                    break;
                };
                if sender.send(frame(&message)).await.is_err() {
                    break;
                }
            }
            // Dropping the sender half-closes the gRPC request stream.
        });
        let frames = tokio_stream::wrappers::ReceiverStream::new(receiver)
            .map(|data| Ok::<_, Status>(http_body::Frame::data(data)));
        let request = grpc_request(parts, call.grpc_path, Body::new(StreamBody::new(frames)));
        match self.call(request).await {
            Ok(messages) => stream(call, messages).await,
            Err(status) => failed(&status),
        }
    }

    /// Hands `request` to the gRPC stack.
    async fn call(&self, request: Request<Body>) -> Result<Messages, Status> {
        let Ok(response) = self.grpc.clone().oneshot(request).await;
        Messages::of(response)
    }
}

/// A unary call's answer: its one response as JSON, or its error.
async fn unary(call: Call, mut messages: Messages) -> Response<Body> {
    match messages.next().await {
        Some(Ok(message)) => match (call.response)(&message) {
            Ok(json) => json_response(StatusCode::OK, Body::new(Full::new(Bytes::from(json)))),
            Err(text) => failed(&Status::internal(text)),
        },
        Some(Err(status)) => failed(&status),
        None => failed(&Status::unknown("empty response")),
    }
}

/// A streamed call's answer: a line per response, flushed as it comes; an
/// error before the first response sets the HTTP status too.
async fn stream(call: Call, mut messages: Messages) -> Response<Body> {
    let first = messages.next().await;
    let status = match &first {
        Some(Err(status)) => errors::http_status(status.code()),
        _ => StatusCode::OK,
    };
    let lines = futures::stream::unfold(
        (Some(first), messages, false),
        move |(pending, mut messages, done)| async move {
            if done {
                return None;
            }
            let next = match pending {
                Some(first) => first,
                None => messages.next().await,
            };
            let (line, done) = match next {
                Some(Ok(message)) => match (call.response)(&message) {
                    Ok(json) => (result_line(&json), false),
                    Err(text) => (errors::stream_line(&Status::internal(text)), true),
                },
                Some(Err(status)) => (errors::stream_line(&status), true),
                None => return None,
            };
            Some((
                Ok::<_, Status>(http_body::Frame::data(Bytes::from(line))),
                (None, messages, done),
            ))
        },
    );
    json_response(status, Body::new(StreamBody::new(lines)))
}

/// `{"result":<json>}` and the newline that ends each streamed response.
fn result_line(json: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(json.len() + 12);
    line.extend_from_slice(b"{\"result\":");
    line.extend_from_slice(json);
    line.extend_from_slice(b"}\n");
    line
}

/// A failed call's answer.
fn failed(status: &Status) -> Response<Body> {
    json_response(
        errors::http_status(status.code()),
        Body::new(Full::new(Bytes::from(errors::body(status)))),
    )
}

/// An answer with the gateway's headers: JSON, and the gRPC response's
/// content type as grpc-gateway forwards it.
fn json_response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "grpc-metadata-content-type",
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// Only POST reaches a call.
pub fn allows(method: &Method) -> bool {
    method == Method::POST
}
