//! End to end against a real server: Debian's etcd (`/usr/bin/etcd`) on
//! loopback ports, a temporary data dir and short raft timings, and every
//! `etcd-benchmark` workload run against it with small totals and `--json`.
//! Checks the counts and that nothing failed; no timing is asserted (the
//! machine may be busy). Also `--user` against etcd with auth on and off,
//! and the flags refused before dialing.
//!
//! One etcd serves all the workloads of a test: starting it is most of the
//! cost, and the workloads do not disturb each other's counts (each counts
//! its own requests and events).

mod common;

use std::net::TcpListener;
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

const ETCD: &str = "/usr/bin/etcd";

/// How long etcd may take to serve once started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A Debian etcd process, killed when dropped.
struct Etcd {
    /// `kill_on_drop` ends the process with the test.
    _child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
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
        assert!(
            std::path::Path::new(ETCD).exists(),
            "{ETCD} is missing: apt-get install etcd-server"
        );
        let dir = tempfile::Builder::new()
            .prefix("etcd-benchmark-test")
            .tempdir()
            .expect("temp dir");
        let client = format!("http://127.0.0.1:{}", free_port());
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
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcd");
        let etcd = Etcd {
            _child: child,
            _dir: dir,
            endpoint: client,
        };
        etcd.await_leader().await;
        etcd
    }

    /// Polls Status until the member reports a leader.
    async fn await_leader(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut client) = MaintenanceClient::connect(self.endpoint.clone()).await {
                if let Ok(status) = client.status(StatusRequest {}).await {
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
async fn tls_flags_are_refused_not_ignored() {
    // Refused before dialing: no server needed.
    for flag in ["--cacert=ca.pem", "--cert=c.pem", "--key=k.pem"] {
        let (ok, stdout, stderr) = bench(&["--endpoints=127.0.0.1:1", flag, "put"]).await;
        assert!(!ok, "{flag} was accepted");
        assert_eq!(stdout, "");
        let name = flag.split('=').next().unwrap_or_default();
        assert!(
            stderr.starts_with(&format!("etcd-benchmark: {name} is not supported yet: ")),
            "{stderr}"
        );
    }
}
