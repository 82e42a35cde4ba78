//! [`LeaderClient`]: how a member that is not the leader reaches the leader's
//! peer service, for everything a follower hands to the leader (forwarded
//! writes, read indexes, published attributes, lease renewals, membership
//! changes).
//!
//! It finds the leader in Raft's metrics and its peer URL in the applied
//! membership, keeps one lazily connected gRPC channel per member (the same
//! channel serves every peer service on that listener), and retries a call
//! while the leader is unknown, unreachable or moving, until a deadline.
//!
//! The convention it relies on: a peer handler answers `Unavailable` when the
//! caller should ask again (the callee is not, or no longer, the leader, or
//! cannot serve yet); any other status is a final answer. Transport failures
//! (connection refused, reset) are `Unavailable` too, so a call never ends
//! early because a leader just died.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use etcd_transport::PeerDialer;
use openraft::async_runtime::WatchReceiver;
use openraft::{Raft, ServerState};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::state_machine::StateMachine;
use crate::types::{MemberId, TypeConfig};

/// Pause between attempts when the leader is unknown or did not answer.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Who leads, as this member sees it.
#[derive(Debug, Clone)]
pub enum Leader {
    /// This member: serve the request here.
    Local,
    /// Another member, reachable on this channel.
    Remote { id: MemberId, channel: Channel },
}

/// Why a call to the leader gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// This member became the leader meanwhile: serve the request locally.
    #[error("this member is the leader")]
    Local,
    /// No leader was known (or reachable) before the deadline.
    #[error("no leader")]
    NoLeader,
    /// A leader was known but did not answer before the deadline.
    #[error("the leader did not answer in time")]
    Timeout,
    /// The leader answered with this final error.
    #[error("the leader refused: {0}")]
    Refused(Status),
}

/// Reaches the current leader's peer listener.
pub struct LeaderClient {
    member_id: MemberId,
    raft: Raft<TypeConfig, StateMachine>,
    /// Opens the channels.
    dialer: PeerDialer,
    /// One channel per member, with the URL it was made for (a member whose
    /// peer URL changes gets a new channel).
    channels: Mutex<HashMap<MemberId, (String, Channel)>>,
}

impl LeaderClient {
    pub(crate) fn new(
        member_id: MemberId,
        raft: Raft<TypeConfig, StateMachine>,
        dialer: PeerDialer,
    ) -> LeaderClient {
        LeaderClient {
            member_id,
            raft,
            dialer,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The leader now, without waiting: `None` while no leader is known or
    /// the leader has no usable peer URL.
    ///
    /// Only the Leader state makes this member the leader. Raft names the
    /// leader of the vote it holds, and a member restarted with its own
    /// vote (a former leader), or a leader that stepped down, still names
    /// itself while it follows or campaigns: no leader is known then.
    pub fn current(&self) -> Option<Leader> {
        let (leader, url) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            let leader = known_leader(self.member_id, m.state, m.current_leader)?;
            if leader == self.member_id {
                return Some(Leader::Local);
            }
            let node = m.membership_config.membership().get_node(&leader)?;
            (leader, node.peer_urls.first()?.clone())
        };
        let channel = self.channel(leader, &url)?;
        Some(Leader::Remote {
            id: leader,
            channel,
        })
    }

    /// Waits until a leader is known, at most until `deadline`.
    pub async fn leader(&self, deadline: Instant) -> Result<Leader, CallError> {
        let mut metrics = self.raft.metrics();
        loop {
            if let Some(leader) = self.current() {
                return Ok(leader);
            }
            // Woken by any metrics change (a new leader, a membership
            // change); a bounded pause covers a URL that is still unusable.
            let changed = tokio::time::timeout(RETRY_PAUSE * 4, metrics.changed());
            match tokio::time::timeout_at(deadline, changed).await {
                Err(_) => return Err(CallError::NoLeader),
                Ok(Ok(Err(_))) => return Err(CallError::NoLeader),
                Ok(_) => {}
            }
        }
    }

    /// Calls `call` with a channel to the leader until it gives a final
    /// answer or `deadline` passes. Attempts answered `Unavailable` (the
    /// callee does not lead, is unreachable or not ready) are retried,
    /// against whichever member leads by then.
    pub async fn call<T, F, Fut>(&self, deadline: Instant, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(MemberId, Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut reached_leader = false;
        loop {
            let (id, channel) = match self.leader(deadline).await {
                Ok(Leader::Local) => return Err(CallError::Local),
                Ok(Leader::Remote { id, channel }) => (id, channel),
                Err(e) if reached_leader => return Err(timeout_or(e)),
                Err(e) => return Err(e),
            };
            reached_leader = true;
            // A test's peer fault file (crate::faults) makes the leader
            // unreachable, like a refused connection.
            let attempt = async {
                if crate::faults::blocked(id) {
                    return Err(Status::unavailable("blocked by the peer fault file"));
                }
                call(id, channel).await
            };
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => return Err(CallError::Timeout),
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(status)) if retryable(&status) => {
                    tracing::debug!(
                        leader = %format!("{id:x}"),
                        error = %status.message(),
                        "leader did not take the request; asking again"
                    );
                    if tokio::time::timeout_at(deadline, tokio::time::sleep(RETRY_PAUSE))
                        .await
                        .is_err()
                    {
                        return Err(CallError::Timeout);
                    }
                }
                Ok(Err(status)) => return Err(CallError::Refused(status)),
            }
        }
    }

    /// The channel to `member` at `url`, made on first use. Connecting
    /// happens inside tonic, lazily, and again after a failure.
    pub(crate) fn channel(&self, member: MemberId, url: &str) -> Option<Channel> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached_url, channel)) = channels.get(&member) {
            if cached_url == url {
                return Some(channel.clone());
            }
        }
        let channel = match self.dialer.channel(url) {
            Ok(channel) => channel,
            Err(e) => {
                tracing::warn!(member = %format!("{member:x}"), url, error = %e, "cannot dial peer");
                return None;
            }
        };
        channels.insert(member, (url.to_string(), channel.clone()));
        Some(channel)
    }
}

/// The leader by Raft's state and the leader it names: this member only in
/// the Leader state; another member when Raft names one.
pub(crate) fn known_leader(
    me: MemberId,
    state: ServerState,
    current_leader: Option<MemberId>,
) -> Option<MemberId> {
    if state == ServerState::Leader {
        return Some(me);
    }
    current_leader.filter(|&id| id != me)
}

/// Whether a leader's answer means "ask again".
fn retryable(status: &Status) -> bool {
    status.code() == Code::Unavailable
}

/// Once some leader was reached, running out of time waiting for the next
/// one is a timeout, as etcd reports it, not "no leader".
fn timeout_or(e: CallError) -> CallError {
    match e {
        CallError::NoLeader => CallError::Timeout,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_leader_state_makes_this_member_the_leader() {
        assert_eq!(known_leader(1, ServerState::Leader, Some(1)), Some(1));
        // Restarted with its own vote, or stepped down: nobody known yet.
        assert_eq!(known_leader(1, ServerState::Follower, Some(1)), None);
        assert_eq!(known_leader(1, ServerState::Candidate, Some(1)), None);
        assert_eq!(known_leader(1, ServerState::Follower, None), None);
        assert_eq!(known_leader(1, ServerState::Follower, Some(2)), Some(2));
        assert_eq!(known_leader(1, ServerState::Learner, Some(2)), Some(2));
    }
}
