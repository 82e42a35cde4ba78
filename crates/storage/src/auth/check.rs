//! Judging a request by its caller, as etcd's auth store does
//! (`isOpPermitted`, `IsAdminPermitted`): one function for the apply batch
//! and the read views, so both refuse with the same errors in the same
//! order.
//!
//! - Auth off, or the member's own housekeeping: everything passes.
//! - Admin requests: a named user (`UserEmpty`), who exists
//!   (`UserNotFound`) and holds the root role (`PermissionDenied`).
//! - Key requests, for each key or range needed: a caller with an auth
//!   revision (`UserEmpty`), not older than the store's
//!   (`AuthOldRevision`), an existing user (`PermissionDenied`), root or
//!   granted the access over all of it (`PermissionDenied`).

use std::sync::Arc;

use etcd_proto::raftpb::Caller;

use super::perms::UserPerms;
use crate::error::{ApplyError, StorageError};
use crate::request::Needs;

/// Whether auth is on, and the auth revision, as one view sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthState {
    pub enabled: bool,
    pub revision: u64,
}

/// Where a check finds what it needs: users' permissions and the keys
/// attached to a lease, as of the view being judged.
pub(crate) trait AuthSource {
    fn perms(&self, user: &str) -> Result<Option<Arc<UserPerms>>, StorageError>;
    fn lease_keys(&self, lease: i64) -> Result<Vec<Vec<u8>>, StorageError>;
}

/// Judges `caller` (absent: anonymous) wanting `needs` under `state`.
pub(crate) fn authorize(
    state: AuthState,
    caller: Option<&Caller>,
    needs: &Needs<'_>,
    source: &impl AuthSource,
) -> Result<(), ApplyError> {
    if !state.enabled || caller.is_some_and(|c| c.member) || needs.is_empty() {
        return Ok(());
    }
    let anonymous = Caller::default();
    let caller = caller.unwrap_or(&anonymous);
    if needs.admin {
        if caller.username.is_empty() {
            return Err(ApplyError::UserEmpty);
        }
        match source.perms(&caller.username)? {
            None => return Err(ApplyError::UserNotFound),
            Some(perms) if !perms.is_root() => return Err(ApplyError::PermissionDenied),
            Some(_) => {}
        }
    }
    let lease_keys = match needs.lease_keys {
        Some(lease) => source.lease_keys(lease)?,
        None => Vec::new(),
    };
    if needs.keys.is_empty() && lease_keys.is_empty() {
        return Ok(());
    }
    if caller.auth_revision == 0 {
        return Err(ApplyError::UserEmpty);
    }
    if caller.auth_revision < state.revision {
        return Err(ApplyError::AuthOldRevision);
    }
    let Some(perms) = source.perms(&caller.username)? else {
        return Err(ApplyError::PermissionDenied);
    };
    let keys = needs.keys.iter().map(|k| (k.access, k.key, k.range_end));
    let leased = lease_keys
        .iter()
        .map(|k| (super::perms::Access::Write, k.as_slice(), &b""[..]));
    for (access, key, range_end) in keys.chain(leased) {
        if !perms.allows(access, key, range_end) {
            return Err(ApplyError::PermissionDenied);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::perms::Access;
    use crate::request::KeyAccess;
    use etcd_proto::authpb::permission::Type;
    use etcd_proto::authpb::{Permission, Role};

    struct Source {
        users: Vec<(&'static str, UserPerms)>,
        leased: Vec<Vec<u8>>,
    }

    impl AuthSource for Source {
        fn perms(&self, user: &str) -> Result<Option<Arc<UserPerms>>, StorageError> {
            Ok(self
                .users
                .iter()
                .find(|(name, _)| *name == user)
                .map(|(_, p)| Arc::new(p.clone())))
        }
        fn lease_keys(&self, _: i64) -> Result<Vec<Vec<u8>>, StorageError> {
            Ok(self.leased.clone())
        }
    }

    fn source() -> Source {
        let role = Role {
            name: b"app".to_vec(),
            key_permission: vec![Permission {
                perm_type: Type::Readwrite as i32,
                key: b"/app/".to_vec(),
                range_end: b"/app0".to_vec(),
            }],
        };
        Source {
            users: vec![
                ("root", UserPerms::new(true, [])),
                ("alice", UserPerms::new(false, [&role])),
            ],
            leased: Vec::new(),
        }
    }

    fn caller(user: &str, revision: u64) -> Caller {
        Caller {
            username: user.into(),
            auth_revision: revision,
            member: false,
        }
    }

    fn write(key: &'static [u8]) -> Needs<'static> {
        Needs {
            keys: vec![KeyAccess {
                access: Access::Write,
                key,
                range_end: b"",
            }],
            ..Needs::default()
        }
    }

    const ON: AuthState = AuthState {
        enabled: true,
        revision: 5,
    };

    #[test]
    fn keys_follow_etcds_order_of_refusals() {
        let s = source();
        let judge = |c: Option<&Caller>, n: &Needs| authorize(ON, c, n, &s);
        assert!(judge(Some(&caller("alice", 5)), &write(b"/app/x")).is_ok());
        assert!(matches!(
            judge(Some(&caller("alice", 5)), &write(b"/etc")),
            Err(ApplyError::PermissionDenied)
        ));
        assert!(matches!(
            judge(None, &write(b"/app/x")),
            Err(ApplyError::UserEmpty)
        ));
        assert!(matches!(
            judge(Some(&caller("alice", 4)), &write(b"/app/x")),
            Err(ApplyError::AuthOldRevision)
        ));
        assert!(matches!(
            judge(Some(&caller("bob", 5)), &write(b"/app/x")),
            Err(ApplyError::PermissionDenied)
        ));
        assert!(judge(Some(&caller("root", 6)), &write(b"/etc")).is_ok());
        let member = Caller {
            member: true,
            ..Caller::default()
        };
        assert!(judge(Some(&member), &write(b"/etc")).is_ok());
        let off = AuthState::default();
        assert!(authorize(off, None, &write(b"/etc"), &s).is_ok());
    }

    #[test]
    fn admin_needs_a_root_user_and_no_revision() {
        let s = source();
        let admin = Needs {
            admin: true,
            ..Needs::default()
        };
        let judge = |c: Option<&Caller>| authorize(ON, c, &admin, &s);
        assert!(judge(Some(&caller("root", 1))).is_ok());
        assert!(matches!(judge(None), Err(ApplyError::UserEmpty)));
        assert!(matches!(
            judge(Some(&caller("bob", 5))),
            Err(ApplyError::UserNotFound)
        ));
        assert!(matches!(
            judge(Some(&caller("alice", 5))),
            Err(ApplyError::PermissionDenied)
        ));
    }

    #[test]
    fn a_lease_needs_write_on_every_attached_key() {
        let mut s = source();
        let revoke = Needs {
            lease_keys: Some(7),
            ..Needs::default()
        };
        // No keys attached: nothing to check, even for an anonymous caller.
        assert!(authorize(ON, None, &revoke, &s).is_ok());
        s.leased = vec![b"/app/a".to_vec(), b"/etc".to_vec()];
        assert!(matches!(
            authorize(ON, Some(&caller("alice", 5)), &revoke, &s),
            Err(ApplyError::PermissionDenied)
        ));
        s.leased.pop();
        assert!(authorize(ON, Some(&caller("alice", 5)), &revoke, &s).is_ok());
    }
}
