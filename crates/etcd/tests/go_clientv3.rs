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

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{HeaderIds, Node};
use serde_json::Value;
use tokio::sync::OnceCell;

/// How long one run of the Go program may take (it stops by itself after the
/// first call that times out, each call having 5 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How many differing steps a failure message shows in full.
const MAX_REPORTED_DIFFS: usize = 12;
/// How much of one differing step a failure message shows.
const MAX_STEP_CHARS: usize = 800;
const INSTALL_HINT: &str = "the Go toolchain and Debian's etcd Go sources are needed: run the \
     project's test command (`bash .ci/run`), which installs them, or \
     `apt-get install -y golang-go golang-etcd-server-dev`";

/// Builds the Go program once per test process; every test waits for the
/// same build and sees the same failure if it failed.
fn program() -> &'static Path {
    static PROGRAM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PROGRAM.get_or_init(build_program) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn build_program() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/build.sh");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("go-clientv3")
        .join("clientv3_check");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "building the Go clientv3 check with {} failed ({}):\n{}{}\n{INSTALL_HINT}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
    Ok(out)
}

/// What one run of the Go program printed.
struct Transcript {
    /// One JSON object per step, in script order.
    steps: Vec<Value>,
    status: ExitStatus,
    stderr: String,
}

impl Transcript {
    fn step(&self, name: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name} in the transcript"))
    }

    /// The exit status and the program's stderr, for failure messages.
    fn context(&self) -> String {
        format!(
            "clientv3_check exited with {}; its stderr:\n{}",
            self.status, self.stderr
        )
    }
}

/// Runs the Go program against `node`.
async fn run_check(node: &Node) -> Transcript {
    let program = tokio::task::spawn_blocking(program)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let child = tokio::process::Command::new(program)
        .arg(format!("-endpoint={}", node.endpoint()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("clientv3_check did not finish within {RUN_TIMEOUT:?}"))
        .expect("wait for clientv3_check");
    let stdout = String::from_utf8(output.stdout).expect("clientv3_check prints UTF-8");
    let steps = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("clientv3_check printed a non-JSON line ({e}): {line}"))
        })
        .collect();
    Transcript {
        steps,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Removes cluster_id, member_id and raft_term from every top-level header,
/// requiring them non-zero and the same in every step. A local variant of
/// `common::IdsSeen` that names the offending step and reports instead of
/// panicking, so the step diff is still shown.
fn strip_header_ids(steps: &[Value], problems: &mut Vec<String>) -> Vec<Value> {
    let mut seen: Option<(String, HeaderIds)> = None;
    let mut stripped = Vec::with_capacity(steps.len());
    for step in steps {
        let mut step = step.clone();
        let name = step["step"].as_str().unwrap_or("?").to_string();
        if step["ok"] == true && !step["header"].is_object() {
            problems.push(format!("step {name} succeeded without a header"));
        }
        if let Some(header) = step.get_mut("header").and_then(Value::as_object_mut) {
            let mut take = |field: &str| {
                let value = header.remove(field).and_then(|v| v.as_u64()).unwrap_or(0);
                if value == 0 {
                    problems.push(format!("step {name}: header {field} is missing or zero"));
                }
                value
            };
            let ids = HeaderIds {
                cluster_id: take("cluster_id"),
                member_id: take("member_id"),
                raft_term: take("raft_term"),
            };
            match &seen {
                None => seen = Some((name.clone(), ids)),
                Some((first, first_ids)) if *first_ids != ids => problems.push(format!(
                    "step {name}: header ids {ids:?} differ from step {first}'s {first_ids:?}"
                )),
                Some(_) => {}
            }
        }
        stripped.push(step);
    }
    stripped
}

/// Lists the steps whose JSON differs, position by position.
fn diff_steps(expected: &[Value], actual: &[Value], problems: &mut Vec<String>) {
    if expected.len() != actual.len() {
        problems.push(format!(
            "the reference printed {} steps, this server {}",
            expected.len(),
            actual.len()
        ));
    }
    let mut reported = 0;
    let mut unreported = 0;
    for (i, (want, got)) in expected.iter().zip(actual).enumerate() {
        if want == got {
            continue;
        }
        if reported == MAX_REPORTED_DIFFS {
            unreported += 1;
            continue;
        }
        reported += 1;
        problems.push(format!(
            "step {i} ({}) differs:\n  reference: {}\n  this one:  {}",
            want["step"].as_str().unwrap_or("?"),
            shorten(want),
            shorten(got),
        ));
    }
    if unreported > 0 {
        problems.push(format!("... and {unreported} more differing steps"));
    }
}

/// A step's JSON, cut to a readable length (a 129-op txn is long).
fn shorten(step: &Value) -> String {
    let text = step.to_string();
    match text.char_indices().nth(MAX_STEP_CHARS) {
        Some((cut, _)) => format!("{}... ({} chars)", &text[..cut], text.len()),
        None => text,
    }
}

/// The reference transcript with header ids stripped, made once per process
/// from a fresh reference etcd.
async fn reference_transcript() -> &'static [Value] {
    static REFERENCE: OnceCell<Vec<Value>> = OnceCell::const_new();
    REFERENCE
        .get_or_init(|| async {
            let node = Node::start(common::Target::Reference, &[]).await;
            let transcript = run_check(&node).await;
            assert!(
                transcript.status.success(),
                "clientv3_check failed against the reference etcd\n{}",
                transcript.context()
            );
            let mut problems = Vec::new();
            let steps = strip_header_ids(&transcript.steps, &mut problems);
            assert!(
                problems.is_empty(),
                "reference transcript: {}",
                problems.join("\n")
            );
            steps
        })
        .await
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

both!(kv_txn_compact_script, |target| async move {
    let expected = reference_transcript().await;
    let node = Node::start(target, &[]).await;
    let transcript = run_check(&node).await;
    if target == common::Target::Reference {
        spot_check_reference(&transcript);
    }

    let mut problems = Vec::new();
    let actual = strip_header_ids(&transcript.steps, &mut problems);
    diff_steps(expected, &actual, &mut problems);
    if !transcript.status.success() {
        problems.push(format!("clientv3_check exited with {}", transcript.status));
    }
    if !problems.is_empty() {
        let mut message =
            format!("the Go clientv3 transcript of {target:?} differs from etcd's:\n");
        for problem in &problems {
            let _ = writeln!(message, "- {problem}");
        }
        let _ = write!(message, "{}", transcript.context());
        panic!("{message}");
    }
});
