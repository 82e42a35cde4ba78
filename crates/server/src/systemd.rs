//! Telling an init system that the member is ready, as etcd does for a
//! `Type=notify` systemd unit (see `contrib/systemd/etcd.service`).
//!
//! systemd passes the path of a datagram socket in `NOTIFY_SOCKET`; writing
//! `READY=1` to it marks the unit started, so `systemctl start etcd` returns
//! only once clients can be served and units ordered after etcd start then.
//! Without the variable (a shell, a container) this does nothing. A path
//! starting with `@` names a socket in Linux's abstract namespace.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The variable systemd sets for `Type=notify` services.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `READY=1` when systemd asked for it; a failure is logged with
/// etcd's wording and otherwise ignored, as etcd does (the member serves
/// either way; only the unit's start-up state is affected).
pub fn notify_ready() {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    if let Err(e) = send(path.as_encoded_bytes(), b"READY=1") {
        tracing::error!(error = %e, "failed to notify systemd for readiness");
    }
}

fn send(path: &[u8], message: &[u8]) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match path.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message, &addr)?;
        }
        None => {
            use std::os::unix::ffi::OsStrExt;
            socket.send_to(message, std::ffi::OsStr::from_bytes(path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str().as_encoded_bytes(), b"READY=1").unwrap();
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn ready_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("etcd-rs-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send(format!("@{name}").as_bytes(), b"READY=1").unwrap();
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        assert!(send(b"/nonexistent/notify", b"READY=1").is_err());
    }
}
