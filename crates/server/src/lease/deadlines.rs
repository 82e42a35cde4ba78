//! [`Deadlines`]: at most one pending instant per lease, taken in time order.
//! The lessor keeps two of them — when each lease expires and when each is
//! next checkpointed. Rescheduling replaces the lease's entry in place, so a
//! lease renewed thousands of times a second still holds one entry.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Deadlines {
    /// Entries in time order (ties by lease id), for taking the due ones.
    by_time: BTreeSet<(Instant, i64)>,
    /// Each lease's entry, to find it when rescheduling or removing.
    by_id: HashMap<i64, Instant>,
}

impl Deadlines {
    /// Sets (or moves) the lease's deadline.
    pub fn set(&mut self, id: i64, at: Instant) {
        if let Some(old) = self.by_id.insert(id, at) {
            self.by_time.remove(&(old, id));
        }
        self.by_time.insert((at, id));
    }

    pub fn remove(&mut self, id: i64) {
        if let Some(old) = self.by_id.remove(&id) {
            self.by_time.remove(&(old, id));
        }
    }

    pub fn get(&self, id: i64) -> Option<Instant> {
        self.by_id.get(&id).copied()
    }

    /// Removes and returns up to `limit` leases due at `now` (deadline at or
    /// before it), earliest first.
    pub fn take_due(&mut self, now: Instant, limit: usize) -> Vec<i64> {
        let mut due = Vec::new();
        while due.len() < limit {
            match self.by_time.first() {
                Some(&(at, id)) if at <= now => {
                    self.by_time.pop_first();
                    self.by_id.remove(&id);
                    due.push(id);
                }
                _ => break,
            }
        }
        due
    }

    pub fn clear(&mut self) {
        self.by_time.clear();
        self.by_id.clear();
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn takes_due_entries_in_time_order_up_to_a_limit() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::default();
        d.set(3, t0 + s(3));
        d.set(1, t0 + s(1));
        d.set(2, t0 + s(2));
        d.set(9, t0 + s(9));
        assert!(d.take_due(t0, 10).is_empty());
        assert_eq!(d.take_due(t0 + s(3), 2), [1, 2]);
        assert_eq!(d.take_due(t0 + s(3), 2), [3]);
        assert_eq!(d.len(), 1);
        assert_eq!(d.get(9), Some(t0 + s(9)));
    }

    #[test]
    fn rescheduling_replaces_the_entry() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::default();
        for i in 0..1000 {
            d.set(7, t0 + s(1) + Duration::from_millis(i));
        }
        assert_eq!(d.len(), 1);
        assert_eq!(d.by_time.len(), 1);
        assert!(d.take_due(t0 + s(1), 10).is_empty());
        d.set(7, t0);
        d.remove(7);
        assert!(d.is_empty());
        assert!(d.take_due(t0 + s(100), 10).is_empty());
    }
}
