//! The client port: every gRPC service, with the middleware in front of
//! them built once, served on every client listener beside the HTTP side.
//!
//! A request's way in: the accept loop (`etcd_transport::incoming`: TLS,
//! certificate checks, the caller's CN on the connection) → tonic's HTTP/2
//! (or HTTP/1.1) server → [`Dispatch`] (gRPC or HTTP) → [`GrpcCompat`]
//! (grpc-go's wording of transport errors) → [`LearnerGuard`] (what a
//! learner refuses) → [`GrpcMetered`] (the `grpc_server_*` counts) → the
//! service in `crate::api`; or, for HTTP, [`HttpApi`] (`/health`,
//! `/version`, `/metrics`, ..., and the JSON gateway, whose calls come back
//! into the same gRPC stack).
//!
//! With `--listen-client-http-urls`, HTTP is served on those listeners only
//! and the client URLs serve gRPC only (etcd 3.5).

use std::sync::Arc;

use etcd_proto::etcdserverpb::auth_server::AuthServer;
use etcd_proto::etcdserverpb::cluster_server::ClusterServer;
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::lease_server::LeaseServer;
use etcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use etcd_proto::etcdserverpb::watch_server::WatchServer;
use etcd_proto::v3electionpb::election_server::ElectionServer;
use etcd_proto::v3lockpb::lock_server::LockServer;
use etcd_transport::{Listener, Role, ServerTls};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower::util::BoxCloneSyncService;

use super::dispatch::{Dispatch, Serves};
use super::grpc_compat::GrpcCompat;
use super::grpc_metrics::GrpcMetered;
use super::http::gateway::Gateway;
use super::http::HttpApi;
use super::learner_guard::LearnerGuard;
use super::Http2Settings;
use crate::api::auth::AuthService;
use crate::api::election::ElectionService;
use crate::api::lease::LeaseService;
use crate::api::lock::LockService;
use crate::api::watch::WatchService;
use crate::api::{cluster::ClusterService, kv::KvService, maintenance::MaintenanceService};
use crate::concurrency::Concurrency;
use crate::lease::Lessor;
use crate::server::EtcdServer;
use crate::watch::Hub;

/// gRPC framing and metadata allowed on top of `--max-request-bytes`, as in
/// etcd, so that a request just under the limit still decodes and gets
/// etcd's own "request is too large" check.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// What the client listeners serve and how.
pub struct ClientPort {
    pub server: Arc<EtcdServer>,
    pub lessor: Arc<Lessor>,
    pub watch_service: Arc<WatchService>,
    pub hub: Hub,
    pub http2: Http2Settings,
    /// TLS of the `https`/`unixs` listeners.
    pub tls: Option<Arc<ServerTls>>,
    /// Whether the JSON gateway is served (`--enable-grpc-gateway`).
    pub gateway: bool,
    /// `--metrics`: whether gRPC latency histograms are kept.
    pub metrics: crate::metrics::Detail,
}

/// The gRPC router with every service, as each listener serves it.
async fn routes(port: &ClientPort, shutdown: &watch::Receiver<bool>) -> Routes {
    let server = &port.server;
    let max_decoding = server.limits().max_request_bytes + GRPC_OVERHEAD_BYTES;
    let concurrency = Concurrency::new(
        server.clone(),
        port.hub.clone(),
        port.lessor.clone(),
        shutdown.clone(),
    );
    let lease = LeaseService::new(server.clone(), port.lessor.clone(), shutdown.clone());
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    // Every service gets the same message limits: requests up to the
    // request limit plus overhead, responses of any size (etcd's).
    macro_rules! limited {
        ($service:expr) => {
            $service
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(usize::MAX)
        };
    }
    Routes::new(limited!(KvServer::new(KvService::new(server.clone()))))
        .add_service(limited!(MaintenanceServer::new(MaintenanceService::new(
            server.clone()
        ))))
        .add_service(limited!(ClusterServer::new(ClusterService::new(
            server.clone()
        ))))
        .add_service(limited!(LeaseServer::new(lease)))
        .add_service(limited!(AuthServer::new(AuthService::new(server.clone()))))
        .add_service(limited!(WatchServer::from_arc(port.watch_service.clone())))
        .add_service(limited!(LockServer::new(LockService::new(
            concurrency.clone()
        ))))
        .add_service(limited!(ElectionServer::new(ElectionService::new(
            concurrency
        ))))
        .add_service(health)
        .prepare()
}

/// Serves every client listener (`listeners`: the client URLs,
/// `http_listeners`: `--listen-client-http-urls`) until `shutdown` flips to
/// true; each handle resolves when its listener has stopped.
pub async fn serve(
    port: ClientPort,
    listeners: Vec<Listener>,
    http_listeners: Vec<Listener>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<Result<(), tonic::transport::Error>>> {
    let routes = routes(&port, &shutdown).await;
    // The middleware, built once: the same stack serves every listener,
    // and the JSON gateway calls it too.
    let grpc_metrics = Arc::new(crate::metrics::grpc::GrpcMetrics::new(
        port.metrics == crate::metrics::Detail::Extensive,
    ));
    let grpc = GrpcCompat::new(LearnerGuard::new(
        GrpcMetered::new(routes, grpc_metrics),
        port.server.clone(),
    ));
    let gateway = port.gateway.then(|| {
        Gateway::new(
            BoxCloneSyncService::new(grpc.clone()),
            port.server.limits().max_request_bytes,
        )
    });
    let client_serves = if http_listeners.is_empty() {
        Serves::Both
    } else {
        Serves::GrpcOnly
    };
    let service = Dispatch::new(
        grpc,
        HttpApi::new(port.server.clone(), gateway),
        client_serves,
    );
    let listeners = listeners.into_iter().map(|l| (l, service.clone())).chain(
        http_listeners
            .into_iter()
            .map(|l| (l, service.clone().serving(Serves::HttpOnly))),
    );
    let mut handles = Vec::new();
    for (listener, service) in listeners {
        let address = listener.address();
        if listener.url().is_tls() {
            tracing::info!(address = %address, "serving client traffic securely");
        } else {
            tracing::warn!(
                address = %address,
                "serving client traffic insecurely; this is strongly discouraged!"
            );
        }
        // The configuration checks give every TLS URL its certificates;
        // were one missing, the listener is refused, never served plain.
        let incoming = match etcd_transport::incoming(listener, port.tls.clone(), Role::Client) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::error!(error = %e, "not serving a client listener");
                continue;
            }
        };
        let mut stop = shutdown.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let server = Server::builder()
            // etcd serves HTTP/1.1 on the client port too.
            .accept_http1(true)
            .max_concurrent_streams(port.http2.max_concurrent_streams)
            .http2_keepalive_interval(Some(port.http2.keepalive_interval))
            .http2_keepalive_timeout(Some(port.http2.keepalive_timeout));
        handles.push(tokio::spawn(
            server.serve_with_incoming_shutdown(service, incoming, stopped),
        ));
    }
    handles
}
