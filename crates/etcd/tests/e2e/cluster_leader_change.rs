//! What clients see across a leader change, against ours and Debian's etcd
//! (every test runs on both; none needs fault injection):
//!
//! - Watches: on every member, one watcher from an old revision and one
//!   live watcher, while writers write through all members and the leader
//!   is killed with SIGKILL (then restarted), or moved with MoveLeader.
//!   A watcher on a surviving member sees every revision exactly once, in
//!   order, with no gap, and each acknowledged write as it was
//!   acknowledged. A watcher on the killed member's endpoint gets an error
//!   or the end of its stream; resumed on another member from the revision
//!   after the last it saw, it gets the rest without a gap; the restarted
//!   member replays the whole history the same way.
//! - Leases: a lease granted through a follower and kept alive through
//!   another endpoint (the leader's, then a survivor's once the leader is
//!   killed) does not expire while kept alive; once no longer kept alive it
//!   expires within TTL + a few election timeouts, revoked by the new leader
//!   (its keys' deletes reach watchers in one revision); leases granted
//!   before the change are listed by `etcdctl lease list` on every member.
//! - Five members: with the leader and one follower killed, the other three
//!   elect a leader and serve writes and linearizable reads; restarted, the
//!   two catch up (same HashKV at the same revision on all five).
//!
//! - A leader stopped gracefully (SIGTERM) hands the leadership over first.
//!
//! Fail-over times are printed (`--heartbeat-interval=50
//! --election-timeout=500`, the harness's defaults).

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Writers, ELECTION_MS, WRITERS_PREFIX};
use common::{assert_output_ok, etcdctl_command, eventually, rev, Target};
use etcd_client::{
    Client, ConnectOptions, EventType, GetOptions, LeaseTimeToLiveOptions, PutOptions, WatchOptions,
};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How long one call of a test's own client may take before it counts as
/// failed (a member that is down or has no leader).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// A new leader must be agreed within this many election timeouts.
const FAILOVER_ELECTIONS: u64 = 10;

/// One event a watcher received.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    revision: i64,
    key: String,
    value: String,
    delete: bool,
}

/// A watcher on one member's endpoint; its events are collected in the
/// background until the stream ends (dropped: the task is aborted).
struct WatchLog {
    name: String,
    /// The first revision this watch may report.
    start: i64,
    events: Arc<Mutex<Vec<Seen>>>,
    /// Why the stream ended, once it did.
    ended: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl WatchLog {
    /// Watches `prefix` on `endpoint` from `start_revision`, or from now
    /// (the revision after the one the created response reports).
    async fn open(name: &str, endpoint: &str, prefix: &str, start_revision: Option<i64>) -> Self {
        // No request deadline: it would also bound the stream.
        let options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(5));
        let mut client = Client::connect([endpoint.to_string()], Some(options))
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to {endpoint}: {e}"));
        let mut watch = WatchOptions::new().with_prefix();
        if let Some(revision) = start_revision {
            watch = watch.with_start_revision(revision);
        }
        let mut stream = timeout(Duration::from_secs(10), client.watch(prefix, Some(watch)))
            .await
            .unwrap_or_else(|_| panic!("{name}: Watch on {endpoint} timed out"))
            .unwrap_or_else(|e| panic!("{name}: Watch on {endpoint}: {e}"));
        let created = timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("{name}: no created response"))
            .unwrap_or_else(|e| panic!("{name}: created response: {e}"))
            .unwrap_or_else(|| panic!("{name}: stream ended before the created response"));
        assert!(created.created(), "{name}: first response {created:?}");
        let start = start_revision.unwrap_or_else(|| rev(created.header()) + 1);
        let events = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let (events_w, ended_w) = (events.clone(), ended.clone());
        let task = tokio::spawn(async move {
            // The client lives as long as its stream.
            let _client = client;
            let why = loop {
                match stream.message().await {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            break format!("canceled: {:?}", resp.cancel_reason());
                        }
                        let mut events = events_w.lock().unwrap();
                        for event in resp.events() {
                            let Some(kv) = event.kv() else { continue };
                            events.push(Seen {
                                revision: kv.mod_revision(),
                                key: String::from_utf8_lossy(kv.key()).into_owned(),
                                value: String::from_utf8_lossy(kv.value()).into_owned(),
                                delete: event.event_type() == EventType::Delete,
                            });
                        }
                    }
                    Ok(None) => break "stream ended".to_string(),
                    Err(e) => break format!("error: {e}"),
                }
            };
            *ended_w.lock().unwrap() = Some(why);
        });
        WatchLog {
            name: name.to_string(),
            start,
            events,
            ended,
            task,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap().clone()
    }

    fn last_revision(&self) -> Option<i64> {
        self.events.lock().unwrap().last().map(|s| s.revision)
    }

    /// Waits until an event at `revision` or later arrived.
    async fn wait_revision(&self, revision: i64, within: Duration) {
        let what = format!("{} sees revision {revision}", self.name);
        eventually(within, &what, || async {
            if let Some(why) = self.ended() {
                panic!("{}: stream ended early ({why})", self.name);
            }
            (self.last_revision()? >= revision).then_some(())
        })
        .await;
    }

    /// Waits until the stream ended; why.
    async fn wait_ended(&self, within: Duration) -> String {
        let what = format!("{} ends (its member was killed)", self.name);
        eventually(within, &what, || async { self.ended() }).await
    }
}

impl Drop for WatchLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A write whose revision is known: (key, value, revision).
type Written = (String, String, i64);

/// Asserts `seen` (cut at `through`) holds exactly one event for each
/// revision `from..=through`, in order — nothing else writes in these tests,
/// so a missing revision is a lost event — and that every write in
/// `expected` from `from` on is there as it was acknowledged.
fn assert_gapless(what: &str, seen: &[Seen], from: i64, through: i64, expected: &[Written]) {
    let seen: Vec<&Seen> = seen.iter().filter(|s| s.revision <= through).collect();
    let mut want = from;
    for s in &seen {
        assert_eq!(
            s.revision,
            want,
            "{what}: after revision {} came {s:?} (expected revision {want}; \
             {} events from {from} to {through})",
            want - 1,
            seen.len()
        );
        assert!(!s.delete, "{what}: unexpected delete {s:?}");
        want += 1;
    }
    assert_eq!(
        want - 1,
        through,
        "{what}: events stop at revision {} (expected through {through})",
        want - 1
    );
    for (key, value, revision) in expected.iter().filter(|w| w.2 >= from) {
        let s = seen[(revision - from) as usize];
        assert_eq!(
            (&s.key, &s.value),
            (key, value),
            "{what}: the event at revision {revision} is not the acknowledged write"
        );
    }
}

/// How the leadership changes in a watch test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    /// SIGKILL the leader, later restart it.
    Kill,
    /// MoveLeader to a follower; every member keeps running.
    Move,
}

async fn watches_across_leader_change(target: Target, change: Change) {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let old_leader = cluster.wait_leader(LEADER_WAIT).await;

    // History written before any watcher exists.
    let mut expected: Vec<Written> = Vec::new();
    let mut client = cluster.member(old_leader).client().await;
    for i in 0..10 {
        let (key, value) = (format!("{WRITERS_PREFIX}history/{i}"), format!("h{i}"));
        let put = client.put(key.as_str(), value.as_str(), None).await;
        let revision = rev(put.expect("history put").header());
        expected.push((key, value, revision));
    }
    let history_start = expected[0].2;
    // A live watcher starts at its member's applied revision: wait until
    // the followers applied the history too (the leader acknowledged it).
    cluster
        .wait_revision(&[0, 1, 2], expected[9].2, LEADER_WAIT)
        .await;

    // On every member: one watcher replaying from the first history write,
    // one from now.
    let mut watchers: Vec<(usize, WatchLog)> = Vec::new();
    for i in 0..3 {
        let endpoint = cluster.member(i).endpoint();
        let name = format!("[{target:?}] member {i}'s watcher from revision {history_start}");
        let old = WatchLog::open(&name, &endpoint, WRITERS_PREFIX, Some(history_start)).await;
        let name = format!("[{target:?}] member {i}'s live watcher");
        let live = WatchLog::open(&name, &endpoint, WRITERS_PREFIX, None).await;
        assert_eq!(live.start, expected[9].2 + 1, "{name} starts now");
        watchers.push((i, old));
        watchers.push((i, live));
    }

    let writers = Writers::start(cluster.endpoints(), 4).await;
    writers.wait_acked(50, "50 writes before the change").await;

    let changed_at = Instant::now();
    let acked_at_change = writers.acked();
    let new_leader = match change {
        Change::Kill => {
            cluster.member_mut(old_leader).kill9();
            let survivors: Vec<usize> = (0..3).filter(|i| *i != old_leader).collect();
            cluster.wait_leader_among(&survivors, LEADER_WAIT).await
        }
        Change::Move => {
            let to = (old_leader + 1) % 3;
            let mut on_leader = cluster.member(old_leader).client().await;
            on_leader
                .move_leader(cluster.member_id(to))
                .await
                .expect("move-leader");
            let now = cluster.wait_leader(LEADER_WAIT).await;
            assert_eq!(now, to, "the leadership moved to member {to}");
            now
        }
    };
    let failover = changed_at.elapsed();
    eprintln!(
        "[{target:?}] watch test ({change:?}): member {new_leader} leads {failover:?} after the \
         change (old leader member {old_leader}); election timeout {ELECTION_MS} ms"
    );
    assert!(failover < Duration::from_millis(FAILOVER_ELECTIONS * ELECTION_MS));

    // The watchers on the killed member: their streams end; each resumes
    // on a survivor from the revision after the last one it saw.
    let mut resumed: Vec<(WatchLog, WatchLog)> = Vec::new();
    if change == Change::Kill {
        let (dead, alive): (Vec<_>, Vec<_>) =
            watchers.into_iter().partition(|(i, _)| *i == old_leader);
        watchers = alive;
        for (_, before) in dead {
            let why = before.wait_ended(Duration::from_secs(15)).await;
            let from = before.last_revision().map_or(before.start, |r| r + 1);
            eprintln!(
                "{}: {why}; resumed on member {new_leader} from revision {from}",
                before.name
            );
            let name = format!("{} (resumed)", before.name);
            let endpoint = cluster.member(new_leader).endpoint();
            let after = WatchLog::open(&name, &endpoint, WRITERS_PREFIX, Some(from)).await;
            resumed.push((before, after));
        }
    }

    writers
        .wait_acked(acked_at_change + 50, "50 more writes after the change")
        .await;
    if change == Change::Kill {
        cluster.member_mut(old_leader).restart().await;
        let acked_at_restart = writers.acked();
        writers
            .wait_acked(acked_at_restart + 20, "20 writes after the restart")
            .await;
    }
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "[{target:?}] {} writes acknowledged, {} failed attempts",
        acks.len(),
        failures.len()
    );
    expected.extend(
        acks.iter()
            .map(|a| (a.key.clone(), a.value.clone(), a.revision)),
    );

    // One last write fixes the revision every watcher must reach.
    let leader = cluster.wait_leader(LEADER_WAIT).await;
    let mut client = cluster.member(leader).client().await;
    let done = client
        .put(format!("{WRITERS_PREFIX}~done"), "", None)
        .await
        .expect("last put");
    let through = rev(done.header());

    for (_, watcher) in &watchers {
        watcher
            .wait_revision(through, Duration::from_secs(20))
            .await;
        assert_eq!(watcher.ended(), None, "{}", watcher.name);
        let seen = watcher.seen();
        assert_gapless(&watcher.name, &seen, watcher.start, through, &expected);
    }
    for (before, after) in &resumed {
        after.wait_revision(through, Duration::from_secs(20)).await;
        let mut seen = before.seen();
        seen.extend(after.seen());
        assert_gapless(&after.name, &seen, before.start, through, &expected);
    }
    if change == Change::Kill {
        // The restarted member replays the whole history too.
        let name = format!("[{target:?}] restarted member {old_leader}'s watcher");
        let endpoint = cluster.member(old_leader).endpoint();
        let watcher = WatchLog::open(&name, &endpoint, WRITERS_PREFIX, Some(history_start)).await;
        watcher
            .wait_revision(through, Duration::from_secs(20))
            .await;
        assert_gapless(&name, &watcher.seen(), history_start, through, &expected);
    }
    cluster.assert_acks_everywhere(&acks).await;
}

both!(watches_survive_killing_the_leader, |target| async move {
    watches_across_leader_change(target, Change::Kill).await;
});

both!(watches_survive_moving_the_leader, |target| async move {
    watches_across_leader_change(target, Change::Move).await;
});

/// The raft term member `i` reports.
async fn term_of(cluster: &Cluster, i: usize) -> u64 {
    let mut client = cluster.probe_client(i).await.expect("member answers");
    let status = client.status().await.expect("Status");
    status.header().expect("header").raft_term()
}

// A leader stopped with SIGTERM hands the leadership over before it exits,
// as etcd's Stop does: its log names the transferee, one of the others, and
// the others lead on with it after exactly one election (the transferee's),
// not one of their own after an election timeout.
both!(
    graceful_stop_hands_the_leadership_over,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        let leader = cluster.wait_leader(LEADER_WAIT).await;
        let term_before = term_of(&cluster, leader).await;
        cluster.member_mut(leader).terminate().await;
        let log = cluster.member(leader).log();
        let finished: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|json| json["msg"] == "leadership transfer finished")
            .collect();
        assert_eq!(
            finished.len(),
            1,
            "[{target:?}] the stopped leader's log:\n{log}"
        );
        let named = finished[0]["new-leader-member-id"]
            .as_str()
            .unwrap_or_default();
        let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        let transferee = others
            .iter()
            .copied()
            .find(|&i| format!("{:x}", cluster.member_id(i)) == named)
            .unwrap_or_else(|| panic!("[{target:?}] transferee {named} is not one of {others:?}"));
        let agreed = cluster.wait_leader_among(&others, LEADER_WAIT).await;
        assert_eq!(
            agreed, transferee,
            "[{target:?}] the others follow the transferee"
        );
        assert_eq!(
            term_of(&cluster, agreed).await,
            term_before + 1,
            "[{target:?}] one election"
        );
    }
);

/// One keep-alive the server answered.
#[derive(Clone, Debug)]
struct KeptAlive {
    sent: Instant,
    acked: Instant,
    via: usize,
}

/// Keeps a lease alive in the background every `interval`, through one
/// endpoint after another: when a call fails or hangs (member down, no
/// leader yet) it reconnects to the next endpoint, as a client with several
/// endpoints does.
struct Keeper {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<KeptAlive>>>,
    failures: Arc<Mutex<Vec<String>>>,
    /// Set when the server said the lease is gone (TTL ≤ 0).
    expired: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Keeper {
    fn start(id: i64, endpoints: Vec<String>, interval: Duration) -> Keeper {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let expired = Arc::new(Mutex::new(None));
        let (stop_r, answers_w, failures_w, expired_w) = (
            stop.clone(),
            answers.clone(),
            failures.clone(),
            expired.clone(),
        );
        let task = tokio::spawn(async move {
            let fail = |via: usize, what: String| {
                failures_w
                    .lock()
                    .unwrap()
                    .push(format!("via {via}: {what}"));
            };
            let mut via = 0;
            'connect: while !stop_r.load(Ordering::Relaxed) {
                let options = ConnectOptions::new().with_connect_timeout(CALL_TIMEOUT);
                let endpoint = endpoints[via].clone();
                let sent = Instant::now();
                let opened = match Client::connect([endpoint], Some(options)).await {
                    Ok(mut client) => timeout(CALL_TIMEOUT, async move {
                        let opened = client.lease_keep_alive(id).await;
                        (client, opened)
                    })
                    .await
                    .map_err(|_| "keep-alive open timed out".to_string()),
                    Err(e) => Err(format!("connect: {e}")),
                };
                let (_client, mut keeper, mut stream) = match opened {
                    Ok((client, Ok((keeper, stream)))) => (client, keeper, stream),
                    // etcd-client's word for a first answer with TTL ≤ 0.
                    Ok((_, Err(etcd_client::Error::LeaseKeepAliveError(m))))
                        if m == "lease not found" =>
                    {
                        *expired_w.lock().unwrap() = Some(format!("via {via}: {m}"));
                        return;
                    }
                    Ok((_, Err(e))) => {
                        fail(via, format!("open: {e}"));
                        via = (via + 1) % endpoints.len();
                        // Paces reconnects while no leader is known.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    Err(e) => {
                        fail(via, e);
                        via = (via + 1) % endpoints.len();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Opening sent the first keep-alive and took its answer.
                answers_w.lock().unwrap().push(KeptAlive {
                    sent,
                    acked: Instant::now(),
                    via,
                });
                loop {
                    // The keep-alive period, as etcdctl's TTL/3.
                    tokio::time::sleep(interval).await;
                    if stop_r.load(Ordering::Relaxed) {
                        return;
                    }
                    let sent = Instant::now();
                    let answer = timeout(CALL_TIMEOUT, async {
                        keeper.keep_alive().await?;
                        stream.message().await
                    })
                    .await;
                    match answer {
                        Ok(Ok(Some(resp))) if resp.ttl() > 0 => {
                            answers_w.lock().unwrap().push(KeptAlive {
                                sent,
                                acked: Instant::now(),
                                via,
                            });
                            continue;
                        }
                        Ok(Ok(Some(resp))) => {
                            *expired_w.lock().unwrap() =
                                Some(format!("via {via}: TTL {}", resp.ttl()));
                            return;
                        }
                        Ok(Ok(None)) => fail(via, "stream ended".to_string()),
                        Ok(Err(e)) => fail(via, format!("keep-alive: {e}")),
                        Err(_) => fail(via, "keep-alive timed out".to_string()),
                    }
                    via = (via + 1) % endpoints.len();
                    continue 'connect;
                }
            }
        });
        Keeper {
            stop,
            answers,
            failures,
            expired,
            task,
        }
    }

    fn answers(&self) -> Vec<KeptAlive> {
        self.answers.lock().unwrap().clone()
    }

    fn expired(&self) -> Option<String> {
        self.expired.lock().unwrap().clone()
    }

    /// Waits until a keep-alive sent after `after` was answered; that one.
    async fn wait_answer_after(&self, after: Instant, within: Duration) -> KeptAlive {
        eventually(within, "a keep-alive answered", || async {
            if let Some(why) = self.expired() {
                panic!("the lease expired while kept alive ({why})");
            }
            self.answers().into_iter().find(|a| a.sent > after)
        })
        .await
    }

    /// Stops keeping alive; the last answered keep-alive and the failures.
    async fn stop(self) -> (KeptAlive, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let last_answers = self.answers.clone();
        let _ = self.task.await;
        let last = last_answers.lock().unwrap().last().cloned();
        let last = last.expect("a keep-alive");
        let failures = self.failures.lock().unwrap().clone();
        (last, failures)
    }
}

/// The lease ids `etcdctl lease list` prints on `endpoint`.
async fn etcdctl_lease_list(endpoint: &str) -> HashSet<i64> {
    let out = etcdctl_command(endpoint)
        .args(["--command-timeout=10s", "lease", "list"])
        .output()
        .await
        .expect("run etcdctl");
    assert_output_ok(&["lease", "list"], &out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|line| {
            u64::from_str_radix(line.trim(), 16).unwrap_or_else(|_| panic!("lease id {line:?}"))
                as i64
        })
        .collect()
}

/// Waits until `etcdctl lease list` on `endpoint` lists `present` and none
/// of `absent`.
async fn wait_lease_list(endpoint: &str, present: &[i64], absent: &[i64], what: &str) {
    eventually(Duration::from_secs(15), what, || async {
        let listed = etcdctl_lease_list(endpoint).await;
        (present.iter().all(|id| listed.contains(id))
            && !absent.iter().any(|id| listed.contains(id)))
        .then_some(())
    })
    .await;
}

both!(leases_across_leader_change, |target| async move {
    const TTL: i64 = 5;
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(LEADER_WAIT).await;
    let granter = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let survivors = [granter, other];

    // Lease A (short, kept alive) and lease B (long), granted through a
    // follower, with keys.
    let mut on_granter = cluster.member(granter).client().await;
    let a = on_granter.lease_grant(TTL, None).await.expect("grant A");
    assert_eq!(a.ttl(), TTL);
    let a = a.id();
    let b = on_granter
        .lease_grant(60, None)
        .await
        .expect("grant B")
        .id();
    let mut last_put = 0;
    for (key, lease) in [("lease/a1", a), ("lease/a2", a), ("lease/b1", b)] {
        let options = PutOptions::new().with_lease(lease);
        let put = on_granter.put(key, "v", Some(options)).await;
        let put = put.unwrap_or_else(|e| panic!("put {key}: {e}"));
        last_put = put.header().expect("a header").revision();
    }
    // From just after the puts: a follower that has not applied them yet
    // when its watch begins would otherwise report them as new.
    let mut watchers = Vec::new();
    for i in survivors {
        let name = format!("[{target:?}] member {i}'s lease watcher");
        let endpoint = cluster.member(i).endpoint();
        watchers.push(WatchLog::open(&name, &endpoint, "lease/", Some(last_put + 1)).await);
    }

    // Kept alive through the leader's endpoint, then (once that fails) the
    // other follower's: never through the member that granted it.
    let endpoints = vec![
        cluster.member(leader).endpoint(),
        cluster.member(other).endpoint(),
    ];
    let keeper = Keeper::start(a, endpoints, Duration::from_millis(1000));
    let started = Instant::now();
    keeper.wait_answer_after(started, LEADER_WAIT).await;

    let killed_at = Instant::now();
    cluster.member_mut(leader).kill9();
    let new_leader = cluster.wait_leader_among(&survivors, LEADER_WAIT).await;
    let failover = killed_at.elapsed();
    let first = keeper
        .wait_answer_after(killed_at, Duration::from_secs(20))
        .await;
    eprintln!(
        "[{target:?}] lease test: member {new_leader} leads {failover:?} after killing the \
         leader (member {leader}); keep-alives answered again {:?} after the kill (via \
         endpoint {})",
        first.acked - killed_at,
        first.via
    );
    assert!(failover < Duration::from_millis(FAILOVER_ELECTIONS * ELECTION_MS));

    // Kept alive for more than a TTL under the new leader: the lease lives.
    let hold_until = Instant::now() + Duration::from_secs(TTL as u64 + 1);
    keeper
        .wait_answer_after(hold_until, Duration::from_secs(TTL as u64 + 15))
        .await;
    for i in survivors {
        let mut client = cluster.member(i).client().await;
        let got = client
            .get("lease/", Some(GetOptions::new().with_prefix()))
            .await
            .expect("get lease keys");
        assert_eq!(
            common::keys(got.kvs()),
            ["lease/a1", "lease/a2", "lease/b1"]
        );
        let options = LeaseTimeToLiveOptions::new().with_keys();
        let ttl = client
            .lease_time_to_live(a, Some(options))
            .await
            .expect("time to live");
        assert!(
            ttl.ttl() > 0 && ttl.ttl() <= TTL,
            "lease A on member {i}: {ttl:?}"
        );
        let endpoint = cluster.member(i).client_url();
        let what = format!("member {i} lists leases A and B");
        wait_lease_list(&endpoint, &[a, b], &[], &what).await;
    }
    for w in &watchers {
        assert_eq!(w.seen(), [], "{}: nothing deleted while kept alive", w.name);
    }

    assert_eq!(keeper.expired(), None, "lease A expired while kept alive");

    // No more keep-alives: the new leader lets it expire.
    let (last, failures) = keeper.stop().await;
    eprintln!(
        "[{target:?}] keep-alive failures around the fail-over: {}",
        failures.len()
    );
    for w in &watchers {
        let what = format!("{} sees lease A's keys deleted", w.name);
        let deletes = eventually(Duration::from_secs(TTL as u64 + 15), &what, || async {
            let seen = w.seen();
            (seen.len() >= 2).then_some(seen)
        })
        .await;
        let expired_after = last.sent.elapsed();
        assert!(
            expired_after >= Duration::from_secs(TTL as u64),
            "{}: lease A expired {expired_after:?} after its last keep-alive, before its TTL",
            w.name
        );
        eprintln!(
            "{}: lease A's keys deleted at revision {} at most {expired_after:?} \
             after the last keep-alive (TTL {TTL} s)",
            w.name, deletes[0].revision
        );
        assert_eq!(deletes.len(), 2, "{}: {deletes:?}", w.name);
        let keys: HashSet<&str> = deletes.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, HashSet::from(["lease/a1", "lease/a2"]));
        assert!(deletes.iter().all(|s| s.delete), "{deletes:?}");
        assert_eq!(
            deletes[0].revision, deletes[1].revision,
            "{}: an expired lease's keys go in one revision",
            w.name
        );
        let bound = Duration::from_secs(TTL as u64) + Duration::from_millis(6 * ELECTION_MS);
        assert!(
            expired_after < bound,
            "{}: lease A expired {expired_after:?} after its last keep-alive",
            w.name
        );
    }
    // Revoked by the new leader: the old one has stayed down all along,
    // and the leadership did not move again.
    let leader_now = cluster.wait_leader_among(&survivors, LEADER_WAIT).await;
    assert_eq!(leader_now, new_leader, "the leader changed again");
    let mut on_new = cluster.member(new_leader).client().await;
    let gone = on_new.lease_time_to_live(a, None).await.expect("ttl of A");
    assert_eq!(gone.ttl(), -1, "lease A is gone");

    // The killed member comes back and agrees; every member still lists B.
    cluster.member_mut(leader).restart().await;
    let mut on_restarted = cluster.member(leader).client().await;
    let got = on_restarted
        .get("lease/", Some(GetOptions::new().with_prefix()))
        .await
        .expect("linearizable get on the restarted member");
    assert_eq!(common::keys(got.kvs()), ["lease/b1"]);
    for i in 0..3 {
        let endpoint = cluster.member(i).client_url();
        let what = format!("member {i} lists lease B and not A");
        wait_lease_list(&endpoint, &[b], &[a], &what).await;
    }
});

/// Retries `op` until it succeeds (right after an election a forwarded
/// request may still fail once); each failed attempt is printed.
async fn retry_on<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match timeout(CALL_TIMEOUT, op()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => eprintln!("{what}: {e} (retrying)"),
            Err(_) => eprintln!("{what}: timed out (retrying)"),
        }
        assert!(Instant::now() < deadline, "{what}: no success within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both!(five_members_lose_two, |target| async move {
    let mut cluster = Cluster::start(target, 5, &[]).await;
    let leader = cluster.wait_leader(LEADER_WAIT).await;
    let follower = (leader + 1) % 5;
    let killed = [leader, follower];
    let survivors: Vec<usize> = (0..5).filter(|i| !killed.contains(i)).collect();

    let writers = Writers::start(cluster.endpoints(), 4).await;
    writers.wait_acked(30, "30 writes before the kills").await;

    let killed_at = Instant::now();
    for i in killed {
        cluster.member_mut(i).kill9();
    }
    let acked_at_kill = writers.acked();
    let new_leader = cluster.wait_leader_among(&survivors, LEADER_WAIT).await;
    let failover = killed_at.elapsed();
    eprintln!(
        "[{target:?}] five members: member {new_leader} leads {failover:?} after killing the \
         leader (member {leader}) and member {follower}; election timeout {ELECTION_MS} ms"
    );
    assert!(failover < Duration::from_millis(FAILOVER_ELECTIONS * ELECTION_MS));
    writers
        .wait_acked(acked_at_kill + 30, "30 writes on three of five")
        .await;

    // Each survivor takes a write; each sees the others' at once in a
    // linearizable read.
    for &i in &survivors {
        let key = format!("five/{i}");
        let client = cluster.member(i).client().await;
        let what = format!("put {key} through member {i}");
        let put = retry_on(&what, || {
            let mut client = client.clone();
            let key = key.clone();
            async move { client.put(key, "v", None).await }
        })
        .await;
        let revision = rev(put.header());
        for &j in &survivors {
            let client = cluster.member(j).client().await;
            let what = format!("linearizable get {key} on member {j}");
            let got = retry_on(&what, || {
                let mut client = client.clone();
                let key = key.clone();
                async move { client.get(key, None).await }
            })
            .await;
            assert_eq!(got.kvs().len(), 1, "member {j} sees {key}");
            assert!(rev(got.header()) >= revision);
        }
    }

    // The two come back and catch up while writes go on.
    let restarted_at = Instant::now();
    for i in killed {
        cluster.member_mut(i).restart().await;
    }
    let acked_at_restart = writers.acked();
    writers
        .wait_acked(acked_at_restart + 20, "20 writes after the restarts")
        .await;
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "[{target:?}] five members: {} writes acknowledged, {} failed attempts",
        acks.len(),
        failures.len()
    );
    // Every member reaches the same revision with the same HashKV.
    cluster.assert_acks_everywhere(&acks).await;
    Cluster::report(
        &format!("[{target:?}] five members: restart → all five agree (HashKV)"),
        restarted_at,
    );
});
