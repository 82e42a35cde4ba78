//! The openraft type configuration for etcd-rs: what a log entry carries, what
//! applying one returns, and what we know about each member.
//!
//! Node ids are etcd member ids (the same u64 etcd derives from peer URLs and the
//! cluster token), so a raft node id and the `member_id` in response headers are
//! one number. Leader ids are openraft's standard ones: one leader per term, as in
//! etcd's Raft.

use std::fmt;

use etcd_proto::raftpb::RaftRequest;
use etcd_storage::{ApplyError, ApplyResponse};

openraft::declare_raft_types!(
    /// etcd-rs' choices for openraft's generic types.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = u64,
        Node = MemberNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

/// An etcd member id: the raft node id.
pub type MemberId = u64;

/// One committed client write, as it travels through the Raft log.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal(pub RaftRequest);

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0.request {
            Some(request) => etcd_storage::request::kind(request),
            None => "empty",
        };
        f.write_str(kind)
    }
}

/// What applying one entry produced: the response for the client that proposed
/// it, or the etcd error it gets instead. Entries that are not client writes
/// (blank, membership) apply to `Applied(None)`.
#[derive(Debug)]
pub struct Applied(pub Option<Result<ApplyResponse, ApplyError>>);

/// What the cluster records about a member, replicated with the membership.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberNode {
    /// The member's `--name`.
    pub name: String,
    /// Where peers reach it (`--initial-advertise-peer-urls`).
    pub peer_urls: Vec<String>,
    /// Where clients reach it (`--advertise-client-urls`), published through Raft
    /// once the member starts, as etcd publishes its attributes.
    pub client_urls: Vec<String>,
    /// Added as a voter, but replicated to as a learner until its log has
    /// caught up; the leader then makes it a voter (membership.rs). Members
    /// and clients see a voter throughout, as etcd shows one. Stays set
    /// after the promotion (openraft refuses other metadata changes in a
    /// membership entry), where it means nothing.
    pub voter_pending: bool,
}
