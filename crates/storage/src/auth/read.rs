//! Auth lookups on a [`ReadTxn`]: one user or role, every name, the
//! enabled flag and the auth revision.

use etcd_proto::authpb::{Role, User};

use super::{names, record, AUTH_ROLES, AUTH_STATE, AUTH_USERS, ENABLED, REVISION};
use crate::error::StorageError;
use crate::read::ReadTxn;

impl ReadTxn {
    /// The user called `name`, if any.
    pub fn user(&self, name: &str) -> Result<Option<User>, StorageError> {
        record(&self.redb().open_table(AUTH_USERS)?, name)
    }

    /// Every user name, sorted.
    pub fn user_names(&self) -> Result<Vec<String>, StorageError> {
        names(&self.redb().open_table(AUTH_USERS)?)
    }

    /// The role called `name`, if any.
    pub fn role(&self, name: &str) -> Result<Option<Role>, StorageError> {
        record(&self.redb().open_table(AUTH_ROLES)?, name)
    }

    /// Every role name, sorted.
    pub fn role_names(&self) -> Result<Vec<String>, StorageError> {
        names(&self.redb().open_table(AUTH_ROLES)?)
    }

    /// Whether auth is enabled.
    pub fn auth_enabled(&self) -> Result<bool, StorageError> {
        let table = self.redb().open_table(AUTH_STATE)?;
        Ok(table.get(ENABLED)?.is_some_and(|v| v.value() == 1))
    }

    /// The auth revision.
    pub fn auth_revision(&self) -> Result<u64, StorageError> {
        let table = self.redb().open_table(AUTH_STATE)?;
        Ok(table.get(REVISION)?.map_or(0, |v| v.value()))
    }
}
