//! Why a Lock or Election call failed, and how clients see it.
//!
//! etcd serves these two services through an in-process clientv3 client, so
//! every failure reaches the caller as a plain Go error: gRPC code
//! `Unknown` with the error's text, also for errors that the KV or Lease
//! services would return with a specific code (a Lock on a missing lease is
//! `Unknown "etcdserver: requested lease not found"`, not `NotFound`). This
//! file is the one place that mapping happens.

use tonic::Status;

use crate::errors::EtcdError;

#[derive(Debug, thiserror::Error)]
pub enum ConcurrencyError {
    /// A request of the recipe failed in the server pipeline.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// Proclaim on a key that is no longer the campaign's (etcd's
    /// `ErrElectionNotLeader`); also a Campaign whose key was deleted
    /// (its lease expired) while it waited.
    #[error("election: not leader")]
    NotLeader,
    /// Leader of an election nobody campaigns in.
    #[error("election: no leader")]
    NoLeader,
    /// The lock was reached but our key was gone: the lease expired or was
    /// revoked while waiting (etcd 3.5's `ErrSessionExpired`).
    #[error("mutex: session is expired")]
    SessionExpired,
    /// Proclaim or Resign without a `leader`.
    #[error("\"leader\" field must be provided")]
    MissingLeaderKey,
    /// The internal watch ended before the awaited deletion.
    #[error("lost watcher waiting for delete")]
    LostWatcher,
}

impl From<ConcurrencyError> for Status {
    fn from(e: ConcurrencyError) -> Status {
        Status::unknown(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_error_is_unknown_with_etcds_text() {
        let s = Status::from(ConcurrencyError::from(EtcdError::LeaseNotFound));
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unknown, "etcdserver: requested lease not found")
        );
        let s = Status::from(ConcurrencyError::MissingLeaderKey);
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unknown, "\"leader\" field must be provided")
        );
        let s = Status::from(ConcurrencyError::NoLeader);
        assert_eq!(s.message(), "election: no leader");
    }
}
