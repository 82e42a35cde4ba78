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
//! A snapshot received from the leader (`snapshot_transfer`) replaces the
//! whole backend (`Backend::install`): the applied log id and membership
//! then come from the installed file's meta, this member's own meta keys
//! are kept, and the [`InstallObserver`] rebuilds what upper layers derive
//! from the store. The received file itself becomes the backend (renamed,
//! not copied), so disk use peaks at twice the database (the new file and
//! the old one, open until its last reader ends), not three times. No file
//! then holds the installed snapshot: the next time Raft asks for the
//! current snapshot (to send it to a member further behind), one is built
//! from the backend, at the installed log id or later.
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
const REPLICATED_META: &[&str] = &["raft/"];

/// How long an install may wait for a moment when no transaction is
/// beginning (they are short; this bounds a pathological stall).
const INSTALL_LOCK_WAIT: Duration = Duration::from_secs(60);

type CurrentSnapshot = Arc<std::sync::Mutex<Current>>;

/// The newest snapshot, as `get_current_snapshot` sees it.
#[derive(Default)]
struct Current {
    /// The newest snapshot file and what it holds.
    file: Option<(SnapshotMetaOf<TypeConfig>, PathBuf)>,
    /// The last snapshot installed from the leader, when no file holds it
    /// (its file became the backend): a snapshot is owed, to be built when
    /// asked for, and no snapshot older than this may become current.
    installed: Option<LogIdOf<TypeConfig>>,
}

/// A snapshot as a file: a consistent copy of the whole backend.
#[derive(Debug)]
pub struct SnapshotFile {
    pub path: PathBuf,
}

pub struct StateMachine {
    backend: Arc<Backend>,
    /// Where snapshot files are written (`<data-dir>/member/snap`).
    snap_dir: PathBuf,
    last_durable: Instant,
    /// The newest built snapshot, shared with the builders that replace it.
    current: CurrentSnapshot,
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
        let current = Current {
            file: newest_snapshot(&snap_dir)?,
            installed: None,
        };
        Ok(StateMachine {
            backend,
            snap_dir,
            last_durable: Instant::now(),
            current: Arc::new(std::sync::Mutex::new(current)),
            observer,
            on_install: None,
            waiters: Waiters::default(),
        })
    }

    /// Checks the snapshot found at startup against the Raft log and the
    /// store: Raft needs its snapshot to cover everything the log lacks, and
    /// to be a state the store has passed. openraft purges the log up to
    /// the store's applied id at startup when the log ends before it (after
    /// a crash right after an install), so that counts as purged too. A
    /// snapshot that fails is removed; Raft then builds one.
    pub fn with_log_state(
        self,
        purged: Option<LogIdOf<TypeConfig>>,
        last: Option<LogIdOf<TypeConfig>>,
    ) -> io::Result<Self> {
        let applied = read_applied(&self.view()?)?.map(WalLogId::to_raft);
        let purged = if applied > last { applied } else { purged };
        let mut current = lock(&self.current)?;
        if let Some((meta, path)) = &current.file {
            if meta.last_log_id < purged || meta.last_log_id > applied {
                tracing::warn!(
                    path = %path.display(),
                    snapshot = ?meta.last_log_id,
                    ?purged,
                    ?applied,
                    "removing a snapshot file the raft log or the store has moved past"
                );
                std::fs::remove_file(path)?;
                current.file = None;
            }
        }
        drop(current);
        Ok(self)
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
        let mut request_id = 0;
        let applied = match &entry.payload {
            EntryPayload::Blank => Applied(None),
            EntryPayload::Normal(Proposal(request)) => {
                request_id = request.id;
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
        };
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
    type SnapshotData = SnapshotFile;
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
        let entries: Vec<EntryResponder<TypeConfig>> = entries.try_collect().await?;
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
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let backend = self.backend.clone();
        let snap_dir = self.snap_dir.clone();
        let current = self.current.clone();
        let observer = self.on_install.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || {
            install(
                &backend,
                &snap_dir,
                &current,
                meta,
                &snapshot.path,
                observer,
            )
        })
        .await
        .map_err(io::Error::other)??;
        // The installed file was committed durably.
        self.last_durable = Instant::now();
        Ok(())
    }

    /// The newest snapshot file; after an install, one built now (a copy
    /// of the backend, while applies wait) if no build has published one
    /// since. Raft asks for it to send to a member, so it must hold the
    /// installed state or later: nothing older is in the log any more.
    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotFile>>, io::Error> {
        let owed = {
            let current = lock(&self.current)?;
            if let Some((meta, path)) = &current.file {
                return Ok(Some(SnapshotOf::<TypeConfig, SnapshotFile> {
                    meta: meta.clone(),
                    snapshot: SnapshotFile { path: path.clone() },
                }));
            }
            current.installed.is_some()
        };
        if !owed {
            return Ok(None);
        }
        let built = self.get_snapshot_builder().await.build_snapshot().await?;
        Ok(Some(built))
    }
}

/// Builds a snapshot: a durable commit, then a consistent copy of the backend.
pub struct SnapshotBuilder {
    backend: Arc<Backend>,
    snap_dir: PathBuf,
    current: CurrentSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotFile>, io::Error> {
        let backend = self.backend.clone();
        let snap_dir = self.snap_dir.clone();
        let current = self.current.clone();
        tokio::task::spawn_blocking(move || {
            // Holding the apply batch stops applies: the view taken now, the
            // state the durable commit persists and the log id recorded in the
            // snapshot are one point. Raft purges the log behind that id, and
            // redb must never roll back behind what the log still holds.
            let batch = backend.begin_apply().map_err(io::Error::other)?;
            let view = backend.read().map_err(io::Error::other)?;
            batch.commit(true).map_err(io::Error::other)?;
            let applied = read_applied(&view)?;
            let membership = read_membership(&view)?;
            let meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: applied.map(WalLogId::to_raft),
                last_membership: membership,
            };
            let path = snap_dir.join(snapshot_name(&meta));
            backend
                .write_snapshot(&view, &path)
                .map_err(io::Error::other)?;
            drop(view);
            publish(&current, &snap_dir, &meta, &path)?;
            if let Err(e) = backend.refresh_size_in_use() {
                tracing::warn!(error = %e, "cannot measure the backend's size in use");
            }
            Ok(SnapshotOf::<TypeConfig, SnapshotFile> {
                meta,
                snapshot: SnapshotFile { path },
            })
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// A snapshot's file name: its last log id, so names sort by age.
fn snapshot_name(meta: &SnapshotMetaOf<TypeConfig>) -> String {
    match meta.last_log_id.as_ref().map(WalLogId::from_raft) {
        Some(id) => format!("{:016x}-{:016x}.snap.db", id.term, id.index),
        None => "empty.snap.db".to_string(),
    }
}

/// Makes the snapshot at `path` the current one and removes the others,
/// unless a newer one is current already: a snapshot installed from the
/// leader while this member was building its own is newer than the one
/// built, and must stay.
fn publish(
    current: &CurrentSnapshot,
    snap_dir: &Path,
    meta: &SnapshotMetaOf<TypeConfig>,
    path: &Path,
) -> io::Result<()> {
    let mut current = lock(current)?;
    let newer_file = current.file.as_ref().is_some_and(|(newer, newer_path)| {
        newer.last_log_id > meta.last_log_id && newer_path != path
    });
    if newer_file || current.installed > meta.last_log_id {
        std::fs::remove_file(path)?;
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_older_snapshots(snap_dir, &name)?;
    current.file = Some((meta.clone(), path.to_path_buf()));
    Ok(())
}

fn lock(current: &CurrentSnapshot) -> io::Result<std::sync::MutexGuard<'_, Current>> {
    current
        .lock()
        .map_err(|_| io::Error::other("snapshot lock poisoned"))
}

/// Whether `view` (a snapshot's file) holds what `meta` says: the applied
/// log id and membership Raft will take from `meta`. A file that differs
/// would make Raft's idea of this member wrong. The error says how.
pub(crate) fn check_snapshot(
    view: &ReadTxn,
    meta: &SnapshotMetaOf<TypeConfig>,
) -> Result<(), String> {
    let applied = read_applied(view)
        .map_err(|e| e.to_string())?
        .map(WalLogId::to_raft);
    if applied != meta.last_log_id {
        return Err(format!(
            "the snapshot holds log id {applied:?}, its sender announced {:?}",
            meta.last_log_id
        ));
    }
    let membership = read_membership(view).map_err(|e| e.to_string())?;
    if membership != meta.last_membership {
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

/// Installs the snapshot file received at `received` (see
/// `snapshot_transfer`, which checked it with [`check_received`]): the
/// file becomes the backend, the older snapshot files go (a snapshot is
/// built when next asked for), and `observer` is told.
///
/// Any error stops Raft (openraft treats a failed install as a storage
/// failure), so the file is checked again before it replaces anything: if
/// this fails, the old store is still there for a restart. Waiting for the
/// store's lock ([`INSTALL_LOCK_WAIT`]) fails only if a write transaction
/// stays open that long; applies wait for the install, so the only writers
/// are short (a snapshot build's sync, a member's own meta).
fn install(
    backend: &Backend,
    snap_dir: &Path,
    current: &CurrentSnapshot,
    meta: SnapshotMetaOf<TypeConfig>,
    received: &Path,
    observer: Option<InstallObserver>,
) -> io::Result<()> {
    tracing::info!(snapshot = ?meta.last_log_id, "applying snapshot");
    let check = |view: &ReadTxn| check_snapshot(view, &meta);
    {
        // Every snapshot file is older than the state being installed. They
        // go first: a restart takes the newest file as the current snapshot
        // (see `newest_snapshot`), and after a crash in the middle of the
        // install none must be left that is older than the purged log.
        let mut current = lock(current)?;
        current.file = None;
        remove_older_snapshots(snap_dir, "")?;
    }
    backend
        .install(received, REPLICATED_META, &check, INSTALL_LOCK_WAIT)
        .map_err(io::Error::other)?;
    {
        // A build of the old store may have published meanwhile (builds run
        // in their own task): it is older than the installed state.
        let mut current = lock(current)?;
        current.installed = meta.last_log_id;
        if let Some((built, path)) = &current.file {
            if built.last_log_id < meta.last_log_id {
                std::fs::remove_file(path)?;
                current.file = None;
            }
        }
    }
    let view = backend.read().map_err(io::Error::other)?;
    let revision = view.current_revision().map_err(io::Error::other)?;
    if let Some(observer) = &observer {
        observer(&view);
    }
    tracing::info!(
        snapshot = ?meta.last_log_id,
        revision,
        "applied snapshot"
    );
    Ok(())
}

/// Removes every snapshot but `keep` (`""`: every one). Files still being written (a build's
/// `.tmp` copy, a transfer being received) are left alone.
fn remove_older_snapshots(dir: &Path, keep: &str) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".snap.db") && name != keep {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The newest snapshot file in `dir` and what it holds, read at startup so
/// Raft finds the snapshot it purged its log behind (otherwise it rebuilds
/// one before starting: a copy of the whole store). A file that cannot be
/// read is removed and a warning logged; Raft then builds a new one.
fn newest_snapshot(dir: &Path) -> io::Result<Option<(SnapshotMetaOf<TypeConfig>, PathBuf)>> {
    let mut newest: Option<PathBuf> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_snapshot = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".snap.db"));
        // Names are the zero-padded last log id: they sort by age; the
        // empty store's snapshot (a name without digits) is the oldest.
        let age = |p: &Path| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            (name.starts_with(|c: char| c.is_ascii_hexdigit()), name)
        };
        if is_snapshot && newest.as_deref().is_none_or(|n| age(&path) > age(n)) {
            newest = Some(path);
        }
    }
    let Some(path) = newest else {
        return Ok(None);
    };
    let read = Backend::view_file(&path)
        .map_err(io::Error::other)
        .and_then(|view| {
            Ok(SnapshotMetaOf::<TypeConfig> {
                last_log_id: read_applied(&view)?.map(WalLogId::to_raft),
                last_membership: read_membership(&view)?,
            })
        });
    match read {
        Ok(meta) => Ok(Some((meta, path))),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "removing an unreadable snapshot file");
            std::fs::remove_file(&path)?;
            Ok(None)
        }
    }
}

/// Removes what a crash left half-written: snapshot copies being built and
/// transfers being received. Run at startup, before either can begin.
fn remove_leftovers(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .ends_with(".snap.db.tmp")
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    snapshot_transfer::remove_partial(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose applied log id is `(term, index)`, with key `k` = `v`.
    fn store(path: &Path, term: u64, index: u64, v: &str) -> Backend {
        let b = Backend::open(path).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch
            .apply(&etcd_proto::raftpb::RaftRequest {
                caller: None,
                id: 0,
                request: Some(etcd_proto::raftpb::raft_request::Request::Put(
                    etcd_proto::etcdserverpb::PutRequest {
                        key: b"k".to_vec(),
                        value: v.as_bytes().to_vec(),
                        ..Default::default()
                    },
                )),
            })
            .unwrap();
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

    /// A leader's snapshot at (2, 50), received into `snap_dir`.
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
            .range(&etcd_proto::etcdserverpb::RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })
            .unwrap();
        resp.kvs[0].value.clone()
    }

    /// Builds a snapshot, as Raft asks for one.
    async fn build(sm: &mut StateMachine) -> SnapshotOf<TypeConfig, SnapshotFile> {
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    }

    fn machine(dir: &Path) -> (Arc<Backend>, PathBuf, StateMachine) {
        let snap_dir = dir.join("snap");
        let backend = Arc::new(store(&dir.join("db"), 1, 7, "mine"));
        let sm = StateMachine::new(backend.clone(), snap_dir.clone(), None).unwrap();
        (backend, snap_dir, sm)
    }

    #[tokio::test]
    async fn an_installed_snapshot_is_built_again_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        // An older snapshot of this member's own.
        let own = build(&mut sm).await;
        assert_eq!(own.meta.last_log_id, meta(1, 7).last_log_id);

        let path = received(dir.path(), &snap_dir);
        assert_eq!(check_received(&path, &meta(2, 50)), Ok(()));
        sm.install_snapshot(&meta(2, 50), SnapshotFile { path: path.clone() })
            .await
            .unwrap();
        assert_eq!(value(&backend), b"leader");
        assert_eq!(sm.applied_state().await.unwrap().0, meta(2, 50).last_log_id);
        // The received file became the backend; the old snapshot is gone.
        assert!(!path.exists());
        assert!(!own.snapshot.path.exists());
        assert_eq!(std::fs::read_dir(&snap_dir).unwrap().count(), 0);

        // Asked for, the snapshot is built from the installed store.
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.last_log_id, meta(2, 50).last_log_id);
        let copy = Backend::view_file(&current.snapshot.path).unwrap();
        assert_eq!(check_snapshot(&copy, &meta(2, 50)), Ok(()));
        drop(copy);
        // And kept: asked again, the same file.
        let again = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(again.snapshot.path, current.snapshot.path);
    }

    #[tokio::test]
    async fn a_restarted_member_finds_its_snapshot_without_building_one() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        let built = build(&mut sm).await;
        let modified = std::fs::metadata(&built.snapshot.path)
            .unwrap()
            .modified()
            .unwrap();
        drop(sm);

        // An unreadable leftover that sorts before it is ignored.
        std::fs::write(
            snap_dir.join("0000000000000000-0000000000000001.snap.db"),
            b"x",
        )
        .unwrap();
        let mut again = StateMachine::new(backend, snap_dir.clone(), None).unwrap();
        let current = again.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, built.meta);
        assert_eq!(current.snapshot.path, built.snapshot.path);
        let unchanged = std::fs::metadata(&current.snapshot.path)
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(unchanged, modified, "the snapshot was built again");

        // The newest file is unreadable: removed, and Raft will build one.
        std::fs::write(
            snap_dir.join("ffffffffffffffff-0000000000000001.snap.db"),
            b"x",
        )
        .unwrap();
        let other = Arc::new(Backend::open(&dir.path().join("db2")).unwrap());
        let mut third = StateMachine::new(other, snap_dir.clone(), None).unwrap();
        assert!(third.get_current_snapshot().await.unwrap().is_none());
        assert!(!snap_dir
            .join("ffffffffffffffff-0000000000000001.snap.db")
            .exists());
    }

    #[tokio::test]
    async fn a_snapshot_raft_could_not_use_is_dropped_at_startup() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, snap_dir, mut sm) = machine(dir.path());
        // A snapshot at (1, 7), the store's applied id.
        build(&mut sm).await;
        drop(sm);
        let restart = |purged: Option<u64>, last: Option<u64>| {
            let id = |i: u64| WalLogId { term: 1, index: i }.to_raft();
            StateMachine::new(backend.clone(), snap_dir.clone(), None)
                .unwrap()
                .with_log_state(purged.map(id), last.map(id))
                .unwrap()
        };

        // The log starts at or before it: kept.
        let mut kept = restart(Some(5), Some(9));
        assert!(kept.get_current_snapshot().await.unwrap().is_some());
        // The log was purged past it: dropped, and its file removed.
        let mut dropped = restart(Some(8), Some(20));
        assert!(dropped.get_current_snapshot().await.unwrap().is_none());
        assert_eq!(std::fs::read_dir(&snap_dir).unwrap().count(), 0);

        // A store behind its own snapshot (a lost or replaced file).
        let ahead = store(&dir.path().join("ahead.db"), 1, 30, "x");
        ahead
            .write_snapshot(
                &ahead.read().unwrap(),
                &snap_dir.join("0000000000000001-000000000000001e.snap.db"),
            )
            .unwrap();
        let mut behind = restart(None, Some(7));
        assert!(behind.get_current_snapshot().await.unwrap().is_none());

        // The log ends before the store's applied id (a crash right after an
        // install): Raft purges up to the applied id, so an older snapshot goes.
        sm = restart(None, None);
        build(&mut sm).await;
        drop(sm);
        let mut batch = backend.begin_apply().unwrap();
        batch
            .set_meta(META_APPLIED, &WalLogId { term: 1, index: 12 }.to_bytes())
            .unwrap();
        batch.commit(true).unwrap();
        assert!(restart(None, Some(12))
            .get_current_snapshot()
            .await
            .unwrap()
            .is_some());
        assert!(restart(None, Some(9))
            .get_current_snapshot()
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_snapshot_not_holding_what_was_announced_is_declined() {
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
            .install_snapshot(&meta(2, 51), SnapshotFile { path: path.clone() })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("announced"), "{err}");
        assert_eq!(value(&backend), b"mine");
        assert_eq!(sm.applied_state().await.unwrap().0, meta(1, 7).last_log_id);
        assert!(!path.exists());
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
    }

    #[test]
    fn a_build_older_than_an_install_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let current = CurrentSnapshot::default();
        lock(&current).unwrap().installed = meta(2, 50).last_log_id;
        let old = dir.path().join("old.snap.db");
        std::fs::write(&old, b"x").unwrap();
        publish(&current, dir.path(), &meta(1, 7), &old).unwrap();
        assert!(!old.exists());
        assert!(lock(&current).unwrap().file.is_none());
        let new = dir.path().join("new.snap.db");
        std::fs::write(&new, b"x").unwrap();
        publish(&current, dir.path(), &meta(2, 60), &new).unwrap();
        assert!(new.exists());
        assert_eq!(
            lock(&current).unwrap().file.as_ref().unwrap().0.last_log_id,
            meta(2, 60).last_log_id
        );
    }
}
