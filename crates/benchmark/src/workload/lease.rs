//! The `lease-keepalive` workload: each of `--clients` clients grants one
//! lease (TTL 100s, as etcd's tool does), opens its own LeaseKeepAlive
//! stream, and then the shared driver spreads `--total` keepalives over the
//! clients, each timed from send to the server's answer.
//!
//! etcd's tool sends each keepalive with its client library's
//! `KeepAliveOnce`, which opens a fresh stream per request; here a client
//! keeps one stream for the run, which is how a long-lived lease holder
//! keeps a lease alive, and leaves stream set-up out of the latency.
//!
//! Owns lease set-up and the keepalive request. Concurrency and timing
//! belong to the shared driver in `workload`.

use std::sync::Arc;

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{drive, Worker};
use crate::cli::LeaseKeepaliveArgs;
use crate::connect::Conn;
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::{status_text, Recording};

/// The TTL of the leases the clients keep alive, in seconds (etcd's tool's).
pub const LEASE_TTL: i64 = 100;

/// Why the leases could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("granting a lease: {0}")]
    Grant(String),
    #[error("opening a keepalive stream: {0}")]
    Stream(String),
}

/// One client: a lease and the stream that keeps it alive.
struct KeepaliveWorker {
    lease_id: i64,
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
}

/// The status etcd's client gives a keepalive answered with TTL ≤ 0: the
/// lease is gone.
fn lease_not_found() -> tonic::Status {
    tonic::Status::not_found("etcdserver: requested lease not found")
}

/// Checks one keepalive answer.
fn check_answer(answer: Option<LeaseKeepAliveResponse>) -> Result<(), tonic::Status> {
    match answer {
        Some(response) if response.ttl > 0 => Ok(()),
        Some(_) => Err(lease_not_found()),
        None => Err(tonic::Status::unavailable("keepalive stream closed")),
    }
}

impl KeepaliveWorker {
    async fn keepalive(&mut self) -> Result<(), tonic::Status> {
        let request = LeaseKeepAliveRequest { id: self.lease_id };
        self.requests
            .send(request)
            .await
            .map_err(|_| tonic::Status::unavailable("keepalive stream closed"))?;
        check_answer(self.responses.message().await?)
    }
}

impl Worker for KeepaliveWorker {
    async fn request(&mut self, _index: u64) -> Result<(), tonic::Status> {
        self.keepalive().await
    }
}

/// Grants a lease on `channel` and opens its keepalive stream, proving the
/// stream with one keepalive (not counted in the run).
async fn set_up(channel: Conn) -> Result<KeepaliveWorker, LeaseError> {
    let mut client = LeaseClient::new(channel);
    let grant = client
        .lease_grant(LeaseGrantRequest {
            ttl: LEASE_TTL,
            id: 0,
        })
        .await
        .map_err(|s| LeaseError::Grant(status_text(&s)))?
        .into_inner();
    if !grant.error.is_empty() {
        return Err(LeaseError::Grant(grant.error));
    }
    // The first keepalive is queued before the call: a server may hold back
    // the response headers, which the call waits for, until it answers one.
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id: grant.id })
        .await
        .map_err(|_| LeaseError::Stream("closed".to_string()))?;
    let mut responses = client
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .map_err(|s| LeaseError::Stream(status_text(&s)))?
        .into_inner();
    let first = responses
        .message()
        .await
        .map_err(|s| LeaseError::Stream(status_text(&s)));
    check_answer(first?).map_err(|s| LeaseError::Stream(status_text(&s)))?;
    Ok(KeepaliveWorker {
        lease_id: grant.id,
        requests: tx,
        responses,
    })
}

/// Runs the workload: client `i` keeps its lease alive over
/// `channels[assignment[i]]`.
pub async fn run(
    args: &LeaseKeepaliveArgs,
    channels: &[Conn],
    assignment: &[usize],
    progress: &Progress,
) -> Result<Recording, LeaseError> {
    let mut workers = Vec::with_capacity(assignment.len());
    for channel in assignment.iter().filter_map(|&conn| channels.get(conn)) {
        workers.push(set_up(channel.clone()).await?);
    }
    progress.start(args.total);
    Ok(drive(workers, args.total, Arc::new(Pacer::new(0)), progress).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::status_text;

    #[test]
    fn answers_with_a_live_ttl_pass() {
        let live = LeaseKeepAliveResponse {
            id: 7,
            ttl: 100,
            ..LeaseKeepAliveResponse::default()
        };
        assert!(check_answer(Some(live)).is_ok());
    }

    #[test]
    fn a_dead_lease_reads_like_etcds_client() {
        let dead = LeaseKeepAliveResponse {
            id: 7,
            ttl: 0,
            ..LeaseKeepAliveResponse::default()
        };
        let status = check_answer(Some(dead)).unwrap_err();
        assert_eq!(
            status_text(&status),
            "rpc error: code = NotFound desc = etcdserver: requested lease not found"
        );
        assert_eq!(
            check_answer(None).unwrap_err().code(),
            tonic::Code::Unavailable
        );
    }
}
