//! The Raft log on disk: openraft's `RaftLogStorage` over the `raft-log` WAL.
//!
//! `raft-log` writes chunked, CRC-checked files and fsyncs from one background
//! worker; [`GroupCommit`] makes appends that arrive during a sync share the
//! next one. openraft is told an append is durable only from the sync's
//! callback, so Raft never counts an entry as persisted before its fsync.
//! Votes are waited for before returning, as Raft requires.
//!
//! This module owns the WAL directory (`<data-dir>/member/wal` or `--wal-dir`);
//! it knows nothing of what entries mean.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, OptionalSend};
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::RaftLog;

use crate::group_commit::{GroupCommit, SyncWaiters};
use crate::types::TypeConfig;
use crate::wal_codec::{NoUserData, WalLogId, WalPayload, WalVote};

/// The WAL's flush worker syncs at once; appends are batched by
/// [`GroupCommit`] instead (raft-log's default 1 ms gathering wait would add a
/// millisecond to every lone put).
const FLUSH_BATCH_WAIT: std::time::Duration = std::time::Duration::ZERO;

/// Entries raft-log keeps in memory (its default: 100,000, up to 1 GiB).
/// Followers read recent entries from here when they are replicated; a
/// follower further behind reads the rest from the WAL files.
const LOG_CACHE_ENTRIES: usize = 8192;

/// The WAL's chunk files are closed at this size. Purging the log removes
/// whole closed chunks only, so the WAL holds the entries kept behind the
/// last snapshot plus at most about one chunk, and a restart reads all of
/// it: with etcd's 64 MiB segment size, up to about 128 MiB, which took
/// seconds with 1M keys. raft-log's default (1 GiB) would be far worse.
pub const WAL_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Binds our encodings into `raft-log`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalTypes;

impl raft_log::Types for WalTypes {
    type LogId = WalLogId;
    type LogPayload = WalPayload;
    type Vote = WalVote;
    type Callback = WalCallback;
    type UserData = NoUserData;

    fn log_index(log_id: &WalLogId) -> u64 {
        log_id.index
    }

    fn payload_size(payload: &WalPayload) -> u64 {
        match &payload.0 {
            openraft::EntryPayload::Normal(p) => prost::Message::encoded_len(&p.0) as u64,
            _ => 64,
        }
    }
}

/// Who is waiting for an fsync: a group of appends, or one of our own calls
/// (votes, truncation).
pub enum WalCallback {
    Group(SyncWaiters, Arc<GroupCommit>),
    Wait(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for WalCallback {
    fn send(self, res: io::Result<()>) {
        match self {
            WalCallback::Group(appends, group) => {
                appends.complete(&res);
                group.sync_done();
            }
            WalCallback::Wait(tx) => {
                // The waiter may have gone away (shutdown); nothing to tell then.
                let _ = tx.send(res);
            }
        }
    }
}

/// The shared handle to the WAL. Cloning shares the same log.
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<Mutex<RaftLog<WalTypes>>>,
    group: Arc<GroupCommit>,
}

impl LogStore {
    /// Opens (or creates) the WAL in `dir`. A record torn by a crash at the end
    /// of the last chunk was never acknowledged, so it is cut off.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        Self::open_with_chunks(dir, WAL_CHUNK_BYTES)
    }

    fn open_with_chunks(dir: &Path, chunk_bytes: usize) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let mut config = raft_log::Config::new(dir.display());
        config.wal.truncate_incomplete_record = Some(true);
        config.wal.chunk_max_size = Some(chunk_bytes);
        // See FLUSH_BATCH_WAIT.
        config.wal.flush_batch_wait = Some(FLUSH_BATCH_WAIT);
        config.log_cache_max_items = Some(LOG_CACHE_ENTRIES);
        let wal = Arc::new(Mutex::new(RaftLog::open(Arc::new(config))?));
        let group = GroupCommit::start(wal.clone())?;
        Ok(LogStore { wal, group })
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, RaftLog<WalTypes>>> {
        self.wal
            .lock()
            .map_err(|_| io::Error::other("the WAL lock was poisoned by a panic"))
    }

    /// Queues an fsync of everything written so far and waits for it.
    async fn sync(&self) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock()?.flush(true, Some(WalCallback::Wait(tx)))?;
        rx.await
            .map_err(|_| io::Error::other("the WAL flush worker stopped"))?
    }
}

impl LogStore {
    /// The entries in `[from, to)` the log still holds, in order (fewer
    /// than asked for if some were purged). Reads only the WAL's cache and
    /// files under its lock: callable from any thread.
    pub(crate) fn read_entries(&self, from: u64, to: u64) -> io::Result<Vec<EntryOf<TypeConfig>>> {
        let wal = self.lock()?;
        wal.read(from, to)
            .map(|item| {
                let (log_id, payload) = item?;
                Ok(Entry {
                    log_id: log_id.to_raft(),
                    payload: payload.0,
                })
            })
            .collect()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i + 1,
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.read_entries(from, to)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        Ok(self.lock()?.log_state().vote().map(|v| v.to_raft()))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let wal = self.lock()?;
        let state = wal.log_state();
        let purged = state.purged().map(|id| id.to_raft());
        let last = state.last().map(|id| id.to_raft()).or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.lock()?.save_vote(WalVote::from_raft(vote))?;
        self.sync().await
    }

    /// The committed id is recorded lazily (it rides on the next fsync): losing
    /// it only means re-learning it from the leader, never losing data.
    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        if let Some(log_id) = committed {
            self.lock()?.commit(WalLogId::from_raft(&log_id))?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self.lock()?.log_state().committed().map(|id| id.to_raft()))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
    {
        let mut wal = self.lock()?;
        wal.append(
            entries
                .into_iter()
                .map(|e| (WalLogId::from_raft(&e.log_id), WalPayload(e.payload))),
        )?;
        self.group.submit(&mut wal, callback)
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let next = last_log_id.map_or(0, |id| id.index + 1);
        self.lock()?.truncate(next)?;
        self.sync().await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        self.lock()?.purge(WalLogId::from_raft(&log_id))?;
        tracing::info!(
            "purged-up-to-index" = log_id.index,
            "purged raft log entries behind a snapshot"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Proposal;
    use etcd_proto::raftpb::RaftRequest;
    use openraft::EntryPayload;

    fn entry(term: u64, index: u64) -> EntryOf<TypeConfig> {
        Entry {
            log_id: WalLogId { term, index }.to_raft(),
            payload: EntryPayload::Normal(Proposal(RaftRequest::default())),
        }
    }

    async fn append(store: &mut LogStore, entries: Vec<EntryOf<TypeConfig>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        store
            .lock()
            .unwrap()
            .append(
                entries
                    .into_iter()
                    .map(|e| (WalLogId::from_raft(&e.log_id), WalPayload(e.payload))),
            )
            .unwrap();
        store
            .lock()
            .unwrap()
            .flush(true, Some(WalCallback::Wait(tx)))
            .unwrap();
        rx.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn entries_and_vote_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            append(&mut store, (1..=5).map(|i| entry(1, i)).collect()).await;
            store
                .save_vote(&openraft::Vote::new_committed(1, 42))
                .await
                .unwrap();
            store
                .truncate_after(Some(WalLogId { term: 1, index: 3 }.to_raft()))
                .await
                .unwrap();
        }
        let mut store = LogStore::open(dir.path()).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.unwrap().index, 3);
        let entries = store.try_get_log_entries(1..10).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let vote = store.read_vote().await.unwrap().unwrap();
        assert_eq!(vote.leader_id.voted_for, 42);
        assert!(vote.committed);
    }

    /// Appends issued back to back (as openraft issues them) all complete,
    /// the later ones through the group commit, and all are durable.
    #[tokio::test]
    async fn appends_while_a_sync_runs_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(dir.path()).unwrap();
            let mut waits = Vec::new();
            for i in 1..=200 {
                let (tx, rx) = <TypeConfig as openraft::type_config::TypeConfigExt>::oneshot();
                store
                    .append(vec![entry(1, i)], IOFlushed::signal(tx))
                    .await
                    .unwrap();
                waits.push(rx);
            }
            for rx in waits {
                rx.await.unwrap().unwrap();
            }
        }
        // The group-commit thread may hold the WAL for a moment after the
        // last sync completed: wait for the directory lock to be released.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut store = loop {
            match LogStore::open(dir.path()) {
                Ok(store) => break store,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::task::yield_now().await
                }
                Err(e) => panic!("reopen: {e}"),
            }
        };
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.unwrap().index, 200);
    }

    #[tokio::test]
    async fn purge_moves_the_start_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        append(&mut store, (1..=4).map(|i| entry(2, i)).collect()).await;
        store
            .purge(WalLogId { term: 2, index: 2 }.to_raft())
            .await
            .unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.unwrap().index, 2);
        assert_eq!(state.last_log_id.unwrap().index, 4);
        let entries = store.try_get_log_entries(0..10).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[tokio::test]
    async fn purging_removes_closed_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open_with_chunks(dir.path(), 4096).unwrap();
        for batch in 0..200 {
            let first = batch * 10 + 1;
            append(
                &mut store,
                (first..first + 10).map(|i| entry(1, i)).collect(),
            )
            .await;
        }
        // The flush worker may remove a chunk between listing and stat:
        // a vanished file counts as zero bytes.
        let size = |dir: &Path| -> u64 {
            std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        };
        let before = size(dir.path());
        store
            .purge(
                WalLogId {
                    term: 1,
                    index: 1900,
                }
                .to_raft(),
            )
            .await
            .unwrap();
        // Chunks are removed by the flush worker after the next flush.
        append(&mut store, vec![entry(1, 2001)]).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let after = size(dir.path());
            if after * 4 < before {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "WAL {before} -> {after} bytes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let entries = store.try_get_log_entries(1901..1905).await.unwrap();
        assert_eq!(entries.len(), 4);
    }
}
