//! [`ServerTls`]: the rustls config a TLS listener hands each handshake,
//! built from a [`TlsInfo`] and rebuilt when one of its files changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::files::{self, Stamps};
use super::verify::{AllowedNames, Revocations};
use super::{ciphers, provider, TlsError, TlsInfo};

/// ALPN protocols a listener offers: gRPC needs HTTP/2; HTTP/1.1 serves the
/// HTTP side of the client port.
const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A listener's TLS: the current config and how to notice it went stale.
#[derive(Debug)]
pub struct ServerTls {
    info: TlsInfo,
    /// Every file the config was built from; a change to any rebuilds it.
    watched: Vec<PathBuf>,
    /// The config with the stamps of `watched` it was built at.
    current: Mutex<(Stamps, Arc<ServerConfig>)>,
    /// `crl_file`, checked after each handshake.
    revocations: Option<Revocations>,
}

impl ServerTls {
    /// Builds the config once, so that every problem with the files stops
    /// startup with a message naming the file.
    pub fn new(info: TlsInfo) -> Result<ServerTls, TlsError> {
        let mut watched = vec![info.cert_file.clone(), info.key_file.clone()];
        watched.extend(info.trusted_ca_file.clone());
        let stamps = Stamps::of(&watched);
        let config = Arc::new(build(&info)?);
        let revocations = info.crl_file.clone().map(Revocations::open).transpose()?;
        Ok(ServerTls {
            info,
            watched,
            current: Mutex::new((stamps, config)),
            revocations,
        })
    }

    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Whether connecting clients must present a verified certificate.
    pub fn verifies_clients(&self) -> bool {
        self.info.client_cert_auth || self.info.trusted_ca_file.is_some()
    }

    pub(crate) fn revocations(&self) -> Option<&Revocations> {
        self.revocations.as_ref()
    }

    /// The config for the next handshake: rebuilt first when a file
    /// changed. A rebuild that fails (a half-written file during rotation)
    /// keeps the previous config, says why, and is tried again next time.
    pub fn config(&self) -> Arc<ServerConfig> {
        let now = Stamps::of(&self.watched);
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.0 != now {
            match build(&self.info) {
                Ok(config) => {
                    tracing::info!(
                        "cert-file" = %self.info.cert_file.display(),
                        "key-file" = %self.info.key_file.display(),
                        "reloaded TLS certificate files"
                    );
                    *current = (now, Arc::new(config));
                }
                Err(e @ TlsError::Read { .. }) => tracing::warn!(
                    "cert-file" = %self.info.cert_file.display(),
                    "key-file" = %self.info.key_file.display(),
                    error = %e,
                    "failed to find peer cert files"
                ),
                Err(e) => tracing::warn!(
                    "cert-file" = %self.info.cert_file.display(),
                    "key-file" = %self.info.key_file.display(),
                    error = %e,
                    "failed to create peer certificate"
                ),
            }
        }
        current.1.clone()
    }
}

/// A provider restricted to the configured cipher suites.
pub(crate) fn provider_for(info: &TlsInfo) -> Result<Arc<CryptoProvider>, TlsError> {
    let base = provider();
    Ok(Arc::new(CryptoProvider {
        cipher_suites: ciphers::suites(&info.cipher_suites)?,
        ..(*base).clone()
    }))
}

/// The roots of a CA bundle file.
pub(crate) fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in files::read_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// rustls' error for a key that does not belong to its certificate, as
/// etcd's; anything else keeps its own words.
pub(crate) fn pair_error(e: rustls::Error, cert: &Path, key: &Path) -> TlsError {
    match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => TlsError::Config {
            what: format!("{} and {}", cert.display(), key.display()),
            reason: other.to_string(),
        },
    }
}

fn build(info: &TlsInfo) -> Result<ServerConfig, TlsError> {
    if info.cert_file.as_os_str().is_empty() || info.key_file.as_os_str().is_empty() {
        return Err(TlsError::MissingPair {
            cert: info.cert_file.display().to_string(),
            key: info.key_file.display().to_string(),
        });
    }
    let certs = files::read_certs(&info.cert_file)?;
    let key = files::read_key(&info.key_file)?;
    let versions = ciphers::versions(&info.min_version, &info.max_version, &info.cipher_suites)?;
    let provider = provider_for(info)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Version(e.to_string()))?;
    // etcd asks for a verified client certificate as soon as a trusted CA
    // is given, with or without --client-cert-auth.
    let builder = if info.client_cert_auth || info.trusted_ca_file.is_some() {
        let Some(ca) = &info.trusted_ca_file else {
            return Err(TlsError::Config {
                what: "client certificate authentication".to_string(),
                reason: "no trusted CA file (--trusted-ca-file / --peer-trusted-ca-file) to verify certificates against".to_string(),
            });
        };
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
            .build()
            .map_err(|e| TlsError::Config {
                what: ca.display().to_string(),
                reason: e.to_string(),
            })?;
        if info.allowed_cns.is_empty() && info.allowed_hostnames.is_empty() {
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_client_cert_verifier(Arc::new(AllowedNames {
                inner: verifier,
                cns: info.allowed_cns.clone(),
                hostnames: info.allowed_hostnames.clone(),
            }))
        }
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| pair_error(e, &info.cert_file, &info.key_file))?;
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
