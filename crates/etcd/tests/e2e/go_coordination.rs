//! Compatibility with etcd's own Go client for coordination:
//! `tests/go/coordination_check` (a Go program built offline against
//! Debian's etcd 3.4.23 `clientv3` and `clientv3/concurrency` sources by
//! `tests/go/build.sh`) runs one fixed script of watches (key, prefix, replay
//! from a past revision, prev_kv, put/delete filters, a compacted start
//! revision), leases (grant, attached keys, time-to-live, keep-alive once,
//! revoke seen by a watcher, list, errors, a short lease expiring),
//! `concurrency.Mutex` (hand-over on unlock and on session close, a waiter
//! giving up) and `concurrency.Election` (campaign, leader, proclaim,
//! observe, resign, a second candidate taking over), printing one JSON line
//! per step with what the Go client saw.
//!
//! The transcript of a fresh reference etcd is the expectation. Each variant
//! runs the program against a fresh server of its target and must produce the
//! same transcript, step by step, after two normalisations of values that
//! legitimately differ between servers and runs:
//! - the header's cluster_id, member_id and raft_term: checked non-zero and
//!   identical across all steps of one run instead, then removed;
//! - lease ids: each server picks its own (etcd derives them from the member
//!   id and a clock), so every id is replaced by its order of first appearance
//!   (`lease#0`, `lease#1`, ...), in `lease_id`/`lease` fields and in the
//!   `<prefix>/<lease id in hex>` keys of locks and elections. The Go program
//!   also checks that layout itself (`key_is_pfx_lease_hex`).
//!
//! Time-dependent values (a remaining TTL, the minimum TTL each server raises
//! a short lease to, how long an expiry took) are printed by the Go program
//! as the comparisons the script relies on, never raw.
//!
//! This file does not skip: a missing Go toolchain or missing Debian sources
//! fail the test with the install hint.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::transcript::{self, Headers, Script, Transcript};
use common::Node;
use serde_json::Value;
use tokio::sync::OnceCell;

/// The JSON fields that carry a lease id.
const LEASE_FIELDS: [&str; 2] = ["lease_id", "lease"];

/// The Go coordination check: header ids and lease ids are normalised.
struct CoordinationCheck;

impl Script for CoordinationCheck {
    const NAME: &'static str = "coordination_check";
    const CLIENT: &'static str = "Go coordination";
    /// About 6 s against the reference; it stops by itself after a step
    /// overruns its 10 s.
    const RUN_TIMEOUT: Duration = Duration::from_secs(120);

    fn program() -> &'static Path {
        transcript::go_program(Self::NAME)
    }

    fn command(program: &Path, node: &Node) -> tokio::process::Command {
        transcript::go_command(program, node)
    }

    /// Both normalisations of the module doc, in order. Unlike the KV
    /// script, many steps here have no header at all (a Lock, a session, a
    /// watch's collected events), so only the headers present are checked.
    fn normalise(t: &Transcript, _: &Node, problems: &mut Vec<String>) -> Vec<Value> {
        let (mut steps, _) =
            transcript::strip_header_ids(&t.steps, Headers::WherePresent, problems);
        normalise_leases(&mut steps);
        steps
    }

    fn spot_check_reference(t: &Transcript) {
        spot_check_reference(t);
    }

    fn reference_cell() -> &'static OnceCell<Vec<Value>> {
        static REFERENCE: OnceCell<Vec<Value>> = OnceCell::const_new();
        &REFERENCE
    }
}

/// Lease ids in order of first appearance, each with its placeholder.
#[derive(Default)]
struct LeaseNames {
    by_id: HashMap<i64, String>,
    /// The same placeholders keyed by the id in lowercase hex, the form
    /// lock and election keys carry.
    by_hex: HashMap<String, String>,
}

impl LeaseNames {
    fn collect(&mut self, value: &Value, field: Option<&str>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    self.collect(inner, Some(key));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.collect(item, field)),
            Value::Number(n) if field.is_some_and(|f| LEASE_FIELDS.contains(&f)) => {
                if let Some(id) = n.as_i64().filter(|id| *id != 0) {
                    let next = format!("lease#{}", self.by_id.len());
                    let name = self.by_id.entry(id).or_insert(next).clone();
                    self.by_hex.insert(format!("{id:x}"), name);
                }
            }
            _ => {}
        }
    }

    fn replace(&self, value: &mut Value, field: Option<&str>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    self.replace(inner, Some(key));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.replace(item, field)),
            Value::Number(n) if field.is_some_and(|f| LEASE_FIELDS.contains(&f)) => {
                if let Some(name) = n.as_i64().and_then(|id| self.by_id.get(&id)) {
                    *value = Value::from(name.as_str());
                }
            }
            Value::String(text) => {
                if let Some((prefix, last)) = text.rsplit_once('/') {
                    if let Some(name) = self.by_hex.get(last) {
                        *text = format!("{prefix}/{name}");
                    }
                }
            }
            _ => {}
        }
    }
}

/// Replaces every lease id by its order of first appearance in the
/// transcript (ids are the server's choice; see the module doc). Steps are
/// walked in script order and the JSON objects' keys in sorted order, so
/// the numbering depends only on the script.
fn normalise_leases(steps: &mut [Value]) {
    let mut names = LeaseNames::default();
    for step in steps.iter() {
        names.collect(step, None);
    }
    for step in steps.iter_mut() {
        names.replace(step, None);
    }
}

fn assert_error(t: &Transcript, name: &str, code: Option<&str>, message: &str) {
    let step = t.step(name);
    assert_eq!(
        (&step["ok"], &step["code"], &step["error"]),
        (
            &Value::Bool(false),
            &Value::from(code),
            &Value::from(message)
        ),
        "{step}"
    );
}

/// Facts issue 3 states about etcd, checked on a raw reference transcript so
/// the script is known to exercise them.
fn spot_check_reference(t: &Transcript) {
    let events = t.step("watch_key_events");
    assert_eq!(events["events"][0]["type"], "PUT", "{events}");
    assert_eq!(events["events"][1]["type"], "DELETE", "{events}");
    let replay = t.step("watch_rev_replay_all_prev_kv");
    assert_eq!(
        replay["events"].as_array().map(Vec::len),
        Some(7),
        "{replay}"
    );
    let compacted = t.step("watch_compacted_rev");
    let compact_rev = &t.step("watch_compact")["header"]["revision"];
    assert_eq!(&compacted["compact_revision"], compact_rev, "{compacted}");
    assert_eq!(compacted["canceled"], true, "{compacted}");
    assert_eq!(
        compacted["watch_err"]["error"], "etcdserver: mvcc: required revision has been compacted",
        "{compacted}"
    );

    // A revoke deletes every attached key in one revision, seen by watchers.
    let revoke_rev = &t.step("lease_revoke")["header"]["revision"];
    let deletes = t.step("lease_revoke_watch_events");
    for event in deletes["events"].as_array().expect("events") {
        assert_eq!(event["type"], "DELETE", "{deletes}");
        assert_eq!(&event["kv"]["mod_revision"], revoke_rev, "{deletes}");
    }
    assert_eq!(t.step("lease_time_to_live_revoked")["ttl"], -1);
    assert_eq!(t.step("lease_keep_alive_once")["ttl"], 5);
    assert_error(
        t,
        "lease_keep_alive_once_revoked",
        Some("NotFound"),
        "etcdserver: requested lease not found",
    );
    assert_error(
        t,
        "lease_grant_too_large",
        Some("OutOfRange"),
        "etcdserver: too large lease TTL",
    );
    assert_eq!(
        t.step("lease_short_expires")["key_gone_within_ttl_plus_2s"],
        true
    );
    assert_eq!(
        t.step("lease_short_watch_events")["events"][1]["type"],
        "DELETE"
    );

    for name in [
        "mutex_lock_1",
        "mutex_lock_2_acquired",
        "mutex_lock_2_acquired_after_close",
        "election_campaign_1",
        "election_campaign_2_elected",
    ] {
        assert_eq!(t.step(name)["key_is_pfx_lease_hex"], true, "{name}");
    }
    assert_error(
        t,
        "mutex_lock_2_short_context",
        None,
        "context deadline exceeded",
    );
    for name in ["mutex_lock_2_waits", "election_campaign_2_waits"] {
        assert_eq!(t.step(name)["still_blocked"], true, "{name}");
    }
    let observed = t.step("election_observe_proclaimed");
    assert_eq!(observed["kvs"][0]["value"], "v2", "{observed}");
    let second = t.step("election_leader_2");
    assert_eq!(second["kvs"][0]["value"], "v3", "{second}");
    assert_error(
        t,
        "election_leader_after_resign",
        None,
        "election: no leader",
    );
}

both!(
    watch_lease_lock_election_script,
    transcript::check::<CoordinationCheck>
);

/// The normalisation itself: ids numbered by first appearance, hex keys
/// rewritten, other numbers and strings untouched.
#[test]
fn lease_ids_are_numbered_by_first_appearance() {
    let mut steps = vec![
        serde_json::json!({"step": "a", "lease_id": 0x2a, "ttl": 42}),
        serde_json::json!({"step": "b", "lease_id": 7,
            "kvs": [{"key": "/lock/x/2a", "lease": 0x2a, "version": 7}, {"key": "/other/7", "lease": 0}]}),
    ];
    normalise_leases(&mut steps);
    assert_eq!(
        steps,
        vec![
            serde_json::json!({"step": "a", "lease_id": "lease#0", "ttl": 42}),
            serde_json::json!({"step": "b", "lease_id": "lease#1",
                "kvs": [{"key": "/lock/x/lease#0", "lease": "lease#0", "version": 7},
                        {"key": "/other/lease#1", "lease": 0}]}),
        ]
    );
}
