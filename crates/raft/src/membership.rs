//! Membership changes, as etcd makes them: add a voter or a learner, remove a
//! member, change a member's peer URLs, promote a learner. Also how a member
//! learns that it was removed, and how a new member asks a running cluster
//! who is in it before it joins.
//!
//! Every change is decided on the leader, which alone knows how far each
//! member's log has come (a learner is promoted only once its log is within
//! 10% of the leader's, etcd's rule) and which peers answer. A member that is
//! not the leader hands the change to the leader's `ChangeMembership` peer
//! RPC (through [`LeaderClient`]). Changes are single-step (one voter added or removed per log entry,
//! like etcd's Raft), based on a committed membership and guarded by its log
//! id, so two concurrent changes never overwrite each other: one change at a
//! time.
//!
//! A voter is added as a learner that the leader promotes once its log has
//! caught up (`MemberNode::voter_pending`, replicated with the membership,
//! so any later leader finishes the job). etcd's Raft applies the added
//! voter at once, under the old configuration's quorum; openraft cannot
//! add a voter without the new configuration's quorum, which a one-member
//! cluster growing to two never has until the new member runs — and it
//! cannot run before it finds itself in the committed membership. Members
//! and clients see the pending member as the voter etcd shows; it only
//! counts for Raft's quorum once promoted.
//!
//! Not here: member ids (the server derives a new member's id as etcd does)
//! and the gRPC Cluster service.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::raftpb::raft_peer_client::RaftPeerClient;
use etcd_proto::raftpb::{
    member_change_request, ClusterMember, MemberChangeRequest, MemberChangeResponse,
    MembersRequest, MembersResponse,
};
use etcd_transport::PeerDialer;
use openraft::async_runtime::WatchReceiver;
use openraft::entry::RaftPayload;
use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, EntryPayload, Instant as _, Precondition, Raft, ServerState};
use tokio::time::Instant;

use crate::leader_client::{CallError, LeaderClient};
use crate::state_machine::StateMachine;
use crate::types::{MemberId, MemberNode, TypeConfig};

/// etcd's `readyPercent`: a learner may be promoted once its log reaches 90%
/// of the leader's.
const LEARNER_READY_PERCENT: f64 = 0.9;
/// etcd's `maxLearners`.
const MAX_LEARNERS: usize = 1;
/// etcd's `HealthInterval`: a peer heard from within this long counts as
/// connected when a change must not break the active quorum.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How long one peer call may take (a forwarded change, a member list).
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before asking again when leadership moved mid-change.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// One member as the cluster records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: MemberId,
    pub node: MemberNode,
    pub is_learner: bool,
}

impl MemberInfo {
    /// Whether the member has started and published its name (etcd's
    /// `IsStarted`): a member added by MemberAdd has no name until then.
    pub fn is_started(&self) -> bool {
        !self.node.name.is_empty()
    }
}

/// One change to the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// A new member (its id derived by the caller), as a voter or a learner.
    Add {
        id: MemberId,
        peer_urls: Vec<String>,
        is_learner: bool,
    },
    Remove {
        id: MemberId,
    },
    /// New peer URLs for a member.
    Update {
        id: MemberId,
        peer_urls: Vec<String>,
    },
    /// A learner becomes a voter.
    Promote {
        id: MemberId,
    },
}

/// Why a membership change was refused; each is one of etcd's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("member ID already exist")]
    MemberExists,
    #[error("Peer URLs already exists")]
    PeerUrlExists,
    #[error("member not found")]
    MemberNotFound,
    #[error("can only promote a learner member")]
    MemberNotLearner,
    #[error("can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("too many learner members in cluster")]
    TooManyLearners,
    #[error("re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    #[error("unhealthy cluster")]
    Unhealthy,
    #[error("no leader")]
    NoLeader,
    #[error("request timed out")]
    Timeout,
    #[error("raft stopped: {0}")]
    Stopped(String),
    /// A change Raft refused for a reason etcd has no error for (an empty
    /// or otherwise invalid membership), or a leader's refusal of a
    /// forwarded change: reported with its reason, as etcd reports errors
    /// of its own.
    #[error("{0}")]
    Refused(String),
}

impl MembershipError {
    /// The name the leader answers a forwarded change with.
    fn wire_name(&self) -> String {
        use MembershipError::*;
        match self {
            MemberExists => "member_exists".into(),
            PeerUrlExists => "peer_url_exists".into(),
            MemberNotFound => "member_not_found".into(),
            MemberNotLearner => "member_not_learner".into(),
            LearnerNotReady => "learner_not_ready".into(),
            TooManyLearners => "too_many_learners".into(),
            NotEnoughStarted => "not_enough_started".into(),
            Unhealthy => "unhealthy".into(),
            NoLeader => "no_leader".into(),
            Timeout => "timeout".into(),
            Stopped(why) => format!("stopped:{why}"),
            Refused(why) => format!("refused:{why}"),
        }
    }

    fn from_wire_name(name: &str) -> MembershipError {
        use MembershipError::*;
        match name {
            "member_exists" => MemberExists,
            "peer_url_exists" => PeerUrlExists,
            "member_not_found" => MemberNotFound,
            "member_not_learner" => MemberNotLearner,
            "learner_not_ready" => LearnerNotReady,
            "too_many_learners" => TooManyLearners,
            "not_enough_started" => NotEnoughStarted,
            "unhealthy" => Unhealthy,
            "no_leader" => NoLeader,
            "timeout" => Timeout,
            other => match other.strip_prefix("refused:") {
                Some(why) => Refused(why.to_string()),
                None => Stopped(other.strip_prefix("stopped:").unwrap_or(other).to_string()),
            },
        }
    }
}

/// Why the members of a running cluster could not be learned.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not retrieve cluster information from the given URLs")]
    NoAnswer,
    #[error("failed to get raft cluster member(s) from the given URLs")]
    Empty,
}

/// What a member of a running cluster says the cluster is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCluster {
    pub cluster_id: u64,
    pub members: Vec<MemberInfo>,
}

/// Settings that shape membership changes, from the server's flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct MembershipOptions {
    /// This member's cluster id, told to members about to join.
    pub cluster_id: u64,
    /// `--strict-reconfig-check`: refuse changes that could lose quorum.
    pub strict_reconfig_check: bool,
}

/// Membership changes and queries for one member's Raft.
#[derive(Clone)]
pub struct Membership {
    member_id: MemberId,
    raft: Raft<TypeConfig, StateMachine>,
    /// Reaches the leader, for changes made on another member.
    leader: Arc<LeaderClient>,
    options: MembershipOptions,
}

/// The membership a decision is based on, with the log id that guards it.
struct Observed {
    log_id: Option<openraft::alias::LogIdOf<TypeConfig>>,
    /// As etcd shows them (a pending voter is a voter).
    members: Vec<MemberInfo>,
    /// Raft's voters (a pending voter is not one yet).
    raft_voters: BTreeSet<MemberId>,
}

/// Which checks a change passes before it is written.
#[derive(Clone, Copy)]
enum Checks {
    /// etcd's, for a change a client asked for.
    Etcd,
    /// The leader's own promotion of a pending voter that has caught up.
    PendingPromotion,
}

impl Membership {
    pub(crate) fn new(
        member_id: MemberId,
        raft: Raft<TypeConfig, StateMachine>,
        leader: Arc<LeaderClient>,
        options: MembershipOptions,
    ) -> Membership {
        Membership {
            member_id,
            raft,
            leader,
            options,
        }
    }

    /// The members as the cluster has committed them (etcd answers from the
    /// membership it applied, never from one still being replicated).
    pub fn members(&self) -> Vec<MemberInfo> {
        self.committed().1
    }

    /// Whether this member is a learner in the committed membership, as
    /// etcd would say (a pending voter is not).
    pub fn is_learner(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let is_learner =
            reported_learner(m.committed_membership_config.membership(), self.member_id);
        is_learner
    }

    /// The last committed membership and its log index.
    fn committed(&self) -> (u64, Vec<MemberInfo>) {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let stored = &m.committed_membership_config;
        (
            stored.log_id().as_ref().map_or(0, |l| l.index),
            to_members(stored.membership()),
        )
    }

    /// Makes `change` on the leader, forwarding it when this member does not
    /// lead, and returns the members after it. Gives up at `deadline`.
    pub async fn change(
        &self,
        change: MemberChange,
        deadline: Instant,
    ) -> Result<Vec<MemberInfo>, MembershipError> {
        loop {
            let forwarded = self
                .leader
                .call(deadline, |_, channel| {
                    let request = to_wire(&change);
                    async move {
                        let mut client = RaftPeerClient::new(channel);
                        Ok(client.change_membership(request).await?.into_inner())
                    }
                })
                .await;
            match forwarded {
                Ok(answer) if answer.error.is_empty() => {
                    return Ok(answer.members.into_iter().map(member_from_wire).collect())
                }
                Ok(answer) => return Err(MembershipError::from_wire_name(&answer.error)),
                Err(CallError::NoLeader) => return Err(MembershipError::NoLeader),
                Err(CallError::Timeout) => return Err(MembershipError::Timeout),
                Err(CallError::Refused(status)) => {
                    return Err(MembershipError::Refused(status.message().to_string()))
                }
                Err(CallError::Local) => {}
            }
            match self
                .change_as_leader(change.clone(), Checks::Etcd, deadline)
                .await
            {
                Ok(members) => return Ok(members),
                Err(Retry::Final(e)) => return Err(e),
                // Leadership moved meanwhile: ask the new leader.
                Err(Retry::Again) if Instant::now() + RETRY_PAUSE < deadline => {
                    tokio::time::sleep(RETRY_PAUSE).await
                }
                Err(Retry::Again) => return Err(MembershipError::Timeout),
            }
        }
    }

    /// Serves a change forwarded by another member: refuses with
    /// `Unavailable` (ask again) unless this member leads.
    pub(crate) async fn serve_forwarded(
        &self,
        request: MemberChangeRequest,
    ) -> Result<MemberChangeResponse, tonic::Status> {
        let change = from_wire(request)?;
        let deadline = Instant::now() + PEER_CALL_TIMEOUT;
        match self.change_as_leader(change, Checks::Etcd, deadline).await {
            Ok(members) => Ok(MemberChangeResponse {
                members: members.iter().map(member_to_wire).collect(),
                error: String::new(),
            }),
            Err(Retry::Final(e)) => Ok(MemberChangeResponse {
                members: Vec::new(),
                error: e.wire_name(),
            }),
            Err(Retry::Again) => Err(tonic::Status::unavailable("not the leader")),
        }
    }

    /// This member's answer to a member that asks who is in the cluster: the
    /// committed membership.
    pub(crate) fn serve_members(&self) -> MembersResponse {
        let (index, members) = self.committed();
        MembersResponse {
            cluster_id: self.options.cluster_id,
            members: members.iter().map(member_to_wire).collect(),
            membership_index: index,
        }
    }

    /// Makes a change as the leader: checks it as etcd does, then appends the
    /// new membership guarded by the one it was based on.
    async fn change_as_leader(
        &self,
        change: MemberChange,
        checks: Checks,
        deadline: Instant,
    ) -> Result<Vec<MemberInfo>, Retry> {
        loop {
            let observed = self.observe_committed(deadline).await?;
            match checks {
                Checks::Etcd => self.validate(&change, &observed),
                Checks::PendingPromotion => still_pending(&change, &observed),
            }
            .map_err(Retry::Final)?;
            let guard = Precondition::LastMembershipLogId {
                last_membership_log_id: observed.log_id,
            };
            let write = match &change {
                MemberChange::Update { id, peer_urls } => {
                    let mut node = observed
                        .members
                        .iter()
                        .find(|m| m.id == *id)
                        .map(|m| m.node.clone())
                        .ok_or(Retry::Final(MembershipError::MemberNotFound))?;
                    node.peer_urls = peer_urls.clone();
                    let nodes = BTreeMap::from([(*id, node)]);
                    Write::SetNodes(nodes)
                }
                other => Write::Append(propose(&observed, other).map_err(Retry::Final)?),
            };
            let write = tokio::time::timeout_at(deadline, async {
                match write {
                    Write::SetNodes(nodes) => {
                        self.raft
                            .change_membership_if(ChangeMembers::SetNodes(nodes), true, [guard])
                            .await
                    }
                    Write::Append(proposed) => {
                        self.raft
                            .append_membership(proposed, EntryPayload::blank(), [guard])
                            .await
                    }
                }
            });
            match write.await {
                Err(_) => return Err(Retry::Final(MembershipError::Timeout)),
                Ok(Ok(written)) => {
                    tracing::info!(change = ?change, "membership changed");
                    // The membership just committed; the metrics may not
                    // show it yet.
                    return Ok(match written.membership {
                        Some(membership) => to_members(&membership),
                        None => self.members(),
                    });
                }
                Ok(Err(e)) => match classify(e) {
                    // Another change got in first: decide again on the
                    // membership it made.
                    Some(Retry::Again) if Instant::now() < deadline => {
                        tokio::time::sleep(RETRY_PAUSE).await
                    }
                    Some(Retry::Again) => return Err(Retry::Final(MembershipError::Timeout)),
                    Some(Retry::Final(e)) => return Err(Retry::Final(e)),
                    None => return Err(Retry::Again),
                },
            }
        }
    }

    /// Waits until the latest membership is committed (a previous change has
    /// finished) and returns it; `Again` when this member does not lead.
    async fn observe_committed(&self, deadline: Instant) -> Result<Observed, Retry> {
        let mut metrics = self.raft.metrics();
        loop {
            {
                let m = metrics.borrow_watched();
                if m.state != ServerState::Leader {
                    return Err(Retry::Again);
                }
                if m.membership_config.log_id() == m.committed_membership_config.log_id() {
                    return Ok(Observed {
                        log_id: *m.membership_config.log_id(),
                        members: to_members(m.membership_config.membership()),
                        raft_voters: m.membership_config.membership().voter_ids().collect(),
                    });
                }
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Err(_) => return Err(Retry::Final(MembershipError::Timeout)),
                Ok(Err(_)) => {
                    return Err(Retry::Final(MembershipError::Stopped(
                        "raft metrics closed".into(),
                    )))
                }
                Ok(Ok(())) => {}
            }
        }
    }

    /// etcd's checks, in etcd's order: the quorum-protecting ones of
    /// `--strict-reconfig-check` (mayAddMember, mayRemoveMember,
    /// mayPromoteMember), then ValidateConfigurationChange.
    fn validate(&self, change: &MemberChange, observed: &Observed) -> Result<(), MembershipError> {
        let members = &observed.members;
        let find = |id: MemberId| members.iter().find(|m| m.id == id);
        let strict = self.options.strict_reconfig_check;
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let recently_heard = |id: MemberId| -> bool {
            if id == self.member_id {
                return true;
            }
            let Some(heartbeat) = m.heartbeat.as_ref() else {
                return false;
            };
            matches!(heartbeat.get(&id), Some(Some(t)) if t.elapsed() < HEALTH_INTERVAL)
        };
        match change {
            MemberChange::Add {
                id,
                peer_urls,
                is_learner,
            } => {
                if strict {
                    if !is_learner && !ready_to_add_voter(members) {
                        return Err(MembershipError::NotEnoughStarted);
                    }
                    // etcd checks this for learners too.
                    if !voters(members).all(|v| recently_heard(v.id)) {
                        return Err(MembershipError::Unhealthy);
                    }
                }
                if find(*id).is_some() {
                    return Err(MembershipError::MemberExists);
                }
                let taken: BTreeSet<&String> =
                    members.iter().flat_map(|m| &m.node.peer_urls).collect();
                if peer_urls.iter().any(|u| taken.contains(u)) {
                    return Err(MembershipError::PeerUrlExists);
                }
                if *is_learner && members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
                    return Err(MembershipError::TooManyLearners);
                }
            }
            MemberChange::Remove { id } => {
                let is_learner = find(*id).is_some_and(|m| m.is_learner);
                if strict && !is_learner {
                    if !ready_to_remove_voter(members, *id) {
                        return Err(MembershipError::NotEnoughStarted);
                    }
                    // A member that is down is not part of the active quorum.
                    let down = *id != self.member_id && !recently_heard(*id);
                    if !down {
                        let voting: Vec<_> = voters(members).collect();
                        let active = voting.iter().filter(|v| recently_heard(v.id)).count();
                        if active.saturating_sub(1) < quorum(voting.len().saturating_sub(1)) {
                            return Err(MembershipError::Unhealthy);
                        }
                    }
                }
                if find(*id).is_none() {
                    return Err(MembershipError::MemberNotFound);
                }
            }
            MemberChange::Update { id, peer_urls } => {
                if find(*id).is_none() {
                    return Err(MembershipError::MemberNotFound);
                }
                let taken: BTreeSet<&String> = members
                    .iter()
                    .filter(|m| m.id != *id)
                    .flat_map(|m| &m.node.peer_urls)
                    .collect();
                if peer_urls.iter().any(|u| taken.contains(u)) {
                    return Err(MembershipError::PeerUrlExists);
                }
            }
            MemberChange::Promote { id } => {
                // isLearnerReady: only a learner the leader replicates to is
                // checked; a missing one or a voter fails below.
                let learner = find(*id).is_some_and(|m| m.is_learner);
                if let Some(replication) = m.replication.as_ref().filter(|_| learner) {
                    if let Some(matched) = replication.get(id) {
                        let learner = matched.as_ref().map_or(0, |l| l.index);
                        let leader = m.last_log_index.unwrap_or(0);
                        if (learner as f64) < (leader as f64) * LEARNER_READY_PERCENT {
                            return Err(MembershipError::LearnerNotReady);
                        }
                    }
                }
                if strict && !ready_to_promote(members) {
                    return Err(MembershipError::NotEnoughStarted);
                }
                match find(*id) {
                    None => return Err(MembershipError::MemberNotFound),
                    Some(member) if !member.is_learner => {
                        return Err(MembershipError::MemberNotLearner)
                    }
                    // etcd counts a promotion once the leader's checks pass.
                    Some(_) => crate::metrics::METRICS.learner_promotions.inc(),
                }
            }
        }
        Ok(())
    }

    /// Promotes, while this member leads, each voter added as a learner
    /// once its log has caught up (see the module doc). Runs until Raft
    /// stops.
    pub(crate) async fn promote_caught_up(self) {
        let mut metrics = self.raft.metrics();
        let mut server = self.raft.server_metrics();
        loop {
            let pending = {
                let m = server.borrow_watched();
                m.state == ServerState::Leader
                    && m.membership_config
                        .membership()
                        .nodes()
                        .any(|(_, n)| n.voter_pending)
            };
            if !pending {
                // Nothing to promote until the state or membership changes:
                // wait on those alone, not on every write's metrics.
                if server.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let ready = {
                let m = metrics.borrow_watched();
                let settled =
                    m.membership_config.log_id() == m.committed_membership_config.log_id();
                match (&m.replication, m.state == ServerState::Leader && settled) {
                    (Some(replication), true) => caught_up_pending(
                        m.membership_config.membership(),
                        |id| {
                            replication
                                .get(&id)
                                .and_then(|l| l.as_ref().map(|l| l.index))
                        },
                        m.last_log_index.unwrap_or(0),
                    ),
                    _ => None,
                }
            };
            if let Some(id) = ready {
                let deadline = Instant::now() + PEER_CALL_TIMEOUT;
                let change = MemberChange::Promote { id };
                match self
                    .change_as_leader(change, Checks::PendingPromotion, deadline)
                    .await
                {
                    Ok(_) => tracing::info!(
                        member = %format!("{id:x}"),
                        "promoted a voter added as a learner: its log caught up"
                    ),
                    Err(Retry::Final(e)) => {
                        tracing::warn!(member = %format!("{id:x}"), error = %e, "promotion failed")
                    }
                    Err(Retry::Again) => {}
                }
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    }

    /// Resolves once this member has been removed from the cluster.
    ///
    /// Two ways to learn it: a committed membership without this member,
    /// after one with it (the usual case, and the leader's when it removes
    /// itself); or other members telling it, for a member that may never
    /// hear of its removal because the leader stops replicating to it (and
    /// one removed while it was down). A member that is not the leader asks
    /// a peer every `poll_every` for its committed membership: one newer
    /// than the latest membership here that has this member, and without
    /// it, means it was removed (ids are never reused). A member that has
    /// not yet seen itself in any membership (joining) asks nobody.
    ///
    /// `served_before`: this member served as a member in an earlier run, so
    /// a committed membership without it means removal from the start.
    pub async fn removed(&self, poll_every: Duration, served_before: bool) {
        // Only state and membership matter here: the server metrics, which
        // do not change with every write.
        let mut metrics = self.raft.server_metrics();
        let mut was_member = served_before;
        // The log index of the latest membership that has this member.
        let mut added_at: Option<u64> = None;
        let mut next_poll = Instant::now() + poll_every;
        loop {
            let (committed_has_me, committed_known, latest, is_leader, peers) = {
                let m = metrics.borrow_watched();
                let committed_known = m.committed_membership_config.log_id().is_some();
                let committed = m.committed_membership_config.membership();
                let latest = &m.membership_config;
                let peers: Vec<(MemberId, String)> = latest
                    .membership()
                    .nodes()
                    .filter(|(id, _)| **id != self.member_id)
                    .filter_map(|(id, n)| Some((*id, n.peer_urls.first()?.clone())))
                    .collect();
                let latest_has_me = latest.membership().get_node(&self.member_id).is_some();
                (
                    committed.get_node(&self.member_id).is_some(),
                    committed_known,
                    latest
                        .log_id()
                        .as_ref()
                        .map(|l| l.index)
                        .filter(|_| latest_has_me),
                    m.state == ServerState::Leader,
                    peers,
                )
            };
            if committed_has_me {
                was_member = true;
            } else if was_member && committed_known {
                return;
            }
            if latest.is_some() {
                added_at = latest;
            }
            // Removed while down, with the removal already in the log: the
            // latest membership here lacks this member and nothing here is
            // newer; ask about any membership at all.
            if served_before && added_at.is_none() {
                added_at = Some(0);
            }
            if let Some(added_at) = added_at {
                if !is_leader && Instant::now() >= next_poll {
                    next_poll = Instant::now() + poll_every;
                    if self.peers_say_removed(&peers, added_at).await {
                        return;
                    }
                }
            }
            let wait = next_poll
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10));
            if let Ok(Err(_)) = tokio::time::timeout(wait, metrics.changed()).await {
                // Raft stopped; the server exits on its own.
                return std::future::pending().await;
            }
        }
    }

    /// Whether a peer has committed a membership newer than `added_at`
    /// without this member. Stops at the first peer that answers. Peers are
    /// reached over the leader client's cached channels, and not at all
    /// while a test's fault file cuts them off.
    async fn peers_say_removed(&self, peers: &[(MemberId, String)], added_at: u64) -> bool {
        for (id, url) in peers {
            if crate::faults::blocked(*id) {
                continue;
            }
            let Some(channel) = self.leader.channel(*id, url) else {
                continue;
            };
            let client = RaftPeerClient::new(channel);
            let Ok(answer) = ask_members(client, Duration::from_secs(1)).await else {
                continue;
            };
            if answer.cluster_id != self.options.cluster_id || answer.members.is_empty() {
                continue;
            }
            let has_me = answer.members.iter().any(|m| m.id == self.member_id);
            if answer.membership_index > added_at && !has_me {
                tracing::warn!(
                    peer = %url,
                    "a peer's committed membership no longer has this member"
                );
                return true;
            }
            return false;
        }
        false
    }
}

/// The log entry a change writes.
enum Write {
    /// New metadata for a member (its peer URLs), voters unchanged.
    SetNodes(BTreeMap<MemberId, MemberNode>),
    /// A whole new membership, one voter more or less at most.
    Append(openraft::Membership<MemberId, MemberNode>),
}

/// Whether to try again (on the next leader), or this is the answer.
enum Retry {
    Again,
    Final(MembershipError),
}

/// What a failed membership write means for the caller.
fn classify(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Option<Retry> {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => None,
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => None,
        RaftError::APIError(ClientWriteError::PreconditionFailed(_)) => Some(Retry::Again),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => match e {
            ChangeMembershipError::InProgress(_)
            | ChangeMembershipError::UncommittedLeaderLog(_) => Some(Retry::Again),
            ChangeMembershipError::LearnerNotFound(_) => {
                Some(Retry::Final(MembershipError::MemberNotFound))
            }
            other => Some(Retry::Final(MembershipError::Refused(other.to_string()))),
        },
        RaftError::Fatal(f) => Some(Retry::Final(MembershipError::Stopped(f.to_string()))),
    }
}

/// The membership `change` makes of `members` (single-step: voters differ
/// by at most one).
fn propose(
    observed: &Observed,
    change: &MemberChange,
) -> Result<openraft::Membership<MemberId, MemberNode>, MembershipError> {
    let mut voters = observed.raft_voters.clone();
    let mut nodes: BTreeMap<MemberId, MemberNode> = observed
        .members
        .iter()
        .map(|m| (m.id, m.node.clone()))
        .collect();
    match change {
        MemberChange::Add {
            id,
            peer_urls,
            is_learner,
        } => {
            // A voter starts as a learner the leader promotes once it has
            // caught up (see the module doc).
            nodes.insert(
                *id,
                MemberNode {
                    name: String::new(),
                    peer_urls: peer_urls.clone(),
                    client_urls: Vec::new(),
                    voter_pending: !is_learner,
                },
            );
        }
        MemberChange::Remove { id } => {
            voters.remove(id);
            nodes.remove(id);
        }
        MemberChange::Promote { id } => {
            voters.insert(*id);
        }
        MemberChange::Update { .. } => {}
    }
    openraft::Membership::new(vec![voters], nodes)
        .map_err(|e| MembershipError::Refused(format!("invalid membership: {e}")))
}

/// The members as etcd shows them: a pending voter is a voter.
fn to_members(membership: &openraft::Membership<MemberId, MemberNode>) -> Vec<MemberInfo> {
    membership
        .nodes()
        .map(|(id, node)| MemberInfo {
            id: *id,
            node: node.clone(),
            is_learner: reported_learner(membership, *id),
        })
        .collect()
}

/// Whether etcd would call `id` a learner: a Raft learner that is not a
/// voter awaiting promotion.
pub(crate) fn reported_learner(
    membership: &openraft::Membership<MemberId, MemberNode>,
    id: MemberId,
) -> bool {
    membership.learner_ids().any(|l| l == id)
        && !membership.get_node(&id).is_some_and(|n| n.voter_pending)
}

/// The first pending voter whose log has caught up with the leader's
/// (etcd's promote rule: within 10%), given each member's matched log
/// index as the leader knows it.
fn caught_up_pending(
    membership: &openraft::Membership<MemberId, MemberNode>,
    matched: impl Fn(MemberId) -> Option<u64>,
    leader_last: u64,
) -> Option<MemberId> {
    let pending: Vec<MemberId> = membership
        .learner_ids()
        .filter(|id| membership.get_node(id).is_some_and(|n| n.voter_pending))
        .collect();
    pending.into_iter().find(|id| {
        matched(*id).is_some_and(|at| (at as f64) >= (leader_last as f64) * LEARNER_READY_PERCENT)
    })
}

/// The leader's own promotion checks: the member is still a Raft learner
/// awaiting promotion.
fn still_pending(change: &MemberChange, observed: &Observed) -> Result<(), MembershipError> {
    let MemberChange::Promote { id } = change else {
        return Err(MembershipError::Refused("not a promotion".into()));
    };
    match observed.members.iter().find(|m| m.id == *id) {
        None => Err(MembershipError::MemberNotFound),
        Some(m) if m.node.voter_pending && !observed.raft_voters.contains(id) => Ok(()),
        Some(_) => Err(MembershipError::MemberNotLearner),
    }
}

/// A majority of `n` voters.
fn quorum(n: usize) -> usize {
    n / 2 + 1
}

fn voters(members: &[MemberInfo]) -> impl Iterator<Item = &MemberInfo> {
    members.iter().filter(|m| !m.is_learner)
}

/// etcd's IsReadyToAddVotingMember: once the new voter counts, enough
/// voters must have started for a quorum (a lone started member may add a
/// second, to restore a cluster).
fn ready_to_add_voter(members: &[MemberInfo]) -> bool {
    let started = voters(members).filter(|m| m.is_started()).count();
    let total = voters(members).count() + 1;
    if started == 1 && total == 2 {
        return true;
    }
    started >= quorum(total)
}

/// etcd's IsReadyToRemoveVotingMember.
fn ready_to_remove_voter(members: &[MemberInfo], id: MemberId) -> bool {
    let rest: Vec<_> = voters(members).filter(|m| m.id != id).collect();
    let started = rest.iter().filter(|m| m.is_started()).count();
    started >= quorum(rest.len())
}

/// etcd's IsReadyToPromoteMember: the learner counts as a started voter.
fn ready_to_promote(members: &[MemberInfo]) -> bool {
    let started = voters(members).filter(|m| m.is_started()).count() + 1;
    let total = voters(members).count() + 1;
    started >= quorum(total)
}

fn member_to_wire(m: &MemberInfo) -> ClusterMember {
    ClusterMember {
        id: m.id,
        name: m.node.name.clone(),
        peer_urls: m.node.peer_urls.clone(),
        client_urls: m.node.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

fn member_from_wire(m: ClusterMember) -> MemberInfo {
    MemberInfo {
        id: m.id,
        node: MemberNode {
            name: m.name,
            peer_urls: m.peer_urls,
            client_urls: m.client_urls,
            voter_pending: false,
        },
        is_learner: m.is_learner,
    }
}

fn to_wire(change: &MemberChange) -> MemberChangeRequest {
    use member_change_request::Kind;
    let (kind, id, peer_urls, is_learner) = match change {
        MemberChange::Add {
            id,
            peer_urls,
            is_learner,
        } => (Kind::Add, *id, peer_urls.clone(), *is_learner),
        MemberChange::Remove { id } => (Kind::Remove, *id, Vec::new(), false),
        MemberChange::Update { id, peer_urls } => (Kind::Update, *id, peer_urls.clone(), false),
        MemberChange::Promote { id } => (Kind::Promote, *id, Vec::new(), false),
    };
    MemberChangeRequest {
        kind: kind as i32,
        id,
        peer_urls,
        is_learner,
    }
}

fn from_wire(request: MemberChangeRequest) -> Result<MemberChange, tonic::Status> {
    use member_change_request::Kind;
    let kind = Kind::try_from(request.kind)
        .map_err(|_| tonic::Status::invalid_argument("unknown membership change"))?;
    let id = request.id;
    Ok(match kind {
        Kind::Add => MemberChange::Add {
            id,
            peer_urls: request.peer_urls,
            is_learner: request.is_learner,
        },
        Kind::Remove => MemberChange::Remove { id },
        Kind::Update => MemberChange::Update {
            id,
            peer_urls: request.peer_urls,
        },
        Kind::Promote => MemberChange::Promote { id },
    })
}

/// Asks one member for its committed membership (before joining: no
/// member channels exist yet).
async fn fetch_one(
    dialer: &PeerDialer,
    url: &str,
    timeout: Duration,
) -> Result<RemoteClusterAt, FetchError> {
    let channel = dialer.channel(url).map_err(|e| {
        tracing::warn!(address = %url, error = %e, "cannot dial peer");
        FetchError::NoAnswer
    })?;
    ask_members(RaftPeerClient::new(channel), timeout).await
}

/// Asks the member behind `client` for its committed membership.
async fn ask_members(
    mut client: RaftPeerClient<tonic::transport::Channel>,
    timeout: Duration,
) -> Result<RemoteClusterAt, FetchError> {
    let answer = tokio::time::timeout(timeout, client.members(MembersRequest {}))
        .await
        .map_err(|_| FetchError::NoAnswer)?
        .map_err(|_| FetchError::NoAnswer)?
        .into_inner();
    Ok(RemoteClusterAt {
        cluster_id: answer.cluster_id,
        membership_index: answer.membership_index,
        members: answer.members.into_iter().map(member_from_wire).collect(),
    })
}

struct RemoteClusterAt {
    cluster_id: u64,
    membership_index: u64,
    members: Vec<MemberInfo>,
}

/// Learns the running cluster from the first of `peer_urls` that answers,
/// as etcd's GetClusterFromRemotePeers does (before a member joins).
pub async fn fetch_cluster(
    dialer: &PeerDialer,
    peer_urls: &[String],
) -> Result<RemoteCluster, FetchError> {
    for url in peer_urls {
        match fetch_one(dialer, url, PEER_CALL_TIMEOUT).await {
            Ok(answer) if answer.members.is_empty() => return Err(FetchError::Empty),
            Ok(answer) => {
                return Ok(RemoteCluster {
                    cluster_id: answer.cluster_id,
                    members: answer.members,
                })
            }
            Err(_) => {
                tracing::warn!(address = %url, "failed to get cluster response");
            }
        }
    }
    Err(FetchError::NoAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, learner: bool) -> MemberInfo {
        MemberInfo {
            id,
            node: MemberNode {
                name: name.into(),
                peer_urls: vec![format!("http://m{id}:2380")],
                client_urls: Vec::new(),
                voter_pending: false,
            },
            is_learner: learner,
        }
    }

    fn observed(members: &[MemberInfo]) -> Observed {
        Observed {
            log_id: None,
            raft_voters: voters(members).map(|m| m.id).collect(),
            members: members.to_vec(),
        }
    }

    #[test]
    fn quorum_rules_follow_etcd() {
        let three = [
            member(1, "a", false),
            member(2, "b", false),
            member(3, "", false),
        ];
        // 2 of 4 started after the add: below quorum 3.
        assert!(!ready_to_add_voter(&three));
        let started = [
            member(1, "a", false),
            member(2, "b", false),
            member(3, "c", false),
        ];
        assert!(ready_to_add_voter(&started));
        // A lone started member may add a second.
        assert!(ready_to_add_voter(&[member(1, "a", false)]));
        // Removing c from {a, b, c(unstarted)} leaves 2 started of 2.
        assert!(ready_to_remove_voter(&three, 3));
        // Removing a leaves b started of {b, c}: below quorum 2.
        assert!(!ready_to_remove_voter(&three, 1));
        assert!(ready_to_promote(&[
            member(1, "a", false),
            member(9, "", true)
        ]));
    }

    #[test]
    fn proposals_change_one_voter() {
        let members = observed(&[
            member(1, "a", false),
            member(2, "b", false),
            member(9, "", true),
        ]);
        let promoted = propose(&members, &MemberChange::Promote { id: 9 }).unwrap();
        assert_eq!(promoted.voter_ids().collect::<Vec<_>>(), [1, 2, 9]);
        let removed = propose(&members, &MemberChange::Remove { id: 2 }).unwrap();
        assert_eq!(removed.voter_ids().collect::<Vec<_>>(), [1]);
        assert!(removed.get_node(&2).is_none());
        let added = propose(
            &members,
            &MemberChange::Add {
                id: 5,
                peer_urls: vec!["http://m5:2380".into()],
                is_learner: true,
            },
        )
        .unwrap();
        assert_eq!(added.learner_ids().collect::<Vec<_>>(), [5, 9]);
    }

    #[test]
    fn a_voter_is_added_as_a_pending_learner_and_shown_as_a_voter() {
        let one = observed(&[member(1, "a", false)]);
        let added = propose(
            &one,
            &MemberChange::Add {
                id: 2,
                peer_urls: vec!["http://m2:2380".into()],
                is_learner: false,
            },
        )
        .unwrap();
        // Raft's quorum stays {1}: the add commits on this member alone.
        assert_eq!(added.voter_ids().collect::<Vec<_>>(), [1]);
        assert_eq!(added.learner_ids().collect::<Vec<_>>(), [2]);
        let shown = to_members(&added);
        assert!(shown.iter().all(|m| !m.is_learner), "{shown:?}");
        assert!(!reported_learner(&added, 2));

        // Promoted once within 10% of the leader's log, not before.
        assert_eq!(caught_up_pending(&added, |_| None, 100), None);
        assert_eq!(caught_up_pending(&added, |_| Some(89), 100), None);
        assert_eq!(caught_up_pending(&added, |_| Some(90), 100), Some(2));

        let pending = Observed {
            log_id: None,
            raft_voters: added.voter_ids().collect(),
            members: shown,
        };
        assert!(still_pending(&MemberChange::Promote { id: 2 }, &pending).is_ok());
        assert_eq!(
            still_pending(&MemberChange::Promote { id: 1 }, &pending),
            Err(MembershipError::MemberNotLearner)
        );
        let promoted = propose(&pending, &MemberChange::Promote { id: 2 }).unwrap();
        assert_eq!(promoted.voter_ids().collect::<Vec<_>>(), [1, 2]);
        // The node's metadata is unchanged, as openraft requires.
        assert_eq!(promoted.get_node(&2), added.get_node(&2));
        assert!(to_members(&promoted).iter().all(|m| !m.is_learner));
        assert_eq!(caught_up_pending(&promoted, |_| Some(100), 100), None);

        // A learner added as one stays a learner.
        let learner = propose(
            &one,
            &MemberChange::Add {
                id: 3,
                peer_urls: vec!["http://m3:2380".into()],
                is_learner: true,
            },
        )
        .unwrap();
        assert!(reported_learner(&learner, 3));
        assert_eq!(caught_up_pending(&learner, |_| Some(100), 100), None);
    }

    #[test]
    fn errors_survive_forwarding() {
        for e in [
            MembershipError::MemberExists,
            MembershipError::PeerUrlExists,
            MembershipError::MemberNotFound,
            MembershipError::MemberNotLearner,
            MembershipError::LearnerNotReady,
            MembershipError::TooManyLearners,
            MembershipError::NotEnoughStarted,
            MembershipError::Unhealthy,
            MembershipError::NoLeader,
            MembershipError::Timeout,
            MembershipError::Stopped("disk full".into()),
            MembershipError::Refused("the membership is empty".into()),
        ] {
            assert_eq!(MembershipError::from_wire_name(&e.wire_name()), e);
        }
    }
}
