//! etcd's JWT tokens (`--auth-token jwt,pub-key=...,priv-key=...,
//! sign-method=...,ttl=...`): signed claims `{exp, revision, username}`
//! that any member holding the public key verifies without shared state.
//! The revision claim is the auth revision at Authenticate, so a token
//! outlives no change to users or roles (etcd answers "revision of auth
//! store is old" then).
//!
//! Keys are PEM files as etcd reads them: RSA private keys in PKCS#1 or
//! PKCS#8, EC keys in SEC1 or PKCS#8, Ed25519 in PKCS#8, public keys as
//! SPKI; HMAC methods take the private key file's bytes as the secret.
//! With only a public key the member verifies but cannot sign. Signing
//! and verifying are the `jsonwebtoken` crate's (MIT), on `ring`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde::{Deserialize, Serialize};

/// etcd's TTL when the options name none.
const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

/// A refused `--auth-token jwt,...`, with etcd's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("auth: invalid auth signature method")]
    InvalidMethod,
    #[error("auth: missing key data")]
    MissingKey,
    #[error("auth: invalid auth options")]
    InvalidOptions,
    #[error("{0}")]
    Key(String),
    #[error("auth: token signing attempted with verify-only key")]
    VerifyOnly,
}

/// The claims etcd signs, in the order Go marshals them.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    exp: u64,
    revision: u64,
    username: String,
}

pub struct JwtTokens {
    algorithm: Algorithm,
    /// `None`: verify-only (a public key alone).
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    ttl: Duration,
}

impl JwtTokens {
    /// From the options after `jwt,` (`key=value` pairs).
    pub fn from_options(options: &[(&str, &str)]) -> Result<JwtTokens, JwtError> {
        let get = |name: &str| options.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let ttl = match get("ttl").filter(|t| !t.is_empty()) {
            None => DEFAULT_TTL,
            Some(ttl) => {
                let nanos = crate::config::value::parse_go_duration(ttl)
                    .map_err(|_| JwtError::InvalidOptions)?;
                Duration::from_nanos(u64::try_from(nanos).map_err(|_| JwtError::InvalidOptions)?)
            }
        };
        let read = |name: &str| -> Result<Option<Vec<u8>>, JwtError> {
            match get(name).filter(|f| !f.is_empty()) {
                None => Ok(None),
                Some(file) => std::fs::read(Path::new(file))
                    .map(Some)
                    .map_err(|e| JwtError::Key(format!("open {file}: {e}"))),
            }
        };
        let (public, private) = (read("pub-key")?, read("priv-key")?);
        let algorithm = sign_method(get("sign-method").unwrap_or_default())?;
        let (signing, verifying) = keys(algorithm, public.as_deref(), private.as_deref())?;
        Ok(JwtTokens {
            algorithm,
            signing,
            verifying,
            ttl,
        })
    }

    /// A token for `username` at auth `revision`.
    pub fn sign(&self, username: &str, revision: u64) -> Result<String, JwtError> {
        let key = self.signing.as_ref().ok_or(JwtError::VerifyOnly)?;
        let exp = (SystemTime::now() + self.ttl)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            exp,
            revision,
            username: username.to_string(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|e| JwtError::Key(e.to_string()))
    }

    /// The user and auth revision a valid, unexpired token of ours names.
    pub fn verify(&self, token: &str) -> Option<(String, u64)> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        match jsonwebtoken::decode::<Claims>(token, &self.verifying, &validation) {
            Ok(data) => Some((data.claims.username, data.claims.revision)),
            Err(e) => {
                tracing::warn!(token, error = %e, "failed to parse a JWT token");
                None
            }
        }
    }
}

fn sign_method(name: &str) -> Result<Algorithm, JwtError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "EdDSA" => Algorithm::EdDSA,
        // ES512 (P-521) has no implementation in ring.
        _ => return Err(JwtError::InvalidMethod),
    })
}

/// The signing key (if a private key was given) and the verifying key (the
/// public key's, else derived from the private key).
fn keys(
    algorithm: Algorithm,
    public: Option<&[u8]>,
    private: Option<&[u8]>,
) -> Result<(Option<EncodingKey>, DecodingKey), JwtError> {
    use Algorithm::*;
    let bad = |e: &dyn std::fmt::Display| JwtError::Key(e.to_string());
    if matches!(algorithm, HS256 | HS384 | HS512) {
        let secret = private.ok_or(JwtError::MissingKey)?;
        return Ok((
            Some(EncodingKey::from_secret(secret)),
            DecodingKey::from_secret(secret),
        ));
    }
    let given_public = match public {
        None => None,
        Some(pem) => Some(
            match algorithm {
                ES256 | ES384 => DecodingKey::from_ec_pem(pem),
                EdDSA => DecodingKey::from_ed_pem(pem),
                _ => DecodingKey::from_rsa_pem(pem),
            }
            .map_err(|e| bad(&e))?,
        ),
    };
    let Some(private) = private else {
        return Ok((None, given_public.ok_or(JwtError::MissingKey)?));
    };
    let der = PrivateKeyDer::from_pem_slice(private).map_err(|e| bad(&e))?;
    let rng = ring::rand::SystemRandom::new();
    let (signing, derived) = match (algorithm, &der) {
        (RS256 | RS384 | RS512 | PS256 | PS384 | PS512, _) => {
            let pkcs1 = match &der {
                PrivateKeyDer::Pkcs1(k) => k.secret_pkcs1_der().to_vec(),
                PrivateKeyDer::Pkcs8(k) => {
                    unwrap_pkcs8(k.secret_pkcs8_der()).ok_or_else(|| bad(&"bad PKCS#8 key"))?
                }
                _ => return Err(bad(&"not an RSA private key")),
            };
            let pair = ring::rsa::KeyPair::from_der(&pkcs1).map_err(|e| bad(&e))?;
            (
                EncodingKey::from_rsa_der(&pkcs1),
                DecodingKey::from_rsa_der(pair.public().as_ref()),
            )
        }
        (ES256 | ES384, _) => {
            let (alg, curve) = match algorithm {
                ES256 => (&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, P256_OID),
                _ => (&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING, P384_OID),
            };
            let pkcs8 = match &der {
                PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
                PrivateKeyDer::Sec1(k) => wrap_sec1(k.secret_sec1_der(), curve),
                _ => return Err(bad(&"not an EC private key")),
            };
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &rng)
                .map_err(|e| bad(&e))?;
            (
                EncodingKey::from_ec_der(&pkcs8),
                DecodingKey::from_ec_der(pair.public_key().as_ref()),
            )
        }
        (EdDSA, PrivateKeyDer::Pkcs8(k)) => {
            let pkcs8 = k.secret_pkcs8_der();
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|e| bad(&e))?;
            (
                EncodingKey::from_ed_der(pkcs8),
                DecodingKey::from_ed_der(pair.public_key().as_ref()),
            )
        }
        _ => return Err(bad(&"the private key does not fit the sign method")),
    };
    Ok((Some(signing), given_public.unwrap_or(derived)))
}

/// DER of the curve OIDs 1.2.840.10045.3.1.7 (P-256) and 1.3.132.0.34
/// (P-384), and of id-ecPublicKey (1.2.840.10045.2.1).
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// A DER TLV with `tag` around `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A SEC1 EC key as PKCS#8 (what ring reads): PrivateKeyInfo { 0,
/// {id-ecPublicKey, curve}, OCTET STRING sec1 }.
fn wrap_sec1(sec1: &[u8], curve: &[u8]) -> Vec<u8> {
    let algorithm = tlv(0x30, &[EC_PUBLIC_KEY_OID, curve].concat());
    let body = [&[0x02, 0x01, 0x00][..], &algorithm, &tlv(0x04, sec1)].concat();
    tlv(0x30, &body)
}

/// One DER TLV at the start of `input`: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 key inside an RSA PKCS#8 PrivateKeyInfo.
fn unwrap_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (0x30, info, _) = read_tlv(pkcs8)? else {
        return None;
    };
    let (0x02, _, rest) = read_tlv(info)? else {
        return None;
    };
    let (0x30, _, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x04, key, _) = read_tlv(rest)? else {
        return None;
    };
    Some(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_round_trip() {
        for len in [0usize, 5, 127, 128, 300, 70000] {
            let content = vec![7u8; len];
            let encoded = tlv(0x04, &content);
            let (tag, got, rest) = read_tlv(&encoded).unwrap();
            assert_eq!((tag, got.len(), rest.len()), (0x04, len, 0));
        }
    }

    #[test]
    fn hmac_tokens_carry_user_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("secret");
        std::fs::write(&key, b"0123456789abcdef").unwrap();
        let key = key.to_str().unwrap();
        let tokens =
            JwtTokens::from_options(&[("priv-key", key), ("sign-method", "HS256")]).unwrap();
        let token = tokens.sign("alice", 7).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(tokens.verify(&token), Some(("alice".to_string(), 7)));
        assert_eq!(tokens.verify(&format!("{token}x")), None);
        assert!(matches!(
            JwtTokens::from_options(&[("priv-key", key), ("sign-method", "XX")]),
            Err(JwtError::InvalidMethod)
        ));
    }
}
