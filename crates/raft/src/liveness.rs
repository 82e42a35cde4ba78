//! Whether this member's idea of the leader is current: etcd's check-quorum,
//! as clients see it in Status and `endpoint status`.
//!
//! openraft keeps a leader that lost its quorum in the Leader state (it just
//! cannot commit), and a cut-off follower keeps naming the last leader it
//! heard from (its failed pre-votes change nothing). etcd's leader steps
//! down once an election timeout passes without hearing from a quorum, and
//! a follower forgets its leader when its election timer fires. So the
//! leader this member reports is the one Raft names only while that is
//! fresh: for a leader, a quorum acknowledged it within the election
//! timeout; for a follower, an AppendEntries from the leader arrived within
//! the longest election timer. Raft's own decisions (who may propose, who
//! commits) are unchanged: this is the view, not the protocol.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::types::MemberId;

/// When this member last accepted an AppendEntries (heartbeat or entries)
/// from a leader; shared by the peer service (which records) and the node
/// (which reports).
#[derive(Debug, Clone, Default)]
pub struct LeaderContact {
    last: Arc<Mutex<Option<Instant>>>,
}

impl LeaderContact {
    pub fn record(&self, at: Instant) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// How long ago the last contact was; `None` before the first.
    pub fn ago(&self) -> Option<Duration> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }
}

/// When this member was first seen leading in its current term. A leader
/// just elected has no quorum acknowledgement yet (votes do not count as
/// one), so until the first one it is as fresh as its time in office.
#[derive(Debug, Default)]
pub struct LeaderSince {
    at: Mutex<Option<(u64, Instant)>>,
}

impl LeaderSince {
    /// How long this member has led in `term`, counting from the first time
    /// it was asked in that term.
    pub fn ago(&self, term: u64) -> Duration {
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        match *at {
            Some((t, since)) if t == term => since.elapsed(),
            _ => {
                *at = Some((term, Instant::now()));
                Duration::ZERO
            }
        }
    }
}

/// What Raft says, and when it was last confirmed.
#[derive(Debug, Clone, Copy)]
pub struct RaftView {
    pub member_id: MemberId,
    pub state: ServerState,
    pub current_leader: Option<MemberId>,
    /// The only voter is this member: nobody needs to confirm anything.
    pub sole_voter: bool,
    /// For a leader: how long ago a quorum last acknowledged it.
    pub quorum_acked_ago: Option<Duration>,
    /// For a follower: how long ago the leader was last heard from.
    pub leader_contact_ago: Option<Duration>,
}

/// The leader to report; `leader_timeout` is how long a leader keeps
/// leading without a quorum, `follower_timeout` how long a follower trusts a
/// silent leader.
pub fn visible_leader(
    view: &RaftView,
    leader_timeout: Duration,
    follower_timeout: Duration,
) -> Option<MemberId> {
    let fresh = |ago: Option<Duration>, timeout: Duration| ago.is_some_and(|a| a <= timeout);
    match view.state {
        ServerState::Leader if view.sole_voter => Some(view.member_id),
        ServerState::Leader => {
            fresh(view.quorum_acked_ago, leader_timeout).then_some(view.member_id)
        }
        _ if view.current_leader == Some(view.member_id) => None,
        _ => view
            .current_leader
            .filter(|_| fresh(view.leader_contact_ago, follower_timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(1000);

    fn view(state: ServerState) -> RaftView {
        RaftView {
            member_id: 1,
            state,
            current_leader: Some(if state == ServerState::Leader { 1 } else { 2 }),
            sole_voter: false,
            quorum_acked_ago: None,
            leader_contact_ago: None,
        }
    }

    #[test]
    fn a_leader_leads_while_a_quorum_answers() {
        let mut v = view(ServerState::Leader);
        v.quorum_acked_ago = Some(Duration::from_millis(300));
        assert_eq!(visible_leader(&v, T, T), Some(1));
        v.quorum_acked_ago = Some(Duration::from_millis(1300));
        assert_eq!(visible_leader(&v, T, T), None);
        v.quorum_acked_ago = None;
        assert_eq!(visible_leader(&v, T, T), None);
    }

    #[test]
    fn a_new_leader_counts_from_taking_office() {
        let since = LeaderSince::default();
        assert_eq!(since.ago(3), Duration::ZERO);
        assert!(since.ago(3) < Duration::from_secs(5));
        // A new term starts the count again.
        assert_eq!(since.ago(4), Duration::ZERO);
    }

    #[test]
    fn a_sole_voter_always_leads() {
        let mut v = view(ServerState::Leader);
        v.sole_voter = true;
        assert_eq!(visible_leader(&v, T, T), Some(1));
    }

    #[test]
    fn a_follower_forgets_a_silent_leader() {
        let mut v = view(ServerState::Follower);
        v.leader_contact_ago = Some(Duration::from_millis(200));
        assert_eq!(visible_leader(&v, T, T), Some(2));
        v.leader_contact_ago = Some(Duration::from_millis(2000));
        assert_eq!(visible_leader(&v, T, T), None);
        v.leader_contact_ago = None;
        assert_eq!(visible_leader(&v, T, T), None);
        v.state = ServerState::Learner;
        v.leader_contact_ago = Some(Duration::ZERO);
        assert_eq!(visible_leader(&v, T, T), Some(2));
    }

    #[test]
    fn a_stepped_down_leader_does_not_name_itself() {
        let mut v = view(ServerState::Candidate);
        v.current_leader = Some(1);
        v.leader_contact_ago = Some(Duration::ZERO);
        assert_eq!(visible_leader(&v, T, T), None);
    }
}
