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
//! This module does not interpret requests: `etcd_storage` does.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_storage::{Backend, Committed, ReadTxn};
use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, StoredMembership};

use crate::types::{Applied, Proposal, TypeConfig};
use crate::waiters::Waiters;
use crate::wal_codec::{decode_membership, encode_membership, WalLogId};

/// How stale redb's durable state may get behind what was applied. Bounds the
/// replay after a crash and the memory redb holds for non-durable commits.
pub const DURABLE_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// Meta keys this crate owns in the backend.
const META_APPLIED: &str = "raft/applied";
const META_MEMBERSHIP: &str = "raft/membership";

/// Told about every committed batch, on the apply thread, before any client
/// of that batch is answered: watchers see a write no later than its writer
/// learns it succeeded. Must not block.
pub type CommitObserver = Arc<dyn Fn(&Committed) + Send + Sync>;

type CurrentSnapshot = Arc<std::sync::Mutex<Option<(SnapshotMetaOf<TypeConfig>, PathBuf)>>>;

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
        Ok(StateMachine {
            backend,
            snap_dir,
            last_durable: Instant::now(),
            current: CurrentSnapshot::default(),
            observer,
            waiters: Waiters::default(),
        })
    }

    /// The registry applied results of forwarded writes are handed to.
    pub(crate) fn waiters(&self) -> Waiters {
        self.waiters.clone()
    }

    fn view(&self) -> io::Result<ReadTxn> {
        self.backend.read().map_err(io::Error::other)
    }
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

/// Makes `backend` forget the Raft state stored with its data (the applied
/// log id and the membership), so the data can seed a new cluster whose log
/// starts empty: `etcdutl snapshot restore` does this to a snapshot of
/// another cluster. Committed durably.
pub fn forget_raft_state(backend: &Backend) -> io::Result<()> {
    let mut batch = backend.begin_apply().map_err(io::Error::other)?;
    for key in [META_APPLIED, META_MEMBERSHIP] {
        batch.delete_meta(key).map_err(io::Error::other)?;
    }
    batch.commit(true).map_err(io::Error::other)?;
    Ok(())
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

        // redb calls block; keep them off the async scheduler's threads.
        let backend = self.backend.clone();
        let durable = self.last_durable.elapsed() >= DURABLE_COMMIT_INTERVAL;
        let observer = self.observer.clone();
        let responses = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let mut batch = backend.begin_apply().map_err(io::Error::other)?;
            let mut responses = Vec::with_capacity(entries.len());
            for (entry, responder) in entries {
                let mut request_id = 0;
                let applied = match &entry.payload {
                    EntryPayload::Blank => Applied(None),
                    EntryPayload::Normal(Proposal(request)) => {
                        request_id = request.id;
                        Applied(Some(batch.apply(request)))
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
            if let Some(observer) = &observer {
                observer(&committed);
            }
            Ok(responses)
        })
        .await
        .map_err(io::Error::other)??;
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
        _snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        // A single member never receives a snapshot; installing one replaces
        // the backend under live readers and arrives with multi-member clusters.
        Err(io::Error::other(format!(
            "installing snapshot {:?} from a leader is not supported yet",
            meta.last_log_id
        )))
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotFile>>, io::Error> {
        let current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("snapshot lock poisoned"))?;
        Ok(current
            .as_ref()
            .map(|(meta, path)| SnapshotOf::<TypeConfig, SnapshotFile> {
                meta: meta.clone(),
                snapshot: SnapshotFile { path: path.clone() },
            }))
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
            let name = match applied {
                Some(id) => format!("{:016x}-{:016x}.snap.db", id.term, id.index),
                None => "empty.snap.db".to_string(),
            };
            let path = snap_dir.join(&name);
            backend
                .write_snapshot(&view, &path)
                .map_err(io::Error::other)?;
            drop(view);
            remove_older_snapshots(&snap_dir, &name)?;
            if let Err(e) = backend.refresh_size_in_use() {
                tracing::warn!(error = %e, "cannot measure the backend's size in use");
            }
            let meta = SnapshotMetaOf::<TypeConfig> {
                last_log_id: applied.map(WalLogId::to_raft),
                last_membership: membership,
            };
            *current
                .lock()
                .map_err(|_| io::Error::other("snapshot lock poisoned"))? =
                Some((meta.clone(), path.clone()));
            Ok(SnapshotOf::<TypeConfig, SnapshotFile> {
                meta,
                snapshot: SnapshotFile { path },
            })
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn remove_older_snapshots(dir: &std::path::Path, keep: &str) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Older snapshots, and copies a crash left half-written.
        let stale = (name.ends_with(".snap.db") && name != keep) || name.ends_with(".snap.db.tmp");
        if stale {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
