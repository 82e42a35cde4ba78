//! One scenario from start to verdict: start a cluster, run a traffic
//! profile, inject faults in cycles (inject, hold, heal), heal everything,
//! read the final state, and check the history: linearizability per key,
//! watches and reads against the write log, and convergence (every member
//! at the same revision with the same HashKV and the same keys).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use etcd_client::GetOptions;

use crate::cluster::{connect, Cluster, Flavor, Server};
use crate::faults::Fault;
use crate::history::{History, Outcome, Request};
use crate::kv_model;
use crate::traffic::{execute, Profile, Recorder, Traffic};
use crate::watch_check;

/// What to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub members: usize,
    pub profile: Profile,
    /// The faults to pick from, one per cycle.
    pub faults: Vec<Fault>,
    pub duration: Duration,
    pub clients: usize,
}

impl Scenario {
    pub fn describe(&self) -> String {
        let faults: Vec<String> = self.faults.iter().map(|f| f.to_string()).collect();
        format!(
            "seed={} members={} profile={} duration={:?} clients={} faults=[{}]",
            self.seed,
            self.members,
            self.profile.name(),
            self.duration,
            self.clients,
            faults.join(",")
        )
    }
}

/// What one scenario found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub operations: usize,
    pub indeterminate: usize,
    pub watch_events: u64,
    pub reads_replayed: u64,
    pub faults: Vec<(Fault, String)>,
    pub violations: Vec<String>,
    /// Keys whose linearizability search ran out of time.
    pub unchecked_keys: Vec<String>,
    /// Violations of a known bug of the reference server (see
    /// [`known_bug`]): counted, not failed.
    pub known_bugs: Vec<String>,
    /// Peer connections the proxies carried, and those whose dialer they
    /// could not tell (faults do not apply to those: should stay 0).
    pub peer_connections: u64,
    pub unknown_dialers: u64,
}

/// Whether a violation found on `server` is a known, upstream-fixed bug of
/// that server's version. Debian's etcd 3.4.23 answers a WatchProgressRequest
/// outside the stream's order (etcd-io/etcd#15220, fixed in 3.4.24 by
/// #15237): to a watcher still catching up it reports the current revision
/// before the older events it has yet to send ("event after progress
/// notify"), and a notification computed just before an event is sent
/// after it, with a lower revision ("header revision decreased"). The
/// checks rightly flag both; etcd-rs gets no such pass.
pub fn known_bug(server: &Server, check: &str) -> Option<&'static str> {
    let progress_race = [
        watch_check::checks::AFTER_PROGRESS,
        watch_check::checks::HEADER_DECREASED,
    ];
    (server.flavor == Flavor::Etcd && progress_race.contains(&check))
        .then_some("etcd-io/etcd#15220")
}

/// The client id of the harness's own final reads.
const FINAL_READER: usize = 999;
/// The time budget of the search, per key.
const SEARCH_BUDGET: Duration = Duration::from_secs(20);
/// How long the members get to agree after the last heal.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Flags every member gets: a small snapshot count so a member that was
/// down for a while is caught up from a snapshot rather than the log.
fn member_flags() -> Vec<String> {
    vec!["--snapshot-count=500".to_string()]
}

pub async fn run(server: &Server, scenario: &Scenario) -> Verdict {
    let mut rng = fastrand::Rng::with_seed(scenario.seed);
    let mut cluster = Cluster::start(server.clone(), scenario.members, &member_flags()).await;
    let recorder = Recorder::new();
    let traffic = Traffic::start(
        scenario.profile,
        cluster.endpoints(),
        scenario.clients,
        scenario.seed,
        recorder.clone(),
    );
    let mut verdict = Verdict::default();
    let end = Instant::now() + scenario.duration;
    tokio::time::sleep(Duration::from_millis(500)).await;
    while !scenario.faults.is_empty() && Instant::now() + Duration::from_secs(1) < end {
        let fault = scenario.faults[rng.usize(..scenario.faults.len())];
        let what = fault.inject(&mut cluster, &mut rng).await;
        tokio::time::sleep(fault.hold(&mut rng)).await;
        cluster.heal().await;
        verdict.faults.push((fault, what));
        tokio::time::sleep(Duration::from_millis(300 + rng.u64(..700))).await;
    }
    cluster.heal().await;
    // Traffic on a healed cluster, so what was pending settles and the
    // watchers catch up.
    tokio::time::sleep(
        end.saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1)),
    )
    .await;
    let recorder = traffic.stop().await;
    verdict.peer_connections = cluster.network.connections();
    verdict.unknown_dialers = cluster.network.unknown_dialers();

    if let Err(problem) = final_reads(&cluster, &recorder).await {
        verdict.violations.push(problem);
    }
    verdict.violations.extend(converged(&cluster).await);
    let history = recorder.history();
    check(server, &history, &mut verdict);
    if !verdict.violations.is_empty() {
        let mut text = String::new();
        let _ = writeln!(text, "member logs (tails):\n{}", cluster.logs(30));
        verdict.violations.push(text);
    }
    verdict
}

/// A linearizable read of every key through the harness's own client, as
/// the last operation of the history: each acknowledged write must be in
/// it unless overwritten.
async fn final_reads(cluster: &Cluster, recorder: &Recorder) -> Result<(), String> {
    let mut client = connect(&cluster.endpoints())
        .await
        .map_err(|e| format!("final read: cannot connect: {e}"))?;
    let request = Request::Get {
        key: "\0".to_string(),
        range_end: Some("\0".to_string()),
        revision: 0,
        limit: 0,
        serializable: false,
    };
    for _ in 0..10 {
        let outcome = recorder
            .call(
                FINAL_READER,
                request.clone(),
                execute(&mut client, &request),
            )
            .await;
        if matches!(outcome, Outcome::Ok(_)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err("final read: the healed cluster did not answer a linearizable read".to_string())
}

/// Every member at the same revision, with the same HashKV and the same
/// keys and values.
async fn converged(cluster: &Cluster) -> Vec<String> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match member_states(cluster).await {
            Ok(states) => {
                let first = &states[0];
                if states.iter().all(|s| s == first) {
                    return Vec::new();
                }
                last = states
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("m{i}: revision {} hash {} keys {}", s.0, s.1, s.2.len()))
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    vec![format!("members did not converge after healing: {last}")]
}

type MemberState = (i64, u32, BTreeMap<String, (String, i64)>);

async fn member_states(cluster: &Cluster) -> Result<Vec<MemberState>, String> {
    let mut states = Vec::new();
    for member in cluster.active() {
        let mut client = connect(&[member.endpoint()])
            .await
            .map_err(|e| format!("{}: {e}", member.name))?;
        let all = GetOptions::new().with_all_keys().with_serializable();
        let response = client
            .get("\0", Some(all))
            .await
            .map_err(|e| format!("{}: {e}", member.name))?;
        let revision = response.header().map_or(0, |h| h.revision());
        let hash = client
            .hash_kv(revision)
            .await
            .map_err(|e| format!("{}: hash_kv {revision}: {e}", member.name))?
            .hash();
        let keys = response
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    (
                        String::from_utf8_lossy(kv.value()).into_owned(),
                        kv.mod_revision(),
                    ),
                )
            })
            .collect();
        states.push((revision, hash, keys));
    }
    Ok(states)
}

fn check(server: &Server, history: &History, verdict: &mut Verdict) {
    verdict.operations = history.operations.len();
    verdict.indeterminate = history
        .operations
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Indeterminate(_)))
        .count();
    let linear = kv_model::check(history, SEARCH_BUDGET);
    verdict.violations.extend(linear.violations);
    verdict.unchecked_keys = linear.timeouts;
    let watches = watch_check::check(history);
    verdict.watch_events = watches.events_checked;
    verdict.reads_replayed = watches.reads_checked;
    for v in watches.violations {
        match known_bug(server, v.check) {
            Some(bug) => verdict.known_bugs.push(format!("{bug}: {}", v.check)),
            None => verdict
                .violations
                .push(format!("{}: {}", v.check, v.message)),
        }
    }
}
