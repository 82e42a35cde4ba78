//! `--gateway`: the `put` and `range` workloads sent to etcd's JSON gateway
//! (`POST /v3/kv/put`, `/v3/kv/range`) instead of gRPC, as a curl script or
//! an HTTP-only client library sends them, so the two servers' gateways can
//! be measured the same way their gRPC services are.
//!
//! Owns the HTTP side: one HTTP/1.1 keep-alive connection per client (HTTP/1.1
//! carries one request at a time, so `--conns` does not apply), the JSON
//! bodies (the requests' protobuf JSON mapping, from the generated serde
//! impls, as a gateway client writes them), the `Authorization` header with
//! `--user`'s token, and turning a gateway error body back into a status.
//! Plain `http://` endpoints only.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::connect::ConnectError;

/// One client's connection to a gateway.
pub struct GatewayClient {
    sender: SendRequest<Full<Bytes>>,
    /// `host:port`, the `Host` header every request carries.
    authority: String,
    /// `--user`'s token, sent as the `Authorization` header.
    token: Option<String>,
}

/// A gateway answer that is not 200: grpc-gateway's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

impl GatewayClient {
    /// Connects to `url` (`http://host:port`).
    pub async fn connect(
        url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<GatewayClient, ConnectError> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| ConnectError::BadEndpoint {
                endpoint: url.to_string(),
                reason: "--gateway takes plain http:// endpoints only".to_string(),
            })?
            .trim_end_matches('/')
            .to_string();
        let dial_error = |reason: String| ConnectError::BadEndpoint {
            endpoint: url.to_string(),
            reason,
        };
        let dial = TcpStream::connect(&authority);
        let tcp = if timeout.is_zero() {
            dial.await
        } else {
            tokio::time::timeout(timeout, dial)
                .await
                .map_err(|_| dial_error("dial timed out".to_string()))?
        }
        .map_err(|e| dial_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| dial_error(e.to_string()))?;
        // The connection runs beside the client; it ends when `sender` drops.
        tokio::spawn(connection);
        Ok(GatewayClient {
            sender,
            authority,
            token,
        })
    }

    /// POSTs `request` as JSON to `path`; a non-200 answer becomes the
    /// status its error body names.
    pub async fn call<R: Serialize>(
        &mut self,
        path: &str,
        request: &R,
    ) -> Result<(), tonic::Status> {
        let body = serde_json::to_vec(request)
            .map_err(|e| tonic::Status::internal(format!("encoding the JSON request: {e}")))?;
        let mut builder = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            builder = builder.header(hyper::header::AUTHORIZATION, token);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| tonic::Status::internal(format!("building the request: {e}")))?;
        self.sender
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let status = response.status();
        // Read to the end, so the connection is free for the next request.
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?
            .to_bytes();
        if status == hyper::StatusCode::OK {
            return Ok(());
        }
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => tonic::Status::new(error.code.into(), error.message),
            Err(_) => {
                tonic::Status::unknown(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
            }
        })
    }
}

/// One gateway client per benchmark client: client `i` connects to
/// `urls[i % urls.len()]`.
pub async fn connect_all(
    urls: &[String],
    clients: usize,
    timeout: Duration,
    token: Option<String>,
) -> Result<Vec<GatewayClient>, ConnectError> {
    if urls.is_empty() {
        return Err(ConnectError::NoEndpoints);
    }
    let mut all = Vec::with_capacity(clients);
    for i in 0..clients {
        all.push(GatewayClient::connect(&urls[i % urls.len()], timeout, token.clone()).await?);
    }
    Ok(all)
}
