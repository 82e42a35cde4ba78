//! Compatibility with the Python client users reach for, PyPI's `etcd3`
//! 0.12.0: `tests/python/etcd3_check.py` runs one fixed script of puts, gets
//! (key, prefix, range, all, sorted), deletes, transactions, `replace()`,
//! compactions, `status()` and `members`, printing one JSON line per step
//! with what the library handed back, exceptions included (class, gRPC code
//! and details).
//!
//! The client lives in a venv made once per test process by
//! `tests/python/setup.sh` under `target/tmp/python-etcd3/` from the exact
//! pins of `tests/python/requirements.txt`; setup.sh keeps a venv made from
//! the same requirements, so only the first run (or a changed pin) installs.
//! The venv helper lives in `common::python`, shared with `tls_clients.rs`
//! (the same client over TLS).
//!
//! The transcript of a fresh reference etcd is the expectation. Each variant
//! runs the script against a fresh server of its target and must print the
//! same transcript, step by step, after normalising what legitimately
//! differs between two servers:
//! - the top-level header's cluster_id, member_id and raft_term, checked to
//!   be non-zero and identical in every step (headers nested in txn
//!   responses are compared exactly: etcd leaves their ids zero);
//! - the client and peer URLs (ports are ephemeral);
//! - in `status()`: `version` (3.4.23 for the reference, our
//!   `etcd_server::VERSION`, 3.5.0, for ours: we implement the 3.5 API),
//!   `db_size` and `raft_index` (storage and log layouts differ; both must be
//!   positive), `raft_term` and the leader's id (checked against the
//!   headers' raft_term and member_id);
//! - the member ids in `members` (checked against the headers' member_id).
//!
//! This file does not skip: a missing python3, venv module or unreachable
//! PyPI fails the test with the install hint.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::python;
use common::transcript::{self, Headers, Script, Transcript};
use common::{Node, Target};
use serde_json::Value;
use tokio::sync::OnceCell;

/// What the reference etcd reports as its version.
const REFERENCE_VERSION: &str = "3.4.23";

/// The etcd3 script: header ids, URLs and the `status()`/`members` fields
/// of the module doc are normalised.
struct Etcd3Check;

impl Script for Etcd3Check {
    const NAME: &'static str = "etcd3_check.py";
    const CLIENT: &'static str = "Python etcd3";
    /// It stops by itself after the first call the server does not answer,
    /// each call having 5 s.
    const RUN_TIMEOUT: Duration = Duration::from_secs(60);

    fn program() -> &'static Path {
        python::venv_python()
    }

    fn command(python: &Path, node: &Node) -> tokio::process::Command {
        let mut command = python::script_command(python, "etcd3_check.py");
        command.arg(format!("--endpoint={}", node.endpoint()));
        command
    }

    fn normalise(t: &Transcript, node: &Node, problems: &mut Vec<String>) -> Vec<Value> {
        normalize(t, node, problems)
    }

    fn spot_check_reference(t: &Transcript) {
        spot_check_reference(t);
    }

    fn reference_cell() -> &'static OnceCell<Vec<Value>> {
        static REFERENCE: OnceCell<Vec<Value>> = OnceCell::const_new();
        &REFERENCE
    }
}

/// Turns a raw transcript into the comparable one (see the module doc),
/// reporting every value that is not as a server must report it.
fn normalize(t: &Transcript, node: &Node, problems: &mut Vec<String>) -> Vec<Value> {
    let (mut steps, ids) = transcript::strip_header_ids(&t.steps, Headers::WherePresent, problems);
    let Some(ids) = ids else {
        problems.push("no step carried a response header".to_string());
        return steps;
    };
    let urls = [
        (node.client_url(), "<client-url>"),
        (node.peer_url(), "<peer-url>"),
    ];
    let version = Want::Equal(
        expected_version(node.target()).into(),
        "the server's version",
    );
    let member_id = Want::Equal(ids.member_id.into(), "the headers' member_id");
    let raft_term = Want::Equal(ids.raft_term.into(), "the headers' raft_term");
    for step in &mut steps {
        replace_strings(step, &urls);
        if step["ok"] != true {
            continue;
        }
        // The fields (JSON pointers) that legitimately differ, and what each
        // must be.
        let mut fields = Vec::new();
        match step["step"].as_str() {
            Some("status") => {
                fields.push(("/version".to_string(), &version));
                fields.push(("/db_size".to_string(), &Want::Positive));
                fields.push(("/raft_index".to_string(), &Want::Positive));
                fields.push(("/raft_term".to_string(), &raft_term));
                fields.push(("/leader/id".to_string(), &member_id));
            }
            Some("members") => {
                let count = step["members"].as_array().map_or(0, Vec::len);
                for i in 0..count {
                    fields.push((format!("/members/{i}/id"), &member_id));
                }
            }
            _ => {}
        }
        let name = step["step"].as_str().unwrap_or("?").to_string();
        for (pointer, want) in fields {
            match step.pointer_mut(&pointer) {
                Some(field) => {
                    if !want.holds(field) {
                        problems.push(format!(
                            "step {name}: {pointer} is {field}, not {}",
                            want.expectation()
                        ));
                    }
                    *field = Value::from(format!("<{}>", want.describe()));
                }
                None => problems.push(format!("step {name}: {pointer} is missing")),
            }
        }
    }
    steps
}

/// What a field that differs between servers must be.
enum Want {
    /// Exactly this value, described for messages and the mask.
    Equal(Value, &'static str),
    /// A number above zero.
    Positive,
}

impl Want {
    fn holds(&self, value: &Value) -> bool {
        match self {
            Want::Equal(want, _) => value == want,
            Want::Positive => value.as_u64().is_some_and(|v| v > 0),
        }
    }

    /// The requirement for a failure message.
    fn expectation(&self) -> String {
        match self {
            Want::Equal(want, what) => format!("{what} {want}"),
            Want::Positive => "positive".to_string(),
        }
    }

    /// The mask's name.
    fn describe(&self) -> &'static str {
        match self {
            Want::Equal(_, what) => what,
            Want::Positive => "positive",
        }
    }
}

/// The `status()` version each server reports: they differ by design, the
/// reference being etcd 3.4.23 and ours reporting the 3.5 API it implements.
fn expected_version(target: Target) -> &'static str {
    match target {
        Target::Reference => REFERENCE_VERSION,
        Target::EtcdRs => etcd_server::VERSION,
    }
}

/// Replaces, anywhere in `value`, each string equal to a pattern's text.
fn replace_strings(value: &mut Value, patterns: &[(String, &str)]) {
    match value {
        Value::String(s) => {
            if let Some((_, marker)) = patterns.iter().find(|(text, _)| text == s) {
                *s = (*marker).to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, patterns)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, patterns)),
        _ => {}
    }
}

/// Facts about etcd and this library, checked on a raw reference transcript
/// so the script is known to exercise them.
fn spot_check_reference(t: &Transcript) {
    let put = t.step("put_a");
    assert_eq!(put["header"]["revision"], 2, "{put}");
    assert_eq!(put["prev_kv"], Value::Null, "{put}");
    let put = t.step("put_a_prev_kv");
    assert_eq!(put["prev_kv"]["value"], "apple", "{put}");
    let get = t.step("get_a");
    assert_eq!(
        (&get["value"], &get["metadata"]["version"]),
        (&Value::from("apricot"), &Value::from(2)),
        "{get}"
    );
    assert_eq!(t.step("get_prefix")["count"], 4);
    // etcd3 drops `revision` from its range reads: today's value comes back.
    let dropped = t.step("get_range_revision_dropped");
    assert_eq!(dropped["kvs"][0]["value"], "apricot", "{dropped}");
    assert_eq!(t.step("delete_b")["result"], true);
    assert_eq!(t.step("delete_b_again")["result"], false);
    assert_eq!(t.step("txn_value_and_version_success")["succeeded"], true);
    assert_eq!(t.step("txn_value_failure")["succeeded"], false);
    assert_eq!(t.step("replace_match")["result"], true);
    assert_eq!(t.step("replace_mismatch")["result"], false);
    assert_eq!(t.step("compact")["ok"], true);
    // Only a few gRPC codes become etcd3 exceptions; the rest reach the
    // caller as grpc's own error.
    for (name, code, details) in [
        (
            "get_compacted_rev_raw",
            "OUT_OF_RANGE",
            "etcdserver: mvcc: required revision has been compacted",
        ),
        (
            "compact_future",
            "OUT_OF_RANGE",
            "etcdserver: mvcc: required revision is a future revision",
        ),
        (
            "txn_error_duplicate_key",
            "INVALID_ARGUMENT",
            "etcdserver: duplicate key given in txn request",
        ),
        (
            "put_empty_key",
            "INVALID_ARGUMENT",
            "etcdserver: key is not provided",
        ),
        (
            "put_over_max_request_bytes",
            "INVALID_ARGUMENT",
            "etcdserver: request is too large",
        ),
    ] {
        let step = t.step(name);
        assert_eq!(
            (
                &step["ok"],
                &step["is_grpc_error"],
                &step["code"],
                &step["details"]
            ),
            (
                &Value::Bool(false),
                &Value::Bool(true),
                &Value::from(code),
                &Value::from(details)
            ),
            "{step}"
        );
    }
    let status = t.step("status");
    assert_eq!(status["version"], REFERENCE_VERSION, "{status}");
    assert_eq!(status["leader"]["name"], "node-1", "{status}");
}

both!(kv_txn_compact_script, transcript::check::<Etcd3Check>);
