//! The leader's half of serving from any member: what it does with a
//! follower's forwarded write, read-index request and published attributes
//! (the `Propose`, `ReadIndex` and `Publish` peer RPCs). The follower's half
//! is in [`crate::node`]; reaching the leader is [`crate::leader_client`].
//!
//! Answers follow the leader client's convention: `Unavailable` asks the
//! follower to try again (this member does not lead, or cannot confirm it
//! does); `Aborted` says a forwarded write was discarded by a leader change;
//! other codes are final.

use std::collections::BTreeMap;

use etcd_proto::raftpb::{
    ForwardedProposal, ForwardedProposalResult, PublishRequest, PublishResponse, ReadIndexResponse,
};
use openraft::errors::{ChangeMembershipError, ClientWriteError, LinearizableReadError, RaftError};
use openraft::{ChangeMembers, Precondition, Raft, ReadPolicy};
use tonic::Status;

use crate::state_machine::StateMachine;
use crate::types::{MemberNode, Proposal, TypeConfig};

/// Marks a refusal the follower may retry without risk: the request was
/// never proposed (this member does not lead).
pub const NOT_PROPOSED: &str = "etcd-rs: not leader, not proposed";

fn not_leader() -> Status {
    Status::unavailable(NOT_PROPOSED)
}

/// Proposes a follower's write; answers once this member applied it. The
/// apply result itself is not sent back: the follower answers its client
/// from its own apply of the same entry.
pub(crate) async fn propose(
    raft: &Raft<TypeConfig, StateMachine>,
    forwarded: ForwardedProposal,
) -> Result<ForwardedProposalResult, Status> {
    let request = forwarded
        .request
        .ok_or_else(|| Status::invalid_argument("forwarded proposal without a request"))?;
    match raft.client_write(Proposal(request)).await {
        Ok(_) => Ok(ForwardedProposalResult {}),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(not_leader()),
        Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
            Err(Status::aborted("etcdserver: leader changed"))
        }
        Err(RaftError::APIError(other)) => Err(Status::unknown(other.to_string())),
        // Raft stopped under the request: the entry may still commit
        // elsewhere, so the follower must not propose it again.
        Err(RaftError::Fatal(f)) => Err(Status::unknown(format!("raft stopped: {f}"))),
    }
}

/// Confirms with a quorum that this member leads and answers the index a
/// reader must have applied before its read is linearizable.
pub(crate) async fn read_index(
    raft: &Raft<TypeConfig, StateMachine>,
) -> Result<ReadIndexResponse, Status> {
    match raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
        Ok(linearizer) => Ok(ReadIndexResponse {
            index: linearizer.read_log_id().index(),
        }),
        Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => Err(not_leader()),
        Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(q))) => Err(
            Status::unavailable(format!("leadership not confirmed by a quorum: {q}")),
        ),
        Err(RaftError::Fatal(f)) => Err(Status::unavailable(format!("raft stopped: {f}"))),
    }
}

/// Records a member's attributes (name, URLs) in the membership.
pub(crate) async fn publish(
    raft: &Raft<TypeConfig, StateMachine>,
    request: PublishRequest,
) -> Result<PublishResponse, Status> {
    let node = MemberNode {
        name: request.name,
        peer_urls: request.peer_urls,
        client_urls: request.client_urls,
        voter_pending: false,
    };
    set_node(raft, request.member_id, node).await?;
    Ok(PublishResponse {})
}

/// What the leader answers (`NotFound`) when a member publishes attributes
/// but is no longer in the membership: it was removed, and must stop.
pub const MEMBER_REMOVED: &str = "etcdserver: member removed";

/// Whether a leader's answer to a publish says the member was removed.
pub fn is_removed(status: &Status) -> bool {
    status.code() == tonic::Code::NotFound && status.message() == MEMBER_REMOVED
}

/// `SetNodes` for one member, unless the membership already says so.
///
/// openraft's `SetNodes` inserts a node that is absent (as a learner), so a
/// late or retried publish from a member removed meanwhile would bring it
/// back. The membership is therefore read with its log id and the write is
/// guarded by that id: a member absent from it gets [`MEMBER_REMOVED`], and
/// a membership change that got in between makes it look again.
pub(crate) async fn set_node(
    raft: &Raft<TypeConfig, StateMachine>,
    member_id: u64,
    node: MemberNode,
) -> Result<(), Status> {
    use openraft::async_runtime::WatchReceiver;
    loop {
        let (log_id, current) = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            let membership = &m.membership_config;
            (
                *membership.log_id(),
                membership.membership().get_node(&member_id).cloned(),
            )
        };
        // The member publishes what it knows of itself; whether it awaits
        // promotion is the cluster's to say, and is kept.
        let node = match &current {
            None => return Err(Status::not_found(MEMBER_REMOVED)),
            Some(current) => MemberNode {
                voter_pending: current.voter_pending,
                ..node.clone()
            },
        };
        if current.as_ref() == Some(&node) {
            return Ok(());
        }
        let nodes = BTreeMap::from([(member_id, node)]);
        let guard = Precondition::LastMembershipLogId {
            last_membership_log_id: log_id,
        };
        match raft
            .change_membership_if(ChangeMembers::SetNodes(nodes), true, [guard])
            .await
        {
            Ok(_) => return Ok(()),
            // Another membership got in first: decide again on it (once
            // the metrics show it).
            Err(RaftError::APIError(ClientWriteError::PreconditionFailed(_))) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                return Err(not_leader())
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(p),
            ))) => {
                return Err(Status::unavailable(format!(
                    "a membership change is in progress: {p}"
                )))
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                return Err(Status::unavailable("etcdserver: leader changed"))
            }
            Err(RaftError::APIError(other)) => {
                return Err(Status::failed_precondition(other.to_string()))
            }
            Err(RaftError::Fatal(f)) => {
                return Err(Status::unavailable(format!("raft stopped: {f}")))
            }
        }
    }
}
