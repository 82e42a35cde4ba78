//! TLS for `https://` endpoints: `--cacert`, `--cert`, `--key` and
//! `--insecure-skip-tls-verify`, with the meaning they have in etcdctl.
//!
//! A verified connection is tonic's own rustls setup (the server's
//! certificate checked against `--cacert`, or the system's roots without
//! it). `--insecure-skip-tls-verify` accepts any server certificate, which
//! tonic's configuration cannot express, so that case dials through our
//! own connector: TCP, then a rustls handshake whose verifier accepts every
//! certificate (signatures are still checked, so the handshake is real).
//! Dialing and retrying belong to `connect`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, Uri};

use crate::CtlError;

/// `--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`,
/// `--insecure-transport`.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    pub cacert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub skip_verify: bool,
    /// `--insecure-transport=false`: TLS on bare endpoints anyway.
    pub by_default: bool,
}

impl Tls {
    /// Whether a bare `host:port` endpoint uses TLS: any certificate flag
    /// or `--insecure-transport=false`, as in etcd's client.
    pub fn wanted(&self) -> bool {
        self.by_default || self.cacert.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// tonic's configuration for a verified connection.
    pub fn verified(&self) -> Result<ClientTlsConfig, CtlError> {
        // grpc-go servers negotiate h2 by ALPN; etcd's client does not
        // insist on it, and neither does this one.
        let mut config = ClientTlsConfig::new().assume_http2(true);
        config = match &self.cacert {
            Some(path) => config.ca_certificate(Certificate::from_pem(read(path)?)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        Ok(config)
    }

    /// The rustls configuration for `--insecure-skip-tls-verify`, with the
    /// client certificate when one is given.
    pub fn unverified(&self) -> Result<Arc<rustls::ClientConfig>, CtlError> {
        // The provider tonic's own rustls setup uses (ring; deprecated only
        // for lacking post-quantum key exchange, which etcd does not offer).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| CtlError::error(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)));
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| CtlError::error(format!("{cert}: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                    .map_err(|e| CtlError::error(format!("{key}: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| CtlError::error(e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read(path: &str) -> Result<Vec<u8>, CtlError> {
    // Go's wording of the common failures (`open x: no such file or
    // directory`).
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        CtlError::error(format!("open {path}: {why}"))
    })
}

/// Accepts any server certificate (`--insecure-skip-tls-verify`). The
/// handshake's signature is checked when ring can check it; one it cannot
/// (ECDSA P-521, the key of etcd 3.4's `--auto-tls` certificates) is
/// accepted, which costs nothing here: proving possession of the key of a
/// certificate nobody verifies authenticates no one.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl AcceptAny {
    fn checkable(&self, scheme: SignatureScheme) -> bool {
        self.0
            .signature_verification_algorithms
            .supported_schemes()
            .contains(&scheme)
    }
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        if !self.checkable(dss.scheme) {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify_tls12_signature(
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
        if !self.checkable(dss.scheme) {
            return Ok(HandshakeSignatureValid::assertion());
        }
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self.0.signature_verification_algorithms.supported_schemes();
        if !schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512) {
            schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        }
        schemes
    }
}

/// The connection `--insecure-skip-tls-verify` dials for `uri`: TCP to its
/// host and port, then the unverified handshake (SNI: the host).
pub async fn connect_unverified(
    config: Arc<rustls::ClientConfig>,
    uri: Uri,
) -> Result<
    hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    std::io::Error,
> {
    let host = uri
        .host()
        .unwrap_or("localhost")
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(host)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(hyper_util::rt::TokioIo::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_on_bare_endpoints_needs_a_flag() {
        assert!(!Tls::default().wanted());
        let skip = Tls {
            skip_verify: true,
            ..Tls::default()
        };
        // etcd's client too: skipping verification alone keeps plain text.
        assert!(!skip.wanted());
        let ca = Tls {
            cacert: Some("ca.pem".into()),
            ..Tls::default()
        };
        assert!(ca.wanted());
    }

    #[test]
    fn unverified_config_speaks_h2() {
        let config = Tls::default().unverified().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn missing_files_are_named_as_go_does() {
        let tls = Tls {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..Tls::default()
        };
        assert_eq!(
            tls.verified().unwrap_err().message,
            "open /nonexistent/ca.pem: no such file or directory"
        );
    }
}
