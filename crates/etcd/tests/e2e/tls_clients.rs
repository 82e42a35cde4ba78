//! More clients over client TLS, against ours and Debian's etcd 3.4.23
//! (`tls.rs` has etcdctl 3.4, the Rust etcd-client and Go clientv3):
//! - PyPI's Python `etcd3` 0.12.0 (`tests/python/etcd3_tls_check.py`, in
//!   the venv of `common::python`) with `ca_cert`, `cert_key` and
//!   `cert_cert`: grpcio verifies the server, presents a client certificate
//!   and refuses a server that does not negotiate ALPN `h2`;
//! - etcdctl 3.5.1, the official release binary (`common::etcd351`,
//!   fetched once into `target/tmp/etcd-3.5.1/`), with `--cacert`, `--cert`
//!   and `--key`: only the client is 3.5, the servers are the usual two;
//! - a `unixs://localhost:NAME` client listener, reached by etcdctl 3.4.
//!
//! What must hold: each client writes and reads over TLS against a member
//! with `--client-cert-auth` (etcdctl 3.5 also lists the member); on the
//! unix socket, the socket file `localhost:NAME` appears in the server's
//! working directory (a temp dir of the test, so nothing is left behind in
//! the source tree and parallel tests never share a socket), etcdctl run in
//! that directory puts and gets over TLS through it, and the same keys are
//! seen through the member's plain tcp listener.
//!
//! Readiness of the unix listener: both servers log its serving line with
//! the socket name as `address`, and the harness waits for that line like
//! for a tcp listener's (`NodeOptions::unix_listener`); the member also has
//! a plain tcp listener, the one the harness's own clients use.

use crate::common;

use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use common::certs::Certs;
use common::etcd351::etcdctl_351_async;
use common::{
    etcdctl_command, etcdctl_command_with, etcdctl_ok, etcdctl_run_command_ok, python, ClientTls,
    Node, NodeOptions, Scheme, Target,
};
use serde_json::{json, Value};

/// How long the Python script may take (each call has 5 s).
const PYTHON_TIMEOUT: Duration = Duration::from_secs(30);
/// The unix listener's socket name (`localhost:NAME`): digits, as Go's
/// net/url wants a port there. It lives in a temp dir of its own test.
const UNIX_NAME: &str = "12379";

/// A member with the test CA's server certificate and `--client-cert-auth`,
/// reached by the harness as client `root`.
async fn start_secure(target: Target, certs: &Certs) -> Node {
    let root = certs.client("root");
    let options = NodeOptions::https(certs.client_tls(&root))
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"]);
    Node::start_with(target, options).await
}

both!(python_etcd3_over_tls, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs).await;
    let alice = certs.client("alice");
    let python = python::venv_python_async().await;
    let child = python::script_command(python, "etcd3_tls_check.py")
        .arg(format!("--endpoint={}", node.endpoint()))
        .arg(format!("--ca-cert={}", certs.ca.display()))
        .arg(format!("--cert-key={}", alice.key.display()))
        .arg(format!("--cert-cert={}", alice.cert.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn etcd3_tls_check.py");
    let output = tokio::time::timeout(PYTHON_TIMEOUT, child.wait_with_output())
        .await
        .expect("etcd3_tls_check.py finishes")
        .expect("wait for etcd3_tls_check.py");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "etcd3_tls_check.py failed ({}): {stderr}",
        output.status
    );
    let steps: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("etcd3_tls_check.py prints JSON lines"))
        .collect();
    let kv = |key: &str, value: &str, revision: i64| {
        json!({"key": key, "value": value, "create_revision": revision,
               "mod_revision": revision, "version": 1})
    };
    let mut get = kv("/py/tls/a", "over tls", 2);
    get["step"] = json!("get");
    get["ok"] = json!(true);
    assert_eq!(
        steps,
        [
            json!({"step": "channel", "ok": true, "secure": true}),
            json!({"step": "put", "ok": true, "revision": 2}),
            get,
            json!({"step": "put_second", "ok": true, "revision": 3}),
            json!({"step": "get_prefix", "ok": true, "kvs": [
                kv("/py/tls/a", "over tls", 2),
                kv("/py/tls/b", "again", 3),
            ]}),
        ],
        "etcd3_tls_check.py's stderr: {stderr}"
    );
    // The same store through etcdctl over TLS.
    assert_eq!(
        etcdctl_ok(&node, &["get", "/py/tls/a"]).await,
        "/py/tls/a\nover tls\n"
    );
});

both!(etcdctl_351_over_tls, |target| async move {
    let certs = Certs::new();
    let node = start_secure(target, &certs).await;
    let etcdctl = etcdctl_351_async().await;
    let alice = certs.client("alice");
    let tls = certs.client_tls(&alice);
    let url = node.client_url();
    let run = |args: &'static [&'static str]| {
        let command = etcdctl_command_with(etcdctl, &url);
        let tls = tls.clone();
        async move { etcdctl_run_command_ok(command, Some(&tls), args).await }
    };

    assert_eq!(run(&["put", "tls/k", "from 3.5"]).await, "OK\n");
    assert_eq!(run(&["get", "tls/k"]).await, "tls/k\nfrom 3.5\n");
    let list: Value = serde_json::from_str(&run(&["member", "list", "-w", "json"]).await)
        .expect("member list prints JSON");
    let members = list["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{list}");
    assert_eq!(members[0]["name"], node.name(), "{list}");
    assert_eq!(members[0]["clientURLs"], json!([url]), "{list}");
    assert_eq!(members[0]["peerURLs"], json!([node.peer_url()]), "{list}");
    // The simple format names the member and its URLs too.
    let simple = run(&["member", "list"]).await;
    assert!(
        simple.contains(&format!(
            ", started, {}, {}, {url}, ",
            node.name(),
            node.peer_url()
        )),
        "{simple}"
    );
    // And Debian's etcdctl 3.4 reads what 3.5 wrote.
    assert_eq!(
        etcdctl_ok(&node, &["get", "tls/k"]).await,
        "tls/k\nfrom 3.5\n"
    );
});

both!(etcdctl_over_unixs_listener, |target| async move {
    let certs = Certs::new();
    // The server's (and etcdctl's) working directory: the socket file is
    // created there and goes away with it.
    let workdir = tempfile::Builder::new()
        .prefix("etcd-unixs-")
        .tempdir()
        .expect("create temp dir");
    let root = certs.client("root");
    let tls: ClientTls = certs.client_tls(&root);
    let options = NodeOptions::new()
        .unix_listener(Scheme::Https, UNIX_NAME)
        .current_dir(workdir.path())
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"]);
    let node = Node::start_with(target, options).await;
    let url = node.unix_url(0);
    assert_eq!(url, format!("unixs://localhost:{UNIX_NAME}"));

    let socket = node.unix_socket(0);
    assert_eq!(
        socket,
        workdir.path().join(format!("localhost:{UNIX_NAME}"))
    );
    let file_type = std::fs::symlink_metadata(&socket)
        .unwrap_or_else(|e| panic!("no socket file {}: {e}", socket.display()))
        .file_type();
    assert!(
        file_type.is_socket(),
        "{} is not a socket",
        socket.display()
    );
    let serving = node.log_entries("serving client traffic securely");
    assert!(
        serving
            .iter()
            .any(|e| e["address"] == format!("localhost:{UNIX_NAME}")),
        "no secure serving line for the socket: {serving:?}"
    );

    let unixs = |args: &'static [&'static str]| {
        let mut command = etcdctl_command(&url);
        command.current_dir(workdir.path());
        let tls = tls.clone();
        async move { etcdctl_run_command_ok(command, Some(&tls), args).await }
    };
    assert_eq!(unixs(&["put", "via", "unixs"]).await, "OK\n");
    assert_eq!(unixs(&["get", "via"]).await, "via\nunixs\n");
    // One store behind both listeners.
    assert_eq!(etcdctl_ok(&node, &["get", "via"]).await, "via\nunixs\n");
    assert_eq!(etcdctl_ok(&node, &["put", "via", "tcp"]).await, "OK\n");
    assert_eq!(unixs(&["get", "via"]).await, "via\ntcp\n");
});
