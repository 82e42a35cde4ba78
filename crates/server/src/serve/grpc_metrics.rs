//! Counts every gRPC call as go-grpc-prometheus and etcd's codec count
//! them (see [`crate::metrics::grpc`] for the series): started when it
//! arrives; each request and response message (and its bytes) as it passes
//! through the body; handled, with the final `grpc-status`, when the call
//! ends — from the response headers for a trailers-only answer (every
//! error of a unary call), from the trailers otherwise; a call whose
//! response is dropped unfinished (the client went away) ends `Canceled`.
//!
//! It sits inside [`super::learner_guard`], as etcd's metrics interceptor
//! runs after the learner check: a refused call is not counted.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http_body::Frame;
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::{Body as HttpBody, Bytes, Service};
use tonic::{Code, Status};

use crate::metrics::grpc::{GrpcMetrics, MethodSeries};

/// The gRPC router, counted.
#[derive(Clone)]
pub struct GrpcMetered<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S> GrpcMetered<S> {
    pub fn new(inner: S, metrics: Arc<GrpcMetrics>) -> Self {
        GrpcMetered { inner, metrics }
    }
}

impl<S> Service<Request<Body>> for GrpcMetered<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let Some(series) = self.metrics.method(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        series.started.inc();
        let call = Call {
            series,
            metrics: self.metrics.clone(),
            started: Instant::now(),
        };
        let (parts, body) = request.into_parts();
        let body = Body::new(Counted {
            inner: body,
            framer: Framer::default(),
            call: call.clone(),
            side: Side::Request,
            done: true,
        });
        let response = self.inner.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let (parts, body) = response.await?.into_parts();
            if let Some(code) = grpc_status(&parts.headers) {
                call.handled(code);
                return Ok(Response::from_parts(parts, body));
            }
            let body = Body::new(Counted {
                inner: body,
                framer: Framer::default(),
                call,
                side: Side::Response,
                done: false,
            });
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// One call's series and its start.
#[derive(Clone)]
struct Call {
    series: Arc<MethodSeries>,
    metrics: Arc<GrpcMetrics>,
    started: Instant,
}

impl Call {
    fn handled(&self, code: Code) {
        self.series.handled(code);
        if let Some(h) = &self.series.handling {
            h.observe(self.started.elapsed().as_secs_f64());
        }
    }

    fn message(&self, side: Side, bytes: usize) {
        match side {
            Side::Request => {
                self.series.received.inc();
                self.metrics.received_bytes().inc_by(bytes as u64);
            }
            Side::Response => {
                self.series.sent.inc();
                self.metrics.sent_bytes().inc_by(bytes as u64);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

/// The final status in `headers` (a trailers-only response, or trailers).
fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

/// A request or response body whose messages are counted; a response body
/// also ends the call.
struct Counted {
    inner: Body,
    framer: Framer,
    call: Call,
    side: Side,
    /// Whether the call's end was counted (always, for a request body).
    done: bool,
}

impl Counted {
    fn finish(&mut self, code: Code) {
        if !self.done {
            self.done = true;
            self.call.handled(code);
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let (call, side) = (&this.call, this.side);
                    this.framer.feed(data, |len| call.message(side, len));
                } else if let Some(trailers) = frame.trailers_ref() {
                    this.finish(grpc_status(trailers).unwrap_or(Code::Unknown));
                }
            }
            Some(Err(status)) => this.finish(status.code()),
            None => this.finish(Code::Unknown),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// Finds the messages in a stream of gRPC frames (a flag byte, a 4-byte
/// length, the message), across chunk boundaries.
#[derive(Debug, Default)]
struct Framer {
    header: [u8; 5],
    /// Header bytes seen of the current message.
    filled: usize,
    /// The current message's length, and what is left of it.
    len: usize,
    left: usize,
}

impl Framer {
    /// Reads `data`; calls `message` with the length of each message that
    /// completes in it.
    fn feed(&mut self, mut data: &[u8], mut message: impl FnMut(usize)) {
        while !data.is_empty() {
            if self.filled < self.header.len() {
                let n = (self.header.len() - self.filled).min(data.len());
                self.header[self.filled..self.filled + n].copy_from_slice(&data[..n]);
                self.filled += n;
                data = &data[n..];
                if self.filled == self.header.len() {
                    let [_, a, b, c, d] = self.header;
                    self.len = u32::from_be_bytes([a, b, c, d]) as usize;
                    self.left = self.len;
                    if self.len == 0 {
                        message(0);
                        self.filled = 0;
                    }
                }
            } else {
                let n = self.left.min(data.len());
                self.left -= n;
                data = &data[n..];
                if self.left == 0 {
                    message(self.len);
                    self.filled = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(len: usize) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend_from_slice(&(len as u32).to_be_bytes());
        frame.extend(std::iter::repeat_n(7, len));
        frame
    }

    #[test]
    fn messages_are_found_across_chunks() {
        let mut stream = framed(3);
        stream.extend(framed(0));
        stream.extend(framed(10));
        for chunk in [1, 2, 5, 100] {
            let mut framer = Framer::default();
            let mut seen = Vec::new();
            for piece in stream.chunks(chunk) {
                framer.feed(piece, |len| seen.push(len));
            }
            assert_eq!(seen, [3, 0, 10], "chunks of {chunk}");
        }
    }

    #[test]
    fn the_status_comes_from_grpc_status() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(grpc_status(&headers), Some(Code::NotFound));
    }
}
