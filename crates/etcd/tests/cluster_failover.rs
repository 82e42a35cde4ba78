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
//! Each writer sends through one member and moves on to the next member
//! when a write fails, so writes reach the leader through a follower when
//! the server forwards them, and directly otherwise.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ELECTION_MS};
use common::eventually;
use etcd_client::{Client, ConnectOptions, GetOptions};

const WRITERS: usize = 4;

/// One acknowledged write.
#[derive(Clone, Debug)]
struct Ack {
    key: String,
    value: String,
    revision: i64,
    sent: Instant,
    acked: Instant,
}

/// Writers that run until stopped, recording every acknowledged write.
struct Writers {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    async fn start(endpoints: Vec<String>) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let mut clients = Vec::new();
            for endpoint in &endpoints {
                // A short deadline: a write stuck on a dead or deposed member
                // is retried elsewhere instead of stalling the writer.
                let options = ConnectOptions::new()
                    .with_connect_timeout(Duration::from_secs(1))
                    .with_timeout(Duration::from_secs(3));
                let client = Client::connect([endpoint.clone()], Some(options))
                    .await
                    .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
                clients.push(client);
            }
            let (stop, acks, failures) = (stop.clone(), acks.clone(), failures.clone());
            tasks.push(tokio::spawn(async move {
                let mut via = w % clients.len();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let key = format!("w{w}/{seq:06}");
                    let value = format!("value {w}-{seq}");
                    let sent = Instant::now();
                    match clients[via].put(key.as_str(), value.as_str(), None).await {
                        Ok(put) => {
                            let revision = common::rev(put.header());
                            acks.lock().unwrap().push(Ack {
                                key,
                                value,
                                revision,
                                sent,
                                acked: Instant::now(),
                            });
                        }
                        Err(e) => {
                            failures.lock().unwrap().push(format!("via {via}: {e}"));
                            via = (via + 1) % clients.len();
                            // Paces retries while no leader is known; the
                            // condition is retried, not waited for by time.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        Writers {
            stop,
            acks,
            failures,
            tasks,
        }
    }

    fn acked(&self) -> usize {
        self.acks.lock().unwrap().len()
    }

    async fn wait_acked(&self, count: usize, what: &str) {
        eventually(Duration::from_secs(20), what, || async {
            (self.acked() >= count).then_some(())
        })
        .await;
    }

    async fn stop(self) -> (Vec<Ack>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("writer task");
        }
        let acks = self.acks.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acks, failures)
    }
}

both!(kill_leader_under_writes, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let old_leader = cluster.wait_leader(Duration::from_secs(10)).await;

    let writers = Writers::start(cluster.endpoints()).await;
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
        let acks = writers.acks.lock().unwrap();
        acks.iter()
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

    // One last write fixes the revision every member must reach.
    let leader = cluster.wait_leader(Duration::from_secs(15)).await;
    let mut client = cluster.member(leader).client().await;
    let last = client.put("last", "write", None).await.expect("last put");
    let revision = common::rev(last.header());
    cluster
        .wait_revision(&[0, 1, 2], revision, Duration::from_secs(20))
        .await;

    for i in 0..3 {
        let mut client = cluster.member(i).client().await;
        let options = GetOptions::new().with_prefix().with_serializable();
        let got = client.get("w", Some(options)).await.expect("range w*");
        let stored: std::collections::HashMap<&[u8], (&[u8], i64)> = got
            .kvs()
            .iter()
            .map(|kv| (kv.key(), (kv.value(), kv.mod_revision())))
            .collect();
        for ack in &acks {
            assert_eq!(
                stored.get(ack.key.as_bytes()),
                Some(&(ack.value.as_bytes(), ack.revision)),
                "member {i} lost or changed the acknowledged write {ack:?}"
            );
        }
    }
    let hashes = cluster.hash_kvs(&[0, 1, 2], revision).await;
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "HashKV at revision {revision} differs between members: {hashes:?}"
    );
});
