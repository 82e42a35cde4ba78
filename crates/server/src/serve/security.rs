//! etcd's TLS flags, turned into what the front door uses: the TLS of the
//! client listeners, the TLS of the peer listeners, and the peer dialer,
//! in etcd's order (peer side first) and with etcd's log lines. With
//! `--auto-tls` / `--peer-auto-tls` and no certificate files, a
//! self-signed certificate for the listen hosts is made (or reused) under
//! `<data-dir>/fixtures/client` / `fixtures/peer`.

use std::path::Path;
use std::sync::Arc;

use etcd_transport::tls::self_signed;
use etcd_transport::{ClientTls, PeerDialer, ServerTls, TlsError, TlsInfo};

/// The TLS flags of both sides.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--cert-file`, `--key-file`, `--trusted-ca-file`, ...
    pub client: TlsInfo,
    /// `--auto-tls`.
    pub client_auto_tls: bool,
    /// `--peer-cert-file`, `--peer-key-file`, ...
    pub peer: TlsInfo,
    /// `--peer-auto-tls`.
    pub peer_auto_tls: bool,
    /// `--self-signed-cert-validity`, in years.
    pub self_signed_validity_years: u64,
}

/// What the listeners and the dialer run with.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// TLS of `https`/`unixs` client listeners (`None`: no certificates).
    pub client: Option<Arc<ServerTls>>,
    /// TLS of `https`/`unixs` peer listeners.
    pub peer: Option<Arc<ServerTls>>,
    /// Opens every connection to another member.
    pub dialer: PeerDialer,
}

impl Security {
    /// Loads (or makes) every certificate; any problem stops startup with
    /// a message naming the file.
    pub fn prepare(
        opts: &TlsOptions,
        data_dir: &Path,
        listen_client_urls: &[String],
        listen_peer_urls: &[String],
    ) -> Result<Security, TlsError> {
        let peer_info = Side::Peer.settings(opts, data_dir, listen_peer_urls)?;
        let (peer, dialer) = match peer_info {
            None => (None, PeerDialer::plaintext()),
            Some(info) => {
                let server = Arc::new(ServerTls::new(info.clone())?);
                let client = Arc::new(ClientTls::new(info)?);
                (Some(server), PeerDialer::new(Some(client)))
            }
        };
        let client = match Side::Client.settings(opts, data_dir, listen_client_urls)? {
            None => None,
            Some(info) => {
                if info.client_cert_file.is_some() {
                    // Nothing dials a client URL yet (the HTTP gateway
                    // will); the files are still checked so a bad pair
                    // fails now.
                    ClientTls::new(info.clone())?;
                }
                Some(Arc::new(ServerTls::new(info)?))
            }
        };
        Ok(Security {
            client,
            peer,
            dialer,
        })
    }
}

/// The client or the peer side, which differ only in their flags, their
/// fixtures directory and their log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Peer,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }

    /// The side's TLS settings, `None` without certificates, in etcd's
    /// steps: the self-signed pair for auto-TLS, "starting with … TLS",
    /// the warnings for plain listeners beside certificate files.
    fn settings(
        self,
        opts: &TlsOptions,
        data_dir: &Path,
        listen_urls: &[String],
    ) -> Result<Option<TlsInfo>, TlsError> {
        let (given, auto_tls) = match self {
            Side::Client => (&opts.client, opts.client_auto_tls),
            Side::Peer => (&opts.peer, opts.peer_auto_tls),
        };
        let dir = data_dir.join("fixtures").join(self.name());
        let validity = opts.self_signed_validity_years;
        let info = with_self_signed(given, auto_tls, self, &dir, listen_urls, validity)?;
        if info.is_empty() {
            return Ok(None);
        }
        tracing::info!(
            "tls-info" = %info.describe(),
            "cipher-suites" = ?info.cipher_suites,
            "starting with {} TLS",
            self.name()
        );
        for url in listen_urls.iter().filter(|u| self.is_plain(u)) {
            self.warn(
                url,
                "scheme is HTTP while key and cert files are present; ignoring key and cert files",
            );
            if info.client_cert_auth {
                let flag = match self {
                    Side::Client => "--client-cert-auth",
                    Side::Peer => "--peer-client-cert-auth",
                };
                self.warn(
                    url,
                    &format!(
                        "scheme is HTTP while {flag} is enabled; ignoring client cert auth for this URL"
                    ),
                );
            }
        }
        Ok(Some(info))
    }

    /// The listen URLs etcd warns about beside certificate files: `http`
    /// for peers; `http` and `unix` for clients.
    fn is_plain(self, url: &str) -> bool {
        url.starts_with("http://") || (self == Side::Client && url.starts_with("unix://"))
    }

    /// A warning about `url`, under etcd's field name for the side's URLs.
    fn warn(self, url: &str, message: &str) {
        match self {
            Side::Client => tracing::warn!("client-url" = %url, "{message}"),
            Side::Peer => tracing::warn!("peer-url" = %url, "{message}"),
        }
    }
}

/// `info`, or a self-signed pair in `dir` when auto-TLS is on and no
/// certificate files were given (etcd's `ClientSelfCert`/`PeerSelfCert`).
fn with_self_signed(
    info: &TlsInfo,
    auto_tls: bool,
    side: Side,
    dir: &Path,
    listen_urls: &[String],
    validity_years: u64,
) -> Result<TlsInfo, TlsError> {
    if !auto_tls {
        return Ok(info.clone());
    }
    if !info.is_empty() {
        tracing::warn!("ignoring {} auto TLS since certs given", side.name());
        return Ok(info.clone());
    }
    let hosts: Vec<String> = listen_urls
        .iter()
        .map(|u| {
            u.split_once("://")
                .map_or(u.as_str(), |(_, h)| h)
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    let pair = self_signed::ensure(dir, &hosts, validity_years, side == Side::Peer)?;
    // etcd's SelfCert replaces the whole TLS info: client-certificate auth,
    // the CA, the CRL and the allowed names do not apply to a self-signed
    // setup; cipher suites and versions still do.
    Ok(TlsInfo {
        cert_file: pair.cert_file,
        key_file: pair.key_file,
        self_signed: true,
        cipher_suites: info.cipher_suites.clone(),
        min_version: info.min_version.clone(),
        max_version: info.max_version.clone(),
        skip_client_san_verify: info.skip_client_san_verify,
        ..TlsInfo::default()
    })
}
