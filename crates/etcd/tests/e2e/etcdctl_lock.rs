//! `etcdctl lock` and `etcdctl elect` (Debian's etcdctl 3.4, which runs the
//! clientv3 concurrency recipes itself over KV, Watch and Lease) against
//! both servers: a lock is held while its process lives and passes to the
//! next `etcdctl lock` once the holder is killed (its session lease
//! expires) or stopped (it unlocks); `lock <name> <command>` runs the
//! command under the lock; `elect` campaigns, `elect --listen` follows the
//! leader, and a stopped leader hands over to the next candidate. etcdctl
//! and the Lock / Election services contend for the same names.
//!
//! The processes run on in the background; their output is read line by
//! line as it comes, each read bounded by a timeout. "Still waiting" is
//! checked once the waiter's key is in the store.

use crate::common;

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{etcdctl, etcdctl_command, eventually, keys, Node};
use etcd_client::{Client, GetOptions, LockOptions, ResignOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

/// How long a process that must keep waiting is given to print.
const STILL_WAITING: Duration = Duration::from_millis(500);
/// How long a process that must print now gets.
const ANSWER: Duration = Duration::from_secs(10);
/// `etcdctl lock --ttl`: short, so a killed holder's lease expires soon.
/// Both servers grant it as asked (above their minimum TTL).
const LOCK_TTL: &str = "2";

/// An etcdctl process running in the background.
struct Background {
    args: Vec<String>,
    child: Child,
    /// Its stdout, line by line.
    lines: mpsc::UnboundedReceiver<String>,
}

impl Background {
    fn spawn(node: &Node, args: &[&str]) -> Background {
        let mut child = etcdctl_command(&node.client_url())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcdctl");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Background {
            args: args.iter().map(|s| s.to_string()).collect(),
            child,
            lines,
        }
    }

    /// The next line it prints.
    async fn line(&mut self) -> String {
        match tokio::time::timeout(ANSWER, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("etcdctl {:?} closed its output", self.args),
            Err(_) => panic!("etcdctl {:?} printed nothing within {ANSWER:?}", self.args),
        }
    }

    /// Asserts it prints nothing (within [`STILL_WAITING`]).
    async fn assert_silent(&mut self) {
        if let Ok(line) = tokio::time::timeout(STILL_WAITING, self.lines.recv()).await {
            panic!(
                "etcdctl {:?} should still wait, but printed {line:?}",
                self.args
            );
        }
    }

    /// SIGKILL: no chance to unlock or resign.
    async fn kill9(&mut self) {
        self.child.kill().await.expect("kill etcdctl");
    }

    /// SIGTERM: etcdctl unlocks (or resigns) and exits; its exit status.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("etcdctl is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        tokio::time::timeout(ANSWER, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("etcdctl {:?} ignored SIGTERM", self.args))
            .expect("wait for etcdctl")
    }
}

async fn prefix_keys(client: &Client, name: &str) -> Vec<String> {
    let resp = client
        .clone()
        .get(format!("{name}/"), Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    keys(resp.kvs())
}

/// Waits until `count` contenders have keys under `name/`; their keys.
async fn wait_for_contenders(client: &Client, name: &str, count: usize) -> Vec<String> {
    eventually(ANSWER, &format!("{count} keys under {name}/"), || async {
        let keys = prefix_keys(client, name).await;
        (keys.len() == count).then_some(keys)
    })
    .await
}

/// A contender's key looks like `name/<lowercase hex>`.
fn assert_contender_key(key: &str, name: &str) {
    let hex = key
        .strip_prefix(&format!("{name}/"))
        .unwrap_or_else(|| panic!("{key:?} is not under {name}/"));
    assert!(
        !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{key:?} does not end in a lease id in lowercase hex"
    );
}

both!(
    lock_passes_on_when_the_holder_is_killed,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let client = node.client().await;
        let mut first = Background::spawn(&node, &["lock", "mylock", "--ttl", LOCK_TTL]);
        // etcdctl prints the lock's key and its (empty) value once it holds it.
        let first_key = first.line().await;
        assert_contender_key(&first_key, "mylock");
        assert_eq!(first.line().await, "");

        let mut second = Background::spawn(&node, &["lock", "mylock", "--ttl", LOCK_TTL]);
        let contenders = wait_for_contenders(&client, "mylock", 2).await;
        second.assert_silent().await;

        // Killed, the holder cannot unlock; its session lease expires.
        first.kill9().await;
        let second_key = second.line().await;
        assert_contender_key(&second_key, "mylock");
        assert_ne!(second_key, first_key);
        assert!(contenders.contains(&second_key));
        assert_eq!(second.line().await, "");
        assert_eq!(prefix_keys(&client, "mylock").await, [second_key]);

        // Stopped, the holder unlocks.
        assert!(second.terminate().await.success());
        assert!(prefix_keys(&client, "mylock").await.is_empty());
    }
);

both!(lock_passes_on_when_the_holder_stops, |target| async move {
    let node = Node::start(target, &[]).await;
    let client = node.client().await;
    let mut first = Background::spawn(&node, &["lock", "mylock"]);
    let first_key = first.line().await;
    assert_eq!(first.line().await, "");
    let mut second = Background::spawn(&node, &["lock", "mylock"]);
    wait_for_contenders(&client, "mylock", 2).await;
    second.assert_silent().await;

    assert!(first.terminate().await.success());
    let second_key = second.line().await;
    assert_contender_key(&second_key, "mylock");
    assert_ne!(second_key, first_key);
    assert!(second.terminate().await.success());
    assert!(prefix_keys(&client, "mylock").await.is_empty());
});

both!(lock_runs_a_command_under_the_lock, |target| async move {
    let node = Node::start(target, &[]).await;
    let client = node.client().await;
    client.clone().put("x", "1", None).await.unwrap();
    // The command sees the lock's key and revision in its environment,
    // and the lock is released when it exits.
    let output = etcdctl(
        &node,
        &[
            "lock",
            "mylock",
            "--",
            "sh",
            "-c",
            "echo \"$ETCD_LOCK_KEY\"; echo \"$ETCD_LOCK_REV\"",
        ],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout:?}");
    assert_contender_key(lines[0], "mylock");
    assert_eq!(lines[1], "3");
    assert!(prefix_keys(&client, "mylock").await.is_empty());
});

both!(
    elect_campaigns_and_listen_follows_the_leader,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let client = node.client().await;
        let mut listener = Background::spawn(&node, &["elect", "--listen", "myelection"]);
        // Nobody campaigns yet; the listener (its session granted) waits.
        listener.assert_silent().await;

        let mut first = Background::spawn(&node, &["elect", "myelection", "p1"]);
        let first_key = first.line().await;
        assert_contender_key(&first_key, "myelection");
        assert_eq!(first.line().await, "p1");
        assert_eq!(listener.line().await, first_key);
        assert_eq!(listener.line().await, "p1");

        let mut second = Background::spawn(&node, &["elect", "myelection", "p2"]);
        wait_for_contenders(&client, "myelection", 2).await;
        second.assert_silent().await;
        listener.assert_silent().await;

        // The leader stops: it resigns, and the next candidate leads.
        assert!(first.terminate().await.success());
        let second_key = second.line().await;
        assert_contender_key(&second_key, "myelection");
        assert_ne!(second_key, first_key);
        assert_eq!(second.line().await, "p2");
        assert_eq!(listener.line().await, second_key);
        assert_eq!(listener.line().await, "p2");

        assert!(second.terminate().await.success());
        assert!(listener.terminate().await.success());
        assert!(prefix_keys(&client, "myelection").await.is_empty());
    }
);

// The Lock service and etcdctl's client-side mutex contend for the same
// names: same key layout, same order.
both!(
    etcdctl_lock_and_the_lock_service_exclude_each_other,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let client = node.client().await;
        let mut held_by_etcdctl = Background::spawn(&node, &["lock", "shared"]);
        let etcdctl_key = held_by_etcdctl.line().await;

        let lease = client.clone().lease_grant(30, None).await.unwrap().id();
        let mut grpc = client.clone();
        let mut grpc_lock = tokio::spawn(async move {
            grpc.lock("shared", Some(LockOptions::new().with_lease(lease)))
                .await
        });
        wait_for_contenders(&client, "shared", 2).await;
        assert!(
            tokio::time::timeout(STILL_WAITING, &mut grpc_lock)
                .await
                .is_err(),
            "the Lock service granted a lock etcdctl holds"
        );
        assert!(held_by_etcdctl.terminate().await.success());
        let locked = tokio::time::timeout(ANSWER, grpc_lock)
            .await
            .expect("the Lock service grants the lock once etcdctl unlocks")
            .unwrap()
            .unwrap();
        let grpc_key = format!("shared/{lease:x}");
        assert_eq!(locked.key(), grpc_key.as_bytes());
        assert_ne!(grpc_key, etcdctl_key);

        let mut waiting = Background::spawn(&node, &["lock", "shared"]);
        wait_for_contenders(&client, "shared", 2).await;
        waiting.assert_silent().await;
        client.clone().unlock(grpc_key).await.unwrap();
        assert_contender_key(&waiting.line().await, "shared");
        assert!(waiting.terminate().await.success());
    }
);

// The Election service and etcdctl's client-side election agree on who
// leads.
both!(
    etcdctl_elect_and_the_election_service_agree,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let lease = client.lease_grant(30, None).await.unwrap().id();
        let won = client.campaign("shared", "grpc", lease).await.unwrap();
        let leader = won.leader().unwrap().clone();

        let mut listener = Background::spawn(&node, &["elect", "-l", "shared"]);
        assert_eq!(listener.line().await, format!("shared/{lease:x}"));
        assert_eq!(listener.line().await, "grpc");

        let mut candidate = Background::spawn(&node, &["elect", "shared", "cli"]);
        wait_for_contenders(&client, "shared", 2).await;
        candidate.assert_silent().await;
        client
            .resign(Some(ResignOptions::new().with_leader(leader)))
            .await
            .unwrap();
        let cli_key = candidate.line().await;
        assert_contender_key(&cli_key, "shared");
        assert_eq!(candidate.line().await, "cli");
        assert_eq!(listener.line().await, cli_key);
        assert_eq!(listener.line().await, "cli");
        let now = client.leader("shared").await.unwrap();
        assert_eq!(now.kv().unwrap().key(), cli_key.as_bytes());

        assert!(candidate.terminate().await.success());
        assert!(listener.terminate().await.success());
    }
);
