//! The Maintenance service (`etcdserverpb.Maintenance`).
//!
//! Status and Alarm are served (`etcdctl endpoint status/health`, `alarm
//! list/disarm`). Snapshot streams a point-in-time copy of the backend (a
//! redb file, which etcd's bbolt tools cannot read), Hash and HashKV are
//! computed by `etcd_storage::hash` (HashKV with etcd's algorithm).
//! Defragment compacts the redb file in place (`Backend::defragment`).
//! MoveLeader transfers the leadership (openraft's transfer) and waits for
//! it. Downgrade answers `Unimplemented` for now.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::maintenance_server::Maintenance;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use etcd_proto::raftpb::Caller;
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::errors::EtcdError;
use crate::server::EtcdServer;
use crate::VERSION;

/// How long Defragment waits for transactions begun before it to end
/// (below etcdctl's default 5 s command timeout).
const DEFRAG_WAIT: Duration = Duration::from_secs(4);

pub struct MaintenanceService {
    server: Arc<EtcdServer>,
}

impl MaintenanceService {
    pub fn new(server: Arc<EtcdServer>) -> MaintenanceService {
        MaintenanceService { server }
    }
}

impl MaintenanceService {
    /// The caller of a root-only call (Defragment, Snapshot, Hash,
    /// HashKV): a bad token is refused with the auth store's own error, as
    /// etcd's maintenance service passes it on.
    async fn admin_caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = self.server.caller(request).await;
        Ok(caller.map_err(EtcdError::unmapped)?)
    }
}

fn not_yet(rpc: &str) -> Status {
    super::not_yet("Maintenance", rpc)
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        // etcd 3.4 answers every action from its apply, with no header
        // (`etcdctl alarm list -w json` prints `{}`): we do the same.
        let caller = self.server.caller(&request).await?;
        let req = request.into_inner();
        Ok(Response::new(self.server.alarm(&caller, req).await?))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let status = self.server.member_status().await?;
        self.server.refresh_size_in_use_if_stale();
        let raft = status.raft;
        let mut errors = Vec::new();
        if raft.leader.is_none() {
            errors.push(EtcdError::NoLeader.to_string());
        }
        errors.extend(status.alarms.iter().map(alarm_text));
        Ok(Response::new(StatusResponse {
            header: Some(self.server.header(status.revision)),
            version: VERSION.to_string(),
            db_size: status.db_size as i64,
            leader: raft.leader.unwrap_or(0),
            raft_index: raft.committed_index,
            raft_term: raft.term,
            raft_applied_index: raft.applied_index,
            errors,
            db_size_in_use: status.db_size_in_use as i64,
            is_learner: raft.is_learner,
        }))
    }

    async fn defragment(
        &self,
        request: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        let caller = self.admin_caller(&request).await?;
        // Gives the backend's free pages back to the file system (after a
        // compaction, this is what lets a member out of NOSPACE). New
        // transactions wait meanwhile, writes included, as in etcd; if
        // transactions already open outlast DEFRAG_WAIT (a long snapshot
        // copy, say) the call fails with nothing changed, and may be
        // retried. Runs on the blocking pool: it sleeps and does file I/O.
        tracing::info!("starting defragment");
        self.server
            .defragment(&caller, DEFRAG_WAIT)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "failed to defragment");
                e
            })?;
        tracing::info!("finished defragment");
        // etcd 3.4 answers an empty response: no header.
        Ok(Response::new(DefragmentResponse { header: None }))
    }

    async fn hash(&self, request: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let caller = self.admin_caller(&request).await?;
        // Not comparable with etcd's (a hash of bbolt buckets): see
        // etcd_storage::hash. Served from this member's state, as etcd does.
        let (hash, revision) = self.server.hash(&caller).await?;
        Ok(Response::new(HashResponse {
            header: Some(self.server.header(revision)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let caller = self.admin_caller(&request).await?;
        let rev = request.into_inner().revision;
        let h = self.server.hash_kv(&caller, rev).await?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.server.header(h.current_revision)),
            hash: h.hash,
            compact_revision: h.compact_revision,
        }))
    }

    type SnapshotStream =
        Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>>;

    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let caller = self.admin_caller(&request).await?;
        let (file, total) = self.server.snapshot(&caller).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(SNAPSHOT_QUEUE);
        tokio::task::spawn_blocking(move || stream_snapshot(file, total, &tx));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    /// Hands the leadership to `target_id` and answers once it leads. Only
    /// the leader accepts it ("not leader" elsewhere, as etcd); a target
    /// that is not a voting member is a "bad leader transferee".
    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        // Open to every caller, and etcd 3.4 does not even look at its
        // token.
        let target = request.into_inner().target_id;
        self.server.move_leader(target).await?;
        // etcd 3.4 answers without a header.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(
        &self,
        _: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(not_yet("Downgrade"))
    }
}

/// Bytes per Snapshot message (etcd's `snapshotSendBufferSize`).
const SNAPSHOT_CHUNK: usize = 32 * 1024;
/// Snapshot messages read ahead of a slow client.
const SNAPSHOT_QUEUE: usize = 4;

/// Sends `file` as etcd does: chunks with the bytes remaining after each,
/// then one last message whose blob is the SHA-256 of everything sent
/// (which `etcdctl snapshot save` checks). Stops when the client goes away.
fn stream_snapshot(
    mut file: std::fs::File,
    total: u64,
    tx: &tokio::sync::mpsc::Sender<Result<SnapshotResponse, Status>>,
) {
    use sha2::Digest;
    use std::io::Read;
    let mut sha = sha2::Sha256::new();
    let mut sent = 0u64;
    while sent < total {
        let mut buf = vec![0u8; SNAPSHOT_CHUNK.min((total - sent) as usize)];
        if let Err(e) = file.read_exact(&mut buf) {
            let _ = tx.blocking_send(Err(Status::unknown(format!("snapshot read: {e}"))));
            return;
        }
        sent += buf.len() as u64;
        sha.update(&buf);
        let msg = SnapshotResponse {
            header: None,
            remaining_bytes: total - sent,
            blob: buf,
        };
        if tx.blocking_send(Ok(msg)).is_err() {
            return;
        }
    }
    let _ = tx.blocking_send(Ok(SnapshotResponse {
        header: None,
        remaining_bytes: 0,
        blob: sha.finalize().to_vec(),
    }));
}

/// An alarm as etcd lists it in Status.errors: the protobuf text form of the
/// `AlarmMember`, each set field followed by a space (e.g.
/// "memberID:10276657743932975437 alarm:NOSPACE ").
fn alarm_text(a: &etcd_proto::etcdserverpb::AlarmMember) -> String {
    use etcd_proto::etcdserverpb::AlarmType;
    let mut out = String::new();
    if a.member_id != 0 {
        out.push_str(&format!("memberID:{} ", a.member_id));
    }
    if a.alarm != 0 {
        match AlarmType::try_from(a.alarm) {
            Ok(t) => out.push_str(&format!("alarm:{} ", t.as_str_name())),
            Err(_) => out.push_str(&format!("alarm:{} ", a.alarm)),
        }
    }
    out
}

#[cfg(test)]
mod alarm_tests {
    use super::alarm_text;
    use etcd_proto::etcdserverpb::{AlarmMember, AlarmType};

    #[test]
    fn alarm_text_is_etcds() {
        let a = AlarmMember {
            member_id: 10276657743932975437,
            alarm: AlarmType::Nospace as i32,
        };
        assert_eq!(
            alarm_text(&a),
            "memberID:10276657743932975437 alarm:NOSPACE "
        );
        let none = AlarmMember {
            member_id: 7,
            alarm: 0,
        };
        assert_eq!(alarm_text(&none), "memberID:7 ");
    }
}
