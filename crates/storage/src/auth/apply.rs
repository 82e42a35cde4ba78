//! Applying committed auth changes, with etcd's rules (`auth/store.go`):
//! what each change checks, what it writes, and when it raises the auth
//! revision. A refusal changes nothing.

use etcd_proto::authpb::{Permission, Role, User, UserAddOptions};
use etcd_proto::raftpb::auth_change::Change;
use prost::Message;
use redb::{ReadableTable, Table, WriteTransaction};

use super::check::AuthState;
use super::{
    check_enable, record, AuthEvent, AUTH_ROLES, AUTH_STATE, AUTH_USERS, ENABLED,
    INITIAL_AUTH_REVISION, REVISION, ROOT_ROLE, ROOT_USER,
};
use crate::error::{ApplyError, StorageError};

/// The auth tables of one write transaction.
struct Tables<'t> {
    users: Table<'t, &'static str, &'static [u8]>,
    roles: Table<'t, &'static str, &'static [u8]>,
    state: Table<'t, &'static str, u64>,
}

/// What an applied change leaves for the layers above: an event for the
/// token keepers, and the simple token an Authenticate assigned.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) event: Option<AuthEvent>,
    pub(crate) token: Option<String>,
}

/// The auth state as `txn` sees it (this batch's changes included).
pub(crate) fn state(txn: &WriteTransaction) -> Result<AuthState, StorageError> {
    let table = txn.open_table(AUTH_STATE)?;
    let enabled = table.get(ENABLED)?.is_some_and(|v| v.value() == 1);
    let revision = table
        .get(REVISION)?
        .map_or(INITIAL_AUTH_REVISION, |v| v.value());
    Ok(AuthState { enabled, revision })
}

/// Applies `change`, the entry at raft `index`, raising the auth revision
/// when etcd does.
pub(crate) fn apply(
    txn: &WriteTransaction,
    change: &Change,
    index: u64,
) -> Result<Outcome, ApplyError> {
    let mut t = Tables {
        users: txn.open_table(AUTH_USERS).map_err(StorageError::from)?,
        roles: txn.open_table(AUTH_ROLES).map_err(StorageError::from)?,
        state: txn.open_table(AUTH_STATE).map_err(StorageError::from)?,
    };
    let mut outcome = Outcome::default();
    let raised = match change {
        Change::Authenticate(r) => {
            if !enabled(&t)? {
                return Err(ApplyError::AuthNotEnabled);
            }
            // The password was checked by the proposing member; the user
            // may have gone (or lost its password) since.
            let user = get_user(&t, &r.name)?.ok_or(ApplyError::AuthFailed)?;
            if user.options.is_some_and(|o| o.no_password) {
                return Err(ApplyError::AuthFailed);
            }
            let token = (!r.simple_token.is_empty()).then(|| format!("{}.{index}", r.simple_token));
            outcome.event = Some(AuthEvent::Authenticated {
                user: r.name.clone(),
                token: token.clone(),
            });
            outcome.token = token;
            false
        }
        Change::Enable(_) => enable(&mut t)?,
        Change::Disable(_) => {
            let raised = disable(&mut t)?;
            if raised {
                outcome.event = Some(AuthEvent::Disabled);
            }
            raised
        }
        Change::UserAdd(r) => {
            if r.name.is_empty() {
                return Err(ApplyError::UserEmpty);
            }
            if get_user(&t, &r.name)?.is_some() {
                return Err(ApplyError::UserAlreadyExists);
            }
            let options = r.options.unwrap_or(UserAddOptions { no_password: false });
            let password = match options.no_password {
                true => Vec::new(),
                false => r.hashed_password.clone().into_bytes(),
            };
            put_user(
                &mut t,
                &User {
                    name: r.name.clone().into_bytes(),
                    password,
                    roles: Vec::new(),
                    options: Some(options),
                },
            )?;
            true
        }
        Change::UserDelete(r) => {
            if enabled(&t)? && r.name == ROOT_USER {
                return Err(ApplyError::InvalidAuthMgmt);
            }
            if t.users
                .remove(r.name.as_str())
                .map_err(StorageError::from)?
                .is_none()
            {
                return Err(ApplyError::UserNotFound);
            }
            outcome.event = Some(AuthEvent::UserInvalidated {
                user: r.name.clone(),
            });
            true
        }
        Change::UserChangePassword(r) => {
            let mut user = get_user(&t, &r.name)?.ok_or(ApplyError::UserNotFound)?;
            user.password = r.hashed_password.clone().into_bytes();
            put_user(&mut t, &user)?;
            outcome.event = Some(AuthEvent::UserInvalidated {
                user: r.name.clone(),
            });
            true
        }
        Change::UserGrantRole(r) => {
            let mut user = get_user(&t, &r.user)?.ok_or(ApplyError::UserNotFound)?;
            if r.role != ROOT_ROLE && get_role(&t, &r.role)?.is_none() {
                return Err(ApplyError::RoleNotFound);
            }
            match user.roles.binary_search(&r.role) {
                // Granted already: etcd answers success and changes nothing.
                Ok(_) => false,
                Err(at) => {
                    user.roles.insert(at, r.role.clone());
                    put_user(&mut t, &user)?;
                    true
                }
            }
        }
        Change::UserRevokeRole(r) => {
            if enabled(&t)? && r.name == ROOT_USER && r.role == ROOT_ROLE {
                return Err(ApplyError::InvalidAuthMgmt);
            }
            let mut user = get_user(&t, &r.name)?.ok_or(ApplyError::UserNotFound)?;
            let before = user.roles.len();
            user.roles.retain(|role| role != &r.role);
            if user.roles.len() == before {
                return Err(ApplyError::RoleNotGranted);
            }
            put_user(&mut t, &user)?;
            true
        }
        Change::RoleAdd(r) => {
            if r.name.is_empty() {
                return Err(ApplyError::RoleEmpty);
            }
            if get_role(&t, &r.name)?.is_some() {
                return Err(ApplyError::RoleAlreadyExists);
            }
            put_role(
                &mut t,
                &Role {
                    name: r.name.clone().into_bytes(),
                    key_permission: Vec::new(),
                },
            )?;
            true
        }
        Change::RoleDelete(r) => {
            if enabled(&t)? && r.role == ROOT_ROLE {
                return Err(ApplyError::InvalidAuthMgmt);
            }
            if t.roles
                .remove(r.role.as_str())
                .map_err(StorageError::from)?
                .is_none()
            {
                return Err(ApplyError::RoleNotFound);
            }
            // Every user loses the role.
            let mut holders = Vec::new();
            for entry in t.users.iter().map_err(StorageError::from)? {
                let (_, bytes) = entry.map_err(StorageError::from)?;
                let user = User::decode(bytes.value()).map_err(StorageError::from)?;
                if user.roles.contains(&r.role) {
                    holders.push(user);
                }
            }
            for mut user in holders {
                user.roles.retain(|role| role != &r.role);
                put_user(&mut t, &user)?;
            }
            true
        }
        Change::RoleGrantPermission(r) => {
            let mut role = get_role(&t, &r.name)?.ok_or(ApplyError::RoleNotFound)?;
            let perm = r.perm.clone().unwrap_or_default();
            grant(&mut role.key_permission, perm);
            put_role(&mut t, &role)?;
            true
        }
        Change::RoleRevokePermission(r) => {
            let mut role = get_role(&t, &r.role)?.ok_or(ApplyError::RoleNotFound)?;
            let before = role.key_permission.len();
            role.key_permission
                .retain(|p| p.key != r.key || p.range_end != r.range_end);
            if role.key_permission.len() == before {
                return Err(ApplyError::PermissionNotGranted);
            }
            put_role(&mut t, &role)?;
            true
        }
    };
    if raised {
        let revision = current_revision(&t)? + 1;
        t.state
            .insert(REVISION, revision)
            .map_err(StorageError::from)?;
    }
    Ok(outcome)
}

/// `user`'s merged permissions from the batch's tables.
pub(crate) fn user_perms(
    txn: &WriteTransaction,
    user: &str,
) -> Result<Option<super::perms::UserPerms>, StorageError> {
    let users = txn.open_table(AUTH_USERS)?;
    let Some(user) = record::<User>(&users, user)? else {
        return Ok(None);
    };
    let roles_table = txn.open_table(AUTH_ROLES)?;
    let mut roles = Vec::with_capacity(user.roles.len());
    for name in &user.roles {
        roles.extend(record::<Role>(&roles_table, name)?);
    }
    Ok(Some(super::perms::UserPerms::new(
        super::perms::holds_root(&user.roles),
        &roles,
    )))
}

/// Grants `perm`: a permission over the same key and range end changes its
/// type; any other is added, keeping the list sorted by key (etcd's order).
fn grant(perms: &mut Vec<Permission>, perm: Permission) {
    if let Some(existing) = perms
        .iter_mut()
        .find(|p| p.key == perm.key && p.range_end == perm.range_end)
    {
        existing.perm_type = perm.perm_type;
        return;
    }
    let at = perms.partition_point(|p| p.key <= perm.key);
    perms.insert(at, perm);
}

/// AuthEnable needs a root user holding the root role; enabling twice is
/// no change. etcd leaves the revision as it is.
fn enable(t: &mut Tables<'_>) -> Result<bool, ApplyError> {
    if enabled(t)? {
        return Ok(false);
    }
    check_enable(get_user(t, ROOT_USER)?.as_ref())?;
    t.state.insert(ENABLED, 1).map_err(StorageError::from)?;
    Ok(false)
}

/// AuthDisable raises the revision when it turns auth off.
fn disable(t: &mut Tables<'_>) -> Result<bool, ApplyError> {
    if !enabled(t)? {
        return Ok(false);
    }
    t.state.insert(ENABLED, 0).map_err(StorageError::from)?;
    Ok(true)
}

fn enabled(t: &Tables<'_>) -> Result<bool, StorageError> {
    Ok(t.state.get(ENABLED)?.is_some_and(|v| v.value() == 1))
}

fn current_revision(t: &Tables<'_>) -> Result<u64, StorageError> {
    Ok(t.state
        .get(REVISION)?
        .map_or(INITIAL_AUTH_REVISION, |v| v.value()))
}

fn get_user(t: &Tables<'_>, name: &str) -> Result<Option<User>, StorageError> {
    record(&t.users, name)
}

fn get_role(t: &Tables<'_>, name: &str) -> Result<Option<Role>, StorageError> {
    record(&t.roles, name)
}

fn put_user(t: &mut Tables<'_>, user: &User) -> Result<(), StorageError> {
    let name = String::from_utf8_lossy(&user.name).into_owned();
    t.users
        .insert(name.as_str(), user.encode_to_vec().as_slice())?;
    Ok(())
}

fn put_role(t: &mut Tables<'_>, role: &Role) -> Result<(), StorageError> {
    let name = String::from_utf8_lossy(&role.name).into_owned();
    t.roles
        .insert(name.as_str(), role.encode_to_vec().as_slice())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(key: &str, end: &str, kind: i32) -> Permission {
        Permission {
            perm_type: kind,
            key: key.into(),
            range_end: end.into(),
        }
    }

    #[test]
    fn grants_merge_by_key_and_range_end_and_stay_sorted() {
        let mut perms = Vec::new();
        grant(&mut perms, perm("b", "", 0));
        grant(&mut perms, perm("a", "c", 1));
        grant(&mut perms, perm("b", "", 2));
        grant(&mut perms, perm("b", "d", 0));
        let keys: Vec<_> = perms
            .iter()
            .map(|p| (p.key.clone(), p.range_end.clone(), p.perm_type))
            .collect();
        assert_eq!(
            keys,
            vec![
                (b"a".to_vec(), b"c".to_vec(), 1),
                (b"b".to_vec(), Vec::new(), 2),
                (b"b".to_vec(), b"d".to_vec(), 0),
            ]
        );
    }
}
