//! Clients that log in with a user name and password, against ours and
//! Debian's etcd 3.4.23 with auth enabled (`grpc_auth.rs` has the server's
//! side with the Rust etcd-client):
//! - etcd's own Go client, clientv3 3.4.23, with `Username`/`Password` in
//!   its `Config` (`tests/go/auth_check`, built by `tests/go/build.sh`);
//! - PyPI's Python `etcd3` 0.12.0 with `user=`/`password=`
//!   (`tests/python/etcd3_auth_check.py`, in the venv of `common::python`).
//!
//! What must hold: logged in as root, each puts and gets a key; logged in
//! as `alice` it reads and writes inside her prefix and gets the
//! permission-denied error outside it; a wrong password fails the login.
//! Each program prints one JSON line per step, compared here against a
//! fixed expectation for a fresh single-member server set up by
//! `common::auth::enable_auth` (which writes no key, so the first put is at
//! revision 2).

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::auth::{enable_auth, ALICE, ALICE_PASSWORD, ROOT_PASSWORD};
use common::{python, Node};
use serde_json::{json, Value};

/// How long one program may take (each call has 5 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` to its end, asserting success; its JSON lines and stderr.
async fn run(name: &str, mut command: tokio::process::Command) -> (Vec<Value>, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {RUN_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("wait for {name}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{name} failed ({}): {stderr}",
        output.status
    );
    let steps = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name} printed a non-JSON line ({e}): {line}"))
        })
        .collect();
    (steps, stderr)
}

both!(go_clientv3_logs_in, |target| async move {
    let node = Node::start(target, &[]).await;
    enable_auth(&mut node.client().await).await;
    let program = tokio::task::spawn_blocking(|| common::transcript::go_program("auth_check"))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let mut command = common::transcript::go_command(program, &node);
    command
        .arg(format!("-root-password={ROOT_PASSWORD}"))
        .arg(format!("-user={ALICE}"))
        .arg(format!("-password={ALICE_PASSWORD}"));
    let (steps, stderr) = run("auth_check", command).await;
    // clientv3 turns the statuses it knows into rpctypes errors: the text
    // is the server's message, the code the status's.
    let denied = json!({"code": "PermissionDenied", "error": "etcdserver: permission denied"});
    let failed = json!({
        "code": "InvalidArgument",
        "error": "etcdserver: authentication failed, invalid user ID or password",
    });
    let step = |name: &str, ok: bool, mut fields: Value| {
        fields["step"] = name.into();
        fields["ok"] = ok.into();
        fields
    };
    assert_eq!(
        steps,
        [
            step("root_put", true, json!({"revision": 2})),
            step("root_get", true, json!({"values": ["from go"]})),
            step("root_put_outside", true, json!({"revision": 3})),
            step("user_connect", true, json!({})),
            step("user_get", true, json!({"values": ["from go"]})),
            step("user_put", true, json!({"revision": 4})),
            step("user_put_denied", false, denied.clone()),
            step("user_get_denied", false, denied),
            step("wrong_password_connect", false, failed),
        ],
        "auth_check's stderr: {stderr}"
    );
});

both!(python_etcd3_logs_in, |target| async move {
    let node = Node::start(target, &[]).await;
    enable_auth(&mut node.client().await).await;
    let python = python::venv_python_async().await;
    let mut command = python::script_command(python, "etcd3_auth_check.py");
    command
        .arg(format!("--endpoint={}", node.endpoint()))
        .arg(format!("--root-password={ROOT_PASSWORD}"))
        .arg(format!("--user={ALICE}"))
        .arg(format!("--password={ALICE_PASSWORD}"));
    let (steps, stderr) = run("etcd3_auth_check.py", command).await;
    // etcd3 hands statuses other than a few to the caller as grpc's own
    // error.
    let rpc_error = |code: &str, details: &str| json!({"class": "_InactiveRpcError", "code": code, "details": details});
    let denied = rpc_error("PERMISSION_DENIED", "etcdserver: permission denied");
    let step = |name: &str, ok: bool, mut fields: Value| {
        fields["step"] = name.into();
        fields["ok"] = ok.into();
        fields
    };
    assert_eq!(
        steps,
        [
            step("root_connect_call_credentials", true, json!({})),
            // grpcio refuses the library's call credentials on a plain
            // channel by itself; nothing reaches the server.
            step(
                "root_get_call_credentials",
                false,
                rpc_error(
                    "UNAUTHENTICATED",
                    "Established channel does not have a sufficient security level \
                     to transfer call credential."
                )
            ),
            step("root_connect", true, json!({})),
            step("root_put", true, json!({"revision": 2})),
            step("root_get", true, json!({"value": "from python"})),
            step("root_put_outside", true, json!({"revision": 3})),
            step("user_connect", true, json!({})),
            step("user_get", true, json!({"value": "from python"})),
            step("user_put", true, json!({"revision": 4})),
            step("user_put_denied", false, denied.clone()),
            step("user_get_denied", false, denied),
            step(
                "wrong_password_connect",
                false,
                rpc_error(
                    "INVALID_ARGUMENT",
                    "etcdserver: authentication failed, invalid user ID or password"
                )
            ),
        ],
        "etcd3_auth_check.py's stderr: {stderr}"
    );
});
