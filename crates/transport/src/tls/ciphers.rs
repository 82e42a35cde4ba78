//! Go's names for TLS cipher suites and versions (what `--cipher-suites`,
//! `--tls-min-version` and `--tls-max-version` take), mapped onto rustls.
//!
//! Go lets etcd pick TLS 1.2 suites only; TLS 1.3's suites are always on.
//! rustls implements the ECDHE AEAD suites; a Go name for a suite it lacks
//! (RSA key exchange, CBC, RC4, 3DES) is refused at startup rather than
//! silently dropped.

use rustls::crypto::ring::cipher_suite as ring;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::TlsError;

/// Go names of TLS 1.2 suites rustls implements, with their suite.
fn tls12_suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Go's TLS 1.3 suite names: accepted, always enabled.
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go names of suites Go knows and rustls does not implement.
const GO_ONLY_NAMES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The suites a config offers: every TLS 1.3 suite, plus the named TLS 1.2
/// suites (all of them when no name is given).
pub fn suites(names: &[String]) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let all = rustls::crypto::ring::DEFAULT_CIPHER_SUITES;
    if names.is_empty() {
        return Ok(all.to_vec());
    }
    let mut chosen: Vec<SupportedCipherSuite> = all
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect();
    for name in names {
        if let Some(suite) = tls12_suite(name) {
            if !chosen.contains(&suite) {
                chosen.push(suite);
            }
        } else if TLS13_NAMES.contains(&name.as_str()) {
            continue;
        } else if GO_ONLY_NAMES.contains(&name.as_str()) {
            return Err(TlsError::UnsupportedCipherSuite(name.clone()));
        } else {
            return Err(TlsError::UnknownCipherSuite(name.clone()));
        }
    }
    Ok(chosen)
}

/// Go's version names (`--tls-min-version`, `--tls-max-version`).
fn version(name: &str) -> Result<Option<u8>, TlsError> {
    match name {
        "" => Ok(None),
        "TLS1.2" => Ok(Some(2)),
        "TLS1.3" => Ok(Some(3)),
        // Go knows them; rustls does not speak them.
        "TLS1.0" | "TLS1.1" => Err(TlsError::Version(format!(
            "TLS version {name} is not supported by etcd-rs (TLS1.2 and TLS1.3 are)"
        ))),
        other => Err(TlsError::Version(format!("unknown TLS version: {other}"))),
    }
}

/// The versions between `min` and `max`, with etcd 3.5's rules: the range
/// must not be empty, and cipher suites cannot be chosen when only TLS 1.3
/// is allowed.
pub fn versions(
    min: &str,
    max: &str,
    cipher_suites: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let low = version(min)?.unwrap_or(2);
    let high = version(max)?.unwrap_or(3);
    if low > high {
        return Err(TlsError::Version(
            "min version (--tls-min-version) is greater than max version (--tls-max-version)"
                .to_string(),
        ));
    }
    if low == 3 && !cipher_suites.is_empty() {
        return Err(TlsError::Version(
            "cipher suites cannot be configured when only TLS1.3 or greater is supported"
                .to_string(),
        ));
    }
    let mut out = Vec::new();
    if low <= 2 {
        out.push(&rustls::version::TLS12);
    }
    if high >= 3 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn named_suites_restrict_tls12_only() {
        let chosen = suites(&names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).unwrap();
        let tls12: Vec<_> = chosen
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .collect();
        assert_eq!(tls12.len(), 1);
        assert!(chosen
            .iter()
            .any(|s| matches!(s, SupportedCipherSuite::Tls13(_))));
        assert_eq!(
            suites(&[]).unwrap().len(),
            rustls::crypto::ring::DEFAULT_CIPHER_SUITES.len()
        );
    }

    #[test]
    fn unknown_and_unsupported_names_are_refused() {
        assert_eq!(
            suites(&names(&["nope"])).unwrap_err().to_string(),
            "unexpected TLS cipher suite \"nope\""
        );
        assert!(matches!(
            suites(&names(&["TLS_RSA_WITH_AES_128_CBC_SHA"])),
            Err(TlsError::UnsupportedCipherSuite(_))
        ));
    }

    #[test]
    fn version_ranges() {
        assert_eq!(versions("TLS1.2", "", &[]).unwrap().len(), 2);
        assert_eq!(versions("TLS1.3", "", &[]).unwrap().len(), 1);
        assert_eq!(versions("", "TLS1.2", &[]).unwrap().len(), 1);
        assert!(versions("TLS1.3", "TLS1.2", &[]).is_err());
        assert!(versions(
            "TLS1.3",
            "",
            &names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        )
        .is_err());
        assert!(versions("SSL3", "", &[]).is_err());
    }
}
