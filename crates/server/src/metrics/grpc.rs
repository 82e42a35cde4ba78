//! The gRPC server metrics etcd exports through go-grpc-prometheus
//! (`grpc_server_started_total`, `grpc_server_handled_total`,
//! `grpc_server_msg_received_total`, `grpc_server_msg_sent_total` and, with
//! `--metrics extensive`, `grpc_server_handling_seconds`), and etcd's own
//! `etcd_network_client_grpc_{sent,received}_bytes_total` (message bytes,
//! as etcd's codec counts them).
//!
//! Every series of a method is resolved once, in a table keyed by the
//! request path; a request costs a map lookup and atomic adds. Like etcd,
//! the methods of the services registered with go-grpc-prometheus have all
//! their series from the start (each status code at 0); Lock and Election,
//! which etcd registers afterwards, get theirs on first use.
//!
//! Not here: the tower layer that feeds these ([`crate::serve::grpc_metrics`]).

use std::sync::{Arc, LazyLock, OnceLock};

use etcd_proto::go_status::go_code_name;
use foldhash::HashMap;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};
use tonic::Code;

/// grpc-go's number of status codes (OK through Unauthenticated).
const CODES: usize = 17;

/// A method's kind, as go-grpc-prometheus labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unary,
    ServerStream,
    BidiStream,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStream => "server_stream",
            Kind::BidiStream => "bidi_stream",
        }
    }
}

use Kind::{BidiStream, ServerStream, Unary};

/// The methods etcd serves, with whether their series exist from the start.
const METHODS: &[(&str, &str, Kind, bool)] = &[
    ("etcdserverpb.KV", "Range", Unary, true),
    ("etcdserverpb.KV", "Put", Unary, true),
    ("etcdserverpb.KV", "DeleteRange", Unary, true),
    ("etcdserverpb.KV", "Txn", Unary, true),
    ("etcdserverpb.KV", "Compact", Unary, true),
    ("etcdserverpb.Watch", "Watch", BidiStream, true),
    ("etcdserverpb.Lease", "LeaseGrant", Unary, true),
    ("etcdserverpb.Lease", "LeaseRevoke", Unary, true),
    ("etcdserverpb.Lease", "LeaseKeepAlive", BidiStream, true),
    ("etcdserverpb.Lease", "LeaseTimeToLive", Unary, true),
    ("etcdserverpb.Lease", "LeaseLeases", Unary, true),
    ("etcdserverpb.Cluster", "MemberAdd", Unary, true),
    ("etcdserverpb.Cluster", "MemberRemove", Unary, true),
    ("etcdserverpb.Cluster", "MemberUpdate", Unary, true),
    ("etcdserverpb.Cluster", "MemberList", Unary, true),
    ("etcdserverpb.Cluster", "MemberPromote", Unary, true),
    ("etcdserverpb.Maintenance", "Alarm", Unary, true),
    ("etcdserverpb.Maintenance", "Status", Unary, true),
    ("etcdserverpb.Maintenance", "Defragment", Unary, true),
    ("etcdserverpb.Maintenance", "Hash", Unary, true),
    ("etcdserverpb.Maintenance", "HashKV", Unary, true),
    ("etcdserverpb.Maintenance", "Snapshot", ServerStream, true),
    ("etcdserverpb.Maintenance", "MoveLeader", Unary, true),
    ("etcdserverpb.Maintenance", "Downgrade", Unary, true),
    ("etcdserverpb.Auth", "AuthEnable", Unary, true),
    ("etcdserverpb.Auth", "AuthDisable", Unary, true),
    ("etcdserverpb.Auth", "AuthStatus", Unary, true),
    ("etcdserverpb.Auth", "Authenticate", Unary, true),
    ("etcdserverpb.Auth", "UserAdd", Unary, true),
    ("etcdserverpb.Auth", "UserGet", Unary, true),
    ("etcdserverpb.Auth", "UserList", Unary, true),
    ("etcdserverpb.Auth", "UserDelete", Unary, true),
    ("etcdserverpb.Auth", "UserChangePassword", Unary, true),
    ("etcdserverpb.Auth", "UserGrantRole", Unary, true),
    ("etcdserverpb.Auth", "UserRevokeRole", Unary, true),
    ("etcdserverpb.Auth", "RoleAdd", Unary, true),
    ("etcdserverpb.Auth", "RoleGet", Unary, true),
    ("etcdserverpb.Auth", "RoleList", Unary, true),
    ("etcdserverpb.Auth", "RoleDelete", Unary, true),
    ("etcdserverpb.Auth", "RoleGrantPermission", Unary, true),
    ("etcdserverpb.Auth", "RoleRevokePermission", Unary, true),
    ("grpc.health.v1.Health", "Check", Unary, true),
    ("grpc.health.v1.Health", "Watch", ServerStream, true),
    ("v3lockpb.Lock", "Lock", Unary, false),
    ("v3lockpb.Lock", "Unlock", Unary, false),
    ("v3electionpb.Election", "Campaign", Unary, false),
    ("v3electionpb.Election", "Proclaim", Unary, false),
    ("v3electionpb.Election", "Leader", Unary, false),
    ("v3electionpb.Election", "Observe", ServerStream, false),
    ("v3electionpb.Election", "Resign", Unary, false),
];

/// The metric families, registered once.
struct Families {
    started: IntCounterVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    handling: HistogramVec,
    client_sent_bytes: IntCounter,
    client_received_bytes: IntCounter,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let labels = ["grpc_type", "grpc_service", "grpc_method"];
    let counter = |name: &str, help: &str, labels: &[&str]| {
        super::register(IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric"))
    };
    let plain = |name: &str, help: &str| {
        super::register(IntCounter::with_opts(Opts::new(name, help)).expect("a valid metric"))
    };
    Families {
        started: counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            &labels,
        ),
        handled: counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            &["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
        ),
        received: counter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            &labels,
        ),
        sent: counter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            &labels,
        ),
        // Registered only under `--metrics extensive` (see `enable_histograms`).
        handling: HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
            )
            .buckets(prometheus::DEFAULT_BUCKETS.to_vec()),
            &labels,
        )
        .expect("a valid metric"),
        client_sent_bytes: plain(
            "etcd_network_client_grpc_sent_bytes_total",
            "The total number of bytes sent to grpc clients.",
        ),
        client_received_bytes: plain(
            "etcd_network_client_grpc_received_bytes_total",
            "The total number of bytes received from grpc clients.",
        ),
    }
});

/// One method's series.
pub struct MethodSeries {
    pub started: IntCounter,
    pub received: IntCounter,
    pub sent: IntCounter,
    handled: [IntCounter; CODES],
    /// Under `--metrics extensive` only.
    pub handling: Option<Histogram>,
}

impl MethodSeries {
    fn new(service: &str, method: &str, kind: Kind, histograms: bool) -> MethodSeries {
        let f = &*FAMILIES;
        let labels = [kind.label(), service, method];
        MethodSeries {
            started: f.started.with_label_values(&labels),
            received: f.received.with_label_values(&labels),
            sent: f.sent.with_label_values(&labels),
            handled: std::array::from_fn(|code| {
                let name = go_code_name(Code::from_i32(code as i32));
                f.handled
                    .with_label_values(&[kind.label(), service, method, name])
            }),
            handling: histograms.then(|| f.handling.with_label_values(&labels)),
        }
    }

    /// Counts the call's end with grpc-go's `code`.
    pub fn handled(&self, code: Code) {
        if let Some(counter) = self.handled.get(code as usize) {
            counter.inc();
        }
    }
}

/// A method's series, made now or on first use.
struct Entry {
    service: &'static str,
    method: &'static str,
    kind: Kind,
    series: OnceLock<Arc<MethodSeries>>,
}

/// Every method's series, by request path.
pub struct GrpcMetrics {
    by_path: HashMap<String, Entry>,
    histograms: bool,
}

impl GrpcMetrics {
    /// The table; `histograms` is `--metrics extensive`.
    pub fn new(histograms: bool) -> GrpcMetrics {
        if histograms {
            enable_histograms();
        }
        let mut by_path = HashMap::default();
        for &(service, method, kind, preinit) in METHODS {
            let entry = Entry {
                service,
                method,
                kind,
                series: OnceLock::new(),
            };
            if preinit {
                let _ = entry.series.set(Arc::new(MethodSeries::new(
                    service, method, kind, histograms,
                )));
            }
            by_path.insert(format!("/{service}/{method}"), entry);
        }
        GrpcMetrics {
            by_path,
            histograms,
        }
    }

    /// The series of the method at `path`, with its kind; `None` for a path
    /// no service serves (grpc-go answers those before any interceptor).
    pub fn method(&self, path: &str) -> Option<Arc<MethodSeries>> {
        let entry = self.by_path.get(path)?;
        let series = entry.series.get_or_init(|| {
            Arc::new(MethodSeries::new(
                entry.service,
                entry.method,
                entry.kind,
                self.histograms,
            ))
        });
        Some(series.clone())
    }

    /// `etcd_network_client_grpc_sent_bytes_total`.
    pub fn sent_bytes(&self) -> &IntCounter {
        &FAMILIES.client_sent_bytes
    }

    /// `etcd_network_client_grpc_received_bytes_total`.
    pub fn received_bytes(&self) -> &IntCounter {
        &FAMILIES.client_received_bytes
    }
}

/// Registers the latency histograms (once, whoever asks first).
fn enable_histograms() {
    static ENABLED: OnceLock<()> = OnceLock::new();
    ENABLED.get_or_init(|| {
        super::register(FAMILIES.handling.clone());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preinitialised_method_has_every_code() {
        let metrics = GrpcMetrics::new(false);
        let put = metrics.method("/etcdserverpb.KV/Put").unwrap();
        let before = put.handled[Code::NotFound as usize].get();
        put.handled(Code::NotFound);
        assert_eq!(put.handled[Code::NotFound as usize].get(), before + 1);
        assert!(metrics.method("/etcdserverpb.KV/Nope").is_none());
        let families = prometheus::gather();
        let handled = families
            .iter()
            .find(|f| f.name() == "grpc_server_handled_total")
            .unwrap();
        let methods = METHODS.iter().filter(|m| m.3).count();
        assert!(handled.get_metric().len() >= methods * CODES);
    }
}
