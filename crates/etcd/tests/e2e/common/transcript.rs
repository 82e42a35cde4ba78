//! Transcript checks shared by the client-compatibility tests
//! (`go_clientv3.rs`, `go_coordination.rs`, `python_etcd3.rs`): a client
//! program runs one fixed script against a server and prints one JSON line
//! per step; the transcript of a fresh reference etcd, made once per test
//! process, is the expectation, and each target's transcript must match it
//! step by step after normalisation.
//!
//! This module owns running the program, parsing its lines, stripping the
//! header ids, the step diff and the failure message. It does not know how a
//! program is built or launched, which values a client's script normalises
//! or which facts the reference must show: each test file supplies those
//! through [`Script`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::OnceCell;

use super::{HeaderIds, Node, Target};

/// What a Go check needs, for its failure message.
pub const GO_INSTALL_HINT: &str =
    "the Go toolchain and Debian's etcd Go sources are needed: run the \
     project's test command (`bash .ci/run`), which installs them, or \
     `apt-get install -y golang-go golang-etcd-server-dev`";

/// Builds the Go program `tests/go/<name>/` offline (from Debian's etcd
/// sources, with `tests/go/build.sh`) into the test target dir.
pub fn build_go_program(name: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/build.sh");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go").join(name);
    super::run_setup_script(
        &format!("building the Go program {name}"),
        &script,
        &[out.as_os_str(), std::ffi::OsStr::new(name)],
        GO_INSTALL_HINT,
    )?;
    Ok(out)
}

/// The Go program `tests/go/<name>/`, built once per test process: every
/// test waits for the same build and sees the same failure if it failed.
pub fn go_program(name: &'static str) -> &'static Path {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Built = &'static OnceLock<Result<PathBuf, String>>;
    static PROGRAMS: Mutex<Option<HashMap<&'static str, Built>>> = Mutex::new(None);
    let cell: Built = {
        let mut programs = PROGRAMS.lock().unwrap_or_else(|p| p.into_inner());
        programs
            .get_or_insert_with(HashMap::new)
            .entry(name)
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
    };
    match cell.get_or_init(|| build_go_program(name)) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// The command a Go check program runs with: its one flag names the node.
pub fn go_command(program: &Path, node: &Node) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.arg(format!("-endpoint={}", node.endpoint()));
    command
}

/// How many differing steps a failure message shows in full.
const MAX_REPORTED_DIFFS: usize = 12;
/// How much of one differing step a failure message shows (a 129-op txn is
/// long).
const MAX_STEP_CHARS: usize = 800;

/// One client program and what its test file knows about it.
pub trait Script: 'static {
    /// The program's name in failure messages (`clientv3_check`).
    const NAME: &'static str;
    /// The client in the failure headline (`Go clientv3`).
    const CLIENT: &'static str;
    /// How long one run may take.
    const RUN_TIMEOUT: Duration;

    /// The executable, made ready once per process (it may block to build
    /// or install it, and panics with the install hint if that failed).
    fn program() -> &'static Path;
    /// The command that runs the script with `program` against `node`;
    /// stdio and kill-on-drop are set by [`run`].
    fn command(program: &Path, node: &Node) -> tokio::process::Command;
    /// Turns a raw transcript into the comparable one, reporting every value
    /// that is not as a server must report it.
    fn normalise(t: &Transcript, node: &Node, problems: &mut Vec<String>) -> Vec<Value>;
    /// Facts checked on a raw reference transcript, so the script is known
    /// to exercise them.
    fn spot_check_reference(t: &Transcript);
    /// Where the normalised reference transcript is kept (one static per
    /// test file).
    fn reference_cell() -> &'static OnceCell<Vec<Value>>;
}

/// What one run of a client program printed.
pub struct Transcript {
    name: &'static str,
    /// One JSON object per step, in script order.
    pub steps: Vec<Value>,
    pub status: ExitStatus,
    pub stderr: String,
}

impl Transcript {
    pub fn step(&self, name: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name} in the transcript"))
    }

    /// The exit status and the program's stderr, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "{} exited with {}; its stderr:\n{}",
            self.name, self.status, self.stderr
        )
    }
}

/// Runs `S`'s program against `node`.
pub async fn run<S: Script>(node: &Node) -> Transcript {
    let name = S::NAME;
    let timeout = S::RUN_TIMEOUT;
    let program = tokio::task::spawn_blocking(S::program)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let child = S::command(program, node)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("wait for {name}: {e:?}"));
    let stdout =
        String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("{name} prints UTF-8: {e:?}"));
    let steps = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name} printed a non-JSON line ({e}): {line}"))
        })
        .collect();
    Transcript {
        name,
        steps,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Whether a successful step must carry a top-level header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    /// Every step with `"ok": true` has one (the KV scripts).
    OnEverySuccess,
    /// Only the headers present are checked (a Lock, a session or a watch's
    /// collected events have none).
    WherePresent,
}

/// Removes cluster_id, member_id and raft_term from every top-level header,
/// requiring them non-zero and the same in every step, and returns the ids
/// seen. A local variant of `common::IdsSeen` that names the offending step
/// and reports instead of panicking, so the step diff is still shown.
pub fn strip_header_ids(
    steps: &[Value],
    headers: Headers,
    problems: &mut Vec<String>,
) -> (Vec<Value>, Option<HeaderIds>) {
    let mut seen: Option<(String, HeaderIds)> = None;
    let mut stripped = Vec::with_capacity(steps.len());
    for step in steps {
        let mut step = step.clone();
        let name = step["step"].as_str().unwrap_or("?").to_string();
        if headers == Headers::OnEverySuccess && step["ok"] == true && !step["header"].is_object() {
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
    (stripped, seen.map(|(_, ids)| ids))
}

/// Lists the steps whose JSON differs, position by position.
pub fn diff_steps(expected: &[Value], actual: &[Value], problems: &mut Vec<String>) {
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

/// A step's JSON, cut to a readable length.
fn shorten(step: &Value) -> String {
    let text = step.to_string();
    match text.char_indices().nth(MAX_STEP_CHARS) {
        Some((cut, _)) => format!("{}... ({} chars)", &text[..cut], text.len()),
        None => text,
    }
}

/// The normalised reference transcript, made once per process from a fresh
/// reference etcd.
pub async fn reference_transcript<S: Script>() -> &'static [Value] {
    S::reference_cell()
        .get_or_init(|| async {
            let node = Node::start(Target::Reference, &[]).await;
            let transcript = run::<S>(&node).await;
            assert!(
                transcript.status.success(),
                "{} failed against the reference etcd\n{}",
                S::NAME,
                transcript.context()
            );
            let mut problems = Vec::new();
            let steps = S::normalise(&transcript, &node, &mut problems);
            assert!(
                problems.is_empty(),
                "reference transcript: {}",
                problems.join("\n")
            );
            steps
        })
        .await
}

/// The whole check for one target: its normalised transcript must equal the
/// reference's, and the reference run also passes the spot checks.
pub async fn check<S: Script>(target: Target) {
    let expected = reference_transcript::<S>().await;
    let node = Node::start(target, &[]).await;
    let transcript = run::<S>(&node).await;
    if target == Target::Reference {
        S::spot_check_reference(&transcript);
    }

    let mut problems = Vec::new();
    let actual = S::normalise(&transcript, &node, &mut problems);
    diff_steps(expected, &actual, &mut problems);
    if !transcript.status.success() {
        problems.push(format!("{} exited with {}", S::NAME, transcript.status));
    }
    if !problems.is_empty() {
        let mut message = format!(
            "the {} transcript of {target:?} differs from etcd's:\n",
            S::CLIENT
        );
        for problem in &problems {
            let _ = writeln!(message, "- {problem}");
        }
        let _ = write!(message, "{}", transcript.context());
        panic!("{message}");
    }
}
