//! Consensus glue: etcd-rs' use of openraft.
//!
//! Layout:
//! - [`types`]: the openraft type configuration (entries carry our
//!   `RaftRequest`; node ids are etcd member ids).
//! - [`wal_codec`]: the bytes of log ids, votes and entries in the WAL.
//! - [`log_store`]: the Raft log on the `raft-log` WAL; [`group_commit`]:
//!   one fsync for all appends that arrive while the previous one runs.
//! - [`state_machine`]: applies committed entries to the redb backend in
//!   batches, with the applied log id in the same transaction; snapshots.
//! - [`network`]: how Raft reaches peers (gRPC client per peer);
//!   [`peer_service`]: the `RaftPeer` service peers reach us on;
//!   [`peer_codec`]: the bytes of those RPCs; [`snapshot_transfer`]:
//!   streaming a snapshot to a member that fell behind the purged log.
//! - [`metrics`]: etcd's `etcd_server_*` Raft metrics, the WAL's fsync
//!   latency and the peer traffic; `prober`: etcd's peer prober (a round
//!   trip to every other member every 4 s).
//! - [`faults`]: a test facility, peer faults injected from a file; compiled
//!   in only with the `fault-injection` feature (the test builds), so no
//!   release binary carries it.
//! - [`liveness`]: the leader as etcd's check-quorum reports it.
//! - [`leader_client`]: reaching the current leader's peer service, for
//!   what a follower hands to the leader.
//! - [`waiters`]: request ids, and the members waiting on their apply;
//!   [`forward`]: the leader's half of serving from any member.
//! - [`membership`]: membership changes made on the leader, removal
//!   detection, and asking a running cluster who is in it.
//! - [`node`]: [`RaftNode`], what the server calls: propose, read_index, status.
//!
//! The write path through this crate: `RaftNode::propose` → openraft appends the
//! entry via `LogStore::append` (durable on the WAL's fsync callback) → commit →
//! `StateMachine::apply` runs it through `etcd_storage` and answers the proposer.

#[cfg(feature = "fault-injection")]
pub mod faults;
/// Without the `fault-injection` feature (every `cargo build`, release or
/// not): no peer is ever blocked, and no variable is read.
#[cfg(not(feature = "fault-injection"))]
pub mod faults {
    /// Never: faults exist only in test builds.
    #[inline(always)]
    pub fn blocked(_target: u64) -> bool {
        false
    }
}
pub mod forward;
pub mod group_commit;
pub mod leader_client;
pub mod liveness;
pub mod log_store;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod node;
pub mod peer_codec;
pub mod peer_service;
mod prober;
pub mod snapshot_transfer;
pub mod state_machine;
pub mod types;
pub mod waiters;
pub mod wal_codec;

pub use node::{NodeOptions, ProposeError, RaftNode, RaftStatus, StartError};
pub use peer_service::PeerService;
pub use state_machine::{CommitObserver, InstallObserver};
pub use types::{MemberId, MemberNode};
