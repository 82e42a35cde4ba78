//! What etcd checks about a certificate beyond its chain: the allowed
//! Common Names and hostnames (`--peer-cert-allowed-cn`,
//! `--peer-cert-allowed-hostname`, `--client-cert-allowed-hostname`),
//! revocation (`--client-crl-file`, `--peer-crl-file`) and, on peer
//! listeners, that a peer's certificate names the address it connects from.
//! Also reading the Common Name that becomes a client's user name.
//!
//! Like etcd, the allowed-name rules fail the handshake, while the CRL and
//! SAN checks run on the finished handshake and close the connection.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::files::{self, Stamp};
use super::TlsError;

/// etcd's error when a certificate matches none of the allowed names.
pub const NOT_ALLOWED: &str = "client certificate authentication failed";

/// The Common Name of a DER certificate's subject, if it has one.
pub fn common_name(cert: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    // Go's `Subject.CommonName` is the last CN attribute.
    let cn = cert.subject().iter_common_name().last()?;
    cn.as_str().ok().map(str::to_string)
}

/// The DNS names and IP addresses in a certificate's SAN extension.
pub fn subject_alt_names(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// [`subject_alt_names`] of a DER certificate (none if it cannot be read).
pub fn subject_alt_names_of(cert: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
    match X509Certificate::from_der(cert) {
        Ok((_, parsed)) => subject_alt_names(&parsed),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// Go's `Certificate.VerifyHostname` over SANs: an IP host matches an IP
/// SAN; a name matches a DNS SAN, `*.` wildcards covering one label.
pub fn valid_for_host(dns: &[String], ips: &[IpAddr], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ips.contains(&ip);
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    dns.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => pattern == host,
        }
    })
}

/// Whether a certificate satisfies the allowed CNs and hostnames (no rule:
/// any certificate).
fn allowed(cert: &[u8], cns: &[String], hostnames: &[String]) -> bool {
    if cns.is_empty() && hostnames.is_empty() {
        return true;
    }
    let Ok((_, parsed)) = X509Certificate::from_der(cert) else {
        return false;
    };
    if !cns.is_empty() {
        let cn = parsed
            .subject()
            .iter_common_name()
            .last()
            .and_then(|cn| cn.as_str().ok());
        return cn.is_some_and(|cn| cns.iter().any(|allowed| allowed == cn));
    }
    let (dns, ips) = subject_alt_names(&parsed);
    hostnames.iter().any(|h| valid_for_host(&dns, &ips, h))
}

/// The allowed-name rule as a handshake error ([`NOT_ALLOWED`]), for the
/// verifiers of both sides.
pub(crate) fn check_allowed(
    cert: &[u8],
    cns: &[String],
    hostnames: &[String],
) -> Result<(), rustls::Error> {
    if allowed(cert, cns, hostnames) {
        return Ok(());
    }
    Err(rustls::Error::InvalidCertificate(CertificateError::Other(
        rustls::OtherError(Arc::new(NotAllowed)),
    )))
}

/// The refusal for a certificate outside the allowed names, worded as etcd.
#[derive(Debug)]
struct NotAllowed;

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_ALLOWED)
    }
}

impl std::error::Error for NotAllowed {}

/// A client-certificate verifier that also applies the allowed names.
#[derive(Debug)]
pub struct AllowedNames {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub cns: Vec<String>,
    pub hostnames: Vec<String>,
}

impl ClientCertVerifier for AllowedNames {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_allowed(end_entity, &self.cns, &self.hostnames)?;
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

/// Serial numbers as Go's `big.Int.Bytes()` gives them: no leading zeros.
fn serial_bytes(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    raw[start..].to_vec()
}

/// A CRL file, parsed again whenever it changes (etcd reads it for every
/// connection).
#[derive(Debug)]
pub struct Revocations {
    path: PathBuf,
    /// The serials listed at `stamp`, big-endian without leading zeros.
    cached: Mutex<(Stamp, Arc<Vec<Vec<u8>>>)>,
}

impl Revocations {
    /// Reads the list once, so an unreadable file stops startup.
    pub fn open(path: PathBuf) -> Result<Revocations, TlsError> {
        // Stamped before reading: a change meanwhile is read again.
        let stamp = files::stamp(&path);
        let serials = Self::read(&path)?;
        Ok(Revocations {
            cached: Mutex::new((stamp, Arc::new(serials))),
            path,
        })
    }

    fn read(path: &Path) -> Result<Vec<Vec<u8>>, TlsError> {
        let mut serials = Vec::new();
        for crl in files::read_crls(path)? {
            let (_, parsed) =
                CertificateRevocationList::from_der(&crl).map_err(|e| TlsError::Parse {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            serials.extend(
                parsed
                    .iter_revoked_certificates()
                    .map(|r| serial_bytes(r.raw_serial())),
            );
        }
        Ok(serials)
    }

    fn serials(&self) -> Result<Arc<Vec<Vec<u8>>>, String> {
        let now = files::stamp(&self.path);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != now {
            let serials = Self::read(&self.path).map_err(|e| e.to_string())?;
            *cached = (now, Arc::new(serials));
        }
        Ok(cached.1.clone())
    }

    /// etcd's check: fails when any certificate of the presented chain is
    /// listed, or when the list cannot be read.
    pub fn check(&self, chain: &[CertificateDer<'_>]) -> Result<(), String> {
        let revoked = self.serials()?;
        for cert in chain {
            let Ok((_, parsed)) = X509Certificate::from_der(cert) else {
                continue;
            };
            let serial = serial_bytes(parsed.raw_serial());
            if revoked.contains(&serial) {
                let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
                return Err(format!("transport: certificate serial {hex} revoked"));
            }
        }
        Ok(())
    }
}

/// etcd's peer-listener check: a peer certificate with SANs must name the
/// address it connects from: by IP, by a name (or `*.` wildcard) the
/// address resolves back to, or by a DNS name resolving to it.
pub async fn check_peer_san(cert: &[u8], remote: IpAddr) -> Result<(), String> {
    let Ok((_, parsed)) = X509Certificate::from_der(cert) else {
        return Err("x509: cannot parse the peer certificate".to_string());
    };
    let (dns, ips) = subject_alt_names(&parsed);
    if dns.is_empty() && ips.is_empty() {
        return Ok(());
    }
    // An IPv4 peer reaching a dual-stack listener shows as ::ffff:a.b.c.d.
    let remote = remote.to_canonical();
    if ips.iter().any(|ip| ip.to_canonical() == remote) {
        return Ok(());
    }
    if dns.is_empty() {
        let valid: Vec<String> = ips.iter().map(ToString::to_string).collect();
        return Err(format!(
            "x509: certificate is valid for {}, not {remote}",
            valid.join(", ")
        ));
    }
    let mut lookup_error = None;
    // The reverse lookup first, its name matched as Go matches it.
    match tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&remote)).await {
        Ok(Ok(name)) => {
            if reverse_name_matches(&name, &dns) {
                return Ok(());
            }
        }
        Ok(Err(e)) => lookup_error = Some(e.to_string()),
        Err(e) => lookup_error = Some(e.to_string()),
    }
    // Then forward lookups of the plain names.
    for name in dns.iter().filter(|n| !n.starts_with("*.")) {
        match tokio::net::lookup_host((name.as_str(), 0)).await {
            Ok(addrs) => {
                if addrs.into_iter().any(|a| a.ip().to_canonical() == remote) {
                    return Ok(());
                }
            }
            Err(e) => lookup_error = Some(e.to_string()),
        }
    }
    let suffix = lookup_error.map(|e| format!(" ({e})")).unwrap_or_default();
    Err(format!(
        "tls: {:?} does not match any of DNSNames {dns:?}{suffix}",
        remote.to_string()
    ))
}

/// Whether the PTR name of a peer matches a DNS SAN: exactly, or by the
/// suffix of a `*.` wildcard (etcd's `isHostInDNS`).
fn reverse_name_matches(ptr: &str, dns: &[String]) -> bool {
    let name = ptr.trim_end_matches('.');
    dns.iter().any(|pattern| match pattern.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') => name.ends_with(suffix),
        _ => pattern == name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_match_like_go() {
        let dns = vec!["localhost".to_string(), "*.example.com".to_string()];
        let ips = vec!["127.0.0.1".parse().unwrap()];
        assert!(valid_for_host(&dns, &ips, "127.0.0.1"));
        assert!(!valid_for_host(&dns, &ips, "127.0.0.2"));
        assert!(valid_for_host(&dns, &ips, "LOCALHOST"));
        assert!(valid_for_host(&dns, &ips, "a.example.com"));
        assert!(!valid_for_host(&dns, &ips, "a.b.example.com"));
        assert!(!valid_for_host(&dns, &ips, "example.com"));
    }

    #[test]
    fn reverse_names_match_like_etcd() {
        let dns = vec!["m1.local".to_string(), "*.peers.svc".to_string()];
        assert!(reverse_name_matches("m1.local.", &dns));
        assert!(reverse_name_matches("etcd-0.peers.svc", &dns));
        assert!(!reverse_name_matches("peers.svc", &dns));
        assert!(!reverse_name_matches("m2.local", &dns));
    }

    #[test]
    fn serials_drop_leading_zeros() {
        assert_eq!(serial_bytes(&[0, 0x8f, 1]), vec![0x8f, 1]);
        assert_eq!(serial_bytes(&[0]), Vec::<u8>::new());
    }
}
