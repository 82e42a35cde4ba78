//! An accepted connection, plain or TLS, over tcp or a unix socket, and
//! [`ConnInfo`], what the front door knows about it. tonic puts the
//! `ConnInfo` (an `Arc`: a reference count per request, no copy of its
//! strings) on every request that arrives on the connection, so a handler
//! reads the caller's certificate name without parsing anything.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// Any byte stream a connection can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What is known about a connection once it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The remote address (`ip:port`; for a unix socket, the socket path).
    pub remote: String,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The Common Name of the verified client certificate, on listeners
    /// with `--client-cert-auth` (etcd's user name for a caller without a
    /// token).
    pub common_name: Option<String>,
}

/// One accepted connection.
pub struct Conn {
    io: Box<dyn Io>,
    info: Arc<ConnInfo>,
}

impl Conn {
    pub fn new(io: impl Io, info: ConnInfo) -> Conn {
        Conn {
            io: Box::new(io),
            info: Arc::new(info),
        }
    }

    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

impl Connected for Conn {
    type ConnectInfo = Arc<ConnInfo>;

    fn connect_info(&self) -> Arc<ConnInfo> {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }

    // HTTP/2 writes frames with writev; keep that on every transport.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
