//! The two error types of this crate.
//!
//! - [`StorageError`]: the disk or redb failed, or the file holds something
//!   we did not write. Fatal for the caller: the state machine can no longer
//!   be trusted, so the raft layer stops rather than answer from it.
//! - [`ApplyError`]: etcd's client-visible refusals of one request (compacted
//!   or future revision, unknown lease, missing key). Their `Display` is
//!   etcd's exact message; mapping them to gRPC status codes belongs to the
//!   server, not here.

/// A failure of the storage itself (redb, the file system, or corrupt data).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// redb reported an error (I/O, corruption, transaction misuse).
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// A file operation outside redb failed (snapshot file, size query).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record could not be decoded or breaks an invariant of the
    /// schema (for example a key index entry without its key-value).
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    /// An upper layer tried to write a meta key this crate keeps for itself.
    #[error("meta key {0:?} is reserved for the storage crate")]
    ReservedMetaKey(String),
}

// redb has one error type per operation; all of them fold into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<prost::DecodeError> for StorageError {
    fn from(e: prost::DecodeError) -> Self {
        StorageError::Corrupt(format!("undecodable record: {e}"))
    }
}

/// Why one request was refused. An `ApplyError` other than `Storage` leaves
/// no change behind: every check runs before the first write of a request.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The requested revision was removed by a compaction (also: compacting
    /// at or below the last compaction).
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The requested revision is above the store's current revision.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    /// A put names a lease that does not exist.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A lease grant names an id that is already granted.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A lease grant asks for a TTL above etcd's `MaxLeaseTTL`
    /// ([`crate::MAX_LEASE_TTL`] seconds).
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    /// A put with `ignore_value` or `ignore_lease` targets a missing key.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// An auth change names no user.
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExists,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    /// An auth change names no role.
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExists,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    /// A revoke names a role the user does not hold.
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    /// A revoke names a permission the role does not hold.
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    /// AuthEnable without a `root` user.
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    /// AuthEnable while `root` lacks the `root` role.
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    /// With auth on: deleting `root`, its role, or revoking it from `root`.
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    /// The caller lacks a permission the request needs.
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    /// The caller's identity predates the latest change to users or roles.
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
    /// Authenticate while auth is off.
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    /// Authenticate for a user that is gone or has no password.
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    /// The NOSPACE alarm is active and the request may grow the store
    /// (etcd's capped applier).
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// A request kind this crate does not execute (yet), or a write handed to
    /// the read-only path. Never produced by a well-formed client request
    /// that the server routes correctly, except for the kinds not built yet.
    #[error("etcdserver: {0} is not supported")]
    Unsupported(&'static str),
    /// The storage failed while executing the request: fatal (see
    /// [`StorageError`]); the caller must drop the whole batch.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<redb::StorageError> for ApplyError {
    fn from(e: redb::StorageError) -> Self {
        ApplyError::Storage(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_etcds() {
        assert_eq!(
            ApplyError::Compacted.to_string(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(
            ApplyError::FutureRevision.to_string(),
            "etcdserver: mvcc: required revision is a future revision"
        );
        assert_eq!(
            ApplyError::LeaseNotFound.to_string(),
            "etcdserver: requested lease not found"
        );
        assert_eq!(
            ApplyError::LeaseExists.to_string(),
            "etcdserver: lease already exists"
        );
        assert_eq!(
            ApplyError::LeaseTtlTooLarge.to_string(),
            "etcdserver: too large lease TTL"
        );
        assert_eq!(
            ApplyError::KeyNotFound.to_string(),
            "etcdserver: key not found"
        );
        assert_eq!(
            ApplyError::NoSpace.to_string(),
            "etcdserver: mvcc: database space exceeded"
        );
    }
}
