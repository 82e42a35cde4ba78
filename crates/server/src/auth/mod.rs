//! Authentication: who a request comes from. The auth store's data and the
//! permission checks are `etcd_storage::auth`'s; this module keeps what is
//! not replicated state — the tokens — and turns a request's token or
//! client certificate into the [`Caller`] every `EtcdServer` method takes.
//!
//! Layout:
//! - [`simple`]: etcd's simple tokens, learned from committed
//!   Authenticates, ended by TTL, password changes, deletes and
//!   AuthDisable.
//!
//! A request is judged as: the user of its `token` (or `authorization`)
//! metadata when it has one (an unknown token is refused, as etcd refuses
//! it); else, under `--client-cert-auth`, the verified certificate's
//! Common Name; else anonymous. The member's own housekeeping is
//! [`member`].

pub mod simple;

use std::time::Duration;

use etcd_proto::raftpb::Caller;
use etcd_storage::auth::AuthEvent;
use etcd_storage::Committed;

use simple::SimpleTokens;

/// The gRPC metadata keys etcd reads a token from.
pub const TOKEN_KEYS: [&str; 2] = ["token", "authorization"];

/// The member acting on its own (lease expiry, lock cleanup, alarms).
pub fn member() -> Caller {
    Caller {
        username: String::new(),
        auth_revision: 0,
        member: true,
    }
}

/// A client that presented no identity.
pub fn anonymous() -> Caller {
    Caller::default()
}

/// How this member authenticates: its tokens and `--client-cert-auth`.
pub struct Authenticator {
    tokens: SimpleTokens,
    /// `--client-cert-auth`: a request without a token is the user its
    /// certificate's CN names.
    client_cert_auth: bool,
    /// `--bcrypt-cost`.
    bcrypt_cost: u32,
}

impl Authenticator {
    pub fn new(token_ttl: Duration, client_cert_auth: bool, bcrypt_cost: u32) -> Authenticator {
        Authenticator {
            tokens: SimpleTokens::new(token_ttl),
            client_cert_auth,
            bcrypt_cost,
        }
    }

    pub fn bcrypt_cost(&self) -> u32 {
        self.bcrypt_cost
    }

    pub fn client_cert_auth(&self) -> bool {
        self.client_cert_auth
    }

    /// The user `token` names, if this member knows it.
    pub fn token_user(&self, token: &str) -> Option<String> {
        self.tokens.user(token)
    }

    /// Follows a committed batch's auth events (on the apply thread).
    pub fn on_commit(&self, committed: &Committed) {
        for event in &committed.auth_events {
            match event {
                AuthEvent::Authenticated {
                    user,
                    token: Some(token),
                } => self.tokens.assign(token.clone(), user.clone()),
                AuthEvent::Authenticated { token: None, .. } => {}
                AuthEvent::UserInvalidated { user } => self.tokens.invalidate_user(user),
                AuthEvent::Disabled => self.tokens.clear(),
            }
        }
    }
}
