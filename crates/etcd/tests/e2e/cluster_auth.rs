//! Auth on three-member clusters, against ours and Debian's etcd 3.4: a
//! simple token issued by one member is good on the others at once (each
//! learns it from the committed Authenticate) and outlives its issuer
//! (SIGKILL); auth enable, a permission revoked and granted again, and
//! auth disable while root writes through every member and a restricted
//! user writes through all of them in turn — nothing acknowledged is lost,
//! the restricted user is refused exactly while its permission is revoked,
//! and the members agree on the auth state at the end; and a snapshot
//! taken with auth on restores users, roles, permissions and the enabled
//! flag into a new cluster, where the passwords and permissions still
//! apply.
//!
//! Tokens are sent by hand (the `token` metadata on requests of the
//! generated stubs), since etcd-client only sends the tokens it got itself.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::future::Future;

use common::auth::with_token;
use common::cluster::{Ack, Cluster, WRITERS_PREFIX};
use common::{connect_options, etcdctl_ok, eventually, Node, Target};
use etcd_client::{Client, GetOptions};
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{AuthStatusRequest, PutRequest, RangeRequest};
use tonic::transport::Channel;
use tonic::{Code, Status};

const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How long a phase of the concurrent test may take to show its writes.
const PHASE_WAIT: Duration = Duration::from_secs(30);

const ROOT: &str = "--user=root:rootpw";
const ALICE: &str = "--user=alice:alicepw";

const PERMISSION_DENIED: &str = "etcdserver: permission denied";
const USER_EMPTY: &str = "etcdserver: user name is empty";
const INVALID_TOKEN: &str = "etcdserver: invalid auth token";
const OLD_REVISION: &str = "etcdserver: revision of auth store is old";

// ---------------------------------------------------------------- setup

/// `root` (with the root role), the role `limited` (readwrite on the
/// prefix `prefix`) and `alice` holding it; auth stays off.
async fn add_users(node: &Node, prefix: &str) {
    let steps: [(&[&str], &str); 7] = [
        (&["user", "add", "root:rootpw"], "User root created\n"),
        (&["role", "add", "root"], "Role root created\n"),
        (
            &["user", "grant-role", "root", "root"],
            "Role root is granted to user root\n",
        ),
        (&["role", "add", "limited"], "Role limited created\n"),
        (
            &[
                "role",
                "grant-permission",
                "limited",
                "readwrite",
                prefix,
                "--prefix",
            ],
            "Role limited updated\n",
        ),
        (&["user", "add", "alice:alicepw"], "User alice created\n"),
        (
            &["user", "grant-role", "alice", "limited"],
            "Role limited is granted to user alice\n",
        ),
    ];
    for (args, expected) in steps {
        assert_eq!(ctl(node, args).await, expected, "etcdctl {args:?}");
    }
}

async fn enable_auth(node: &Node) {
    assert_eq!(
        ctl(node, &["auth", "enable"]).await,
        "Authentication Enabled\n"
    );
}

/// etcdctl's flags for every command here: `--user` logs in while the
/// client dials, within `--dial-timeout` (2 s by default), which a loaded
/// machine (the concurrent test's writers) can exceed.
fn with_dial_timeout<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--dial-timeout=10s"];
    all.extend_from_slice(args);
    all
}

/// `etcdctl ARGS`, which must succeed; its stdout.
async fn ctl(node: &Node, args: &[&str]) -> String {
    etcdctl_ok(node, &with_dial_timeout(args)).await
}

/// etcdctl's last stderr line for a command that must fail.
async fn fails(node: &Node, args: &[&str]) -> String {
    common::etcdctl_fails(node, &with_dial_timeout(args)).await
}

// ---------------------------------------------------------------- raw gRPC

/// Sends the request `call` makes, again while the member answers
/// Unavailable ("no leader": a leadership change, which a loaded machine
/// can cause any time), as clients retry it.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let deadline = Instant::now() + LEADER_WAIT;
    loop {
        match call().await {
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                // Paces the retries while the members elect.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result.map(tonic::Response::into_inner),
        }
    }
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .expect("valid URL")
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Put with `token`; the revision of the answer's header.
async fn token_put(url: &str, token: &str, key: &str, value: &str) -> Result<u64, Status> {
    let kv = KvClient::new(channel(url).await);
    let put = PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    };
    let resp = retrying(|| {
        let (mut kv, request) = (kv.clone(), with_token(put.clone(), token));
        async move { kv.put(request).await }
    })
    .await?;
    Ok(resp.header.expect("PutResponse has a header").revision as u64)
}

/// Range of one key with `token`; its value, if it exists.
async fn token_get(url: &str, token: &str, key: &str) -> Result<Option<Vec<u8>>, Status> {
    let kv = KvClient::new(channel(url).await);
    let range = RangeRequest {
        key: key.into(),
        ..RangeRequest::default()
    };
    let resp = retrying(|| {
        let (mut kv, request) = (kv.clone(), with_token(range.clone(), token));
        async move { kv.range(request).await }
    })
    .await?;
    Ok(resp.kvs.into_iter().next().map(|kv| kv.value))
}

/// AuthStatus (etcd 3.5's RPC, root only while auth is on): whether auth
/// is on, and the auth revision.
async fn auth_status(url: &str, token: Option<&str>) -> Result<(bool, u64), Status> {
    let auth = AuthClient::new(channel(url).await);
    let resp = retrying(|| {
        let request = match token {
            Some(token) => with_token(AuthStatusRequest {}, token),
            None => tonic::Request::new(AuthStatusRequest {}),
        };
        let mut auth = auth.clone();
        async move { auth.auth_status(request).await }
    })
    .await?;
    Ok((resp.enabled, resp.auth_revision))
}

/// Each member's AuthStatus (enabled, auth revision) for ours; `None` for
/// etcd 3.4, which has no AuthStatus (asserted: Unimplemented everywhere),
/// where the auth state shows only in what requests need.
async fn auth_statuses(
    target: Target,
    urls: &[String],
    token: Option<&str>,
) -> Option<Vec<(bool, u64)>> {
    let mut statuses = Vec::new();
    for url in urls {
        statuses.push(auth_status(url, token).await);
    }
    match target {
        Target::Reference => {
            for status in statuses {
                assert_eq!(refusal(status).0, Code::Unimplemented);
            }
            None
        }
        Target::EtcdRs => Some(
            statuses
                .into_iter()
                .map(|s| s.expect("AuthStatus"))
                .collect(),
        ),
    }
}

/// A token for root, from `node`.
async fn root_token(node: &Node) -> String {
    node.client()
        .await
        .auth_client()
        .authenticate("root".to_string(), "rootpw".to_string())
        .await
        .expect("authenticate as root")
        .token()
        .to_string()
}

/// The (code, message) of a call that must have failed.
fn refusal<T: std::fmt::Debug>(result: Result<T, Status>) -> (Code, String) {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(status) => (status.code(), status.message().to_string()),
    }
}

// ---------------------------------------------------------------- 1. tokens

both!(
    a_simple_token_works_on_every_member_and_outlives_its_issuer,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        let a = cluster.wait_leader(LEADER_WAIT).await;
        let (b, c) = ((a + 1) % 3, (a + 2) % 3);
        add_users(cluster.member(a), "limited/").await;
        enable_auth(cluster.member(a)).await;

        let on_a = cluster.member(a).client().await;
        let token = on_a
            .auth_client()
            .authenticate("alice".to_string(), "alicepw".to_string())
            .await
            .expect("authenticate on member A")
            .token()
            .to_string();
        // etcd's simple token: 16 letters, a dot, the Authenticate's index.
        let (letters, index) = token.split_once('.').expect("a dot in the token");
        assert_eq!(letters.len(), 16, "{token}");
        assert!(letters.bytes().all(|b| b.is_ascii_alphabetic()), "{token}");
        index.parse::<u64>().expect("the token ends with an index");

        let url_b = cluster.member(b).client_url();
        let url_c = cluster.member(c).client_url();
        // At once on both other members, which may not have applied the
        // Authenticate yet: each waits for it and knows the token.
        let (put_b, put_c) = tokio::join!(
            token_put(&url_b, &token, "limited/b", "1"),
            token_put(&url_c, &token, "limited/c", "1"),
        );
        put_b.expect("alice's token on member B");
        put_c.expect("alice's token on member C");
        // The token names alice there: her permissions apply.
        let denied = (Code::PermissionDenied, PERMISSION_DENIED.to_string());
        assert_eq!(
            refusal(token_put(&url_b, &token, "other", "x").await),
            denied
        );
        assert_eq!(refusal(token_get(&url_c, &token, "other").await), denied);
        // A token nobody issued is refused.
        assert_eq!(
            refusal(token_get(&url_b, "AbCdEfGhIjKlMnOp.1", "limited/b").await),
            (Code::Unauthenticated, INVALID_TOKEN.to_string())
        );

        // The issuer dies; the others keep the token.
        cluster.member_mut(a).kill9();
        cluster.wait_leader_among(&[b, c], LEADER_WAIT).await;
        let (get_b, get_c) = tokio::join!(
            token_get(&url_b, &token, "limited/c"),
            token_get(&url_c, &token, "limited/b"),
        );
        assert_eq!(
            get_b.expect("token on B after the kill"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            get_c.expect("token on C after the kill"),
            Some(b"1".to_vec())
        );
        let (put_b, put_c) = tokio::join!(
            token_put(&url_b, &token, "limited/b", "2"),
            token_put(&url_c, &token, "limited/c", "2"),
        );
        put_b.expect("put with the token on B after the kill");
        put_c.expect("put with the token on C after the kill");
        assert_eq!(
            refusal(token_put(&url_c, &token, "other", "x").await),
            denied
        );
    }
);

// ---------------------------------------------------------------- 2. writers

/// How often an [`AuthWriter`] sends a put again that was judged at an old
/// auth revision.
const MAX_RETRIES: u32 = 5;

/// One put of an [`AuthWriter`]: its key and value, when it was first sent
/// and finally answered, and the revision it was acknowledged with or the
/// refusal.
#[derive(Clone, Debug)]
struct Attempt {
    key: String,
    value: String,
    sent: Instant,
    done: Instant,
    /// How often it was sent again after "revision of auth store is old".
    retries: u32,
    result: Result<i64, String>,
}

/// A client putting its own keys (`PREFIX` + a sequence number) through
/// its members in turn until stopped, as `user`: it logs in when a member
/// answers that the request has no user (auth was enabled) and drops its
/// token when a member refuses it (auth was disabled), and sends a put
/// again that was judged at an old auth revision, as etcd's clientv3 does.
/// Every attempt is recorded.
struct AuthWriter {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    task: tokio::task::JoinHandle<()>,
}

impl AuthWriter {
    /// Starts writing through `endpoints` in turn; logged in at once when
    /// `logged_in`, else only once a member asks for a user.
    async fn start(
        endpoints: Vec<String>,
        (user, password): (&str, &str),
        prefix: String,
        logged_in: bool,
    ) -> AuthWriter {
        let creds = (user.to_string(), password.to_string());
        let mut clients = Vec::new();
        for endpoint in &endpoints {
            let mut options = connect_options(None, Duration::from_secs(1), Duration::from_secs(3));
            if logged_in {
                options = options.with_user(user, password);
            }
            let client = Client::connect([endpoint.clone()], Some(options))
                .await
                .unwrap_or_else(|e| panic!("connect to {endpoint} as {user}: {e}"));
            clients.push(client);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let (stop, attempts) = (stop.clone(), attempts.clone());
            async move {
                let mut seq = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let key = format!("{prefix}{seq:06}");
                    let value = format!("{} {seq}", creds.0);
                    let client = &mut clients[seq % endpoints.len()];
                    let sent = Instant::now();
                    let mut retries = 0;
                    let result = loop {
                        let result = match client.put(key.as_str(), value.as_str(), None).await {
                            Ok(put) => Ok(common::rev(put.header())),
                            Err(etcd_client::Error::GRpcStatus(s)) => Err(s.message().to_string()),
                            Err(other) => Err(other.to_string()),
                        };
                        // Judged by a member that had not applied the
                        // latest auth change, and not applied: clientv3
                        // sends it again.
                        match &result {
                            Err(m) if m == OLD_REVISION && retries < MAX_RETRIES => retries += 1,
                            _ => break result,
                        }
                    };
                    let done = Instant::now();
                    if let Err(message) = &result {
                        if message == USER_EMPTY {
                            let _ = client.update_user(Some(creds.clone())).await;
                        } else if message == INVALID_TOKEN {
                            let _ = client.update_user(None).await;
                        }
                        // Paces retries of refused writes.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    attempts.lock().unwrap().push(Attempt {
                        key,
                        value,
                        sent,
                        done,
                        retries,
                        result,
                    });
                }
            }
        });
        AuthWriter {
            stop,
            attempts,
            task,
        }
    }

    /// How many attempts so far match `pred`.
    fn count(&self, pred: impl Fn(&Attempt) -> bool) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| pred(a))
            .count()
    }

    /// Waits until `count` attempts matching `pred` were made.
    async fn wait(&self, count: usize, what: &str, pred: impl Fn(&Attempt) -> bool) {
        eventually(PHASE_WAIT, what, || async {
            (self.count(&pred) >= count).then_some(())
        })
        .await;
    }

    async fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer task");
        let attempts = self.attempts.lock().unwrap().clone();
        attempts
    }
}

/// Waits until every writer acknowledged `count` writes sent after `after`.
async fn wait_acked_after(writers: &[AuthWriter], count: usize, after: Instant, what: &str) {
    for (w, writer) in writers.iter().enumerate() {
        let what = format!("writer {w}: {count} writes acknowledged {what}");
        writer
            .wait(count, &what, |a| a.sent > after && a.result.is_ok())
            .await;
    }
}

/// Refusals the server answered (the write was judged and not applied).
fn definitely_refused(attempt: &Attempt) -> bool {
    matches!(&attempt.result, Err(m) if [PERMISSION_DENIED, USER_EMPTY, INVALID_TOKEN, OLD_REVISION].contains(&m.as_str()))
}

/// A line per outcome: how many attempts ended with it.
fn tally<'a>(attempts: impl Iterator<Item = &'a Attempt>) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for a in attempts {
        let outcome = match &a.result {
            Ok(_) => "ok".to_string(),
            Err(m) => m.clone(),
        };
        *counts.entry(outcome).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    counts
}

/// etcdctl as root; asserts the output.
async fn as_root(node: &Node, args: &[&str], expected: &str) {
    let mut all = vec![ROOT];
    all.extend_from_slice(args);
    assert_eq!(ctl(node, &all).await, expected, "etcdctl {all:?}");
}

both!(auth_changes_under_concurrent_writes, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(LEADER_WAIT).await;
    let alice_prefix = format!("{WRITERS_PREFIX}alice/");
    add_users(cluster.member(0), &alice_prefix).await;
    let endpoints = cluster.endpoints();

    // Root writes through every member, without a token while auth is off.
    let mut root = Vec::new();
    for (w, endpoint) in endpoints.iter().enumerate() {
        let prefix = format!("{WRITERS_PREFIX}root{w}/");
        let writer = AuthWriter::start(vec![endpoint.clone()], ("root", "rootpw"), prefix, false);
        root.push(writer.await);
    }
    let started = Instant::now();
    wait_acked_after(&root, 10, started, "before auth enable").await;

    let enabled_at = Instant::now();
    enable_auth(cluster.member(1)).await;
    wait_acked_after(&root, 10, enabled_at, "after auth enable (logged in)").await;

    // alice writes through all members in turn, logged in on each.
    let alice = AuthWriter::start(
        endpoints.clone(),
        ("alice", "alicepw"),
        alice_prefix.clone(),
        true,
    )
    .await;
    alice
        .wait(10, "alice's first writes", |a| a.result.is_ok())
        .await;

    let revoke_sent = Instant::now();
    let range = format!("[{alice_prefix}, {WRITERS_PREFIX}alice0)");
    as_root(
        cluster.member(2),
        &[
            "role",
            "revoke-permission",
            "limited",
            &alice_prefix,
            "--prefix",
        ],
        &format!("Permission of range {range} is revoked from role limited\n"),
    )
    .await;
    let revoke_acked = Instant::now();
    alice
        .wait(10, "alice's writes after the revoke", |a| {
            a.sent > revoke_acked
        })
        .await;
    wait_acked_after(&root, 10, revoke_acked, "while alice is revoked").await;

    let grant_sent = Instant::now();
    as_root(
        cluster.member(0),
        &[
            "role",
            "grant-permission",
            "limited",
            "readwrite",
            &alice_prefix,
            "--prefix",
        ],
        "Role limited updated\n",
    )
    .await;
    let grant_acked = Instant::now();
    alice
        .wait(10, "alice's writes after the re-grant", |a| {
            a.sent > grant_acked && a.result.is_ok()
        })
        .await;

    let disable_sent = Instant::now();
    as_root(
        cluster.member(1),
        &["auth", "disable"],
        "Authentication Disabled\n",
    )
    .await;
    let disabled_at = Instant::now();
    wait_acked_after(&root, 10, disabled_at, "after auth disable").await;
    alice
        .wait(10, "alice's writes after auth disable", |a| {
            a.sent > disabled_at && a.result.is_ok()
        })
        .await;

    let alice = alice.stop().await;
    let mut all = alice.clone();
    for writer in root {
        all.extend(writer.stop().await);
    }
    eprintln!(
        "[{target:?}] root and alice: {:?}, {} puts sent again at a newer auth revision",
        tally(all.iter()),
        all.iter().map(|a| a.retries).sum::<u32>()
    );
    let phase = |from: Instant, to: Instant| {
        tally(alice.iter().filter(move |a| a.sent > from && a.sent < to))
    };
    eprintln!(
        "[{target:?}] alice before the revoke: {:?}; revoked: {:?}; re-granted: {:?}; after disable: {:?}",
        tally(alice.iter().filter(|a| a.done < revoke_sent)),
        phase(revoke_acked, grant_sent),
        phase(grant_acked, disable_sent),
        phase(disabled_at, Instant::now()),
    );

    // Refused exactly while revoked: every write sent in that window, and
    // none before the revoke was sent or between the re-grant's answer and
    // auth disable.
    for a in alice
        .iter()
        .filter(|a| a.sent > revoke_acked && a.sent < grant_sent)
    {
        assert_eq!(a.result, Err(PERMISSION_DENIED.to_string()), "{a:?}");
    }
    for a in alice
        .iter()
        .filter(|a| a.done < revoke_sent || (a.sent > grant_acked && a.sent < disable_sent))
    {
        assert!(a.result.is_ok(), "alice refused outside the revoke: {a:?}");
    }
    // AuthDisable ends every token: the first write of each of alice's
    // clients after it is refused as an invalid token (then the client
    // drops its token), every other one is accepted.
    let after_disable: Vec<&Attempt> = alice.iter().filter(|a| a.sent > disabled_at).collect();
    let invalid = after_disable
        .iter()
        .filter(|a| a.result == Err(INVALID_TOKEN.to_string()))
        .count();
    assert!(invalid <= endpoints.len(), "{after_disable:?}");
    for a in after_disable {
        assert!(
            a.result.is_ok() || a.result == Err(INVALID_TOKEN.to_string()),
            "alice after auth disable: {a:?}"
        );
    }

    // Nothing acknowledged is lost, on any member; nothing refused is there.
    let acks: Vec<Ack> = all
        .iter()
        .filter_map(|a| {
            let revision = *a.result.as_ref().ok()?;
            Some(Ack {
                key: a.key.clone(),
                value: a.value.clone(),
                revision,
                sent: a.sent,
                acked: a.done,
            })
        })
        .collect();
    cluster.assert_acks_everywhere(&acks).await;
    for i in 0..3 {
        let mut client = cluster.member(i).client().await;
        let options = GetOptions::new().with_prefix().with_serializable();
        let got = client
            .get(WRITERS_PREFIX, Some(options))
            .await
            .expect("read the writers' keys");
        let stored = common::keys(got.kvs());
        for a in all.iter().filter(|a| definitely_refused(a)) {
            assert!(
                !stored.contains(&a.key),
                "member {i} has a refused write {a:?}"
            );
        }
    }

    // Every member: auth off (no credentials needed), the same users and
    // role, and (etcd 3.5's AuthStatus, ours) the same auth revision.
    let mut urls = Vec::new();
    for i in 0..3 {
        let member = cluster.member(i);
        assert_eq!(ctl(member, &["user", "list"]).await, "alice\nroot\n");
        assert_eq!(
            ctl(member, &["role", "get", "limited"]).await,
            format!(
                "Role limited\nKV Read:\n\t{range} (prefix {alice_prefix})\n\
                 KV Write:\n\t{range} (prefix {alice_prefix})\n"
            )
        );
        urls.push(member.client_url());
    }
    if let Some(statuses) = auth_statuses(target, &urls, None).await {
        eprintln!("[{target:?}] AuthStatus (enabled, auth revision) per member: {statuses:?}");
        assert!(!statuses[0].0, "auth still on: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == statuses[0]), "{statuses:?}");
    }
});

// ---------------------------------------------------------------- 3. snapshot

both!(
    a_snapshot_restores_users_roles_and_permissions,
    |target| async move {
        let cluster = Cluster::start(target, 3, &[]).await;
        let source = cluster.member(0);
        add_users(source, "limited/").await;
        assert_eq!(
            ctl(
                source,
                &["role", "grant-permission", "limited", "read", "config"]
            )
            .await,
            "Role limited updated\n"
        );
        ctl(source, &["put", "config", "c"]).await;
        enable_auth(source).await;
        assert_eq!(ctl(source, &[ROOT, "put", "secret", "s"]).await, "OK\n");
        assert_eq!(ctl(source, &[ALICE, "put", "limited/a", "1"]).await, "OK\n");
        let role = ctl(source, &[ROOT, "role", "get", "limited"]).await;
        assert_eq!(
            role,
            "Role limited\nKV Read:\n\tconfig\n\t[limited/, limited0) (prefix limited/)\n\
             KV Write:\n\t[limited/, limited0) (prefix limited/)\n"
        );

        let source_token = root_token(source).await;
        let source_status =
            auth_statuses(target, &[source.client_url()], Some(&source_token)).await;

        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("backup.db");
        let file_arg = file.to_str().expect("UTF-8 path");
        ctl(source, &[ROOT, "snapshot", "save", file_arg]).await;

        let mut restored = Node::start(target, &[]).await;
        restored.terminate().await;
        std::fs::remove_dir_all(restored.data_dir()).expect("remove the data dir");
        let flags = crate::snapshot_restore::restore_flags(&restored, "auth-restored");
        let out = crate::snapshot_restore::restore(target, &file, &flags).await;
        assert!(
            out.status.success(),
            "restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        restored.restart().await;
        let node = &restored;

        // Auth is on: no credentials, no answer.
        assert_eq!(
            fails(node, &["user", "list"]).await,
            format!("Error: {USER_EMPTY}")
        );
        assert_eq!(
            fails(node, &["get", "config"]).await,
            format!("Error: {USER_EMPTY}")
        );
        let restored_token = root_token(node).await;
        if let Some(statuses) =
            auth_statuses(target, &[node.client_url()], Some(&restored_token)).await
        {
            let source = source_status.expect("ours has AuthStatus");
            assert!(source[0].0, "auth off at the source: {source:?}");
            assert_eq!(statuses, source);
        }
        // The users, roles and permissions, for root with its password.
        assert_eq!(ctl(node, &[ROOT, "user", "list"]).await, "alice\nroot\n");
        assert_eq!(ctl(node, &[ROOT, "role", "list"]).await, "limited\nroot\n");
        assert_eq!(ctl(node, &[ROOT, "role", "get", "limited"]).await, role);
        assert_eq!(
            ctl(node, &[ROOT, "user", "get", "alice"]).await,
            "User: alice\nRoles: limited\n"
        );
        assert_eq!(
            ctl(node, &[ROOT, "get", "secret", "--print-value-only"]).await,
            "s\n"
        );
        // alice with her password, within her permissions only.
        assert_eq!(
            ctl(node, &[ALICE, "get", "limited/a", "--print-value-only"]).await,
            "1\n"
        );
        assert_eq!(ctl(node, &[ALICE, "put", "limited/b", "2"]).await, "OK\n");
        assert_eq!(
            ctl(node, &[ALICE, "get", "config", "--print-value-only"]).await,
            "c\n"
        );
        let denied = format!("Error: {PERMISSION_DENIED}");
        assert_eq!(fails(node, &[ALICE, "put", "config", "x"]).await, denied);
        assert_eq!(fails(node, &[ALICE, "get", "secret"]).await, denied);
        assert_eq!(fails(node, &[ALICE, "user", "list"]).await, denied);
        assert_eq!(
            fails(node, &["--user=alice:wrong", "get", "limited/a"]).await,
            "Error: etcdserver: authentication failed, invalid user ID or password"
        );
    }
);
