//! The auth store's requests on [`EtcdServer`]: changes to users, roles,
//! permissions and the enabled flag go through Raft (the storage crate
//! applies them with etcd's rules); lookups are linearizable reads, as
//! etcd serves them through its log.

use etcd_proto::authpb::{Permission, Role, User};
use etcd_proto::raftpb::auth_change::Change;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::AuthChange;
use etcd_storage::ApplyResponse;

use super::{Consistency, EtcdServer};
use crate::errors::EtcdError;

/// Whether auth is on, and the auth revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthState {
    pub enabled: bool,
    pub revision: u64,
}

impl EtcdServer {
    /// Applies one auth change; the store revision to report in the
    /// response header (etcd reports the KV store's revision there).
    pub async fn auth_change(&self, change: Change) -> Result<i64, EtcdError> {
        let request = Request::Auth(AuthChange {
            change: Some(change),
        });
        match self.write(request).await? {
            ApplyResponse::Auth(revision) => Ok(revision),
            _ => Err(super::kv::unexpected("auth change")),
        }
    }

    pub async fn auth_state(&self) -> Result<(AuthState, i64), EtcdError> {
        self.read(Consistency::Linearizable, |txn| {
            let state = AuthState {
                enabled: txn.auth_enabled()?,
                revision: txn.auth_revision()?,
            };
            Ok((state, txn.current_revision()?))
        })
        .await
    }

    /// The user called `name`, with the store revision.
    pub async fn user(&self, name: String) -> Result<(User, i64), EtcdError> {
        self.read(Consistency::Linearizable, move |txn| {
            let user = txn.user(&name)?.ok_or(EtcdError::UserNotFound)?;
            Ok((user, txn.current_revision()?))
        })
        .await
    }

    pub async fn user_names(&self) -> Result<(Vec<String>, i64), EtcdError> {
        self.read(Consistency::Linearizable, |txn| {
            Ok((txn.user_names()?, txn.current_revision()?))
        })
        .await
    }

    /// The role called `name`'s permissions, with the store revision.
    pub async fn role(&self, name: String) -> Result<(Vec<Permission>, i64), EtcdError> {
        self.read(Consistency::Linearizable, move |txn| {
            let role: Role = txn.role(&name)?.ok_or(EtcdError::RoleNotFound)?;
            Ok((role.key_permission, txn.current_revision()?))
        })
        .await
    }

    pub async fn role_names(&self) -> Result<(Vec<String>, i64), EtcdError> {
        self.read(Consistency::Linearizable, |txn| {
            Ok((txn.role_names()?, txn.current_revision()?))
        })
        .await
    }
}
