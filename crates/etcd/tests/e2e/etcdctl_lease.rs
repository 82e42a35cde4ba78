//! Leases driven through the real `etcdctl` (API v3): `lease grant`, `put
//! --lease`, `lease timetolive [--keys]`, `lease list`, `lease keep-alive
//! [--once]` and `lease revoke`, in text and `-w json`, including the error
//! outputs for leases that do not exist.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{b64, etcdctl, etcdctl_json, etcdctl_ok, Node, ETCDCTL};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The lease id (hex) of `lease grant`'s text output.
fn granted_id(stdout: &str, ttl: i64) -> String {
    let id = stdout
        .strip_prefix("lease ")
        .and_then(|rest| rest.strip_suffix(&format!(" granted with TTL({ttl}s)\n")))
        .unwrap_or_else(|| panic!("unexpected grant output {stdout:?}"));
    assert!(
        i64::from_str_radix(id, 16).is_ok_and(|id| id > 0),
        "lease id {id:?} is not positive hex"
    );
    id.to_string()
}

/// The remaining seconds in `lease timetolive`'s text output for `id`.
fn remaining(stdout: &str, id: &str, granted: i64, keys: &str) -> i64 {
    let prefix = format!("lease {id} granted with TTL({granted}s), remaining(");
    let suffix = format!("s){keys}\n");
    stdout
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(&suffix))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected timetolive output {stdout:?}"))
}

/// etcdctl prints lease responses' headers flat (`cluster_id`, `member_id`,
/// `revision`, `raft_term` beside the other fields). Removes the three ids
/// (non-zero, and equal across calls, checked against `seen`) so the rest
/// compares exactly.
fn strip_flat_ids(value: &mut Value, seen: &mut Option<[u64; 3]>) {
    let object = value.as_object_mut().expect("a JSON object");
    let mut ids = [0; 3];
    for (i, field) in ["cluster_id", "member_id", "raft_term"].iter().enumerate() {
        ids[i] = object
            .remove(*field)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("no numeric {field} in {object:?}"));
        assert_ne!(ids[i], 0, "{field} is zero");
    }
    match seen {
        None => *seen = Some(ids),
        Some(earlier) => assert_eq!(*earlier, ids, "header ids changed between calls"),
    }
}

async fn assert_fails(node: &Node, args: &[&str], code: i32, stderr_line: &str) {
    let output = etcdctl(node, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "etcdctl {args:?}: stderr {stderr}"
    );
    assert!(
        stderr.lines().any(|line| line == stderr_line),
        "etcdctl {args:?}: no line {stderr_line:?} in {stderr}"
    );
}

both!(lease_flow_text, |target| async move {
    let node = Node::start(target, &[]).await;
    let id = granted_id(&etcdctl_ok(&node, &["lease", "grant", "10"]).await, 10);
    let lease_flag = format!("--lease={id}");
    assert_eq!(
        etcdctl_ok(&node, &["put", &lease_flag, "k", "v"]).await,
        "OK\n"
    );
    let out = etcdctl_ok(&node, &["lease", "timetolive", "--keys", &id]).await;
    let left = remaining(&out, &id, 10, ", attached keys([k])");
    assert!((9..=10).contains(&left), "{out}");
    let out = etcdctl_ok(&node, &["lease", "timetolive", &id]).await;
    remaining(&out, &id, 10, "");
    assert_eq!(
        etcdctl_ok(&node, &["lease", "list"]).await,
        format!("found 1 leases\n{id}\n")
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "keep-alive", "--once", &id]).await,
        format!("lease {id} keepalived with TTL(10)\n")
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "revoke", &id]).await,
        format!("lease {id} revoked\n")
    );
    assert_eq!(etcdctl_ok(&node, &["get", "k"]).await, "");
    assert_eq!(
        etcdctl_ok(&node, &["lease", "timetolive", "--keys", &id]).await,
        format!("lease {id} already expired\n")
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "list"]).await,
        "found 0 leases\n"
    );
    assert_fails(
        &node,
        &["lease", "revoke", &id],
        1,
        "Error: failed to revoke lease (etcdserver: requested lease not found)",
    )
    .await;
    assert_fails(
        &node,
        &["lease", "keep-alive", "--once", &id],
        // etcdctl reports a keep-alive failure as a connection failure.
        2,
        "Error: etcdserver: requested lease not found",
    )
    .await;
    assert_fails(
        &node,
        &["put", &lease_flag, "k", "v"],
        1,
        "Error: etcdserver: requested lease not found",
    )
    .await;
});

both!(lease_flow_json, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut ids = None;
    let mut grant = etcdctl_json(&node, &["lease", "grant", "10"]).await;
    strip_flat_ids(&mut grant, &mut ids);
    let id = grant["ID"].as_i64().expect("numeric ID");
    assert!(id > 0);
    assert_eq!(
        grant,
        json!({"revision": 1, "ID": id, "TTL": 10, "Error": ""})
    );
    let hex = format!("{id:x}");
    etcdctl_ok(&node, &["put", &format!("--lease={hex}"), "k", "v"]).await;

    let mut ttl = etcdctl_json(&node, &["lease", "timetolive", "--keys", &hex]).await;
    strip_flat_ids(&mut ttl, &mut ids);
    let left = ttl["ttl"].as_i64().expect("numeric ttl");
    assert!((9..=10).contains(&left), "{ttl}");
    assert_eq!(
        ttl,
        json!({"revision": 2, "id": id, "ttl": left, "granted-ttl": 10,
               "keys": [b64("k")]})
    );

    let mut list = etcdctl_json(&node, &["lease", "list"]).await;
    strip_flat_ids(&mut list, &mut ids);
    assert_eq!(list, json!({"revision": 2, "leases": [{"id": id}]}));

    let mut kept = etcdctl_json(&node, &["lease", "keep-alive", "--once", &hex]).await;
    strip_flat_ids(&mut kept, &mut ids);
    assert_eq!(kept, json!({"revision": 2, "ID": id, "TTL": 10}));

    etcdctl_ok(&node, &["lease", "revoke", &hex]).await;
    let mut gone = etcdctl_json(&node, &["lease", "timetolive", &hex]).await;
    strip_flat_ids(&mut gone, &mut ids);
    assert_eq!(
        gone,
        json!({"revision": 3, "id": id, "ttl": -1, "granted-ttl": 0,
               "keys": Value::Null})
    );
});

both!(
    lease_keep_alive_holds_a_lease_until_stopped,
    |target| async move {
        let node = Node::start(target, &[]).await;
        // Above both servers' minimum TTL, so it is granted as asked.
        let ttl = 2;
        let id = granted_id(&etcdctl_ok(&node, &["lease", "grant", "2"]).await, ttl);
        etcdctl_ok(&node, &["put", &format!("--lease={id}"), "held", "v"]).await;

        let mut child = tokio::process::Command::new(ETCDCTL)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", node.client_url()))
            .args(["lease", "keep-alive", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcdctl lease keep-alive");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        // etcdctl renews every TTL/3; read its answers for twice the TTL.
        let start = Instant::now();
        let mut answers = 0;
        while start.elapsed() < Duration::from_secs(2 * ttl as u64) {
            let line = tokio::time::timeout(Duration::from_secs(ttl as u64), lines.next_line())
                .await
                .expect("a keep-alive answer within the TTL")
                .expect("read etcdctl output")
                .expect("etcdctl still running");
            assert_eq!(line, format!("lease {id} keepalived with TTL({ttl})"));
            answers += 1;
        }
        assert!(
            answers >= 3,
            "only {answers} keep-alives in {:?}",
            start.elapsed()
        );
        assert_eq!(etcdctl_ok(&node, &["get", "held"]).await, "held\nv\n");

        child.kill().await.expect("stop etcdctl");
        let stopped = Instant::now();
        loop {
            if etcdctl_ok(&node, &["get", "held"]).await.is_empty() {
                break;
            }
            assert!(
                stopped.elapsed() < Duration::from_secs(ttl as u64 + 2),
                "the lease outlived its keep-alives"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            etcdctl_ok(&node, &["lease", "timetolive", &id]).await,
            format!("lease {id} already expired\n")
        );
    }
);
