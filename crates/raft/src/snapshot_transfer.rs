//! Snapshot transfer between members: the leader streams its newest
//! snapshot file to a member that is too far behind to catch up from the
//! log (the entries it lacks are purged), and the member stores it for
//! openraft to install.
//!
//! One transfer is one client-streaming `InstallSnapshot` call. Its first
//! chunk carries the header ([`SnapshotHeader`]: the leader's vote, what
//! the snapshot holds, the file's size); the file follows in
//! [`CHUNK_BYTES`] pieces, each read from disk just before it is sent, so
//! memory stays bounded whatever the snapshot's size. The answer is the
//! receiver's vote once it has installed (or declined) the snapshot.
//!
//! Timing: a big snapshot may take far longer than any single RPC, so no
//! deadline covers the whole transfer. Each chunk must be taken by the
//! transport within [`chunk_timeout`] (a stalled peer stops taking them:
//! HTTP/2 flow control): openraft's snapshot RPC timeout (an election
//! timeout), but never less than [`MIN_CHUNK_TIMEOUT`], so a slow but
//! moving link (down to 100 KiB/s) completes instead of restarting from
//! the first byte forever. The answer must come within a time that grows
//! with the size (the receiver syncs, checks and installs the file).
//!
//! This module owns the bytes and timing at both ends. The gRPC plumbing is
//! `network` (sending) and `peer_service` (receiving); installing the file
//! is `state_machine`'s.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_proto::raftpb::raft_peer_client::RaftPeerClient;
use etcd_proto::raftpb::SnapshotChunk;
use futures::{SinkExt, Stream, StreamExt};
use openraft::alias::{SnapshotMetaOf, VoteOf};
use openraft::errors::ReplicationClosed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic::Status;

use crate::peer_codec::{self, SnapshotHeader};
use crate::types::TypeConfig;

/// File bytes per chunk.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// The least time a chunk may take to be sent: one [`CHUNK_BYTES`] chunk
/// in 10 s is a link of 100 KiB/s.
pub const MIN_CHUNK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one chunk may take to be sent, given openraft's timeout for
/// the snapshot RPC (which tracks the election timeout, far too short for
/// a megabyte on a slow link).
pub fn chunk_timeout(rpc_timeout: Duration) -> Duration {
    rpc_timeout.max(MIN_CHUNK_TIMEOUT)
}

/// How long a receiver waits for the next chunk before giving up on a
/// sender that went silent (a half-open connection never ends the call).
pub const RECEIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Names of files being received end with this; any left by an interrupted
/// transfer are removed at startup ([`remove_partial`]).
const PARTIAL_SUFFIX: &str = ".snap.part";

/// Why sending did not complete; `network` maps it to openraft's errors.
#[derive(Debug)]
pub enum SendError {
    /// The peer cannot be reached; back off before retrying.
    Unreachable(String),
    /// The transfer failed (timeout, error answer, local file); retry.
    Network(String),
    /// Raft canceled the transfer (this member stopped leading, say).
    Closed(ReplicationClosed),
}

/// Streams the snapshot file at `path` to a peer and returns the encoded
/// answer. `cancel` resolving ends the transfer at once.
pub async fn send(
    mut client: RaftPeerClient<Channel>,
    vote: VoteOf<TypeConfig>,
    meta: SnapshotMetaOf<TypeConfig>,
    path: &Path,
    cancel: impl Future<Output = ReplicationClosed>,
    chunk_timeout: Duration,
) -> Result<Vec<u8>, SendError> {
    // A newer snapshot may have replaced this one since Raft picked it; a
    // retry picks the new one up.
    let local = |what: &str, e: std::io::Error| {
        SendError::Network(format!("{what} snapshot {}: {e}", path.display()))
    };
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| local("cannot open", e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| local("cannot stat", e))?
        .len();
    let header = peer_codec::encode_snapshot_header(&SnapshotHeader { vote, meta, size });

    let (mut tx, rx) = futures::channel::mpsc::channel::<SnapshotChunk>(1);
    let produce = async move {
        let first = SnapshotChunk {
            header,
            data: Vec::new(),
        };
        offer(&mut tx, first, chunk_timeout).await?;
        let mut sent = 0u64;
        while sent < size {
            let mut data = Vec::with_capacity(CHUNK_BYTES);
            (&mut file)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut data)
                .await
                .map_err(|e| Offer::Failed(local("cannot read", e)))?;
            if data.is_empty() {
                let why = format!("snapshot {} shrank while being sent", path.display());
                return Err(Offer::Failed(SendError::Network(why)));
            }
            sent += data.len() as u64;
            let chunk = SnapshotChunk {
                header: Vec::new(),
                data,
            };
            offer(&mut tx, chunk, chunk_timeout).await?;
        }
        // Dropping `tx` ends the request stream.
        Ok(())
    };
    let call = client.install_snapshot(rx);
    tokio::pin!(call, cancel, produce);

    // While chunks go out: the call ends early only with an error answer.
    tokio::select! {
        closed = &mut cancel => return Err(SendError::Closed(closed)),
        answer = &mut call => return answered(answer),
        produced = &mut produce => match produced {
            Ok(()) => {}
            Err(Offer::Failed(e)) => return Err(e),
            // The call dropped its stream: it has ended or is ending.
            Err(Offer::CallEnded) => {}
        },
    }
    let wait = answer_timeout(size, chunk_timeout);
    tokio::select! {
        closed = &mut cancel => Err(SendError::Closed(closed)),
        answer = tokio::time::timeout(wait, &mut call) => match answer {
            Ok(answer) => answered(answer),
            Err(_) => Err(SendError::Network(format!(
                "no answer within {wait:?} after sending a snapshot of {size} bytes"
            ))),
        },
    }
}

/// Why one chunk was not handed over.
enum Offer {
    Failed(SendError),
    CallEnded,
}

async fn offer(
    tx: &mut futures::channel::mpsc::Sender<SnapshotChunk>,
    chunk: SnapshotChunk,
    timeout: Duration,
) -> Result<(), Offer> {
    match tokio::time::timeout(timeout, tx.send(chunk)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Offer::CallEnded),
        Err(_) => Err(Offer::Failed(SendError::Network(format!(
            "the peer took no snapshot chunk within {timeout:?}"
        )))),
    }
}

fn answered(
    answer: Result<tonic::Response<etcd_proto::raftpb::PeerMessage>, Status>,
) -> Result<Vec<u8>, SendError> {
    match answer {
        Ok(response) => Ok(response.into_inner().payload),
        Err(status) if status.code() == tonic::Code::Unavailable => {
            Err(SendError::Unreachable(status.message().to_string()))
        }
        Err(status) => Err(SendError::Network(status.to_string())),
    }
}

/// How long the receiver may take to answer once it has every byte: it
/// syncs the file, opens it to check what it holds and installs it (a
/// rename, plus redb's open and close), at no less than 10 MiB/s, with a
/// fixed allowance for the rest.
pub fn answer_timeout(size: u64, chunk_timeout: Duration) -> Duration {
    const BYTES_PER_SEC: u64 = 10 * 1024 * 1024;
    chunk_timeout
        + Duration::from_secs(10)
        + Duration::from_millis(size.saturating_mul(1000) / BYTES_PER_SEC)
}

/// A snapshot received in full and synced to disk, not yet installed.
#[derive(Debug)]
pub struct Received {
    pub vote: VoteOf<TypeConfig>,
    pub meta: SnapshotMetaOf<TypeConfig>,
    pub file: ScratchFile,
}

/// A file in the snapshot directory that exists for one transfer (one
/// being received, or the copy of the store being sent); removed when
/// dropped unless [`ScratchFile::keep`] was called, so a transfer that
/// fails or is abandoned half-way leaves nothing behind.
#[derive(Debug)]
pub struct ScratchFile {
    path: PathBuf,
    armed: bool,
}

impl ScratchFile {
    /// Takes charge of the file at `path` (which may not exist yet).
    pub fn new(path: PathBuf) -> ScratchFile {
        ScratchFile { path, armed: true }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the file on (to be installed); it is no longer removed on drop.
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        self.path.clone()
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Receives one transfer into a new file in `snap_dir`, waiting at most
/// `idle` (normally [`RECEIVE_IDLE_TIMEOUT`]) for each chunk. Errors are
/// the status to answer with: `InvalidArgument` for a malformed transfer,
/// the stream's own status if it broke, `Internal` if the disk failed.
pub async fn receive<S>(mut chunks: S, snap_dir: &Path, idle: Duration) -> Result<Received, Status>
where
    S: Stream<Item = Result<SnapshotChunk, Status>> + Unpin,
{
    let Some(first) = next_chunk(&mut chunks, idle).await? else {
        return Err(Status::invalid_argument("empty snapshot transfer"));
    };
    let header = peer_codec::decode_snapshot_header(&first.header)
        .map_err(|e| Status::invalid_argument(format!("malformed snapshot header: {e}")))?;

    static SEQ: AtomicU64 = AtomicU64::new(0);
    let (term, index) = header
        .meta
        .last_log_id
        .map_or((0, 0), |id| (id.leader_id.term, id.index));
    let name = format!(
        "incoming-{term:016x}-{index:016x}-{}{PARTIAL_SUFFIX}",
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let disk = |e: std::io::Error| Status::internal(format!("cannot store the snapshot: {e}"));
    let partial = ScratchFile::new(snap_dir.join(name));
    let mut file = tokio::fs::File::create(&partial.path).await.map_err(disk)?;

    let mut received = 0u64;
    let mut data = first.data;
    loop {
        received += data.len() as u64;
        if received > header.size {
            return Err(Status::invalid_argument(format!(
                "snapshot has more than the {} bytes announced",
                header.size
            )));
        }
        file.write_all(&data).await.map_err(disk)?;
        match next_chunk(&mut chunks, idle).await? {
            Some(chunk) => data = chunk.data,
            None => break,
        }
    }
    if received != header.size {
        return Err(Status::invalid_argument(format!(
            "snapshot transfer ended after {received} of {} bytes",
            header.size
        )));
    }
    let started = std::time::Instant::now();
    file.sync_all().await.map_err(disk)?;
    crate::metrics::METRICS
        .snap_db_fsync_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Received {
        vote: header.vote,
        meta: header.meta,
        file: partial,
    })
}

/// The next chunk, `None` at the end of the stream.
async fn next_chunk<S>(chunks: &mut S, idle: Duration) -> Result<Option<SnapshotChunk>, Status>
where
    S: Stream<Item = Result<SnapshotChunk, Status>> + Unpin,
{
    match tokio::time::timeout(idle, chunks.next()).await {
        Ok(Some(chunk)) => chunk.map(Some),
        Ok(None) => Ok(None),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no snapshot chunk for {idle:?}"
        ))),
    }
}

/// Removes files that interrupted transfers left in `snap_dir`. Run at
/// startup, before the peer service accepts transfers.
pub fn remove_partial(snap_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(snap_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .ends_with(PARTIAL_SUFFIX)
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal_codec::WalLogId;
    use openraft::Vote;

    fn header(size: u64) -> Vec<u8> {
        peer_codec::encode_snapshot_header(&SnapshotHeader {
            vote: Vote::new_committed(3, 1),
            meta: SnapshotMetaOf::<TypeConfig> {
                last_log_id: Some(WalLogId { term: 3, index: 42 }.to_raft()),
                last_membership: Default::default(),
            },
            size,
        })
    }

    fn chunk(header: Vec<u8>, data: &[u8]) -> Result<SnapshotChunk, Status> {
        Ok(SnapshotChunk {
            header,
            data: data.to_vec(),
        })
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn receives_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let stream = futures::stream::iter(vec![
            chunk(header(7), b"abc"),
            chunk(vec![], b"de"),
            chunk(vec![], b""),
            chunk(vec![], b"fg"),
        ]);
        let got = receive(stream, dir.path(), RECEIVE_IDLE_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(got.vote, Vote::new_committed(3, 1));
        assert_eq!(got.meta.last_log_id.unwrap().index, 42);
        let path = got.file.keep();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdefg");
        assert!(path.to_string_lossy().ends_with(PARTIAL_SUFFIX));
        remove_partial(dir.path()).unwrap();
        assert!(files(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn bad_transfers_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(Vec<Result<SnapshotChunk, Status>>, tonic::Code)> = vec![
            (vec![], tonic::Code::InvalidArgument),
            (
                vec![chunk(b"junk".to_vec(), b"")],
                tonic::Code::InvalidArgument,
            ),
            // Truncated: the sender stopped early.
            (
                vec![chunk(header(10), b"abc"), chunk(vec![], b"de")],
                tonic::Code::InvalidArgument,
            ),
            // More than announced.
            (
                vec![chunk(header(2), b"ab"), chunk(vec![], b"c")],
                tonic::Code::InvalidArgument,
            ),
            // The stream broke (the sender went away).
            (
                vec![chunk(header(10), b"abc"), Err(Status::cancelled("gone"))],
                tonic::Code::Cancelled,
            ),
        ];
        for (chunks, code) in cases {
            let err = receive(
                futures::stream::iter(chunks),
                dir.path(),
                RECEIVE_IDLE_TIMEOUT,
            )
            .await
            .unwrap_err();
            assert_eq!(err.code(), code, "{err}");
            assert!(files(dir.path()).is_empty(), "{err}");
        }
    }

    #[tokio::test]
    async fn a_silent_sender_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let stream = futures::stream::iter(vec![chunk(header(10), b"abc")])
            .chain(futures::stream::pending());
        let err = receive(Box::pin(stream), dir.path(), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_chunk_may_take_at_least_ten_seconds() {
        assert_eq!(
            chunk_timeout(Duration::from_secs(1)),
            Duration::from_secs(10)
        );
        assert_eq!(
            chunk_timeout(Duration::from_secs(15)),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn the_answer_may_take_longer_for_bigger_snapshots() {
        let rpc = Duration::from_secs(1);
        assert_eq!(answer_timeout(0, rpc), Duration::from_secs(11));
        assert_eq!(
            answer_timeout(1024 * 1024 * 1024, rpc),
            Duration::from_secs(11) + Duration::from_millis(102_400)
        );
    }
}
