//! The front door: every request from a client or a peer enters the member
//! here, and every connection to another member leaves through the one
//! dialer set up here.
//!
//! Connections themselves (binding `http`/`https`/`unix`/`unixs` URLs, the
//! accept loop, TLS termination, etcd's certificate checks, dialing) are
//! `etcd_transport`'s. This module decides what runs on them:
//! - [`security`]: etcd's TLS flags turned into the client and peer
//!   listeners' TLS and the peer dialer, `--auto-tls` certificates made.
//! - [`client`]: the client port — every gRPC service behind the
//!   middleware, built once for all listeners, and HTTP beside it.
//! - [`dispatch`]: gRPC and plain HTTP on the same port, as etcd serves
//!   them; [`http`]: the HTTP side (`/health`, `/livez`, `/readyz`,
//!   `/version`; Go's 404 for every other path).
//! - [`grpc_compat`], [`learner_guard`] and [`grpc_metrics`]: the
//!   middleware (grpc-go's wording of transport errors; what a learner
//!   refuses; the `grpc_server_*` counts).
//! - [`metrics_port`]: the `--listen-metrics-urls` listeners (`/metrics`,
//!   `/health`).
//! - [`peer`]: the peer port (Raft and the member-to-member services).
//!
//! Listeners are bound before Raft starts, so a port conflict fails the
//! start at once, but requests are served only once the member is ready.
//! Shutdown stops accepting connections and lets in-flight requests finish.
//!
//! The caller's identity: on a listener with `--client-cert-auth`, the
//! accept loop puts the verified certificate's Common Name on the connection
//! ([`etcd_transport::ConnInfo`]), and tonic copies it onto every request;
//! [`caller_common_name`] reads it back.

pub mod client;
pub mod dispatch;
pub mod grpc_compat;
pub mod grpc_metrics;
pub mod http;
pub mod learner_guard;
pub mod metrics_port;
pub mod peer;
pub mod security;

use std::time::Duration;

use etcd_transport::{ConnInfo, ListenError, ListenUrl, Listener};

pub use client::serve;
pub use peer::serve_peers;
pub use security::Security;

/// HTTP/2 settings of client connections, from the
/// `--max-concurrent-streams` and `--grpc-keepalive-*` flags.
#[derive(Debug, Clone, Copy)]
pub struct Http2Settings {
    pub max_concurrent_streams: Option<u32>,
    /// How often the server pings an idle connection.
    pub keepalive_interval: Duration,
    /// How long it waits for the ping's answer before closing.
    pub keepalive_timeout: Duration,
}

/// Binds one listener per URL.
pub async fn bind(urls: &[String]) -> Result<Vec<Listener>, ListenError> {
    let mut listeners = Vec::with_capacity(urls.len());
    for url in urls {
        listeners.push(etcd_transport::bind(&ListenUrl::parse(url)?).await?);
    }
    Ok(listeners)
}

/// The Common Name of the verified client certificate the request's
/// connection presented (only on listeners that verify client
/// certificates): under `--client-cert-auth`, etcd's user name for the
/// caller when the request carries no auth token.
pub fn caller_common_name(extensions: &tonic::Extensions) -> Option<&str> {
    extensions
        .get::<std::sync::Arc<ConnInfo>>()
        .and_then(|info| info.common_name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::transport::server::Connected;

    /// The CN is read back from exactly what tonic puts on each request:
    /// the connection's `connect_info()`.
    #[tokio::test]
    async fn the_callers_common_name_comes_from_the_connection() {
        let (io, _other) = tokio::io::duplex(64);
        let conn = etcd_transport::Conn::new(
            io,
            ConnInfo {
                remote: "127.0.0.1:1".to_string(),
                tls: true,
                common_name: Some("alice".to_string()),
            },
        );
        let mut extensions = tonic::Extensions::new();
        extensions.insert(conn.connect_info());
        assert_eq!(caller_common_name(&extensions), Some("alice"));
        assert_eq!(caller_common_name(&tonic::Extensions::new()), None);
    }
}
