//! etcd 3.6's flag spellings on the real binary: kubeadm's command line
//! (`--feature-gates=InitialCorruptCheck=true
//! --watch-progress-notify-interval=5s`) starts a serving member, a gate
//! etcd-rs does not implement is named in a warning, and bad gates or a
//! setting given under both its names are refused as etcd 3.6 refuses them.
//! etcd-rs only: neither etcd here (3.4.23, 3.5.1) knows these flags; every
//! name and message is also covered by `crates/server/tests/config_etcd36.rs`.

use crate::common;

use common::{etcdctl_ok, Node, NodeOptions, Target};
use serde_json::Value;

/// The log's JSON lines whose `msg` is `msg`.
fn lines_with(log: &str, msg: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|json| json["msg"] == msg)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeadm_flags_start_a_serving_member_etcd_rs() {
    let node = Node::start(
        Target::EtcdRs,
        &[
            "--feature-gates=InitialCorruptCheck=true",
            "--watch-progress-notify-interval=5s",
            "--log-format=json",
        ],
    )
    .await;
    assert_eq!(etcdctl_ok(&node, &["put", "k", "v"]).await, "OK\n");
    assert_eq!(etcdctl_ok(&node, &["get", "k"]).await, "k\nv\n");
    let log = node.log();
    let warnings = lines_with(
        &log,
        "feature gate is not yet supported by etcd-rs; ignoring",
    );
    assert_eq!(warnings.len(), 1, "{log}");
    assert_eq!(warnings[0]["feature-gate"], "InitialCorruptCheck");
    assert_eq!(warnings[0]["level"], "warn");
    let start = lines_with(&log, "starting an etcd server");
    assert_eq!(
        start[0]["feature-gates"], "InitialCorruptCheck=true",
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_gate_is_a_flag_error_etcd_rs() {
    let failed = Node::start_failing(
        Target::EtcdRs,
        NodeOptions::new().args(&["--feature-gates=NoSuchGate=true"]),
    )
    .await;
    // Go's flag package: the message and the usage on stderr, exit 2.
    assert_eq!(failed.status.code(), Some(2), "{}", failed.log);
    assert!(
        failed.log.contains(
            "invalid value \"NoSuchGate=true\" for flag -feature-gates: unrecognized feature gate: NoSuchGate"
        ),
        "{}",
        failed.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_names_of_a_setting_are_refused_etcd_rs() {
    let failed = Node::start_failing(
        Target::EtcdRs,
        NodeOptions::new().args(&[
            "--experimental-compaction-batch-limit=100",
            "--compaction-batch-limit=200",
        ]),
    )
    .await;
    assert_eq!(failed.status.code(), Some(1), "{}", failed.log);
    let refused = lines_with(&failed.log, "failed to verify flags");
    assert_eq!(refused.len(), 1, "{}", failed.log);
    assert_eq!(
        refused[0]["error"],
        "cannot set --experimental-compaction-batch-limit and --compaction-batch-limit at the same time, please use --compaction-batch-limit only"
    );
}
