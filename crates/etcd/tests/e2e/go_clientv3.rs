//! Compatibility with etcd's own Go client: `tests/go/clientv3_check` (a Go
//! program built offline against Debian's etcd 3.4.23 `clientv3` sources by
//! `tests/go/build.sh`) runs one fixed script of puts, gets with every range
//! option, deletes, txns, compactions and argument errors, printing one JSON
//! line per step with everything the Go client saw.
//!
//! The transcript of a fresh reference etcd is the expectation. Each variant
//! runs the program against a fresh server of its target and must produce the
//! same transcript, step by step, except the header's cluster_id, member_id
//! and raft_term: those are checked to be non-zero and identical across all
//! steps of one run instead. (Headers nested in txn responses are compared
//! exactly: etcd leaves their ids zero.) The reference variant thus proves the
//! script is deterministic and spot-checks the facts issue 2 names.
//!
//! This file does not skip: a missing Go toolchain or missing Debian sources
//! fail the test with the install hint.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::transcript::{self, Headers, Script, Transcript};
use common::Node;
use serde_json::Value;
use tokio::sync::OnceCell;

/// The Go clientv3 check; only the header ids are normalised.
struct ClientV3Check;

impl Script for ClientV3Check {
    const NAME: &'static str = "clientv3_check";
    const CLIENT: &'static str = "Go clientv3";
    /// It stops by itself after the first call that times out, each call
    /// having 5 s.
    const RUN_TIMEOUT: Duration = Duration::from_secs(60);

    fn program() -> &'static Path {
        transcript::go_program(Self::NAME)
    }

    fn command(program: &Path, node: &Node) -> tokio::process::Command {
        transcript::go_command(program, node)
    }

    fn normalise(t: &Transcript, _: &Node, problems: &mut Vec<String>) -> Vec<Value> {
        transcript::strip_header_ids(&t.steps, Headers::OnEverySuccess, problems).0
    }

    fn spot_check_reference(t: &Transcript) {
        spot_check_reference(t);
    }

    fn reference_cell() -> &'static OnceCell<Vec<Value>> {
        static REFERENCE: OnceCell<Vec<Value>> = OnceCell::const_new();
        &REFERENCE
    }
}

/// Facts issue 2 states about etcd, checked on a raw reference transcript so
/// the script is known to exercise them.
fn spot_check_reference(t: &Transcript) {
    let put1 = t.step("put_user1");
    assert_eq!(put1["header"]["revision"], 2, "{put1}");
    assert_eq!(put1["prev_kv"], Value::Null, "{put1}");
    let put2 = t.step("put_user1_prev_kv");
    assert_eq!(put2["header"]["revision"], 3, "{put2}");
    assert_eq!(put2["prev_kv"]["value"], "zhangsan", "{put2}");
    assert_eq!(put2["prev_kv"]["mod_revision"], 2, "{put2}");
    let prefix = t.step("get_prefix");
    assert_eq!(prefix["count"], 3, "{prefix}");
    assert_eq!(t.step("txn_value_equal_then")["succeeded"], true);
    assert_eq!(t.step("txn_value_equal_else")["succeeded"], false);
    for (name, code, message) in [
        (
            "get_compacted_rev",
            "OutOfRange",
            "etcdserver: mvcc: required revision has been compacted",
        ),
        (
            "compact_future",
            "OutOfRange",
            "etcdserver: mvcc: required revision is a future revision",
        ),
        (
            "put_empty_key",
            "InvalidArgument",
            "etcdserver: key is not provided",
        ),
        (
            "put_over_max_request_bytes",
            "InvalidArgument",
            "etcdserver: request is too large",
        ),
    ] {
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
    let compact = t.step("compact");
    assert_eq!(compact["ok"], true, "{compact}");
}

both!(kv_txn_compact_script, transcript::check::<ClientV3Check>);
