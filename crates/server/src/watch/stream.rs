//! The handles users of the hub hold: [`WatchStream`] (many watchers sharing
//! one channel: one gRPC Watch call) and [`Watch`] (one watcher with its own
//! channel, for code inside the server such as Lock and Election).
//!
//! A stream owns its watchers' ids (etcd's per-stream `watch_id`s: chosen by
//! the client, or allocated) and cancels them all when dropped.

use std::collections::VecDeque;

use foldhash::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::hub::Hub;
use super::watcher::{Delivery, WatchBatch, WatchSpec, WatcherKey};
use super::WatchError;

/// A registered watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Created {
    /// Its id on the stream.
    pub watch_id: i64,
    /// Its key in the hub (what its [`WatchBatch`]es carry).
    pub key: WatcherKey,
    /// The store revision when it was created (the "created" response's
    /// header revision).
    pub revision: i64,
}

/// Many watchers delivering into one channel. Cancels them all on drop.
pub struct WatchStream {
    hub: Hub,
    id: u64,
    /// watch_id → watcher key.
    watchers: HashMap<i64, WatcherKey>,
    /// The next id to try for a request with `watch_id` 0 (etcd's
    /// `AutoWatchID`): ids are handed out upwards, skipping those in use.
    next_auto_id: i64,
    resynced: Arc<Notify>,
}

impl WatchStream {
    pub(crate) fn new(hub: Hub, id: u64, resynced: Arc<Notify>) -> WatchStream {
        WatchStream {
            hub,
            id,
            watchers: HashMap::default(),
            next_auto_id: 0,
            resynced,
        }
    }

    /// Adds a watcher under `watch_id` (0: allocate one).
    pub fn create(&mut self, watch_id: i64, spec: WatchSpec) -> Result<Created, WatchError> {
        let watch_id = if watch_id == 0 {
            while self.watchers.contains_key(&self.next_auto_id) {
                self.next_auto_id += 1;
            }
            let id = self.next_auto_id;
            self.next_auto_id += 1;
            id
        } else if self.watchers.contains_key(&watch_id) {
            return Err(WatchError::DuplicateId);
        } else {
            watch_id
        };
        let (key, revision) = self.hub.add_watcher(self.id, watch_id, spec);
        self.watchers.insert(watch_id, key);
        Ok(Created {
            watch_id,
            key,
            revision,
        })
    }

    /// Cancels watcher `watch_id`: its key and the revision a "canceled"
    /// response reports, or `None` if the stream has no such watcher.
    pub fn cancel(&mut self, watch_id: i64) -> Option<(WatcherKey, i64)> {
        let key = self.watchers.remove(&watch_id)?;
        Some((key, self.hub.remove_watchers([key])))
    }

    /// Forgets watcher `watch_id` after the hub removed it (a compaction
    /// notice), freeing its id.
    pub fn forget(&mut self, watch_id: i64) {
        self.watchers.remove(&watch_id);
    }

    /// Asks for an empty response to watcher `key` at the current revision,
    /// sent only if the watcher is synced.
    pub fn request_progress(&self, key: WatcherKey) {
        self.hub.progress(key);
    }

    /// Asks for a stream-wide progress answer (`watch_id` -1), queued behind
    /// every event already queued; false if a watcher is still catching up
    /// (ask again after [`WatchStream::resynced`] or the next delivery).
    pub fn request_progress_all(&self) -> bool {
        let keys: Vec<WatcherKey> = self.watchers.values().copied().collect();
        self.hub.progress_all(self.id, &keys)
    }

    /// Signalled when one of this stream's watchers catches up.
    pub fn resynced(&self) -> Arc<Notify> {
        self.resynced.clone()
    }

    /// The store revision as the hub has published it.
    pub fn revision(&self) -> i64 {
        self.hub.revision()
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        let keys: Vec<WatcherKey> = self.watchers.values().copied().collect();
        self.hub.close_stream(self.id, keys);
    }
}

/// One watcher with its own channel, for use inside the server. Canceled
/// when dropped.
///
/// ```ignore
/// let mut watch = hub.watch(b"lock/", b"lock0", rev + 1)?;
/// while let Some(batch) = watch.recv().await {
///     if batch.compact_revision != 0 { /* history gone: start over */ }
///     for ev in &batch.events { /* ... */ }
/// }
/// ```
pub struct Watch {
    stream: WatchStream,
    rx: mpsc::Receiver<Delivery>,
    queued: VecDeque<WatchBatch>,
    created: Created,
}

impl Watch {
    pub(crate) fn new(
        stream: WatchStream,
        rx: mpsc::Receiver<Delivery>,
        created: Created,
    ) -> Watch {
        Watch {
            stream,
            rx,
            queued: VecDeque::new(),
            created,
        }
    }

    /// The store revision when the watch was created.
    pub fn created_revision(&self) -> i64 {
        self.created.revision
    }

    /// The next batch: events in revision order, each once, a revision never
    /// split; or a compaction notice (`compact_revision != 0`, after which
    /// nothing more comes). Waits while there is nothing new.
    pub async fn recv(&mut self) -> Option<WatchBatch> {
        loop {
            if let Some(batch) = self.queued.pop_front() {
                return Some(batch);
            }
            let delivery = self.rx.recv().await?;
            self.queued.extend(delivery.batches);
        }
    }

    /// Asks for an empty batch at the current revision (delivered only while
    /// the watcher is up to date).
    pub fn request_progress(&self) {
        self.stream.request_progress(self.created.key);
    }
}
