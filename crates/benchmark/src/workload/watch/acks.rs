//! When each put of the run was sent and acknowledged, by revision, so a
//! watcher can turn an event's `mod_revision` into delivery latencies (put
//! ack → event received, and put sent → event received) without a lock:
//! one write-once slot per expected revision.
//!
//! An event can arrive before its putter has seen the ack: the server wrote
//! the event first. Its revision then has no slot filled yet; the receiver
//! keeps it aside and [`AckTable::since_sent`] resolves it after the run.
//!
//! Owns only that table and the latency rule. The run's puts are taken to be
//! the revisions just after the store's revision when the watchers were
//! created; a revision outside that window (someone else writing) has no
//! slot and gets no latency.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// When one put was sent and when its ack came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutTimes {
    pub sent: Instant,
    pub acked: Instant,
}

/// Put times of revisions `base + 1 ..= base + slots.len()`.
#[derive(Debug)]
pub struct AckTable {
    /// The store's revision before the first put of the run.
    base: i64,
    slots: Vec<OnceLock<PutTimes>>,
}

impl AckTable {
    /// A table for `puts` puts made after revision `base`.
    pub fn new(base: i64, puts: u64) -> Self {
        Self {
            base,
            slots: (0..puts).map(|_| OnceLock::new()).collect(),
        }
    }

    fn slot(&self, revision: i64) -> Option<&OnceLock<PutTimes>> {
        let offset = revision.checked_sub(self.base)?.checked_sub(1)?;
        self.slots.get(usize::try_from(offset).ok()?)
    }

    /// Notes the times of the put which made `revision`.
    pub fn record(&self, revision: i64, times: PutTimes) {
        if let Some(slot) = self.slot(revision) {
            let _ = slot.set(times);
        }
    }

    /// The times of the put of `revision`, if its ack has come back.
    pub fn get(&self, revision: i64) -> Option<PutTimes> {
        self.slot(revision).and_then(OnceLock::get).copied()
    }

    /// Put sent → received, for an event kept aside during the run; `None`
    /// for a revision none of the run's puts made.
    pub fn since_sent(&self, revision: i64, received: Instant) -> Option<Duration> {
        self.get(revision)
            .map(|times| received.saturating_duration_since(times.sent))
    }
}

/// What one event's arrival measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Its put's ack was in: latency since the put was sent, and since its
    /// ack (`None` if the ack was noted after the event came).
    Known {
        since_sent: Duration,
        since_ack: Option<Duration>,
    },
    /// Received before the putter had seen its ack: the server sent the
    /// event first. Zero latency since the ack; since sent is resolved
    /// after the run.
    BeforeAck,
}

/// The delivery of an event received at `received` whose put's times are
/// `times` (`None`: ack not in yet).
pub fn delivery(times: Option<PutTimes>, received: Instant) -> Delivery {
    match times {
        Some(times) => Delivery::Known {
            since_sent: received.saturating_duration_since(times.sent),
            since_ack: received.checked_duration_since(times.acked),
        },
        None => Delivery::BeforeAck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn times(t0: Instant, sent: u64, acked: u64) -> PutTimes {
        PutTimes {
            sent: at(t0, sent),
            acked: at(t0, acked),
        }
    }

    #[test]
    fn slots_cover_the_revisions_after_base() {
        let t0 = Instant::now();
        let table = AckTable::new(10, 3);
        table.record(11, times(t0, 0, 1));
        table.record(13, times(t0, 2, 3));
        // Outside the window: ignored, not a panic.
        table.record(10, times(t0, 0, 0));
        table.record(14, times(t0, 0, 0));
        table.record(i64::MIN, times(t0, 0, 0));
        assert_eq!(table.get(11), Some(times(t0, 0, 1)));
        assert_eq!(table.get(12), None);
        assert_eq!(table.get(13), Some(times(t0, 2, 3)));
        assert_eq!(table.get(14), None);
        assert_eq!(table.get(i64::MAX), None);
    }

    #[test]
    fn first_record_wins() {
        let t0 = Instant::now();
        let table = AckTable::new(0, 1);
        table.record(1, times(t0, 0, 1));
        table.record(1, times(t0, 5, 6));
        assert_eq!(table.get(1), Some(times(t0, 0, 1)));
    }

    #[test]
    fn latency_runs_from_sent_and_from_ack_to_receipt() {
        let t0 = Instant::now();
        assert_eq!(
            delivery(Some(times(t0, 0, 2)), at(t0, 5)),
            Delivery::Known {
                since_sent: Duration::from_millis(5),
                since_ack: Some(Duration::from_millis(3)),
            }
        );
        // The ack was noted after the event arrived.
        assert_eq!(
            delivery(Some(times(t0, 0, 6)), at(t0, 5)),
            Delivery::Known {
                since_sent: Duration::from_millis(5),
                since_ack: None,
            }
        );
        assert_eq!(delivery(None, at(t0, 5)), Delivery::BeforeAck);
    }

    #[test]
    fn events_kept_aside_resolve_after_the_run() {
        let t0 = Instant::now();
        let table = AckTable::new(0, 2);
        table.record(1, times(t0, 1, 4));
        assert_eq!(
            table.since_sent(1, at(t0, 3)),
            Some(Duration::from_millis(2))
        );
        assert_eq!(table.since_sent(2, at(t0, 3)), None);
        assert_eq!(table.since_sent(9, at(t0, 3)), None);
    }
}
