//! The consensus layer's Prometheus metrics, under etcd 3.5's names: the
//! WAL's fsync latency (etcd's `wal` package) and the Raft state etcd's
//! `etcdserver` package exports (leader, proposals, heartbeats, learner
//! promotions, read indexes, slow applies) and the received snapshot's
//! fsync (etcd's `snap` package).
//!
//! Counters and histograms are handles resolved once; the hot path pays an
//! atomic add. The state gauges (leader, commit and apply index) are set by
//! [`record`], from a task of the node that watches openraft's metrics, so
//! a scrape reads them without reaching Raft.
//!
//! Not here: rendering, the server's and storage's metrics.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts,
};

/// Everything this crate exports.
pub(crate) struct RaftMetrics {
    pub wal_fsync_seconds: Histogram,
    pub has_leader: IntGauge,
    pub is_leader: IntGauge,
    pub is_learner: IntGauge,
    pub leader_changes: IntCounter,
    pub committed: IntGauge,
    pub applied: IntGauge,
    pub pending: IntGauge,
    pub failed: IntCounter,
    pub heartbeat_failures: IntCounter,
    pub slow_read_indexes: IntCounter,
    pub read_indexes_failed: IntCounter,
    pub learner_promotions: IntCounter,
    pub slow_applies: IntCounter,
    pub snap_db_fsync_seconds: Histogram,
    peer_sent_bytes: IntCounterVec,
    peer_received_bytes: IntCounterVec,
    peer_rtt_seconds: HistogramVec,
}

pub(crate) static METRICS: LazyLock<RaftMetrics> = LazyLock::new(|| {
    RaftMetrics {
    wal_fsync_seconds: register(
        Histogram::with_opts(
            HistogramOpts::new(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
            )
            .buckets(exponential_buckets(0.001, 2.0, 14).expect("valid buckets")),
        )
        .expect("a valid metric"),
    ),
    has_leader: gauge(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
    ),
    is_leader: gauge(
        "etcd_server_is_leader",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    ),
    is_learner: gauge(
        "etcd_server_is_learner",
        "Whether or not this member is a learner. 1 if is, 0 otherwise.",
    ),
    leader_changes: counter(
        "etcd_server_leader_changes_seen_total",
        "The number of leader changes seen.",
    ),
    // etcd exports these two as gauges: they are Raft indexes.
    committed: gauge(
        "etcd_server_proposals_committed_total",
        "The total number of consensus proposals committed.",
    ),
    applied: gauge(
        "etcd_server_proposals_applied_total",
        "The total number of consensus proposals applied.",
    ),
    pending: gauge(
        "etcd_server_proposals_pending",
        "The current number of pending proposals to commit.",
    ),
    failed: counter(
        "etcd_server_proposals_failed_total",
        "The total number of failed proposals seen.",
    ),
    heartbeat_failures: counter(
        "etcd_server_heartbeat_send_failures_total",
        "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
    ),
    slow_read_indexes: counter(
        "etcd_server_slow_read_indexes_total",
        "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
    ),
    read_indexes_failed: counter(
        "etcd_server_read_indexes_failed_total",
        "The total number of failed read indexes seen.",
    ),
    learner_promotions: counter(
        "etcd_server_learner_promote_successes",
        "The total number of successful learner promotions while this member is leader.",
    ),
    slow_applies: counter(
        "etcd_server_slow_apply_total",
        "The total number of slow apply requests (likely overloaded from slow disk).",
    ),
    snap_db_fsync_seconds: register(
        Histogram::with_opts(
            HistogramOpts::new(
                "etcd_snap_db_fsync_duration_seconds",
                "The latency distributions of fsyncing .snap.db file",
            )
            .buckets(exponential_buckets(0.001, 2.0, 14).expect("valid buckets")),
        )
        .expect("a valid metric"),
    ),
    peer_sent_bytes: register(
        IntCounterVec::new(
            Opts::new(
                "etcd_network_peer_sent_bytes_total",
                "The total number of bytes sent to peers.",
            ),
            &["To"],
        )
        .expect("a valid metric"),
    ),
    peer_received_bytes: register(
        IntCounterVec::new(
            Opts::new(
                "etcd_network_peer_received_bytes_total",
                "The total number of bytes received from peers.",
            ),
            &["From"],
        )
        .expect("a valid metric"),
    ),
    peer_rtt_seconds: register(
        HistogramVec::new(
            HistogramOpts::new(
                "etcd_network_peer_round_trip_time_seconds",
                "Round-Trip-Time histogram between peers",
            )
            .buckets(exponential_buckets(0.0001, 2.0, 16).expect("valid buckets")),
            &["To"],
        )
        .expect("a valid metric"),
    ),
}
});

/// One peer's network series, resolved once per peer client.
#[derive(Clone)]
pub(crate) struct PeerMetrics {
    /// Request bytes this member sent the peer.
    pub sent: IntCounter,
    /// Response bytes the peer sent back (what a leader sends us unasked is
    /// counted by [`served`]).
    pub received: IntCounter,
    /// Probe round trips (`crate::prober`).
    pub rtt: Histogram,
}

impl PeerMetrics {
    /// The series of member `id`, labelled with its hex id as etcd labels
    /// them.
    pub(crate) fn of(id: u64) -> PeerMetrics {
        let id = format!("{id:x}");
        let m = &*METRICS;
        PeerMetrics {
            sent: m.peer_sent_bytes.with_label_values(&[&id]),
            received: m.peer_received_bytes.with_label_values(&[&id]),
            rtt: m.peer_rtt_seconds.with_label_values(&[&id]),
        }
    }
}

/// etcd's `warnApplyDuration`: a request applied slower than this counts
/// as a slow apply.
pub(crate) const SLOW_APPLY: std::time::Duration = std::time::Duration::from_millis(100);

/// The bytes of one request the peer service served (an AppendEntries, a
/// probe): the peer's request received, and our answer sent back. Each
/// peer's series are resolved once.
pub(crate) fn served(peer: u64, received: usize, sent: usize) {
    static SERIES: LazyLock<Mutex<HashMap<u64, (IntCounter, IntCounter)>>> =
        LazyLock::new(Default::default);
    let mut series = SERIES.lock().unwrap_or_else(PoisonError::into_inner);
    let (from, to) = series.entry(peer).or_insert_with(|| {
        let id = format!("{peer:x}");
        let m = &*METRICS;
        (
            m.peer_received_bytes.with_label_values(&[&id]),
            m.peer_sent_bytes.with_label_values(&[&id]),
        )
    });
    from.inc_by(received as u64);
    to.inc_by(sent as u64);
}

/// Registers every metric of this crate (a scrape lists them from the
/// start, as etcd's do).
pub fn register_all() {
    LazyLock::force(&METRICS);
}

/// Counts one proposal while it waits for its apply: pending until dropped.
pub(crate) struct Pending;

impl Pending {
    pub(crate) fn start() -> Pending {
        METRICS.pending.inc();
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        METRICS.pending.dec();
    }
}

/// What this member's Raft looks like now, as [`follow`] samples it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sample {
    /// The leader etcd would report (check-quorum's view).
    pub visible_leader: bool,
    /// The leader openraft names, for counting changes as etcd counts its
    /// raft's `SoftState.Lead` changes.
    pub raft_leader: Option<u64>,
    pub is_leader: bool,
    pub is_learner: bool,
    pub committed: u64,
    pub applied: u64,
}

/// Tracks leader changes between samples.
#[derive(Debug, Default)]
pub(crate) struct LeaderTracker {
    last: Option<u64>,
}

impl LeaderTracker {
    /// Whether `now` is a change to a (new) leader: a leader appearing or
    /// replacing another counts; losing one does not.
    pub(crate) fn changed(&mut self, now: Option<u64>) -> bool {
        let changed = now.is_some() && now != self.last;
        self.last = now;
        changed
    }
}

/// Sets the state gauges from `s`, counting a leader change.
pub(crate) fn record(leaders: &mut LeaderTracker, s: &Sample) {
    let m = &*METRICS;
    if leaders.changed(s.raft_leader) {
        m.leader_changes.inc();
    }
    m.has_leader.set(i64::from(s.visible_leader));
    m.is_leader.set(i64::from(s.is_leader));
    m.is_learner.set(i64::from(s.is_learner));
    m.committed.set(s.committed as i64);
    m.applied.set(s.applied as i64);
}

fn gauge(name: &str, help: &str) -> IntGauge {
    register(IntGauge::with_opts(Opts::new(name, help)).expect("a valid metric"))
}

fn counter(name: &str, help: &str) -> IntCounter {
    register(IntCounter::with_opts(Opts::new(name, help)).expect("a valid metric"))
}

/// Registers on the default registry; a name registered already (two
/// members in one test process) keeps the first.
fn register<C: Collector + Clone + 'static>(c: C) -> C {
    if let Err(e) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %e, "metric not registered");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_changes_count_each_new_leader() {
        let mut t = LeaderTracker::default();
        assert!(t.changed(Some(1)));
        assert!(!t.changed(Some(1)));
        assert!(!t.changed(None));
        assert!(t.changed(Some(1)));
        assert!(t.changed(Some(2)));
    }

    #[test]
    fn pending_counts_while_held() {
        let before = METRICS.pending.get();
        let p = Pending::start();
        assert_eq!(METRICS.pending.get(), before + 1);
        drop(p);
        assert_eq!(METRICS.pending.get(), before);
    }
}
