//! Listeners: binding a listen URL and the accept loop.
//!
//! A URL names what to bind (`http`/`https`: a tcp address; `unix`/`unixs`:
//! a socket file, named as etcd names it, `host:port` of the URL taken as
//! a path) and whether it speaks TLS. [`incoming`] accepts connections and
//! yields them ready to serve: a TLS connection only after its handshake
//! and etcd's checks on it (revocation; on peer listeners, that the
//! certificate names the peer's address), each handshake on its own task
//! so a slow client never holds up the others (at most 1,024
//! at once, each within a timeout). A refused connection is
//! logged as etcd logs it ("rejected connection") and closed.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::CertificateError;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_rustls::LazyConfigAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use crate::conn::{Conn, ConnInfo, Io};
use crate::tls::{verify, ServerTls};

/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted connections waiting for the server to take them.
const ACCEPT_BACKLOG: usize = 128;
/// TLS handshakes in progress at once on one listener.
const MAX_HANDSHAKES: usize = 1024;
/// The first and the longest pause after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A TLS record carrying a handshake starts with this byte.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Which side of the member a listener serves: peer listeners also check
/// that a peer's certificate names the address it connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Peer,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid listen URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("listen {network} {addr}: {source}")]
    Bind {
        network: &'static str,
        addr: String,
        source: io::Error,
    },
}

/// A listen URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenUrl {
    /// `http`, `https`, `unix` or `unixs`.
    pub scheme: String,
    /// `host:port` for tcp (localhost as 127.0.0.1), the socket path for unix.
    pub addr: String,
}

impl ListenUrl {
    pub fn parse(url: &str) -> Result<ListenUrl, ListenError> {
        let bad = |reason: &str| ListenError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "unix" | "unixs") {
            return Err(bad("URL scheme must be http, https, unix, or unixs"));
        }
        let addr = rest.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') && !scheme.starts_with("unix") {
            return Err(bad("expected scheme://host:port"));
        }
        let tcp = !scheme.starts_with("unix");
        if tcp && !addr.contains(':') {
            return Err(bad("expected scheme://host:port"));
        }
        // "localhost" may resolve to ::1 first; clients dialling localhost
        // (etcdctl's default endpoint is 127.0.0.1:2379) expect IPv4. No
        // host (`http://:2379`) is every interface, as in Go.
        let addr = match (addr.strip_prefix("localhost:"), tcp) {
            (Some(port), true) => format!("127.0.0.1:{port}"),
            _ if tcp && addr.starts_with(':') => format!("0.0.0.0{addr}"),
            _ => addr.to_string(),
        };
        Ok(ListenUrl { scheme, addr })
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "unixs")
    }

    pub fn is_unix(&self) -> bool {
        self.scheme.starts_with("unix")
    }
}

/// A bound listener.
#[derive(Debug)]
pub struct Listener {
    url: ListenUrl,
    socket: Socket,
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// Binds `url`. A unix socket file left by an earlier run is replaced, as
/// etcd does.
pub async fn bind(url: &ListenUrl) -> Result<Listener, ListenError> {
    let socket = if url.is_unix() {
        let path = PathBuf::from(&url.addr);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ListenError::Bind {
            network: "unix",
            addr: url.addr.clone(),
            source,
        })?;
        Socket::Unix(listener, path)
    } else {
        let listener = TcpListener::bind(&url.addr)
            .await
            .map_err(|source| ListenError::Bind {
                network: "tcp",
                addr: url.addr.clone(),
                source,
            })?;
        Socket::Tcp(listener)
    };
    Ok(Listener {
        url: url.clone(),
        socket,
    })
}

impl Listener {
    pub fn url(&self) -> &ListenUrl {
        &self.url
    }

    /// The bound address: `ip:port` (the real port where 0 was asked for),
    /// or the socket path.
    pub fn address(&self) -> String {
        match &self.socket {
            Socket::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| self.url.addr.clone(), |a| a.to_string()),
            Socket::Unix(_, path) => path.display().to_string(),
        }
    }

    /// The URL clients can reach this listener at.
    pub fn bound_url(&self) -> String {
        format!("{}://{}", self.url.scheme, self.address())
    }

    /// The bound tcp address, if this is a tcp listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.socket {
            Socket::Tcp(l) => l.local_addr().ok(),
            Socket::Unix(..) => None,
        }
    }
}

/// A connection before TLS.
enum Raw {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream, String),
}

/// The connections accepted on `listener`, each ready to serve. TLS is
/// terminated with `tls` when the listener's scheme asks for it; a TLS
/// URL without it is refused rather than served in plain text. The accept
/// loop stops once the stream is dropped.
pub fn incoming(
    listener: Listener,
    tls: Option<Arc<ServerTls>>,
    role: Role,
) -> Result<ReceiverStream<io::Result<Conn>>, ListenError> {
    let tls = match (listener.url.is_tls(), tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            return Err(ListenError::BadUrl {
                url: listener.bound_url(),
                reason: "a TLS listener needs a certificate and key".to_string(),
            })
        }
    };
    let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
    tokio::spawn(accept_loop(listener, tls, role, tx));
    Ok(ReceiverStream::new(rx))
}

async fn accept_loop(
    listener: Listener,
    tls: Option<Arc<ServerTls>>,
    role: Role,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = accept(&listener.socket) => accepted,
        };
        let raw = match accepted {
            Ok(raw) => {
                backoff = ACCEPT_BACKOFF_MIN;
                raw
            }
            Err(e) => {
                // Out of file descriptors and the like: the listener itself
                // is fine, so wait and accept again, longer each time (Go's
                // http.Server backs off the same way, up to a second).
                tracing::warn!(address = %listener.address(), error = %e, "accept failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        match &tls {
            None => {
                let conn = plain(raw);
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
            }
            Some(tls) => {
                // At most MAX_HANDSHAKES at once: past that, accepting waits
                // (the kernel's backlog holds the rest), so a flood of
                // clients that never finish their handshake cannot take
                // unbounded tasks and memory.
                let permit = tokio::select! {
                    _ = tx.closed() => return,
                    permit = handshakes.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    let conn = secure(raw, &tls, role).await;
                    drop(permit);
                    if let Some(conn) = conn {
                        let _ = tx.send(Ok(conn)).await;
                    }
                });
            }
        }
    }
}

async fn accept(socket: &Socket) -> io::Result<Raw> {
    match socket {
        Socket::Tcp(l) => {
            let (stream, remote) = l.accept().await?;
            // Small gRPC frames must not wait for Nagle's algorithm (40 ms
            // stalls against delayed ACKs). A socket that refuses the option
            // still serves.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            Ok(Raw::Tcp(stream, remote))
        }
        Socket::Unix(l, path) => {
            let (stream, _) = l.accept().await?;
            Ok(Raw::Unix(stream, path.display().to_string()))
        }
    }
}

fn plain(raw: Raw) -> Conn {
    let (io, remote): (Box<dyn Io>, String) = match raw {
        Raw::Tcp(s, a) => (Box::new(s), a.to_string()),
        Raw::Unix(s, p) => (Box::new(s), p),
    };
    Conn::new(
        io,
        ConnInfo {
            remote,
            tls: false,
            common_name: None,
        },
    )
}

/// Why a TLS connection was refused, with the SNI name it asked for and,
/// when it presented one, its certificate's SANs (etcd logs both).
struct Rejection {
    server_name: String,
    error: String,
    /// The presented certificate's (IP, DNS) SANs, once the handshake gave it.
    sans: Option<(Vec<String>, Vec<String>)>,
}

/// The handshake and etcd's checks; `None` when refused (already logged).
async fn secure(raw: Raw, tls: &ServerTls, role: Role) -> Option<Conn> {
    let result = match raw {
        Raw::Tcp(stream, remote) => {
            let remote_ip = Some(remote);
            let outcome = async {
                let mut first = [0u8; 1];
                if stream.peek(&mut first).await.map_err(io_rejection)? == 0 {
                    return Err(rejection("", "EOF".to_string()));
                }
                if first[0] != TLS_HANDSHAKE_RECORD {
                    return Err(rejection(
                        "",
                        "tls: first record does not look like a TLS handshake".to_string(),
                    ));
                }
                handshake(stream, remote.to_string(), remote_ip, tls, role).await
            };
            (remote.to_string(), timed(outcome).await)
        }
        Raw::Unix(stream, path) => {
            let outcome = handshake(stream, path.clone(), None, tls, role);
            (path, timed(outcome).await)
        }
    };
    match result {
        (_, Ok(conn)) => Some(conn),
        (remote, Err(rejected)) => {
            match &rejected.sans {
                Some((ips, dns)) => tracing::warn!(
                    "remote-addr" = %remote,
                    "server-name" = %rejected.server_name,
                    "ip-addresses" = ?ips,
                    "dns-names" = ?dns,
                    error = %rejected.error,
                    "rejected connection"
                ),
                None => tracing::warn!(
                    "remote-addr" = %remote,
                    "server-name" = %rejected.server_name,
                    error = %rejected.error,
                    "rejected connection"
                ),
            }
            None
        }
    }
}

async fn timed(
    outcome: impl std::future::Future<Output = Result<Conn, Rejection>>,
) -> Result<Conn, Rejection> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, outcome)
        .await
        .unwrap_or_else(|_| Err(rejection("", "tls: handshake timed out".to_string())))
}

fn rejection(server_name: &str, error: String) -> Rejection {
    Rejection {
        server_name: server_name.to_string(),
        error,
        sans: None,
    }
}

/// A refusal after the handshake, naming the certificate's SANs.
fn rejection_of(server_name: &str, leaf: &[u8], error: String) -> Rejection {
    let (dns, ips) = verify::subject_alt_names_of(leaf);
    Rejection {
        sans: Some((ips.iter().map(ToString::to_string).collect(), dns)),
        ..rejection(server_name, error)
    }
}

fn io_rejection(e: io::Error) -> Rejection {
    rejection("", e.to_string())
}

async fn handshake<IO: Io>(
    io: IO,
    remote: String,
    remote_addr: Option<SocketAddr>,
    tls: &ServerTls,
    role: Role,
) -> Result<Conn, Rejection> {
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
        .await
        .map_err(|e| rejection("", go_wording(&e)))?;
    let server_name = start.client_hello().server_name().unwrap_or("").to_string();
    let stream = start
        .into_stream(tls.config())
        .await
        .map_err(|e| rejection(&server_name, go_wording(&e)))?;
    let chain: Vec<_> = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    if let (Some(revocations), false) = (tls.revocations(), chain.is_empty()) {
        revocations
            .check(&chain)
            .map_err(|e| rejection_of(&server_name, &chain[0], e))?;
    }
    if let (Role::Peer, Some(addr), Some(leaf)) = (role, remote_addr, chain.first()) {
        if !tls.info().skip_client_san_verify {
            verify::check_peer_san(leaf, addr.ip())
                .await
                .map_err(|e| rejection_of(&server_name, leaf, e))?;
        }
    }
    // etcd takes the CN as the caller's name only under client-cert-auth.
    let common_name = if tls.info().client_cert_auth {
        chain.first().and_then(|leaf| verify::common_name(leaf))
    } else {
        None
    };
    Ok(Conn::new(
        stream,
        ConnInfo {
            remote,
            tls: true,
            common_name,
        },
    ))
}

/// A handshake failure in the words Go's crypto/tls uses for it, where
/// etcd's log shows them; other failures keep rustls' words.
fn go_wording(e: &io::Error) -> String {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return e.to_string();
    };
    use rustls::Error;
    match tls {
        Error::NoCertificatesPresented => "tls: client didn't provide a certificate".to_string(),
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "tls: failed to verify client certificate: x509: certificate signed by unknown authority"
                .to_string()
        }
        Error::InvalidCertificate(CertificateError::Expired | CertificateError::NotValidYet) => {
            "tls: failed to verify client certificate: x509: certificate has expired or is not yet valid"
                .to_string()
        }
        Error::InvalidCertificate(CertificateError::Other(other)) => other.to_string(),
        Error::PeerIncompatible(rustls::PeerIncompatible::NoCipherSuitesInCommon) => {
            "tls: no cipher suite supported by both client and server".to_string()
        }
        other => format!("tls: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_urls() {
        let url = ListenUrl::parse("https://127.0.0.1:2379").unwrap();
        assert_eq!(
            (url.scheme.as_str(), url.addr.as_str()),
            ("https", "127.0.0.1:2379")
        );
        assert!(url.is_tls() && !url.is_unix());
        assert_eq!(
            ListenUrl::parse("http://localhost:2379").unwrap().addr,
            "127.0.0.1:2379"
        );
        assert_eq!(
            ListenUrl::parse("http://[::1]:2379/").unwrap().addr,
            "[::1]:2379"
        );
        let unix = ListenUrl::parse("unixs://localhost:1234").unwrap();
        assert_eq!(unix.addr, "localhost:1234");
        assert!(unix.is_tls() && unix.is_unix());
        assert_eq!(
            ListenUrl::parse("http://:2379").unwrap().addr,
            "0.0.0.0:2379"
        );
        assert!(ListenUrl::parse("127.0.0.1:2379").is_err());
        assert!(ListenUrl::parse("http://localhost").is_err());
        assert!(ListenUrl::parse("ftp://a:1").is_err());
    }
}
