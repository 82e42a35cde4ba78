//! Listeners: binds `--listen-client-urls` and serves every gRPC service on
//! each, until shutdown; binds `--listen-peer-urls` and serves the Raft peer
//! service there.
//!
//! Listeners are bound before Raft starts, so a port conflict fails the start
//! at once, but requests are served only once the member is ready. Shutdown
//! stops accepting connections and lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;
use etcd_proto::v3electionpb::election_server::ElectionServer;
use etcd_proto::v3lockpb::lock_server::LockServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::api::election::ElectionService;
use crate::api::lease::LeaseService;
use crate::api::lock::LockService;
use crate::api::watch::WatchService;
use crate::api::{cluster::ClusterService, kv::KvService, maintenance::MaintenanceService};
use crate::concurrency::Concurrency;
use crate::grpc_compat::GrpcCompat;
use crate::learner_guard::LearnerGuard;
use crate::lease::Lessor;
use crate::server::EtcdServer;
use crate::watch::Hub;

/// gRPC framing and metadata allowed on top of `--max-request-bytes`, as in
/// etcd, so that a request just under the limit still decodes and gets
/// etcd's own "request is too large" check.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid listen URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("listen tcp {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Binds one listener per URL (`http://host:port`).
pub async fn bind(urls: &[String]) -> Result<Vec<TcpListener>, ListenError> {
    let mut listeners = Vec::with_capacity(urls.len());
    for url in urls {
        let addr = host_port(url)?;
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ListenError::Bind { addr, source })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// `http://host:port` → `host:port` (IPv6 hosts keep their brackets).
fn host_port(url: &str) -> Result<String, ListenError> {
    let bad = |reason: &str| ListenError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// client URLs are supported"))?;
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || !host_port.contains(':') || host_port.contains('/') {
        return Err(bad("expected http://host:port"));
    }
    // "localhost" may resolve to ::1 first; clients dialling localhost:2379
    // (etcdctl's default endpoint is 127.0.0.1:2379) expect IPv4, as etcd binds.
    if let Some(port) = host_port.strip_prefix("localhost:") {
        return Ok(format!("127.0.0.1:{port}"));
    }
    Ok(host_port.to_string())
}

/// HTTP/2 settings from the `--max-concurrent-streams` and
/// `--grpc-keepalive-*` flags.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub max_concurrent_streams: Option<u32>,
    /// How often the server pings an idle connection.
    pub keepalive_interval: Duration,
    /// How long it waits for the ping's answer before closing.
    pub keepalive_timeout: Duration,
}

/// Serves all services on every listener; resolves when all have stopped
/// after `shutdown` flips to true.
pub async fn serve(
    server: Arc<EtcdServer>,
    lessor: Arc<Lessor>,
    watch_service: Arc<WatchService>,
    hub: Hub,
    listeners: Vec<TcpListener>,
    transport: Transport,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<Result<(), tonic::transport::Error>>> {
    let max_decoding = server.limits().max_request_bytes + GRPC_OVERHEAD_BYTES;
    let kv = Arc::new(KvService::new(server.clone()));
    let maintenance = Arc::new(MaintenanceService::new(server.clone()));
    let cluster = Arc::new(ClusterService::new(server.clone()));
    let concurrency = Concurrency::new(server.clone(), hub, lessor.clone(), shutdown.clone());
    let lock = Arc::new(LockService::new(concurrency.clone()));
    let election = Arc::new(ElectionService::new(concurrency));
    let lease = Arc::new(LeaseService::new(server.clone(), lessor, shutdown.clone()));
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    let mut handles = Vec::new();
    for listener in listeners {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::warn!(
            address = %addr.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            "serving client traffic insecurely; this is strongly discouraged!"
        );
        let routes = Routes::new(
            KvServer::from_arc(kv.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            MaintenanceServer::from_arc(maintenance.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            ClusterServer::from_arc(cluster.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            LeaseServer::from_arc(lease.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            WatchServer::from_arc(watch_service.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            LockServer::from_arc(lock.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            ElectionServer::from_arc(election.clone())
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(health.clone())
        .prepare();
        // A learner refuses what etcd's learners refuse (see `learner_guard`).
        let routes = LearnerGuard::new(routes, server.clone());
        let mut stop = shutdown.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        // Transport errors tonic words differently from grpc-go are
        // rewritten around the whole router (see `grpc_compat`).
        let server = Server::builder()
            .max_concurrent_streams(transport.max_concurrent_streams)
            .http2_keepalive_interval(Some(transport.keepalive_interval))
            .http2_keepalive_timeout(Some(transport.keepalive_timeout));
        // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls
        // against delayed ACKs); tonic's own nodelay option does not apply to
        // an incoming stream we supply, so set it per accepted connection.
        let incoming = TcpListenerStream::new(listener).map(|conn| {
            conn.and_then(|stream| {
                stream.set_nodelay(true)?;
                Ok(stream)
            })
        });
        handles.push(tokio::spawn(server.serve_with_incoming_shutdown(
            GrpcCompat::new(routes),
            incoming,
            stopped,
        )));
    }
    handles
}

/// Serves the Raft peer service (etcd_raft's `RaftPeer`) on every peer
/// listener. Runs until the returned tasks are aborted, after Raft stopped:
/// a stopping member still answers its peers while it hands over.
pub fn serve_peers(
    service: etcd_raft::PeerService,
    lease: crate::lease::forward::LeasePeerService,
    listeners: Vec<TcpListener>,
) -> Vec<JoinHandle<Result<(), tonic::transport::Error>>> {
    let service = service.into_server();
    let lease = lease.into_server();
    let mut handles = Vec::new();
    for listener in listeners {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(
            address = %addr.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            "serving peer traffic"
        );
        // Heartbeats are tiny and latency-bound: no Nagle delay.
        let incoming = TcpListenerStream::new(listener).map(|conn| {
            conn.and_then(|stream| {
                stream.set_nodelay(true)?;
                Ok(stream)
            })
        });
        let router = Server::builder()
            .add_service(service.clone())
            .add_service(lease.clone());
        handles.push(tokio::spawn(router.serve_with_incoming(incoming)));
    }
    handles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls() {
        assert_eq!(
            host_port("http://127.0.0.1:2379").unwrap(),
            "127.0.0.1:2379"
        );
        assert_eq!(host_port("http://[::1]:2379/").unwrap(), "[::1]:2379");
        assert_eq!(host_port("http://0.0.0.0:0").unwrap(), "0.0.0.0:0");
        assert_eq!(
            host_port("http://localhost:2379").unwrap(),
            "127.0.0.1:2379"
        );
        assert!(host_port("https://127.0.0.1:2379").is_err());
        assert!(host_port("127.0.0.1:2379").is_err());
        assert!(host_port("http://localhost").is_err());
    }
}
