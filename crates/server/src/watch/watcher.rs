//! One watcher: what it asked for ([`WatchSpec`]), what the hub remembers
//! about it (`Watcher`: its stream, how far it has been served, whether it is
//! synced), and what it receives ([`WatchBatch`]).
//!
//! Also the per-watcher event rules shared by live delivery and catch-up:
//! "not before `next_rev`" (so nothing is delivered twice) and the
//! NOPUT/NODELETE filters, and [`EventPool`], which shares one copy of each
//! event among all watchers that receive it.

use std::sync::Arc;

use etcd_proto::mvccpb::{event::EventType, Event};

use super::catch_up::CatchUpSlot;
use super::span::Span;

/// A watcher's key in the hub: unique for the hub's lifetime, never reused,
/// so a late batch can never be mistaken for a newer watcher's.
pub type WatcherKey = u64;

/// The key of stream-wide deliveries (a progress answer for the whole
/// stream, `watch_id` -1); no watcher has it.
pub const STREAM: WatcherKey = 0;

/// etcd's per-watcher event filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Drop puts (`NOPUT`).
    pub no_put: bool,
    /// Drop deletes (`NODELETE`).
    pub no_delete: bool,
}

impl Filters {
    /// Whether `ev` passes.
    pub fn pass(&self, ev: &Event) -> bool {
        if ev.r#type == EventType::Delete as i32 {
            !self.no_delete
        } else {
            !self.no_put
        }
    }
}

/// What to watch and how: a create request, decoded.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    pub span: Span,
    /// The first revision wanted; 0 means "after the current revision".
    pub start_revision: i64,
    /// Whether events carry the key's previous version.
    pub prev_kv: bool,
    pub filters: Filters,
}

impl WatchSpec {
    /// Everything under `span` from `start_revision` on, unfiltered,
    /// without previous versions.
    pub fn new(span: Span, start_revision: i64) -> WatchSpec {
        WatchSpec {
            span,
            start_revision,
            prev_kv: false,
            filters: Filters::default(),
        }
    }
}

/// What the hub hands a watcher's stream. Events arrive in revision order,
/// every event once, never a revision split across two batches.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchBatch {
    /// The watcher it is for ([`STREAM`] for a stream-wide progress answer).
    pub watcher: WatcherKey,
    /// The watcher's id on its stream (`watch_id` on the wire; -1 for
    /// stream-wide answers).
    pub watch_id: i64,
    /// The store revision the watcher has now seen everything up to: the
    /// response header's revision. 0 for a compaction notice, as in etcd.
    pub revision: i64,
    /// The events, already filtered and with `prev_kv` only if asked for.
    /// Empty: a progress notification (or a compaction notice).
    pub events: Vec<Arc<Event>>,
    /// Non-zero: the watcher's next revision was compacted away; it has
    /// been removed and this is the compacted revision.
    pub compact_revision: i64,
}

/// One item of a stream's channel: batches for some of its watchers.
#[derive(Debug)]
pub struct Delivery {
    pub batches: Vec<WatchBatch>,
    /// Held by a catch-up delivery until it is dropped (sent on), so catch-up
    /// has at most one delivery per stream in memory at a time.
    pub(crate) slot: Option<CatchUpSlot>,
}

impl Delivery {
    pub(crate) fn live(batches: Vec<WatchBatch>) -> Delivery {
        Delivery {
            batches,
            slot: None,
        }
    }
}

/// The hub's record of one watcher.
#[derive(Debug)]
pub(crate) struct Watcher {
    /// The stream it delivers to.
    pub stream: u64,
    pub watch_id: i64,
    pub span: Span,
    pub prev_kv: bool,
    pub filters: Filters,
    /// The lowest revision not yet delivered (etcd's `minRev`). A synced
    /// watcher's value may lag behind: it is at least this and past every
    /// published revision.
    pub next_rev: i64,
    /// In the synced group (live delivery) rather than waiting for catch-up.
    pub synced: bool,
}

impl Watcher {
    /// Whether `ev` (already known to be in the span) goes to this watcher.
    pub fn wants(&self, ev: &Event) -> bool {
        revision_of(ev) >= self.next_rev && self.filters.pass(ev)
    }
}

/// An event's revision (for a delete, the revision of the deletion).
pub fn revision_of(ev: &Event) -> i64 {
    ev.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

/// Splits revision-ordered events into one list per revision.
pub fn by_revision(events: Vec<Arc<Event>>) -> Vec<Vec<Arc<Event>>> {
    let mut out: Vec<Vec<Arc<Event>>> = Vec::new();
    for ev in events {
        match out.last_mut() {
            Some(part) if part.last().map(|e| revision_of(e)) == Some(revision_of(&ev)) => {
                part.push(ev)
            }
            _ => out.push(vec![ev]),
        }
    }
    out
}

/// Shares events among watchers: each event is copied at most twice (with
/// and without `prev_kv`), however many watchers receive it.
pub(crate) struct EventPool<'a> {
    events: &'a [Event],
    with_prev: Vec<Option<Arc<Event>>>,
    without_prev: Vec<Option<Arc<Event>>>,
}

impl<'a> EventPool<'a> {
    pub fn new(events: &'a [Event]) -> EventPool<'a> {
        EventPool {
            events,
            with_prev: vec![None; events.len()],
            without_prev: vec![None; events.len()],
        }
    }

    /// Event `i`, with its previous version if `prev_kv`.
    pub fn get(&mut self, i: usize, prev_kv: bool) -> Arc<Event> {
        let (slot, strip) = if prev_kv || self.events[i].prev_kv.is_none() {
            (&mut self.with_prev[i], false)
        } else {
            (&mut self.without_prev[i], true)
        };
        slot.get_or_insert_with(|| {
            let mut ev = self.events[i].clone();
            if strip {
                ev.prev_kv = None;
            }
            Arc::new(ev)
        })
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::mvccpb::KeyValue;

    fn ev(kind: EventType, key: &str, rev: i64, prev: bool) -> Event {
        let kv = KeyValue {
            key: key.as_bytes().to_vec(),
            mod_revision: rev,
            ..Default::default()
        };
        Event {
            r#type: kind as i32,
            prev_kv: prev.then(|| kv.clone()),
            kv: Some(kv),
        }
    }

    #[test]
    fn filters() {
        let put = ev(EventType::Put, "a", 2, false);
        let del = ev(EventType::Delete, "a", 3, false);
        let none = Filters::default();
        assert!(none.pass(&put) && none.pass(&del));
        let no_put = Filters {
            no_put: true,
            no_delete: false,
        };
        assert!(!no_put.pass(&put) && no_put.pass(&del));
        let no_delete = Filters {
            no_put: false,
            no_delete: true,
        };
        assert!(no_delete.pass(&put) && !no_delete.pass(&del));
    }

    #[test]
    fn nothing_before_next_rev() {
        let w = Watcher {
            stream: 1,
            watch_id: 0,
            span: Span::new(b"a", b"").unwrap(),
            prev_kv: false,
            filters: Filters::default(),
            next_rev: 5,
            synced: true,
        };
        assert!(!w.wants(&ev(EventType::Put, "a", 4, false)));
        assert!(w.wants(&ev(EventType::Put, "a", 5, false)));
    }

    #[test]
    fn split_by_revision() {
        let evs: Vec<Arc<Event>> = [2, 2, 3, 5, 5, 5]
            .iter()
            .map(|r| Arc::new(ev(EventType::Put, "a", *r, false)))
            .collect();
        let parts: Vec<Vec<i64>> = by_revision(evs)
            .iter()
            .map(|p| p.iter().map(|e| revision_of(e)).collect())
            .collect();
        assert_eq!(parts, [vec![2, 2], vec![3], vec![5, 5, 5]]);
        assert!(by_revision(Vec::new()).is_empty());
    }

    #[test]
    fn pool_shares_and_strips() {
        let events = vec![ev(EventType::Put, "a", 2, true)];
        let mut pool = EventPool::new(&events);
        let a = pool.get(0, true);
        let b = pool.get(0, true);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.prev_kv.is_some());
        let c = pool.get(0, false);
        assert!(c.prev_kv.is_none());
        assert!(Arc::ptr_eq(&c, &pool.get(0, false)));
    }
}
