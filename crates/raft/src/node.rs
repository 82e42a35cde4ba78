//! One etcd member's Raft node: starts openraft over the WAL and the redb state
//! machine, and gives the server the three things it needs from consensus —
//! propose a write and get its applied result, wait until a read would be
//! linearizable, and report Raft status (leader, term, indexes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::raftpb::RaftRequest;
use etcd_storage::{ApplyError, ApplyResponse, Backend};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, InitializeError, LinearizableReadError, RaftError};
use openraft::{ChangeMembers, Raft, ReadPolicy, ServerState, SnapshotPolicy};

use crate::log_store::LogStore;
use crate::network::PeerNetwork;
use crate::peer_service::PeerService;
use crate::state_machine::{CommitObserver, StateMachine};
use crate::types::{MemberId, MemberNode, Proposal, TypeConfig};

/// What a node needs to start; the server derives it from etcd's flags.
#[derive(Clone)]
pub struct NodeOptions {
    /// This member's id.
    pub member_id: MemberId,
    /// The members of a brand-new cluster (`--initial-cluster`); ignored when
    /// the WAL already holds a cluster.
    pub initial_members: BTreeMap<MemberId, MemberNode>,
    /// `--wal-dir`, default `<data-dir>/member/wal`.
    pub wal_dir: PathBuf,
    /// Where snapshots are written, `<data-dir>/member/snap`.
    pub snap_dir: PathBuf,
    /// `--heartbeat-interval`.
    pub heartbeat_interval: Duration,
    /// `--election-timeout`.
    pub election_timeout: Duration,
    /// `--snapshot-count`: applied entries between snapshots.
    pub snapshot_count: u64,
    /// Told about every committed batch (watch hub, lessor).
    pub on_commit: Option<CommitObserver>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the WAL in {dir}: {source}")]
    Wal {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// Why a proposal or a linearizable read did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The write was applied and etcd answers it with this error.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// No leader is known right now.
    #[error("no leader")]
    NoLeader,
    /// Another member leads; forwarding arrives with multi-member clusters.
    #[error("not the leader; the leader is {0:x}")]
    NotLeader(MemberId),
    /// The entry was discarded by a new leader; it may or may not commit.
    #[error("leader changed")]
    LeaderChanged,
    /// Raft has stopped (shutdown or a fatal storage error).
    #[error("raft stopped: {0}")]
    Stopped(String),
}

/// Raft's view of the cluster, for response headers and Status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaftStatus {
    pub member_id: MemberId,
    pub leader: Option<MemberId>,
    pub term: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub is_learner: bool,
}

pub struct RaftNode {
    member_id: MemberId,
    raft: Raft<TypeConfig, StateMachine>,
    backend: Arc<Backend>,
}

impl RaftNode {
    /// Opens the WAL, starts Raft over it and the (already open) backend, and
    /// on a brand-new data dir bootstraps the cluster from `initial_members`.
    pub async fn start(opts: NodeOptions, backend: Arc<Backend>) -> Result<RaftNode, StartError> {
        let log = LogStore::open(&opts.wal_dir).map_err(|source| StartError::Wal {
            dir: opts.wal_dir.clone(),
            source,
        })?;
        let state_machine = StateMachine::new(
            backend.clone(),
            opts.snap_dir.clone(),
            opts.on_commit.clone(),
        )
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let heartbeat = opts.heartbeat_interval.as_millis() as u64;
        let election = opts.election_timeout.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "etcd".to_string(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_count.max(1)),
            // Like etcd, keep some entries behind a snapshot so a slightly
            // lagging follower catches up from the log, not a whole snapshot.
            max_in_snapshot_log_to_keep: 5000,
            enable_pre_vote: Some(true),
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| StartError::Config(e.to_string()))?,
        );

        let raft = Raft::new(
            opts.member_id,
            config,
            PeerNetwork,
            log.clone(),
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let node = RaftNode {
            member_id: opts.member_id,
            raft,
            backend,
        };
        let initialized = node
            .raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized {
            // openraft allows every member of a new cluster to initialize
            // with the same membership (the vote decides one leader), so each
            // member does, as each etcd member bootstraps from the same
            // --initial-cluster. A peer may have replicated the membership to
            // us first; then there is nothing left to initialize.
            match node.raft.initialize(opts.initial_members.clone()).await {
                Ok(()) => {}
                Err(RaftError::APIError(InitializeError::NotAllowed(_)))
                    if opts.initial_members.len() > 1 => {}
                Err(e) => return Err(StartError::Raft(e.to_string())),
            }
        } else if node.is_sole_voter() {
            // Nobody else can win; do not wait out an election timeout.
            node.raft
                .trigger()
                .elect(false)
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
        }
        Ok(node)
    }

    /// Looks at Raft's current metrics without copying them: `status()` runs
    /// for every request (headers, the apply-lag check), and a copy would
    /// clone the leader's replication maps each time.
    fn with_metrics<T>(&self, f: impl FnOnce(&openraft::RaftMetrics<TypeConfig>) -> T) -> T {
        let metrics = self.raft.metrics();
        let current = metrics.borrow_watched();
        f(&current)
    }

    fn is_sole_voter(&self) -> bool {
        self.with_metrics(|m| {
            let voters: Vec<_> = m.membership_config.membership().voter_ids().collect();
            voters == [self.member_id]
        })
    }

    /// Waits until this member knows a leader and has applied an entry of the
    /// leader's term (so everything committed before is applied); then it can
    /// serve.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ProposeError> {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                let m = metrics.borrow_watched().clone();
                // Having applied an entry of the current term means the
                // leader's term-start entry is applied here: everything
                // committed before this term is in the state machine.
                let applied_term = m.last_applied.map(|a| a.leader_id.term);
                if m.current_leader.is_some() && applied_term == Some(m.current_term) {
                    return Ok(());
                }
                if metrics.changed().await.is_err() {
                    return Err(ProposeError::Stopped("raft metrics closed".into()));
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ProposeError::NoLeader)?
    }

    /// Resolves when Raft stops on a fatal error (a failed fsync or a full
    /// disk, say), with the reason. A member in that state can no longer
    /// accept writes; the server exits so a supervisor restarts it.
    pub async fn fatal(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow_watched().running_state {
                return fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                return "raft metrics closed".to_string();
            }
        }
    }

    /// Publishes this member's attributes through Raft if they changed.
    pub async fn publish_local(&self, local: MemberNode) -> Result<(), ProposeError> {
        let published = self.with_metrics(|m| {
            m.membership_config.membership().get_node(&self.member_id) == Some(&local)
        });
        if published {
            return Ok(());
        }
        let nodes = BTreeMap::from([(self.member_id, local)]);
        self.raft
            .change_membership(ChangeMembers::SetNodes(nodes), true)
            .await
            .map_err(write_error)?;
        Ok(())
    }

    /// Proposes one write and returns what applying it produced.
    pub async fn propose(&self, request: RaftRequest) -> Result<ApplyResponse, ProposeError> {
        let response = self
            .raft
            .client_write(Proposal(request))
            .await
            .map_err(write_error)?;
        match response.data.0 {
            Some(result) => Ok(result?),
            None => Err(ProposeError::Stopped(
                "a client write applied without a response".into(),
            )),
        }
    }

    /// Returns once a read from the local backend is linearizable: a quorum
    /// confirmed this member still leads (ReadIndex), and everything committed
    /// before the read began is applied.
    pub async fn read_index(&self) -> Result<(), ProposeError> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(match f.leader_id {
                    Some(leader) => ProposeError::NotLeader(leader),
                    None => ProposeError::NoLeader,
                })
            }
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                Err(ProposeError::NoLeader)
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Stopped(f.to_string())),
        }
    }

    pub fn status(&self) -> RaftStatus {
        self.with_metrics(|m| RaftStatus {
            member_id: self.member_id,
            leader: m.current_leader,
            term: m.current_term,
            committed_index: m.local_committed.map_or(0, |c| c.index),
            applied_index: m.last_applied.map_or(0, |a| a.index),
            is_learner: m
                .membership_config
                .membership()
                .learner_ids()
                .any(|id| id == self.member_id),
        })
    }

    /// The current members, from the applied membership.
    pub fn members(&self) -> BTreeMap<MemberId, (MemberNode, bool)> {
        self.with_metrics(|m| {
            let membership = m.membership_config.membership();
            let learners: Vec<_> = membership.learner_ids().collect();
            membership
                .nodes()
                .map(|(id, node)| (*id, (node.clone(), learners.contains(id))))
                .collect()
        })
    }

    /// The service other members send Raft RPCs to; serve it on the peer
    /// listeners.
    pub fn peer_service(&self) -> PeerService {
        PeerService::new(self.raft.clone())
    }

    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    pub fn member_id(&self) -> MemberId {
        self.member_id
    }

    /// Stops Raft, then makes everything applied durable in redb so the next
    /// start replays nothing.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
        let backend = self.backend.clone();
        match tokio::task::spawn_blocking(move || backend.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not sync the backend at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not sync the backend at shutdown"),
        }
    }

    /// Whether this member is the leader now.
    pub fn is_leader(&self) -> bool {
        self.with_metrics(|m| m.state == ServerState::Leader)
    }
}

fn write_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => match f.leader_id {
            Some(leader) => ProposeError::NotLeader(leader),
            None => ProposeError::NoLeader,
        },
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => ProposeError::LeaderChanged,
        RaftError::APIError(other) => ProposeError::Stopped(other.to_string()),
        RaftError::Fatal(f) => ProposeError::Stopped(f.to_string()),
    }
}
