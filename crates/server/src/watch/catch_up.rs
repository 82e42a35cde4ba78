//! The catch-up task: serves unsynced watchers from storage until they have
//! seen every published revision, then returns them to live delivery
//! (etcd's `syncWatchersLoop`).
//!
//! One round: take up to `catch_up_watchers` unsynced watchers whose
//! channels have room → one read of the history from the lowest revision
//! they need, over the smallest span covering them all, at most
//! `catch_up_revisions` revisions → hand each its events in one batch per
//! stream → under the state lock, record how far each got and move those
//! that have seen every published revision to the synced group. A watcher
//! whose next revision was compacted away gets a compaction notice and is
//! removed, as in etcd.
//!
//! Nothing is buffered for a slow reader: a watcher whose channel stays full
//! simply waits in the queue and is read for again later, and a stream has
//! at most one catch-up delivery in memory at a time (a [`CatchUpSlot`] held
//! until the reader has passed it on), so memory does not grow with how far
//! behind a watcher is.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::mvccpb::Event;
use etcd_storage::ApplyError;
use tokio::sync::mpsc;

use super::group::Group;
use super::hub::{Hub, Shared};
use super::span::Span;
use super::watcher::{revision_of, Delivery, EventPool, Filters, WatchBatch, WatcherKey};

/// How long to wait before retrying watchers whose channels were full.
const RETRY: Duration = Duration::from_millis(50);

/// What a round achieved.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// No watcher is unsynced.
    Idle,
    /// Watchers moved forward; more may be waiting.
    Progress,
    /// Watchers are waiting but none could be served (full channels).
    Blocked,
}

/// Runs catch-up rounds for `hub` until the task is aborted.
pub async fn run(hub: Hub) {
    loop {
        let shared = hub.shared.clone();
        let outcome = tokio::task::spawn_blocking(move || round(&shared)).await;
        match outcome {
            Ok(Ok(Outcome::Idle)) => hub.shared.wake.notified().await,
            Ok(Ok(Outcome::Progress)) => tokio::task::yield_now().await,
            Ok(Ok(Outcome::Blocked)) => {
                tokio::select! {
                    _ = hub.shared.wake.notified() => {}
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "watch catch-up cannot read the history");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "watch catch-up round failed");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// A stream's permission to have one catch-up delivery in memory; given
/// back (and catch-up woken) when the delivery is dropped.
pub(crate) struct CatchUpSlot {
    busy: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl Drop for CatchUpSlot {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

impl std::fmt::Debug for CatchUpSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatchUpSlot")
    }
}

/// A watcher taken out of the queue for one round.
struct Taken {
    key: WatcherKey,
    stream: u64,
    watch_id: i64,
    span: Span,
    prev_kv: bool,
    filters: Filters,
    next_rev: i64,
    tx: mpsc::Sender<Delivery>,
    busy: Arc<AtomicBool>,
}

fn round(shared: &Arc<Shared>) -> Result<Outcome, ApplyError> {
    let taken = take(shared);
    if taken.is_empty() {
        let st = shared.lock();
        return Ok(if st.unsynced.is_empty() {
            Outcome::Idle
        } else {
            Outcome::Blocked
        });
    }
    // A failed read must not lose the taken watchers.
    let read = read(shared, &taken);
    let (batches, read_to, compacted) = match read {
        Ok(r) => r,
        Err(e) => {
            let mut st = shared.lock();
            for t in &taken {
                st.unsynced.push_back(t.key);
            }
            return Err(e);
        }
    };

    // One item per stream; remember which watchers each delivered to.
    let mut per_stream: HashMap<u64, Vec<WatchBatch>> = HashMap::default();
    let mut senders: HashMap<u64, &Taken> = HashMap::default();
    for (t, batch) in taken.iter().zip(batches) {
        senders.insert(t.stream, t);
        if let Some(batch) = batch {
            per_stream.entry(t.stream).or_default().push(batch);
        }
    }
    let mut blocked: Vec<u64> = Vec::new();
    for (stream, items) in per_stream {
        let Some(t) = senders.get(&stream) else {
            continue;
        };
        // `take` only picks streams whose slot is free, and only this task
        // takes slots.
        t.busy.store(true, Ordering::Release);
        let delivery = Delivery {
            batches: items,
            slot: Some(CatchUpSlot {
                busy: t.busy.clone(),
                shared: shared.clone(),
            }),
        };
        // On failure the returned delivery is dropped, freeing the slot.
        if t.tx.try_send(delivery).is_err() {
            blocked.push(stream);
        }
    }

    let mut progressed = false;
    let mut st = shared.lock();
    for t in &taken {
        if blocked.contains(&t.stream) {
            st.unsynced.push_back(t.key);
            continue;
        }
        if compacted.contains(&t.key) {
            st.watchers.remove(&t.key);
            progressed = true;
            continue;
        }
        let Some(w) = st.watchers.get_mut(&t.key) else {
            continue;
        };
        w.next_rev = w.next_rev.max(read_to + 1);
        progressed = true;
        st.settle(t.key);
    }
    Ok(if progressed {
        Outcome::Progress
    } else {
        Outcome::Blocked
    })
}

/// Takes up to a round's worth of unsynced watchers whose channels have
/// room; those without room go back to the end of the queue.
fn take(shared: &Shared) -> Vec<Taken> {
    let mut st = shared.lock();
    let mut taken = Vec::new();
    let mut later = Vec::new();
    for _ in 0..st.unsynced.len() {
        if taken.len() >= shared.config.catch_up_watchers {
            break;
        }
        let Some(key) = st.unsynced.pop_front() else {
            break;
        };
        let Some(w) = st.watchers.get(&key) else {
            continue; // canceled
        };
        if w.synced {
            continue;
        }
        let Some(sink) = st.streams.get(&w.stream) else {
            continue; // its stream is closing
        };
        if sink.tx.capacity() == 0 || sink.catch_up_busy.load(Ordering::Acquire) {
            later.push(key);
            continue;
        }
        taken.push(Taken {
            key,
            stream: w.stream,
            watch_id: w.watch_id,
            span: w.span.clone(),
            prev_kv: w.prev_kv,
            filters: w.filters,
            next_rev: w.next_rev,
            tx: sink.tx.clone(),
            busy: sink.catch_up_busy.clone(),
        });
    }
    st.unsynced.extend(later);
    taken
}

/// Reads the history for `taken`: one batch (or none) per watcher, the
/// revision read through, and the watchers found compacted.
#[allow(clippy::type_complexity)]
fn read(
    shared: &Shared,
    taken: &[Taken],
) -> Result<(Vec<Option<WatchBatch>>, i64, Vec<WatcherKey>), ApplyError> {
    let txn = shared.backend.read()?;
    let current = txn.current_revision()?;
    let compacted_rev = txn.compacted_revision()?;

    // etcd cancels a watcher whose next revision is below the compaction.
    let is_compacted = |t: &Taken| t.next_rev < compacted_rev;
    let live: Vec<&Taken> = taken.iter().filter(|t| !is_compacted(t)).collect();

    let mut events: Vec<Event> = Vec::new();
    let mut read_to = current;
    if let Some(from) = live.iter().map(|t| t.next_rev).min() {
        if from <= current {
            let cover = live
                .iter()
                .skip(1)
                .fold(live[0].span.clone(), |acc, t| acc.cover(&t.span));
            let (key, end) = cover.as_request();
            let prev_kv = live.iter().any(|t| t.prev_kv);
            let max = shared.config.catch_up_revisions.max(1);
            events = txn.events(from, key, end, prev_kv, max)?;
            if distinct_revisions(&events) >= max {
                read_to = events.last().map_or(current, revision_of);
            }
        }
    }

    let matches = match_events(&live, &events);
    let mut pool = EventPool::new(&events);
    let mut compacted = Vec::new();
    let mut batches = Vec::with_capacity(taken.len());
    let mut live_index = 0;
    for t in taken {
        if is_compacted(t) {
            compacted.push(t.key);
            batches.push(Some(WatchBatch {
                watcher: t.key,
                watch_id: t.watch_id,
                revision: 0,
                events: Vec::new(),
                compact_revision: compacted_rev,
            }));
            continue;
        }
        let selected: Vec<_> = matches[live_index]
            .iter()
            .copied()
            .filter(|&i| {
                let ev = &events[i];
                let rev = revision_of(ev);
                rev >= t.next_rev && rev <= read_to && t.filters.pass(ev)
            })
            .map(|i| pool.get(i, t.prev_kv))
            .collect();
        live_index += 1;
        batches.push(if selected.is_empty() {
            None
        } else {
            Some(WatchBatch {
                watcher: t.key,
                watch_id: t.watch_id,
                revision: read_to,
                events: selected,
                compact_revision: 0,
            })
        });
    }
    Ok((batches, read_to, compacted))
}

/// For each watcher of `live`, the indexes of the events in its span, in
/// order.
fn match_events(live: &[&Taken], events: &[Event]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); live.len()];
    if events.is_empty() {
        return out;
    }
    let mut group = Group::new();
    for (i, t) in live.iter().enumerate() {
        group.insert(i as u64, &t.span);
    }
    for (e, ev) in events.iter().enumerate() {
        if let Some(kv) = &ev.kv {
            group.matching(&kv.key, |i| out[i as usize].push(e));
        }
    }
    out
}

fn distinct_revisions(events: &[Event]) -> usize {
    let mut count = 0;
    let mut last = None;
    for ev in events {
        let rev = revision_of(ev);
        if last != Some(rev) {
            count += 1;
            last = Some(rev);
        }
    }
    count
}
