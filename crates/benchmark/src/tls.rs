//! TLS for the connections: `--cacert`, `--cert`, `--key` and `https://`
//! endpoints, with the meaning they have in etcd's `benchmark` tool and
//! etcdctl (etcd 3.4's Go client).
//!
//! Owns reading and checking the PEM files and turning them into the
//! rustls-based [`ClientTlsConfig`] tonic dials `https://` URLs with.
//! Which endpoint uses TLS is decided by `connect::normalize_endpoint`
//! from [`Tls::by_default`]; dialing belongs to `connect`.
//!
//! As with etcd's client:
//! - the server's certificate is verified against `--cacert`'s bundle, or
//!   without `--cacert` against the system's trust store; its name is the
//!   endpoint's host (an IP address matches an IP SAN);
//! - `--cert` and `--key` go together and are presented to servers that
//!   ask for a client certificate (`--client-cert-auth`);
//! - any TLS flag makes a bare `host:port` endpoint a TLS one, while an
//!   explicit `http://` stays plain text and `https://` is always TLS.
//!
//! The files are read once, before dialing, so a missing or malformed one
//! is named instead of surfacing as a handshake failure on every connection.

use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Why the TLS flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// etcd's client refuses one without the other too.
    #[error("--cert and --key must be given together (--cert {cert:?}, --key {key:?})")]
    Unpaired { cert: String, key: String },
    #[error("--{flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--{flag} {path}: {reason}")]
    Bad {
        flag: &'static str,
        path: String,
        reason: String,
    },
}

/// The TLS settings of a run.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// A CA bundle (PEM) to verify servers with instead of the system's.
    ca: Option<Vec<u8>>,
    /// The client certificate chain and key (PEM) to present.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Some TLS flag was given: bare `host:port` endpoints use TLS.
    pub by_default: bool,
}

impl Tls {
    /// Reads and checks the files the flags name; no flags is plain text
    /// for bare endpoints (and the system's trust store for `https://`).
    pub fn load(
        cacert: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, TlsError> {
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((read_chain("cert", cert)?, read_key(key)?)),
            (cert, key) => {
                return Err(TlsError::Unpaired {
                    cert: cert.unwrap_or_default().to_string(),
                    key: key.unwrap_or_default().to_string(),
                })
            }
        };
        let ca = cacert.map(|path| read_chain("cacert", path)).transpose()?;
        Ok(Tls {
            by_default: ca.is_some() || identity.is_some(),
            ca,
            identity,
        })
    }

    /// The configuration tonic dials an `https://` URL with. `timeout`
    /// (zero = none) bounds the handshake, as the dial timeout bounds the
    /// whole dial in etcd's client.
    pub fn client_config(&self, timeout: Duration) -> ClientTlsConfig {
        // grpc-go servers negotiate h2 by ALPN; grpc-go clients (etcd's)
        // do not insist on it, and neither does this one.
        let mut config = ClientTlsConfig::new().assume_http2(true);
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if !timeout.is_zero() {
            config = config.timeout(timeout);
        }
        config
    }
}

fn read(flag: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        flag,
        path: path.to_string(),
        source,
    })
}

fn bad(flag: &'static str, path: &str, reason: impl Into<String>) -> TlsError {
    TlsError::Bad {
        flag,
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// A file of one or more PEM certificates (a chain or a CA bundle).
fn read_chain(flag: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad(flag, path, format!("not a PEM file: {err}")))?;
    if certs.is_empty() {
        return Err(bad(
            flag,
            path,
            "no PEM certificate (BEGIN CERTIFICATE) in it",
        ));
    }
    Ok(pem)
}

/// A file holding a PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC),
/// the forms Go's `tls.X509KeyPair` takes.
fn read_key(path: &str) -> Result<Vec<u8>, TlsError> {
    let pem = read("key", path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(_) => Ok(pem),
        Err(pem::Error::NoItemsFound) => Err(bad(
            "key",
            path,
            "no PEM private key (PKCS#8, RSA or EC PRIVATE KEY) in it",
        )),
        Err(err) => Err(bad("key", path, format!("not a PEM file: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed P-256 certificate and its SEC1 key, for parsing only.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUDpRpimB0zRgY5UqNB8rUOkX5YA4wCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEdGVzdDAeFw0yNjEyMDcwMDU1MjRaFw0zNjEyMDQwMDU1MjRa
MA8xDTALBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQdObv+
3ItRhm90SVSsD+y72ky8YMzKl5Vz3f2x3/0+ldAmBW6s4V7+zXd6ZTg5RHfyXYxx
GWCB3LCtDHRVrkYdo1MwUTAdBgNVHQ4EFgQUQqQfCBUGl5clnB1sb0yj3/t7Tb8w
HwYDVR0jBBgwFoAUQqQfCBUGl5clnB1sb0yj3/t7Tb8wDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEA232c4q+fDcwQM0DYGPI//GC2bZjRpkU8JsW6
NkIF5JECIBQOav7XnHO3+/Z+T/BVVc1fze8wYQeeZYlv41PRFg6O
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIDP3voWOMb4nD7wiXKTyXMglXMFSmMSDxMnxbZDUxUcCoAoGCCqGSM49
AwEHoUQDQgAEHTm7/tyLUYZvdElUrA/su9pMvGDMypeVc939sd/9PpXQJgVurOFe
/s13emU4OUR38l2McRlggdywrQx0Va5GHQ==
-----END EC PRIVATE KEY-----
";

    fn files() -> (tempfile::TempDir, String, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let (cert, key, junk) = (
            path("c.pem", CERT),
            path("k.pem", KEY),
            path("j.pem", "hello\n"),
        );
        (dir, cert, key, junk)
    }

    #[test]
    fn no_flags_is_plain_text_for_bare_endpoints() {
        let tls = Tls::load(None, None, None).unwrap();
        assert!(!tls.by_default);
        assert!(tls.ca.is_none() && tls.identity.is_none());
    }

    #[test]
    fn any_flag_makes_tls_the_default() {
        let (_dir, cert, key, _) = files();
        let tls = Tls::load(Some(&cert), None, None).unwrap();
        assert!(tls.by_default && tls.ca.is_some() && tls.identity.is_none());
        let tls = Tls::load(None, Some(&cert), Some(&key)).unwrap();
        assert!(tls.by_default && tls.ca.is_none() && tls.identity.is_some());
    }

    #[test]
    fn cert_and_key_go_together() {
        let (_dir, cert, key, _) = files();
        assert!(matches!(
            Tls::load(None, Some(&cert), None),
            Err(TlsError::Unpaired { .. })
        ));
        let err = Tls::load(Some(&cert), None, Some(&key)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--cert and --key must be given together (--cert \"\", --key {key:?})")
        );
    }

    #[test]
    fn bad_files_are_named() {
        let (_dir, cert, key, junk) = files();
        let err = Tls::load(Some("/nonexistent/ca.pem"), None, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--cacert /nonexistent/ca.pem: "),
            "{err}"
        );
        let err = Tls::load(Some(&junk), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--cacert {junk}: no PEM certificate (BEGIN CERTIFICATE) in it")
        );
        // A key where the certificate belongs, and the other way round.
        let err = Tls::load(None, Some(&key), Some(&key)).unwrap_err();
        assert!(err.to_string().starts_with("--cert "), "{err}");
        let err = Tls::load(None, Some(&cert), Some(&cert)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--key {cert}: no PEM private key (PKCS#8, RSA or EC PRIVATE KEY) in it")
        );
    }
}
