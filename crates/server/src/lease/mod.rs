//! Leases: the lessor, which decides when leases expire, and the pure rules
//! it runs on. etcd's `lease/` package, split by idea.
//!
//! What lives where: storage (`etcd_storage`) holds each lease's id, granted
//! TTL and last checkpointed remaining TTL, and applies grants, revokes (with
//! the deletion of the attached keys in one revision) and checkpoints. This
//! module holds what is not replicated — when each lease expires — and
//! proposes the revokes and checkpoints. The Lease gRPC service is
//! `api::lease`; it validates, picks ids and raises TTLs before proposing.
//!
//! - [`lessor`]: [`Lessor`], the live table: follows every applied lease
//!   change (`on_commit`, from the apply thread, never blocking), renews on
//!   keep-alives, promotes itself when this member leads (reloading the
//!   leases from storage and starting their clocks) and demotes when not.
//! - [`expiry`]: the leader's loop — revoke expired leases through Raft (at
//!   etcd's 1000/s), propose due checkpoints — and the checkpoint of every
//!   lease when a leader shuts down.
//! - [`table`]: the state as plain data with explicit instants: expiries,
//!   renewals, what is due for revoke or checkpoint, pile-up spreading.
//! - [`deadlines`]: one pending instant per lease, in time order.
//! - [`forward`]: keep-alives and remaining TTLs on any member, answered
//!   by the leader (the `LeasePeer` service on the peer listener).
//! - [`ttl`]: minimum and maximum TTLs, second roundings.
//! - [`id`]: ids for grants that ask for ID 0.
//!
//! Only the leader times leases; a lease's clock starts when the leader
//! applies its grant, restarts in full on each keep-alive, and an expired
//! lease is revoked through the log, so every member deletes its keys at the
//! same revision.
//!
//! **Restarts and leader changes checkpoint, they do not renew.** etcd 3.4
//! (without its experimental checkpoint flags) gives every lease its full
//! TTL again whenever a leader is elected, so a lease whose owner died can
//! live on indefinitely if leaders keep changing, and a restart always
//! lengthens leases. We record remaining TTLs through Raft instead — every
//! checkpoint interval (etcd's 5 minutes) for leases longer than that, when
//! a renewal makes a recorded value stale (cleared, so a restart never
//! resumes from a value shorter than the truth), and for every lease when a
//! leader shuts down — and a new leader resumes each lease from its
//! checkpoint (rounded up to a second) plus an election timeout, as etcd's
//! checkpointing mode does. A restart therefore never shortens a lease, and
//! lengthens it by at most the time since its last checkpoint.

pub mod deadlines;
pub mod expiry;
pub mod forward;
pub mod id;
pub mod lessor;
pub mod table;
pub mod ttl;

pub use lessor::{Lessor, LessorConfig, CHECKPOINT_INTERVAL};
