//! One etcd member's Raft node: starts openraft over the WAL and the redb state
//! machine, and gives the server the three things it needs from consensus —
//! propose a write and get its applied result, wait until a read would be
//! linearizable, and report Raft status (leader, term, indexes).
//!
//! Any member serves: a follower forwards a write to the leader and answers
//! its client from its own apply of it (by request id, see
//! [`crate::waiters`]), and for a linearizable read asks the leader for a
//! read index and waits until it applied that far. The leader's half is
//! [`crate::forward`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use etcd_proto::raftpb::raft_peer_client::RaftPeerClient;
use etcd_proto::raftpb::{ForwardedProposal, PublishRequest, RaftRequest, ReadIndexRequest};
use etcd_storage::{ApplyError, ApplyResponse, Backend};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, InitializeError, LinearizableReadError, RaftError};
use openraft::{Raft, ReadPolicy, ServerState, SnapshotPolicy};

use crate::forward::{self, NOT_PROPOSED};
use crate::leader_client::{CallError, LeaderClient};
use crate::liveness::{visible_leader, LeaderContact, LeaderSince, RaftView};
use crate::log_store::LogStore;
use crate::membership::{Membership, MembershipOptions};
use crate::network::PeerNetwork;
use crate::network::MAX_PEER_MESSAGE_BYTES;
use crate::peer_service::PeerService;
use crate::state_machine::{CommitObserver, InstallObserver, StateMachine};
use crate::types::{MemberId, MemberNode, Proposal, TypeConfig};
use crate::waiters::{RequestIds, Waiters};
use etcd_transport::PeerDialer;

/// How often [`RaftNode::wait_ready`] looks again without a metrics change.
const READY_POLL: Duration = Duration::from_millis(50);

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
    /// How long a proposal or a linearizable read may take (etcd's request
    /// timeout: 5 s plus two election timeouts).
    pub request_timeout: Duration,
    /// Told about every committed batch (watch hub, lessor).
    pub on_commit: Option<CommitObserver>,
    /// Told when a snapshot from the leader replaced the store (same).
    pub on_install: Option<InstallObserver>,
    /// The cluster id and `--strict-reconfig-check`, for membership changes.
    pub membership: MembershipOptions,
    /// Opens every connection to another member (peer TLS included).
    pub dialer: PeerDialer,
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
    /// Another member leads (for what only the leader may do).
    #[error("not the leader; the leader is {0:x}")]
    NotLeader(MemberId),
    /// The entry was discarded by a new leader; it may or may not commit.
    #[error("leader changed")]
    LeaderChanged,
    /// It did not finish within the request timeout (it may still apply).
    #[error("request timed out")]
    Timeout,
    /// A leadership transfer named a member that cannot lead.
    #[error("bad leader transferee")]
    BadTransferee,
    /// The leader refused a forwarded request for a reason of its own.
    #[error("the leader refused the request: {0}")]
    Refused(String),
    /// This member is no longer in the membership (it was removed).
    #[error("the member has been removed from the cluster")]
    Removed,
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
    /// The Raft log, also read by a defragment's catch-up.
    log: LogStore,
    /// Reaches the leader for what this member cannot do as a follower.
    leader: Arc<LeaderClient>,
    /// Ids for forwarded writes, and who waits on their apply.
    ids: RequestIds,
    waiters: Waiters,
    request_timeout: Duration,
    /// Membership changes and queries.
    membership: Membership,
    /// Where snapshots received from the leader are stored.
    snap_dir: PathBuf,
    /// When a leader was last heard from (recorded by the peer service).
    contact: LeaderContact,
    /// When this member took office as leader (for a leader without a
    /// quorum acknowledgement yet).
    leader_since: Arc<LeaderSince>,
    /// `--election-timeout`: how long a leader or a silent leader is
    /// trusted (see [`crate::liveness`]).
    election_timeout: Duration,
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
        .map_err(|e| StartError::Raft(e.to_string()))?
        .with_install_observer(opts.on_install.clone());
        let waiters = state_machine.waiters();

        let heartbeat = opts.heartbeat_interval.as_millis() as u64;
        let election = opts.election_timeout.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "etcd".to_string(),
            heartbeat_interval: heartbeat,
            // etcd campaigns after a random [1, 2) election timeouts of
            // silence. openraft campaigns after its leader lease (the
            // longest timer) plus a random timer, so the timer range is
            // [1/2, 3/4): campaigns start after [1.25, 1.5) election
            // timeouts, as quick as etcd's.
            election_timeout_min: (election / 2).max(1),
            election_timeout_max: (election * 3 / 4).max(2),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_count.max(1)),
            // Like etcd, keep some entries behind a snapshot so a slightly
            // lagging follower catches up from the log, not a whole snapshot.
            max_in_snapshot_log_to_keep: 5000,
            enable_pre_vote: Some(true),
            // Replicate an entry as soon as it is handed to the WAL, while
            // the leader's own fsync runs, as etcd's leader does: a write
            // then costs one fsync of latency, not two in a row.
            broadcast_submitted_on_append: Some(true),
            // Bounds each chunk of a snapshot transfer, not the transfer.
            install_snapshot_timeout: election,
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
            PeerNetwork {
                dialer: opts.dialer.clone(),
                heartbeat_interval: opts.heartbeat_interval,
            },
            log.clone(),
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let leader = Arc::new(LeaderClient::new(
            opts.member_id,
            raft.clone(),
            opts.dialer.clone(),
        ));
        let node = RaftNode {
            member_id: opts.member_id,
            leader: leader.clone(),
            ids: RequestIds::new(opts.member_id),
            waiters,
            request_timeout: opts.request_timeout,
            membership: Membership::new(opts.member_id, raft.clone(), leader, opts.membership),
            raft,
            backend,
            log: log.clone(),
            snap_dir: opts.snap_dir.clone(),
            contact: LeaderContact::default(),
            leader_since: Arc::default(),
            election_timeout: opts.election_timeout,
        };
        let initialized = node
            .raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized && opts.initial_members.is_empty() {
            // Joining a running cluster: the leader replicates the
            // membership (with this member in it) once it reaches us.
        } else if !initialized {
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
        // Voters added as learners become voters once caught up, whichever
        // member leads by then.
        tokio::spawn(node.membership.clone().promote_caught_up());
        tokio::spawn(crate::prober::run(
            node.membership.clone(),
            opts.dialer.clone(),
            opts.member_id,
        ));
        crate::metrics::register_all();
        tokio::spawn(follow_metrics(
            node.raft.metrics(),
            node.freshness(),
            opts.heartbeat_interval,
        ));
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

    /// Waits until this member knows a live leader and has applied an entry
    /// of the leader's term (so everything committed before is applied);
    /// then it can serve.
    ///
    /// The leader must be one that leads now: this member in the Leader
    /// state, or a leader heard from since this start. The vote a member
    /// restarts with still names the leader of its last term — itself, for
    /// a former leader — which may be gone.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ProposeError> {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                let ready = self.with_metrics(|m| {
                    // Having applied an entry of the current term means the
                    // leader's term-start entry is applied here: everything
                    // committed before this term is in the state machine.
                    let applied_term = m.last_applied.map(|a| a.leader_id.term);
                    self.visible_leader(m).is_some() && applied_term == Some(m.current_term)
                });
                if ready {
                    return Ok(());
                }
                // Contact with the leader is not a metrics change: look
                // again after a short pause too.
                if let Ok(Err(_)) = tokio::time::timeout(READY_POLL, metrics.changed()).await {
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
        // Raft's core ends on a fatal error, closing its metrics channels.
        // The server metrics change only with state and membership, not with
        // every write as the full metrics do, so waiting on them costs no
        // wake-up per write.
        let mut server = self.raft.server_metrics();
        loop {
            if let Err(fatal) = &self.raft.metrics().borrow_watched().running_state {
                return fatal.to_string();
            }
            if server.changed().await.is_err() {
                return match &self.raft.metrics().borrow_watched().running_state {
                    Err(fatal) => fatal.to_string(),
                    Ok(()) => "raft metrics closed".to_string(),
                };
            }
        }
    }

    /// Publishes this member's attributes through Raft if they changed; a
    /// follower has the leader record them. One try, within the request
    /// timeout; the caller retries as etcd does.
    pub async fn publish_local(&self, local: MemberNode) -> Result<(), ProposeError> {
        let deadline = self.deadline();
        let request = PublishRequest {
            member_id: self.member_id,
            name: local.name.clone(),
            peer_urls: local.peer_urls.clone(),
            client_urls: local.client_urls.clone(),
        };
        loop {
            let sent = self
                .leader
                .call(deadline, |_, channel| {
                    let request = request.clone();
                    async move { peer_client(channel).publish(request).await }
                })
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(CallError::Local) => {}
                Err(CallError::Refused(s)) if forward::is_removed(&s) => {
                    return Err(ProposeError::Removed)
                }
                Err(e) => return Err(call_error(e)),
            }
            let here = forward::set_node(&self.raft, self.member_id, local.clone());
            match tokio::time::timeout_at(deadline, here).await {
                Err(_) => return Err(ProposeError::Timeout),
                Ok(Ok(())) => return Ok(()),
                // Leadership moved away meanwhile: ask the new leader.
                Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                    pause_until(deadline).await?
                }
                Ok(Err(status)) if forward::is_removed(&status) => {
                    return Err(ProposeError::Removed)
                }
                Ok(Err(status)) => return Err(ProposeError::Refused(status.message().into())),
            }
        }
    }

    /// Proposes one write and returns what applying it produced. On a
    /// follower the leader proposes it, and the answer is this member's own
    /// apply of it, as etcd answers.
    pub async fn propose(&self, request: RaftRequest) -> Result<ApplyResponse, ProposeError> {
        let _pending = crate::metrics::Pending::start();
        let result = if self.is_leader() {
            self.propose_here(request).await
        } else {
            self.propose_through_leader(request).await
        };
        // etcd counts the proposals Raft refused or never answered in
        // time, not the requests it applied with an error.
        if let Err(e) = &result {
            if !matches!(e, ProposeError::Apply(_)) {
                crate::metrics::METRICS.failed.inc();
            }
        }
        result
    }

    async fn propose_here(&self, request: RaftRequest) -> Result<ApplyResponse, ProposeError> {
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

    /// Forwards a write to the leader and answers from its apply here.
    ///
    /// Across a leader change: a leader that stays up answers promptly when
    /// a new leader's log discarded the entry (`LeaderChanged`). A leader
    /// that died with the write in flight leaves its outcome unknown — a
    /// quorum may hold it and the new leader commit it — so this waits on
    /// its apply until the request deadline, as etcd 3.4 does for any write
    /// its leader change dropped (etcd's "leader changed" is only for
    /// linearizable reads).
    async fn propose_through_leader(
        &self,
        mut request: RaftRequest,
    ) -> Result<ApplyResponse, ProposeError> {
        let deadline = self.deadline();
        request.id = self.ids.next();
        // Registered before the leader can apply it; dropped (unregistered)
        // on every way out of this function.
        let mut waiter = self.waiters.register(request.id);
        let forwarded = ForwardedProposal {
            request: Some(request.clone()),
        };
        let sent = self
            .leader
            .call(deadline, |_, channel| {
                let forwarded = forwarded.clone();
                async move {
                    match peer_client(channel).propose(forwarded).await {
                        Ok(_) => Ok(()),
                        // The leader discarded it in a leader change.
                        Err(status) if status.code() == tonic::Code::Aborted => Err(status),
                        // Asking again could apply the write twice: its
                        // apply here, if any, answers.
                        Err(status) if may_have_been_proposed(&status) => {
                            Err(tonic::Status::unknown(status.message()))
                        }
                        // Never reached the leader's Raft: ask again.
                        Err(status) => Err(status),
                    }
                }
            })
            .await;
        match sent {
            Ok(()) => {}
            // Became the leader before any leader took the write.
            Err(CallError::Local) => {
                drop(waiter);
                return self.propose_here(request).await;
            }
            Err(CallError::Refused(status)) if status.code() == tonic::Code::Aborted => {
                return Err(ProposeError::LeaderChanged)
            }
            // The leader may have taken it: its apply here still answers.
            Err(CallError::Refused(status)) if status.code() == tonic::Code::Unknown => {
                tracing::debug!(error = %status.message(), "forwarded write's outcome unknown");
            }
            Err(e) => return Err(call_error(e)),
        }
        match tokio::time::timeout_at(deadline, waiter.applied()).await {
            Ok(Some(result)) => Ok(result?),
            Ok(None) => Err(ProposeError::Stopped("the apply registry closed".into())),
            Err(_) => Err(ProposeError::Timeout),
        }
    }

    /// Returns once a read from the local backend is linearizable: a quorum
    /// confirmed the leader still leads (ReadIndex, asked of the leader when
    /// this member follows), and this member applied everything committed
    /// before the read began. A member cut off from the majority does not
    /// answer from its stale state: it times out.
    pub async fn read_index(&self) -> Result<(), ProposeError> {
        let result = self.read_index_once().await;
        match &result {
            Ok(()) => {}
            // Raft never confirmed the read in time (etcd's slow read index).
            Err(ProposeError::Timeout) => crate::metrics::METRICS.slow_read_indexes.inc(),
            Err(_) => crate::metrics::METRICS.read_indexes_failed.inc(),
        }
        result
    }

    async fn read_index_once(&self) -> Result<(), ProposeError> {
        let deadline = self.deadline();
        loop {
            let index = if self.is_leader() {
                match self.raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
                    Ok(linearizer) => linearizer.read_log_id().index(),
                    // Lost the leadership meanwhile: ask the new leader.
                    Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => {
                        pause_until(deadline).await?;
                        continue;
                    }
                    Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                        pause_until(deadline).await?;
                        continue;
                    }
                    Err(RaftError::Fatal(f)) => return Err(ProposeError::Stopped(f.to_string())),
                }
            } else {
                let asked = self
                    .leader
                    .call(deadline, |_, channel| async move {
                        peer_client(channel).read_index(ReadIndexRequest {}).await
                    })
                    .await;
                match asked {
                    Ok(response) => response.into_inner().index,
                    // Became the leader since `is_leader` said no (both
                    // mean the Leader state): serve it as the leader. Each
                    // such turn takes an election, so this cannot spin.
                    Err(CallError::Local) => continue,
                    Err(e) => return Err(call_error(e)),
                }
            };
            return self.wait_applied(index, deadline).await;
        }
    }

    /// Waits until this member applied `index`, at most until `deadline`.
    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ProposeError> {
        let applied = self.with_metrics(|m| m.last_applied.as_ref().map_or(0, |a| a.index));
        if applied >= index {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self
            .raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
        {
            Ok(_) => Ok(()),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(ProposeError::Timeout),
            Err(e) => Err(ProposeError::Stopped(e.to_string())),
        }
    }

    /// Hands the leadership to `to` and waits until it leads (etcd's
    /// MoveLeader). Only the leader may; `to` must be a voting member.
    pub async fn transfer_leader(&self, to: MemberId) -> Result<(), ProposeError> {
        let deadline = self.deadline();
        let status = self.status();
        if status.leader != Some(self.member_id) {
            return Err(match status.leader {
                Some(leader) => ProposeError::NotLeader(leader),
                None => ProposeError::NoLeader,
            });
        }
        let voter = self.with_metrics(|m| {
            m.membership_config
                .membership()
                .voter_ids()
                .any(|id| id == to)
        });
        if !voter {
            return Err(ProposeError::BadTransferee);
        }
        if to == self.member_id {
            return Ok(());
        }
        tracing::info!(
            "local-member-id" = %format!("{:x}", self.member_id),
            "current-leader-member-id" = %format!("{:x}", self.member_id),
            "transferee-member-id" = %format!("{to:x}"),
            "leadership transfer starting"
        );
        let started = std::time::Instant::now();
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|f| ProposeError::Stopped(f.to_string()))?;
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(left))
            .metrics(|m| m.current_leader == Some(to), "leadership transfer")
            .await
            .map_err(|_| ProposeError::Timeout)?;
        tracing::info!(
            "local-member-id" = %format!("{:x}", self.member_id),
            "old-leader-member-id" = %format!("{:x}", self.member_id),
            "new-leader-member-id" = %format!("{to:x}"),
            took = ?started.elapsed(),
            "leadership transfer finished"
        );
        Ok(())
    }

    /// Before a graceful stop, as etcd's `Stop` does: a leader with other
    /// voters hands the leadership to the most caught-up one, so the others
    /// go on serving at once instead of waiting an election timeout (and
    /// writes already forwarded to this member are not left hanging).
    /// Failures are logged; the stop goes on either way.
    pub async fn transfer_leadership_on_stop(&self) {
        let me = format!("{:x}", self.member_id);
        let (leading, transferee) = self.with_metrics(|m| {
            let others = m
                .membership_config
                .membership()
                .voter_ids()
                .filter(|id| *id != self.member_id)
                .collect::<Vec<_>>();
            // etcd hands over to the voter connected longest; here, among
            // the voters that acknowledged a heartbeat within an election
            // timeout (a member already stopped must not be chosen: the
            // transfer would wait out its deadline), the one whose log is
            // furthest along.
            let recent = |id: &MemberId| {
                m.heartbeat
                    .as_ref()
                    .and_then(|acks| acks.get(id).cloned().flatten())
                    .is_some_and(|acked| {
                        openraft::Instant::elapsed(&*acked) < self.election_timeout
                    })
            };
            let matched = |id: &MemberId| {
                m.replication
                    .as_ref()
                    .and_then(|progress| progress.get(id).and_then(|l| l.as_ref().map(|l| l.index)))
            };
            let best = others
                .iter()
                .filter(|id| recent(id))
                .max_by_key(|id| matched(id))
                .copied();
            (m.state == ServerState::Leader, (others, best))
        });
        let current = self
            .status()
            .leader
            .map(|l| format!("{l:x}"))
            .unwrap_or_default();
        if !leading {
            tracing::info!(
                "local-member-id" = %me,
                "current-leader-member-id" = %current,
                "skipped leadership transfer; local server is not leader"
            );
            return;
        }
        let (others, best) = transferee;
        if others.is_empty() {
            tracing::info!(
                "local-member-id" = %me,
                "current-leader-member-id" = %current,
                "skipped leadership transfer for single voting member cluster"
            );
            return;
        }
        let error = match best {
            Some(to) => match self.transfer_leader(to).await {
                Ok(()) => return,
                Err(e) => e.to_string(),
            },
            // No follower has acknowledged anything: etcd's ErrUnhealthy.
            None => "etcdserver: unhealthy cluster".to_string(),
        };
        tracing::warn!("local-member-id" = %me, error = %error, "leadership transfer failed");
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.request_timeout
    }

    /// The current term: what every response header carries. Cheaper than
    /// [`RaftNode::status`], which also works out the visible leader.
    pub fn term(&self) -> u64 {
        self.with_metrics(|m| m.current_term)
    }

    /// Committed entries not applied yet (etcd refuses proposals while this
    /// is large).
    pub fn apply_lag(&self) -> u64 {
        self.with_metrics(|m| {
            let committed = m.local_committed.map_or(0, |c| c.index);
            committed.saturating_sub(m.last_applied.map_or(0, |a| a.index))
        })
    }

    pub fn status(&self) -> RaftStatus {
        self.with_metrics(|m| RaftStatus {
            member_id: self.member_id,
            leader: self.visible_leader(m),
            term: m.current_term,
            committed_index: m.local_committed.map_or(0, |c| c.index),
            applied_index: m.last_applied.map_or(0, |a| a.index),
            is_learner: crate::membership::reported_learner(
                m.committed_membership_config.membership(),
                self.member_id,
            ),
        })
    }

    /// The leader as etcd's check-quorum would report it (see
    /// [`crate::liveness`]).
    fn visible_leader(&self, m: &openraft::RaftMetrics<TypeConfig>) -> Option<MemberId> {
        self.freshness().visible_leader(m)
    }

    /// What judging the leader's freshness takes, apart from Raft.
    fn freshness(&self) -> Freshness {
        Freshness {
            member_id: self.member_id,
            contact: self.contact.clone(),
            leader_since: self.leader_since.clone(),
            election_timeout: self.election_timeout,
        }
    }

    /// The service other members send Raft RPCs to; serve it on the peer
    /// listeners.
    pub fn peer_service(&self) -> PeerService {
        PeerService::new(self.raft.clone(), self.contact.clone())
            .with_membership(self.membership.clone())
            .with_snapshots(self.snap_dir.clone())
    }

    /// Membership changes, member lists, removal.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// How this member reaches the leader's peer listener.
    pub fn leader_client(&self) -> &Arc<LeaderClient> {
        &self.leader
    }

    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    /// etcd's Defragment without holding writes for the copy: the backend
    /// copies its live data while applies go on, then this member's log
    /// brings the copy up to date (see `Backend::defragment_online`).
    /// Returned as work for a blocking thread, which it occupies.
    pub fn defragment(
        &self,
        wait: Duration,
    ) -> impl FnOnce() -> Result<(), etcd_storage::backend::DefragError> + Send + 'static {
        let (backend, log) = (self.backend.clone(), self.log.clone());
        move || {
            let catch_up = |copied: &etcd_storage::ReadTxn,
                            now: &etcd_storage::ReadTxn,
                            batch: &mut etcd_storage::ApplyBatch<'_>| {
                crate::state_machine::catch_up(&log, copied, now, batch)
                    .map_err(etcd_storage::StorageError::Io)
            };
            backend.defragment_online(wait, crate::state_machine::REPLICATED_META, &catch_up)
        }
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

/// The parts of a node that judge whether its leader is fresh
/// ([`crate::liveness`]); cheap to clone.
#[derive(Clone)]
struct Freshness {
    member_id: MemberId,
    contact: LeaderContact,
    leader_since: Arc<LeaderSince>,
    election_timeout: Duration,
}

impl Freshness {
    /// The leader as etcd's check-quorum would report it.
    fn visible_leader(&self, m: &openraft::RaftMetrics<TypeConfig>) -> Option<MemberId> {
        let membership = m.membership_config.membership();
        let view = RaftView {
            member_id: self.member_id,
            state: m.state,
            current_leader: m.current_leader,
            sole_voter: membership.voter_ids().eq([self.member_id]),
            quorum_acked_ago: match &m.last_quorum_acked {
                Some(acked) => Some(openraft::Instant::elapsed(&**acked)),
                None if m.state == ServerState::Leader => {
                    Some(self.leader_since.ago(m.current_term))
                }
                None => None,
            },
            leader_contact_ago: self.contact.ago(),
        };
        // A follower's election timer runs up to 1.5 election timeouts;
        // one more heartbeat's worth of slack avoids flapping.
        let follower_timeout = self.election_timeout * 2;
        visible_leader(&view, self.election_timeout, follower_timeout)
    }
}

/// Keeps this member's Raft state gauges current (see
/// [`crate::metrics`]): on every change of Raft's metrics, and at least
/// every heartbeat, since a leader's freshness ages without one. Ends once
/// Raft is gone.
async fn follow_metrics(
    mut metrics: openraft::alias::WatchReceiverOf<TypeConfig, openraft::RaftMetrics<TypeConfig>>,
    freshness: Freshness,
    every: Duration,
) {
    let mut leaders = crate::metrics::LeaderTracker::default();
    loop {
        let sample = {
            let m = metrics.borrow_watched();
            if m.running_state.is_err() {
                return;
            }
            crate::metrics::Sample {
                visible_leader: freshness.visible_leader(&m).is_some(),
                raft_leader: m.current_leader,
                is_leader: m.state == ServerState::Leader,
                is_learner: crate::membership::reported_learner(
                    m.committed_membership_config.membership(),
                    freshness.member_id,
                ),
                committed: m.local_committed.map_or(0, |c| c.index),
                applied: m.last_applied.map_or(0, |a| a.index),
            }
        };
        crate::metrics::record(&mut leaders, &sample);
        if let Ok(Err(_)) = tokio::time::timeout(every, metrics.changed()).await {
            return;
        }
    }
}

/// A client for the peer service on `channel`.
fn peer_client(channel: tonic::transport::Channel) -> RaftPeerClient<tonic::transport::Channel> {
    RaftPeerClient::new(channel)
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
}

/// Whether a failed forward may have reached the leader's Raft, so that
/// asking again could apply the write twice. Only two failures are certain
/// not to have: the leader's own "not proposed" answer, and a connection
/// that never opened (tonic puts its `ConnectError` in the source chain of
/// a call that failed while connecting; such a call was never sent). Every
/// other failure — a reset or closed connection, a cancelled stream, an
/// error the leader answered while proposing — may have.
fn may_have_been_proposed(status: &tonic::Status) -> bool {
    let not_proposed = status.code() == tonic::Code::Unavailable
        && (status.message() == NOT_PROPOSED || never_connected(status));
    !not_proposed
}

/// Whether the call failed while connecting, before anything was sent.
fn never_connected(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn call_error(e: CallError) -> ProposeError {
    match e {
        CallError::Local => ProposeError::Stopped("unexpected local leader".into()),
        CallError::NoLeader => ProposeError::NoLeader,
        CallError::Timeout => ProposeError::Timeout,
        CallError::Refused(status) => ProposeError::Refused(status.message().to_string()),
    }
}

/// A short pause before asking again, or `Timeout` once `deadline` passed.
async fn pause_until(deadline: Instant) -> Result<(), ProposeError> {
    if Instant::now() >= deadline {
        return Err(ProposeError::Timeout);
    }
    let pause = Instant::now() + Duration::from_millis(50);
    tokio::time::sleep_until(pause.min(deadline)).await;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded() -> ForwardedProposal {
        ForwardedProposal {
            request: Some(RaftRequest::default()),
        }
    }

    /// A channel as members open them, through the peer dialer.
    fn lazy_channel(port: u16) -> tonic::transport::Channel {
        PeerDialer::plaintext()
            .channel(&format!("http://127.0.0.1:{port}"))
            .expect("a valid URL")
    }

    #[tokio::test]
    async fn a_refused_connection_was_never_proposed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let status = peer_client(lazy_channel(port))
            .propose(forwarded())
            .await
            .expect_err("nobody listens");
        assert!(never_connected(&status), "{status:?}");
        assert!(!may_have_been_proposed(&status), "{status:?}");
    }

    #[tokio::test]
    async fn a_connection_lost_after_sending_may_have_been_proposed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        // Accepts, reads what the client sends (the request), then hangs up.
        let server = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0; 4096];
            let _ = socket.read(&mut buf).await;
        });
        let status = peer_client(lazy_channel(port))
            .propose(forwarded())
            .await
            .expect_err("the server hangs up");
        let _ = server.await;
        assert!(!never_connected(&status), "{status:?}");
        assert!(may_have_been_proposed(&status), "{status:?}");
    }

    #[test]
    fn the_leaders_not_proposed_answer_may_be_retried() {
        assert!(!may_have_been_proposed(&tonic::Status::unavailable(
            NOT_PROPOSED
        )));
        // Worded like a connect error, but not one: it may have been.
        assert!(may_have_been_proposed(&tonic::Status::unavailable(
            "error trying to connect: connection reset"
        )));
        assert!(may_have_been_proposed(&tonic::Status::unknown(
            "raft stopped"
        )));
        assert!(may_have_been_proposed(&tonic::Status::internal(
            "h2 protocol error"
        )));
    }
}
