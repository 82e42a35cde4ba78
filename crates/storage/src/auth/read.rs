//! Auth lookups on a [`ReadTxn`]: one user or role, every name, the
//! enabled flag and the auth revision; and judging a caller by the view's
//! users and roles ([`ReadTxn::authorize`]).

use std::sync::Arc;

use etcd_proto::authpb::{Role, User};
use etcd_proto::raftpb::Caller;

use super::check::{authorize, AuthSource, AuthState};
use super::perms::UserPerms;
use super::{
    names, record, AUTH_ROLES, AUTH_STATE, AUTH_USERS, ENABLED, INITIAL_AUTH_REVISION, REVISION,
};
use crate::error::{ApplyError, StorageError};
use crate::read::ReadTxn;
use crate::request::Needs;

/// Permissions from a view's tables, cached at the view's revision.
struct ViewSource<'v> {
    view: &'v ReadTxn,
    revision: u64,
}

impl AuthSource for ViewSource<'_> {
    fn perms(&self, user: &str) -> Result<Option<Arc<UserPerms>>, StorageError> {
        let build = || user_perms(self.view, user);
        match &self.view.auth {
            Some(cache) => cache.perms(self.revision, user, build),
            None => Ok(build()?.map(Arc::new)),
        }
    }

    fn lease_keys(&self, lease: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        self.view.lease_keys(lease)
    }
}

/// `user`'s merged permissions from the view's tables.
fn user_perms(view: &ReadTxn, user: &str) -> Result<Option<UserPerms>, StorageError> {
    let Some(user) = view.user(user)? else {
        return Ok(None);
    };
    let mut roles = Vec::with_capacity(user.roles.len());
    for name in &user.roles {
        roles.extend(view.role(name)?);
    }
    Ok(Some(UserPerms::new(
        super::perms::holds_root(&user.roles),
        &roles,
    )))
}

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

    /// Judges `caller` wanting what `needs` builds, by this view's auth
    /// state, users and roles. With auth off it costs one atomic load:
    /// `needs` is not even built.
    pub fn authorize<'n>(
        &self,
        caller: Option<&Caller>,
        needs: impl FnOnce() -> Needs<'n>,
    ) -> Result<(), ApplyError> {
        if self.auth.as_ref().is_some_and(|a| !a.maybe_enabled()) {
            return Ok(());
        }
        let needs = needs();
        if needs.is_empty() {
            return Ok(());
        }
        let state = self.auth_state()?;
        let source = ViewSource {
            view: self,
            revision: state.revision,
        };
        authorize(state, caller, &needs, &source)
    }

    /// Whether auth is enabled, and the auth revision.
    pub fn auth_state(&self) -> Result<AuthState, StorageError> {
        Ok(AuthState {
            enabled: self.auth_enabled()?,
            revision: self.auth_revision()?,
        })
    }

    /// Whether auth is enabled.
    pub fn auth_enabled(&self) -> Result<bool, StorageError> {
        let table = self.redb().open_table(AUTH_STATE)?;
        Ok(table.get(ENABLED)?.is_some_and(|v| v.value() == 1))
    }

    /// The auth revision.
    pub fn auth_revision(&self) -> Result<u64, StorageError> {
        let table = self.redb().open_table(AUTH_STATE)?;
        Ok(table
            .get(REVISION)?
            .map_or(INITIAL_AUTH_REVISION, |v| v.value()))
    }
}
