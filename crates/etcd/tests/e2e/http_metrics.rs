//! Prometheus `/metrics` on the client port (and on `--listen-metrics-urls`),
//! scraped with curl before and after a known workload: each metric an
//! operator's dashboards use must exist with etcd's type and labels and move
//! as etcd's moves. The whole page must also parse with a real text-format
//! parser, Python's `prometheus_client` (pinned in
//! `tests/python/requirements.txt`, run by `tests/python/metrics_check.py`).
//!
//! Names: etcd-rs exports etcd 3.5's names; the reference is 3.4.23. Where
//! they differ, [`NAMES`] says which is which (every entry was read from a
//! scrape of 3.4.23 and of the 3.5.1 release, and from 3.4's `metrics.go`):
//! - 3.4 exports the mvcc counters twice, as `etcd_mvcc_{put,range,txn,
//!   delete}_total` and as `etcd_debugging_mvcc_*_total`; 3.5 keeps the
//!   first (and `etcd_debugging_mvcc_range_total`). Both versions keep the
//!   gauges `etcd_debugging_mvcc_keys_total`, `..._watcher_total` and
//!   `..._slow_watcher_total` under the debugging prefix.
//! - `etcd_server_id{server_id}` exists in 3.4.23 already.
//! - labelled vectors appear once a label set was used:
//!   `etcd_server_learner_promote_failures{Reason}` after a failed promote,
//!   the peer metrics (`To`/`From` a member id in hex) with peers.
//! - label values: `server_version` (3.4.23 / ours 3.5.0), `cluster_version`
//!   (3.4 / 3.5).
//!
//! gRPC metrics follow go-grpc-prometheus: `grpc_server_handled_total` is
//! pre-filled with 0 for every method and code, and the type label of a
//! Watch is `bidi_stream`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use crate::common;

use common::cluster::Cluster;
use common::http::{self, Answer};
use common::{eventually, python, Node, NodeOptions, Target};
use etcd_client::{Compare, CompareOp, GetOptions, MemberAddOptions, Txn, TxnOp};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// A metric's type and the name each version gives it.
struct Name {
    /// etcd 3.4.23's name (the reference's).
    v34: &'static str,
    /// etcd 3.5's name (ours).
    v35: &'static str,
    kind: &'static str,
    /// Its labels, sorted (`le` of histograms left out).
    labels: &'static [&'static str],
}

const fn same(name: &'static str, kind: &'static str, labels: &'static [&'static str]) -> Name {
    Name {
        v34: name,
        v35: name,
        kind,
        labels,
    }
}

const GRPC_LABELS: &[&str] = &["grpc_method", "grpc_service", "grpc_type"];
const GRPC_HANDLED_LABELS: &[&str] = &["grpc_code", "grpc_method", "grpc_service", "grpc_type"];

/// Every metric this file checks on a single member, by name and version.
const NAMES: &[Name] = &[
    same("etcd_server_has_leader", "gauge", &[]),
    same("etcd_server_is_leader", "gauge", &[]),
    same("etcd_server_leader_changes_seen_total", "counter", &[]),
    same("etcd_server_proposals_committed_total", "gauge", &[]),
    same("etcd_server_proposals_applied_total", "gauge", &[]),
    same("etcd_server_proposals_pending", "gauge", &[]),
    same("etcd_server_proposals_failed_total", "counter", &[]),
    same("etcd_server_heartbeat_send_failures_total", "counter", &[]),
    same("etcd_server_slow_apply_total", "counter", &[]),
    same("etcd_server_slow_read_indexes_total", "counter", &[]),
    same("etcd_server_quota_backend_bytes", "gauge", &[]),
    same("etcd_server_version", "gauge", &["server_version"]),
    same("etcd_server_id", "gauge", &["server_id"]),
    same("etcd_server_learner_promote_successes", "counter", &[]),
    same("etcd_disk_wal_fsync_duration_seconds", "histogram", &[]),
    same(
        "etcd_disk_backend_commit_duration_seconds",
        "histogram",
        &[],
    ),
    same(
        "etcd_disk_backend_snapshot_duration_seconds",
        "histogram",
        &[],
    ),
    same(
        "etcd_disk_backend_defrag_duration_seconds",
        "histogram",
        &[],
    ),
    same("etcd_snap_db_fsync_duration_seconds", "histogram", &[]),
    same("etcd_mvcc_db_total_size_in_bytes", "gauge", &[]),
    same("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge", &[]),
    same("etcd_mvcc_put_total", "counter", &[]),
    same("etcd_mvcc_delete_total", "counter", &[]),
    same("etcd_mvcc_range_total", "counter", &[]),
    same("etcd_mvcc_txn_total", "counter", &[]),
    same("etcd_debugging_mvcc_keys_total", "gauge", &[]),
    same("etcd_debugging_mvcc_watcher_total", "gauge", &[]),
    same("etcd_debugging_mvcc_slow_watcher_total", "gauge", &[]),
    same("etcd_network_client_grpc_sent_bytes_total", "counter", &[]),
    same(
        "etcd_network_client_grpc_received_bytes_total",
        "counter",
        &[],
    ),
    same("etcd_cluster_version", "gauge", &["cluster_version"]),
    same("grpc_server_started_total", "counter", GRPC_LABELS),
    same("grpc_server_handled_total", "counter", GRPC_HANDLED_LABELS),
    same("grpc_server_msg_received_total", "counter", GRPC_LABELS),
    same("grpc_server_msg_sent_total", "counter", GRPC_LABELS),
    same("process_cpu_seconds_total", "counter", &[]),
    same("process_resident_memory_bytes", "gauge", &[]),
    same("process_open_fds", "gauge", &[]),
    same("process_start_time_seconds", "gauge", &[]),
    // 3.5 dropped the debugging copy of the put counter; 3.4 has both.
    Name {
        v34: "etcd_debugging_mvcc_put_total",
        v35: "etcd_mvcc_put_total",
        kind: "counter",
        labels: &[],
    },
];

/// The name `target` exports for `name`.
fn name_of(target: Target, name: &Name) -> &'static str {
    match target {
        Target::Reference => name.v34,
        Target::EtcdRs => name.v35,
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scraped page: the `# TYPE` of each family and every sample.
#[derive(Debug)]
struct Page {
    text: String,
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Page {
    fn parse(text: &str) -> Page {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_string(), kind.to_string());
            } else if !line.starts_with('#') && !line.is_empty() {
                samples.push(parse_sample(line));
            }
        }
        Page {
            text: text.to_string(),
            types,
            samples,
        }
    }

    /// The samples called `name` whose labels include `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The one sample `name{labels}`; panics if there is none or several.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert_eq!(found.len(), 1, "samples {name}{labels:?}: {found:?}");
        found[0].value
    }

    /// The sum of the samples `name{labels...}` (0 when there is none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }
}

/// `name{k="v",...} value` (no timestamps: etcd prints none).
fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => panic!("a sample without value: {line:?}"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            if c == ',' {
                continue;
            }
            let eq = body[i..].find('=').expect("label=") + i;
            let key = body[i..eq].to_string();
            while chars.peek().is_some_and(|(j, _)| *j <= eq) {
                chars.next();
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => panic!("{line}"),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.insert(key, value);
        }
        let end = end.unwrap_or_else(|| panic!("unclosed labels: {line}"));
        rest = &body[end + 1..];
    }
    let value = rest.trim();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|e| panic!("value {v:?} of {line:?}: {e}")),
    };
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

/// GETs `url/metrics`, asserting etcd's text exposition answer.
async fn scrape_url(url: &str) -> Page {
    let answer = http::curl(&format!("{url}/metrics"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Page::parse(&answer.body)
}

async fn scrape(node: &Node) -> Page {
    scrape_url(&node.client_url()).await
}

/// Runs `prometheus_client`'s parser on the page; the families it saw, by
/// name: (type, sample names).
async fn parse_with_prometheus_client(page: &Page) -> BTreeMap<String, (String, Vec<String>)> {
    let python = python::venv_python_async().await;
    let mut child = python::script_command(python, "metrics_check.py")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run metrics_check.py");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(page.text.as_bytes())
        .await
        .expect("write the page");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("metrics_check.py finished in 60 s")
        .expect("wait for metrics_check.py");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the page: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Value = serde_json::from_slice(&out.stdout).expect("JSON from metrics_check.py");
    families
        .as_object()
        .expect("an object")
        .iter()
        .map(|(name, f)| {
            let kind = f["type"].as_str().expect("a type").to_string();
            let samples = f["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|s| s.as_str().expect("a name").to_string())
                .collect();
            (name.clone(), (kind, samples))
        })
        .collect()
}

/// Asserts each of [`NAMES`] is on the page with its type and labels, and
/// that `prometheus_client` read it the same way.
fn assert_names(target: Target, page: &Page, parsed: &BTreeMap<String, (String, Vec<String>)>) {
    for entry in NAMES {
        let name = name_of(target, entry);
        assert_eq!(
            page.types.get(name).map(String::as_str),
            Some(entry.kind),
            "# TYPE of {name}"
        );
        let sample_name = match entry.kind {
            "histogram" => format!("{name}_count"),
            _ => name.to_string(),
        };
        let samples: Vec<&Sample> = page.matching(&sample_name, &[]).collect();
        assert!(!samples.is_empty(), "no sample of {sample_name}");
        for sample in samples {
            let keys: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
            assert_eq!(keys, entry.labels, "labels of {sample_name}");
        }
        // prometheus_client names a counter family without `_total` and
        // its sample with it, added where the name lacks it.
        let (family, sample_name) = match entry.kind {
            "counter" => {
                let family = name.strip_suffix("_total").unwrap_or(name);
                (family, format!("{family}_total"))
            }
            _ => (name, sample_name),
        };
        let (kind, names) = parsed
            .get(family)
            .unwrap_or_else(|| panic!("prometheus_client saw no family {family}"));
        assert_eq!(kind, entry.kind, "prometheus_client's type of {family}");
        assert!(names.contains(&sample_name), "{family}: {names:?}");
    }
}

/// The version labels each target reports.
fn versions(target: Target) -> (&'static str, &'static str) {
    match target {
        Target::Reference => ("3.4.23", "3.4"),
        Target::EtcdRs => ("3.5.0", "3.5"),
    }
}

const PUTS: usize = 5;
const RANGES: usize = 3;

both!(single_member_workload, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let id = client
        .status()
        .await
        .expect("status")
        .header()
        .expect("a header")
        .member_id();
    let before = scrape(&node).await;
    let (server_version, cluster_version) = versions(target);
    assert_eq!(before.value("etcd_server_has_leader", &[]), 1.0);
    assert_eq!(before.value("etcd_server_is_leader", &[]), 1.0);
    assert_eq!(
        before.value("etcd_server_leader_changes_seen_total", &[]),
        1.0
    );
    let hex = format!("{id:x}");
    assert_eq!(before.value("etcd_server_id", &[("server_id", &hex)]), 1.0);
    let version = [("server_version", server_version)];
    assert_eq!(before.value("etcd_server_version", &version), 1.0);
    let cluster = [("cluster_version", cluster_version)];
    assert_eq!(
        eventually(Duration::from_secs(10), "the cluster version", || async {
            let page = scrape(&node).await;
            (page.sum("etcd_cluster_version", &cluster) == 1.0).then_some(1.0)
        })
        .await,
        1.0
    );
    assert_eq!(
        before.value("etcd_server_quota_backend_bytes", &[]),
        2_147_483_648.0
    );
    assert_eq!(before.value("etcd_debugging_mvcc_keys_total", &[]), 0.0);
    assert_eq!(before.value("etcd_debugging_mvcc_watcher_total", &[]), 0.0);

    // The workload.
    for i in 0..PUTS {
        client.put(format!("k{i}"), "v", None).await.expect("put");
    }
    for _ in 0..RANGES {
        client.get("k0", None).await.expect("range");
    }
    for _ in 0..2 {
        let txn = Txn::new()
            .when([Compare::version("k0", CompareOp::Greater, 0)])
            .and_then([TxnOp::put("k1", "t", None), TxnOp::put("k2", "t", None)]);
        assert!(client.txn(txn).await.expect("txn").succeeded());
    }
    client.delete("k4", None).await.expect("delete");
    // A read of a compacted revision fails with OutOfRange.
    client.compact(3, None).await.expect("compact");
    let old = client
        .get("k0", Some(GetOptions::new().with_revision(2)))
        .await;
    assert!(old.is_err(), "a compacted revision was read");
    let mut stream = client.watch("k0", None).await.expect("watch");
    let created = stream
        .message()
        .await
        .expect("watch answers")
        .expect("created");
    assert!(created.created());
    let mut snapshot = client.snapshot().await.expect("snapshot");
    while snapshot.message().await.expect("snapshot chunk").is_some() {}
    client.defragment().await.expect("defragment");

    let after = eventually(
        Duration::from_secs(10),
        "the watcher and the backend commits show",
        || async {
            let page = scrape(&node).await;
            let watching = page.value("etcd_debugging_mvcc_watcher_total", &[]) == 1.0;
            let committed = page.value("etcd_disk_backend_commit_duration_seconds_count", &[])
                > before.value("etcd_disk_backend_commit_duration_seconds_count", &[]);
            (watching && committed).then_some(page)
        },
    )
    .await;
    let parsed = parse_with_prometheus_client(&after).await;
    assert_names(target, &after, &parsed);

    let delta =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    // etcd counts at the mvcc layer (mvcc/metrics_txn.go): each put, a
    // txn's too; a txn when one mvcc transaction does more than one thing
    // (the txn's two puts; its compare is read in a transaction of its
    // own, one range); a range even when it fails on a compacted revision;
    // and a compaction ranges once for its header revision.
    assert_eq!(delta("etcd_mvcc_put_total", &[]), (PUTS + 4) as f64);
    assert_eq!(delta("etcd_mvcc_txn_total", &[]), 2.0);
    assert_eq!(
        delta("etcd_mvcc_range_total", &[]),
        (RANGES + 2 + 1 + 1) as f64
    );
    assert_eq!(delta("etcd_mvcc_delete_total", &[]), 1.0);
    if target == Target::Reference {
        assert_eq!(
            delta("etcd_debugging_mvcc_put_total", &[]),
            (PUTS + 4) as f64
        );
    }
    assert_eq!(
        after.value("etcd_debugging_mvcc_keys_total", &[]),
        (PUTS - 1) as f64
    );
    assert_eq!(
        after.value("etcd_debugging_mvcc_slow_watcher_total", &[]),
        0.0
    );
    assert_eq!(after.value("etcd_server_proposals_pending", &[]), 0.0);
    assert_eq!(after.value("etcd_server_proposals_failed_total", &[]), 0.0);
    let committed = delta("etcd_server_proposals_committed_total", &[]);
    // The puts, txns, the delete and the compaction went through raft.
    assert!(committed >= (PUTS + 4) as f64, "committed {committed}");
    assert!(
        after.value("etcd_server_proposals_applied_total", &[])
            <= after.value("etcd_server_proposals_committed_total", &[])
    );
    assert_eq!(
        after.value("etcd_server_heartbeat_send_failures_total", &[]),
        0.0
    );
    assert_eq!(after.value("etcd_server_slow_read_indexes_total", &[]), 0.0);
    assert_eq!(after.value("etcd_server_has_leader", &[]), 1.0);
    assert_eq!(
        after.value("etcd_server_leader_changes_seen_total", &[]),
        1.0
    );

    for name in [
        "etcd_disk_wal_fsync_duration_seconds_count",
        "etcd_disk_backend_commit_duration_seconds_count",
    ] {
        assert!(delta(name, &[]) > 0.0, "{name} did not move");
    }
    let snapshots = delta("etcd_disk_backend_snapshot_duration_seconds_count", &[]);
    assert_eq!(snapshots, 1.0);
    let defrags = delta("etcd_disk_backend_defrag_duration_seconds_count", &[]);
    assert_eq!(defrags, 1.0);
    let size = after.value("etcd_mvcc_db_total_size_in_bytes", &[]);
    let in_use = after.value("etcd_mvcc_db_total_size_in_use_in_bytes", &[]);
    assert!(
        size > 0.0 && in_use > 0.0 && in_use <= size,
        "{in_use} of {size}"
    );

    // go-grpc-prometheus: one start, one OK per unary call.
    let kv = |method: &'static str| {
        [
            ("grpc_service", "etcdserverpb.KV"),
            ("grpc_method", method),
            ("grpc_type", "unary"),
        ]
    };
    for (method, calls) in [
        ("Put", PUTS),
        ("Txn", 2),
        ("DeleteRange", 1),
        ("Compact", 1),
    ] {
        let labels = kv(method);
        assert_eq!(
            delta("grpc_server_started_total", &labels),
            calls as f64,
            "{method}"
        );
        let mut ok = labels.to_vec();
        ok.push(("grpc_code", "OK"));
        assert_eq!(
            delta("grpc_server_handled_total", &ok),
            calls as f64,
            "{method}"
        );
        assert_eq!(
            delta("grpc_server_msg_received_total", &labels),
            calls as f64
        );
        assert_eq!(delta("grpc_server_msg_sent_total", &labels), calls as f64);
    }
    let mut out_of_range = kv("Range").to_vec();
    out_of_range.push(("grpc_code", "OutOfRange"));
    assert_eq!(delta("grpc_server_handled_total", &out_of_range), 1.0);
    let mut range_ok = kv("Range").to_vec();
    range_ok.push(("grpc_code", "OK"));
    assert_eq!(delta("grpc_server_handled_total", &range_ok), RANGES as f64);
    // Every code of every method is there from the start, at 0.
    let unused = [
        ("grpc_service", "etcdserverpb.Lease"),
        ("grpc_method", "LeaseGrant"),
        ("grpc_type", "unary"),
        ("grpc_code", "Unavailable"),
    ];
    assert_eq!(before.value("grpc_server_handled_total", &unused), 0.0);
    let watch = [
        ("grpc_service", "etcdserverpb.Watch"),
        ("grpc_method", "Watch"),
        ("grpc_type", "bidi_stream"),
    ];
    assert_eq!(delta("grpc_server_started_total", &watch), 1.0);
    assert_eq!(delta("grpc_server_msg_received_total", &watch), 1.0);
    let snapshot = [
        ("grpc_service", "etcdserverpb.Maintenance"),
        ("grpc_method", "Snapshot"),
        ("grpc_type", "server_stream"),
    ];
    assert_eq!(delta("grpc_server_started_total", &snapshot), 1.0);
    for name in [
        "etcd_network_client_grpc_received_bytes_total",
        "etcd_network_client_grpc_sent_bytes_total",
    ] {
        assert!(delta(name, &[]) > 0.0, "{name} did not move");
    }

    assert!(after.value("process_cpu_seconds_total", &[]) > 0.0);
    assert!(after.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(after.value("process_open_fds", &[]) > 3.0);
    let started = after.value("process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64();
    assert!(
        started <= now && started > now - 600.0,
        "started {started}, now {now}"
    );

    // A failed promotion is counted by its reason.
    let peer = format!("http://127.0.0.1:{}", common::free_port());
    let added = client
        .member_add([peer], Some(MemberAddOptions::new().with_is_learner()))
        .await
        .expect("add a learner");
    let learner = added.member().expect("the member").id();
    assert!(client.member_promote(learner).await.is_err());
    let page = scrape(&node).await;
    let reason = [(
        "Reason",
        "etcdserver: can only promote a learner member which is in sync with leader",
    )];
    assert_eq!(
        page.value("etcd_server_learner_promote_failures", &reason),
        1.0
    );
    assert_eq!(
        page.types
            .get("etcd_server_learner_promote_failures")
            .map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        page.value("etcd_server_learner_promote_successes", &[]),
        0.0
    );
});

both!(leader_change_in_a_cluster, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let ids: Vec<String> = (0..3)
        .map(|i| format!("{:x}", cluster.member_id(i)))
        .collect();
    // Every member sends to and probes (round trip) each peer; the leader
    // hears from each follower, a follower from the leader (followers need
    // not talk to each other after the election). 3.4 also counts bytes
    // `From="0"`, from peers not identified yet: not asserted.
    for i in 0..3 {
        let page = eventually(Duration::from_secs(20), "peer traffic shows", || async {
            let page = scrape(cluster.member(i)).await;
            let all = (0..3).filter(|j| *j != i).all(|j| {
                let to = [("To", ids[j].as_str())];
                let from = [("From", ids[j].as_str())];
                let talks = i == leader || j == leader;
                // Every member probes each peer (etcd's rafthttp prober,
                // every 4 s), so it sends to and times every peer.
                page.sum("etcd_network_peer_sent_bytes_total", &to) > 0.0
                    && (!talks || page.sum("etcd_network_peer_received_bytes_total", &from) > 0.0)
                    && page.sum("etcd_network_peer_round_trip_time_seconds_count", &to) > 0.0
            });
            all.then_some(page)
        })
        .await;
        for (name, kind, label) in [
            ("etcd_network_peer_sent_bytes_total", "counter", "To"),
            ("etcd_network_peer_received_bytes_total", "counter", "From"),
            (
                "etcd_network_peer_round_trip_time_seconds",
                "histogram",
                "To",
            ),
        ] {
            assert_eq!(
                page.types.get(name).map(String::as_str),
                Some(kind),
                "{name}"
            );
            let sample = match kind {
                "histogram" => format!("{name}_count"),
                _ => name.to_string(),
            };
            for s in page.matching(&sample, &[]) {
                let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
                assert_eq!(keys, [label], "{sample}");
            }
        }
        assert_eq!(page.value("etcd_server_has_leader", &[]), 1.0);
        let is_leader = if i == leader { 1.0 } else { 0.0 };
        assert_eq!(
            page.value("etcd_server_is_leader", &[]),
            is_leader,
            "member {i}"
        );
        let changes = page.value("etcd_server_leader_changes_seen_total", &[]);
        assert_eq!(changes, 1.0, "member {i}");
    }

    cluster.member_mut(leader).kill9();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = cluster
        .wait_leader_among(&survivors, Duration::from_secs(20))
        .await;
    for &i in &survivors {
        let page = eventually(Duration::from_secs(10), "the new leader shows", || async {
            let page = scrape(cluster.member(i)).await;
            let is_leader = if i == new_leader { 1.0 } else { 0.0 };
            (page.value("etcd_server_has_leader", &[]) == 1.0
                && page.value("etcd_server_is_leader", &[]) == is_leader)
                .then_some(page)
        })
        .await;
        let changes = page.value("etcd_server_leader_changes_seen_total", &[]);
        assert_eq!(changes, 2.0, "member {i}");
    }
});

/// GET on the metrics listener.
async fn get(url: &str) -> Answer {
    http::curl(url, &[]).await
}

both!(metrics_listener, |target| async move {
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let options = NodeOptions::new().args(&[format!("--listen-metrics-urls={url}")]);
    let node = Node::start_with(target, options).await;
    let page = eventually(
        Duration::from_secs(10),
        "the metrics listener serves",
        || async {
            let probe = tokio::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", &format!("{url}/metrics")])
                .output()
                .await
                .ok()?;
            if !probe.status.success() {
                return None;
            }
            Some(scrape_url(&url).await)
        },
    )
    .await;
    assert_eq!(page.value("etcd_server_has_leader", &[]), 1.0);
    let health = get(&format!("{url}/health")).await;
    let healthy = match target {
        Target::Reference => r#"{"health":"true"}"#,
        Target::EtcdRs => r#"{"health":"true","reason":""}"#,
    };
    assert_eq!(health.pair(), (200, healthy));
    // Only metrics and health there: no gateway, no version.
    let gateway = http::post(&format!("{url}/v3/kv/range"), "{}", &[]).await;
    assert_eq!(gateway.pair(), (404, "404 page not found\n"));
    // The client port keeps serving /metrics too.
    assert_eq!(
        scrape(&node).await.value("etcd_server_has_leader", &[]),
        1.0
    );
});

/// How big each value of the slow-watcher test is: the watcher's events
/// must outgrow the HTTP/2 windows and etcd's 128-response watch buffer.
const SLOW_VALUE: usize = 64 * 1024;

both!(slow_watcher, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    // A watcher that reads nothing: its responses pile up until etcd moves
    // it to the victims, counted as slow.
    let mut stream = client.watch("slow", None).await.expect("watch");
    let created = stream
        .message()
        .await
        .expect("watch answers")
        .expect("created");
    assert!(created.created());
    let value = vec![b'x'; SLOW_VALUE];
    let mut puts = 0;
    eventually(
        Duration::from_secs(60),
        "the watcher is counted as slow",
        || {
            let mut client = client.clone();
            let value = value.clone();
            puts += 50;
            let node = &node;
            async move {
                for _ in 0..50 {
                    client.put("slow", value.clone(), None).await.expect("put");
                }
                let page = scrape(node).await;
                (page.value("etcd_debugging_mvcc_slow_watcher_total", &[]) >= 1.0).then_some(())
            }
        },
    )
    .await;
    assert!(puts <= 2000, "{puts} puts");
    // Read up: the watcher catches up and is no longer slow.
    let mut seen = 0;
    let total = puts;
    while seen < total {
        let response = stream.message().await.expect("watch").expect("events");
        seen += response.events().len();
    }
    eventually(Duration::from_secs(20), "the watcher caught up", || async {
        let page = scrape(&node).await;
        (page.value("etcd_debugging_mvcc_slow_watcher_total", &[]) == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        scrape(&node)
            .await
            .value("etcd_debugging_mvcc_watcher_total", &[]),
        1.0
    );
});
