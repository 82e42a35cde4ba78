//! etcd's TLS flags, turned into what the front door uses: the TLS of the
//! client listeners, the TLS of the peer listeners, and the peer dialer,
//! in etcd's order (peer side first) and with etcd's log lines. With
//! `--auto-tls` / `--peer-auto-tls` and no certificate files, a
//! self-signed certificate for the listen hosts is made (or reused) under
//! `<data-dir>/fixtures/client` / `fixtures/peer`.

use std::path::Path;
use std::sync::Arc;

use etcd_transport::tls::self_signed;
use etcd_transport::{ClientTls, ListenError, Listener, PeerDialer, ServerTls, TlsError, TlsInfo};

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
        let peer_info = with_self_signed(
            &opts.peer,
            opts.peer_auto_tls,
            "peer",
            &data_dir.join("fixtures").join("peer"),
            listen_peer_urls,
            opts.self_signed_validity_years,
        )?;
        let (peer, dialer) = if peer_info.is_empty() {
            (None, PeerDialer::plaintext())
        } else {
            tracing::info!(
                "tls-info" = %peer_info.describe(),
                "cipher-suites" = ?peer_info.cipher_suites,
                "starting with peer TLS"
            );
            warn_plain_urls(
                &peer_info,
                listen_peer_urls,
                "peer-url",
                "--peer-client-cert-auth",
            );
            let server = Arc::new(ServerTls::new(peer_info.clone())?);
            let client = Arc::new(ClientTls::new(peer_info)?);
            (Some(server), PeerDialer::new(Some(client)))
        };

        let client_info = with_self_signed(
            &opts.client,
            opts.client_auto_tls,
            "client",
            &data_dir.join("fixtures").join("client"),
            listen_client_urls,
            opts.self_signed_validity_years,
        )?;
        let client = if client_info.is_empty() {
            None
        } else {
            tracing::info!(
                "tls-info" = %client_info.describe(),
                "cipher-suites" = ?client_info.cipher_suites,
                "starting with client TLS"
            );
            warn_plain_urls(
                &client_info,
                listen_client_urls,
                "client-url",
                "--client-cert-auth",
            );
            if client_info.client_cert_file.is_some() {
                // Nothing dials a client URL yet (the HTTP gateway will);
                // the files are still checked so a bad pair fails now.
                ClientTls::new(client_info.clone())?;
            }
            Some(Arc::new(ServerTls::new(client_info)?))
        };
        Ok(Security {
            client,
            peer,
            dialer,
        })
    }
}

impl Security {
    /// Every TLS listener has its side's TLS (the configuration checks
    /// promise it; this keeps a listener from ever serving plain text).
    pub fn check_listeners(
        &self,
        client: &[Listener],
        peer: &[Listener],
    ) -> Result<(), ListenError> {
        let sides = [(client, self.client.is_some()), (peer, self.peer.is_some())];
        for (listeners, has_tls) in sides {
            if let Some(listener) = listeners.iter().find(|l| l.url().is_tls() && !has_tls) {
                return Err(ListenError::BadUrl {
                    url: listener.bound_url(),
                    reason: "a TLS listener needs a certificate and key".to_string(),
                });
            }
        }
        Ok(())
    }
}

/// `info`, or a self-signed pair in `dir` when auto-TLS is on and no
/// certificate files were given (etcd's `ClientSelfCert`/`PeerSelfCert`).
fn with_self_signed(
    info: &TlsInfo,
    auto_tls: bool,
    side: &str,
    dir: &Path,
    listen_urls: &[String],
    validity_years: u64,
) -> Result<TlsInfo, TlsError> {
    if !auto_tls {
        return Ok(info.clone());
    }
    if !info.is_empty() {
        tracing::warn!("ignoring {side} auto TLS since certs given");
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
    let pair = self_signed::ensure(dir, &hosts, validity_years, side == "peer")?;
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

/// etcd's warnings for plain listeners beside TLS files.
fn warn_plain_urls(info: &TlsInfo, urls: &[String], field: &str, auth_flag: &str) {
    for url in urls
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("unix://"))
    {
        if field == "peer-url" {
            tracing::warn!(
                "peer-url" = %url,
                "scheme is HTTP while key and cert files are present; ignoring key and cert files"
            );
        } else {
            tracing::warn!(
                "client-url" = %url,
                "scheme is HTTP while key and cert files are present; ignoring key and cert files"
            );
        }
        if info.client_cert_auth {
            if field == "peer-url" {
                tracing::warn!("peer-url" = %url, "scheme is HTTP while {auth_flag} is enabled; ignoring client cert auth for this URL");
            } else {
                tracing::warn!("client-url" = %url, "scheme is HTTP while {auth_flag} is enabled; ignoring client cert auth for this URL");
            }
        }
    }
}
