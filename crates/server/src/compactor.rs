//! Auto-compaction (`--auto-compaction-mode`, `--auto-compaction-retention`),
//! with etcd's schedules:
//!
//! - **periodic** (retention = a duration R): every R/10 (R capped at 1 h for
//!   the schedule) remember the current revision; once R has passed since
//!   the last success (then every min(R, 1 h)), compact at the revision seen
//!   R ago — keeping R worth of history.
//! - **revision** (retention = N revisions): every 5 minutes, compact at
//!   `current - N` unless that is not positive or was already done.
//!
//! Compactions are ordinary Compact requests through the server pipeline
//! (so through Raft), issued only while this member leads, as in etcd. The
//! schedules are pure state machines ([`Periodic`], [`RevisionRetention`]);
//! [`run`] drives them with a clock and the server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::CompactionRequest;
use tokio::time::Instant;

use crate::config::AutoCompaction;
use crate::errors::EtcdError;
use crate::server::EtcdServer;

/// How often revision-mode compaction checks, as in etcd.
const REVISION_CHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);
const ONE_HOUR: Duration = Duration::from_secs(3600);

/// The periodic schedule.
#[derive(Debug)]
pub struct Periodic {
    period: Duration,
    /// Revisions seen at each tick; the front is the one `period` ago.
    revs: VecDeque<i64>,
    retentions: usize,
    last_success: Instant,
    /// Time to wait from the last success before compacting: `period` for
    /// the first compaction, min(period, 1 h) after.
    wait: Duration,
}

impl Periodic {
    pub fn new(period: Duration, now: Instant) -> Periodic {
        let tick = Self::tick_for(period);
        let retentions = (period.as_nanos() / tick.as_nanos().max(1)) as usize + 1;
        Periodic {
            period,
            revs: VecDeque::with_capacity(retentions + 1),
            retentions,
            last_success: now,
            wait: period,
        }
    }

    /// A tenth of the period (capped at 1 h), and never zero: a
    /// nanosecond retention must not make a zero-length timer.
    fn tick_for(period: Duration) -> Duration {
        (period.min(ONE_HOUR) / 10).max(Duration::from_millis(1))
    }

    /// How often [`Periodic::on_tick`] must be called.
    pub fn tick(&self) -> Duration {
        Self::tick_for(self.period)
    }

    /// Records the current revision; returns the revision to compact at, if
    /// it is time.
    pub fn on_tick(&mut self, now: Instant, current_revision: i64) -> Option<i64> {
        self.revs.push_back(current_revision);
        if self.revs.len() > self.retentions {
            self.revs.pop_front();
        }
        if now.duration_since(self.last_success) < self.wait {
            return None;
        }
        self.revs.front().copied()
    }

    /// Reports the outcome of the compaction `on_tick` asked for.
    pub fn on_result(&mut self, now: Instant, succeeded: bool) {
        if succeeded {
            self.last_success = now;
            self.wait = self.period.min(ONE_HOUR);
        }
    }
}

/// The revision-retention schedule.
#[derive(Debug)]
pub struct RevisionRetention {
    retention: i64,
    last: i64,
}

impl RevisionRetention {
    pub fn new(retention: u64) -> RevisionRetention {
        RevisionRetention {
            retention: i64::try_from(retention).unwrap_or(i64::MAX),
            last: 0,
        }
    }

    /// The revision to compact at now, if any.
    pub fn on_tick(&self, current_revision: i64) -> Option<i64> {
        let rev = current_revision.saturating_sub(self.retention);
        (rev > 0 && rev != self.last).then_some(rev)
    }

    pub fn on_result(&mut self, revision: i64, succeeded: bool) {
        if succeeded {
            self.last = revision;
        }
    }
}

/// Runs the configured schedule until the server stops.
pub async fn run(server: Arc<EtcdServer>, policy: AutoCompaction) {
    match policy {
        AutoCompaction::Disabled => {}
        AutoCompaction::Periodic(period) if period.is_zero() => {}
        AutoCompaction::Revision(0) => {}
        AutoCompaction::Periodic(period) => {
            let mut schedule = Periodic::new(period, Instant::now());
            let mut ticker = tokio::time::interval(schedule.tick());
            ticker.tick().await;
            loop {
                let Ok(current) = server.current_revision().await else {
                    ticker.tick().await;
                    continue;
                };
                ticker.tick().await;
                if let Some(rev) = schedule.on_tick(Instant::now(), current) {
                    let ok = compact(&server, rev, "periodic").await;
                    schedule.on_result(Instant::now(), ok);
                }
            }
        }
        AutoCompaction::Revision(retention) => {
            let mut schedule = RevisionRetention::new(retention);
            let mut ticker = tokio::time::interval(REVISION_CHECK_INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Ok(current) = server.current_revision().await else {
                    continue;
                };
                if let Some(rev) = schedule.on_tick(current) {
                    let ok = compact(&server, rev, "revision").await;
                    schedule.on_result(rev, ok);
                }
            }
        }
    }
}

/// Proposes one compaction if this member leads; "already compacted" counts
/// as success, as in etcd.
async fn compact(server: &EtcdServer, revision: i64, mode: &str) -> bool {
    if !server.is_leader() {
        return false;
    }
    tracing::info!(revision, mode, "starting auto compaction");
    let started = std::time::Instant::now();
    let request = CompactionRequest {
        revision,
        physical: false,
    };
    match server.compact(&crate::auth::member(), request).await {
        Ok(_) | Err(EtcdError::Compacted) => {
            tracing::info!(revision, mode, took = ?started.elapsed(), "completed auto compaction");
            true
        }
        Err(e) => {
            tracing::warn!(revision, mode, error = %e, "failed auto compaction");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_keeps_one_period_of_history() {
        let start = Instant::now();
        let hour = ONE_HOUR;
        let mut p = Periodic::new(hour, start);
        assert_eq!(p.tick(), Duration::from_secs(360));
        // Ticks every 6 minutes; the revision grows by 100 per tick.
        let mut now = start;
        let mut asked = Vec::new();
        for i in 1..=25 {
            now += p.tick();
            if let Some(rev) = p.on_tick(now, 100 * i) {
                asked.push((i, rev));
                p.on_result(now, true);
            }
        }
        // First compaction after one hour (tick 10) at the revision seen an
        // hour before (tick 0 → the first recorded, rev 100); then hourly.
        assert_eq!(asked, [(10, 100), (20, 1000)]);
    }

    #[test]
    fn periodic_retries_every_tick_after_a_failure() {
        let start = Instant::now();
        let mut p = Periodic::new(Duration::from_secs(100), start);
        let mut now = start + Duration::from_secs(100);
        assert!(p.on_tick(now, 5).is_some());
        p.on_result(now, false);
        now += p.tick();
        assert!(p.on_tick(now, 6).is_some());
    }

    #[test]
    fn revision_mode() {
        let mut r = RevisionRetention::new(10);
        assert_eq!(r.on_tick(5), None);
        assert_eq!(r.on_tick(10), None);
        assert_eq!(r.on_tick(25), Some(15));
        r.on_result(15, true);
        assert_eq!(r.on_tick(25), None);
        assert_eq!(r.on_tick(26), Some(16));
    }
}
