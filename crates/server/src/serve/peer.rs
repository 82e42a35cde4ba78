//! The peer port: the Raft peer service (`etcd_raft`'s `RaftPeer`) and the
//! lease calls followers hand to the leader, on every peer listener, with
//! the peer TLS (`--peer-*` flags) where the URL asks for it.

use std::sync::Arc;

use etcd_transport::{Listener, Role, ServerTls};
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::lease::forward::LeasePeerService;

/// Serves the peer services on every peer listener. Runs until the
/// returned tasks are aborted, after Raft stopped: a stopping member still
/// answers its peers while it hands over.
pub fn serve_peers(
    service: etcd_raft::PeerService,
    lease: LeasePeerService,
    listeners: Vec<Listener>,
    tls: Option<Arc<ServerTls>>,
) -> Vec<JoinHandle<Result<(), tonic::transport::Error>>> {
    let service = service.into_server();
    let lease = lease.into_server();
    let mut handles = Vec::new();
    for listener in listeners {
        tracing::info!(address = %listener.address(), "serving peer traffic");
        // The configuration checks give every TLS URL its certificates;
        // were one missing, the listener is refused, never served plain.
        let incoming = match etcd_transport::incoming(listener, tls.clone(), Role::Peer) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::error!(error = %e, "not serving a peer listener");
                continue;
            }
        };
        let router = Server::builder()
            .add_service(service.clone())
            .add_service(lease.clone());
        handles.push(tokio::spawn(router.serve_with_incoming(incoming)));
    }
    handles
}
