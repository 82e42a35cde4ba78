//! [`PeerDialer`]: the one way a member connects to another member's peer
//! URL, for Raft replication, forwarded requests, lease calls, membership
//! questions and joining. It speaks what the URL says (`http`, `https`,
//! `unix`, `unixs`) with the member's peer TLS, and gives back a lazily
//! connected gRPC channel that reconnects after a failure.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

use crate::conn::Io;
use crate::tls::ClientTls;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("bad peer URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot dial {url}: TLS peer URLs need peer TLS (--peer-cert-file and --peer-key-file, or --peer-auto-tls)")]
    NoTls { url: String },
}

/// Dials peers, with TLS when their URL asks for it.
#[derive(Debug, Clone, Default)]
pub struct PeerDialer {
    /// The member's peer TLS, for `https` and `unixs` URLs.
    tls: Option<Arc<ClientTls>>,
}

impl PeerDialer {
    pub fn new(tls: Option<Arc<ClientTls>>) -> PeerDialer {
        PeerDialer { tls }
    }

    /// A dialer without TLS: `http` and `unix` URLs only.
    pub fn plaintext() -> PeerDialer {
        PeerDialer::default()
    }

    /// A channel to `url`; nothing is connected until the first call.
    pub fn channel(&self, url: &str) -> Result<Channel, DialError> {
        let bad = |reason: &str| DialError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let addr = rest.trim_end_matches('/').to_string();
        if addr.is_empty() {
            return Err(bad("no address"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let (unix, secure) = match scheme.as_str() {
            "http" => (false, false),
            "https" => (false, true),
            "unix" => (true, false),
            "unixs" => (true, true),
            _ => return Err(bad("URL scheme must be http, https, unix, or unixs")),
        };
        let tls = match (secure, &self.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => {
                return Err(DialError::NoTls {
                    url: url.to_string(),
                })
            }
        };
        // The name the certificate must be valid for: the URL's host, for
        // a unix socket too (Go's transport takes it from `host:port`).
        let host = host_of(&addr).to_string();
        // The connector dials the target itself; tonic only needs an
        // authority for the HTTP/2 requests, so it always gets an http URI
        // (an https one would make tonic look for its own TLS).
        let authority = if unix {
            "localhost".to_string()
        } else {
            addr.clone()
        };
        let endpoint = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|e| bad(&e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT);
        let connector = Connector(Arc::new(Target {
            addr,
            unix,
            host,
            tls,
        }));
        Ok(endpoint.connect_with_connector_lazy(connector))
    }
}

/// `host:port` → `host` (IPv6 brackets kept off).
fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Where one channel connects, and how.
#[derive(Debug)]
struct Target {
    /// `host:port`, or the socket path.
    addr: String,
    unix: bool,
    /// The name the other side's certificate must be valid for.
    host: String,
    tls: Option<Arc<ClientTls>>,
}

#[derive(Debug, Clone)]
struct Connector(Arc<Target>);

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let target = self.0.clone();
        Box::pin(async move {
            let io: Box<dyn Io> = if target.unix {
                let stream = UnixStream::connect(&target.addr).await?;
                match &target.tls {
                    Some(tls) => Box::new(tls.connect(&target.host, stream).await?),
                    None => Box::new(stream),
                }
            } else {
                let stream = TcpStream::connect(&target.addr).await?;
                // Heartbeats are tiny and latency-bound: no Nagle delay.
                stream.set_nodelay(true)?;
                match &target.tls {
                    Some(tls) => Box::new(tls.connect(&target.host, stream).await?),
                    None => Box::new(stream),
                }
            };
            Ok(TokioIo::new(io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tls_urls_need_peer_tls() {
        let dialer = PeerDialer::plaintext();
        assert!(dialer.channel("http://127.0.0.1:2380").is_ok());
        assert!(dialer.channel("unix://localhost:2380").is_ok());
        assert!(matches!(
            dialer.channel("https://127.0.0.1:2380"),
            Err(DialError::NoTls { .. })
        ));
        assert!(dialer.channel("ftp://127.0.0.1:2380").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("127.0.0.1:2380"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2380"), "::1");
        assert_eq!(host_of("localhost:2380"), "localhost");
    }
}
