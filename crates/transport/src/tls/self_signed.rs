//! `--auto-tls` / `--peer-auto-tls`: a self-signed certificate for the
//! listen hosts, kept in `<data-dir>/fixtures/{client,peer}/cert.pem` and
//! `key.pem` and reused on restart, as etcd does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

use super::TlsError;

/// Where the certificate and key of a self-signed pair are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The pair in `dir`, generated first unless both files exist. `hosts` are
/// the listen URLs' `host:port`s (or plain hosts); each host becomes an IP
/// or DNS SAN. `with_client_auth` also allows the certificate as a client
/// certificate (members present it when they dial each other).
pub fn ensure(
    dir: &Path,
    hosts: &[String],
    validity_years: u64,
    with_client_auth: bool,
) -> Result<SelfSigned, TlsError> {
    let fail = |reason: String| TlsError::SelfSigned {
        dir: dir.to_path_buf(),
        reason,
    };
    let pair = SelfSigned {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    };
    if pair.cert_file.exists() && pair.key_file.exists() {
        return Ok(pair);
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;

    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "etcd");
    params.distinguished_name = name;
    for host in hosts {
        let host = host_of(host);
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into().map_err(|e| fail(format!("{e}")))?),
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let mut serial = [0u8; 16];
    super::provider()
        .secure_random
        .fill(&mut serial)
        .map_err(|_| fail("no random numbers for a serial".to_string()))?;
    serial[0] &= 0x7f; // a positive serial
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    let too_long = || fail(format!("a validity of {validity_years} years is too long"));
    let days = i64::try_from(validity_years.max(1))
        .ok()
        .and_then(|years| years.checked_mul(365))
        .ok_or_else(too_long)?;
    params.not_after = now
        .checked_add(time::Duration::days(days))
        .filter(|end| end.year() <= 9999)
        .ok_or_else(too_long)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if with_client_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;

    std::fs::write(&pair.cert_file, cert.pem()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %pair.cert_file.display(), "created cert file");
    write_private(&pair.key_file, key.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(path = %pair.key_file.display(), "created key file");
    Ok(pair)
}

/// `host:port` → `host`, IPv6 brackets removed; a plain host stays.
fn host_of(host_port: &str) -> &str {
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => host_port,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A key file only its owner can read (etcd writes it 0600).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_listen_addresses() {
        assert_eq!(host_of("127.0.0.1:2379"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2379"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("localhost:"), "localhost");
    }

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["127.0.0.1:2379".to_string(), "localhost:2379".to_string()];
        let first = ensure(dir.path(), &hosts, 1, true).unwrap();
        let pem = std::fs::read(&first.cert_file).unwrap();
        let again = ensure(dir.path(), &hosts, 1, true).unwrap();
        assert_eq!(first, again);
        assert_eq!(pem, std::fs::read(&again.cert_file).unwrap());
        let certs = crate::tls::files::read_certs(&first.cert_file).unwrap();
        let (dns, ips) = crate::tls::verify::subject_alt_names_of(&certs[0]);
        assert_eq!(dns, ["localhost"]);
        assert_eq!(ips, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let mode = std::fs::metadata(&first.key_file).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
