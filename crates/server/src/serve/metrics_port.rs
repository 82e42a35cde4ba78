//! The `--listen-metrics-urls` listeners: plain HTTP (or HTTPS, with the
//! client port's TLS, as etcd does) serving only `/metrics` and `/health`,
//! from the same [`HttpApi`] as the client port.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use etcd_transport::{Listener, Role, ServerTls};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::Service;
use tonic::transport::Server;

use super::http::HttpApi;
use crate::server::EtcdServer;

/// Every request to the HTTP side, metrics and health only.
#[derive(Clone)]
struct MetricsOnly(HttpApi);

impl Service<Request<Body>> for MetricsOnly {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let http = self.0.clone();
        Box::pin(async move { Ok(http.serve(request).await) })
    }
}

/// Serves every metrics listener until `shutdown` flips to true.
pub fn serve(
    server: Arc<EtcdServer>,
    listeners: Vec<Listener>,
    tls: Option<Arc<ServerTls>>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<Result<(), tonic::transport::Error>>> {
    let service = MetricsOnly(HttpApi::metrics_only(server));
    let mut handles = Vec::new();
    for listener in listeners {
        tracing::info!(address = %listener.address(), "serving metrics");
        let incoming = match etcd_transport::incoming(listener, tls.clone(), Role::Client) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::error!(error = %e, "not serving a metrics listener");
                continue;
            }
        };
        let mut stop = shutdown.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let server = Server::builder().accept_http1(true);
        handles.push(tokio::spawn(server.serve_with_incoming_shutdown(
            service.clone(),
            incoming,
            stopped,
        )));
    }
    handles
}
