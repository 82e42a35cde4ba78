//! The client half of the peer transport: how Raft reaches other members.
//!
//! One lazily connected gRPC channel per peer, to the first peer URL in the
//! peer's [`MemberNode`], opened by the member's one
//! [`etcd_transport::PeerDialer`] (plain or TLS as the URL says); openraft's per-RPC deadline bounds every call. A
//! peer that cannot be connected to (or answers `Unavailable`) is
//! `Unreachable`, which makes openraft back off; any other failure is a
//! `Network` error, retried soon. The server half is [`crate::peer_service`];
//! the message bytes are [`crate::peer_codec`]'s.
//!
//! A follower that fell behind the leader's purged log (more than
//! `max_in_snapshot_log_to_keep` = 5000 entries behind the last snapshot)
//! gets the snapshot instead: `full_snapshot` streams it with
//! [`crate::snapshot_transfer`].

use std::future::Future;
use std::io;

use etcd_proto::raftpb::raft_peer_client::RaftPeerClient;
use etcd_proto::raftpb::PeerMessage;
use etcd_transport::PeerDialer;
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::raft::{TransferLeaderRequest, TransferLeaderResponse};
use openraft::{OptionalSend, RaftNetworkFactory, RaftNetworkV2};
use tonic::transport::Channel;

use crate::metrics::PeerMetrics;
use crate::peer_codec;
use crate::snapshot_transfer::{self, SendError};
use crate::state_machine::{self, SnapshotData};
use crate::types::{MemberNode, TypeConfig};

/// Largest peer message either side accepts: a batch of entries can hold
/// many requests of up to `--max-request-bytes` each.
pub const MAX_PEER_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// Creates a client per peer.
pub struct PeerNetwork {
    pub dialer: PeerDialer,
    /// `--heartbeat-interval`: a leader's heartbeat to a peer later than
    /// twice this after the last one is etcd's heartbeat send failure.
    pub heartbeat_interval: std::time::Duration,
}

/// A client for one peer.
pub struct PeerClient {
    target: u64,
    dialer: PeerDialer,
    url: Option<String>,
    client: Option<RaftPeerClient<Channel>>,
    /// This peer's `etcd_network_peer_*` series.
    metrics: PeerMetrics,
    /// When the last heartbeat the peer answered was sent, and how late
    /// the next may be.
    last_heartbeat: Option<std::time::Instant>,
    heartbeat_due: std::time::Duration,
}

/// Which RPC a call is, for error messages.
#[derive(Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    PreVote,
    TransferLeader,
}

impl PeerClient {
    fn unreachable(&self, why: impl std::fmt::Display) -> RPCError<TypeConfig> {
        RPCError::Unreachable(Unreachable::from_string(format!(
            "member {:x} is not reachable: {why}",
            self.target
        )))
    }

    fn network(&self, why: impl std::fmt::Display) -> RPCError<TypeConfig> {
        RPCError::Network(NetworkError::from_string(format!(
            "peer request to member {:x} failed: {why}",
            self.target
        )))
    }

    /// The channel, created on first use; connecting happens lazily inside
    /// tonic, so a peer that is not up yet costs nothing here.
    fn client(&mut self) -> Result<RaftPeerClient<Channel>, RPCError<TypeConfig>> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let Some(url) = self.url.clone() else {
            return Err(self.unreachable("it has no peer URL"));
        };
        let channel = self.dialer.channel(&url).map_err(|e| self.unreachable(e))?;
        let client = RaftPeerClient::new(channel)
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
        self.client = Some(client.clone());
        Ok(client)
    }

    async fn call(
        &mut self,
        rpc: Rpc,
        payload: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Vec<u8>, RPCError<TypeConfig>> {
        if crate::faults::blocked(self.target) {
            return Err(self.unreachable("blocked by the peer fault file"));
        }
        let mut client = self.client()?;
        self.metrics.sent.inc_by(payload.len() as u64);
        let request = PeerMessage { payload };
        let call = async move {
            match rpc {
                Rpc::AppendEntries => client.append_entries(request).await,
                Rpc::Vote => client.vote(request).await,
                Rpc::PreVote => client.pre_vote(request).await,
                Rpc::TransferLeader => client.transfer_leader(request).await,
            }
        };
        match tokio::time::timeout(option.hard_ttl(), call).await {
            Err(_) => Err(self.network(format!("no answer within {:?}", option.hard_ttl()))),
            Ok(Ok(response)) => {
                let payload = response.into_inner().payload;
                self.metrics.received.inc_by(payload.len() as u64);
                Ok(payload)
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                Err(self.unreachable(status.message()))
            }
            Ok(Err(status)) => Err(self.network(status)),
        }
    }

    fn decoded<T>(&self, result: io::Result<T>) -> Result<T, RPCError<TypeConfig>> {
        result.map_err(|e| self.network(format!("bad response: {e}")))
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &MemberNode) -> PeerClient {
        PeerClient {
            target,
            dialer: self.dialer.clone(),
            url: node.peer_urls.first().cloned(),
            client: None,
            metrics: PeerMetrics::of(target),
            last_heartbeat: None,
            heartbeat_due: self.heartbeat_interval * 2,
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let payload = peer_codec::encode_append_request(&rpc);
        // A heartbeat sent more than two intervals after the previous one the peer answered
        // is etcd's heartbeat send failure (the leader fell behind its
        // schedule); the gaps of a peer that does not answer are not.
        let heartbeat = rpc.entries.is_empty();
        let started = std::time::Instant::now();
        if heartbeat {
            if let Some(last) = self.last_heartbeat {
                if started.duration_since(last) > self.heartbeat_due {
                    crate::metrics::METRICS.heartbeat_failures.inc();
                }
            }
        }
        let sent = self.call(Rpc::AppendEntries, payload, &option).await;
        if heartbeat {
            match &sent {
                Ok(_) => self.last_heartbeat = Some(started),
                Err(_) => self.last_heartbeat = None,
            }
        }
        let bytes = sent?;
        self.decoded(peer_codec::decode_append_response(&bytes))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let payload = peer_codec::encode_vote_request(&rpc);
        let bytes = self.call(Rpc::Vote, payload, &option).await?;
        self.decoded(peer_codec::decode_vote_response(&bytes))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let payload = peer_codec::encode_vote_request(&rpc);
        let bytes = self.call(Rpc::PreVote, payload, &option).await?;
        self.decoded(peer_codec::decode_vote_response(&bytes))
    }

    /// MoveLeader: asks the target to start an election at once.
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let payload = peer_codec::encode_transfer_leader_request(&req);
        let bytes = self.call(Rpc::TransferLeader, payload, &option).await?;
        self.decoded(peer_codec::decode_transfer_leader_response(&bytes))
    }

    /// Streams the snapshot file (see [`crate::snapshot_transfer`]); the
    /// RPC timeout (raised to a floor) bounds each chunk, not the whole
    /// transfer.
    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        if crate::faults::blocked(self.target) {
            let why = format!("member {:x} is blocked by the peer fault file", self.target);
            return Err(StreamingError::Unreachable(Unreachable::from_string(why)));
        }
        let client = self.client().map_err(streaming)?;
        let SnapshotData::Live { backend, snap_dir } = snapshot.snapshot else {
            return Err(streaming(
                self.network("a received snapshot is not sent on"),
            ));
        };
        // The snapshot is the live store: a view of it, taken now, is
        // copied into a file for this transfer (removed when it ends).
        let meta = snapshot.meta.clone();
        let copied = tokio::task::spawn_blocking(move || {
            state_machine::copy_for_sending(&backend, &snap_dir, &meta)
        })
        .await
        .map_err(|e| streaming(self.network(format!("copying the snapshot: {e}"))))?;
        let copy =
            copied.map_err(|e| streaming(self.network(format!("copying the snapshot: {e}"))))?;
        tracing::info!(
            "remote-peer-id" = %format!("{:x}", self.target),
            snapshot = ?snapshot.meta.last_log_id,
            "sending database snapshot"
        );
        let sent = snapshot_transfer::send(
            client,
            vote,
            snapshot.meta,
            copy.path(),
            cancel,
            snapshot_transfer::chunk_timeout(option.hard_ttl()),
        )
        .await;
        drop(copy);
        let bytes = sent.map_err(|e| match e {
            SendError::Closed(closed) => StreamingError::Closed(closed),
            SendError::Unreachable(why) => streaming(self.unreachable(why)),
            SendError::Network(why) => streaming(self.network(format!("snapshot transfer: {why}"))),
        })?;
        let resp = peer_codec::decode_snapshot_response(&bytes)
            .map_err(|e| streaming(self.network(format!("bad snapshot answer: {e}"))))?;
        tracing::info!(
            "remote-peer-id" = %format!("{:x}", self.target),
            "sent database snapshot"
        );
        Ok(resp)
    }
}

/// The same failure, as a snapshot transfer reports it.
fn streaming(e: RPCError<TypeConfig>) -> StreamingError<TypeConfig> {
    match e {
        RPCError::Unreachable(u) => StreamingError::Unreachable(u),
        RPCError::Network(n) => StreamingError::Network(n),
        RPCError::Timeout(t) => StreamingError::Timeout(t),
        other => StreamingError::Network(NetworkError::from_string(other.to_string())),
    }
}
