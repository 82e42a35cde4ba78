//! The auth requests on [`EtcdServer`]: who the caller is
//! ([`EtcdServer::caller`]), Authenticate, and the auth store's changes
//! and lookups. Changes go through Raft, judged at apply (root only);
//! lookups are linearizable reads judged by the same snapshot, as etcd
//! serves them through its log. Also the admin check that maintenance and
//! membership requests pass.

use etcd_proto::authpb::{Permission, User};
use etcd_proto::raftpb::auth_change::Change;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::{AuthChange, Authenticate, Caller};
use etcd_storage::auth::AuthState;
use etcd_storage::request::Needs;
use etcd_storage::ApplyResponse;

use super::{Consistency, EtcdServer};
use crate::auth::TOKEN_KEYS;
use crate::errors::EtcdError;

impl EtcdServer {
    /// The identity a request is judged by: its token's user, else (under
    /// `--client-cert-auth`) its certificate's CN, else anonymous. Reads
    /// the request in place: nothing is copied for an anonymous caller.
    pub async fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Caller, EtcdError> {
        match token_of(request.metadata()) {
            Some(token) => self.token_caller(token?).await,
            None => {
                Ok(self.certificate_caller(crate::serve::caller_common_name(request.extensions())))
            }
        }
    }

    /// [`EtcdServer::caller`] for credentials taken earlier (a watch
    /// stream judges each create by its stream's credentials, at the auth
    /// revision of the moment).
    pub async fn caller_of(&self, credentials: &Credentials) -> Result<Caller, EtcdError> {
        match &credentials.token {
            Some(Ok(token)) => self.token_caller(token).await,
            Some(Err(())) => Err(EtcdError::InvalidAuthToken),
            None => Ok(self.certificate_caller(credentials.common_name.as_deref())),
        }
    }

    /// The user a verified certificate's CN names, under
    /// `--client-cert-auth`; else anonymous.
    fn certificate_caller(&self, common_name: Option<&str>) -> Caller {
        match common_name {
            Some(cn) if self.authn.client_cert_auth() => Caller {
                username: cn.to_string(),
                auth_revision: self.node.backend().auth_revision(),
                member: false,
            },
            _ => crate::auth::anonymous(),
        }
    }

    /// The caller a token names. A simple token assigned at an index this
    /// member has not applied yet (issued by another member a moment ago)
    /// is looked up again once it has, as etcd waits for it.
    async fn token_caller(&self, token: &str) -> Result<Caller, EtcdError> {
        let mut info = self.authn.token_info(token);
        if info.is_none()
            && self
                .authn
                .may_learn(token, self.node.status().applied_index)
        {
            self.node.read_index().await?;
            info = self.authn.token_info(token);
        }
        match info {
            Some(info) => Ok(Caller {
                username: info.user,
                auth_revision: info
                    .revision
                    .unwrap_or_else(|| self.node.backend().auth_revision()),
                member: false,
            }),
            None => {
                tracing::warn!(token, "invalid auth token");
                Err(EtcdError::InvalidAuthToken)
            }
        }
    }

    /// Refuses `caller` unless auth is off or it holds the root role.
    pub async fn check_admin(&self, caller: &Caller) -> Result<(), EtcdError> {
        self.check_admin_as(caller, false).await
    }

    /// [`EtcdServer::check_admin`] as etcd's maintenance service answers it
    /// (Defragment, Snapshot, Hash, HashKV): the auth store's own error,
    /// which reaches clients as `Unknown` ("auth: permission denied").
    pub async fn check_maintenance_admin(&self, caller: &Caller) -> Result<(), EtcdError> {
        self.check_admin_as(caller, true).await
    }

    async fn check_admin_as(&self, caller: &Caller, raw: bool) -> Result<(), EtcdError> {
        if !self.node.backend().auth_maybe_enabled() {
            return Ok(());
        }
        let caller = caller.clone();
        self.read(Consistency::Serializable, move |txn| {
            match txn.authorize(Some(&caller), Needs::admin) {
                Ok(()) => Ok(()),
                Err(e) if raw => Err(EtcdError::from(e).unmapped()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// etcd's Authenticate: the password checked here (bcrypt, off the
    /// async threads), then a committed Authenticate assigns the token on
    /// every member. Retried when the users changed while the password was
    /// being checked, as etcd does.
    pub async fn authenticate(
        &self,
        name: String,
        password: String,
    ) -> Result<(String, i64), EtcdError> {
        self.node.read_index().await?;
        loop {
            let (user, checked_at) = self
                .read(Consistency::Serializable, {
                    let name = name.clone();
                    move |txn| {
                        let state = txn.auth_state()?;
                        if !state.enabled {
                            return Err(EtcdError::AuthNotEnabled);
                        }
                        let user = txn.user(&name)?;
                        Ok((user, state.revision))
                    }
                })
                .await?;
            let user = user.ok_or(EtcdError::AuthFailed);
            if let Err(e) = &user {
                tracing::warn!("user" = %name, error = %e, "invalid authentication was requested");
            }
            check_password(user?, password.clone(), &name).await?;
            let change = Change::Authenticate(Authenticate {
                name: name.clone(),
                simple_token: self.authn.simple_token_prefix(),
            });
            let applied = self
                .write(&crate::auth::anonymous(), auth_request(change))
                .await?;
            let ApplyResponse::Authenticated {
                token,
                revision,
                auth_revision,
            } = applied
            else {
                return Err(super::kv::unexpected("authenticate"));
            };
            if checked_at == auth_revision {
                let token = self
                    .authn
                    .issue(token, &name, auth_revision)
                    .map_err(|e| EtcdError::Internal(e.to_string()))?;
                return Ok((token, revision));
            }
            tracing::info!("revision when password checked became stale; retrying");
        }
    }

    /// Applies one auth change from `caller`; the store revision to report
    /// in the response header (etcd reports the KV store's revision there).
    pub async fn auth_change(&self, caller: &Caller, change: Change) -> Result<i64, EtcdError> {
        match self.write(caller, auth_request(change)).await? {
            ApplyResponse::Auth(revision) => Ok(revision),
            _ => Err(super::kv::unexpected("auth change")),
        }
    }

    /// AuthStatus: root only, as in etcd 3.5 (3.4's etcdctl has no `auth
    /// status`).
    pub async fn auth_state(&self, caller: &Caller) -> Result<(AuthState, i64), EtcdError> {
        let caller = caller.clone();
        self.read(Consistency::Linearizable, move |txn| {
            txn.authorize(Some(&caller), Needs::admin)?;
            Ok((txn.auth_state()?, txn.current_revision()?))
        })
        .await
    }

    /// The user called `name`, with the store revision: for root, or for
    /// the user itself.
    pub async fn user(&self, caller: &Caller, name: String) -> Result<(User, i64), EtcdError> {
        let caller = caller.clone();
        self.read(Consistency::Linearizable, move |txn| {
            if let Err(e) = txn.authorize(Some(&caller), Needs::admin) {
                if caller.username != name {
                    return Err(e.into());
                }
            }
            let user = txn.user(&name)?.ok_or(EtcdError::UserNotFound)?;
            Ok((user, txn.current_revision()?))
        })
        .await
    }

    pub async fn user_names(&self, caller: &Caller) -> Result<(Vec<String>, i64), EtcdError> {
        let caller = caller.clone();
        self.read(Consistency::Linearizable, move |txn| {
            txn.authorize(Some(&caller), Needs::admin)?;
            Ok((txn.user_names()?, txn.current_revision()?))
        })
        .await
    }

    /// The role called `name`'s permissions, with the store revision: for
    /// root, or for a holder of the role.
    pub async fn role(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<(Vec<Permission>, i64), EtcdError> {
        let caller = caller.clone();
        self.read(Consistency::Linearizable, move |txn| {
            if let Err(e) = txn.authorize(Some(&caller), Needs::admin) {
                let holds = txn
                    .user(&caller.username)?
                    .is_some_and(|u| u.roles.contains(&name));
                if !holds {
                    return Err(e.into());
                }
            }
            let role = txn.role(&name)?.ok_or(EtcdError::RoleNotFound)?;
            Ok((role.key_permission, txn.current_revision()?))
        })
        .await
    }

    pub async fn role_names(&self, caller: &Caller) -> Result<(Vec<String>, i64), EtcdError> {
        let caller = caller.clone();
        self.read(Consistency::Linearizable, move |txn| {
            txn.authorize(Some(&caller), Needs::admin)?;
            Ok((txn.role_names()?, txn.current_revision()?))
        })
        .await
    }

    /// The bcrypt hash (Go's `$2a$` form, etcd's) of a new password, with
    /// `--bcrypt-cost`, off the async threads.
    pub async fn hash_password(&self, password: String) -> Result<String, EtcdError> {
        let cost = self.authn.bcrypt_cost();
        tokio::task::spawn_blocking(move || {
            bcrypt::hash_with_result(password, cost)
                .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        })
        .await
        .map_err(|e| EtcdError::Internal(e.to_string()))?
        .map_err(|e| EtcdError::Internal(format!("failed to bcrypt hash password: {e}")))
    }
}

/// What a request presents to be identified by.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `token` (or `authorization`) metadata; `Err` when not text.
    token: Option<Result<String, ()>>,
    /// The verified client certificate's CN.
    common_name: Option<String>,
}

/// The `token` (or `authorization`) metadata, if any; not text: an invalid
/// token.
fn token_of(metadata: &tonic::metadata::MetadataMap) -> Option<Result<&str, EtcdError>> {
    TOKEN_KEYS
        .iter()
        .find_map(|key| metadata.get(*key))
        .map(|value| value.to_str().map_err(|_| EtcdError::InvalidAuthToken))
}

impl Credentials {
    pub fn of<T>(request: &tonic::Request<T>) -> Credentials {
        let token = token_of(request.metadata()).map(|t| t.map(str::to_string).map_err(drop));
        Credentials {
            token,
            common_name: crate::serve::caller_common_name(request.extensions()).map(str::to_string),
        }
    }
}

fn auth_request(change: Change) -> Request {
    Request::Auth(AuthChange {
        change: Some(change),
    })
}

/// etcd's CheckPassword for an existing user: a user without a password
/// cannot authenticate; a wrong password is "authentication failed".
async fn check_password(user: User, password: String, name: &str) -> Result<(), EtcdError> {
    if user.options.is_some_and(|o| o.no_password) {
        return Err(EtcdError::NoPasswordUser);
    }
    let hash = String::from_utf8_lossy(&user.password).into_owned();
    let matches =
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .map_err(|e| EtcdError::Internal(e.to_string()))?;
    if !matches {
        tracing::info!("user-name" = name, "invalid password");
        return Err(EtcdError::AuthFailed);
    }
    Ok(())
}
