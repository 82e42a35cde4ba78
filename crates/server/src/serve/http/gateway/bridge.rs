//! The gateway's side of an in-process gRPC call: the gRPC request made from
//! an HTTP one (framed protobuf, gRPC's headers, the caller's metadata and
//! connection), and the response's messages and final status read back.
//!
//! etcd's gateway dials its own gRPC server; ours hands the request to the
//! very service stack the client port serves gRPC with, so a call through
//! the gateway meets the same middleware, validation, auth and errors
//! without a connection in between.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::codegen::http::request::Parts;
use tonic::codegen::http::{header, HeaderValue, Method, Request, Response, Version};
use tonic::Status;

/// HTTP headers grpc-gateway turns into gRPC metadata with this prefix
/// removed (besides `Authorization`, which keeps its name).
const METADATA_PREFIX: &str = "grpc-metadata-";

/// One protobuf message as a gRPC frame: uncompressed flag, big-endian
/// length, message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.freeze()
}

/// The gRPC request for `grpc_path` with `body` (already framed), made from
/// the HTTP request's `parts`: its connection's extensions (the caller's
/// certificate name under `--client-cert-auth`) and its metadata headers.
pub fn grpc_request(parts: &Parts, grpc_path: &'static str, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = tonic::codegen::http::Uri::from_static(grpc_path);
    *request.version_mut() = Version::HTTP_2;
    *request.extensions_mut() = parts.extensions.clone();
    let headers = request.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    for (name, value) in &parts.headers {
        if name == header::AUTHORIZATION {
            headers.insert(header::AUTHORIZATION, value.clone());
        } else if let Some(key) = name.as_str().strip_prefix(METADATA_PREFIX) {
            if let Ok(key) = header::HeaderName::from_bytes(key.as_bytes()) {
                headers.append(key, value.clone());
            }
        }
    }
    request
}

/// The messages of a gRPC response, in order, then its status.
pub struct Messages {
    body: Body,
    buffer: BytesMut,
    /// The status the trailers carried, once they came.
    status: Option<Status>,
}

impl Messages {
    /// Starts reading `response`; a trailers-only response (a call refused
    /// before any message) is its error at once.
    pub fn of(response: Response<Body>) -> Result<Messages, Status> {
        if let Some(status) = Status::from_header_map(response.headers()) {
            if status.code() != tonic::Code::Ok {
                return Err(status);
            }
        }
        Ok(Messages {
            body: response.into_body(),
            buffer: BytesMut::new(),
            status: None,
        })
    }

    /// The next message; `None` once the call ended well, the status once
    /// it failed.
    pub async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        loop {
            if let Some(message) = self.take_message() {
                return Some(Ok(message));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            self.status = Status::from_header_map(trailers);
                        }
                    }
                },
                Some(Err(status)) => return Some(Err(status)),
                None => {
                    return match self.status.take() {
                        Some(status) if status.code() != tonic::Code::Ok => Some(Err(status)),
                        _ => None,
                    }
                }
            }
        }
    }

    /// A whole frame's message from the buffer, if one is there.
    fn take_message(&mut self) -> Option<Bytes> {
        if self.buffer.len() < 5 {
            return None;
        }
        let length = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if self.buffer.len() < 5 + length {
            return None;
        }
        self.buffer.advance(5);
        Some(self.buffer.split_to(length).freeze())
    }
}

/// The JSON values of a streamed HTTP request body, one after another, as
/// grpc-gateway's decoder reads a bidirectional call's requests.
pub struct JsonValues {
    body: Body,
    buffer: BytesMut,
    /// The most a value may take, so a client cannot grow it without end.
    limit: usize,
    ended: bool,
}

impl JsonValues {
    pub fn new(body: Body, limit: usize) -> JsonValues {
        JsonValues {
            body,
            buffer: BytesMut::new(),
            limit,
            ended: false,
        }
    }

    /// The next value's bytes; `None` at the end of the body. A body that
    /// is not JSON, or ends inside a value, gives the rest of it as
    /// `Err`, for the decoder to word the error.
    pub async fn next(&mut self) -> Option<Result<Bytes, Bytes>> {
        loop {
            let mut values = serde_json::Deserializer::from_slice(&self.buffer)
                .into_iter::<serde::de::IgnoredAny>();
            match values.next() {
                Some(Ok(_)) => {
                    let end = values.byte_offset();
                    return Some(Ok(self.buffer.split_to(end).freeze()));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Some(Err(std::mem::take(&mut self.buffer).freeze()));
                }
                _ => {}
            }
            // Only whitespace, or a value not yet whole: read on.
            if self.ended || self.buffer.len() > self.limit {
                let rest = std::mem::take(&mut self.buffer);
                return if rest.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    Some(Err(rest.freeze()))
                };
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) | None => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static str]) -> Body {
        let chunks: Vec<Result<_, Status>> = chunks
            .iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        Body::new(http_body_util::StreamBody::new(futures::stream::iter(
            chunks,
        )))
    }

    #[tokio::test]
    async fn json_values_are_split_across_chunks() {
        let mut values = JsonValues::new(body(&[r#" {"a":"#, r#"1} {"b""#, r#":2}  "#]), 1024);
        assert_eq!(
            values.next().await,
            Some(Ok(Bytes::from_static(br#" {"a":1}"#)))
        );
        assert_eq!(
            values.next().await,
            Some(Ok(Bytes::from_static(br#" {"b":2}"#)))
        );
        assert_eq!(values.next().await, None);
        let mut bad = JsonValues::new(body(&["garbage"]), 1024);
        assert_eq!(bad.next().await, Some(Err(Bytes::from_static(b"garbage"))));
        let mut cut = JsonValues::new(body(&[r#"{"a":"#]), 1024);
        assert_eq!(cut.next().await, Some(Err(Bytes::from_static(br#"{"a":"#))));
    }

    #[test]
    fn frames_carry_the_length() {
        assert_eq!(&frame(b"ab")[..], &[0, 0, 0, 0, 2, b'a', b'b']);
    }
}
