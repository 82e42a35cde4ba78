//! The auth store's data (etcd's `auth`, `authUsers`, `authRoles` buckets):
//! users and roles in tables of their own, keyed by name, holding etcd's
//! `authpb.User` / `authpb.Role` records; the enabled flag and the auth
//! revision in a third. Only committed auth requests change them
//! ([`apply`]), with etcd's rules and refusals; [`read`] serves lookups
//! from a read view.
//!
//! Not here: passwords in the clear (the server hashes them before
//! proposing), tokens, and permission checks (the server's `auth`).

pub(crate) mod apply;
pub(crate) mod read;

use redb::TableDefinition;

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

/// etcd's names for the superuser and its role.
pub const ROOT_USER: &str = "root";
pub const ROOT_ROLE: &str = "root";
