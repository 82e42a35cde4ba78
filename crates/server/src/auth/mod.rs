//! Authentication: who a request comes from. The auth store's data and the
//! permission checks are `etcd_storage::auth`'s; this module keeps what is
//! not replicated state — the tokens — and turns a request's token or
//! client certificate into the [`Caller`] every `EtcdServer` method takes.
//!
//! Layout:
//! - [`simple`]: etcd's simple tokens (`--auth-token simple`, the default),
//!   learned from committed Authenticates, ended by TTL, password changes,
//!   deletes and AuthDisable.
//! - [`jwt`]: etcd's JWT tokens (`--auth-token jwt,...`), signed and
//!   verified with the configured keys; no state.
//!
//! A request is judged as: the user of its `token` (or `authorization`)
//! metadata when it has one (an unknown token is refused, as etcd refuses
//! it); else, under `--client-cert-auth`, the verified certificate's
//! Common Name; else anonymous. The member's own housekeeping is
//! [`member`].

pub mod jwt;
pub mod simple;

use std::time::Duration;

use etcd_proto::raftpb::Caller;
use etcd_storage::auth::AuthEvent;
use etcd_storage::Committed;

use jwt::{JwtError, JwtTokens};
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

/// The kind of token `--auth-token` names.
pub enum Tokens {
    Simple(SimpleTokens),
    Jwt(JwtTokens),
}

/// Who a token names.
pub struct TokenInfo {
    pub user: String,
    /// The auth revision the token carries (JWT); `None` for simple tokens,
    /// which are judged at the revision of the moment.
    pub revision: Option<u64>,
}

/// How this member authenticates: its tokens and `--client-cert-auth`.
pub struct Authenticator {
    tokens: Tokens,
    /// `--client-cert-auth`: a request without a token is the user its
    /// certificate's CN names.
    client_cert_auth: bool,
    /// `--bcrypt-cost`.
    bcrypt_cost: u32,
}

impl Authenticator {
    /// From `--auth-token` (`simple` or `jwt,opt=value,...`, checked by the
    /// configuration already), `--auth-token-ttl` (simple tokens),
    /// `--client-cert-auth` and `--bcrypt-cost`.
    pub fn new(
        auth_token: &str,
        token_ttl: Duration,
        client_cert_auth: bool,
        bcrypt_cost: u32,
    ) -> Result<Authenticator, JwtError> {
        let mut parts = auth_token.split(',');
        let kind = parts.next().unwrap_or_default();
        let options: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let tokens = match kind {
            "jwt" => Tokens::Jwt(JwtTokens::from_options(&options)?),
            _ => Tokens::Simple(SimpleTokens::new(token_ttl)),
        };
        Ok(Authenticator {
            tokens,
            client_cert_auth,
            bcrypt_cost,
        })
    }

    /// Simple tokens take a random prefix from the proposing member; JWTs
    /// are signed after the Authenticate applied.
    pub fn simple_token_prefix(&self) -> String {
        match &self.tokens {
            Tokens::Simple(_) => simple::new_prefix(),
            Tokens::Jwt(_) => String::new(),
        }
    }

    /// The token for an applied Authenticate: the simple token every member
    /// learned, or a JWT signed now for `user` at `revision`.
    pub fn issue(
        &self,
        assigned: Option<String>,
        user: &str,
        revision: u64,
    ) -> Result<String, JwtError> {
        match &self.tokens {
            Tokens::Simple(_) => assigned
                .ok_or_else(|| JwtError::Key("the Authenticate assigned no simple token".into())),
            Tokens::Jwt(jwt) => jwt.sign(user, revision),
        }
    }

    /// Whether a simple token may yet become known here (assigned at an
    /// index this member has not applied).
    pub fn may_learn(&self, token: &str, applied: u64) -> bool {
        matches!(self.tokens, Tokens::Simple(_))
            && simple::assigned_at(token).is_some_and(|index| index > applied)
    }

    pub fn bcrypt_cost(&self) -> u32 {
        self.bcrypt_cost
    }

    pub fn client_cert_auth(&self) -> bool {
        self.client_cert_auth
    }

    /// Who `token` names, if it is valid here.
    pub fn token_info(&self, token: &str) -> Option<TokenInfo> {
        match &self.tokens {
            Tokens::Simple(simple) => simple.user(token).map(|user| TokenInfo {
                user,
                revision: None,
            }),
            Tokens::Jwt(jwt) => jwt.verify(token).map(|(user, revision)| TokenInfo {
                user,
                revision: Some(revision),
            }),
        }
    }

    /// Follows a committed batch's auth events (on the apply thread).
    pub fn on_commit(&self, committed: &Committed) {
        let Tokens::Simple(tokens) = &self.tokens else {
            return;
        };
        for event in &committed.auth_events {
            match event {
                AuthEvent::Authenticated {
                    user,
                    token: Some(token),
                } => tokens.assign(token.clone(), user.clone()),
                AuthEvent::Authenticated { token: None, .. } => {}
                AuthEvent::UserInvalidated { user } => tokens.invalidate_user(user),
                AuthEvent::Disabled => tokens.clear(),
            }
        }
    }
}
