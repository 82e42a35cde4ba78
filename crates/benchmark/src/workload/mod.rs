//! The workloads, one module each, and the driver they share: `--clients`
//! concurrent clients pull request numbers 0..total from a common counter,
//! wait for their `--rate` slot, send, and time each request.
//!
//! Also [`Outcome`], what every workload hands back to be printed, and
//! [`KvConn`], how the `put` and `range` clients reach the KV service (gRPC,
//! or with `--gateway` the JSON gateway).
//!
//! Owns the concurrency and timing. What a request is belongs to each
//! workload's [`Worker`] (or, for `watch`, to its own two phases); the
//! statistics belong to `report`.

pub mod lease;
pub mod put;
pub mod range;
pub mod txn_put;
pub mod watch;
pub mod watch_latency;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::connect::Conn;
use crate::gateway::GatewayClient;
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::{status_text, summarize, Recording, Summary};

/// What a workload reports: one headline summary, and for workloads that
/// measure more than one thing, further sections and single figures.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Printed under this title, if any (etcd titles some of its reports).
    pub title: Option<&'static str>,
    /// The headline statistics: `report` in the JSON output.
    pub report: Summary,
    /// Printed before the headline, each under its JSON key.
    pub sections: Vec<Section>,
    /// Printed after the headline; under `figures` in the JSON output.
    pub figures: Vec<Figure>,
}

impl Outcome {
    /// A report of one statistic and nothing else, as `put` gives.
    pub fn plain(recording: &Recording) -> Self {
        Self {
            title: None,
            report: summarize(recording),
            sections: Vec::new(),
            figures: Vec::new(),
        }
    }
}

/// A further statistic of a run.
#[derive(Debug, Clone)]
pub struct Section {
    pub key: &'static str,
    pub title: &'static str,
    pub summary: Summary,
}

/// A single number of a run (a count or a rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub value: f64,
}

impl Figure {
    pub fn new(key: &'static str, label: &'static str, value: f64) -> Self {
        Self { key, label, value }
    }
}

/// How one client of `put` or `range` reaches the KV service.
pub enum KvConn {
    /// The gRPC KV service over a shared HTTP/2 connection.
    Grpc(KvClient<Conn>),
    /// The JSON gateway over the client's own HTTP/1.1 connection.
    Gateway(GatewayClient),
}

impl KvConn {
    /// Client `i` over `channels[assignment[i]]`.
    pub fn grpc_all(channels: &[Conn], assignment: &[usize]) -> Vec<KvConn> {
        assignment
            .iter()
            .filter_map(|&conn| channels.get(conn))
            .map(|channel| KvConn::Grpc(KvClient::new(channel.clone())))
            .collect()
    }

    pub async fn put(&mut self, request: PutRequest) -> Result<(), tonic::Status> {
        match self {
            KvConn::Grpc(kv) => kv.put(request).await.map(drop),
            KvConn::Gateway(gateway) => gateway.call("/v3/kv/put", &request).await,
        }
    }

    pub async fn range(&mut self, request: &RangeRequest) -> Result<(), tonic::Status> {
        match self {
            KvConn::Grpc(kv) => kv.range(request.clone()).await.map(drop),
            KvConn::Gateway(gateway) => gateway.call("/v3/kv/range", request).await,
        }
    }
}

/// One client of a workload: sends the request numbered `index`.
pub trait Worker: Send + 'static {
    fn request(&mut self, index: u64) -> impl Future<Output = Result<(), tonic::Status>> + Send;
}

/// Runs `total` requests spread over `workers`, each worker one concurrent
/// client, and returns every request's outcome with the run's wall time.
///
/// Only the request itself is timed: waiting for a rate slot is not, so a
/// rate-limited run reports the server's latency, not the limiter's. Each
/// finished request, failed or not, counts one on `progress`.
pub async fn drive<W: Worker>(
    workers: Vec<W>,
    total: u64,
    pacer: Arc<Pacer>,
    progress: &Progress,
) -> Recording {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for mut worker in workers {
        let next = Arc::clone(&next);
        let pacer = Arc::clone(&pacer);
        let progress = progress.clone();
        clients.spawn(async move {
            let mut recording = Recording::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    break;
                }
                pacer.wait().await;
                let sent = Instant::now();
                let outcome = worker.request(index).await;
                recording.record(sent.elapsed(), outcome.map_err(|s| status_text(&s)));
                progress.add(1);
            }
            recording
        });
    }
    let mut all = Recording::default();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(recording) => all.merge(recording),
            // A client that panicked lost its tally; count it visibly rather
            // than report a run that looks clean.
            Err(err) => all.record(
                Default::default(),
                Err(format!("client task failed: {err}")),
            ),
        }
    }
    all.elapsed = started.elapsed();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every third request, succeeds otherwise.
    struct Flaky;

    impl Worker for Flaky {
        async fn request(&mut self, index: u64) -> Result<(), tonic::Status> {
            if index.is_multiple_of(3) {
                Err(tonic::Status::unavailable("down"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn every_request_is_sent_once_across_clients() {
        let progress = Progress::hidden();
        let rec = drive(
            vec![Flaky, Flaky, Flaky],
            30,
            Arc::new(Pacer::new(0)),
            &progress,
        )
        .await;
        assert_eq!(rec.latencies.len(), 20);
        assert_eq!(progress.done(), 30);
        assert_eq!(
            rec.errors.get("rpc error: code = Unavailable desc = down"),
            Some(&10)
        );
    }

    #[tokio::test]
    async fn zero_total_sends_nothing() {
        let rec = drive(vec![Flaky], 0, Arc::new(Pacer::new(0)), &Progress::hidden()).await;
        assert!(rec.latencies.is_empty() && rec.errors.is_empty());
    }
}
