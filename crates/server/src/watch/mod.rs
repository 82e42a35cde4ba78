//! Watchers and the delivery of committed changes to them (etcd's
//! mvcc/watchable_store.go, watcher.go, watcher_group.go).
//!
//! Owns: every watcher of this member ([`Hub`]), live fan-out of each
//! committed batch to the watchers it concerns ([`Hub::publish`], called by
//! Raft's apply thread), replay of history from storage for watchers that
//! start in the past or fall behind (`catch_up`, a background task), and the
//! per-watcher rules (spans, filters, `prev_kv`, exactly-once ordering).
//! Does not own: the gRPC Watch protocol — ids on the wire, created/canceled
//! responses, fragmenting, progress timers, `hasleader` (`crate::api::watch`)
//! — nor reading the history itself (`etcd_storage::ReadTxn::events`).
//!
//! Layout: [`span`] (what one watcher selects), `interval` and `group`
//! (which watchers a key concerns, for thousands of watchers), [`watcher`]
//! (a watcher's record and what it receives), `hub` (state, publish),
//! [`stream`] (handles: a gRPC stream's watchers, or one internal watch),
//! [`catch_up`].
//!
//! Guarantees to every watcher: events in revision order, each exactly once,
//! all events of one revision in one batch. Memory stays bounded with slow
//! readers: each stream has one bounded channel, and a watcher that cannot
//! be served live falls back to catch-up, which reads from storage instead
//! of buffering.
//!
//! Inside the server (Lock, Election), watch without gRPC:
//!
//! ```ignore
//! let mut watch = hub.watch(b"key", b"", 0)?; // from the next revision
//! while let Some(batch) = watch.recv().await { /* batch.events */ }
//! // dropping `watch` cancels it
//! ```

pub mod catch_up;
mod group;
mod hub;
mod interval;
pub mod span;
pub mod stream;
pub mod watcher;

pub use hub::{Hub, HubConfig, WatchCounts, WeakHub};
pub use span::{EmptyRange, Span};
pub use stream::{Created, Watch, WatchStream};
pub use watcher::{Delivery, Filters, WatchBatch, WatchSpec, WatcherKey, STREAM};

/// Why a watcher could not be created; the texts are etcd's cancel reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("mvcc: watcher range is empty")]
    EmptyRange,
    #[error("mvcc: duplicate watch ID provided on the WatchStream")]
    DuplicateId,
}

impl From<EmptyRange> for WatchError {
    fn from(_: EmptyRange) -> WatchError {
        WatchError::EmptyRange
    }
}

#[cfg(test)]
mod tests;
