//! etcd's watch gauges, `etcd_debugging_mvcc_watcher_total`,
//! `etcd_debugging_mvcc_slow_watcher_total` (unsynced watchers) and
//! `etcd_debugging_mvcc_watch_stream_total`, read from the watch hub when
//! scraped.

use std::sync::{LazyLock, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, Opts};

use crate::watch::{Hub, WeakHub};

/// The hub the gauges describe: the one of the member started last.
static OBSERVED: Mutex<Option<WeakHub>> = Mutex::new(None);

/// Makes the gauges report `hub` (and registers them on first use).
pub fn observe(hub: &Hub) {
    *OBSERVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(hub.downgrade());
    static REGISTERED: LazyLock<()> = LazyLock::new(|| {
        if let Err(e) = prometheus::register(Box::new(WatchCollector::new())) {
            tracing::debug!(error = %e, "watch metrics not registered");
        }
    });
    LazyLock::force(&REGISTERED);
}

struct WatchCollector {
    watchers: IntGauge,
    slow: IntGauge,
    streams: IntGauge,
}

impl WatchCollector {
    fn new() -> WatchCollector {
        let gauge = |name: &str, help: &str| {
            IntGauge::with_opts(Opts::new(name, help)).expect("a valid metric")
        };
        WatchCollector {
            watchers: gauge(
                "etcd_debugging_mvcc_watcher_total",
                "Total number of watchers.",
            ),
            slow: gauge(
                "etcd_debugging_mvcc_slow_watcher_total",
                "Total number of unsynced slow watchers.",
            ),
            streams: gauge(
                "etcd_debugging_mvcc_watch_stream_total",
                "Total number of watch streams.",
            ),
        }
    }

    fn gauges(&self) -> [&IntGauge; 3] {
        [&self.watchers, &self.slow, &self.streams]
    }
}

impl Collector for WatchCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges().into_iter().flat_map(|g| g.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let hub = OBSERVED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(WeakHub::upgrade);
        if let Some(hub) = hub {
            let counts = hub.counts();
            self.watchers.set(counts.watchers as i64);
            self.slow.set(counts.unsynced as i64);
            self.streams.set(counts.streams as i64);
        }
        self.gauges()
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}
