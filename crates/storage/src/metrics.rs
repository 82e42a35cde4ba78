//! The storage layer's Prometheus metrics, under etcd 3.5's names: what
//! etcd's `mvcc` package (requests seen by the key-value store, keys, the
//! database file's size) and `mvcc/backend` package (commit, snapshot and
//! defragmentation latencies) export.
//!
//! Counters and histograms are handles resolved once; the hot path pays an
//! atomic add. The gauges that are state (file size, bytes in use, keys)
//! are read when scraped, from the backend [`observe`] names.
//!
//! Not here: rendering and the `/metrics` endpoint (the server's), raft's
//! and the server's own metrics.

use std::cell::Cell;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{exponential_buckets, Gauge, Histogram, HistogramOpts, IntCounter, Opts};
use redb::ReadableTableMetadata;

use crate::backend::{Backend, LATEST};

/// The requests one MVCC transaction ran, counted as it runs and added to
/// the totals when it ends (etcd counts per transaction, not per request).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// A cell: reads go through `&self`.
    pub ranges: Cell<u64>,
    pub puts: u64,
    pub deletes: u64,
}

impl Tally {
    pub(crate) fn range(&self) {
        self.ranges.set(self.ranges.get() + 1);
    }

    /// Adds this transaction to the totals: a transaction of more than one
    /// operation (compares count as ranges) is also a txn, as in etcd.
    pub(crate) fn record(&self) {
        let m = &*KV;
        let ranges = self.ranges.get();
        if ranges + self.puts + self.deletes > 1 {
            m.txn.inc();
        }
        if ranges > 0 {
            m.range.inc_by(ranges);
        }
        if self.puts > 0 {
            m.put.inc_by(self.puts);
        }
        if self.deletes > 0 {
            m.delete.inc_by(self.deletes);
        }
    }
}

/// `etcd_mvcc_*_total`: what the key-value store saw.
struct KvCounters {
    range: IntCounter,
    put: IntCounter,
    delete: IntCounter,
    txn: IntCounter,
}

static KV: LazyLock<KvCounters> = LazyLock::new(|| KvCounters {
    range: counter(
        "etcd_mvcc_range_total",
        "Total number of ranges seen by this member.",
    ),
    put: counter(
        "etcd_mvcc_put_total",
        "Total number of puts seen by this member.",
    ),
    delete: counter(
        "etcd_mvcc_delete_total",
        "Total number of deletes seen by this member.",
    ),
    txn: counter(
        "etcd_mvcc_txn_total",
        "Total number of txns seen by this member.",
    ),
});

/// `etcd_disk_backend_commit_duration_seconds`: every redb commit of an
/// apply batch.
pub(crate) static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_disk_backend_commit_duration_seconds",
        "The latency distributions of commit called by backend.",
        exponential_buckets(0.001, 2.0, 14),
    )
});

/// `etcd_disk_backend_snapshot_duration_seconds`: writing a snapshot copy.
pub(crate) static SNAPSHOT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_disk_backend_snapshot_duration_seconds",
        "The latency distribution of backend snapshots.",
        exponential_buckets(0.01, 2.0, 17),
    )
});

/// `etcd_disk_backend_defrag_duration_seconds`: a whole defragmentation.
pub(crate) static DEFRAG_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_disk_backend_defrag_duration_seconds",
        "The latency distribution of backend defragmentation.",
        exponential_buckets(0.1, 2.0, 13),
    )
});

/// The backend the scrape-time gauges describe: the one opened last.
static OBSERVED: Mutex<Option<Weak<Backend>>> = Mutex::new(None);

/// Makes the scrape-time gauges (database size, size in use, keys) report
/// `backend`, and registers them on first use. Also registers every
/// counter and histogram, so a scrape lists them before they first move.
pub fn observe(backend: &Arc<Backend>) {
    *OBSERVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(backend));
    LazyLock::force(&KV);
    LazyLock::force(&COMMIT_SECONDS);
    LazyLock::force(&SNAPSHOT_SECONDS);
    LazyLock::force(&DEFRAG_SECONDS);
    LazyLock::force(&STATE);
}

/// Registers the state gauges once.
static STATE: LazyLock<()> = LazyLock::new(|| register(Box::new(StateCollector::new())));

/// The gauges read from the backend at scrape time.
struct StateCollector {
    size: Gauge,
    in_use: Gauge,
    keys: Gauge,
}

impl StateCollector {
    fn new() -> StateCollector {
        let gauge = |name: &str, help: &str| {
            Gauge::with_opts(Opts::new(name, help)).expect("a valid metric name")
        };
        StateCollector {
            size: gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            ),
            in_use: gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
            ),
            keys: gauge("etcd_debugging_mvcc_keys_total", "Total number of keys."),
        }
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.size, &self.in_use, &self.keys]
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let backend = OBSERVED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade);
        if let Some(backend) = backend {
            if let Ok(size) = backend.size() {
                self.size.set(size as f64);
            }
            self.in_use.set(backend.size_in_use() as f64);
            if let Ok(keys) = live_keys(&backend) {
                self.keys.set(keys as f64);
            }
        }
        [&self.size, &self.in_use, &self.keys]
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}

/// The number of live keys: the length of the `latest` table, which redb
/// keeps in the table's header (no scan).
fn live_keys(backend: &Backend) -> Result<u64, crate::StorageError> {
    let txn = backend.read()?;
    let latest = txn.redb().open_table(LATEST)?;
    Ok(latest.len()?)
}

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help)).expect("a valid metric name");
    register(Box::new(c.clone()));
    c
}

fn histogram(name: &str, help: &str, buckets: prometheus::Result<Vec<f64>>) -> Histogram {
    let buckets = buckets.expect("valid buckets");
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("a valid metric name");
    register(Box::new(h.clone()));
    h
}

/// Registers on the default registry; a second registration of the same
/// name (two stores in one test process) keeps the first.
fn register(collector: Box<dyn Collector>) {
    if let Err(e) = prometheus::register(collector) {
        tracing::debug!(error = %e, "metric not registered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_of_several_operations_is_a_txn() {
        let before = (KV.txn.get(), KV.put.get(), KV.range.get());
        let t = Tally {
            puts: 1,
            ..Default::default()
        };
        t.record();
        t.range();
        t.record();
        assert!(KV.txn.get() > before.0);
        assert!(KV.put.get() >= before.1 + 2);
        assert!(KV.range.get() > before.2);
    }

    #[test]
    fn buckets_are_etcds() {
        let b = exponential_buckets(0.001, 2.0, 14).unwrap();
        assert_eq!(b.len(), 14);
        assert!((b[13] - 8.192).abs() < 1e-9);
    }
}
