//! Connections for etcd-rs: every socket a member listens on or dials.
//!
//! Layout:
//! - [`listen`]: binding a listen URL (`http`, `https`, `unix`, `unixs`) and
//!   the accept loop, which terminates TLS, applies etcd's post-handshake
//!   checks (CRL, peer SAN) and logs etcd's "rejected connection".
//! - [`conn`]: an accepted connection and what the front door knows of it
//!   ([`ConnInfo`]: remote address, the verified client certificate's CN).
//! - [`tls`]: etcd's TLS flags on rustls: certificate files re-read when
//!   they change, server and client configs, client-certificate checks,
//!   cipher suite names, self-signed certificates for `--auto-tls`.
//! - [`dialer`]: [`PeerDialer`], the one way a member opens a connection to
//!   another member (plain or TLS, tcp or unix socket).
//!
//! Not here: which gRPC services a listener serves and the middleware in
//! front of them (`etcd_server::serve`), or what is sent over a peer
//! connection (`etcd_raft`).

pub mod conn;
pub mod dialer;
pub mod listen;
pub mod tls;

pub use conn::{Conn, ConnInfo};
pub use dialer::{DialError, PeerDialer};
pub use listen::{bind, incoming, ListenError, ListenUrl, Listener, Role};
pub use tls::{ClientTls, ServerTls, TlsError, TlsInfo};
