//! Test certificates for the TLS tests, made with the `openssl` command line
//! in a temp dir of their own (one per test), the way etcd's security guide
//! does by hand: a CA; a server certificate for `127.0.0.1`/`localhost`
//! usable for both serverAuth and clientAuth (an etcd member presents one
//! certificate as a server and as a client); client certificates with a
//! chosen Common Name; peer certificates with a chosen CN (for
//! `--peer-cert-allowed-cn`); a second, unrelated CA with a client
//! certificate it signed (untrusted by the servers); a client
//! certificate revoked in a CRL the CA signed; and, on demand, more CRLs
//! revoking chosen certificates ([`Certs::crl_revoking`], e.g. a member's
//! peer certificate for `--peer-crl-file`). It also makes the key pairs
//! that sign etcd's JWT auth tokens ([`signing_keys`]: RSA for RS256, EC
//! P-256 for ES256), with the same tool.
//!
//! Keys are EC P-256 (prime256v1): generating one takes a few milliseconds,
//! so a whole set costs well under a second. Every certificate has its own
//! serial number (a counter), so a rotated certificate is told apart from the
//! one it replaces by its serial.
//!
//! What this module does not do: start servers or pick flags beyond the
//! usual `--cert-file/--key-file/--trusted-ca-file` trio
//! ([`Certs::server_flags`]); the tests choose everything else.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::ClientTls;

/// How long every certificate is valid: long enough for any test run, short
/// enough that a leaked temp dir holds nothing useful.
const VALID_DAYS: &str = "2";
/// The Common Name of the server certificate.
pub const SERVER_CN: &str = "etcd-test-server";

/// A certificate and its private key, both PEM files.
#[derive(Clone, Debug)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The serial number as `openssl x509 -serial` prints it (upper-case
    /// hex, without `serial=`).
    pub serial: String,
}

/// One test's certificates; the temp dir goes away with it.
pub struct Certs {
    dir: tempfile::TempDir,
    /// The trusted CA's certificate (`--trusted-ca-file`, `--cacert`).
    pub ca: PathBuf,
    ca_key: PathBuf,
    /// The server certificate: SANs `IP:127.0.0.1` and `DNS:localhost`,
    /// extended key usages serverAuth and clientAuth.
    pub server: KeyPair,
    /// A client certificate (CN `root`) signed by a CA no server trusts.
    pub untrusted_client: KeyPair,
    /// A client certificate (CN `revoked`) signed by the CA and revoked.
    pub revoked_client: KeyPair,
    /// The CA's CRL listing [`Certs::revoked_client`] (`--client-crl-file`).
    pub crl: PathBuf,
    /// The next serial number to hand out.
    next_serial: AtomicU64,
}

/// Which extended key usages a leaf certificate gets.
#[derive(Clone, Copy)]
enum Usage {
    /// serverAuth + clientAuth, with SANs for 127.0.0.1 and localhost.
    Member,
    /// clientAuth only, no SANs (as etcd's docs make client certs).
    Client,
}

impl Certs {
    /// Makes the CA, the server certificate, the untrusted CA with its
    /// client, and the revoked client with the CRL.
    pub fn new() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("etcd-certs-")
            .tempdir()
            .expect("create temp dir");
        let d = dir.path();
        let (ca, ca_key) = (d.join("ca.pem"), d.join("ca.key"));
        make_ca("etcd-test-ca", &ca, &ca_key);
        let (other_ca, other_ca_key) = (d.join("other-ca.pem"), d.join("other-ca.key"));
        make_ca("unrelated-ca", &other_ca, &other_ca_key);
        let server = sign(d, 0x1000, "server", SERVER_CN, Usage::Member, &ca, &ca_key);
        let untrusted_client = sign(
            d,
            0x1001,
            "untrusted",
            "root",
            Usage::Client,
            &other_ca,
            &other_ca_key,
        );
        let revoked_client = sign(d, 0x1002, "revoked", "revoked", Usage::Client, &ca, &ca_key);
        let crl = d.join("crl.pem");
        make_crl(d, "crl", &ca, &ca_key, &[&revoked_client], &crl);
        Certs {
            dir,
            ca,
            ca_key,
            server,
            untrusted_client,
            revoked_client,
            crl,
            next_serial: AtomicU64::new(0x1003),
        }
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client certificate with Common Name `cn`, signed by the CA.
    pub fn client(&self, cn: &str) -> KeyPair {
        self.leaf(&format!("client-{cn}"), cn, Usage::Client)
    }

    /// A member certificate for 127.0.0.1/localhost with Common Name `cn`
    /// (serverAuth + clientAuth, as a peer both listens and dials), stored
    /// under `file` (`file.pem`, `file.key`).
    pub fn peer(&self, file: &str, cn: &str) -> KeyPair {
        self.leaf(file, cn, Usage::Member)
    }

    /// Another server certificate like [`Certs::server`] (same CA, SANs and
    /// CN) with a new key and serial, stored under `file`: for rotation.
    pub fn another_server(&self, file: &str) -> KeyPair {
        self.leaf(file, SERVER_CN, Usage::Member)
    }

    /// A CRL signed by the CA that revokes exactly `revoked`, stored as
    /// `file.pem` (with its own CA database, so CRLs do not share
    /// revocations): for `--client-crl-file` or `--peer-crl-file`.
    pub fn crl_revoking(&self, file: &str, revoked: &[&KeyPair]) -> PathBuf {
        let crl = self.dir.path().join(format!("{file}.pem"));
        make_crl(self.dir.path(), file, &self.ca, &self.ca_key, revoked, &crl);
        crl
    }

    /// `--cert-file`, `--key-file` and `--trusted-ca-file` for the server
    /// certificate.
    pub fn server_flags(&self) -> Vec<String> {
        vec![
            format!("--cert-file={}", self.server.cert.display()),
            format!("--key-file={}", self.server.key.display()),
            format!("--trusted-ca-file={}", self.ca.display()),
        ]
    }

    /// What a client that trusts the CA and presents `identity` uses.
    pub fn client_tls(&self, identity: &KeyPair) -> ClientTls {
        ClientTls::ca(&self.ca).with_identity(&identity.cert, &identity.key)
    }

    /// A leaf certificate signed by the CA, with the next serial.
    fn leaf(&self, file: &str, cn: &str, usage: Usage) -> KeyPair {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        sign(
            self.dir.path(),
            serial,
            file,
            cn,
            usage,
            &self.ca,
            &self.ca_key,
        )
    }
}

/// The algorithm a JWT signing key pair is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// RSA 2048 (`sign-method=RS256`), the private key in PKCS#1 PEM.
    Rs256,
    /// EC P-256 (`sign-method=ES256`), the private key in SEC1 PEM.
    Es256,
}

impl SigningAlgorithm {
    /// The `sign-method` of `--auth-token jwt,...`, also the JWT's `alg`.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Es256 => "ES256",
        }
    }
}

/// A private key and its public half, PEM files, for `--auth-token
/// jwt,pub-key=...,priv-key=...`.
#[derive(Clone, Debug)]
pub struct SigningKeys {
    pub private: PathBuf,
    pub public: PathBuf,
}

/// A new key pair for `algorithm`, stored as `dir/name.key` and
/// `dir/name.pub`. The private keys use the traditional PEM forms (`RSA
/// PRIVATE KEY`, `EC PRIVATE KEY`) that etcd's JWT library reads first.
pub fn signing_keys(dir: &Path, name: &str, algorithm: SigningAlgorithm) -> SigningKeys {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    match algorithm {
        SigningAlgorithm::Rs256 => {
            openssl(&["genrsa", "-traditional", "-out", &p(&private), "2048"])
        }
        SigningAlgorithm::Es256 => openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &p(&private),
        ]),
    };
    openssl(&["pkey", "-in", &p(&private), "-pubout", "-out", &p(&public)]);
    SigningKeys { private, public }
}

/// A leaf certificate for `cn` with a new key, signed by `ca`, stored as
/// `dir/file.pem` and `dir/file.key`.
fn sign(
    dir: &Path,
    serial: u64,
    file: &str,
    cn: &str,
    usage: Usage,
    ca: &Path,
    ca_key: &Path,
) -> KeyPair {
    let cert = dir.join(format!("{file}.pem"));
    let key = dir.join(format!("{file}.key"));
    let csr = dir.join(format!("{file}.csr"));
    let ext = dir.join(format!("{file}.ext"));
    make_key(&key);
    openssl(&[
        "req",
        "-new",
        "-key",
        &p(&key),
        "-subj",
        &format!("/CN={cn}"),
        "-out",
        &p(&csr),
    ]);
    let extensions = match usage {
        Usage::Member => {
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        }
        Usage::Client => {
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=clientAuth\n"
        }
    };
    std::fs::write(&ext, extensions).expect("write extensions file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(ca),
        "-CAkey",
        &p(ca_key),
        "-set_serial",
        &serial.to_string(),
        "-days",
        VALID_DAYS,
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    KeyPair {
        serial: serial_of_file(&cert),
        cert,
        key,
    }
}

/// Revokes every certificate of `revoked` in a fresh CA database and
/// writes the CA's CRL to `crl`, with the minimal `openssl ca`
/// configuration that needs; the database files are named after `name`
/// (`name.index.txt`, `name.crlnumber`, `name.cnf`).
fn make_crl(dir: &Path, name: &str, ca: &Path, ca_key: &Path, revoked: &[&KeyPair], crl: &Path) {
    let database = dir.join(format!("{name}.index.txt"));
    let crlnumber = dir.join(format!("{name}.crlnumber"));
    std::fs::write(&database, "").expect("write CA database");
    std::fs::write(&crlnumber, "01\n").expect("write CRL number");
    let config = dir.join(format!("{name}.cnf"));
    std::fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = test_ca\n\
             [test_ca]\ndatabase = {}\ncrlnumber = {}\n\
             default_md = sha256\ndefault_crl_days = {VALID_DAYS}\n",
            database.display(),
            crlnumber.display()
        ),
    )
    .expect("write CA config");
    let (config, ca_key, ca) = (p(&config), p(ca_key), p(ca));
    let ca_args = ["ca", "-config", &config, "-keyfile", &ca_key, "-cert", &ca];
    for cert in revoked {
        let cert = p(&cert.cert);
        openssl(&[&ca_args[..], &["-revoke", &cert]].concat());
    }
    let crl = p(crl);
    openssl(&[&ca_args[..], &["-gencrl", "-out", &crl]].concat());
}

/// A self-signed CA certificate with its key.
fn make_ca(cn: &str, cert: &Path, key: &Path) {
    make_key(key);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p(key),
        "-subj",
        &format!("/CN={cn}"),
        "-days",
        VALID_DAYS,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &p(cert),
    ]);
}

/// An EC P-256 private key (PKCS#8 PEM).
fn make_key(key: &Path) {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-out",
        &p(key),
    ]);
}

/// The serial of a PEM certificate file (`openssl x509 -serial`).
pub fn serial_of_file(cert: &Path) -> String {
    let out = openssl(&["x509", "-in", &p(cert), "-noout", "-serial"]);
    parse_serial(&out)
}

/// The serial of the first PEM certificate in `pem`.
pub fn serial_of_pem(pem: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl (apt-get install -y openssl)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(pem.as_bytes())
        .expect("write to openssl");
    let output = child.wait_with_output().expect("wait for openssl");
    assert!(
        output.status.success(),
        "openssl x509 could not read the certificate: {}\n{pem}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_serial(&String::from_utf8_lossy(&output.stdout))
}

fn parse_serial(out: &str) -> String {
    out.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial in openssl's output {out:?}"))
        .to_string()
}

/// Runs `openssl ARGS`, asserting success; its stdout.
fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}
