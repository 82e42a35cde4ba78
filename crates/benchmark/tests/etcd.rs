//! End to end against a real server: Debian's etcd (`/usr/bin/etcd`) on
//! loopback ports, a temporary data dir and short raft timings, and every
//! `etcd-benchmark` workload run against it with small totals and `--json`.
//! Checks the counts and that nothing failed; no timing is asserted (the
//! machine may be busy). Also `--user` against etcd with auth on and off,
//! TLS (`https://` client URLs, with and without `--client-cert-auth`, on
//! certificates made with the `openssl` CLI), and the flags refused before
//! dialing.
//!
//! One etcd serves all the workloads of a test: starting it is most of the
//! cost, and the workloads do not disturb each other's counts (each counts
//! its own requests and events).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::bench;
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    AuthEnableRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, StatusRequest,
};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const ETCD: &str = "/usr/bin/etcd";

/// How long etcd may take to serve once started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A Debian etcd process, killed when dropped.
struct Etcd {
    /// `kill_on_drop` ends the process with the test.
    _child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
    /// How the test's own client reaches a TLS etcd.
    tls: Option<ClientTlsConfig>,
}

/// A CA and one certificate it signed, made with the `openssl` CLI: EC
/// P-256 keys, SANs IP:127.0.0.1 and DNS:localhost, serverAuth and
/// clientAuth, so it serves as etcd's server certificate and as the
/// benchmark's client certificate alike (as in etcd's own TLS guide).
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("etcd-benchmark-certs")
            .tempdir()
            .expect("temp dir");
        std::fs::write(
            dir.path().join("openssl.cnf"),
            "[req]\n\
             distinguished_name = dn\n\
             [dn]\n\
             [ca]\n\
             basicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign\n\
             subjectKeyIdentifier = hash\n\
             [leaf]\n\
             basicConstraints = CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth, clientAuth\n\
             subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             subjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\n",
        )
        .unwrap();
        // One openssl command line per step; no argument has a space in it.
        let openssl = |command_line: &str| {
            let args: Vec<&str> = command_line.split_whitespace().collect();
            let out = std::process::Command::new("openssl")
                .args(&args)
                .current_dir(dir.path())
                .output()
                .expect("run openssl (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {command_line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // The CA's key in PKCS#8, the leaf's in SEC1 ("EC PRIVATE KEY"),
        // so both forms are read.
        openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key");
        openssl(
            "req -x509 -new -key ca.key -subj /CN=etcd-benchmark-test-CA -days 2 \
             -config openssl.cnf -extensions ca -out ca.pem",
        );
        openssl("ecparam -name prime256v1 -genkey -noout -out server.key");
        openssl("req -new -key server.key -subj /CN=localhost -config openssl.cnf -out server.csr");
        openssl(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile openssl.cnf -extensions leaf -out server.pem",
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `--name=path` for a flag of etcd or of the benchmark.
    fn flag(&self, name: &str, file: &str) -> String {
        format!("--{name}={}", self.path(file).display())
    }

    /// The benchmark's flags that trust the CA and present the certificate.
    fn client_flags(&self) -> [String; 3] {
        [
            self.flag("cacert", "ca.pem"),
            self.flag("cert", "server.pem"),
            self.flag("key", "server.key"),
        ]
    }
}

/// How etcd serves its clients.
enum Serve<'a> {
    Plain,
    /// `https://` with `--cert-file`/`--key-file`.
    Tls(&'a Certs),
    /// And `--client-cert-auth --trusted-ca-file`: clients must present a
    /// certificate the CA signed.
    ClientCertAuth(&'a Certs),
}

/// A port that was free a moment ago (bind port 0 and release it).
/// A free port below Linux's ephemeral range (32768-60999), so no outgoing
/// connection's source port can take it before etcd binds it.
fn free_port() -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    (0..12_000u32)
        .map(|i| 20_000 + ((seed.wrapping_add(i.wrapping_mul(7919))) % 12_000) as u16)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port in 20000..32000")
}

impl Etcd {
    async fn start() -> Self {
        Self::start_serving(Serve::Plain).await
    }

    async fn start_serving(serve: Serve<'_>) -> Self {
        assert!(
            std::path::Path::new(ETCD).exists(),
            "{ETCD} is missing: apt-get install etcd-server"
        );
        let dir = tempfile::Builder::new()
            .prefix("etcd-benchmark-test")
            .tempdir()
            .expect("temp dir");
        let (scheme, mut tls_args, certs) = match serve {
            Serve::Plain => ("http", vec![], None),
            Serve::Tls(certs) => ("https", vec![], Some(certs)),
            Serve::ClientCertAuth(certs) => (
                "https",
                vec![
                    "--client-cert-auth".to_string(),
                    certs.flag("trusted-ca-file", "ca.pem"),
                ],
                Some(certs),
            ),
        };
        if let Some(certs) = certs {
            tls_args.push(certs.flag("cert-file", "server.pem"));
            tls_args.push(certs.flag("key-file", "server.key"));
        }
        let client = format!("{scheme}://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{}", free_port());
        let child = Command::new(ETCD)
            .arg("--name=bench")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=bench={peer}"))
            .arg("--heartbeat-interval=10")
            .arg("--election-timeout=100")
            .args(&tls_args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcd");
        let tls = certs.map(|certs| {
            let pem = |name| std::fs::read(certs.path(name)).unwrap();
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem("ca.pem")))
                .identity(Identity::from_pem(pem("server.pem"), pem("server.key")))
        });
        let etcd = Etcd {
            _child: child,
            _dir: dir,
            endpoint: client,
            tls,
        };
        etcd.await_leader().await;
        etcd
    }

    /// A connection of the test's own, over TLS to a TLS etcd.
    async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        endpoint.connect().await
    }

    /// Polls Status until the member reports a leader.
    async fn await_leader(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(channel) = self.channel().await {
                if let Ok(status) = MaintenanceClient::new(channel)
                    .status(StatusRequest {})
                    .await
                {
                    if status.into_inner().leader != 0 {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "etcd at {} did not get a leader within {START_TIMEOUT:?}",
                self.endpoint
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `etcd-benchmark --json` with `args` against this etcd and
    /// returns the parsed report, asserting it ran cleanly.
    async fn bench_json(&self, args: &[&str]) -> Value {
        let endpoint = format!("--endpoints={}", self.endpoint);
        let argv: Vec<&str> = [endpoint.as_str(), "--conns=2", "--clients=4", "--json"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let (ok, stdout, stderr) = bench(&argv).await;
        assert!(ok, "{args:?} failed: {stderr}");
        // No progress bar (stderr is not a terminal) and no warnings.
        assert_eq!(stderr, "", "{args:?} wrote to stderr");
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("{args:?}: not JSON ({err}): {stdout}"));
        assert_eq!(doc["report"]["failures"], 0, "{args:?}: {doc:#}");
        assert_eq!(doc["report"]["errors"], serde_json::json!({}), "{args:?}");
        assert_eq!(
            doc["report"]["percentiles"].as_array().map(Vec::len),
            Some(8),
            "{args:?}"
        );
        doc
    }
}

#[tokio::test]
async fn every_workload_runs_cleanly_against_debian_etcd() {
    let etcd = Etcd::start().await;

    let put = etcd
        .bench_json(&[
            "put",
            "--total=200",
            "--key-space-size=50",
            "--sequential-keys",
        ])
        .await;
    assert_eq!(put["workload"], "put");
    assert_eq!(put["report"]["requests"], 200);

    let range = etcd.bench_json(&["range", "foo", "--total=200"]).await;
    assert_eq!(range["workload"], "range");
    assert_eq!(range["params"]["consistency"], "l");
    assert_eq!(range["report"]["requests"], 200);

    // The whole key space the puts above wrote, read serializably.
    let range = etcd
        .bench_json(&[
            "range",
            "\u{1}",
            "\u{7f}",
            "--consistency=s",
            "--limit=10",
            "--count-only",
            "--total=200",
            "--rate=100000",
        ])
        .await;
    assert_eq!(range["params"]["consistency"], "s");
    assert_eq!(range["params"]["count_only"], true);
    assert_eq!(range["report"]["requests"], 200);

    let txn = etcd
        .bench_json(&[
            "txn-put",
            "--total=200",
            "--txn-ops=4",
            "--key-space-size=20",
            "--val-size=32",
        ])
        .await;
    assert_eq!(txn["workload"], "txn-put");
    assert_eq!(txn["params"]["txn_ops"], 4);
    assert_eq!(txn["report"]["requests"], 200);

    // 50 puts, each seen by 2 × 2 watchers: 200 events.
    let latency = etcd
        .bench_json(&[
            "watch-latency",
            "--streams=2",
            "--watchers-per-stream=2",
            "--put-total=50",
            "--put-rate=0",
            "--prevkv",
        ])
        .await;
    assert_eq!(latency["workload"], "watch-latency");
    assert_eq!(latency["report"]["requests"], 200);
    assert_eq!(latency["puts"]["requests"], 50);
    assert_eq!(latency["puts"]["failures"], 0);
    assert_eq!(latency["creation"]["requests"], 4);
    assert_eq!(latency["figures"]["events_received"], 200.0);

    let watch = etcd
        .bench_json(&[
            "watch",
            "--streams=2",
            "--watch-per-stream=5",
            "--put-total=20",
            "--key-size=8",
        ])
        .await;
    assert_eq!(watch["report"]["requests"], 200);
    assert_eq!(watch["puts"]["requests"], 20);

    let lease = etcd.bench_json(&["lease-keepalive", "--total=200"]).await;
    assert_eq!(lease["workload"], "lease-keepalive");
    assert_eq!(lease["report"]["requests"], 200);
}

#[tokio::test]
async fn range_text_report_starts_with_etcds_banner() {
    let etcd = Etcd::start().await;
    let endpoint = format!("--endpoints={}", etcd.endpoint);
    let (ok, stdout, stderr) =
        bench(&[&endpoint, "range", "k", "--consistency=s", "--total=20"]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("bench with serializable range\n\nSummary:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nLatency distribution:\n"), "{stdout}");
    assert_eq!(stderr, "", "no progress bar when stderr is not a terminal");
}

#[tokio::test]
async fn user_flag_authenticates_every_request() {
    let etcd = Etcd::start().await;
    // Auth still off: the token step is skipped, as etcd's client skips it.
    let put = etcd
        .bench_json(&["--user=root:pw", "put", "--total=20"])
        .await;
    assert_eq!(put["report"]["requests"], 20);

    let mut auth = AuthClient::connect(etcd.endpoint.clone()).await.unwrap();
    auth.user_add(AuthUserAddRequest {
        name: "root".into(),
        password: "pw".into(),
        ..AuthUserAddRequest::default()
    })
    .await
    .unwrap();
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .unwrap();
    auth.auth_enable(AuthEnableRequest {}).await.unwrap();

    // Unary calls and streams (watch, keepalive) all carry the token.
    for args in [
        &["put", "--total=50"][..],
        &["range", "foo", "--total=50"],
        &["txn-put", "--total=50"],
        &[
            "watch-latency",
            "--streams=1",
            "--watchers-per-stream=2",
            "--put-total=10",
            "--put-rate=0",
        ],
        &["lease-keepalive", "--total=20"],
    ] {
        let argv: Vec<&str> = ["--user=root:pw"].iter().chain(args).copied().collect();
        let doc = etcd.bench_json(&argv).await;
        assert!(doc["report"]["requests"].as_u64() > Some(0), "{args:?}");
    }

    // Without --user every put is refused, and counted as such.
    let endpoint = format!("--endpoints={}", etcd.endpoint);
    let (ok, stdout, _) = bench(&[&endpoint, "--json", "put", "--total=5"]).await;
    assert!(ok);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["report"]["failures"], 5, "{doc:#}");

    // A wrong password stops the run before it starts.
    let (ok, _, stderr) = bench(&[&endpoint, "--user=root:nope", "put", "--total=5"]).await;
    assert!(!ok);
    assert!(
        stderr.starts_with("etcd-benchmark: authenticating as \"root\": rpc error: code = InvalidArgument desc = etcdserver: authentication failed"),
        "{stderr}"
    );
}

#[tokio::test]
async fn user_without_password_is_refused_before_dialing() {
    let (ok, _, stderr) = bench(&["--endpoints=127.0.0.1:1", "--user=root", "put"]).await;
    assert!(!ok);
    assert_eq!(
        stderr,
        "etcd-benchmark: --user \"root\": give name:password (etcd-benchmark does not prompt for a password)\n"
    );
}

#[tokio::test]
async fn tls_flags_are_checked_before_dialing() {
    // Nothing listens on port 1: each of these fails on the flags alone.
    let certs = Certs::new();
    let ca = certs.flag("cacert", "ca.pem");
    let cert = certs.flag("cert", "server.pem");
    let key = certs.flag("key", "server.key");
    let cert_as_key = certs.flag("key", "server.pem");
    for (args, message) in [
        (
            vec!["--cacert=/nonexistent/ca.pem"],
            "etcd-benchmark: --cacert /nonexistent/ca.pem: No such file or directory (os error 2)\n".to_string(),
        ),
        (
            vec![cert.as_str()],
            format!(
                "etcd-benchmark: --cert and --key must be given together (--cert {:?}, --key \"\")\n",
                certs.path("server.pem").display().to_string()
            ),
        ),
        (
            vec![key.as_str(), ca.as_str()],
            format!(
                "etcd-benchmark: --cert and --key must be given together (--cert \"\", --key {:?})\n",
                certs.path("server.key").display().to_string()
            ),
        ),
        (
            vec![cert.as_str(), cert_as_key.as_str()],
            format!(
                "etcd-benchmark: --key {}: no PEM private key (PKCS#8, RSA or EC PRIVATE KEY) in it\n",
                certs.path("server.pem").display()
            ),
        ),
    ] {
        let argv: Vec<&str> = ["--endpoints=127.0.0.1:1"]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["put"])
            .collect();
        let (ok, stdout, stderr) = bench(&argv).await;
        assert!(!ok, "{args:?} was accepted");
        assert_eq!(stdout, "");
        assert_eq!(stderr, message, "{args:?}");
    }
}

#[tokio::test]
async fn put_and_range_run_over_tls() {
    let certs = Certs::new();
    let etcd = Etcd::start_serving(Serve::Tls(&certs)).await;
    let ca = certs.flag("cacert", "ca.pem");

    // --cacert alone: the server is verified, no client certificate.
    let put = etcd
        .bench_json(&[&ca, "put", "--total=200", "--key-space-size=50"])
        .await;
    assert_eq!(put["report"]["requests"], 200);
    assert_eq!(put["endpoints"][0], etcd.endpoint);
    let range = etcd.bench_json(&[&ca, "range", "foo", "--total=100"]).await;
    assert_eq!(range["report"]["requests"], 100);

    // etcd's forms of the same endpoint: by name (the DNS SAN), and bare
    // host:port, which a TLS flag turns into TLS.
    let port = etcd.endpoint.rsplit(':').next().unwrap();
    for endpoint in [
        format!("https://localhost:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let flag = format!("--endpoints={endpoint}");
        let (ok, stdout, stderr) = bench(&[&flag, &ca, "--json", "put", "--total=20"]).await;
        assert!(ok, "{endpoint}: {stderr}");
        let doc: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["report"]["requests"], 20, "{endpoint}");
        assert_eq!(doc["report"]["failures"], 0, "{endpoint}");
        assert!(doc["endpoints"][0]
            .as_str()
            .unwrap()
            .starts_with("https://"));
    }

    // Without --cacert the system's trust store is used, which does not
    // know the test CA: refused at the handshake, before the run.
    let endpoint = format!("--endpoints={}", etcd.endpoint);
    let (ok, stdout, stderr) = bench(&[&endpoint, "put", "--total=5"]).await;
    assert!(!ok, "an unknown CA was accepted");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(&format!("etcd-benchmark: dial error: {}: ", etcd.endpoint))
            && stderr.contains("certificate"),
        "{stderr}"
    );
    // Plain text to a TLS port: an explicit http:// is not upgraded, and
    // etcd answers nothing but TLS, so no put succeeds.
    let plain = format!(
        "--endpoints={}",
        etcd.endpoint.replace("https://", "http://")
    );
    let (ok, stdout, stderr) = bench(&[
        &plain,
        &ca,
        "--dial-timeout=5s",
        "--json",
        "put",
        "--total=5",
    ])
    .await;
    let refused = !ok
        || serde_json::from_str::<Value>(&stdout)
            .map(|doc| doc["report"]["failures"] == 5)
            .unwrap_or(false);
    assert!(refused, "plain text to a TLS port: {stdout} {stderr}");
}

#[tokio::test]
async fn put_presents_a_client_certificate_over_tls() {
    let certs = Certs::new();
    let etcd = Etcd::start_serving(Serve::ClientCertAuth(&certs)).await;
    let [ca, cert, key] = certs.client_flags();

    let put = etcd
        .bench_json(&[
            &ca,
            &cert,
            &key,
            "put",
            "--total=200",
            "--sequential-keys",
            "--key-space-size=20",
        ])
        .await;
    assert_eq!(put["report"]["requests"], 200);
    let range = etcd
        .bench_json(&[
            &ca,
            &cert,
            &key,
            "range",
            "foo",
            "--consistency=s",
            "--total=100",
        ])
        .await;
    assert_eq!(range["report"]["requests"], 100);

    // Without a client certificate etcd refuses the connection.
    let endpoint = format!("--endpoints={}", etcd.endpoint);
    let (ok, stdout, stderr) = bench(&[&endpoint, &ca, "--json", "put", "--total=5"]).await;
    let refused = !ok
        || serde_json::from_str::<Value>(&stdout)
            .map(|doc| doc["report"]["failures"] == 5)
            .unwrap_or(false);
    assert!(refused, "no client certificate, yet: {stdout} {stderr}");
}
