//! Reaching the cluster: the endpoints' URLs, TLS, dialing within the
//! command's deadline, `--user` authentication, and turning a failed call
//! into the message etcdctl prints.
//!
//! etcdctl 3.5's client dials lazily and keeps retrying a refused
//! connection until the command's context expires, so an unreachable
//! endpoint fails after `--command-timeout` with `context deadline
//! exceeded`, not at once; [`connect`] does the same. The commands
//! themselves (which RPC, what to print) are not here.

use std::future::Future;
use std::time::Duration;

use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::AuthenticateRequest;
use etcd_proto::go_status::go_status_text;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use crate::tls::{self, Tls};
use crate::CtlError;

/// What every command gets from the global flags about connecting.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--endpoints` as the user wrote them (printed back as given).
    pub endpoints: Vec<String>,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    pub tls: Tls,
    /// `--user` and its password, when given.
    pub user: Option<(String, String)>,
}

/// The URL tonic dials for an endpoint: `http://` and `https://` as
/// written, a bare `host:port` over TLS only when a TLS flag is given.
pub fn endpoint_url(endpoint: &str, tls: bool) -> String {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.trim_end_matches('/').to_string()
    } else if tls {
        format!("https://{endpoint}")
    } else {
        format!("http://{endpoint}")
    }
}

/// A connection as the commands use it: requests carry the auth token.
pub type Conn = InterceptedService<Channel, Token>;

/// Adds `--user`'s token, when there is one, to every request (etcd reads
/// it from the `token` metadata).
#[derive(Debug, Clone, Default)]
pub struct Token(Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// etcd's answer to Authenticate when auth is off; its client then goes
/// on without a token.
const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

/// How long to wait before dialing a refused endpoint again.
const REDIAL_PAUSE: Duration = Duration::from_millis(100);

/// How one endpoint is dialed.
enum Dial {
    /// Plain text, or TLS that tonic sets up and verifies.
    Tonic(Endpoint),
    /// `--insecure-skip-tls-verify` on an `https://` endpoint.
    Unverified(Endpoint, std::sync::Arc<rustls::ClientConfig>),
}

impl Dial {
    async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        match self {
            Dial::Tonic(endpoint) => endpoint.connect().await,
            Dial::Unverified(endpoint, config) => {
                let config = config.clone();
                let connector =
                    tower::service_fn(move |uri| tls::connect_unverified(config.clone(), uri));
                endpoint.connect_with_connector(connector).await
            }
        }
    }
}

/// Dials `endpoints` (all at once; the first to answer wins, as the Go
/// client's balancer picks a ready one), retrying until it succeeds, then
/// authenticates. Unbounded: the caller's deadline ends it.
pub async fn connect(settings: &Settings, endpoints: &[String]) -> Result<Conn, CtlError> {
    let tls = settings.tls.wanted();
    let unverified = settings
        .tls
        .skip_verify
        .then(|| settings.tls.unverified())
        .transpose()?;
    let mut targets = Vec::new();
    for endpoint in endpoints {
        let mut url = endpoint_url(endpoint, tls);
        let secure = url.starts_with("https://");
        if secure && unverified.is_some() {
            // Our connector does the TLS; tonic must not try to.
            url = url.replacen("https://", "http://", 1);
        }
        let mut target = Endpoint::from_shared(url)
            .map_err(|e| CtlError::error(format!("bad endpoint {endpoint:?}: {e}")))?
            .tcp_nodelay(true);
        if !settings.dial_timeout.is_zero() {
            target = target.connect_timeout(settings.dial_timeout);
        }
        let dial = match (&unverified, secure) {
            (Some(config), true) => Dial::Unverified(target, config.clone()),
            (None, true) => {
                let config = settings.tls.verified()?;
                let target = target
                    .tls_config(config)
                    .map_err(|e| CtlError::error(e.to_string()))?;
                Dial::Tonic(target)
            }
            (_, false) => Dial::Tonic(target),
        };
        targets.push(dial);
    }
    if targets.is_empty() {
        return Err(CtlError::error("no endpoints given"));
    }
    let channel = loop {
        let attempts = targets.iter().map(|t| Box::pin(t.connect()));
        if let Some(channel) = first_ok(attempts).await {
            break channel;
        }
        tokio::time::sleep(REDIAL_PAUSE).await;
    };
    let token = match &settings.user {
        None => Token::default(),
        Some((name, password)) => authenticate(channel.clone(), name, password).await?,
    };
    Ok(InterceptedService::new(channel, token))
}

/// The first attempt that succeeds, or `None` once all have failed.
async fn first_ok<F, T, E>(attempts: impl Iterator<Item = F>) -> Option<T>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    let mut pending: Vec<F> = attempts.collect();
    while !pending.is_empty() {
        let (result, _, rest) = select_all(pending).await;
        if let Ok(value) = result {
            return Some(value);
        }
        pending = rest;
    }
    None
}

/// `futures::future::select_all` without the dependency: polls every
/// future and yields the first to finish with the others.
async fn select_all<F: Future + Unpin>(mut futures: Vec<F>) -> (F::Output, usize, Vec<F>) {
    use std::pin::Pin;
    use std::task::Poll;
    let (output, index) = std::future::poll_fn(|cx| {
        for (i, future) in futures.iter_mut().enumerate() {
            if let Poll::Ready(output) = Pin::new(future).poll(cx) {
                return Poll::Ready((output, i));
            }
        }
        Poll::Pending
    })
    .await;
    drop(futures.swap_remove(index));
    (output, index, futures)
}

async fn authenticate(channel: Channel, name: &str, password: &str) -> Result<Token, CtlError> {
    let request = AuthenticateRequest {
        name: name.to_string(),
        password: password.to_string(),
    };
    match AuthClient::new(channel).authenticate(request).await {
        Ok(response) => {
            let token = response.into_inner().token;
            let value = MetadataValue::try_from(token.as_str())
                .map_err(|e| CtlError::new(crate::EXIT_BAD_CONNECTION, e.to_string()))?;
            Ok(Token(Some(value)))
        }
        Err(status) if status.message() == AUTH_NOT_ENABLED => Ok(Token::default()),
        // etcdctl exits with ExitBadConnection when its client cannot be
        // created, which includes a refused Authenticate.
        Err(status) => Err(CtlError::new(
            crate::EXIT_BAD_CONNECTION,
            status_text(&status),
        )),
    }
}

/// Runs `call` (connecting included) within the command timeout, as
/// etcdctl's `commandCtx` bounds every request.
pub async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, CtlError>>,
) -> Result<T, CtlError> {
    if timeout.is_zero() {
        return call.await;
    }
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(CtlError::error(DEADLINE_EXCEEDED)),
    }
}

/// Go's `context.DeadlineExceeded.Error()`.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// A failed call as etcd's client reports it: etcd's own errors by their
/// message (`etcdserver: ...`), any other status in grpc-go's rendering.
pub fn status_text(status: &tonic::Status) -> String {
    if status.message().starts_with("etcdserver: ") {
        return status.message().to_string();
    }
    if status.code() == tonic::Code::DeadlineExceeded {
        return DEADLINE_EXCEEDED.to_string();
    }
    go_status_text(status.code(), status.message())
}

/// [`status_text`] as an exit-1 error.
pub fn failed(status: tonic::Status) -> CtlError {
    CtlError::error(status_text(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_urls() {
        assert_eq!(
            endpoint_url("127.0.0.1:2379", false),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            endpoint_url("127.0.0.1:2379", true),
            "https://127.0.0.1:2379"
        );
        assert_eq!(endpoint_url("http://a:1/", true), "http://a:1");
        assert_eq!(endpoint_url("https://a:1", false), "https://a:1");
    }

    #[test]
    fn statuses_print_as_etcds_client() {
        let etcd = tonic::Status::not_found("etcdserver: requested lease not found");
        assert_eq!(status_text(&etcd), "etcdserver: requested lease not found");
        let other = tonic::Status::unavailable("connection refused");
        assert_eq!(
            status_text(&other),
            "rpc error: code = Unavailable desc = connection refused"
        );
    }

    #[test]
    fn token_rides_on_requests() {
        let mut token = Token(Some(MetadataValue::from_static("abc")));
        let request = token.call(tonic::Request::new(())).unwrap();
        assert_eq!(request.metadata().get("token").unwrap(), "abc");
    }
}
