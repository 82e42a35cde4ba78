//! Crash consistency: concurrent writers put distinct keys while the server
//! is killed with SIGKILL at a random moment; after a restart on the same
//! data dir every acknowledged put must be there with its acknowledged
//! revision, and the revisions 2..=current must each belong to exactly one
//! key (no holes, no duplicates, nothing half-applied).
//!
//! Rounds: `ETCD_RS_CRASH_ROUNDS` (default 3; the soak runs 20+).
//! Replay a failure with the printed `ETCD_RS_SEED`.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Node, Rng};
use etcd_client::GetOptions;
use tokio::sync::Notify;

const WRITERS: usize = 8;
/// A put that hangs this long is treated as unacknowledged.
const PUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writers get to produce the acks the kill waits for.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

fn rounds() -> usize {
    std::env::var("ETCD_RS_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Puts `prefix/NNNNNN` until a put fails; returns the acknowledged
/// (key, revision) pairs. Counts acks and wakes the killer at `kill_after`.
async fn writer(
    mut kv: etcd_client::KvClient,
    prefix: String,
    acks: Arc<AtomicUsize>,
    kill_after: usize,
    kill_now: Arc<Notify>,
) -> Vec<(String, i64)> {
    let mut acked = Vec::new();
    for i in 0.. {
        let key = format!("{prefix}/{i:06}");
        let put = tokio::time::timeout(PUT_TIMEOUT, kv.put(key.as_str(), key.as_str(), None)).await;
        match put {
            Ok(Ok(resp)) => {
                let revision = resp.header().expect("put has a header").revision();
                acked.push((key, revision));
                if acks.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                    kill_now.notify_one();
                }
            }
            // The server is gone (or hung): stop; this put is unacknowledged.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    acked
}

/// Checks the recovered store against every put acknowledged so far.
async fn verify(node: &Node, acked: &BTreeMap<String, i64>, round: usize) {
    let mut client = node.client().await;
    let all = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap_or_else(|e| panic!("round {round}: read after restart: {e}"));
    let current = all.header().unwrap().revision();
    let mut by_key = BTreeMap::new();
    let mut by_revision: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for kv in all.kvs() {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        assert_eq!(
            (kv.version(), kv.create_revision(), kv.value()),
            (1, kv.mod_revision(), kv.key()),
            "round {round}: {key} was written once with its own name as value"
        );
        by_revision
            .entry(kv.mod_revision())
            .or_default()
            .push(key.clone());
        by_key.insert(key, kv.mod_revision());
    }
    for (key, revision) in acked {
        assert_eq!(
            by_key.get(key),
            Some(revision),
            "round {round}: acknowledged put of {key} at revision {revision} was lost"
        );
    }
    let duplicates: Vec<_> = by_revision
        .iter()
        .filter(|(_, keys)| keys.len() > 1)
        .collect();
    assert!(
        duplicates.is_empty(),
        "round {round}: revisions shared: {duplicates:?}"
    );
    let holes: Vec<i64> = (2..=current)
        .filter(|r| !by_revision.contains_key(r))
        .collect();
    assert!(
        holes.is_empty(),
        "round {round}: revisions without a key: {holes:?}"
    );
    assert_eq!(
        by_revision.keys().next_back().copied().unwrap_or(1),
        current,
        "round {round}: header revision is not the newest key's"
    );
    assert!(
        by_revision.keys().all(|r| *r >= 2),
        "round {round}: a key below revision 2"
    );
}

both!(kill9_keeps_acknowledged_writes, |target| async move {
    crash_rounds(target, &[]).await;
});

// With a tiny snapshot count, snapshots are taken and the log behind them is
// purged between and during the kills: recovery must still be exact.
both!(kill9_with_frequent_snapshots, |target| async move {
    crash_rounds(target, &["--snapshot-count=50"]).await;
});

async fn crash_rounds(target: common::Target, args: &[&str]) {
    let mut rng = Rng::from_env();
    let mut node = Node::start(target, args).await;
    let mut acked: BTreeMap<String, i64> = BTreeMap::new();
    for round in 0..rounds() {
        let client = node.client().await;
        let kill_after = rng.range(10, 400) as usize;
        let acks = Arc::new(AtomicUsize::new(0));
        let kill_now = Arc::new(Notify::new());
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(writer(
                    client.kv_client(),
                    format!("round-{round:02}/writer-{w}"),
                    acks.clone(),
                    kill_after,
                    kill_now.clone(),
                ))
            })
            .collect();
        if tokio::time::timeout(ACK_TIMEOUT, kill_now.notified())
            .await
            .is_err()
        {
            panic!(
                "round {round}: only {} of {kill_after} puts acknowledged in {ACK_TIMEOUT:?}",
                acks.load(Ordering::SeqCst)
            );
        }
        node.kill9();
        for handle in writers {
            for (key, revision) in handle.await.expect("writer task") {
                acked.insert(key, revision);
            }
        }
        eprintln!(
            "round {round}: killed after {kill_after} acks, {} acknowledged in total",
            acked.len()
        );
        drop(client);
        node.restart().await;
        verify(&node, &acked, round).await;
    }
}
