//! Reading certificates, keys and CRLs from files, and noticing when the
//! files change.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::TlsError;

/// An I/O error in Go's words (`no such file or directory`), as etcd
/// prints the failures of its file reads.
pub fn go_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file, in file order (leaf first for a chain).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Parse {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The revocation lists in a file, PEM or DER (etcd reads DER or PEM).
pub fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read(path)?;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    // A file with no list in it is a mistake, not "nothing revoked".
    if crls.is_empty() {
        return Err(TlsError::Parse {
            path: path.to_path_buf(),
            reason: "no X509 CRL in the file".to_string(),
        });
    }
    Ok(crls)
}

/// What a file looked like when it was read: a changed stamp means read it
/// again. The inode and change time catch a file replaced by a rename or
/// copied with its old modification time kept. A file that cannot be
/// examined has no stamp.
pub type Stamp = Option<(SystemTime, u64, u64, i64, i64)>;

pub fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.modified().ok()?,
        meta.len(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// The stamps of a set of files, compared as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamps(Vec<Stamp>);

impl Stamps {
    pub fn of(paths: &[PathBuf]) -> Stamps {
        Stamps(paths.iter().map(|p| stamp(p)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = read_certs(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with("open ") && err.contains("nope.pem"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem").unwrap();
        assert!(matches!(
            read_certs(&empty),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(read_key(&empty), Err(TlsError::NoKey { .. })));
        // A PEM file holding no CRL (a certificate, say) is refused, not
        // taken for "nothing revoked".
        std::fs::write(
            &empty,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(read_crls(&empty), Err(TlsError::Parse { .. })));
    }

    #[test]
    fn stamps_change_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "a").unwrap();
        let before = Stamps::of(std::slice::from_ref(&path));
        std::fs::write(&path, "ab").unwrap();
        assert_ne!(before, Stamps::of(std::slice::from_ref(&path)));
    }
}
