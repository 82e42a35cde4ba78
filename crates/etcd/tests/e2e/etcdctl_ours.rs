//! Our `etcdctl` (`CARGO_BIN_EXE_etcdctl`, the `etcd-ctl` crate) side by
//! side with the official etcdctl 3.5.1 ([`common::etcd351`]) on the same
//! node: every invocation runs both and asserts the same stdout, stderr and
//! exit code. Only what legitimately varies is masked: the `took = ...` of
//! `endpoint health`, the raft index and db size of `endpoint status`, the
//! version `etcdctl version` reports, and the Go client's own JSON log
//! lines (`{"level":...}` retry warnings), which ours does not print.
//!
//! A command that writes runs twice, each time after the same setup, so
//! both tools see the same store. Help and usage texts are not compared:
//! ours list only the flags it implements.

use std::path::{Path, PathBuf};

use crate::common;

use common::auth::{enable_auth, ALICE, ALICE_PASSWORD, ROOT_PASSWORD};
use common::certs::Certs;
use common::etcd351::etcdctl_351_async;
use common::{
    etcdctl_command_with, etcdctl_ok, etcdctl_run_command, free_port, ClientTls, Node, NodeOptions,
};

/// Our etcdctl, built by this package.
fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etcdctl"))
}

/// What a run showed a user: exit code, stdout, stderr (masked).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Masks what differs between runs or tools but is not behaviour.
fn mask(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("{\"level\":"))
        .map(|line| {
            let line = mask_after(line, "took = ", |c| c == '\n');
            let line = mask_after(&line, "\"took\":\"", |c| c == '"');
            let line = mask_status(&line);
            let line = line.replace("etcdctl version: 3.5.1", "etcdctl version: 3.5.0");
            line + "\n"
        })
        .collect()
}

/// Replaces what follows each `marker` up to `end` (or the line's end).
fn mask_after(line: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let stop = rest.find(&end).unwrap_or(rest.len());
        out.push('*');
        rest = &rest[stop..];
    }
    out.push_str(rest);
    out
}

/// An `endpoint status` line: `ep, id, version, size, leader, learner,
/// term, index, applied, errors`; size and indexes move on their own.
fn mask_status(line: &str) -> String {
    let fields: Vec<&str> = line.split(", ").collect();
    if fields.len() != 10 || !fields[0].contains("127.0.0.1") {
        return line.to_string();
    }
    let mut fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    for i in [3, 7, 8] {
        fields[i] = "*".to_string();
    }
    fields.join(", ")
}

async fn run(binary: &Path, endpoint: &str, args: &[&str], stdin: &str) -> Seen {
    run_with(etcdctl_command_with(binary, endpoint), None, args, stdin).await
}

/// Runs a prepared etcdctl command with `tls`'s flags (the harness adds
/// `--command-timeout=10s` first; a test's own comes later and wins).
async fn run_with(
    command: tokio::process::Command,
    tls: Option<&ClientTls>,
    args: &[&str],
    stdin: &str,
) -> Seen {
    let output = etcdctl_run_command(command, tls, args, stdin).await;
    Seen {
        code: output.status.code(),
        stdout: mask(&String::from_utf8_lossy(&output.stdout)),
        stderr: mask(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// The two tools against one endpoint: each method runs both, asserts
/// they agree and returns what they printed.
struct Pair {
    reference: PathBuf,
    endpoint: String,
}

impl Pair {
    async fn same(&self, args: &[&str]) -> Seen {
        self.same_in(args, "").await
    }

    async fn same_in(&self, args: &[&str], stdin: &str) -> Seen {
        let theirs = run(&self.reference, &self.endpoint, args, stdin).await;
        let mine = run(&ours(), &self.endpoint, args, stdin).await;
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?}: ours (left) vs etcdctl 3.5.1"
        );
        mine
    }

    /// For bad flags: the same errors and exit code; the usage each prints
    /// on stdout differs (ours lists only the flags it has).
    async fn same_errors(&self, args: &[&str]) -> Seen {
        let mut theirs = run(&self.reference, &self.endpoint, args, "").await;
        let mut mine = run(&ours(), &self.endpoint, args, "").await;
        assert!(mine.stdout.starts_with("NAME:\n"), "{mine:?}");
        (theirs.stdout, mine.stdout) = (String::new(), String::new());
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?}: ours (left) vs etcdctl 3.5.1"
        );
        mine
    }

    /// For commands that write: `setup` before each tool's run.
    async fn same_after<F, Fut>(&self, setup: F, args: &[&str]) -> Seen
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        setup().await;
        let theirs = run(&self.reference, &self.endpoint, args, "").await;
        setup().await;
        let mine = run(&ours(), &self.endpoint, args, "").await;
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?}: ours (left) vs etcdctl 3.5.1"
        );
        mine
    }
}

async fn pair(endpoint: String) -> Pair {
    Pair {
        reference: etcdctl_351_async().await.to_path_buf(),
        endpoint,
    }
}

both!(kv_commands_match_etcdctl_351, |target| async move {
    let node = Node::start(target, &[]).await;
    let tools = pair(node.client_url()).await;
    for (key, value) in [
        ("/users/a", "zs"),
        ("/users/b", "ls"),
        ("hello", "world"),
        ("z", "<&>"),
    ] {
        assert_eq!(etcdctl_ok(&node, &["put", key, value]).await, "OK\n");
    }

    // Reads of a store nothing else writes to: even the JSON headers agree.
    for args in [
        &["get", "hello"][..],
        &["get", "missing"],
        &["get", "/users/", "--prefix"],
        &["get", "", "--prefix", "--keys-only"],
        &["get", "/users/b", "--from-key"],
        &["get", "", "--from-key", "--limit=2"],
        &["get", "/", "--prefix", "--limit", "1"],
        &["get", "/users/a", "/users/b"],
        &["get", "", "--prefix", "--print-value-only"],
        &["get", "", "--prefix", "--sort-by=value", "--order=descend"],
        &["get", "", "--prefix", "--consistency=s"],
        &["get", "hello", "--rev=2"],
        &["get", "hello", "-w", "json"],
        &["get", "missing", "-w", "json"],
        &["get", "", "--prefix", "--limit=2", "-w", "json"],
        &["get", "", "--from-key", "--keys-only", "-wjson"],
        &["get", "z", "--write-out=json"],
        &["get", "--", "hello"],
        // etcdctl's argument errors.
        &["get"],
        &["get", "a", "b", "--prefix"],
        &["get", "a", "--prefix", "--from-key"],
        &["get", "a", "--count-only"],
        &["get", "a", "--print-value-only", "-w", "json"],
        &["get", "a", "--consistency=x"],
        &["get", "a", "--order=sideways"],
        &["get", "a", "-w", "yaml"],
        &["put"],
        &["put", "k", "v", "--lease=xyz"],
        &["del"],
        &["del", "a", "b", "c"],
        &["del", "a", "--prefix", "--from-key"],
        // A failed request: etcd's message, exit 1.
        &["put", "k", "v", "--lease=1234"],
    ] {
        tools.same(args).await;
    }

    let put = |key: &'static str, value: &'static str| {
        let node = &node;
        move || async move {
            etcdctl_ok(node, &["put", key, value]).await;
        }
    };
    let seen = tools.same_after(put("k", "v1"), &["put", "k", "v2"]).await;
    assert_eq!(seen.stdout, "OK\n");
    let seen = tools
        .same_after(put("k", "v1"), &["put", "k", "v2", "--prev-kv"])
        .await;
    assert_eq!(seen.stdout, "OK\nk\nv1\n");
    let seen = tools.same_in(&["put", "from-stdin"], "piped value").await;
    assert_eq!(seen.stdout, "OK\n");
    tools.same(&["get", "from-stdin"]).await;

    let two = || async {
        // After every other key, for `--from-key`.
        etcdctl_ok(&node, &["put", "~d/a", "1"]).await;
        etcdctl_ok(&node, &["put", "~d/b", "2"]).await;
    };
    let seen = tools.same_after(two, &["del", "~d/a"]).await;
    assert_eq!(seen.stdout, "1\n");
    let seen = tools
        .same_after(two, &["del", "~d/", "--prefix", "--prev-kv"])
        .await;
    assert_eq!(seen.stdout, "2\n~d/a\n1\n~d/b\n2\n");
    let seen = tools.same_after(two, &["del", "~d/b", "--from-key"]).await;
    assert_eq!(seen.stdout, "1\n");
    tools.same_after(two, &["del", "~d/a", "~d/b"]).await;
    let seen = tools.same(&["del", "nothing-here"]).await;
    assert_eq!(seen.stdout, "0\n");
});

both!(cluster_commands_match_etcdctl_351, |target| async move {
    let node = Node::start(target, &[]).await;
    let tools = pair(node.client_url()).await;
    let seen = tools.same(&["member", "list"]).await;
    assert!(seen.stdout.contains(", started, "), "{seen:?}");
    tools.same(&["member", "list", "-w", "json"]).await;
    tools.same(&["member", "list", "-w", "table"]).await;
    let seen = tools.same(&["get", "k", "-w", "table"]).await;
    assert_eq!(seen.stderr, "Error: table not supported as output format\n");
    let seen = tools.same(&["endpoint", "health"]).await;
    assert_eq!(
        seen.stdout,
        format!(
            "{} is healthy: successfully committed proposal: took = *\n",
            node.client_url()
        )
    );
    tools.same(&["endpoint", "health", "-w", "json"]).await;
    tools.same(&["endpoint", "health", "--cluster"]).await;
    tools.same(&["endpoint", "status"]).await;
    tools.same(&["version"]).await;
    // cobra's errors: unknown commands (with suggestions), bad flags.
    for args in [&["foo"][..], &["gte"]] {
        let seen = tools.same(args).await;
        assert_eq!(seen.code, Some(1), "{seen:?}");
    }
    for args in [
        &["endpoint", "health", "--nope"][..],
        &["get", "k", "--limit=many"],
        &["--dial-timeout=1", "get", "k"],
    ] {
        let seen = tools.same_errors(args).await;
        assert_eq!(seen.code, Some(1), "{seen:?}");
    }
});

both!(
    unreachable_endpoints_match_etcdctl_351,
    |target| async move {
        // Nothing listens on `dead`; the node answers beside it.
        let node = Node::start(target, &[]).await;
        let dead = format!("127.0.0.1:{}", free_port());
        let tools = pair(dead.clone()).await;
        let seen = tools
            .same(&["endpoint", "health", "--command-timeout=1s"])
            .await;
        assert_eq!(seen.code, Some(1));
        assert_eq!(
        seen.stderr,
        format!("{dead} is unhealthy: failed to commit proposal: context deadline exceeded\nError: unhealthy cluster\n")
    );
        tools
            .same(&["endpoint", "health", "--command-timeout=1s", "-w", "json"])
            .await;
        tools
            .same(&["endpoint", "status", "--command-timeout=1s"])
            .await;
        let seen = tools.same(&["get", "k", "--command-timeout=1s"]).await;
        assert_eq!(seen.stderr, "Error: context deadline exceeded\n");
        // One dead endpoint among live ones: requests go to the live one, the
        // health check names the dead one.
        let both_endpoints = format!("{dead},{}", node.client_url());
        let tools = pair(both_endpoints).await;
        tools.same(&["get", "k"]).await;
        let seen = tools
            .same(&["endpoint", "health", "--command-timeout=1s"])
            .await;
        assert_eq!(seen.code, Some(1));
    }
);

both!(tls_and_auth_match_etcdctl_351, |target| async move {
    // Client certificates over an https listener.
    let certs = Certs::new();
    let tls = certs.client_tls(&certs.client("root"));
    let options = NodeOptions::https(tls.clone())
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"]);
    let node = Node::start_with(target, options).await;
    let url = node.client_url();
    let reference = etcdctl_351_async().await;
    let both = |args: &'static [&'static str]| {
        let (url, tls) = (url.clone(), tls.clone());
        async move {
            let theirs =
                run_with(etcdctl_command_with(reference, &url), Some(&tls), args, "").await;
            let mine = run_with(etcdctl_command_with(&ours(), &url), Some(&tls), args, "").await;
            assert_eq!(
                mine, theirs,
                "etcdctl {args:?} over TLS: ours (left) vs etcdctl 3.5.1"
            );
            mine
        }
    };
    assert_eq!(both(&["put", "tls/k", "v"]).await.stdout, "OK\n");
    assert_eq!(both(&["get", "tls/k"]).await.stdout, "tls/k\nv\n");
    both(&["get", "tls/k", "-w", "json"]).await;
    both(&["member", "list"]).await;
    let seen = both(&["endpoint", "health"]).await;
    assert!(
        seen.stdout.starts_with(&format!("{url} is healthy")),
        "{seen:?}"
    );

    // `--user` against a store with auth on.
    let mut client = node.client().await;
    enable_auth(&mut client).await;
    let root = format!("--user=root:{ROOT_PASSWORD}");
    let alice = format!("--user={ALICE}:{ALICE_PASSWORD}");
    let wrong = format!("--user={ALICE}:not-the-password");
    let alice_split = [
        format!("--user={ALICE}"),
        format!("--password={ALICE_PASSWORD}"),
    ];
    let tools = Pair {
        reference: reference.to_path_buf(),
        endpoint: url.clone(),
    };
    for args in [
        vec![root.as_str(), "put", "/app/a", "1"],
        vec![alice.as_str(), "get", "/app/a"],
        vec![
            alice_split[0].as_str(),
            alice_split[1].as_str(),
            "get",
            "/app/a",
        ],
        vec![alice.as_str(), "get", "tls/k"],
        vec![alice.as_str(), "put", "/other", "x"],
        vec![wrong.as_str(), "get", "/app/a"],
        vec!["get", "/app/a"],
        vec![root.as_str(), "endpoint", "health"],
        vec![alice.as_str(), "endpoint", "health"],
        vec![root.as_str(), "member", "list"],
    ] {
        let theirs = run_with(etcdctl_command_with(reference, &url), Some(&tls), &args, "").await;
        let mine = run_with(etcdctl_command_with(&ours(), &url), Some(&tls), &args, "").await;
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?}: ours (left) vs etcdctl 3.5.1"
        );
    }
    drop(tools);
});

/// Environment variables a case sets.
type Vars<'a> = Vec<(&'a str, String)>;

both!(environment_matches_etcdctl_351, |target| async move {
    let node = Node::start(target, &[]).await;
    etcdctl_ok(&node, &["put", "env/k", "v"]).await;
    let reference = etcdctl_351_async().await;
    // The endpoints, output format and timeouts from ETCDCTL_* variables;
    // a variable that a flag also sets is refused.
    let command = |binary: &Path, vars: &[(&str, String)]| {
        let mut command = tokio::process::Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCDCTL_") {
                command.env_remove(name);
            }
        }
        command.env("ETCDCTL_API", "3");
        for (name, value) in vars {
            command.env(name, value);
        }
        command
    };
    let url = node.client_url();
    let cases: Vec<(Vars, Vec<&str>)> = vec![
        (
            vec![("ETCDCTL_ENDPOINTS", url.clone())],
            vec!["get", "env/k"],
        ),
        (
            vec![
                ("ETCDCTL_ENDPOINTS", url.clone()),
                ("ETCDCTL_WRITE_OUT", "json".to_string()),
                ("ETCDCTL_DIAL_TIMEOUT", "3s".to_string()),
            ],
            vec!["get", "env/k"],
        ),
        (
            vec![("ETCDCTL_ENDPOINTS", url.clone())],
            vec!["endpoint", "health"],
        ),
    ];
    for (vars, args) in cases {
        let theirs = run_with(command(reference, &vars), None, &args, "").await;
        let mine = run_with(command(&ours(), &vars), None, &args, "").await;
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?} with {vars:?}: ours (left) vs etcdctl 3.5.1"
        );
    }
    // Given both ways: etcd's logger exits 1 (its fatal line is masked).
    let vars = [("ETCDCTL_ENDPOINTS", url.clone())];
    let flag = format!("--endpoints={url}");
    let theirs = run_with(
        command(reference, &vars),
        None,
        &[&flag, "get", "env/k"],
        "",
    )
    .await;
    let mine = run_with(command(&ours(), &vars), None, &[&flag, "get", "env/k"], "").await;
    assert_eq!(mine, theirs);
    assert_eq!(mine.code, Some(1));
});

both!(skip_tls_verify_matches_etcdctl_351, |target| async move {
    // A self-signed `--auto-tls` certificate nobody can verify.
    let skip = ClientTls::skip_verify();
    let options = NodeOptions::https(skip.clone()).args(&["--auto-tls"]);
    let node = Node::start_with(target, options).await;
    let url = node.client_url();
    let reference = etcdctl_351_async().await;
    for args in [
        &["put", "k", "v"][..],
        &["get", "k"],
        &["endpoint", "health"],
        &["member", "list"],
    ] {
        let theirs = run_with(etcdctl_command_with(reference, &url), Some(&skip), args, "").await;
        let mine = run_with(etcdctl_command_with(&ours(), &url), Some(&skip), args, "").await;
        assert_eq!(
            mine, theirs,
            "etcdctl {args:?}: ours (left) vs etcdctl 3.5.1"
        );
        assert_eq!(mine.code, Some(0), "{mine:?}");
    }
    // Without skipping, the certificate is refused (after the timeout:
    // etcd's client keeps redialing).
    let args = ["--command-timeout=1s", "get", "k"];
    let theirs = run_with(etcdctl_command_with(reference, &url), None, &args, "").await;
    let mine = run_with(etcdctl_command_with(&ours(), &url), None, &args, "").await;
    assert_eq!(mine, theirs);
    assert_eq!(mine.stderr, "Error: context deadline exceeded\n");
});
