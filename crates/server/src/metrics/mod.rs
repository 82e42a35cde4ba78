//! Prometheus `/metrics`, as etcd 3.5 serves it: every metric on the
//! default registry (the storage and raft crates register theirs, under
//! etcd's names), rendered in the text format 0.0.4.
//!
//! What the server itself owns: the member's identity and versions
//! (`etcd_server_version`, `etcd_server_id`, `etcd_cluster_version`), the
//! quota (`etcd_server_quota_backend_bytes`), the process metrics Go's
//! client exports (`process_*`, [`process`]), the gRPC server metrics ([`grpc`]) and
//! the watch gauges ([`watch`]).
//!
//! Not here: the routes serving it (`serve::http`, the metrics listeners
//! in `serve::metrics_port`), nor what storage and raft count.

pub mod grpc;
#[cfg(target_os = "linux")]
mod process;
pub mod watch;

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{Encoder, IntGauge, IntGaugeVec, Opts, TextEncoder};

/// `--metrics`: how much etcd exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    #[default]
    Basic,
    /// Adds the gRPC latency histograms.
    Extensive,
}

impl Detail {
    /// The flag's value: like etcd, only `extensive` adds anything; any
    /// other value is `basic`.
    pub fn parse(value: &str) -> Detail {
        match value {
            "extensive" => Detail::Extensive,
            _ => Detail::Basic,
        }
    }
}

/// What the member-level gauges say.
pub struct Member<'a> {
    pub member_id: u64,
    /// The quota in force, in bytes (negative: disabled).
    pub quota_backend_bytes: i64,
    pub server_version: &'a str,
    pub cluster_version: &'a str,
}

/// Registers everything once the member knows who it is. Later calls (a
/// second member in one test process) change nothing.
pub fn init(member: &Member<'_>) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        etcd_raft::metrics::register_all();
        labelled(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
            member.server_version,
        );
        labelled(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
            &format!("{:x}", member.member_id),
        );
        labelled(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
            member.cluster_version,
        );
        let quota = IntGauge::with_opts(Opts::new(
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
        ))
        .expect("a valid metric");
        quota.set(member.quota_backend_bytes);
        register(quota);
        #[cfg(target_os = "linux")]
        if let Err(e) = prometheus::register(Box::new(process::ProcessMetrics::new())) {
            tracing::debug!(error = %e, "process metrics not registered");
        }
    });
}

/// `etcd_server_learner_promote_failures{Reason}`: one refused learner
/// promotion, by etcd's error text (the series appears with its first).
pub fn learner_promote_failed(reason: &str) {
    static FAILURES: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(
        || {
            register(
                prometheus::IntCounterVec::new(
                    Opts::new(
                        "etcd_server_learner_promote_failures",
                        "The total number of failed learner promotions (likely learner not ready) while this member is leader.",
                    ),
                    &["Reason"],
                )
                .expect("a valid metric"),
            )
        },
    );
    FAILURES.with_label_values(&[reason]).inc();
}

/// A gauge at 1 whose label says the value, as etcd exports versions.
fn labelled(name: &str, help: &str, label: &str, value: &str) {
    let vec = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
    vec.with_label_values(&[value]).set(1);
    register(vec);
}

/// The content type of [`render`]'s body, as Go's promhttp sends it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every registered metric in the text format.
pub fn render() -> Vec<u8> {
    let families = prometheus::gather();
    let mut body = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut body) {
        tracing::warn!(error = %e, "cannot render metrics");
    }
    body
}

/// Registers on the default registry; a name taken already keeps the
/// first registration.
pub(crate) fn register<C: Collector + Clone + 'static>(c: C) -> C {
    if let Err(e) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %e, "metric not registered");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_etcds_names_with_help_and_type() {
        init(&Member {
            member_id: 0xabc,
            quota_backend_bytes: 2 << 30,
            server_version: "3.5.0",
            cluster_version: "3.5",
        });
        let text = String::from_utf8(render()).unwrap();
        for line in [
            "# TYPE etcd_server_has_leader gauge",
            "# TYPE etcd_server_leader_changes_seen_total counter",
            "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
            "etcd_server_id{server_id=\"abc\"} 1",
            "etcd_server_version{server_version=\"3.5.0\"} 1",
            "# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.",
        ] {
            assert!(text.contains(line), "{line}");
        }
        assert!(!text.contains("process_threads"));
    }

    #[test]
    fn metrics_flag_values() {
        assert_eq!(Detail::parse("basic"), Detail::Basic);
        assert_eq!(Detail::parse("extensive"), Detail::Extensive);
        assert_eq!(Detail::parse("full"), Detail::Basic);
    }
}
