//! Cluster-level etcdctl commands on a single node: `endpoint status`,
//! `endpoint health` and `member list`. Raft indexes and ids legitimately
//! differ between servers, so they are checked for shape and consistency
//! (non-zero, leader == member id, stable across calls) rather than value.

use crate::common;

use common::{etcdctl, etcdctl_json, etcdctl_ok, IdsSeen, Node};
use serde_json::{json, Value};

/// `endpoint status -w json` for the node, as its single Status object.
async fn status(node: &Node, ids: &mut IdsSeen) -> Value {
    let out = etcdctl_json(node, &["endpoint", "status"]).await;
    let list = out.as_array().expect("endpoint status prints an array");
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(list[0]["Endpoint"], json!(node.client_url()), "{out}");
    let mut status = list[0]["Status"].clone();
    ids.strip(&mut status);
    status
}

fn u64_field(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing or not a number in {value}"))
}

both!(endpoint_status_json, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut ids = IdsSeen::default();
    let before = status(&node, &mut ids).await;
    let member_id = ids.get().member_id;

    assert_eq!(before["header"], json!({"revision": 1}), "{before}");
    let version = before["version"].as_str().expect("version string");
    let parts: Vec<&str> = version.split('.').collect();
    assert!(
        parts.len() == 3 && parts[0] == "3" && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "version {version:?} is not 3.x.y"
    );
    assert_eq!(u64_field(&before, "leader"), member_id, "{before}");
    assert_eq!(
        u64_field(&before, "raftTerm"),
        ids.get().raft_term,
        "{before}"
    );
    let db_size = u64_field(&before, "dbSize");
    assert!(db_size > 0, "{before}");
    assert!(u64_field(&before, "dbSizeInUse") <= db_size, "{before}");
    let raft_index = u64_field(&before, "raftIndex");
    let applied = u64_field(&before, "raftAppliedIndex");
    assert!(
        raft_index > 0 && applied > 0 && applied <= raft_index,
        "{before}"
    );
    assert!(before.get("errors").is_none(), "{before}");
    assert!(before.get("isLearner").is_none(), "{before}");

    // A write goes through raft: the log grows, the revision follows.
    etcdctl_ok(&node, &["put", "k", "v"]).await;
    let after = status(&node, &mut ids).await;
    assert_eq!(after["header"], json!({"revision": 2}), "{after}");
    assert!(
        u64_field(&after, "raftIndex") > raft_index,
        "{before} -> {after}"
    );
    assert!(
        u64_field(&after, "raftAppliedIndex") > applied,
        "{before} -> {after}"
    );
    assert_eq!(u64_field(&after, "leader"), member_id);
});

both!(endpoint_health, |target| async move {
    let node = Node::start(target, &[]).await;
    let out = etcdctl(&node, &["endpoint", "health"]).await;
    common::assert_output_ok(&["endpoint", "health"], &out);
    // etcdctl 3.4 prints the health line on stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!(
        "{} is healthy: successfully committed proposal: took = ",
        node.client_url()
    );
    assert!(text.contains(&expected), "{text}");

    let out = etcdctl_json(&node, &["endpoint", "health"]).await;
    let list = out.as_array().expect("array");
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(list[0]["endpoint"], json!(node.client_url()), "{out}");
    assert_eq!(list[0]["health"], json!(true), "{out}");
    assert!(list[0]["took"].is_string(), "{out}");
    assert!(list[0].get("error").is_none(), "{out}");
    // The health check reads a key; it must not write.
    let out = etcdctl_json(&node, &["get", "health"]).await;
    assert_eq!(out["header"]["revision"], json!(1), "{out}");
});

both!(member_list, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut ids = IdsSeen::default();
    let mut out = etcdctl_json(&node, &["member", "list"]).await;
    ids.strip(&mut out);
    let member_id = ids.get().member_id;
    assert_eq!(
        out,
        json!({
            "header": {},
            "members": [{
                "ID": member_id,
                "name": node.name(),
                "peerURLs": [node.peer_url()],
                "clientURLs": [node.client_url()],
            }]
        })
    );
    // The same ids as the KV responses and the status.
    let mut get = etcdctl_json(&node, &["get", "x"]).await;
    ids.strip(&mut get);
    let status = etcdctl_json(&node, &["endpoint", "status"]).await;
    assert_eq!(status[0]["Status"]["leader"], json!(member_id));

    // The simple format: hex id, started, name, peer URLs, client URLs, learner.
    let text = etcdctl_ok(&node, &["member", "list"]).await;
    assert_eq!(
        text,
        format!(
            "{member_id:x}, started, {}, {}, {}, false\n",
            node.name(),
            node.peer_url(),
            node.client_url()
        )
    );
});
