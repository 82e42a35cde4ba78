//! Opens the gRPC connections a run uses and decides which client rides on
//! which connection.
//!
//! Owns endpoint parsing (which endpoint uses TLS), dialing, leader
//! discovery for `--target-leader`, `--user` authentication (the token every
//! request then carries), and the client → connection assignment. Does not
//! issue workload requests; the TLS files themselves are `tls`'s.
//!
//! One [`Channel`] is one HTTP/2 connection; clients that share it multiplex
//! their requests over it as concurrent streams, which is what etcd's
//! `--conns`/`--clients` pair means. Workloads get them as [`Conn`]s: the
//! same connection with the auth token, if any, added to every request.

use std::time::Duration;

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{AuthenticateRequest, StatusRequest};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use crate::report::status_text;
use crate::tls::Tls;

/// A connection as the workloads use it: requests carry the run's token.
pub type Conn = InterceptedService<Channel, Token>;

/// The metadata key etcd reads a client's auth token from.
const TOKEN_KEY: &str = "token";

/// What etcd answers Authenticate with when auth is off; its own client
/// then goes on without a token, and so does this tool.
const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no endpoints given")]
    NoEndpoints,
    #[error("bad endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("dial error: {endpoint}")]
    Dial {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("no leader among endpoints {0}")]
    NoLeader(String),
    #[error("--user {0:?}: give name:password (etcd-benchmark does not prompt for a password)")]
    NoPassword(String),
    #[error("--user: empty user name")]
    EmptyUser,
    #[error("authenticating as {user:?}: {reason}")]
    Authenticate { user: String, reason: String },
}

/// `--user`'s name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub name: String,
    pub password: String,
}

/// Splits `name:password` at the first colon, as etcd's tool does. etcd's
/// tool prompts for a missing password; this one refuses instead, since a
/// benchmark is usually run by a script.
pub fn parse_user(raw: &str) -> Result<Credentials, ConnectError> {
    let Some((name, password)) = raw.split_once(':') else {
        return Err(ConnectError::NoPassword(raw.to_string()));
    };
    if name.is_empty() {
        return Err(ConnectError::EmptyUser);
    }
    Ok(Credentials {
        name: name.to_string(),
        password: password.to_string(),
    })
}

/// Adds the auth token, when there is one, to every request.
#[derive(Debug, Clone, Default)]
pub struct Token(Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert(TOKEN_KEY, token.clone());
        }
        Ok(request)
    }
}

impl Token {
    /// The token as text, for the gateway's `Authorization` header.
    pub fn as_text(&self) -> Option<String> {
        self.0
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    }
}

/// Asks the server behind `channel` for a token for `user`. A server with
/// auth off gives none, and the run goes on unauthenticated, as etcd's own
/// client does.
pub async fn authenticate(channel: Channel, user: &Credentials) -> Result<Token, ConnectError> {
    let failed = |reason: String| ConnectError::Authenticate {
        user: user.name.clone(),
        reason,
    };
    let request = AuthenticateRequest {
        name: user.name.clone(),
        password: user.password.clone(),
    };
    match AuthClient::new(channel).authenticate(request).await {
        Ok(response) => {
            let token = response.into_inner().token;
            let value = MetadataValue::try_from(token.as_str())
                .map_err(|err| failed(format!("unusable token: {err}")))?;
            Ok(Token(Some(value)))
        }
        Err(status) if status.message() == AUTH_NOT_ENABLED => Ok(Token::default()),
        // etcd-rs has no Auth service yet; say so rather than print an
        // empty gRPC description.
        Err(status) if status.code() == tonic::Code::Unimplemented => Err(failed(format!(
            "the server does not implement authentication ({})",
            status_text(&status)
        ))),
        Err(status) => Err(failed(status_text(&status))),
    }
}

/// The connections as workloads use them, each carrying `token`.
pub fn with_token(channels: Vec<Channel>, token: &Token) -> Vec<Conn> {
    channels
        .into_iter()
        .map(|channel| InterceptedService::new(channel, token.clone()))
        .collect()
}

/// Turns a user's endpoint (`host:port`, `http://host:port` or
/// `https://host:port`) into the URL tonic dials, whose scheme says whether
/// the connection uses TLS. A bare `host:port` uses TLS when `tls_default`
/// (some TLS flag was given), as in etcd 3.4's client; an explicit scheme
/// is taken as written.
pub fn normalize_endpoint(raw: &str, tls_default: bool) -> Result<String, ConnectError> {
    let trimmed = raw.trim();
    let bad = |reason: &str| ConnectError::BadEndpoint {
        endpoint: raw.to_string(),
        reason: reason.to_string(),
    };
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    let url = match trimmed.split_once("://") {
        None if tls_default => format!("https://{trimmed}"),
        None => format!("http://{trimmed}"),
        Some(("http" | "https", rest)) if !rest.trim_end_matches('/').is_empty() => {
            trimmed.to_string()
        }
        Some(_) => {
            return Err(bad(
                "expected host:port, http://host:port or https://host:port",
            ))
        }
    };
    Ok(url.trim_end_matches('/').to_string())
}

/// Normalizes every endpoint (see [`normalize_endpoint`]), refusing an
/// empty list.
pub fn normalize_endpoints(raw: &[String], tls_default: bool) -> Result<Vec<String>, ConnectError> {
    if raw.iter().all(|e| e.trim().is_empty()) {
        return Err(ConnectError::NoEndpoints);
    }
    raw.iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| normalize_endpoint(e, tls_default))
        .collect()
}

/// Which connection each client uses: client `i` gets connection
/// `i % conns`, spreading clients evenly as etcd's tool does.
pub fn assign_clients(clients: usize, conns: usize) -> Vec<usize> {
    (0..clients).map(|i| i % conns.max(1)).collect()
}

/// How connections are opened: the dial timeout (0 = none), and the TLS
/// settings `https://` URLs are dialed with.
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    pub timeout: Duration,
    pub tls: Tls,
}

impl Dialer {
    /// Dials one connection to `url` and waits until it is up (TCP, then
    /// for `https://` the TLS handshake, then HTTP/2), so that a wrong
    /// address or certificate fails before the run starts instead of as N
    /// request errors.
    pub async fn dial(&self, url: &str) -> Result<Channel, ConnectError> {
        let dial_err = |source| ConnectError::Dial {
            endpoint: url.to_string(),
            source,
        };
        let mut endpoint = Endpoint::from_shared(url.to_string()).map_err(dial_err)?;
        if !self.timeout.is_zero() {
            endpoint = endpoint.connect_timeout(self.timeout);
        }
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(self.tls.client_config(self.timeout))
                .map_err(dial_err)?;
        }
        // Benchmarks send many small requests; Nagle's delay would only add
        // latency that neither server is responsible for.
        endpoint.tcp_nodelay(true).connect().await.map_err(dial_err)
    }

    /// Opens `conns` connections, spread round-robin over `urls`.
    pub async fn dial_all(
        &self,
        urls: &[String],
        conns: usize,
    ) -> Result<Vec<Channel>, ConnectError> {
        if urls.is_empty() {
            return Err(ConnectError::NoEndpoints);
        }
        let mut channels = Vec::with_capacity(conns);
        for i in 0..conns {
            channels.push(self.dial(&urls[i % urls.len()]).await?);
        }
        Ok(channels)
    }

    /// The endpoints a run should use: all of them, or with `target_leader`
    /// only the one whose Status names itself leader. A single endpoint is
    /// taken as given without asking.
    pub async fn pick_endpoints(
        &self,
        urls: Vec<String>,
        target_leader: bool,
    ) -> Result<Vec<String>, ConnectError> {
        if !target_leader || urls.len() <= 1 {
            return Ok(urls);
        }
        for url in &urls {
            // An unreachable member cannot be the leader we want; try the next.
            let Ok(channel) = self.dial(url).await else {
                continue;
            };
            let Ok(status) = MaintenanceClient::new(channel)
                .status(StatusRequest {})
                .await
                .map(tonic::Response::into_inner)
            else {
                continue;
            };
            let member_id = status.header.map(|h| h.member_id);
            if status.leader != 0 && member_id == Some(status.leader) {
                return Ok(vec![url.clone()]);
            }
        }
        Err(ConnectError::NoLeader(urls.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_etcd_forms() {
        for tls in [false, true] {
            assert_eq!(
                normalize_endpoint(" http://127.0.0.1:2379/ ", tls).unwrap(),
                "http://127.0.0.1:2379"
            );
            assert_eq!(
                normalize_endpoint("https://localhost:2379/", tls).unwrap(),
                "https://localhost:2379"
            );
            assert!(normalize_endpoint("unix://x", tls).is_err());
            assert!(normalize_endpoint("http://", tls).is_err());
            assert!(normalize_endpoint("https:///", tls).is_err());
            assert!(normalize_endpoint("", tls).is_err());
        }
    }

    #[test]
    fn bare_endpoints_use_tls_when_a_tls_flag_is_given() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:2379", false).unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            normalize_endpoint("127.0.0.1:2379", true).unwrap(),
            "https://127.0.0.1:2379"
        );
        let list = vec!["a:1".to_string(), "http://b:2".to_string()];
        assert_eq!(
            normalize_endpoints(&list, true).unwrap(),
            vec!["https://a:1", "http://b:2"]
        );
    }

    #[test]
    fn endpoint_list_skips_blanks_but_not_all() {
        let list = vec!["a:1".to_string(), " ".to_string(), "b:2".to_string()];
        assert_eq!(
            normalize_endpoints(&list, false).unwrap(),
            vec!["http://a:1", "http://b:2"]
        );
        assert!(matches!(
            normalize_endpoints(&[String::new()], false),
            Err(ConnectError::NoEndpoints)
        ));
    }

    #[test]
    fn user_splits_at_the_first_colon() {
        assert_eq!(
            parse_user("root:pa:ss").unwrap(),
            Credentials {
                name: "root".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(parse_user("root:").unwrap().password, "");
        assert!(matches!(
            parse_user("root"),
            Err(ConnectError::NoPassword(_))
        ));
        assert!(matches!(parse_user(":pw"), Err(ConnectError::EmptyUser)));
    }

    #[test]
    fn token_rides_on_every_request_when_there_is_one() {
        let mut token = Token(Some(MetadataValue::from_static("abc")));
        let request = token.call(tonic::Request::new(())).unwrap();
        assert_eq!(request.metadata().get(TOKEN_KEY).unwrap(), "abc");
        let request = Token::default().call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get(TOKEN_KEY).is_none());
    }

    #[test]
    fn clients_spread_round_robin() {
        assert_eq!(assign_clients(5, 2), vec![0, 1, 0, 1, 0]);
        assert_eq!(assign_clients(3, 10), vec![0, 1, 2]);
        assert_eq!(assign_clients(2, 0), vec![0, 0]);
    }
}
