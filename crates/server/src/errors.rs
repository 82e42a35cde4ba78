//! The errors clients see, and the one place they become gRPC statuses.
//!
//! Every variant carries etcd's gRPC code and message verbatim (etcd's
//! `rpctypes`), because clients match on them: Go's clientv3 turns the message
//! back into typed errors, and etcdctl prints it.

use etcd_raft::membership::MembershipError;
use etcd_raft::ProposeError;
use etcd_storage::ApplyError;
use tonic::{Code, Status};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRev,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    /// The space quota is used up (or the NOSPACE alarm is active).
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    /// MoveLeader's wait ran out; etcd has no gRPC status for it, so it
    /// reaches clients as `Unknown` with this message.
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    MemberNotEnoughStarted,
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    /// A learner serves only Status and serializable Ranges.
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExists,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExists,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
    /// Authenticate for a user added with `--no-password`: etcd 3.4 has
    /// no gRPC status for it, so it reaches clients as `Unknown`.
    #[error("auth: authentication failed, password was given for no password user")]
    NoPasswordUser,
    /// A failure inside this server (storage, I/O): etcd reports these as
    /// `Unknown` with the underlying message.
    #[error("{0}")]
    Internal(String),
}

impl EtcdError {
    pub fn code(&self) -> Code {
        use EtcdError::*;
        match self {
            EmptyKey | KeyNotFound | ValueProvided | LeaseProvided | TooManyOps | DuplicateKey
            | RequestTooLarge | MemberBadUrls | UserEmpty | RoleEmpty | AuthFailed
            | InvalidAuthMgmt | AuthOldRevision => Code::InvalidArgument,
            PermissionDenied => Code::PermissionDenied,
            InvalidAuthToken => Code::Unauthenticated,
            Compacted | FutureRev | LeaseTtlTooLarge => Code::OutOfRange,
            TooManyRequests | NoSpace => Code::ResourceExhausted,
            LeaseNotFound | MemberNotFound => Code::NotFound,
            NoLeader | LeaderChanged | Stopped | Timeout | Unhealthy | NotSupportedForLearner => {
                Code::Unavailable
            }
            NotLeader | LeaseExists | BadLeaderTransferee | MemberExists | PeerUrlExists
            | MemberNotLearner | LearnerNotReady | TooManyLearners | UserAlreadyExists
            | UserNotFound | RoleAlreadyExists | RoleNotFound | RoleNotGranted
            | PermissionNotGranted | RootUserNotExist | RootRoleNotExist | AuthNotEnabled => {
                Code::FailedPrecondition
            }
            // etcd 3.4 maps "not enough started members" to a client-side
            // error value, not a gRPC status, so grpc-go sends it as Unknown.
            Internal(_) | LeaderTransferTimeout | MemberNotEnoughStarted | NoPasswordUser => {
                Code::Unknown
            }
        }
    }
}

impl EtcdError {
    /// The auth store's own error for `self`, as etcd's handlers that pass
    /// it on without mapping it to a gRPC status send it: `Unknown`, with
    /// the `auth:` wording (the maintenance service's admin check).
    pub fn unmapped(self) -> EtcdError {
        let raw = match &self {
            EtcdError::UserEmpty => "auth: user name is empty",
            EtcdError::UserNotFound => "auth: user name not found",
            EtcdError::PermissionDenied => "auth: permission denied",
            EtcdError::InvalidAuthToken => "auth: invalid auth token",
            _ => return self,
        };
        EtcdError::Internal(raw.to_string())
    }
}

/// What grpc-go's `status.Err().Error()` prints for `e`.
pub fn go_status_text(e: &EtcdError) -> String {
    etcd_proto::go_status::go_status_text(e.code(), &e.to_string())
}

impl From<EtcdError> for Status {
    fn from(e: EtcdError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}

impl From<ApplyError> for EtcdError {
    fn from(e: ApplyError) -> EtcdError {
        match e {
            ApplyError::Compacted => EtcdError::Compacted,
            ApplyError::FutureRevision => EtcdError::FutureRev,
            ApplyError::LeaseNotFound => EtcdError::LeaseNotFound,
            ApplyError::LeaseExists => EtcdError::LeaseExists,
            ApplyError::LeaseTtlTooLarge => EtcdError::LeaseTtlTooLarge,
            ApplyError::KeyNotFound => EtcdError::KeyNotFound,
            ApplyError::NoSpace => EtcdError::NoSpace,
            ApplyError::UserEmpty => EtcdError::UserEmpty,
            ApplyError::UserAlreadyExists => EtcdError::UserAlreadyExists,
            ApplyError::UserNotFound => EtcdError::UserNotFound,
            ApplyError::RoleEmpty => EtcdError::RoleEmpty,
            ApplyError::RoleAlreadyExists => EtcdError::RoleAlreadyExists,
            ApplyError::RoleNotFound => EtcdError::RoleNotFound,
            ApplyError::RoleNotGranted => EtcdError::RoleNotGranted,
            ApplyError::PermissionNotGranted => EtcdError::PermissionNotGranted,
            ApplyError::RootUserNotExist => EtcdError::RootUserNotExist,
            ApplyError::RootRoleNotExist => EtcdError::RootRoleNotExist,
            ApplyError::InvalidAuthMgmt => EtcdError::InvalidAuthMgmt,
            ApplyError::PermissionDenied => EtcdError::PermissionDenied,
            ApplyError::AuthOldRevision => EtcdError::AuthOldRevision,
            ApplyError::AuthNotEnabled => EtcdError::AuthNotEnabled,
            ApplyError::AuthFailed => EtcdError::AuthFailed,
            other => EtcdError::Internal(other.to_string()),
        }
    }
}

impl From<ProposeError> for EtcdError {
    fn from(e: ProposeError) -> EtcdError {
        match e {
            ProposeError::Apply(e) => e.into(),
            ProposeError::NoLeader => EtcdError::NoLeader,
            ProposeError::NotLeader(_) => EtcdError::NotLeader,
            ProposeError::LeaderChanged => EtcdError::LeaderChanged,
            ProposeError::Timeout => EtcdError::Timeout,
            ProposeError::BadTransferee => EtcdError::BadLeaderTransferee,
            // The leader's own words for a failure of its own.
            ProposeError::Refused(reason) => EtcdError::Internal(reason),
            // A removed member is stopping, as etcd's does.
            ProposeError::Removed => EtcdError::Stopped,
            ProposeError::Stopped(reason) => {
                tracing::error!(%reason, "raft stopped");
                EtcdError::Stopped
            }
        }
    }
}

impl From<MembershipError> for EtcdError {
    fn from(e: MembershipError) -> EtcdError {
        match e {
            MembershipError::MemberExists => EtcdError::MemberExists,
            MembershipError::PeerUrlExists => EtcdError::PeerUrlExists,
            MembershipError::MemberNotFound => EtcdError::MemberNotFound,
            MembershipError::MemberNotLearner => EtcdError::MemberNotLearner,
            MembershipError::LearnerNotReady => EtcdError::LearnerNotReady,
            MembershipError::TooManyLearners => EtcdError::TooManyLearners,
            MembershipError::NotEnoughStarted => EtcdError::MemberNotEnoughStarted,
            MembershipError::Unhealthy => EtcdError::Unhealthy,
            MembershipError::NoLeader => EtcdError::NoLeader,
            MembershipError::Timeout => EtcdError::Timeout,
            MembershipError::Stopped(reason) => {
                tracing::error!(%reason, "membership change failed");
                EtcdError::Stopped
            }
            MembershipError::Refused(reason) => {
                tracing::warn!(%reason, "membership change refused");
                EtcdError::Internal(reason)
            }
        }
    }
}

impl From<etcd_storage::backend::DefragError> for EtcdError {
    fn from(e: etcd_storage::backend::DefragError) -> EtcdError {
        use etcd_storage::backend::DefragError;
        match e {
            // Not a backend failure: etcd too reports a failed defrag as
            // Unknown with its message, and the client may retry.
            busy @ DefragError::Busy(_) => EtcdError::Internal(busy.to_string()),
            DefragError::Storage(e) => e.into(),
        }
    }
}

impl From<etcd_storage::StorageError> for EtcdError {
    fn from(e: etcd_storage::StorageError) -> EtcdError {
        tracing::error!(error = %e, "backend failure");
        EtcdError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_etcds_code_and_message() {
        let s = Status::from(EtcdError::Compacted);
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let s = Status::from(EtcdError::NoLeader);
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "etcdserver: no leader");
        let s = Status::from(EtcdError::EmptyKey);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "etcdserver: key is not provided");
        let s = Status::from(EtcdError::from(ApplyError::LeaseExists));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "etcdserver: lease already exists");
        let s = Status::from(EtcdError::from(ApplyError::LeaseTtlTooLarge));
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(s.message(), "etcdserver: too large lease TTL");
        let s = Status::from(EtcdError::from(ApplyError::NoSpace));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.message(), "etcdserver: mvcc: database space exceeded");
        // etcd 3.4 sends this one as a plain error: Unknown.
        let s = Status::from(EtcdError::from(MembershipError::NotEnoughStarted));
        assert_eq!(s.code(), Code::Unknown);
        assert_eq!(
            s.message(),
            "etcdserver: re-configuration failed due to not enough started members"
        );
        let s = Status::from(EtcdError::from(MembershipError::Refused(
            "the membership is empty".into(),
        )));
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unknown, "the membership is empty")
        );
        let s = Status::from(EtcdError::NotSupportedForLearner);
        assert_eq!(
            (s.code(), s.message()),
            (
                Code::Unavailable,
                "etcdserver: rpc not supported for learner"
            )
        );
    }
}
