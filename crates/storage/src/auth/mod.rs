//! The auth store's data (etcd's `auth`, `authUsers`, `authRoles` buckets):
//! users and roles in tables of their own, keyed by name, holding etcd's
//! `authpb.User` / `authpb.Role` records; the enabled flag and the auth
//! revision in a third. Only committed auth requests change them
//! ([`apply`]), with etcd's rules and refusals; [`read`] serves lookups
//! from a read view.
//!
//! Permission checks live here too, so the apply batch and the read views
//! judge alike: [`perms`] (a user's merged key permissions), [`check`]
//! (etcd's order of refusals), `cache` (the enabled hint, the revision and
//! users' permissions between requests).
//!
//! Not here: passwords in the clear (the server hashes them before
//! proposing) and tokens (the server keeps them, told by [`AuthEvent`]s).

pub(crate) mod apply;
pub(crate) mod cache;
pub mod check;
pub mod perms;
pub(crate) mod read;

#[cfg(test)]
mod tests;

pub use check::AuthState;

use etcd_proto::authpb::User;
use prost::Message;
use redb::{ReadableTable, TableDefinition};

use crate::error::{ApplyError, StorageError};

/// User name → `authpb.User`.
pub(crate) const AUTH_USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_users");
/// Role name → `authpb.Role`.
pub(crate) const AUTH_ROLES: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_roles");
/// [`ENABLED`] and [`REVISION`].
pub(crate) const AUTH_STATE: TableDefinition<&str, u64> = TableDefinition::new("auth_state");

/// 1 while auth is enabled.
pub(crate) const ENABLED: &str = "enabled";
/// etcd's auth revision: raised by every change to users, roles or
/// permissions, and by AuthDisable.
pub(crate) const REVISION: &str = "revision";
/// The auth revision of a store no auth change has touched (etcd commits
/// revision 1 when it creates its auth store).
pub(crate) const INITIAL_AUTH_REVISION: u64 = 1;

/// What an applied auth change means for the tokens the server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// `user` authenticated; with simple tokens, `token` now names them on
    /// every member.
    Authenticated { user: String, token: Option<String> },
    /// `user` was deleted or its password changed: its tokens end.
    UserInvalidated { user: String },
    /// Auth was turned off: every token ends.
    Disabled,
}

/// etcd's names for the superuser and its role.
pub const ROOT_USER: &str = "root";
pub const ROOT_ROLE: &str = "root";

/// etcd's preconditions for turning auth on, given the `root` user if it
/// exists: it must, and it must hold the `root` role.
pub fn check_enable(root: Option<&User>) -> Result<(), ApplyError> {
    let root = root.ok_or(ApplyError::RootUserNotExist)?;
    match root.roles.iter().any(|r| r == ROOT_ROLE) {
        true => Ok(()),
        false => Err(ApplyError::RootRoleNotExist),
    }
}

/// The record stored under `name` in a users or roles table.
pub(crate) fn record<M: Message + Default>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<M>, StorageError> {
    match table.get(name)? {
        Some(bytes) => Ok(Some(M::decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Every name in a users or roles table, sorted (the table's order).
pub(crate) fn names(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<String>, StorageError> {
    let mut names = Vec::new();
    for entry in table.iter()? {
        names.push(entry?.0.value().to_string());
    }
    Ok(names)
}
