//! [`Hub`]: every watcher of this member, and live delivery of committed
//! events to them (etcd's `watchableStore`).
//!
//! Watchers are *synced* (they have been served every published revision;
//! [`Hub::publish`] delivers to them directly) or *unsynced* (behind: they
//! started in the past, or their stream's channel was full when an event
//! came). Only the catch-up task (`catch_up`) serves unsynced watchers, from
//! storage, and only it moves them back to synced; only `publish` moves
//! synced watchers to unsynced. Both do so under the one state lock, and each
//! watcher remembers the lowest revision it has not been served
//! (`next_rev`), so no event is delivered twice or skipped, whatever the
//! interleaving.
//!
//! Each stream (one gRPC Watch call, or one internal [`super::Watch`]) has
//! one bounded channel. `publish` runs on the apply thread and never waits:
//! it `try_send`s one item per stream per committed batch; a stream whose
//! channel is full has its watchers fall back to catch-up instead. Memory is
//! therefore bounded by the channels, whatever the readers do.

use std::collections::VecDeque;

use foldhash::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use etcd_storage::{Backend, Committed, StorageError};
use prost::Message;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};

use super::group::Group;
use super::stream::{Watch, WatchStream};
use super::watcher::{
    by_revision, revision_of, Delivery, EventPool, WatchBatch, WatchSpec, Watcher, WatcherKey,
    STREAM,
};

/// A committed batch whose events add up to more than this is delivered one
/// revision per response, as etcd's live notifications are, so that a large
/// batch never makes a response larger than clients accept.
const LIVE_SPLIT_BYTES: usize = 1024 * 1024;

/// Sizes of the hub's channels and catch-up rounds.
#[derive(Clone, Copy, Debug)]
pub struct HubConfig {
    /// Items (one per committed batch with events for the stream) a
    /// stream's channel holds before its watchers fall back to catch-up
    /// (etcd's `chanBufLen`).
    pub stream_capacity: usize,
    /// Watchers served per catch-up round (etcd's `maxWatchersPerSync`).
    pub catch_up_watchers: usize,
    /// Revisions read per catch-up round and per response (etcd's
    /// `watchBatchMaxRevs`).
    pub catch_up_revisions: usize,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            stream_capacity: 128,
            catch_up_watchers: 512,
            catch_up_revisions: 1000,
        }
    }
}

/// What [`Hub::counts`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchCounts {
    pub watchers: usize,
    pub unsynced: usize,
    pub streams: usize,
}

/// A [`Hub`] handle that lets it go (for the metrics' scrape-time gauges).
#[derive(Clone)]
pub struct WeakHub(std::sync::Weak<Shared>);

impl WeakHub {
    pub fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(|shared| Hub { shared })
    }
}

/// A cheap handle to the hub; clones share it.
#[derive(Clone)]
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub backend: Arc<Backend>,
    /// Wakes the catch-up task when a watcher becomes unsynced.
    pub wake: Notify,
    pub config: HubConfig,
}

/// A stream's end of the hub.
pub(crate) struct Sink {
    pub tx: mpsc::Sender<Delivery>,
    /// Taken while a catch-up delivery for the stream is in memory.
    pub catch_up_busy: Arc<AtomicBool>,
    /// Signalled when one of the stream's watchers becomes synced, for a
    /// progress request waiting on that.
    pub resynced: Arc<Notify>,
}

pub(crate) struct State {
    /// The revision of the newest published batch: synced watchers have
    /// been served everything up to it.
    pub published: i64,
    pub watchers: HashMap<WatcherKey, Watcher>,
    /// The synced watchers, by span.
    pub synced: Group,
    /// The unsynced watchers, in catch-up order. Each appears once, except
    /// while a catch-up round holds it; canceled ones are skipped lazily.
    pub unsynced: VecDeque<WatcherKey>,
    pub streams: HashMap<u64, Sink>,
    next_watcher: WatcherKey,
    next_stream: u64,
}

impl State {
    /// Moves synced watcher `key` to catch-up; it has been served every
    /// revision up to `served`.
    fn unsync(&mut self, key: WatcherKey, served: i64) {
        let Some(w) = self.watchers.get_mut(&key) else {
            return;
        };
        if !w.synced {
            return;
        }
        w.synced = false;
        w.next_rev = w.next_rev.max(served + 1);
        self.synced.remove(key, &w.span);
        self.unsynced.push_back(key);
    }

    /// Puts watcher `key` (unsynced, held by catch-up) back: in the synced
    /// group if it has been served every published revision, else at the
    /// back of the queue. True if it became synced.
    pub fn settle(&mut self, key: WatcherKey) -> bool {
        let Some(w) = self.watchers.get_mut(&key) else {
            return false;
        };
        if w.next_rev > self.published {
            w.synced = true;
            self.synced.insert(key, &w.span);
            if let Some(sink) = self.streams.get(&w.stream) {
                sink.resynced.notify_one();
            }
            true
        } else {
            self.unsynced.push_back(key);
            false
        }
    }
}

impl Hub {
    /// A hub for the store in `backend`, starting at its current revision.
    /// Create it before Raft applies anything, and hand
    /// [`Hub::publish`] every committed batch from then on.
    pub fn new(backend: Arc<Backend>, config: HubConfig) -> Result<Hub, StorageError> {
        let published = backend.read()?.current_revision()?;
        Ok(Hub {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    published,
                    watchers: HashMap::default(),
                    synced: Group::new(),
                    unsynced: VecDeque::new(),
                    streams: HashMap::default(),
                    next_watcher: STREAM + 1,
                    next_stream: 1,
                }),
                backend,
                wake: Notify::new(),
                config,
            }),
        })
    }

    /// The newest published revision.
    pub fn revision(&self) -> i64 {
        self.shared.lock().published
    }

    /// How many watchers (and of them unsynced) and streams there are, for
    /// etcd's watch gauges. Costs a walk of the watchers under the lock.
    pub fn counts(&self) -> WatchCounts {
        let st = self.shared.lock();
        WatchCounts {
            watchers: st.watchers.len(),
            unsynced: st.watchers.values().filter(|w| !w.synced).count(),
            streams: st.streams.len(),
        }
    }

    /// A handle that does not keep the hub alive.
    pub fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.shared))
    }

    /// Delivers a committed batch to the synced watchers it concerns. Called
    /// on the apply thread once the batch is visible to backend readers and
    /// before its writers are answered; never waits for a reader (only for
    /// the brief state lock).
    pub fn publish(&self, committed: &Committed) {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let before = st.published;
        st.published = st.published.max(committed.revision);
        if committed.events.is_empty() || st.synced.is_empty() {
            return;
        }

        // Which synced watchers see which events, in event order.
        let mut hits: HashMap<WatcherKey, Vec<usize>> = HashMap::default();
        for (i, ev) in committed.events.iter().enumerate() {
            if let Some(kv) = &ev.kv {
                st.synced
                    .matching(&kv.key, |key| hits.entry(key).or_default().push(i));
            }
        }
        if hits.is_empty() {
            return;
        }

        let split = committed.events.len() > 1
            && committed
                .events
                .iter()
                .map(Message::encoded_len)
                .sum::<usize>()
                > LIVE_SPLIT_BYTES;
        let mut pool = EventPool::new(&committed.events);
        let mut per_stream: HashMap<u64, Vec<WatchBatch>> = HashMap::default();
        for (key, indexes) in hits {
            let Some(w) = st.watchers.get(&key) else {
                continue;
            };
            let events: Vec<_> = indexes
                .into_iter()
                .filter(|&i| w.wants(&committed.events[i]))
                .map(|i| pool.get(i, w.prev_kv))
                .collect();
            if events.is_empty() {
                continue;
            }
            let batches = per_stream.entry(w.stream).or_default();
            if split {
                for part in by_revision(events) {
                    batches.push(WatchBatch {
                        watcher: key,
                        watch_id: w.watch_id,
                        revision: part.last().map_or(committed.revision, |e| revision_of(e)),
                        events: part,
                        compact_revision: 0,
                    });
                }
            } else {
                batches.push(WatchBatch {
                    watcher: key,
                    watch_id: w.watch_id,
                    revision: committed.revision,
                    events,
                    compact_revision: 0,
                });
            }
        }

        let mut fell_behind = false;
        for (stream, batches) in per_stream {
            let keys: Vec<WatcherKey> = batches.iter().map(|b| b.watcher).collect();
            let Some(sink) = st.streams.get(&stream) else {
                continue;
            };
            match sink.tx.try_send(Delivery::live(batches)) {
                Ok(()) => {
                    for key in keys {
                        if let Some(w) = st.watchers.get_mut(&key) {
                            w.next_rev = w.next_rev.max(committed.revision + 1);
                        }
                    }
                }
                Err(TrySendError::Full(_)) => {
                    for key in keys {
                        st.unsync(key, before);
                    }
                    fell_behind = true;
                }
                // The stream is closing; its drop removes its watchers.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        drop(guard);
        if fell_behind {
            self.shared.wake.notify_one();
        }
    }

    /// The store was replaced by a snapshot from the leader and now stands
    /// at `revision`: the events between what watchers were served and
    /// `revision` never passed through [`Hub::publish`]. Every synced
    /// watcher falls back to catch-up, which reads them from the installed
    /// store, each exactly once, or cancels the watcher with a compaction
    /// notice if the installed store compacted them away (as etcd does).
    pub fn on_install(&self, revision: i64) {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let served = st.published;
        st.published = st.published.max(revision);
        let synced: Vec<WatcherKey> = st
            .watchers
            .iter()
            .filter(|(_, w)| w.synced)
            .map(|(key, _)| *key)
            .collect();
        for key in synced {
            st.unsync(key, served);
        }
        drop(guard);
        self.shared.wake.notify_one();
    }

    /// Opens a stream: a set of watchers sharing one channel (one gRPC Watch
    /// call). Dropping the [`WatchStream`] cancels all its watchers.
    pub fn open_stream(&self) -> (WatchStream, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(self.shared.config.stream_capacity.max(1));
        let resynced = Arc::new(Notify::new());
        let id = {
            let mut st = self.shared.lock();
            let id = st.next_stream;
            st.next_stream += 1;
            st.streams.insert(
                id,
                Sink {
                    tx,
                    catch_up_busy: Arc::new(AtomicBool::new(false)),
                    resynced: resynced.clone(),
                },
            );
            id
        };
        (WatchStream::new(self.clone(), id, resynced), rx)
    }

    /// Watches `key` / `range_end` (etcd's meaning: empty = the key alone,
    /// `"\0"` = every key from `key` on) from `start_revision` (0: after the
    /// current revision; a past revision replays history first), for code
    /// inside the server (Lock, Election). Canceled when the [`Watch`] is
    /// dropped.
    pub fn watch(
        &self,
        key: &[u8],
        range_end: &[u8],
        start_revision: i64,
    ) -> Result<Watch, super::WatchError> {
        let span = super::Span::new(key, range_end)?;
        self.watch_spec(WatchSpec::new(span, start_revision))
    }

    /// [`Hub::watch`] with every option of a create request.
    pub fn watch_spec(&self, spec: WatchSpec) -> Result<Watch, super::WatchError> {
        let (mut stream, rx) = self.open_stream();
        let created = stream.create(0, spec)?;
        Ok(Watch::new(stream, rx, created))
    }

    /// Registers a watcher on `stream`; returns its key and the revision a
    /// "created" response reports.
    pub(crate) fn add_watcher(
        &self,
        stream: u64,
        watch_id: i64,
        spec: WatchSpec,
    ) -> (WatcherKey, i64) {
        let mut st = self.shared.lock();
        let published = st.published;
        let key = st.next_watcher;
        st.next_watcher += 1;
        // etcd: from "now" or from a future revision, the watcher is synced
        // at once; from a past revision it replays history first.
        let synced = spec.start_revision == 0 || spec.start_revision > published;
        let next_rev = if synced {
            spec.start_revision.max(published + 1)
        } else {
            spec.start_revision
        };
        if synced {
            st.synced.insert(key, &spec.span);
        } else {
            st.unsynced.push_back(key);
        }
        st.watchers.insert(
            key,
            Watcher {
                stream,
                watch_id,
                span: spec.span,
                prev_kv: spec.prev_kv,
                filters: spec.filters,
                next_rev,
                synced,
            },
        );
        drop(st);
        if !synced {
            self.shared.wake.notify_one();
        }
        (key, published)
    }

    /// Removes watchers; returns the revision a "canceled" response reports.
    pub(crate) fn remove_watchers(&self, keys: impl IntoIterator<Item = WatcherKey>) -> i64 {
        let mut st = self.shared.lock();
        for key in keys {
            if let Some(w) = st.watchers.remove(&key) {
                if w.synced {
                    st.synced.remove(key, &w.span);
                }
                // An unsynced one stays queued until catch-up skips it.
            }
        }
        st.published
    }

    /// Forgets a stream and all of the given watchers.
    pub(crate) fn close_stream(&self, stream: u64, keys: impl IntoIterator<Item = WatcherKey>) {
        self.remove_watchers(keys);
        self.shared.lock().streams.remove(&stream);
    }

    /// Sends watcher `key` an empty response at the published revision if
    /// it is synced (etcd's `RequestProgress`); nothing if it is behind or
    /// its channel is full (it is then receiving events anyway).
    pub(crate) fn progress(&self, key: WatcherKey) {
        let st = self.shared.lock();
        let Some(w) = st.watchers.get(&key) else {
            return;
        };
        if !w.synced {
            return;
        }
        if let Some(sink) = st.streams.get(&w.stream) {
            let _ = sink.tx.try_send(Delivery::live(vec![WatchBatch {
                watcher: key,
                watch_id: w.watch_id,
                revision: st.published,
                events: Vec::new(),
                compact_revision: 0,
            }]));
        }
    }

    /// If every one of `keys` is synced, queues a stream-wide progress
    /// answer (`watch_id` -1) at the published revision behind everything
    /// already queued for the stream, and returns true. False if a watcher
    /// is behind or the channel is full: ask again later.
    pub(crate) fn progress_all(&self, stream: u64, keys: &[WatcherKey]) -> bool {
        let st = self.shared.lock();
        if keys
            .iter()
            .any(|k| st.watchers.get(k).is_some_and(|w| !w.synced))
        {
            return false;
        }
        let Some(sink) = st.streams.get(&stream) else {
            return false;
        };
        sink.tx
            .try_send(Delivery::live(vec![WatchBatch {
                watcher: STREAM,
                watch_id: -1,
                revision: st.published,
                events: Vec::new(),
                compact_revision: 0,
            }]))
            .is_ok()
    }
}

impl Shared {
    /// The state lock. A panic while holding it cannot leave the state half
    /// changed in a way that matters more than stopping delivery would, so a
    /// poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
