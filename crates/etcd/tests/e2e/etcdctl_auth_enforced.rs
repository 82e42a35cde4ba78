//! Auth enforcement driven through the real `etcdctl` (API v3) once `auth
//! enable` is on: requests without a user, with a wrong password, with an
//! unknown user or with a user made without a password; what a restricted
//! user may do with keys (get/put/del, prefixes and ranges, `--prev-kv`),
//! in a `txn` (every compare and every op of both branches is checked),
//! with leases (revoking, or putting with, a lease whose keys it cannot
//! write), watches, `lock` and `elect`; which admin operations etcd 3.4
//! keeps for root and which it leaves open; that revoking a permission,
//! changing a password or deleting a user takes effect at once; and that
//! auth outlives a restart. The users, roles and permissions themselves
//! (with auth off) are `etcdctl_auth.rs`.
//!
//! Every command runs as its own etcdctl process, so each one
//! authenticates anew: nothing here depends on token lifetimes.

use crate::common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{etcdctl, etcdctl_json, etcdctl_ok, etcdctl_stdin, node_etcdctl_command, Node};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// etcdctl's flag for the root user of [`enable_auth`].
const ROOT: &str = "--user=root:rootpw";
/// etcdctl's flag for the restricted user of [`add_alice`].
const ALICE: &str = "--user=alice:pw";
/// What a request outside the user's permissions gets.
const DENIED: &str = "Error: etcdserver: permission denied";
/// What a request without credentials gets while auth is on.
const NO_USER: &str = "Error: etcdserver: user name is empty";
/// What a wrong password or an unknown user gets (exit status 2: etcdctl
/// authenticates while connecting).
const BAD_LOGIN: &str = "Error: etcdserver: authentication failed, invalid user ID or password";
/// How long a long-running etcdctl may take to print its next line.
const LINE_WAIT: Duration = Duration::from_secs(10);

/// What etcdctl printed on stderr, without the client library's JSON log
/// lines (`{"level":"warn",...}` retries, with timestamps and client ids).
fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.starts_with("{\"level\":"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts `output` is a failure with exit status `code` and nothing on
/// stdout; its stderr (see [`stderr_text`]).
fn refusal(output: &Output, code: i32, args: &[&str]) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "etcdctl {args:?} must exit with {code}; stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "",
        "etcdctl {args:?} failed but printed on stdout"
    );
    stderr_text(output)
}

/// The stderr of a command that must fail with exit status 1 (etcdctl's
/// ExitError, what a refused request gets).
async fn fails(node: &Node, args: &[&str]) -> String {
    fails_exit(node, 1, args).await
}

/// The stderr of a command that must fail with exit status `code`.
async fn fails_exit(node: &Node, code: i32, args: &[&str]) -> String {
    refusal(&etcdctl(node, args).await, code, args)
}

/// Runs `etcdctl txn` with `input` (compares, blank line, success ops,
/// blank line, failure ops, blank line) as `user`.
async fn txn(node: &Node, user: &str, input: &str) -> Output {
    etcdctl_stdin(node, &["txn", user], input).await
}

/// Creates `root:rootpw` with the root role and turns auth on. etcd 3.4
/// grants the `root` role without a `role add root`: it is built in (and
/// not listed by `role list` until someone adds it).
async fn enable_auth(node: &Node) {
    assert_eq!(
        etcdctl_ok(node, &["user", "add", "root:rootpw"]).await,
        "User root created\n"
    );
    assert_eq!(
        etcdctl_ok(node, &["user", "grant-role", "root", "root"]).await,
        "Role root is granted to user root\n"
    );
    assert_eq!(
        etcdctl_ok(node, &["auth", "enable"]).await,
        "Authentication Enabled\n"
    );
}

/// Creates (with auth still off) role `app`, readwrite on the prefix
/// `/app/` and read on the key `/shared`, and user `alice:pw` holding it.
async fn add_alice(node: &Node) {
    etcdctl_ok(node, &["role", "add", "app"]).await;
    etcdctl_ok(
        node,
        &[
            "role",
            "grant-permission",
            "app",
            "readwrite",
            "/app/",
            "--prefix",
        ],
    )
    .await;
    etcdctl_ok(
        node,
        &["role", "grant-permission", "app", "read", "/shared"],
    )
    .await;
    etcdctl_ok(node, &["user", "add", "alice:pw"]).await;
    etcdctl_ok(node, &["user", "grant-role", "alice", "app"]).await;
}

/// A fresh node with alice ([`add_alice`]), `/shared` = `s`, and auth on.
async fn start_with_alice(target: common::Target) -> Node {
    let node = Node::start(target, &[]).await;
    add_alice(&node).await;
    etcdctl_ok(&node, &["put", "/shared", "s"]).await;
    enable_auth(&node).await;
    node
}

/// The lease id (hex) printed by `lease grant 60`.
fn lease_id(stdout: &str) -> String {
    stdout
        .strip_prefix("lease ")
        .and_then(|rest| rest.strip_suffix(" granted with TTL(60s)\n"))
        .unwrap_or_else(|| panic!("unexpected grant output {stdout:?}"))
        .to_string()
}

/// A long-running etcdctl (`watch`, `elect`), its stdout read line by
/// line; killed when dropped.
struct Running {
    args: Vec<String>,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    fn spawn(node: &Node, args: &[&str]) -> Running {
        let mut child = node_etcdctl_command(node)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcdctl");
        let stdout = child.stdout.take().expect("piped stdout");
        Running {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next `n` lines it prints; panics if one does not come in time.
    async fn lines(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout(LINE_WAIT, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => got.push(line),
                Ok(Ok(None)) => panic!(
                    "etcdctl {:?} exited ({:?}) after printing {got:?}",
                    self.args,
                    self.child.try_wait()
                ),
                Ok(Err(e)) => panic!("reading etcdctl {:?}: {e}", self.args),
                Err(_) => panic!(
                    "etcdctl {:?} printed only {got:?} within {LINE_WAIT:?}",
                    self.args
                ),
            }
        }
        got
    }
}

both!(enable_then_disable, |target| async move {
    let node = Node::start(target, &[]).await;
    etcdctl_ok(&node, &["put", "foo", "bar"]).await;
    enable_auth(&node).await;
    // The built-in root role is granted but does not exist as a role.
    assert_eq!(etcdctl_ok(&node, &["role", "list", ROOT]).await, "");
    assert_eq!(
        fails(&node, &["role", "get", "root", ROOT]).await,
        "Error: etcdserver: role name not found"
    );

    assert_eq!(fails(&node, &["get", "foo"]).await, NO_USER);
    assert_eq!(etcdctl_ok(&node, &["get", "foo", ROOT]).await, "foo\nbar\n");
    assert_eq!(
        etcdctl_ok(&node, &["get", "foo", "--user=root", "--password=rootpw"]).await,
        "foo\nbar\n"
    );
    assert_eq!(
        fails_exit(&node, 2, &["get", "foo", "--user=root:wrong"]).await,
        BAD_LOGIN
    );
    assert_eq!(
        fails_exit(&node, 2, &["get", "foo", "--user=nosuch:x"]).await,
        BAD_LOGIN
    );

    // Enabling again needs root too, and then succeeds as before.
    assert_eq!(fails(&node, &["auth", "enable"]).await, NO_USER);
    assert_eq!(
        etcdctl_ok(&node, &["auth", "enable", ROOT]).await,
        "Authentication Enabled\n"
    );

    assert_eq!(fails(&node, &["auth", "disable"]).await, NO_USER);
    assert_eq!(
        etcdctl_ok(&node, &["auth", "disable", ROOT]).await,
        "Authentication Disabled\n"
    );
    assert_eq!(etcdctl_ok(&node, &["get", "foo"]).await, "foo\nbar\n");
    // With auth off, credentials are not checked at all.
    assert_eq!(
        etcdctl_ok(&node, &["get", "foo", "--user=root:wrong"]).await,
        "foo\nbar\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["auth", "disable"]).await,
        "Authentication Disabled\n"
    );
});

both!(restricted_user_keys, |target| async move {
    let node = start_with_alice(target).await;
    assert_eq!(
        etcdctl_ok(&node, &["put", "/app/k", "v1", ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["put", "/app/j", "v2", ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/k", ALICE]).await,
        "/app/k\nv1\n"
    );
    assert_eq!(fails(&node, &["put", "/shared", "x", ALICE]).await, DENIED);
    assert_eq!(
        etcdctl_ok(&node, &["get", "/shared", ALICE]).await,
        "/shared\ns\n"
    );
    assert_eq!(fails(&node, &["get", "/other", ALICE]).await, DENIED);
    assert_eq!(fails(&node, &["del", "/other", ALICE]).await, DENIED);

    // A range is allowed only when one permission covers all of it.
    assert_eq!(fails(&node, &["get", "/", "--prefix", ALICE]).await, DENIED);
    assert_eq!(
        fails(&node, &["get", "--from-key", "/app/", ALICE]).await,
        DENIED
    );
    assert_eq!(fails(&node, &["get", "/app/a", "/b", ALICE]).await, DENIED);
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/", "--prefix", ALICE]).await,
        "/app/j\nv2\n/app/k\nv1\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/a", "/app/z", ALICE]).await,
        "/app/j\nv2\n/app/k\nv1\n"
    );

    assert_eq!(
        etcdctl_ok(&node, &["del", "/app/j", "--prev-kv", ALICE]).await,
        "1\n/app/j\nv2\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["del", "/app/", "--prefix", ALICE]).await,
        "1\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/", "--prefix", ALICE]).await,
        ""
    );

    // On a write-only key, whatever returns the old value needs read too.
    etcdctl_ok(
        &node,
        &["role", "grant-permission", "app", "write", "/log", ROOT],
    )
    .await;
    assert_eq!(
        etcdctl_ok(&node, &["put", "/log", "a", ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        fails(&node, &["put", "/log", "b", "--prev-kv", ALICE]).await,
        DENIED
    );
    assert_eq!(fails(&node, &["get", "/log", ALICE]).await, DENIED);
    assert_eq!(
        fails(&node, &["del", "/log", "--prev-kv", ALICE]).await,
        DENIED
    );
    assert_eq!(etcdctl_ok(&node, &["del", "/log", ALICE]).await, "1\n");
});

both!(txn_checks_every_compare_and_op, |target| async move {
    let node = start_with_alice(target).await;
    etcdctl_ok(&node, &["put", "/app/t", "0", ALICE]).await;

    let denied = [
        // A compare on a key alice cannot read.
        "value(\"/other\") = \"x\"\n\nput /app/t 1\n\n\n",
        // A success op writing a key she may only read.
        "value(\"/shared\") = \"s\"\n\nput /shared 1\n\n\n",
        // A failure op that is not taken is checked all the same.
        "value(\"/shared\") = \"s\"\n\nput /app/t 1\n\nput /other 1\n\n",
        "value(\"/shared\") = \"s\"\n\nput /app/t 1\n\nget /other\n\n",
    ];
    for input in denied {
        let output = txn(&node, ALICE, input).await;
        assert_eq!(refusal(&output, 1, &["txn"]), DENIED, "txn {input:?}");
    }
    // None of the refused txns wrote anything.
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/t", ALICE]).await,
        "/app/t\n0\n"
    );

    let output = txn(
        &node,
        ALICE,
        "value(\"/shared\") = \"s\"\n\nput /app/t 1\nget /shared\n\nput /app/t 2\n\n",
    )
    .await;
    common::assert_output_ok(&["txn"], &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "SUCCESS\n\nOK\n\n/shared\ns\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/t", ALICE]).await,
        "/app/t\n1\n"
    );
});

both!(admin_operations_as_a_restricted_user, |target| async move {
    let node = start_with_alice(target).await;
    etcdctl_ok(&node, &["role", "add", "ops", ROOT]).await;
    etcdctl_ok(&node, &["put", "/app/c", "1", ROOT]).await;
    let url = node.client_url();

    // Auth administration is root's.
    for args in [
        &["user", "list"][..],
        &["role", "list"],
        &["user", "add", "eve:x"],
        &["role", "add", "r2"],
        &["user", "get", "root"],
        &["role", "get", "ops"],
        &["role", "get", "nosuch"],
        &["user", "grant-role", "alice", "ops"],
        &["user", "revoke-role", "alice", "app"],
        &["auth", "enable"],
        &["auth", "disable"],
    ] {
        let mut args = args.to_vec();
        args.push(ALICE);
        assert_eq!(fails(&node, &args).await, DENIED, "etcdctl {args:?}");
    }
    // Even her own password.
    let args = ["user", "passwd", "alice", "--interactive=false", ALICE];
    let output = etcdctl_stdin(&node, &args, "newpw\n").await;
    assert_eq!(refusal(&output, 1, &args), DENIED);
    // But a user may read herself and the roles she holds.
    assert_eq!(
        etcdctl_ok(&node, &["user", "get", "alice", ALICE]).await,
        "User: alice\nRoles: app\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["role", "get", "app", ALICE]).await,
        "Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\n\t/shared\n\
         KV Write:\n\t[/app/, /app0) (prefix /app/)\n"
    );

    // Maintenance: the auth store's own error, as code Unknown.
    assert_eq!(
        fails(&node, &["defrag", ALICE]).await,
        format!(
            "Failed to defragment etcd member[{url}] \
             (rpc error: code = Unknown desc = auth: permission denied)"
        )
    );
    assert_eq!(
        fails(&node, &["endpoint", "hashkv", ALICE]).await,
        format!(
            "Failed to get the hash of endpoint {url} \
             (rpc error: code = Unknown desc = auth: permission denied)\n\
             Error: rpc error: code = Unknown desc = auth: permission denied"
        )
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshot = dir.path().join("snap.db");
    let snapshot_arg = snapshot.to_str().expect("UTF-8 temp path");
    assert_eq!(
        fails_exit(&node, 5, &["snapshot", "save", snapshot_arg, ALICE]).await,
        "Error: rpc error: code = Unknown desc = auth: permission denied"
    );
    assert!(!snapshot.exists(), "a refused snapshot left a file");
    assert!(
        !dir.path().join("snap.db.part").exists(),
        "a refused snapshot left its partial file"
    );
    assert_eq!(
        etcdctl_ok(&node, &["snapshot", "save", snapshot_arg, ROOT]).await,
        format!("Snapshot saved at {snapshot_arg}\n")
    );

    // Open to any user in etcd 3.4: reading the membership, status and
    // health, the alarms (even disarming them) and compaction.
    let members = etcdctl_ok(&node, &["member", "list", ALICE]).await;
    let id = members.split(',').next().expect("a member id").to_string();
    assert_eq!(
        members,
        format!(
            "{id}, started, {}, {}, {url}, false\n",
            node.name(),
            node.peer_url()
        )
    );
    let status = etcdctl_ok(&node, &["endpoint", "status", ALICE]).await;
    assert!(
        status.starts_with(&format!("{url}, {id}, ")),
        "endpoint status printed {status:?}"
    );
    // `endpoint health` reports on stderr.
    let output = etcdctl(&node, &["endpoint", "health", ALICE]).await;
    common::assert_output_ok(&["endpoint", "health"], &output);
    let health = stderr_text(&output);
    assert!(
        health.starts_with(&format!(
            "{url} is healthy: successfully committed proposal: took = "
        )),
        "endpoint health printed {health:?}"
    );
    assert_eq!(etcdctl_ok(&node, &["alarm", "list", ALICE]).await, "");
    assert_eq!(etcdctl_ok(&node, &["alarm", "disarm", ALICE]).await, "");
    assert_eq!(
        etcdctl_ok(&node, &["compaction", "2", ALICE]).await,
        "compacted revision 2\n"
    );
    // Changing the membership is not open.
    let peer_urls = format!("--peer-urls={}", node.peer_url());
    assert_eq!(
        fails(&node, &["member", "update", &id, &peer_urls, ALICE]).await,
        DENIED
    );
});

both!(lease_revoke_needs_write_on_its_keys, |target| async move {
    let node = start_with_alice(target).await;
    let own = lease_id(&etcdctl_ok(&node, &["lease", "grant", "60", ALICE]).await);
    let lease_flag = format!("--lease={own}");
    assert_eq!(
        etcdctl_ok(&node, &["put", "/app/x", "v", &lease_flag, ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "revoke", &own, ALICE]).await,
        format!("lease {own} revoked\n")
    );
    assert_eq!(etcdctl_ok(&node, &["get", "/app/x", ALICE]).await, "");

    // A lease holding a key alice may only read.
    let shared = lease_id(&etcdctl_ok(&node, &["lease", "grant", "60", ALICE]).await);
    let lease_flag = format!("--lease={shared}");
    etcdctl_ok(&node, &["put", "/shared", "s2", &lease_flag, ROOT]).await;
    assert_eq!(
        fails(&node, &["lease", "revoke", &shared, ALICE]).await,
        "Error: failed to revoke lease (etcdserver: permission denied)"
    );
    // Attaching a key she may write to that lease is refused as well.
    assert_eq!(
        fails(&node, &["put", "/app/y", "v", &lease_flag, ALICE]).await,
        DENIED
    );
    // Reading the lease is not checked, its keys included.
    let ttl = etcdctl_ok(&node, &["lease", "timetolive", &shared, "--keys", ALICE]).await;
    let prefix = format!("lease {shared} granted with TTL(60s), remaining(");
    assert!(
        ttl.starts_with(&prefix) && ttl.ends_with("s), attached keys([/shared])\n"),
        "timetolive {ttl:?}"
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "keep-alive", "--once", &shared, ALICE]).await,
        format!("lease {shared} keepalived with TTL(60)\n")
    );
    assert_eq!(
        etcdctl_ok(&node, &["lease", "revoke", &shared, ROOT]).await,
        format!("lease {shared} revoked\n")
    );
    assert_eq!(etcdctl_ok(&node, &["get", "/shared", ALICE]).await, "");
});

both!(watch_needs_read, |target| async move {
    let node = start_with_alice(target).await;
    // The server cancels the watch; etcdctl reports it and exits with 5.
    assert_eq!(
        fails_exit(&node, 5, &["watch", "/other", ALICE]).await,
        "watch was canceled (rpc error: code = PermissionDenied desc = \
         etcdserver: permission denied)\nError: watch is canceled by the server"
    );
    assert_eq!(
        fails_exit(&node, 5, &["watch", "/", "--prefix", ALICE]).await,
        "watch was canceled (rpc error: code = PermissionDenied desc = \
         etcdserver: permission denied)\nError: watch is canceled by the server"
    );
    assert_eq!(
        fails_exit(&node, 5, &["watch", "/other"]).await,
        "watch was canceled (rpc error: code = InvalidArgument desc = \
         etcdserver: user name is empty)\nError: watch is canceled by the server"
    );

    // Watching from the first put's revision shows it without a race;
    // the second put is made while the watch is live.
    let put = etcdctl_json(&node, &["put", "/app/k", "v1", ROOT]).await;
    let revision = put["header"]["revision"]
        .as_i64()
        .expect("put header revision");
    let rev_flag = format!("--rev={revision}");
    let mut watcher = Running::spawn(&node, &["watch", "/app/k", &rev_flag, ALICE]);
    assert_eq!(watcher.lines(3).await, ["PUT", "/app/k", "v1"]);
    etcdctl_ok(&node, &["put", "/app/k", "v2", ROOT]).await;
    assert_eq!(watcher.lines(3).await, ["PUT", "/app/k", "v2"]);
});

both!(lock_and_elect_need_their_prefix, |target| async move {
    let node = start_with_alice(target).await;
    assert_eq!(
        fails(&node, &["lock", "mylock", "echo", "hi", ALICE]).await,
        DENIED
    );
    assert_eq!(
        fails(&node, &["elect", "myelection", "cand", ALICE]).await,
        DENIED
    );

    etcdctl_ok(&node, &["role", "add", "locker", ROOT]).await;
    for prefix in ["mylock", "myelection"] {
        etcdctl_ok(
            &node,
            &[
                "role",
                "grant-permission",
                "locker",
                "readwrite",
                prefix,
                "--prefix",
                ROOT,
            ],
        )
        .await;
    }
    etcdctl_ok(&node, &["user", "grant-role", "alice", "locker", ROOT]).await;
    assert_eq!(
        etcdctl_ok(&node, &["lock", "mylock", "echo", "hi", ALICE]).await,
        "hi\n"
    );
    // A leader prints its key (the name, `/`, its lease) and proposal.
    let mut candidate = Running::spawn(&node, &["elect", "myelection", "cand", ALICE]);
    let lines = candidate.lines(2).await;
    assert!(
        lines[0].starts_with("myelection/") && lines[1] == "cand",
        "elect printed {lines:?}"
    );
});

both!(revoked_rights_apply_at_once, |target| async move {
    let node = start_with_alice(target).await;
    assert_eq!(
        etcdctl_ok(&node, &["put", "/app/a", "1", ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &[
                "role",
                "revoke-permission",
                "app",
                "/app/",
                "--prefix",
                ROOT
            ]
        )
        .await,
        "Permission of range [/app/, /app0) is revoked from role app\n"
    );
    assert_eq!(fails(&node, &["put", "/app/a", "2", ALICE]).await, DENIED);
    assert_eq!(fails(&node, &["get", "/app/a", ALICE]).await, DENIED);

    let output = etcdctl_stdin(
        &node,
        &["user", "passwd", "alice", "--interactive=false", ROOT],
        "pw2\n",
    )
    .await;
    common::assert_output_ok(&["user", "passwd"], &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Password updated\n"
    );
    assert_eq!(
        fails_exit(&node, 2, &["get", "/shared", ALICE]).await,
        BAD_LOGIN
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/shared", "--user=alice:pw2"]).await,
        "/shared\ns\n"
    );

    assert_eq!(
        etcdctl_ok(&node, &["user", "revoke-role", "alice", "app", ROOT]).await,
        "Role app is revoked from user alice\n"
    );
    assert_eq!(
        fails(&node, &["get", "/shared", "--user=alice:pw2"]).await,
        DENIED
    );
    etcdctl_ok(&node, &["user", "grant-role", "alice", "app", ROOT]).await;
    assert_eq!(
        etcdctl_ok(&node, &["user", "delete", "alice", ROOT]).await,
        "User alice deleted\n"
    );
    assert_eq!(
        fails_exit(&node, 2, &["get", "/shared", "--user=alice:pw2"]).await,
        BAD_LOGIN
    );
    // A user added again under the name starts without the old roles.
    etcdctl_ok(&node, &["user", "add", "alice:pw", ROOT]).await;
    assert_eq!(fails(&node, &["get", "/shared", ALICE]).await, DENIED);
});

both!(no_password_user_cannot_log_in, |target| async move {
    let node = start_with_alice(target).await;
    assert_eq!(
        etcdctl_ok(&node, &["user", "add", "bob", "--no-password", ROOT]).await,
        "User bob created\n"
    );
    etcdctl_ok(&node, &["user", "grant-role", "bob", "app", ROOT]).await;
    assert_eq!(
        etcdctl_ok(&node, &["user", "get", "bob", ROOT]).await,
        "User: bob\nRoles: app\n"
    );
    let no_password = "Error: rpc error: code = Unknown desc = \
                       auth: authentication failed, password was given for no password user";
    assert_eq!(
        fails_exit(&node, 2, &["get", "/shared", "--user=bob:x"]).await,
        no_password
    );
    // Setting a password does not lift the user's no-password option.
    let output = etcdctl_stdin(
        &node,
        &["user", "passwd", "bob", "--interactive=false", ROOT],
        "bobpw\n",
    )
    .await;
    common::assert_output_ok(&["user", "passwd"], &output);
    assert_eq!(
        fails_exit(&node, 2, &["get", "/shared", "--user=bob:bobpw"]).await,
        no_password
    );
});

both!(auth_survives_a_restart, |target| async move {
    let mut node = start_with_alice(target).await;
    etcdctl_ok(&node, &["put", "/app/a", "1", ALICE]).await;
    node.restart().await;

    assert_eq!(fails(&node, &["get", "/app/a"]).await, NO_USER);
    assert_eq!(
        etcdctl_ok(&node, &["get", "/app/a", ROOT]).await,
        "/app/a\n1\n"
    );
    assert_eq!(
        fails_exit(&node, 2, &["get", "/app/a", "--user=root:wrong"]).await,
        BAD_LOGIN
    );
    assert_eq!(
        etcdctl_ok(&node, &["put", "/app/a", "2", ALICE]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/shared", ALICE]).await,
        "/shared\ns\n"
    );
    assert_eq!(fails(&node, &["put", "/shared", "x", ALICE]).await, DENIED);
    assert_eq!(fails(&node, &["get", "/other", ALICE]).await, DENIED);
});
