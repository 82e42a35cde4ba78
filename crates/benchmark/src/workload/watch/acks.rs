//! When each put of the run was acknowledged, by revision, so a watcher can
//! turn an event's `mod_revision` into a delivery latency (put ack → event
//! received) without a lock: one write-once slot per expected revision.
//!
//! Owns only that table and the latency rule. The run's puts are taken to be
//! the revisions just after the store's revision when the watchers were
//! created; a revision outside that window (someone else writing) has no
//! slot and gets no latency.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// Ack instants of revisions `base + 1 ..= base + slots.len()`.
#[derive(Debug)]
pub struct AckTable {
    /// The store's revision before the first put of the run.
    base: i64,
    slots: Vec<OnceLock<Instant>>,
}

impl AckTable {
    /// A table for `puts` puts made after revision `base`.
    pub fn new(base: i64, puts: u64) -> Self {
        Self {
            base,
            slots: (0..puts).map(|_| OnceLock::new()).collect(),
        }
    }

    fn slot(&self, revision: i64) -> Option<&OnceLock<Instant>> {
        let offset = revision.checked_sub(self.base)?.checked_sub(1)?;
        self.slots.get(usize::try_from(offset).ok()?)
    }

    /// Notes that the put which made `revision` was acknowledged at `at`.
    pub fn record(&self, revision: i64, at: Instant) {
        if let Some(slot) = self.slot(revision) {
            let _ = slot.set(at);
        }
    }

    /// When the put of `revision` was acknowledged, if it was yet.
    pub fn get(&self, revision: i64) -> Option<Instant> {
        self.slot(revision).and_then(OnceLock::get).copied()
    }
}

/// What one event's arrival measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Received this long after its put was acknowledged.
    AfterAck(Duration),
    /// Received before the putter had seen its ack: the server sent the
    /// event first. Counted as zero latency, and counted apart.
    BeforeAck,
}

/// The delivery of an event received at `received` whose put was
/// acknowledged at `ack` (`None`: not yet).
pub fn delivery(ack: Option<Instant>, received: Instant) -> Delivery {
    match ack {
        Some(ack) if ack <= received => Delivery::AfterAck(received - ack),
        _ => Delivery::BeforeAck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_the_revisions_after_base() {
        let t0 = Instant::now();
        let table = AckTable::new(10, 3);
        table.record(11, t0);
        table.record(13, t0 + Duration::from_millis(2));
        // Outside the window: ignored, not a panic.
        table.record(10, t0);
        table.record(14, t0);
        table.record(i64::MIN, t0);
        assert_eq!(table.get(11), Some(t0));
        assert_eq!(table.get(12), None);
        assert_eq!(table.get(13), Some(t0 + Duration::from_millis(2)));
        assert_eq!(table.get(14), None);
        assert_eq!(table.get(i64::MAX), None);
    }

    #[test]
    fn first_ack_wins() {
        let t0 = Instant::now();
        let table = AckTable::new(0, 1);
        table.record(1, t0);
        table.record(1, t0 + Duration::from_secs(1));
        assert_eq!(table.get(1), Some(t0));
    }

    #[test]
    fn latency_runs_from_ack_to_receipt() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(5);
        assert_eq!(
            delivery(Some(t0), later),
            Delivery::AfterAck(Duration::from_millis(5))
        );
        assert_eq!(delivery(None, later), Delivery::BeforeAck);
        assert_eq!(delivery(Some(later), t0), Delivery::BeforeAck);
    }
}
