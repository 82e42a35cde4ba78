//! The server half of the peer transport: the `RaftPeer` gRPC service that
//! hands other members' AppendEntries, Vote and PreVote requests, and
//! snapshot transfers (received by [`crate::snapshot_transfer`]), to this
//! member's Raft. The server crate registers it on `--listen-peer-urls`.
//!
//! Owns decoding requests and encoding answers ([`crate::peer_codec`]); the
//! decisions are openraft's. Bytes that do not decode are `InvalidArgument`;
//! a stopped Raft is `Unavailable`, which the sender treats as unreachable.

use etcd_proto::raftpb::raft_peer_server::{RaftPeer, RaftPeerServer};
use etcd_proto::raftpb::{
    ForwardedProposal, ForwardedProposalResult, PeerMessage, PublishRequest, PublishResponse,
    ReadIndexRequest, ReadIndexResponse,
};
use etcd_proto::raftpb::{
    MemberChangeRequest, MemberChangeResponse, MembersRequest, MembersResponse,
};
use std::path::PathBuf;

use etcd_proto::raftpb::SnapshotChunk;
use openraft::alias::SnapshotOf;
use openraft::async_runtime::WatchReceiver;
use openraft::raft::AppendEntriesResponse;
use openraft::Raft;
use tonic::{Request, Response, Status, Streaming};

use crate::forward;
use crate::liveness::LeaderContact;
use crate::membership::Membership;
use crate::network::MAX_PEER_MESSAGE_BYTES;
use crate::peer_codec;
use crate::snapshot_transfer;
use crate::state_machine::{self, SnapshotData, StateMachine};
use crate::types::TypeConfig;

/// Serves peer RPCs for one member's Raft.
pub struct PeerService {
    raft: Raft<TypeConfig, StateMachine>,
    /// Where received snapshots are stored (`<data-dir>/member/snap`);
    /// unset, snapshot transfers are refused.
    snap_dir: Option<PathBuf>,
    /// Membership changes and member lists; unset, those RPCs are refused.
    membership: Option<Membership>,
    /// Told when an AppendEntries from a leader is accepted.
    contact: LeaderContact,
}

impl PeerService {
    pub(crate) fn new(raft: Raft<TypeConfig, StateMachine>, contact: LeaderContact) -> PeerService {
        PeerService {
            raft,
            snap_dir: None,
            membership: None,
            contact,
        }
    }

    /// Also serves membership changes and member lists through `membership`.
    pub(crate) fn with_membership(mut self, membership: Membership) -> PeerService {
        self.membership = Some(membership);
        self
    }

    fn membership(&self) -> Result<&Membership, Status> {
        self.membership
            .as_ref()
            .ok_or_else(|| Status::unavailable("membership is not served here"))
    }

    /// Also accepts snapshot transfers, storing them in `snap_dir`.
    pub(crate) fn with_snapshots(mut self, snap_dir: PathBuf) -> PeerService {
        self.snap_dir = Some(snap_dir);
        self
    }

    /// The tonic service, ready to add to a router.
    pub fn into_server(self) -> RaftPeerServer<PeerService> {
        RaftPeerServer::new(self)
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
    }
}

fn bad_request(e: std::io::Error) -> Status {
    Status::invalid_argument(format!("malformed peer message: {e}"))
}

fn stopped(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft is not running: {e}"))
}

fn answer(payload: Vec<u8>) -> Result<Response<PeerMessage>, Status> {
    Ok(Response::new(PeerMessage { payload }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn probe(&self, request: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let payload = request.into_inner().payload;
        let prober = crate::prober::sender(&payload)
            .ok_or_else(|| Status::invalid_argument("a probe names its sender"))?;
        let own_id = self.raft.metrics().borrow_watched().id;
        let answer = crate::prober::payload(own_id);
        crate::metrics::served(prober, payload.len(), answer.len());
        Ok(Response::new(PeerMessage { payload: answer }))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<PeerMessage>, Status> {
        let Some(snap_dir) = &self.snap_dir else {
            return Err(Status::unavailable("snapshots are not received here"));
        };
        let received = snapshot_transfer::receive(
            request.into_inner(),
            snap_dir,
            snapshot_transfer::RECEIVE_IDLE_TIMEOUT,
        )
        .await?;
        tracing::info!(
            snapshot = ?received.meta.last_log_id,
            "received and saved database snapshot"
        );
        // Declined here, the leader hears why and sends again later; once
        // handed to Raft, a bad file could only stop this member.
        let (path, meta) = (received.file.path().to_path_buf(), received.meta.clone());
        let checked =
            tokio::task::spawn_blocking(move || state_machine::check_received(&path, &meta))
                .await
                .map_err(|e| Status::internal(format!("checking the snapshot: {e}")))?;
        if let Err(why) = checked {
            tracing::warn!(snapshot = ?received.meta.last_log_id, %why, "declined a database snapshot");
            return Err(Status::failed_precondition(format!(
                "snapshot declined: {why}"
            )));
        }
        let path = received.file.keep();
        let snapshot = SnapshotOf::<TypeConfig, SnapshotData> {
            meta: received.meta,
            snapshot: SnapshotData::Received(path.clone()),
        };
        let resp = self
            .raft
            .install_full_snapshot(received.vote, snapshot)
            .await;
        // Installing moves the file; still here, Raft declined it (a stale
        // vote, or nothing newer than what this member has).
        if path.exists() {
            let _ = std::fs::remove_file(&path);
        }
        answer(peer_codec::encode_snapshot_response(
            &resp.map_err(stopped)?,
        ))
    }

    async fn append_entries(
        &self,
        request: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let payload = request.into_inner().payload;
        let rpc = peer_codec::decode_append_request(&payload).map_err(bad_request)?;
        let leader = {
            use openraft::vote::RaftLeaderId;
            *rpc.vote.leader_id().node_id()
        };
        let resp = self.raft.append_entries(rpc).await.map_err(stopped)?;
        // Anything but "your vote is stale" means the sender leads us.
        if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
            self.contact.record(std::time::Instant::now());
        }
        let answer_bytes = peer_codec::encode_append_response(&resp);
        crate::metrics::served(leader, payload.len(), answer_bytes.len());
        answer(answer_bytes)
    }

    async fn vote(&self, request: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let rpc =
            peer_codec::decode_vote_request(&request.into_inner().payload).map_err(bad_request)?;
        let resp = self.raft.vote(rpc).await.map_err(stopped)?;
        answer(peer_codec::encode_vote_response(&resp))
    }

    async fn pre_vote(
        &self,
        request: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let rpc =
            peer_codec::decode_vote_request(&request.into_inner().payload).map_err(bad_request)?;
        let resp = self.raft.pre_vote(rpc).await.map_err(stopped)?;
        answer(peer_codec::encode_vote_response(&resp))
    }

    async fn transfer_leader(
        &self,
        request: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let rpc = peer_codec::decode_transfer_leader_request(&request.into_inner().payload)
            .map_err(bad_request)?;
        let resp = self
            .raft
            .handle_transfer_leader(rpc)
            .await
            .map_err(stopped)?;
        answer(peer_codec::encode_transfer_leader_response(&resp))
    }

    // Serving from any member: the leader's half (see `crate::forward`).

    async fn propose(
        &self,
        request: Request<ForwardedProposal>,
    ) -> Result<Response<ForwardedProposalResult>, Status> {
        let answer = forward::propose(&self.raft, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn read_index(
        &self,
        _request: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        Ok(Response::new(forward::read_index(&self.raft).await?))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let answer = forward::publish(&self.raft, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    // Membership: the leader's half (see `crate::membership`).

    async fn change_membership(
        &self,
        request: Request<MemberChangeRequest>,
    ) -> Result<Response<MemberChangeResponse>, Status> {
        let answer = self
            .membership()?
            .serve_forwarded(request.into_inner())
            .await?;
        Ok(Response::new(answer))
    }

    async fn members(
        &self,
        _request: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(self.membership()?.serve_members()))
    }
}
