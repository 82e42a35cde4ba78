//! Network partitions of a three-member cluster of ours, made with the
//! fault-injectable peer transport (`ETCD_RS_PEER_FAULTS_FILE`, see
//! `crates/raft/src/faults.rs`; Debian's etcd has no such hook, so these
//! run against ours only).
//!
//! - A follower cut off: on it, writes and linearizable reads fail (a
//!   linearizable read never returns the value the majority overwrote after
//!   the cut), serializable reads still answer from its own, possibly stale,
//!   state; the majority keeps serving writes; after healing the member
//!   catches up (its serializable read sees the newest value, HashKV equal).
//! - The leader cut off: the majority elects a new leader; the old leader
//!   refuses writes and linearizable reads; after healing it follows the new
//!   leader and catches up. And, as etcd's check-quorum does, it steps down
//!   (its Status stops naming itself leader) within a few election timeouts.
//! - Partitions that come and go under concurrent writes (the leader or a
//!   follower cut off, in turn): writes continue on the majority each time,
//!   and afterwards no acknowledged write is missing anywhere and HashKV
//!   agrees on all members.

use crate::common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, Writers, ELECTION_MS};
use common::{eventually, Rng, Target};
use etcd_client::{Client, ConnectOptions, GetOptions};

/// A client of member `i` with a deadline short enough that a request a
/// cut-off member cannot answer fails in reasonable time.
async fn short_client(cluster: &Cluster, i: usize) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(4));
    let endpoint = cluster.member(i).endpoint();
    Client::connect([endpoint.clone()], Some(options))
        .await
        .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"))
}

/// The value of `key` in a read on member `i`.
async fn read(
    cluster: &Cluster,
    i: usize,
    key: &str,
    serializable: bool,
) -> Result<Option<String>, etcd_client::Error> {
    let mut client = short_client(cluster, i).await;
    let options = serializable.then(|| GetOptions::new().with_serializable());
    let got = client.get(key, options).await?;
    Ok(got
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
}

/// Puts through any of `members`, trying each in turn until one
/// acknowledges; the revision.
async fn put_on(cluster: &Cluster, members: &[usize], key: &str, value: &str) -> i64 {
    let what = format!("put {key}={value} through members {members:?}");
    eventually(Duration::from_secs(15), &what, || async {
        for &i in members {
            let mut client = short_client(cluster, i).await;
            if let Ok(put) = client.put(key, value, None).await {
                return Some(common::rev(put.header()));
            }
        }
        None
    })
    .await
}

/// After healing: one leader for all, member `i` sees `value` for `key` in
/// a serializable read, and HashKV agrees everywhere.
async fn assert_caught_up(cluster: &mut Cluster, i: usize, key: &str, value: &str) {
    cluster.wait_leader(Duration::from_secs(15)).await;
    let what = format!("member {i} reads {key}={value} after healing");
    eventually(Duration::from_secs(15), &what, || async {
        let got = read(cluster, i, key, true).await.ok()??;
        (got == value).then_some(())
    })
    .await;
    let revision = put_on(cluster, &[0, 1, 2], "after-heal", "x").await;
    cluster
        .wait_revision(&[0, 1, 2], revision, Duration::from_secs(15))
        .await;
    let hashes = cluster.hash_kvs(&[0, 1, 2], revision).await;
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "HashKV at revision {revision} differs after healing: {hashes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_cut_off_refuses_writes_and_linearizable_reads() {
    let mut cluster = Cluster::start(Target::EtcdRs, 3, &[]).await;
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    let cut = (leader + 1) % 3;
    let majority: Vec<usize> = (0..3).filter(|i| *i != cut).collect();

    let before = put_on(&cluster, &[leader], "k", "before the cut").await;
    cluster
        .wait_revision(&[0, 1, 2], before, Duration::from_secs(10))
        .await;

    cluster.partition(&[cut]);
    // The majority serves writes; "k" changes after the cut.
    put_on(&cluster, &majority, "k", "after the cut").await;
    for n in 0..10 {
        put_on(&cluster, &majority, &format!("majority/{n}"), "v").await;
    }

    // The cut-off member refuses writes...
    let mut client = short_client(&cluster, cut).await;
    let put = client.put("minority-write", "v", None).await;
    assert!(
        put.is_err(),
        "a write on the cut-off member succeeded: {put:?}"
    );
    // ...and linearizable reads: it cannot know "after the cut", and must
    // not answer with what it has.
    let linearizable = read(&cluster, cut, "k", false).await;
    assert!(
        linearizable.is_err(),
        "a linearizable read on the cut-off member answered {linearizable:?}"
    );
    eprintln!(
        "on the cut-off member: put -> {:?}; linearizable get -> {:?}",
        put.err(),
        linearizable.err()
    );
    // Serializable reads answer from its own state (stale is allowed).
    let serializable = read(&cluster, cut, "k", true)
        .await
        .expect("serializable read on the cut-off member");
    assert!(
        matches!(
            serializable.as_deref(),
            Some("before the cut" | "after the cut")
        ),
        "serializable read on the cut-off member: {serializable:?}"
    );
    // The majority kept its leader (pre-vote: the cut-off member cannot
    // disrupt it from outside).
    assert_eq!(
        cluster.agreed_leader(&majority).await,
        Some(leader),
        "the majority's leader changed"
    );

    cluster.heal();
    put_on(&cluster, &majority, "k", "newest").await;
    assert_caught_up(&mut cluster, cut, "k", "newest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_cut_off_majority_elects_old_leader_refuses() {
    let mut cluster = Cluster::start(Target::EtcdRs, 3, &[]).await;
    let old = cluster.wait_leader(Duration::from_secs(10)).await;
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let before = put_on(&cluster, &[old], "k", "before the cut").await;
    cluster
        .wait_revision(&[0, 1, 2], before, Duration::from_secs(10))
        .await;

    let cut_at = Instant::now();
    cluster.partition(&[old]);
    let new = cluster
        .wait_leader_among(&majority, Duration::from_secs(15))
        .await;
    eprintln!(
        "new leader (member {new}) {:?} after cutting off the leader (member {old}); \
         election timeout {ELECTION_MS} ms",
        cut_at.elapsed()
    );
    put_on(&cluster, &majority, "k", "after the cut").await;

    // It serves no linearizable read (it would be stale) and no write.
    let linearizable = read(&cluster, old, "k", false).await;
    assert!(
        linearizable.is_err(),
        "a linearizable read on the deposed leader answered {linearizable:?}"
    );
    let mut client = short_client(&cluster, old).await;
    let put = client.put("minority-write", "v", None).await;
    assert!(
        put.is_err(),
        "a write on the deposed leader succeeded: {put:?}"
    );
    let serializable = read(&cluster, old, "k", true)
        .await
        .expect("serializable read on the deposed leader");
    assert_eq!(serializable.as_deref(), Some("before the cut"));

    cluster.heal();
    put_on(&cluster, &majority, "k", "newest").await;
    assert_caught_up(&mut cluster, old, "k", "newest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_leader_steps_down() {
    let mut cluster = Cluster::start(Target::EtcdRs, 3, &[]).await;
    let old = cluster.wait_leader(Duration::from_secs(10)).await;
    let cut_at = Instant::now();
    cluster.partition(&[old]);
    // Check-quorum: without a quorum the old leader stops calling itself
    // leader.
    eventually(
        Duration::from_millis(10 * ELECTION_MS),
        "the cut-off leader steps down",
        || async {
            let (_, leader) = cluster.status(old).await?;
            // Like etcd's pre-candidate, it names no leader at all.
            (leader == 0).then_some(())
        },
    )
    .await;
    eprintln!(
        "old leader stepped down {:?} after the cut",
        cut_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_come_and_go_under_writes() {
    let mut cluster = Cluster::start(Target::EtcdRs, 3, &[]).await;
    cluster.wait_leader(Duration::from_secs(10)).await;
    let writers = Writers::start(cluster.endpoints(), 3).await;
    writers
        .wait_acked(30, "30 writes before the first cut")
        .await;

    let mut rng = Rng::from_env();
    for round in 0..4 {
        let leader = cluster.wait_leader(Duration::from_secs(15)).await;
        // Even rounds cut the leader off, odd rounds a follower.
        let victim = if round % 2 == 0 {
            leader
        } else {
            (leader + 1 + rng.range(0, 1) as usize) % 3
        };
        let majority: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
        let cut_at = Instant::now();
        cluster.partition(&[victim]);
        let led_by = cluster
            .wait_leader_among(&majority, Duration::from_secs(15))
            .await;
        let acked = writers.acked();
        writers
            .wait_acked(acked + 20, "20 writes on the majority side")
            .await;
        eprintln!(
            "round {round}: cut off member {victim} (leader was {leader}); the majority is led \
             by {led_by}; 20 more writes {:?} after the cut",
            cut_at.elapsed()
        );
        cluster.heal();
    }
    cluster.wait_leader(Duration::from_secs(15)).await;
    let acked = writers.acked();
    writers
        .wait_acked(acked + 20, "20 writes after the last heal")
        .await;
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "{} writes acknowledged, {} failed attempts",
        acks.len(),
        failures.len()
    );
    cluster.assert_acks_everywhere(&acks).await;
}
