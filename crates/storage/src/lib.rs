//! The state machine's data: etcd's MVCC key-value store on redb, and the
//! apply of committed requests.
//!
//! Layout:
//! - [`backend`]: the redb file, its tables (schema documented there and in
//!   docs/data-layout.md), meta blobs, sizes, snapshot copies.
//! - [`read`]: [`ReadTxn`], a consistent snapshot serving Range and
//!   read-only Txn.
//! - `apply`: [`ApplyBatch`], one write transaction per batch of committed
//!   raft entries; `ops` (Range/Put/DeleteRange), `txn` (compares, branches),
//!   `lease` (LeaseGrant/LeaseRevoke/LeaseCheckpoint), `alarm` (Alarm, and
//!   the requests refused under NOSPACE). A commit reports its
//!   events and [`LeaseChange`]s in [`Committed`].
//! - [`lease`]: the stored lease record ([`LeaseRecord`]) and its lookups.
//! - [`mvcc`]: revisions, key ranges, the key index, range semantics,
//!   writes, compaction and the history read back as watch events
//!   ([`ReadTxn::events`]).
//! - [`auth`]: users, roles and permissions in their own tables, changed
//!   by committed auth requests with etcd's rules; looked up on [`ReadTxn`].
//! - [`request`]: what each kind of request is (name, quota cost, whether
//!   it may grow the store), in one place.
//! - [`metrics`]: etcd's `etcd_mvcc_*` and `etcd_disk_backend_*` metrics.
//! - [`hash`]: HashKV (etcd's algorithm) and Hash over a read view.
//! - [`bbolt`]: bbolt's file format (etcd's database), written and read;
//!   [`etcd_snapshot`]: our store as etcd's buckets in such a file (what
//!   `etcdctl snapshot save` gets) and an etcd snapshot back into our store
//!   (`etcdutl snapshot restore`).
//! - [`error`]: [`StorageError`] (fatal) and [`ApplyError`] (etcd's
//!   client-visible refusals).
//!
//! Not here: raft (the raft crate stores its applied log id and membership
//! as opaque meta blobs), leases' timers and expiry (the server's lessor),
//! watchers, tokens and permission checks, and the mapping of
//! errors to gRPC status codes (the server's).

pub mod apply;
pub mod auth;
pub mod backend;
pub mod bbolt;
pub mod error;
pub mod etcd_snapshot;
pub mod hash;
pub mod lease;
pub mod metrics;
pub mod mvcc;
pub mod read;
pub mod request;

pub use apply::txn::is_read_only;
pub use apply::{ApplyBatch, ApplyResponse, Committed, LeaseChange};
pub use backend::Backend;
pub use error::{ApplyError, StorageError};
pub use hash::{hash_all, hash_kv, KvHash};
pub use lease::{LeaseRecord, MAX_LEASE_TTL};
pub use read::ReadTxn;

#[cfg(test)]
pub(crate) mod test_util;

#[cfg(test)]
mod tests {
    /// The server shares one backend across tasks and moves snapshots and
    /// batches into blocking tasks.
    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::Backend>();
        send::<crate::ReadTxn>();
        send::<crate::ApplyBatch<'static>>();
        send_sync::<crate::ApplyError>();
    }
}
