//! [`ClientTls`]: how a member speaks TLS when it dials another member:
//! it verifies the other side against the trusted CA (not at all for
//! `--peer-auto-tls` certificates, as etcd) and presents its own
//! certificate for the other side's client-certificate check.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::files::{self, Stamps};
use super::server::{pair_error, provider_for, roots};
use super::{ciphers, verify, TlsError, TlsInfo};

/// The dialing side of one [`TlsInfo`].
#[derive(Debug)]
pub struct ClientTls {
    info: TlsInfo,
    watched: Vec<PathBuf>,
    current: Mutex<(Stamps, Arc<ClientConfig>)>,
}

impl ClientTls {
    pub fn new(info: TlsInfo) -> Result<ClientTls, TlsError> {
        let (cert, key) = identity_files(&info);
        let mut watched: Vec<PathBuf> = cert.into_iter().chain(key).collect();
        watched.extend(info.trusted_ca_file.clone());
        let stamps = Stamps::of(&watched);
        let config = Arc::new(build(&info)?);
        Ok(ClientTls {
            info,
            watched,
            current: Mutex::new((stamps, config)),
        })
    }

    /// The config for the next connection, re-read when a file changed
    /// (a failed re-read keeps the previous one).
    pub fn config(&self) -> Arc<ClientConfig> {
        let now = Stamps::of(&self.watched);
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.0 != now {
            match build(&self.info) {
                Ok(config) => *current = (now, Arc::new(config)),
                Err(e) => tracing::warn!(error = %e, "failed to create client certificate"),
            }
        }
        current.1.clone()
    }

    /// TLS over `io` to `host` (an IP or a DNS name, as in the URL).
    pub async fn connect<IO>(&self, host: &str, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}"))
        })?;
        TlsConnector::from(self.config()).connect(name, io).await
    }
}

/// The certificate and key presented when dialing.
fn identity_files(info: &TlsInfo) -> (Option<PathBuf>, Option<PathBuf>) {
    let pick = |specific: &Option<PathBuf>, general: &PathBuf| {
        specific
            .clone()
            .or_else(|| (!general.as_os_str().is_empty()).then(|| general.clone()))
    };
    (
        pick(&info.client_cert_file, &info.cert_file),
        pick(&info.client_key_file, &info.key_file),
    )
}

fn build(info: &TlsInfo) -> Result<ClientConfig, TlsError> {
    let provider = provider_for(info)?;
    let versions = ciphers::versions(&info.min_version, &info.max_version, &info.cipher_suites)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Version(e.to_string()))?;
    let builder = if info.self_signed {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let roots = match &info.trusted_ca_file {
            Some(ca) => roots(ca)?,
            // Without a CA file, the system's roots, as Go uses.
            None => system_roots(),
        };
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Config {
                what: "the trusted CA".to_string(),
                reason: e.to_string(),
            })?;
        // etcd applies the allowed CN / hostname to the members it dials
        // too (its client config shares the check).
        let verifier: Arc<dyn ServerCertVerifier> =
            if info.allowed_cns.is_empty() && info.allowed_hostnames.is_empty() {
                verifier
            } else {
                Arc::new(AllowedServerNames {
                    inner: verifier,
                    cns: info.allowed_cns.clone(),
                    hostnames: info.allowed_hostnames.clone(),
                })
            };
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
    };
    let mut config = match identity_files(info) {
        (Some(cert), Some(key)) => {
            let chain = files::read_certs(&cert)?;
            let private = files::read_key(&key)?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| pair_error(e, &cert, &key))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The system's trusted roots; the ones that cannot be read are skipped.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(error = %error, "cannot read a system root certificate");
    }
    roots.add_parsable_certificates(found.certs);
    roots
}

/// A server-certificate verifier that also applies the allowed names.
#[derive(Debug)]
struct AllowedServerNames {
    inner: Arc<WebPkiServerVerifier>,
    cns: Vec<String>,
    hostnames: Vec<String>,
}

impl ServerCertVerifier for AllowedServerNames {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        verify::check_allowed(end_entity, &self.cns, &self.hostnames)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// etcd's `InsecureSkipVerify` for self-signed member certificates: the
/// chain is not checked, the handshake signatures still are.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
