//! The HTTP side of the client port: every request [`super::dispatch`] does
//! not send to gRPC is answered here, as etcd's `net/http` mux answers it.
//!
//! What it owns: the routes (path first, then the method: etcd's handlers
//! take GET only and answer anything else with 405), the query string
//! (decoded as Go's `url.ParseQuery`), and Go's answer shapes — `http.Error`
//! bodies, the 404 of an unknown path. The endpoints are [`health`]'s
//! (`/health`, `/livez`, `/readyz` and their checks) and [`version`]'s
//! (`/version`), and [`gateway`]'s: the JSON gateway under `/v3/` and
//! `/v3beta/` (POST only; off with `--enable-grpc-gateway=false`).
//!
//! Every fact about the member comes from [`EtcdServer`]'s typed methods;
//! nothing here reaches Raft or storage, and the gateway's calls go through
//! the client port's own gRPC stack; `/metrics` is
//! [`crate::metrics::render`]'s. On a `--listen-metrics-urls` listener only
//! `/metrics` and `/health` are served (etcd's metrics mux).

pub mod gateway;
mod health;
mod version;

use std::sync::Arc;

use tonic::body::Body;
use tonic::codegen::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tonic::codegen::Bytes;

use crate::server::EtcdServer;
use gateway::Gateway;

/// Serves the HTTP endpoints of one member; cheap to clone.
#[derive(Clone)]
pub struct HttpApi {
    server: Arc<EtcdServer>,
    /// The JSON gateway; `None` with `--enable-grpc-gateway=false`.
    gateway: Option<Gateway>,
    /// A metrics listener's: `/metrics` and `/health` only.
    metrics_only: bool,
}

/// What a path names.
enum Route {
    Health,
    Metrics,
    Version,
    Checks(health::Checks),
}

impl Route {
    /// The route of `path`, matched exactly as Go's mux matches a pattern
    /// without a trailing slash; `None`: 404.
    fn of(path: &str) -> Option<Route> {
        match path {
            "/health" => Some(Route::Health),
            "/metrics" => Some(Route::Metrics),
            "/version" => Some(Route::Version),
            other => health::Checks::of(other).map(Route::Checks),
        }
    }
}

impl HttpApi {
    pub fn new(server: Arc<EtcdServer>, gateway: Option<Gateway>) -> HttpApi {
        HttpApi {
            server,
            gateway,
            metrics_only: false,
        }
    }

    /// What a `--listen-metrics-urls` listener serves.
    pub fn metrics_only(server: Arc<EtcdServer>) -> HttpApi {
        HttpApi {
            server,
            gateway: None,
            metrics_only: true,
        }
    }

    /// Answers one request; only the gateway reads the body. Every answer
    /// carries the CORS headers of etcd's default `--cors=*`.
    pub async fn serve(&self, request: Request<Body>) -> Response<Body> {
        let mut response = self.route(request).await;
        let headers = response.headers_mut();
        for (name, value) in CORS {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        response
    }

    /// The answer to a path that is not served (Go's 404).
    pub fn not_found() -> Response<Body> {
        not_found()
    }

    async fn route(&self, request: Request<Body>) -> Response<Body> {
        // The CORS preflight, answered before any route.
        if request.method() == Method::OPTIONS {
            return Response::new(Body::empty());
        }
        if let Some(gateway) = &self.gateway {
            match Gateway::route(request.uri().path()) {
                Some(_) if !gateway::allows(request.method()) => return plain_method_not_allowed(),
                Some(gateway::Route::Call(call)) => return gateway.serve(call, request).await,
                Some(gateway::Route::Unknown) => return error(StatusCode::NOT_FOUND, "Not Found"),
                None => {}
            }
        }
        let route = Route::of(request.uri().path())
            .filter(|route| !self.metrics_only || matches!(route, Route::Health | Route::Metrics));
        let Some(route) = route else {
            return not_found();
        };
        // Go's promhttp answers every method; etcd's own handlers GET only.
        if request.method() != Method::GET && !matches!(route, Route::Metrics) {
            return method_not_allowed();
        }
        let query = Query::parse(request.uri().query());
        match route {
            Route::Health => health::health(&self.server, &query).await,
            Route::Metrics => {
                // The size in use is measured in the background; a scrape
                // keeps it at most a few seconds old, as Status does.
                self.server.refresh_size_in_use_if_stale();
                ok(crate::metrics::CONTENT_TYPE, crate::metrics::render())
            }
            Route::Version => version::version(),
            Route::Checks(checks) => checks.run(&self.server, &query).await,
        }
    }
}

/// A request's query parameters, in order, decoded.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        Query(pairs.into_owned().collect())
    }

    /// Every value given for `key`.
    fn values(&self, key: &'static str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` (Go's `Query().Get`).
    fn first(&self, key: &'static str) -> Option<&str> {
        self.values(key).next()
    }

    /// Whether `key` is given at all, with or without a value.
    fn has(&self, key: &'static str) -> bool {
        self.first(key).is_some()
    }
}

/// A 200 answer with `body` of `content_type`.
fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    respond(StatusCode::OK, content_type, body.into())
}

/// Go's `http.Error`: `message` and a newline as plain text, not sniffed.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    nosniff(respond(status, TEXT, format!("{message}\n").into()))
}

/// Tells browsers not to guess another content type.
fn nosniff(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Go's `http.NotFound`.
fn not_found() -> Response<Body> {
    error(StatusCode::NOT_FOUND, "404 page not found")
}

/// What etcd's handlers answer to anything but GET.
fn method_not_allowed() -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// grpc-gateway's answer to another method than POST (no `Allow`).
fn plain_method_not_allowed() -> Response<Body> {
    error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// What etcd's CORS wrapper adds to every HTTP answer under the default
/// `--cors=*`.
const CORS: &[(&str, &str)] = &[
    ("access-control-allow-origin", "*"),
    (
        "access-control-allow-methods",
        "POST, GET, OPTIONS, PUT, DELETE",
    ),
    (
        "access-control-allow-headers",
        "accept, content-type, authorization",
    ),
];

/// Plain text, the type Go gives (or sniffs for) every text answer here.
const TEXT: &str = "text/plain; charset=utf-8";

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_whole_paths() {
        assert!(matches!(Route::of("/health"), Some(Route::Health)));
        assert!(matches!(Route::of("/version"), Some(Route::Version)));
        assert!(matches!(Route::of("/metrics"), Some(Route::Metrics)));
        assert!(matches!(Route::of("/readyz"), Some(Route::Checks(_))));
        for path in [
            "/",
            "/health/",
            "/healthz",
            "/metrics/",
            "/version/x",
            "/v3/kv/range",
        ] {
            assert!(Route::of(path).is_none(), "{path}");
        }
    }

    #[test]
    fn query_is_decoded_as_go_does() {
        let query = Query::parse(Some("exclude=NOSPACE&exclude=CORRUPT&verbose&s=a%20b+c"));
        assert_eq!(
            query.values("exclude").collect::<Vec<_>>(),
            ["NOSPACE", "CORRUPT"]
        );
        assert_eq!(query.first("s"), Some("a b c"));
        assert!(query.has("verbose"));
        assert!(!query.has("serializable"));
        assert!(!Query::parse(None).has("verbose"));
    }
}
