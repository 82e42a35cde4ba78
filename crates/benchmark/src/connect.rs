//! Opens the gRPC connections a run uses and decides which client rides on
//! which connection.
//!
//! Owns endpoint parsing, dialing, leader discovery for `--target-leader`,
//! and the client → connection assignment. Does not issue workload requests.
//!
//! One [`Channel`] is one HTTP/2 connection; clients that share it multiplex
//! their requests over it as concurrent streams, which is what etcd's
//! `--conns`/`--clients` pair means.

use std::time::Duration;

use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::StatusRequest;
use tonic::transport::{Channel, Endpoint};

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
}

/// Turns a user's endpoint (`host:port` or `http://host:port`) into the URL
/// tonic dials. TLS is not supported yet, so `https://` is refused rather
/// than silently sent in clear text.
pub fn normalize_endpoint(raw: &str) -> Result<String, ConnectError> {
    let trimmed = raw.trim();
    let bad = |reason: &str| ConnectError::BadEndpoint {
        endpoint: raw.to_string(),
        reason: reason.to_string(),
    };
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    let url = match trimmed.split_once("://") {
        None => format!("http://{trimmed}"),
        Some(("http", rest)) if !rest.is_empty() => trimmed.to_string(),
        Some(("https", _)) => return Err(bad("TLS endpoints are not supported yet")),
        Some(_) => return Err(bad("expected host:port or http://host:port")),
    };
    Ok(url.trim_end_matches('/').to_string())
}

/// Normalizes every endpoint, refusing an empty list.
pub fn normalize_endpoints(raw: &[String]) -> Result<Vec<String>, ConnectError> {
    if raw.iter().all(|e| e.trim().is_empty()) {
        return Err(ConnectError::NoEndpoints);
    }
    raw.iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| normalize_endpoint(e))
        .collect()
}

/// Which connection each client uses: client `i` gets connection
/// `i % conns`, spreading clients evenly as etcd's tool does.
pub fn assign_clients(clients: usize, conns: usize) -> Vec<usize> {
    (0..clients).map(|i| i % conns.max(1)).collect()
}

/// Dials one connection to `url` and waits until it is up, so that a wrong
/// address fails before the run starts instead of as N request errors.
pub async fn dial(url: &str, timeout: Duration) -> Result<Channel, ConnectError> {
    let dial_err = |source| ConnectError::Dial {
        endpoint: url.to_string(),
        source,
    };
    let mut endpoint = Endpoint::from_shared(url.to_string()).map_err(dial_err)?;
    if !timeout.is_zero() {
        endpoint = endpoint.connect_timeout(timeout);
    }
    // Benchmarks send many small requests; Nagle's delay would only add
    // latency that neither server is responsible for.
    endpoint.tcp_nodelay(true).connect().await.map_err(dial_err)
}

/// Opens `conns` connections, spread round-robin over `urls`.
pub async fn dial_all(
    urls: &[String],
    conns: usize,
    timeout: Duration,
) -> Result<Vec<Channel>, ConnectError> {
    if urls.is_empty() {
        return Err(ConnectError::NoEndpoints);
    }
    let mut channels = Vec::with_capacity(conns);
    for i in 0..conns {
        channels.push(dial(&urls[i % urls.len()], timeout).await?);
    }
    Ok(channels)
}

/// The endpoints a run should use: all of them, or with `target_leader` only
/// the one whose Status names itself leader. A single endpoint is taken as
/// given without asking.
pub async fn pick_endpoints(
    urls: Vec<String>,
    target_leader: bool,
    timeout: Duration,
) -> Result<Vec<String>, ConnectError> {
    if !target_leader || urls.len() <= 1 {
        return Ok(urls);
    }
    for url in &urls {
        // An unreachable member cannot be the leader we want; try the next.
        let Ok(channel) = dial(url, timeout).await else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_etcd_forms() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:2379").unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            normalize_endpoint(" http://127.0.0.1:2379/ ").unwrap(),
            "http://127.0.0.1:2379"
        );
        assert!(normalize_endpoint("https://127.0.0.1:2379").is_err());
        assert!(normalize_endpoint("unix://x").is_err());
        assert!(normalize_endpoint("http://").is_err());
        assert!(normalize_endpoint("").is_err());
    }

    #[test]
    fn endpoint_list_skips_blanks_but_not_all() {
        let list = vec!["a:1".to_string(), " ".to_string(), "b:2".to_string()];
        assert_eq!(
            normalize_endpoints(&list).unwrap(),
            vec!["http://a:1", "http://b:2"]
        );
        assert!(matches!(
            normalize_endpoints(&[String::new()]),
            Err(ConnectError::NoEndpoints)
        ));
    }

    #[test]
    fn clients_spread_round_robin() {
        assert_eq!(assign_clients(5, 2), vec![0, 1, 0, 1, 0]);
        assert_eq!(assign_clients(3, 10), vec![0, 1, 2]);
        assert_eq!(assign_clients(2, 0), vec![0, 0]);
    }
}
