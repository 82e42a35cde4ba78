//! Client TLS of a single member, against ours and Debian's etcd 3.4.23:
//! `https://` client URLs with `--cert-file/--key-file/--trusted-ca-file`,
//! `--client-cert-auth`, `--client-crl-file` and `--auto-tls`, reached by
//! etcdctl (`--cacert/--cert/--key`), the Rust etcd-client crate (rustls)
//! and Go clientv3 (a `crypto/tls` config, `tests/go/tls_check`).
//!
//! What must hold: every client works over TLS (KV, a live watch, a lease
//! keep-alive, member list); the server refuses a client without a
//! certificate, with one from an unrelated CA, with a revoked one, and one
//! speaking plaintext, and logs "rejected connection" for each; an
//! `--auto-tls` server serves a certificate it generated under
//! `<data-dir>/fixtures/client/`; plain and TLS listeners serve side by side;
//! a certificate replaced on disk is served to new connections without a
//! restart; and bad certificate flags stop the startup with a message that
//! names the problem. `--trusted-ca-file` alone already requires client
//! certificates (etcd 3.4's rule). `--cipher-suites` limits the TLS 1.2 suites (TLS 1.3
//! ones are not configurable, as in Go) and an unknown suite name stops the
//! startup.
//!
//! The certificates come from `common::certs` (openssl, a temp dir per
//! test). etcdctl's refusals are awaited with short `--dial-timeout` and
//! `--command-timeout` flags: etcdctl 3.4 retries a failed transport until
//! the command times out and then prints `Error: context deadline exceeded`.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::certs::{self, Certs, KeyPair};
use common::{
    etcdctl_at, etcdctl_at_ok, etcdctl_json, etcdctl_ok, eventually, node_etcdctl_command,
    ClientTls, Node, NodeOptions, Scheme, Target, REJECTED_MSG,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long a log line or a served certificate may take to show up.
const WAIT: Duration = Duration::from_secs(10);
/// etcdctl's flags for calls that must fail: the refusal is final after
/// the first handshake, so a short command timeout is enough.
const REFUSED_TIMEOUTS: [&str; 2] = ["--dial-timeout=1s", "--command-timeout=2s"];
/// What etcdctl 3.4 prints last when the TLS transport never comes up.
const DEADLINE_LINE: &str = "Error: context deadline exceeded";

/// A member with the test CA's server certificate and `--client-cert-auth`
/// (plus `extra` flags), reached by the harness as client `root`.
async fn start_secure(target: Target, certs: &Certs, extra: &[&str]) -> Node {
    let root = certs.client("root");
    let options = NodeOptions::https(certs.client_tls(&root))
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"])
        .args(extra);
    Node::start_with(target, options).await
}

/// Asserts an etcdctl `get` of `key` at `url` with `tls` fails the way
/// etcdctl 3.4 fails when the server refuses the connection: exit 1,
/// nothing on stdout (no value), the deadline error last on stderr. A read
/// is used because clientv3 retries it on an unavailable transport until
/// the command's deadline, whatever the refusal looked like on the wire.
async fn assert_refused(url: &str, tls: Option<&ClientTls>, key: &str) {
    let mut args = REFUSED_TIMEOUTS.to_vec();
    args.extend(["get", key]);
    let output = etcdctl_at(url, tls, &args).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "etcdctl {args:?} against {url} must fail\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "",
        "a refused etcdctl printed a value; stderr: {stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some(DEADLINE_LINE),
        "etcdctl's stderr: {stderr}"
    );
}

/// Waits until the node has logged more than `before` "rejected
/// connection" lines; the new ones.
async fn wait_rejections(node: &Node, before: usize) -> Vec<Value> {
    eventually(WAIT, "the server logs \"rejected connection\"", || async {
        let entries = node.log_entries(REJECTED_MSG);
        (entries.len() > before).then(|| entries[before..].to_vec())
    })
    .await
}

/// Checks the fields etcd gives a "rejected connection" line: a warning
/// naming the remote address (the test's loopback client) and the error.
fn assert_rejection_fields(entry: &Value) {
    assert_eq!(entry["level"], "warn", "{entry}");
    let remote = entry["remote-addr"].as_str().unwrap_or_default();
    assert!(remote.starts_with("127.0.0.1:"), "{entry}");
    assert!(entry["server-name"].is_string(), "{entry}");
    assert!(
        !entry["error"].as_str().unwrap_or_default().is_empty(),
        "{entry}"
    );
}

/// One TLS handshake with `openssl s_client` (no client certificate) to
/// `port`, with stdin closed so it ends right after; its output.
async fn s_client(port: u16, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run openssl s_client");
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("openssl s_client finishes")
        .expect("wait for openssl s_client")
}

/// The serial of the certificate a new TLS connection to `port` is served
/// (`openssl s_client -showcerts`), or `None` if the handshake gave none.
async fn served_serial(port: u16) -> Option<String> {
    let output = s_client(port, &["-showcerts"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let begin = stdout.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = begin + stdout[begin..].find(end_marker)? + end_marker.len();
    Some(certs::serial_of_pem(&stdout[begin..end]))
}

/// The port of a `https://127.0.0.1:PORT` URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// Replaces `dst` with a copy of `src` atomically (a reader sees the old
/// file or the new one, never half of one).
fn install(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("tmp");
    std::fs::copy(src, &tmp).expect("copy certificate file");
    std::fs::rename(&tmp, dst).expect("install certificate file");
}

// ---------------------------------------------------------------- clients

both!(etcdctl_over_tls, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs, &[]).await;
    assert!(node.client_url().starts_with("https://127.0.0.1:"));

    assert_eq!(etcdctl_ok(&node, &["put", "tls/k", "v1"]).await, "OK\n");
    assert_eq!(etcdctl_ok(&node, &["get", "tls/k"]).await, "tls/k\nv1\n");

    // A live watch over TLS sees a later put. A watch started "now" gives
    // no sign it is established, so the put is repeated until it shows.
    let mut watcher = node_etcdctl_command(&node)
        .args(["watch", "tls/watched"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn etcdctl watch");
    let mut lines = BufReader::new(watcher.stdout.take().expect("piped stdout")).lines();
    let mut client = node.client().await;
    let first = tokio::time::timeout(WAIT, async {
        loop {
            client.put("tls/watched", "seen", None).await.expect("put");
            tokio::select! {
                line = lines.next_line() => break line,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .expect("etcdctl watch printed the put within the wait")
    .expect("read etcdctl watch output");
    assert_eq!(first.as_deref(), Some("PUT"));
    let mut event = Vec::new();
    for _ in 0..2 {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the rest of the event")
            .expect("read etcdctl watch output");
        event.push(line.unwrap_or_default());
    }
    assert_eq!(event, ["tls/watched", "seen"]);
    drop(watcher);

    let granted = etcdctl_json(&node, &["lease", "grant", "60"]).await;
    let id = granted["ID"].as_i64().expect("lease ID");
    // etcdctl prints the id zero-padded to 16 hex digits (%016x).
    assert_eq!(
        etcdctl_ok(
            &node,
            &["lease", "keep-alive", "--once", &format!("{id:x}")]
        )
        .await,
        format!("lease {id:016x} keepalived with TTL(60)\n")
    );

    let list = etcdctl_json(&node, &["member", "list"]).await;
    let members = list["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{list}");
    assert_eq!(members[0]["name"], node.name(), "{list}");
    assert_eq!(
        members[0]["clientURLs"],
        json!([node.client_url()]),
        "{list}"
    );
    assert_eq!(members[0]["peerURLs"], json!([node.peer_url()]), "{list}");
});

both!(rust_client_over_tls, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs, &[]).await;
    // node.client() connects with the CA and client `root` (rustls).
    let mut client = node.client().await;
    let put = client.put("tls/rust", "hello", None).await.expect("put");
    let revision = common::rev(put.header());
    let got = client.get("tls/rust", None).await.expect("get");
    assert_eq!(
        common::kvs(got.kvs()),
        [common::kv("tls/rust", "hello", revision, revision, 1)]
    );
    // The same key through etcdctl over TLS: one store behind both.
    assert_eq!(
        etcdctl_ok(&node, &["get", "tls/rust"]).await,
        "tls/rust\nhello\n"
    );
});

both!(go_clientv3_over_tls, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs, &[]).await;
    let program = tokio::task::spawn_blocking(|| common::transcript::go_program("tls_check"))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let alice = certs.client("alice");
    let child = tokio::process::Command::new(program)
        .arg(format!("-endpoint={}", node.client_url()))
        .arg(format!("-cacert={}", certs.ca.display()))
        .arg(format!("-cert={}", alice.cert.display()))
        .arg(format!("-key={}", alice.key.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tls_check");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tls_check finishes within 60 s")
        .expect("wait for tls_check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tls_check failed ({}): {stderr}",
        output.status
    );
    let steps: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("tls_check prints JSON lines"))
        .collect();
    assert_eq!(
        steps,
        [
            json!({"step": "put", "ok": true, "revision": 2}),
            json!({"step": "get", "ok": true, "values": ["over tls"]}),
            json!({"step": "watch", "ok": true, "type": "PUT", "key": "tls/watched", "value": "seen"}),
            json!({"step": "status", "ok": true, "leader_is_set": true, "member_is_set": true}),
        ],
        "tls_check's stderr: {stderr}"
    );
});

// ---------------------------------------------------------------- refusals

both!(client_without_certificate_is_refused, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs, &[]).await;
    assert_eq!(etcdctl_ok(&node, &["put", "secret", "v"]).await, "OK\n");
    let before = node.log_entries(REJECTED_MSG).len();

    // Trusts the server, presents no certificate.
    let anonymous = ClientTls::ca(&certs.ca);
    assert_refused(&node.client_url(), Some(&anonymous), "secret").await;
    for entry in wait_rejections(&node, before).await {
        assert_rejection_fields(&entry);
    }

    // The Rust client without an identity gets no answer either.
    let options = common::connect_options(
        Some(&anonymous),
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    let result = match etcd_client::Client::connect([node.endpoint()], Some(options)).await {
        Ok(mut client) => client
            .get("secret", None)
            .await
            .map(|r| common::kvs(r.kvs())),
        Err(e) => Err(e),
    };
    assert!(
        result.is_err(),
        "a client without a certificate read {result:?}"
    );
});

both!(
    trusted_ca_file_alone_requires_client_certificates,
    |target| async move {
        // etcd 3.4 requires and verifies client certificates as soon as
        // --trusted-ca-file is given, even without --client-cert-auth.
        let certs = Certs::new();
        let root = certs.client("root");
        let options = NodeOptions::https(certs.client_tls(&root)).args(&certs.server_flags());
        let node = Node::start_with(target, options).await;
        assert_eq!(etcdctl_ok(&node, &["put", "secret", "v"]).await, "OK\n");
        let before = node.log_entries(REJECTED_MSG).len();

        assert_refused(
            &node.client_url(),
            Some(&ClientTls::ca(&certs.ca)),
            "secret",
        )
        .await;
        for entry in wait_rejections(&node, before).await {
            assert_rejection_fields(&entry);
        }
    }
);

both!(
    client_certificate_from_untrusted_ca_is_refused,
    |target| async move {
        let certs = Certs::new();
        let node = start_secure(target, &certs, &[]).await;
        assert_eq!(etcdctl_ok(&node, &["put", "secret", "v"]).await, "OK\n");
        let before = node.log_entries(REJECTED_MSG).len();

        // CN "root" like the good client, but signed by another CA.
        let stranger = certs.client_tls(&certs.untrusted_client);
        assert_refused(&node.client_url(), Some(&stranger), "secret").await;
        for entry in wait_rejections(&node, before).await {
            assert_rejection_fields(&entry);
        }
    }
);

both!(revoked_client_certificate_is_refused, |target| async move {
    let certs = Certs::new();
    let crl = format!("--client-crl-file={}", certs.crl.display());
    let node = start_secure(target, &certs, &[&crl]).await;
    // The CRL blocks the revoked certificate only: the harness's client
    // (`root`, same CA) still works.
    assert_eq!(etcdctl_ok(&node, &["put", "secret", "v"]).await, "OK\n");
    let before = node.log_entries(REJECTED_MSG).len();

    let revoked = certs.client_tls(&certs.revoked_client);
    assert_refused(&node.client_url(), Some(&revoked), "secret").await;
    let rejections = wait_rejections(&node, before).await;
    for entry in &rejections {
        assert_rejection_fields(entry);
    }
    // etcd names the revocation: "transport: certificate serial 1002 revoked".
    assert!(
        rejections
            .iter()
            .any(|e| e["error"].as_str().unwrap_or_default().contains("revoked")),
        "no rejection names the revocation: {rejections:?}"
    );
    assert_eq!(etcdctl_ok(&node, &["get", "secret"]).await, "secret\nv\n");
});

both!(
    plaintext_client_against_tls_port_fails,
    |target| async move {
        let certs = Certs::new();
        let node = start_secure(target, &certs, &[]).await;
        assert_eq!(etcdctl_ok(&node, &["put", "secret", "v"]).await, "OK\n");
        let before = node.log_entries(REJECTED_MSG).len();

        let plain_url = node.client_url().replacen("https://", "http://", 1);
        assert_refused(&plain_url, None, "secret").await;
        for entry in wait_rejections(&node, before).await {
            assert_rejection_fields(&entry);
        }
    }
);

// ---------------------------------------------------------------- set-ups

both!(
    auto_tls_generates_and_serves_a_certificate,
    |target| async move {
        let node = Node::start_with(
            target,
            NodeOptions::https(ClientTls::skip_verify()).args(&["--auto-tls"]),
        )
        .await;
        assert_eq!(etcdctl_ok(&node, &["put", "auto", "tls"]).await, "OK\n");
        assert_eq!(etcdctl_ok(&node, &["get", "auto"]).await, "auto\ntls\n");

        let fixtures = node.data_dir().join("fixtures/client");
        let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
        assert!(key.is_file(), "{} is missing", key.display());
        // The generated certificate is the one a connection is served.
        let generated = certs::serial_of_file(&cert);
        let served = served_serial(port_of(&node.client_url())).await;
        assert_eq!(served.as_deref(), Some(generated.as_str()));
    }
);

// etcd's self-signed setup replaces the whole TLS configuration: with
// `--auto-tls`, `--client-cert-auth` asks nothing of clients.
both!(auto_tls_ignores_client_cert_auth, |target| async move {
    let node = Node::start_with(
        target,
        NodeOptions::https(ClientTls::skip_verify()).args(&["--auto-tls", "--client-cert-auth"]),
    )
    .await;
    assert_eq!(etcdctl_ok(&node, &["put", "auto", "open"]).await, "OK\n");
    assert_eq!(etcdctl_ok(&node, &["get", "auto"]).await, "auto\nopen\n");
});

both!(plain_and_tls_listeners_side_by_side, |target| async move {
    let certs = Certs::new();
    let root = certs.client("root");
    let tls = certs.client_tls(&root);
    let options = NodeOptions::https(tls.clone())
        .listeners(&[Scheme::Http, Scheme::Https])
        .args(&certs.server_flags());
    let node = Node::start_with(target, options).await;
    let (plain, secure) = (node.client_url_at(0), node.client_url_at(1));
    assert!(plain.starts_with("http://"), "{plain}");
    assert!(secure.starts_with("https://"), "{secure}");

    // A write through either listener is read through the other.
    assert_eq!(
        etcdctl_at_ok(&plain, None, &["put", "via", "plain"]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_at_ok(&secure, Some(&tls), &["get", "via"]).await,
        "via\nplain\n"
    );
    assert_eq!(
        etcdctl_at_ok(&secure, Some(&tls), &["put", "via", "tls"]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_at_ok(&plain, None, &["get", "via"]).await,
        "via\ntls\n"
    );

    // Each listener logged its own line with its own address.
    for (msg, url) in [
        (
            "serving client traffic insecurely; this is strongly discouraged!",
            &plain,
        ),
        ("serving client traffic securely", &secure),
    ] {
        let address = url.split("://").nth(1).unwrap_or_default();
        assert!(
            node.log_entries(msg)
                .iter()
                .any(|e| e["address"] == address),
            "no {msg:?} line with address {address}"
        );
    }
});

both!(certificate_rotation_without_restart, |target| async move {
    let certs = Certs::new();
    let rotated: KeyPair = certs.another_server("server-b");
    assert_ne!(certs.server.serial, rotated.serial);
    // The server reads these paths; the test overwrites them later.
    let live_cert = certs.dir().join("live.pem");
    let live_key = certs.dir().join("live.key");
    install(&certs.server.cert, &live_cert);
    install(&certs.server.key, &live_key);
    let root = certs.client("root");
    let options = NodeOptions::https(certs.client_tls(&root)).args(&[
        format!("--cert-file={}", live_cert.display()),
        format!("--key-file={}", live_key.display()),
        format!("--trusted-ca-file={}", certs.ca.display()),
    ]);
    let mut node = Node::start_with(target, options).await;
    let pid = node.pid();
    let port = port_of(&node.client_url());
    assert_eq!(served_serial(port).await, Some(certs.server.serial.clone()));
    let mut before_rotation = node.client().await;
    before_rotation
        .put("rotation", "a", None)
        .await
        .expect("put with cert A");

    install(&rotated.key, &live_key);
    install(&rotated.cert, &live_cert);
    // A new connection sees cert B once the server picked the files up
    // (etcd reads them on every handshake).
    eventually(
        WAIT,
        "a new connection is served the rotated certificate",
        || async {
            (served_serial(port).await.as_deref() == Some(rotated.serial.as_str())).then_some(())
        },
    )
    .await;

    // New clients work with B (same CA); the connection made before the
    // rotation still does too; and it is the same process throughout.
    let mut after_rotation = node.client().await;
    after_rotation
        .put("rotation", "b", None)
        .await
        .expect("put with cert B");
    let got = before_rotation
        .get("rotation", None)
        .await
        .expect("get on the old connection");
    assert_eq!(got.kvs()[0].value(), b"b");
    assert!(node.is_running());
    assert_eq!(node.pid(), pid, "the server was restarted");
});

both!(cipher_suites_limit_tls12_handshakes, |target| async move {
    let certs = Certs::new();
    // No --trusted-ca-file (which alone makes etcd 3.4 require client
    // certificates): s_client presents none.
    let options = NodeOptions::https(ClientTls::ca(&certs.ca)).args(&[
        format!("--cert-file={}", certs.server.cert.display()),
        format!("--key-file={}", certs.server.key.display()),
        "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_string(),
    ]);
    let node = Node::start_with(target, options).await;
    // etcdctl negotiates TLS 1.3, whose suites the flag does not limit.
    assert_eq!(etcdctl_ok(&node, &["put", "k", "v"]).await, "OK\n");
    let port = port_of(&node.client_url());
    let allowed = s_client(
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    )
    .await;
    assert!(
        allowed.status.success(),
        "a TLS 1.2 handshake with the listed suite failed: {}",
        String::from_utf8_lossy(&allowed.stdout)
    );
    let before = node.log_entries(REJECTED_MSG).len();
    let other = s_client(
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    )
    .await;
    assert!(
        !other.status.success(),
        "a TLS 1.2 handshake with an unlisted suite succeeded: {}",
        String::from_utf8_lossy(&other.stdout)
    );
    // etcd: "tls: no cipher suite supported by both client and server".
    for entry in wait_rejections(&node, before).await {
        assert_rejection_fields(&entry);
    }
});

// ---------------------------------------------------------------- bad flags

/// Starts a node whose start must fail on its https listener with these
/// flags; asserts exit status 1 and that an error line contains `wanted`.
async fn assert_start_fails(target: Target, args: &[String], wanted: &str) {
    let failed = Node::start_failing(
        target,
        NodeOptions::https(ClientTls::skip_verify()).args(args),
    )
    .await;
    let errors = failed.errors();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "exit status {}; errors: {errors:#?}",
        failed.status
    );
    assert!(
        errors.iter().any(|line| line.contains(wanted)),
        "no error line contains {wanted:?}: {errors:#?}\n{}",
        failed.log
    );
}

both!(
    https_url_without_certificate_stops_startup,
    |target| async move {
        // etcd: "TLS key/cert (--cert-file, --key-file) must be provided for
        // client url https://127.0.0.1:PORT with HTTPS scheme".
        assert_start_fails(
            target,
            &[],
            "(--cert-file, --key-file) must be provided for client url",
        )
        .await;
    }
);

both!(
    cert_file_without_key_file_stops_startup,
    |target| async move {
        let certs = Certs::new();
        let cert = format!("--cert-file={}", certs.server.cert.display());
        // etcd: "KeyFile and CertFile must both be present[key: , cert: PATH]".
        assert_start_fails(target, &[cert], "KeyFile and CertFile must both be present").await;
    }
);

both!(missing_cert_file_stops_startup, |target| async move {
    let certs = Certs::new();
    // The tests run as root, which reads a file of any mode: a path that
    // does not exist is the unreadable certificate.
    let missing = certs.dir().join("missing.pem");
    let args = [
        format!("--cert-file={}", missing.display()),
        format!("--key-file={}", certs.server.key.display()),
    ];
    // etcd: "open PATH: no such file or directory".
    assert_start_fails(
        target,
        &args,
        &format!("open {}: no such file or directory", missing.display()),
    )
    .await;
});

both!(
    key_not_matching_certificate_stops_startup,
    |target| async move {
        let certs = Certs::new();
        let other = certs.client("other");
        let args = [
            format!("--cert-file={}", certs.server.cert.display()),
            format!("--key-file={}", other.key.display()),
        ];
        // etcd: "tls: private key does not match public key".
        assert_start_fails(target, &args, "private key does not match public key").await;
    }
);

both!(unknown_cipher_suite_stops_startup, |target| async move {
    let certs = Certs::new();
    let mut args = certs.server_flags();
    args.push("--cipher-suites=NOT_A_SUITE".to_string());
    // etcd: "unexpected TLS cipher suite \"NOT_A_SUITE\"".
    assert_start_fails(target, &args, "unexpected TLS cipher suite \"NOT_A_SUITE\"").await;
});
