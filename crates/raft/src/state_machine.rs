//! openraft's `RaftStateMachine` over the redb backend: applies committed
//! entries in batches and builds snapshots.
//!
//! Each batch of committed entries is applied in ONE redb write transaction that
//! also records the last applied log id and the membership, so the data and
//! "how far we got" can never disagree. Most commits are not fsynced: the WAL
//! already holds every entry durably, so after a crash redb rolls back to its
//! last durable commit (data and applied id together) and Raft re-applies the
//! rest from the WAL. A batch commits durably when the last durable commit is
//! older than [`DURABLE_COMMIT_INTERVAL`]; a snapshot commits durably first
//! (so the log is never purged past what redb holds durably), and so does
//! shutdown.
//!
//! A snapshot is what etcd's is: its meta (the last log id and membership
//! it covers) plus the live store, which holds that state or a later one.
//! Building one is a durable commit and a look at the applied id — no
//! copy, so the data dir holds no second store and no periodic copy of the
//! whole store costs CPU. Only when a member needs a snapshot is a
//! consistent view of the store copied into a file and streamed to it
//! ([`SnapshotData::Live`], see `network`); the file is removed once sent.
//!
//! A snapshot received from the leader (`snapshot_transfer`) replaces the
//! whole backend (`Backend::install`): the applied log id and membership
//! then come from the installed file's meta, this member's own meta keys
//! are kept, and the [`InstallObserver`] rebuilds what upper layers derive
//! from the store. The received file itself becomes the backend (renamed,
//! not copied), so disk use peaks at twice the database (the new file and
//! the old one, open until its last reader ends), not three times. The
//! received store may be newer than the meta it came with (the leader's
//! store moved on after its snapshot was built): Raft then hands the
//! entries in between to `apply` again, and they are skipped, as etcd
//! skips entries at or below its consistent index.
//!
//! This module does not interpret requests: `etcd_storage` does.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_storage::{Backend, Committed, ReadTxn};
use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, StoredMembership};

use crate::snapshot_transfer;
use crate::types::{Applied, Proposal, TypeConfig};
use crate::waiters::Waiters;
use crate::wal_codec::{decode_membership, encode_membership, WalLogId};

/// How stale redb's durable state may get behind what was applied. Bounds the
/// replay after a crash and the memory redb holds for non-durable commits.
pub const DURABLE_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// Batches up to this many entries, committed without fsync, are applied
/// on the state machine's task rather than a blocking thread (see `apply`)
/// if they are [`light`].
const IN_PLACE_MAX_ENTRIES: usize = 16;
/// ... and carry at most this many bytes of keys and values.
const IN_PLACE_MAX_BYTES: usize = 256 * 1024;

/// Meta keys this crate owns in the backend.
const META_APPLIED: &str = "raft/applied";
const META_MEMBERSHIP: &str = "raft/membership";

/// Told about every committed batch, on the apply thread, before any client
/// of that batch is answered: watchers see a write no later than its writer
/// learns it succeeded. Must not block.
pub type CommitObserver = Arc<dyn Fn(&Committed) + Send + Sync>;

/// Told when a snapshot from the leader has replaced the whole store, on
/// the state machine's thread before anything is applied on top of it,
/// with a view of the installed store: whoever keeps state derived from
/// the backend (watchers, leases) must rebuild it from there. Must not
/// block for long.
pub type InstallObserver = Arc<dyn Fn(&ReadTxn) + Send + Sync>;

/// Meta keys under these prefixes are replicated state carried by a
/// snapshot; the backend's other (non-`mvcc/`) meta keys describe this
/// member and survive an install (see `Backend::install`).
pub(crate) const REPLICATED_META: &[&str] = &["raft/"];

/// How long an install may wait for a moment when no transaction is
/// beginning (they are short; this bounds a pathological stall).
const INSTALL_LOCK_WAIT: Duration = Duration::from_secs(60);

type CurrentSnapshot = Arc<std::sync::Mutex<Current>>;

/// The newest snapshot, shared by the state machine and its builders.
#[derive(Default)]
struct Current {
    /// What the newest snapshot (built here or installed) covers; the
    /// store holds that state or a later one. None until the first build
    /// or install since this member started: Raft builds one at startup if
    /// its log was purged.
    meta: Option<SnapshotMetaOf<TypeConfig>>,
    /// Set by an install whose store is ahead of the meta it came with:
    /// the store's applied log id. Raft has not applied up to it yet, so a
    /// build until then reports the installed meta, never a state Raft has
    /// not reached (it would purge log entries it still has to apply).
    ahead: Option<WalLogId>,
}

/// A snapshot's data, as Raft passes it around.
pub enum SnapshotData {
    /// A snapshot this member built: its store, which holds the snapshot's
    /// state or a later one. `network` copies a view of it into a file in
    /// `snap_dir` when a member needs it ([`copy_for_sending`]).
    Live {
        backend: Arc<Backend>,
        snap_dir: PathBuf,
    },
    /// A file received from the leader and checked, to be installed.
    Received(PathBuf),
}

impl std::fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotData::Live { snap_dir, .. } => write!(f, "live store ({})", snap_dir.display()),
            SnapshotData::Received(path) => write!(f, "received file {}", path.display()),
        }
    }
}

pub struct StateMachine {
    backend: Arc<Backend>,
    /// Where snapshot files are received and copies for sending written
    /// (`<data-dir>/member/snap`).
    snap_dir: PathBuf,
    last_durable: Instant,
    /// The newest snapshot, shared with the builders.
    current: CurrentSnapshot,
    /// After an install whose store was ahead of its meta: the index up to
    /// which entries Raft applies are already in the store (see
    /// [`Current::ahead`]).
    skip_through: Option<u64>,
    /// Who hears about committed batches (the watch hub, the lessor).
    observer: Option<CommitObserver>,
    /// Who hears about installed snapshots (the same).
    on_install: Option<InstallObserver>,
    /// Writes this member took from clients and forwarded to the leader:
    /// their results go to the waiting request, not to a Raft responder.
    waiters: Waiters,
}

impl StateMachine {
    pub fn new(
        backend: Arc<Backend>,
        snap_dir: PathBuf,
        observer: Option<CommitObserver>,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(&snap_dir)?;
        remove_leftovers(&snap_dir)?;
        Ok(StateMachine {
            backend,
            snap_dir,
            last_durable: Instant::now(),
            current: CurrentSnapshot::default(),
            skip_through: None,
            observer,
            on_install: None,
            waiters: Waiters::default(),
        })
    }

    /// Sets who is told about installed snapshots.
    pub fn with_install_observer(mut self, observer: Option<InstallObserver>) -> Self {
        self.on_install = observer;
        self
    }

    /// The registry applied results of forwarded writes are handed to.
    pub(crate) fn waiters(&self) -> Waiters {
        self.waiters.clone()
    }

    /// Drops the entries an installed store already holds (see
    /// [`Current::ahead`]) and returns the rest. Those entries were
    /// committed before the install, so no client of this member's Raft
    /// waits on them; a write this member forwarded among them goes
    /// unanswered and its client times out, as in etcd.
    fn skip_installed(
        &mut self,
        mut entries: Vec<EntryResponder<TypeConfig>>,
    ) -> io::Result<Vec<EntryResponder<TypeConfig>>> {
        let Some(through) = self.skip_through else {
            return Ok(entries);
        };
        let reached = entries
            .last()
            .is_some_and(|(e, _)| e.log_id.index >= through);
        let held = entries.partition_point(|(e, _)| e.log_id.index <= through);
        for (_, responder) in entries.drain(..held) {
            if let Some(responder) = responder {
                responder.send(Applied(None));
            }
        }
        if reached {
            // Raft's applied id has caught up with the store's.
            self.skip_through = None;
            lock(&self.current)?.ahead = None;
        }
        Ok(entries)
    }

    fn view(&self) -> io::Result<ReadTxn> {
        self.backend.read().map_err(io::Error::other)
    }
}

/// Whether `entries` are cheap enough to apply on an async task: a few
/// puts of modest size (and empty entries). Anything whose cost is not
/// bounded by its size (a compaction, a range delete, a lease revoke, a
/// txn) goes to a blocking thread.
fn light(entries: &[EntryResponder<TypeConfig>]) -> bool {
    use etcd_proto::raftpb::raft_request::Request;
    if entries.len() > IN_PLACE_MAX_ENTRIES {
        return false;
    }
    let mut bytes = 0;
    for (entry, _) in entries {
        match &entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Normal(Proposal(request)) => match &request.request {
                Some(Request::Put(put)) => bytes += put.key.len() + put.value.len(),
                _ => return false,
            },
            EntryPayload::Membership(_) => return false,
        }
    }
    bytes <= IN_PLACE_MAX_BYTES
}

/// The entries of one batch and what each answers: the responder Raft
/// gave (the leader's own proposals), the request id (writes forwarded by
/// this member) and the result.
type Answers = Vec<(
    Option<openraft::storage::ApplyResponder<TypeConfig>>,
    u64,
    Applied,
)>;

/// Applies `entries` in `batch`, records `last` as applied and commits.
fn apply_batch(
    mut batch: etcd_storage::ApplyBatch<'_>,
    entries: Vec<EntryResponder<TypeConfig>>,
    last: WalLogId,
    durable: bool,
    observer: Option<&CommitObserver>,
) -> io::Result<Answers> {
    let mut responses = Vec::with_capacity(entries.len());
    for (entry, responder) in entries {
        let request_id = match &entry.payload {
            EntryPayload::Normal(Proposal(request)) => request.id,
            _ => 0,
        };
        let applied = apply_entry(&mut batch, &entry)?;
        responses.push((responder, request_id, applied));
    }
    batch
        .set_meta(META_APPLIED, &last.to_bytes())
        .map_err(io::Error::other)?;
    let committed = batch.commit(durable).map_err(io::Error::other)?;
    if let Some(observer) = observer {
        observer(&committed);
    }
    Ok(responses)
}

/// Applies one entry to `batch`: a client request, or a membership the
/// store records.
fn apply_entry(
    batch: &mut etcd_storage::ApplyBatch<'_>,
    entry: &openraft::alias::EntryOf<TypeConfig>,
) -> io::Result<Applied> {
    Ok(match &entry.payload {
        EntryPayload::Blank => Applied(None),
        EntryPayload::Normal(Proposal(request)) => {
            let started = Instant::now();
            let applied = batch.apply_at(entry.log_id.index, request);
            if started.elapsed() > crate::metrics::SLOW_APPLY {
                crate::metrics::METRICS.slow_applies.inc();
            }
            Applied(Some(applied))
        }
        EntryPayload::Membership(membership) => {
            let mut bytes = WalLogId::from_raft(&entry.log_id).to_bytes().to_vec();
            encode_membership(&mut bytes, membership);
            batch
                .set_meta(META_MEMBERSHIP, &bytes)
                .map_err(io::Error::other)?;
            Applied(None)
        }
    })
}

/// A defragment's catch-up (see `Backend::defragment_online`): re-applies
/// to `batch`, a copy of the store as `copied` saw it, the log entries the
/// store applied since, up to what `now` sees. Applying is deterministic,
/// so the copy then holds what the store holds. `Ok(false)` if the log no
/// longer has every one of those entries.
pub(crate) fn catch_up(
    log: &crate::log_store::LogStore,
    copied: &ReadTxn,
    now: &ReadTxn,
    batch: &mut etcd_storage::ApplyBatch<'_>,
) -> io::Result<bool> {
    let from = read_applied(copied)?;
    let Some(to) = read_applied(now)? else {
        return Ok(from.is_none());
    };
    if from == Some(to) {
        return Ok(true);
    }
    let first = from.map_or(0, |id| id.index + 1);
    let entries = log.read_entries(first, to.index + 1)?;
    let complete = entries.first().is_some_and(|e| e.log_id.index == first)
        && entries.last().map(|e| WalLogId::from_raft(&e.log_id)) == Some(to)
        && entries.len() as u64 == to.index + 1 - first;
    if !complete {
        return Ok(false);
    }
    for entry in &entries {
        apply_entry(batch, entry)?;
    }
    batch
        .set_meta(META_APPLIED, &to.to_bytes())
        .map_err(io::Error::other)?;
    Ok(true)
}

fn read_applied(view: &ReadTxn) -> io::Result<Option<WalLogId>> {
    match view.meta(META_APPLIED).map_err(io::Error::other)? {
        Some(bytes) => Ok(Some(WalLogId::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}

fn read_membership(view: &ReadTxn) -> io::Result<StoredMembershipOf<TypeConfig>> {
    let Some(bytes) = view.meta(META_MEMBERSHIP).map_err(io::Error::other)? else {
        return Ok(StoredMembership::default());
    };
    let (id, mut rest) = bytes.split_at(16.min(bytes.len()));
    let log_id = WalLogId::from_bytes(id)?.to_raft();
    let membership = decode_membership(&mut rest)?;
    Ok(StoredMembership::new(Some(log_id), membership))
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let view = self.view()?;
        let applied = read_applied(&view)?.map(WalLogId::to_raft);
        Ok((applied, read_membership(&view)?))
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut entries: Vec<EntryResponder<TypeConfig>> = entries.try_collect().await?;
        if self.skip_through.is_some() {
            entries = self.skip_installed(entries)?;
        }
        let Some(last) = entries.last().map(|(e, _)| WalLogId::from_raft(&e.log_id)) else {
            return Ok(());
        };

        // redb calls block, so batches run on a blocking thread; but a short
        // batch committed without fsync takes microseconds, less than the
        // hand-off to that thread and back, which a lone client would wait
        // for on every write. Those run in place, when the store is free.
        let durable = self.last_durable.elapsed() >= DURABLE_COMMIT_INTERVAL;
        let observer = self.observer.clone();
        let in_place = if !durable && light(&entries) {
            self.backend.try_begin_apply().map_err(io::Error::other)?
        } else {
            None
        };
        let responses = match in_place {
            Some(batch) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                apply_batch(batch, entries, last, durable, observer.as_ref())
            }))
            .map_err(|_| io::Error::other("applying a batch panicked"))??,
            None => {
                let backend = self.backend.clone();
                tokio::task::spawn_blocking(move || {
                    let batch = backend.begin_apply().map_err(io::Error::other)?;
                    apply_batch(batch, entries, last, durable, observer.as_ref())
                })
                .await
                .map_err(io::Error::other)??
            }
        };
        if durable {
            self.last_durable = Instant::now();
        }

        // Answer only after the commit: a client never sees a write that a
        // reader could not yet see.
        for (responder, request_id, applied) in responses {
            // A write this member forwarded to the leader: its client is
            // answered from this apply.
            let applied = match applied.0 {
                Some(result) => Applied(self.waiters.complete(request_id, result)),
                None => applied,
            };
            if let Some(responder) = responder {
                responder.send(applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            backend: self.backend.clone(),
            snap_dir: self.snap_dir.clone(),
            current: self.current.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let SnapshotData::Received(path) = snapshot else {
            // Raft installs only what it received (or, at startup, a
            // snapshot newer than the store, which a live one never is).
            return Err(io::Error::other(
                "only a received snapshot can be installed",
            ));
        };
        let backend = self.backend.clone();
        let current = self.current.clone();
        let observer = self.on_install.clone();
        let meta = meta.clone();
        let ahead =
            tokio::task::spawn_blocking(move || install(&backend, &current, meta, &path, observer))
                .await
                .map_err(io::Error::other)??;
        self.skip_through = ahead.map(|id| id.index);
        // The installed file was committed durably.
        self.last_durable = Instant::now();
        Ok(())
    }

    /// The newest snapshot built or installed since this member started.
    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotData>>, io::Error> {
        let meta = lock(&self.current)?.meta.clone();
        Ok(meta.map(|meta| SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData::Live {
                backend: self.backend.clone(),
                snap_dir: self.snap_dir.clone(),
            },
        }))
    }
}

/// Builds a snapshot: a durable commit, and what the store then holds.
pub struct SnapshotBuilder {
    backend: Arc<Backend>,
    snap_dir: PathBuf,
    current: CurrentSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotData>, io::Error> {
        let backend = self.backend.clone();
        let current = self.current.clone();
        let meta = tokio::task::spawn_blocking(move || {
            // Holding the apply batch stops applies: the view taken now, the
            // state the durable commit persists and the log id recorded in the
            // snapshot are one point. Raft purges the log behind that id, and
            // redb must never roll back behind what the log still holds.
            let batch = backend.begin_apply().map_err(io::Error::other)?;
            let view = backend.read().map_err(io::Error::other)?;
            batch.commit(true).map_err(io::Error::other)?;
            let built = SnapshotMetaOf::<TypeConfig> {
                last_log_id: read_applied(&view)?.map(WalLogId::to_raft),
                last_membership: read_membership(&view)?,
            };
            drop(view);
            let meta = publish(&current, built)?;
            if let Err(e) = backend.refresh_size_in_use() {
                tracing::warn!(error = %e, "cannot measure the backend's size in use");
            }
            Ok::<_, io::Error>(meta)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData::Live {
                backend: self.backend.clone(),
                snap_dir: self.snap_dir.clone(),
            },
        })
    }
}

/// Makes `built` the current snapshot and returns what is current: the
/// installed meta instead while the store is ahead of what Raft applied
/// (see [`Current::ahead`]), and a newer snapshot if one is current
/// already (installed while this one was being built).
fn publish(
    current: &CurrentSnapshot,
    built: SnapshotMetaOf<TypeConfig>,
) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    let mut current = lock(current)?;
    match &current.meta {
        Some(newer) if current.ahead.is_some() || newer.last_log_id > built.last_log_id => {
            Ok(newer.clone())
        }
        _ => {
            current.meta = Some(built.clone());
            Ok(built)
        }
    }
}

fn lock(current: &CurrentSnapshot) -> io::Result<std::sync::MutexGuard<'_, Current>> {
    current
        .lock()
        .map_err(|_| io::Error::other("snapshot lock poisoned"))
}

/// Whether `view` (a snapshot's file) holds at least what `meta` says: the
/// applied log id and membership Raft will take from `meta`, or later ones
/// (the sender's store moves on after its snapshot is built; the entries in
/// between are skipped when Raft applies them). A store behind its meta
/// would make Raft's idea of this member wrong. The error says how.
pub(crate) fn check_snapshot(
    view: &ReadTxn,
    meta: &SnapshotMetaOf<TypeConfig>,
) -> Result<(), String> {
    let applied = read_applied(view)
        .map_err(|e| e.to_string())?
        .map(WalLogId::to_raft);
    if applied < meta.last_log_id {
        return Err(format!(
            "the snapshot holds log id {applied:?}, older than the {:?} its sender announced",
            meta.last_log_id
        ));
    }
    let membership = read_membership(view).map_err(|e| e.to_string())?;
    if membership.log_id() < meta.last_membership.log_id() || membership.log_id() > &applied {
        return Err(format!(
            "the snapshot holds membership {membership:?}, its sender announced {:?}",
            meta.last_membership
        ));
    }
    Ok(())
}

/// [`check_snapshot`] on a received file (not installed yet): run before
/// the file is handed to Raft, whose install cannot decline without
/// stopping.
pub(crate) fn check_received(path: &Path, meta: &SnapshotMetaOf<TypeConfig>) -> Result<(), String> {
    let view = Backend::view_file(path).map_err(|e| format!("not a database file: {e}"))?;
    check_snapshot(&view, meta)
}

/// Copies a consistent view of `backend` into a new file in `snap_dir`,
/// for sending as a snapshot covering `meta` (the view holds that state
/// or a later one). The file goes when the returned handle is dropped.
pub(crate) fn copy_for_sending(
    backend: &Backend,
    snap_dir: &Path,
    meta: &SnapshotMetaOf<TypeConfig>,
) -> io::Result<snapshot_transfer::ScratchFile> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let copy = snapshot_transfer::ScratchFile::new(
        snap_dir.join(format!("outgoing-{seq}{OUTGOING_SUFFIX}")),
    );
    let view = backend.read().map_err(io::Error::other)?;
    check_snapshot(&view, meta).map_err(io::Error::other)?;
    backend
        .write_snapshot(&view, copy.path())
        .map_err(io::Error::other)?;
    Ok(copy)
}

/// Names of the copies [`copy_for_sending`] writes end with this.
const OUTGOING_SUFFIX: &str = ".snap.send";

/// Installs the snapshot file received at `received` (see
/// `snapshot_transfer`, which checked it with [`check_received`]): the
/// file becomes the backend and `observer` is told. Returns the installed
/// store's applied log id if it is ahead of `meta` (see [`Current::ahead`]).
///
/// Any error stops Raft (openraft treats a failed install as a storage
/// failure), so the file is checked again before it replaces anything: if
/// this fails, the old store is still there for a restart. Waiting for the
/// store's lock ([`INSTALL_LOCK_WAIT`]) fails only if a write transaction
/// stays open that long; applies wait for the install, so the only writers
/// are short (a snapshot build's sync, a member's own meta).
fn install(
    backend: &Backend,
    current: &CurrentSnapshot,
    meta: SnapshotMetaOf<TypeConfig>,
    received: &Path,
    observer: Option<InstallObserver>,
) -> io::Result<Option<WalLogId>> {
    tracing::info!(snapshot = ?meta.last_log_id, "applying snapshot");
    let check = |view: &ReadTxn| check_snapshot(view, &meta);
    backend
        .install(received, REPLICATED_META, &check, INSTALL_LOCK_WAIT)
        .map_err(io::Error::other)?;
    let view = backend.read().map_err(io::Error::other)?;
    let applied = read_applied(&view)?;
    let ahead = applied.filter(|id| Some(id.to_raft()) > meta.last_log_id);
    {
        // A build of the old store may have published meanwhile (builds
        // run in their own task): it is older than the installed state.
        let mut current = lock(current)?;
        current.meta = Some(meta.clone());
        current.ahead = ahead;
    }
    let revision = view.current_revision().map_err(io::Error::other)?;
    if let Some(observer) = &observer {
        observer(&view);
    }
    tracing::info!(
        snapshot = ?meta.last_log_id,
        store = ?applied.map(WalLogId::to_raft),
        revision,
        "applied snapshot"
    );
    Ok(ahead)
}

/// Removes what an earlier run left in the snapshot directory: copies
/// being written or sent, transfers being received, and the full snapshot
/// copies (`*.snap.db`) that versions before snapshots were the live store
/// kept. Run at startup, before anything can use them.
fn remove_leftovers(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let leftover = [
            ".snap.db",
            ".snap.db.tmp",
            OUTGOING_SUFFIX,
            ".snap.send.tmp",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix));
        if leftover {
            std::fs::remove_file(entry.path())?;
        }
    }
    snapshot_transfer::remove_partial(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
    use etcd_proto::raftpb::{raft_request::Request, RaftRequest};
    use openraft::Entry;

    fn put(v: &str) -> RaftRequest {
        RaftRequest {
            caller: None,
            id: 0,
            request: Some(Request::Put(PutRequest {
                key: b"k".to_vec(),
                value: v.as_bytes().to_vec(),
                ..Default::default()
            })),
        }
    }

    /// A store whose applied log id is `(term, index)`, with key `k` = `v`.
    fn store(path: &Path, term: u64, index: u64, v: &str) -> Backend {
        let b = Backend::open(path).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.apply(&put(v)).unwrap();
        batch
            .set_meta(META_APPLIED, &WalLogId { term, index }.to_bytes())
            .unwrap();
        batch.commit(true).unwrap();
        b
    }

    fn meta(term: u64, index: u64) -> SnapshotMetaOf<TypeConfig> {
        SnapshotMetaOf::<TypeConfig> {
            last_log_id: Some(WalLogId { term, index }.to_raft()),
            last_membership: StoredMembership::default(),
        }
    }

    /// A leader's store at (2, 50), copied into `snap_dir` as received.
    fn received(dir: &Path, snap_dir: &Path) -> PathBuf {
        let leader = store(&dir.join("leader.db"), 2, 50, "leader");
        let path = snap_dir.join("incoming.snap.part");
        leader
            .write_snapshot(&leader.read().unwrap(), &path)
            .unwrap();
        path
    }

    fn value(b: &Backend) -> Vec<u8> {
        let r = b.read().unwrap();
        let resp = r
            .range(&RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })
            .unwrap();
        resp.kvs[0].value.clone()
    }

    /// Builds a snapshot, as Raft asks for one.
    async fn build(sm: &mut StateMachine) -> SnapshotOf<TypeConfig, SnapshotData> {
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    }

    /// Has Raft apply puts of `k` at `(term, index)` for each index.
    async fn apply(sm: &mut StateMachine, term: u64, indexes: std::ops::RangeInclusive<u64>) {
        let entries: Vec<io::Result<EntryResponder<TypeConfig>>> = indexes
            .map(|index| {
                let entry = Entry {
                    log_id: WalLogId { term, index }.to_raft(),
                    payload: EntryPayload::Normal(Proposal(put(&format!("at {index}")))),
                };
                Ok((entry, None))
            })
            .collect();
        sm.apply(futures::stream::iter(entries)).await.unwrap();
    }

    fn machine(dir: &Path) -> (Arc<Backend>, PathBuf, StateMachine) {
        let snap_dir = dir.join("snap");
        let backend = Arc::new(store(&dir.join("db"), 1, 7, "mine"));
        let sm = StateMachine::new(backend.clone(), snap_dir.clone(), None).unwrap();
        (backend, snap_dir, sm)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_build_copies_nothing_and_a_send_copies_the_live_store() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
        let built = build(&mut sm).await;
        assert_eq!(built.meta.last_log_id, meta(1, 7).last_log_id);
        assert!(files(&snap_dir).is_empty(), "a build wrote a file");
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, built.meta);

        // The store moves on; a copy for sending holds the newer state,
        // which covers the snapshot's meta.
        apply(&mut sm, 1, 8..=9).await;
        let copy = copy_for_sending(&backend, &snap_dir, &built.meta).unwrap();
        let view = Backend::view_file(copy.path()).unwrap();
        assert_eq!(check_snapshot(&view, &built.meta), Ok(()));
        assert_eq!(
            read_applied(&view).unwrap(),
            Some(WalLogId { term: 1, index: 9 })
        );
        drop(view);
        // A copy left by a crash is removed at the next start.
        drop(sm);
        StateMachine::new(backend, snap_dir.clone(), None).unwrap();
        assert!(files(&snap_dir).is_empty(), "{:?}", files(&snap_dir));
    }

    #[tokio::test]
    async fn an_installed_store_ahead_of_its_meta_skips_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        build(&mut sm).await;
        // The leader built its snapshot at (2, 40); its store is at (2, 50).
        let path = received(dir.path(), &snap_dir);
        assert_eq!(check_received(&path, &meta(2, 40)), Ok(()));
        sm.install_snapshot(&meta(2, 40), SnapshotData::Received(path.clone()))
            .await
            .unwrap();
        assert!(!path.exists(), "the received file became the store");
        assert_eq!(value(&backend), b"leader");
        assert_eq!(sm.applied_state().await.unwrap().0, meta(2, 50).last_log_id);
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.last_log_id, meta(2, 40).last_log_id);

        // Until Raft has applied up to the store, a build reports the
        // installed meta, and the entries the store holds are skipped.
        apply(&mut sm, 2, 41..=45).await;
        assert_eq!(build(&mut sm).await.meta, meta(2, 40));
        apply(&mut sm, 2, 46..=50).await;
        assert_eq!(value(&backend), b"leader");
        assert_eq!(sm.applied_state().await.unwrap().0, meta(2, 50).last_log_id);

        // Past it, entries apply and builds cover them.
        apply(&mut sm, 2, 51..=51).await;
        assert_eq!(value(&backend), b"at 51");
        assert_eq!(build(&mut sm).await.meta, meta(2, 51));
    }

    #[tokio::test]
    async fn a_batch_across_the_installed_store_applies_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        let path = received(dir.path(), &snap_dir);
        sm.install_snapshot(&meta(2, 48), SnapshotData::Received(path))
            .await
            .unwrap();
        apply(&mut sm, 2, 49..=52).await;
        assert_eq!(value(&backend), b"at 52");
        let view = backend.read().unwrap();
        // One put per new entry (51, 52) on top of the leader's one put.
        assert_eq!(view.current_revision().unwrap(), 4);
        assert_eq!(sm.applied_state().await.unwrap().0, meta(2, 52).last_log_id);
    }

    #[tokio::test]
    async fn a_snapshot_behind_what_was_announced_is_declined() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        let path = received(dir.path(), &snap_dir);

        // Checked on receipt: declined before Raft sees it.
        let why = check_received(&path, &meta(2, 51)).unwrap_err();
        assert!(why.contains("announced"), "{why}");
        let junk = snap_dir.join("junk.snap.part");
        std::fs::write(&junk, b"not a database").unwrap();
        assert!(check_received(&junk, &meta(2, 50)).is_err());

        // Checked again at install, before the swap: the store is intact.
        let err = sm
            .install_snapshot(&meta(2, 51), SnapshotData::Received(path.clone()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("announced"), "{err}");
        assert_eq!(value(&backend), b"mine");
        assert_eq!(sm.applied_state().await.unwrap().0, meta(1, 7).last_log_id);
        assert!(!path.exists());
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn old_full_copies_are_removed_at_startup() {
        let dir = tempfile::tempdir().unwrap();
        let snap_dir = dir.path().join("snap");
        std::fs::create_dir_all(&snap_dir).unwrap();
        for name in [
            "0000000000000002-0000000000000032.snap.db",
            "0000000000000002-0000000000000032.snap.db.tmp",
            "outgoing-3.snap.send",
        ] {
            std::fs::write(snap_dir.join(name), b"x").unwrap();
        }
        let backend = Arc::new(store(&dir.path().join("db"), 1, 7, "mine"));
        let mut sm = StateMachine::new(backend, snap_dir.clone(), None).unwrap();
        assert!(files(&snap_dir).is_empty(), "{:?}", files(&snap_dir));
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
    }

    #[test]
    fn a_build_older_than_an_install_is_not_published() {
        let current = CurrentSnapshot::default();
        lock(&current).unwrap().meta = Some(meta(2, 50));
        assert_eq!(publish(&current, meta(1, 7)).unwrap(), meta(2, 50));
        assert_eq!(publish(&current, meta(2, 60)).unwrap(), meta(2, 60));
        lock(&current).unwrap().ahead = Some(WalLogId { term: 2, index: 90 });
        assert_eq!(publish(&current, meta(2, 90)).unwrap(), meta(2, 60));
    }
}
