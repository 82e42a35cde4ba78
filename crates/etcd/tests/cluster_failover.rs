//! Fail-over of a three-member cluster, against ours and Debian's etcd:
//! the leader is killed with SIGKILL while several clients write.
//!
//! What must hold (issue 4): a new leader is elected within a few election
//! timeouts; writes resume; once the killed member is back, every write that
//! was acknowledged is on every member with the revision it was
//! acknowledged with, and all members' HashKV at the same revision agree.
//! The fail-over time (kill → the two survivors agree on a new leader) and
//! the write gap (kill → first acknowledged write sent after the kill) are
//! printed, with `--heartbeat-interval=50 --election-timeout=500`.
//!
//! The writers are [`Writers`]: each sends through one member and moves on
//! to the next when a write fails, so most writes reach the leader through
//! a follower (forwarded).

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, Writers, ELECTION_MS};

both!(kill_leader_under_writes, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let old_leader = cluster.wait_leader(Duration::from_secs(10)).await;

    let writers = Writers::start(cluster.endpoints(), 4).await;
    writers.wait_acked(50, "50 writes before the kill").await;

    let killed_at = Instant::now();
    cluster.member_mut(old_leader).kill9();
    let acked_at_kill = writers.acked();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != old_leader).collect();
    let new_leader = cluster
        .wait_leader_among(&survivors, Duration::from_secs(15))
        .await;
    let failover = killed_at.elapsed();
    eprintln!(
        "[{target:?}] fail-over: member {new_leader} leads {failover:?} after killing the leader \
         (member {old_leader}); election timeout {ELECTION_MS} ms"
    );
    assert!(
        failover < Duration::from_millis(10 * ELECTION_MS),
        "no new leader within 10 election timeouts ({failover:?})"
    );

    writers
        .wait_acked(acked_at_kill + 50, "50 more writes after the fail-over")
        .await;
    let resumed = {
        writers
            .acks()
            .iter()
            .filter(|a| a.sent > killed_at)
            .map(|a| a.acked)
            .min()
            .expect("a write sent after the kill was acknowledged")
    };
    eprintln!(
        "[{target:?}] writes resumed {:?} after the kill",
        resumed - killed_at
    );

    // The killed member comes back and catches up while writes go on.
    cluster.member_mut(old_leader).restart().await;
    let acked_at_restart = writers.acked();
    writers
        .wait_acked(acked_at_restart + 20, "20 writes after the restart")
        .await;
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "[{target:?}] {} writes acknowledged, {} failed attempts",
        acks.len(),
        failures.len()
    );

    cluster.assert_acks_everywhere(&acks).await;
});
