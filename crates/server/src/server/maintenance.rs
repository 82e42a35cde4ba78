//! Maintenance on [`EtcdServer`]: what `Status` reports, alarms, hashes,
//! a snapshot of the store, defragmentation and leadership transfer. The
//! backend and Raft are reached here, so the Maintenance service only
//! shapes answers.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmMember, AlarmRequest, AlarmResponse, AlarmType};
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::Caller;
use etcd_raft::RaftStatus;
use etcd_storage::etcd_snapshot::{self, EtcdMember, SnapshotContext};
use etcd_storage::{ApplyResponse, Backend, KvHash};

use super::{Consistency, EtcdServer};
use crate::errors::EtcdError;

/// What `Status` reports of this member.
#[derive(Debug, Clone)]
pub struct MemberStatus {
    pub raft: RaftStatus,
    pub revision: i64,
    pub db_size: u64,
    pub db_size_in_use: u64,
    /// Every active alarm, of any member.
    pub alarms: Vec<AlarmMember>,
}

/// How stale the backend's size in use may get. Measuring it walks the
/// whole database under the apply lock, so it is refreshed in the
/// background, at most this often, when Status or a scrape asks for it.
const SIZE_IN_USE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

impl EtcdServer {
    /// This member's state for `Status`, served from what it has applied.
    pub async fn member_status(&self) -> Result<MemberStatus, EtcdError> {
        let raft = self.node.status();
        let backend = self.node.backend().clone();
        let (revision, db_size, db_size_in_use) = blocking(move || {
            let revision = backend.read()?.current_revision()?;
            Ok((revision, backend.size()?, backend.size_in_use()))
        })
        .await?;
        let alarms = self.alarms().await?;
        Ok(MemberStatus {
            raft,
            revision,
            db_size,
            db_size_in_use,
            alarms,
        })
    }

    /// Every active alarm, of any member, as this member has applied them
    /// (etcd's `Alarms()`, which `Status` and the health checks read).
    pub async fn alarms(&self) -> Result<Vec<AlarmMember>, EtcdError> {
        self.read(Consistency::Serializable, |txn| {
            Ok(txn.alarms(AlarmType::None as i32)?)
        })
        .await
    }

    /// Starts a new measure of the backend's size in use when the last is
    /// older than [`SIZE_IN_USE_MAX_AGE`]; for Status and for `/metrics`
    /// (`etcd_mvcc_db_total_size_in_use_in_bytes`), which read the cached
    /// figure.
    pub fn refresh_size_in_use_if_stale(&self) {
        let Ok(mut last) = self.size_refreshed.lock() else {
            return;
        };
        if last.elapsed() < SIZE_IN_USE_MAX_AGE {
            return;
        }
        *last = std::time::Instant::now();
        self.refresh_size_in_use();
    }

    /// Measures the backend's size in use again, in the background (it
    /// walks the whole database).
    pub fn refresh_size_in_use(&self) {
        let backend = self.node.backend().clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = backend.refresh_size_in_use() {
                tracing::warn!(error = %e, "cannot measure the backend's size in use");
            }
        });
    }

    /// GET reads the alarms (linearizable: it changes nothing, so it is no
    /// log entry); ACTIVATE and DEACTIVATE go through Raft. Open to every
    /// caller, as in etcd 3.4.
    pub async fn alarm(
        &self,
        caller: &Caller,
        request: AlarmRequest,
    ) -> Result<AlarmResponse, EtcdError> {
        if request.action() == AlarmAction::Get {
            let alarm = request.alarm;
            let alarms = self
                .read(Consistency::Linearizable, move |txn| Ok(txn.alarms(alarm)?))
                .await?;
            return Ok(AlarmResponse {
                header: None,
                alarms,
            });
        }
        match self.write(caller, Request::Alarm(request)).await? {
            ApplyResponse::Alarm(resp) => Ok(resp),
            _ => Err(super::kv::unexpected("alarm")),
        }
    }

    /// Hash of the whole store and the revision it was taken at (root
    /// only, as every hash, snapshot and defragmentation).
    pub async fn hash(&self, caller: &Caller) -> Result<(u32, i64), EtcdError> {
        self.check_maintenance_admin(caller).await?;
        self.read(Consistency::Serializable, |txn| {
            Ok((etcd_storage::hash_all(txn)?, txn.current_revision()?))
        })
        .await
    }

    /// etcd's HashKV up to `revision` (0: the current one).
    pub async fn hash_kv(&self, caller: &Caller, revision: i64) -> Result<KvHash, EtcdError> {
        self.check_maintenance_admin(caller).await?;
        self.read(Consistency::Serializable, move |txn| {
            Ok(etcd_storage::hash_kv(txn, revision)?)
        })
        .await
    }

    /// A consistent copy of the store in etcd's own format (a bbolt
    /// database with etcd's buckets, see `etcd_storage::etcd_snapshot`), in
    /// an unlinked scratch file, open, with its size: what `etcdctl snapshot
    /// save` gets, and etcd's tools can check and restore. Writes go on
    /// meanwhile; the copy is of the read view taken first.
    pub async fn snapshot(&self, caller: &Caller) -> Result<(File, u64), EtcdError> {
        self.check_maintenance_admin(caller).await?;
        let backend = self.node.backend().clone();
        let status = self.node.status();
        let members = self
            .node
            .membership()
            .members()
            .into_iter()
            .map(|m| EtcdMember {
                id: m.id,
                name: m.node.name,
                peer_urls: m.node.peer_urls,
                client_urls: m.node.client_urls,
                is_learner: m.is_learner,
            })
            .collect();
        let context = SnapshotContext {
            consistent_index: status.applied_index,
            term: status.term,
            members,
        };
        blocking(move || snapshot_file(&backend, &context)).await
    }

    /// Gives the backend's free pages back to the file system, waiting at
    /// most `wait` for the apply batch in progress; writes wait only while
    /// the copy is brought up to date (`RaftNode::defragment`).
    pub async fn defragment(&self, caller: &Caller, wait: Duration) -> Result<(), EtcdError> {
        self.check_maintenance_admin(caller).await?;
        let defragment = self.node.defragment(wait);
        blocking(move || Ok(defragment()?)).await
    }

    /// Hands the leadership to `target` and returns once it leads; only the
    /// leader accepts it. Open to every caller, as in etcd 3.4.
    pub async fn move_leader(&self, target: u64) -> Result<(), EtcdError> {
        if !self.node.is_leader() {
            return Err(EtcdError::NotLeader);
        }
        match self.node.transfer_leader(target).await {
            Ok(()) => Ok(()),
            Err(etcd_raft::ProposeError::Timeout) => Err(EtcdError::LeaderTransferTimeout),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs storage work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EtcdError> + Send + 'static,
) -> Result<T, EtcdError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EtcdError::Internal(e.to_string()))?
}

/// Writes a consistent copy of the backend to a scratch file beside the
/// database (a copy can be as large as the store: `/tmp` is often a small
/// tmpfs) and returns it open, with its size. The file is unlinked at once:
/// the open handle keeps it readable, and nothing is left behind however the
/// stream ends.
fn snapshot_file(backend: &Backend, context: &SnapshotContext) -> Result<(File, u64), EtcdError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = backend
        .dir()
        .join(format!("stream-snapshot-{}-{n}.tmp", std::process::id()));
    let scratch = |e: std::io::Error| EtcdError::Internal(format!("snapshot file: {e}"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(scratch)?;
    // Unlinked at once: the open handle keeps it until the stream ends.
    std::fs::remove_file(&path).map_err(scratch)?;
    let view = backend.read()?;
    let total = etcd_snapshot::export(&view, context, file.try_clone().map_err(scratch)?)?;
    drop(view);
    let mut file = file;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).map_err(scratch)?;
    Ok((file, total))
}
