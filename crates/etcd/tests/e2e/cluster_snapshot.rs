//! A member that fell behind the leader's purged log catches up from a
//! snapshot streamed by the leader (ours only: what is checked is our
//! transfer, our log lines and our data dir).
//!
//! Three members with `--snapshot-count=100`; one follower is killed; the
//! leader takes more than 5000 + 100 entries, so it purges its log past the
//! follower's position; the follower restarts and must catch up by
//! installing the leader's snapshot: same newest key, same revision and the
//! same HashKV as the leader, and a log saying it applied a snapshot. It
//! must still know who it is after a restart (the installed file came from
//! another member), and then follow new writes from the log as usual.
//!
//! That purging also bounds the WAL on disk is checked where the chunk
//! size can be made small, in `crates/raft/src/log_store.rs`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster::Cluster;
use common::{eventually, Target};
use etcd_client::GetOptions;

/// Entries the leader keeps behind a snapshot (`max_in_snapshot_log_to_keep`).
const KEPT: usize = 5000;
const SNAPSHOT_COUNT: usize = 100;
/// Writes while the follower is down: enough to purge past where it stopped.
const WRITES: usize = KEPT + SNAPSHOT_COUNT + 1500;
/// Concurrent writers, to get the writes done in reasonable time.
const WRITERS: usize = 16;

/// The member's (revision, value of `key`) in a serializable read.
async fn local_get(cluster: &Cluster, i: usize, key: &str) -> Option<(i64, Vec<u8>)> {
    let mut client = cluster.probe_client(i).await?;
    let got = client
        .get(key, Some(GetOptions::new().with_serializable()))
        .await
        .ok()?;
    let value = got.kvs().first().map(|kv| kv.value().to_vec())?;
    Some((common::rev(got.header()), value))
}

/// The highest index a member's log says it purged its Raft log up to.
fn purged_up_to(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("purged raft log entries"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["purged-up-to-index"].as_u64())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_purged_log_catches_up_from_a_snapshot() {
    let snapshot_count = format!("--snapshot-count={SNAPSHOT_COUNT}");
    let mut cluster = Cluster::start(Target::EtcdRs, 3, &[&snapshot_count]).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let follower = (leader + 1) % 3;
    let follower_id = cluster.member_id(follower);

    let mut client = cluster.member(leader).client().await;
    let put = client.put("before", "1", None).await.expect("put");
    cluster
        .wait_revision(
            &[0, 1, 2],
            common::rev(put.header()),
            Duration::from_secs(20),
        )
        .await;

    // Everything up to here is in the follower's log.
    let follower_index = client.status().await.expect("status").raft_index();
    cluster.member_mut(follower).kill9();
    let value = "v".repeat(100);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let mut client = client.clone();
            let next = next.clone();
            let value = value.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= WRITES {
                        return;
                    }
                    client
                        .put(format!("key-{i:05}"), value.clone(), None)
                        .await
                        .unwrap_or_else(|e| panic!("put {i}: {e}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    // A leader purges only log no replication is reading, and a replication
    // to the dead follower may be retrying from its old position when a
    // snapshot is taken; the purge then waits for the next one. Write until
    // the leader says it purged past the follower.
    for round in 0.. {
        if purged_up_to(&cluster.member(leader).log()) > follower_index {
            break;
        }
        assert!(
            round < 50,
            "the leader never purged past index {follower_index}"
        );
        for i in 0..SNAPSHOT_COUNT {
            client
                .put(format!("more-{round}-{i}"), value.clone(), None)
                .await
                .expect("put");
        }
    }
    let last = client.put("newest", "last", None).await.expect("put");
    let revision = common::rev(last.header());

    cluster.member_mut(follower).restart().await;
    eventually(
        Duration::from_secs(60),
        "the follower serves the newest key at the leader's revision",
        || async {
            let (rev, value) = local_get(&cluster, follower, "newest").await?;
            (rev == revision && value == b"last").then_some(())
        },
    )
    .await;
    let log = cluster.member(follower).log();
    assert!(
        log.contains("applied snapshot"),
        "the follower's log does not say it applied a snapshot"
    );
    assert!(
        cluster
            .member(leader)
            .log()
            .contains("sent database snapshot"),
        "the leader's log does not say it sent a snapshot"
    );
    let hashes = cluster.hash_kvs(&[0, 1, 2], revision).await;
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "HashKV at {revision} differs between members: {hashes:?}"
    );
    let (_, early) = local_get(&cluster, follower, "before")
        .await
        .expect("get before");
    assert_eq!(early, b"1");

    // The installed file came from the leader; a restart must still find
    // this member's own identity, and new writes follow from the log.
    cluster.member_mut(follower).restart().await;
    let id = eventually(
        Duration::from_secs(20),
        "the follower answers Status",
        || cluster.status(follower),
    )
    .await
    .0;
    assert_eq!(id, follower_id, "the follower's member id changed");
    let mut client = cluster.member(leader).client().await;
    let after = client.put("after-restart", "2", None).await.expect("put");
    cluster
        .wait_revision(
            &[follower],
            common::rev(after.header()),
            Duration::from_secs(30),
        )
        .await;
    let (_, value) = local_get(&cluster, follower, "after-restart")
        .await
        .expect("get after restart");
    assert_eq!(value, b"2");
}
