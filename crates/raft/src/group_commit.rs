//! Group commit for Raft log appends: at most one WAL sync is in flight for
//! appends; appends that arrive while it runs wait together for the next one.
//!
//! raft-log's flush worker gathers writes only for a fixed wait before each
//! fsync: any wait delays a lone put, and no wait syncs every append alone.
//! So the WAL is told to sync at once (no wait) and the batching happens here:
//! the first append starts a sync; later appends park their callbacks; when
//! the sync completes, one new sync covers everything parked meanwhile.
//!
//! Lock order, everywhere: the WAL first, then the group state. An append
//! parks its callback only after its entries are in the WAL's buffer, and the
//! next sync is requested under the WAL lock, so it always covers them.

use std::io;
use std::mem;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};

use openraft::storage::IOFlushed;
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::RaftLog;

use crate::log_store::{WalCallback, WalTypes};
use crate::types::TypeConfig;

/// Appends waiting for a sync, and whether one is in flight.
#[derive(Default)]
struct GroupState {
    in_flight: bool,
    waiting: Vec<IOFlushed<TypeConfig>>,
}

/// The appends one sync answers. Dropped unanswered (the sync could not be
/// requested, or the WAL discarded the request), it fails every one of them,
/// so Raft learns of the failure instead of waiting forever.
pub struct SyncWaiters(Vec<IOFlushed<TypeConfig>>, std::time::Instant);

impl SyncWaiters {
    /// The appends one sync about to be requested answers.
    pub fn new(appends: Vec<IOFlushed<TypeConfig>>) -> SyncWaiters {
        SyncWaiters(appends, std::time::Instant::now())
    }

    /// Answers every append with the sync's result.
    /// A successful sync is etcd's `etcd_disk_wal_fsync_duration_seconds`.
    pub fn complete(mut self, res: &io::Result<()>) {
        if res.is_ok() {
            let seconds = self.1.elapsed().as_secs_f64();
            crate::metrics::METRICS.wal_fsync_seconds.observe(seconds);
        }
        for flushed in self.0.drain(..) {
            let res = match res {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            flushed.io_completed(res);
        }
    }
}

impl Drop for SyncWaiters {
    fn drop(&mut self) {
        for flushed in self.0.drain(..) {
            flushed.io_completed(Err(io::Error::other(
                "the WAL sync covering this append was never performed",
            )));
        }
    }
}

/// Shared by the log store, the in-flight sync's callback and the syncer
/// thread (which holds it weakly, so it ends when the store is gone).
pub struct GroupCommit {
    state: Mutex<GroupState>,
    /// Wakes the syncer thread when a sync completed.
    completed: Mutex<Sender<()>>,
}

impl GroupCommit {
    /// Starts the syncer thread for `wal`.
    pub fn start(wal: Arc<Mutex<RaftLog<WalTypes>>>) -> io::Result<Arc<GroupCommit>> {
        let (tx, rx) = channel();
        let group = Arc::new(GroupCommit {
            state: Mutex::new(GroupState::default()),
            completed: Mutex::new(tx),
        });
        let weak = Arc::downgrade(&group);
        let wal = Arc::downgrade(&wal);
        std::thread::Builder::new()
            .name("wal-group-commit".to_string())
            .spawn(move || syncer(wal, weak, rx))?;
        Ok(group)
    }

    /// Called with the WAL locked, after `flushed`'s entries were appended:
    /// starts a sync for them, or parks them for the next one.
    pub fn submit(
        self: &Arc<Self>,
        wal: &mut RaftLog<WalTypes>,
        flushed: IOFlushed<TypeConfig>,
    ) -> io::Result<()> {
        {
            let mut state = self.lock_state()?;
            if state.in_flight {
                state.waiting.push(flushed);
                return Ok(());
            }
            state.in_flight = true;
        }
        let batch = WalCallback::Group(SyncWaiters::new(vec![flushed]), self.clone());
        wal.flush(true, Some(batch)).inspect_err(|_| self.abandon())
    }

    /// The in-flight sync finished (on the flush worker's thread). With
    /// nothing parked meanwhile (a lone writer), the group is idle again;
    /// otherwise the syncer starts the next sync. Never takes the WAL lock
    /// here: the flush worker must not wait for an appender.
    pub fn sync_done(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.waiting.is_empty() {
                state.in_flight = false;
                return;
            }
        }
        if let Ok(tx) = self.completed.lock() {
            let _ = tx.send(());
        }
    }

    fn lock_state(&self) -> io::Result<std::sync::MutexGuard<'_, GroupState>> {
        self.state
            .lock()
            .map_err(|_| io::Error::other("group commit state poisoned"))
    }

    /// A sync could not even be requested: nothing is in flight any more.
    fn abandon(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight = false;
        }
    }
}

/// Starts one sync for everything parked since the last one, each time a
/// sync completes; clears `in_flight` when nothing is parked.
/// It holds the WAL and the group weakly: once the log store is dropped, the
/// WAL closes (releasing its directory lock) and the thread ends.
fn syncer(wal: Weak<Mutex<RaftLog<WalTypes>>>, group: Weak<GroupCommit>, completed: Receiver<()>) {
    while completed.recv().is_ok() {
        let (Some(group), Some(wal)) = (group.upgrade(), wal.upgrade()) else {
            return;
        };
        let Ok(mut wal) = wal.lock() else { return };
        let batch = match group.state.lock() {
            Ok(mut state) if state.waiting.is_empty() => {
                state.in_flight = false;
                continue;
            }
            Ok(mut state) => mem::take(&mut state.waiting),
            Err(_) => return,
        };
        let callback = WalCallback::Group(SyncWaiters::new(batch), group.clone());
        if let Err(e) = wal.flush(true, Some(callback)) {
            // The callback was dropped unanswered, which failed every parked
            // append (see SyncWaiters); Raft treats that as fatal.
            tracing::error!(error = %e, "cannot request a WAL sync");
            group.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::type_config::TypeConfigExt;

    use super::*;

    #[tokio::test]
    async fn waiters_dropped_unanswered_fail_their_appends() {
        let (tx, rx) = TypeConfig::oneshot();
        drop(SyncWaiters::new(vec![IOFlushed::signal(tx)]));
        assert!(rx.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn waiters_completed_get_the_sync_result() {
        let (tx1, rx1) = TypeConfig::oneshot();
        let (tx2, rx2) = TypeConfig::oneshot();
        SyncWaiters::new(vec![IOFlushed::signal(tx1), IOFlushed::signal(tx2)]).complete(&Ok(()));
        assert!(rx1.await.unwrap().is_ok());
        assert!(rx2.await.unwrap().is_ok());
    }
}
