//! The flag table: every etcd 3.5 server flag with its section, default as
//! shown in `--help`, one-line help, how its value is read into [`Config`],
//! and whether etcd-rs implements it (`Support`).
//!
//! Command line, `ETCD_*` variables and help text all read this one table.
//! `--config-file`, `--version` and etcd's long-obsolete flags are handled
//! by the command-line parser itself; YAML keys are mapped in `file.rs`.

use std::path::PathBuf;

use super::compaction::CompactionMode;
use super::url::Url;
use super::value::{go_quote, parse_bool, parse_flag_duration, parse_int, parse_uint, NumError};
use super::{ClusterState, Config, Gate, LogLevel};

/// Where a flag stands in etcd-rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Implemented (or consumed by the server as configuration).
    Supported,
    /// Accepted; a non-default value is logged as ignored.
    Ignored,
    /// Accepted by the parser; a non-default value is refused at startup.
    Rejected,
    /// Some values work and some do not; `support.rs` decides per value.
    ByValue,
}

/// The `--help` section a flag is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Member,
    Clustering,
    Security,
    Auth,
    Monitoring,
    Logging,
    Tracing,
    Proxy,
    Experimental,
    Unsafe,
}

impl Section {
    pub(crate) const ALL: [Section; 10] = [
        Section::Member,
        Section::Clustering,
        Section::Security,
        Section::Auth,
        Section::Monitoring,
        Section::Logging,
        Section::Tracing,
        Section::Proxy,
        Section::Experimental,
        Section::Unsafe,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Section::Member => "Member",
            Section::Clustering => "Clustering",
            Section::Security => "Security",
            Section::Auth => "Auth",
            Section::Monitoring => "Profiling and Monitoring",
            Section::Logging => "Logging",
            Section::Tracing => "Experimental distributed tracing",
            Section::Proxy => "v2 Proxy (deprecated in etcd 3.5)",
            Section::Experimental => "Experimental feature",
            Section::Unsafe => "Unsafe feature",
        }
    }
}

/// One server flag.
pub(crate) struct Flag {
    /// Name without dashes; the variable is `ETCD_` + upper-snake of it.
    pub name: &'static str,
    pub section: Section,
    /// Boolean flags take no separate value argument (`--x` or `--x=false`).
    pub is_bool: bool,
    pub support: Support,
    /// Default as printed by `--help`.
    pub default_text: &'static str,
    pub help: &'static str,
    /// Stores a textual value into the config; `Err` is the reason Go's
    /// flag package would print after "invalid value ... :".
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    /// Whether the config holds the same value for this flag as `defaults`.
    pub is_default: fn(&Config, &Config) -> bool,
}

impl Flag {
    /// `ETCD_<NAME>` with dashes as underscores.
    pub(crate) fn env_key(&self) -> String {
        env_key(self.name)
    }
}

/// etcd's flag-name → variable-name rule.
pub(crate) fn env_key(name: &str) -> String {
    format!("ETCD_{}", name.replace('-', "_").to_ascii_uppercase())
}

/// Looks a flag up by name.
pub(crate) fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// All flags, in help order.
pub(crate) fn all() -> &'static [Flag] {
    FLAGS
}

/// Flags etcd still accepts (and ignores) from its early days.
pub(crate) const OBSOLETE: &[&str] = &[
    "cluster-active-size",
    "cluster-remove-delay",
    "cluster-sync-interval",
    "config",
    "force",
    "max-result-buffer",
    "max-retry-attempts",
    "peer-heartbeat-interval",
    "peer-election-timeout",
    "retry-interval",
    "snapshot",
    "v",
    "vv",
];

/// Flags etcd 3.5 marks as deprecated when set.
pub(crate) const DEPRECATED: &[&str] = &[
    "enable-v2",
    "experimental-enable-v2v3",
    "proxy",
    "proxy-failure-wait",
    "proxy-refresh-interval",
    "proxy-dial-timeout",
    "proxy-write-timeout",
    "proxy-read-timeout",
];

// ---- value readers (Go flag semantics) ----------------------------------

fn string(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

fn path(v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

fn uint(v: &str) -> Result<u64, String> {
    parse_uint(v, 64).map_err(NumError::reason)
}

fn int(v: &str) -> Result<i64, String> {
    parse_int(v).map_err(NumError::reason)
}

/// etcd's own uint32 flag type reports strconv's error text.
fn uint32(v: &str) -> Result<u32, String> {
    match parse_uint(v, 32) {
        Ok(n) => u32::try_from(n).map_err(|_| String::new()),
        Err(NumError::Syntax) => Err(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            go_quote(v)
        )),
        Err(NumError::Range) => Err(format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(v)
        )),
    }
}

fn duration(v: &str) -> Result<std::time::Duration, String> {
    parse_flag_duration(v)
}

/// A comma-separated list, kept in order (`--cipher-suites`, allowed CNs).
fn strings(v: &str) -> Result<Vec<String>, String> {
    Ok(if v.is_empty() {
        Vec::new()
    } else {
        v.split(',').map(str::to_string).collect()
    })
}

/// A comma-separated set, sorted (`--log-outputs`, `--host-whitelist`).
fn unique_strings(v: &str) -> Result<Vec<String>, String> {
    let mut items: Vec<String> = v.split(',').map(str::to_string).collect();
    items.sort();
    items.dedup();
    Ok(items)
}

fn urls(v: &str) -> Result<Vec<Url>, String> {
    Url::parse_list(v)
}

/// `--cors`: `*` or a list of origin URLs.
fn cors(v: &str) -> Result<Vec<String>, String> {
    if v == "*" {
        return Ok(vec!["*".to_string()]);
    }
    Ok(Url::parse_list(v)?.iter().map(Url::to_string).collect())
}

fn one_of(v: &str, valid: &[&str]) -> Result<String, String> {
    if valid.contains(&v) {
        Ok(v.to_string())
    } else {
        Err("invalid value".to_string())
    }
}

fn cluster_state(v: &str) -> Result<ClusterState, String> {
    match v {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        _ => Err("invalid value".to_string()),
    }
}

fn compaction_mode(v: &str) -> Result<Option<CompactionMode>, String> {
    CompactionMode::parse(v).map(Some)
}

fn log_level(v: &str) -> Result<LogLevel, String> {
    LogLevel::parse(v)
}

fn discovery_fallback(v: &str) -> Result<String, String> {
    one_of(v, &["exit", "proxy"])
}

fn proxy_mode(v: &str) -> Result<String, String> {
    one_of(v, &["off", "readonly", "on"])
}

fn v2_deprecation(v: &str) -> Result<String, String> {
    const VALID: [&str; 5] = [
        "not-yet",
        "write-only",
        "write-only-skip-check",
        "write-only-drop-data",
        "gone",
    ];
    for part in v.split(',') {
        if !VALID.contains(&part) {
            return Err(format!("invalid value {}", go_quote(part)));
        }
    }
    Ok(v.to_string())
}

/// Builds one table row; `bool` rows take no separate value, `urls` rows
/// treat an empty value as "keep the current list" like etcd does.
macro_rules! flag {
    ($sec:ident, $name:literal, $sup:ident, bool => $($field:ident).+, $def:literal, $help:literal) => {
        Flag {
            name: $name,
            section: Section::$sec,
            is_bool: true,
            support: Support::$sup,
            default_text: $def,
            help: $help,
            set: |c, v| {
                c.$($field).+ = parse_bool(v)?;
                Ok(())
            },
            is_default: |c, d| c.$($field).+ == d.$($field).+,
        }
    };
    ($sec:ident, $name:literal, $sup:ident, urls => $($field:ident).+, $def:literal, $help:literal) => {
        Flag {
            name: $name,
            section: Section::$sec,
            is_bool: false,
            support: Support::$sup,
            default_text: $def,
            help: $help,
            set: |c, v| {
                if !v.is_empty() {
                    c.$($field).+ = urls(v)?;
                }
                Ok(())
            },
            is_default: |c, d| c.$($field).+ == d.$($field).+,
        }
    };
    ($sec:ident, $name:literal, $sup:ident, $read:ident => $($field:ident).+, $def:literal, $help:literal) => {
        Flag {
            name: $name,
            section: Section::$sec,
            is_bool: false,
            support: Support::$sup,
            default_text: $def,
            help: $help,
            set: |c, v| {
                c.$($field).+ = $read(v)?;
                Ok(())
            },
            is_default: |c, d| c.$($field).+ == d.$($field).+,
        }
    };
}

/// A gate-backed etcd 3.5 boolean: records the flag's value for the gate;
/// whether it counts as set is the gate's state (see `features.rs`).
macro_rules! gate_flag {
    ($name:literal, $gate:ident, $def:literal, $help:literal) => {
        Flag {
            name: $name,
            section: Section::Experimental,
            is_bool: true,
            support: Support::Supported,
            default_text: $def,
            help: $help,
            set: |c, v| {
                c.feature_gates.set_flag(Gate::$gate, parse_bool(v)?);
                Ok(())
            },
            is_default: |c, d| {
                c.feature_gates.enabled(Gate::$gate) == d.feature_gates.enabled(Gate::$gate)
            },
        }
    };
}

/// `--feature-gates`: merged into the gates; `Err` is etcd's reason.
fn feature_gates(c: &mut Config, v: &str) -> Result<(), String> {
    c.feature_gates.set_gates(v)
}

/// `--log-format`: an empty value means JSON, as in etcd; other values are
/// checked with the rest of the configuration (etcd's wording is not a flag
/// error).
fn log_format(v: &str) -> Result<String, String> {
    Ok(if v.is_empty() { "json" } else { v }.to_string())
}

/// etcd 3.6's names for etcd 3.5's `--experimental-*` flags: (3.5 name,
/// 3.6 name). Both are accepted and set the same setting; giving both is
/// refused (see `validate.rs`).
pub(crate) const RENAMED: &[(&str, &str)] = &[
    (
        "experimental-compact-hash-check-time",
        "compact-hash-check-time",
    ),
    ("experimental-corrupt-check-time", "corrupt-check-time"),
    (
        "experimental-compaction-batch-limit",
        "compaction-batch-limit",
    ),
    (
        "experimental-watch-progress-notify-interval",
        "watch-progress-notify-interval",
    ),
    (
        "experimental-warning-apply-duration",
        "warning-apply-duration",
    ),
    (
        "experimental-bootstrap-defrag-threshold-megabytes",
        "bootstrap-defrag-threshold-megabytes",
    ),
    ("experimental-memory-mlock", "memory-mlock"),
    (
        "experimental-snapshot-catchup-entries",
        "snapshot-catchup-entries",
    ),
    (
        "experimental-compaction-sleep-interval",
        "compaction-sleep-interval",
    ),
    ("experimental-downgrade-check-time", "downgrade-check-time"),
    (
        "experimental-peer-skip-client-san-verification",
        "peer-skip-client-san-verification",
    ),
    (
        "experimental-enable-distributed-tracing",
        "enable-distributed-tracing",
    ),
    (
        "experimental-distributed-tracing-address",
        "distributed-tracing-address",
    ),
    (
        "experimental-distributed-tracing-service-name",
        "distributed-tracing-service-name",
    ),
    (
        "experimental-distributed-tracing-instance-id",
        "distributed-tracing-instance-id",
    ),
    (
        "experimental-distributed-tracing-sampling-rate",
        "distributed-tracing-sampling-rate",
    ),
];

static FLAGS: &[Flag] = &[
    // ---- member ----
    flag!(Member, "name", Supported, string => name, "default",
        "Name of this member, as listed in --initial-cluster."),
    flag!(Member, "data-dir", Supported, path => data_dir, "${name}.etcd",
        "Directory holding this member's data."),
    flag!(Member, "wal-dir", Supported, path => wal_dir, "",
        "Separate directory for the write-ahead log (default: inside the data directory)."),
    flag!(Member, "snapshot-count", Supported, uint => snapshot_count, "100000",
        "Committed entries between two snapshots of the store."),
    flag!(Member, "heartbeat-interval", Supported, uint => heartbeat_interval_ms, "100",
        "Leader heartbeat period, in milliseconds."),
    flag!(Member, "election-timeout", Supported, uint => election_timeout_ms, "1000",
        "Milliseconds without a heartbeat before a follower starts an election."),
    flag!(Member, "initial-election-tick-advance", Ignored, bool => initial_election_tick_advance, "true",
        "Skip ahead election ticks at boot so a new cluster elects a leader sooner."),
    flag!(Member, "listen-peer-urls", Supported, urls => listen_peer_urls, "http://localhost:2380",
        "URLs to accept raft traffic from other members on."),
    flag!(Member, "listen-client-urls", Supported, urls => listen_client_urls, "http://localhost:2379",
        "URLs to accept client gRPC traffic (and HTTP, unless --listen-client-http-urls is set) on."),
    flag!(Member, "listen-client-http-urls", Supported, urls => listen_client_http_urls, "",
        "URLs to serve client HTTP only on, taking HTTP off --listen-client-urls."),
    flag!(Member, "max-snapshots", Ignored, uint => max_snapshots, "5",
        "Snapshot files to keep (0 keeps all)."),
    flag!(Member, "max-wals", Ignored, uint => max_wals, "5",
        "Write-ahead log files to keep (0 keeps all)."),
    flag!(Member, "quota-backend-bytes", Supported, int => quota_backend_bytes, "0",
        "Backend size that raises the NOSPACE alarm and stops writes (0 means 2 GiB)."),
    flag!(Member, "backend-bbolt-freelist-type", Ignored, string => backend_bbolt_freelist_type, "map",
        "Free-list layout of etcd's bbolt backend ('map' or 'array')."),
    flag!(Member, "backend-batch-interval", Ignored, duration => backend_batch_interval, "0s",
        "Longest time a backend write batch stays open before it is committed."),
    flag!(Member, "backend-batch-limit", Ignored, int => backend_batch_limit, "0",
        "Most writes in one backend batch before it is committed."),
    flag!(Member, "max-txn-ops", Supported, uint => max_txn_ops, "128",
        "Most operations allowed in one transaction."),
    flag!(Member, "max-request-bytes", Supported, uint => max_request_bytes, "1572864",
        "Largest client request, in bytes."),
    flag!(Member, "max-concurrent-streams", Supported, uint32 => max_concurrent_streams, "4294967295",
        "Most concurrent HTTP/2 streams per client connection."),
    flag!(Member, "enable-grpc-gateway", Supported, bool => enable_grpc_gateway, "true",
        "Serve the JSON/HTTP gateway to the v3 API."),
    Flag {
        name: "feature-gates",
        section: Section::Member,
        is_bool: false,
        support: Support::Supported,
        default_text: "",
        help: "Server feature gates (etcd 3.6), as Name=true|false pairs separated by commas; see the list below.",
        set: feature_gates,
        is_default: |c, d| c.feature_gates.to_string() == d.feature_gates.to_string(),
    },
    flag!(Member, "grpc-keepalive-min-time", Supported, duration => grpc_keepalive_min_time, "5s",
        "Shortest keepalive ping interval a client may use."),
    flag!(Member, "grpc-keepalive-interval", Supported, duration => grpc_keepalive_interval, "2h0m0s",
        "How often the server pings an idle client connection (0 disables)."),
    flag!(Member, "grpc-keepalive-timeout", Supported, duration => grpc_keepalive_timeout, "20s",
        "How long to wait for a keepalive reply before closing the connection (0 disables)."),
    flag!(Member, "socket-reuse-port", Ignored, bool => socket_reuse_port, "false",
        "Set SO_REUSEPORT on listening sockets."),
    flag!(Member, "socket-reuse-address", Ignored, bool => socket_reuse_address, "false",
        "Set SO_REUSEADDR on listening sockets."),
    flag!(Member, "raft-read-timeout", Ignored, duration => raft_read_timeout, "5s",
        "Read deadline on peer connections (at least 5s)."),
    flag!(Member, "raft-write-timeout", Ignored, duration => raft_write_timeout, "5s",
        "Write deadline on peer connections (at least 5s)."),
    // ---- clustering ----
    flag!(Clustering, "initial-advertise-peer-urls", Supported, urls => initial_advertise_peer_urls, "http://localhost:2380",
        "Peer URLs of this member as the other members should reach them."),
    flag!(Clustering, "initial-cluster", Supported, string => initial_cluster, "default=http://localhost:2380",
        "Members to bootstrap with, as name=peerURL pairs separated by commas."),
    flag!(Clustering, "initial-cluster-state", Supported, cluster_state => initial_cluster_state, "new",
        "'new' to bootstrap a cluster, 'existing' to join one; ignored once the member has data."),
    flag!(Clustering, "initial-cluster-token", Supported, string => initial_cluster_token, "etcd-cluster",
        "Token mixed into member and cluster IDs so separate clusters never mistake each other."),
    flag!(Clustering, "advertise-client-urls", Supported, urls => advertise_client_urls, "http://localhost:2379",
        "Client URLs of this member as clients should reach them; required with --listen-client-urls."),
    flag!(Clustering, "discovery", Rejected, string => discovery, "",
        "Discovery service URL to bootstrap from."),
    flag!(Clustering, "discovery-fallback", Ignored, discovery_fallback => discovery_fallback, "proxy",
        "What to do when discovery finds the cluster full ('exit' or 'proxy')."),
    flag!(Clustering, "discovery-proxy", Ignored, string => discovery_proxy, "",
        "HTTP proxy for reaching the discovery service."),
    flag!(Clustering, "discovery-srv", Rejected, string => discovery_srv, "",
        "DNS domain whose SRV records list the cluster to bootstrap."),
    flag!(Clustering, "discovery-srv-name", Rejected, string => discovery_srv_name, "",
        "Suffix of the SRV service name queried by --discovery-srv."),
    flag!(Clustering, "strict-reconfig-check", Supported, bool => strict_reconfig_check, "true",
        "Refuse membership changes that would leave the cluster without quorum."),
    flag!(Clustering, "pre-vote", Ignored, bool => pre_vote, "true",
        "Run raft's pre-vote phase before an election."),
    flag!(Clustering, "auto-compaction-retention", Supported, string => auto_compaction_retention, "0",
        "History to keep when compacting automatically (0 disables)."),
    flag!(Clustering, "auto-compaction-mode", Supported, compaction_mode => auto_compaction_mode, "periodic",
        "How to read the retention: 'periodic' (hours, or a duration like '30m') or 'revision' (a count)."),
    flag!(Clustering, "enable-v2", Ignored, bool => enable_v2, "false",
        "Serve the v2 API (deprecated)."),
    flag!(Clustering, "experimental-enable-v2v3", Ignored, string => experimental_enable_v2v3, "",
        "Key prefix for serving v2 requests from the v3 store (deprecated)."),
    flag!(Clustering, "v2-deprecation", Ignored, v2_deprecation => v2_deprecation, "not-yet",
        "v2 store deprecation stage: not-yet, write-only, write-only-skip-check, write-only-drop-data or gone."),
    // ---- security ----
    flag!(Security, "cert-file", Supported, path => client_tls.cert_file, "",
        "TLS certificate for client connections."),
    flag!(Security, "key-file", Supported, path => client_tls.key_file, "",
        "TLS key for client connections."),
    flag!(Security, "client-cert-auth", Supported, bool => client_tls.client_cert_auth, "false",
        "Require clients to present a certificate signed by --trusted-ca-file."),
    flag!(Security, "client-cert-file", Supported, path => client_tls.client_cert_file, "",
        "Certificate to present when this member dials a client URL (default: --cert-file)."),
    flag!(Security, "client-key-file", Supported, path => client_tls.client_key_file, "",
        "Key for --client-cert-file (default: --key-file)."),
    flag!(Security, "client-crl-file", Supported, path => client_tls.crl_file, "",
        "Revocation list for client certificates."),
    flag!(Security, "client-cert-allowed-hostname", Supported, strings => client_tls.allowed_hostnames, "",
        "Comma-separated SAN hostnames accepted in client certificates."),
    flag!(Security, "trusted-ca-file", Supported, path => client_tls.trusted_ca_file, "",
        "CA bundle that client certificates must chain to."),
    flag!(Security, "auto-tls", Supported, bool => client_tls.auto_tls, "false",
        "Serve clients over TLS with a generated self-signed certificate."),
    flag!(Security, "peer-cert-file", Supported, path => peer_tls.cert_file, "",
        "TLS certificate for peer connections."),
    flag!(Security, "peer-key-file", Supported, path => peer_tls.key_file, "",
        "TLS key for peer connections."),
    flag!(Security, "peer-client-cert-auth", Supported, bool => peer_tls.client_cert_auth, "false",
        "Require peers to present a certificate signed by --peer-trusted-ca-file."),
    flag!(Security, "peer-trusted-ca-file", Supported, path => peer_tls.trusted_ca_file, "",
        "CA bundle that peer certificates must chain to."),
    flag!(Security, "peer-cert-allowed-cn", Supported, strings => peer_tls.allowed_cns, "",
        "Comma-separated common names accepted in peer certificates."),
    flag!(Security, "peer-cert-allowed-hostname", Supported, strings => peer_tls.allowed_hostnames, "",
        "Comma-separated SAN hostnames accepted in peer certificates."),
    flag!(Security, "peer-auto-tls", Supported, bool => peer_tls.auto_tls, "false",
        "Talk to peers over TLS with a generated self-signed certificate."),
    flag!(Security, "peer-client-cert-file", Supported, path => peer_tls.client_cert_file, "",
        "Certificate to present when dialing peers (default: --peer-cert-file)."),
    flag!(Security, "peer-client-key-file", Supported, path => peer_tls.client_key_file, "",
        "Key for --peer-client-cert-file (default: --peer-key-file)."),
    flag!(Security, "self-signed-cert-validity", Supported, uint => self_signed_cert_validity, "1",
        "Years that --auto-tls and --peer-auto-tls certificates stay valid."),
    flag!(Security, "peer-crl-file", Supported, path => peer_tls.crl_file, "",
        "Revocation list for peer certificates."),
    flag!(Security, "cipher-suites", Supported, strings => cipher_suites, "",
        "Comma-separated TLS cipher suites for client and peer connections (empty: library default)."),
    flag!(Security, "cors", Ignored, cors => cors, "*",
        "Comma-separated origins allowed by CORS on the HTTP API ('*' allows all)."),
    flag!(Security, "host-whitelist", ByValue, unique_strings => host_whitelist, "*",
        "Host headers accepted from HTTP clients on insecure listeners ('*' accepts all)."),
    flag!(Security, "tls-min-version", Supported, string => tls_min_version, "TLS1.2",
        "Lowest TLS version accepted: TLS1.2 or TLS1.3."),
    flag!(Security, "tls-max-version", Supported, string => tls_max_version, "",
        "Highest TLS version accepted: TLS1.2 or TLS1.3 (empty: library default)."),
    flag!(Security, "experimental-peer-skip-client-san-verification", Supported, bool => experimental_peer_skip_client_san_verification, "false",
        "Do not check the SAN of certificates presented by peers."),
    flag!(Security, "peer-skip-client-san-verification", Supported, bool => experimental_peer_skip_client_san_verification, "false",
        "Do not check the SAN of certificates presented by peers (etcd 3.6 name)."),
    // ---- auth ----
    flag!(Auth, "auth-token", ByValue, string => auth_token, "simple",
        "Auth token type and its options ('simple' or 'jwt,...')."),
    flag!(Auth, "bcrypt-cost", Supported, uint => bcrypt_cost, "10",
        "bcrypt cost for hashing user passwords (4 to 31)."),
    flag!(Auth, "auth-token-ttl", Supported, uint => auth_token_ttl, "300",
        "Seconds a simple auth token stays valid."),
    // ---- monitoring ----
    flag!(Monitoring, "enable-pprof", Ignored, bool => enable_pprof, "false",
        "Serve runtime profiling data under /debug/pprof/ on the client URLs."),
    flag!(Monitoring, "metrics", Supported, string => metrics, "basic",
        "Metrics detail: 'basic', or 'extensive' to add gRPC latency histograms."),
    flag!(Monitoring, "listen-metrics-urls", Supported, urls => listen_metrics_urls, "",
        "Extra URLs serving only /metrics and /health."),
    // ---- logging ----
    flag!(Logging, "logger", ByValue, string => logger, "zap",
        "Logger; only 'zap' (JSON lines) is available."),
    flag!(Logging, "log-outputs", ByValue, unique_strings => log_outputs, "default",
        "Where logs go: 'default' (stderr), 'stderr', 'stdout', or file paths, comma-separated."),
    flag!(Logging, "log-level", Supported, log_level => log_level, "info",
        "Lowest level logged: debug, info, warn, error, panic or fatal."),
    flag!(Logging, "log-format", ByValue, log_format => log_format, "json",
        "Log format (etcd 3.6): 'json' or 'console'; etcd-rs writes JSON either way."),
    flag!(Logging, "enable-log-rotation", Ignored, bool => enable_log_rotation, "false",
        "Rotate the log file when --log-outputs names exactly one file."),
    flag!(Logging, "log-rotation-config-json", Ignored, string => log_rotation_config_json,
        "{\"maxsize\": 100, \"maxage\": 0, \"maxbackups\": 0, \"localtime\": false, \"compress\": false}",
        "Rotation limits as JSON: maxsize (MB), maxage (days), maxbackups, localtime, compress."),
    // ---- tracing ----
    flag!(Tracing, "experimental-enable-distributed-tracing", Ignored, bool => experimental_enable_distributed_tracing, "false",
        "Export OpenTelemetry traces."),
    flag!(Tracing, "experimental-distributed-tracing-address", Ignored, string => experimental_distributed_tracing_address, "localhost:4317",
        "Address of the trace collector."),
    flag!(Tracing, "experimental-distributed-tracing-service-name", Ignored, string => experimental_distributed_tracing_service_name, "etcd",
        "Service name on exported spans; use the same on every member."),
    flag!(Tracing, "experimental-distributed-tracing-instance-id", Ignored, string => experimental_distributed_tracing_instance_id, "",
        "Instance ID on exported spans; unique per member."),
    flag!(Tracing, "experimental-distributed-tracing-sampling-rate", Ignored, int => experimental_distributed_tracing_sampling_rate, "0",
        "Spans sampled per million."),
    flag!(Tracing, "enable-distributed-tracing", Ignored, bool => experimental_enable_distributed_tracing, "false",
        "Export OpenTelemetry traces (etcd 3.6 name)."),
    flag!(Tracing, "distributed-tracing-address", Ignored, string => experimental_distributed_tracing_address, "localhost:4317",
        "Address of the trace collector (etcd 3.6 name)."),
    flag!(Tracing, "distributed-tracing-service-name", Ignored, string => experimental_distributed_tracing_service_name, "etcd",
        "Service name on exported spans (etcd 3.6 name)."),
    flag!(Tracing, "distributed-tracing-instance-id", Ignored, string => experimental_distributed_tracing_instance_id, "",
        "Instance ID on exported spans (etcd 3.6 name)."),
    flag!(Tracing, "distributed-tracing-sampling-rate", Ignored, int => experimental_distributed_tracing_sampling_rate, "0",
        "Spans sampled per million (etcd 3.6 name)."),
    // ---- v2 proxy ----
    flag!(Proxy, "proxy", Rejected, proxy_mode => proxy, "off",
        "Run as a v2 proxy: 'off', 'readonly' or 'on'."),
    flag!(Proxy, "proxy-failure-wait", Ignored, uint => proxy_failure_wait, "5000",
        "Milliseconds an endpoint stays marked as failed."),
    flag!(Proxy, "proxy-refresh-interval", Ignored, uint => proxy_refresh_interval, "30000",
        "Milliseconds between endpoint refreshes."),
    flag!(Proxy, "proxy-dial-timeout", Ignored, uint => proxy_dial_timeout, "1000",
        "Milliseconds allowed to dial an endpoint."),
    flag!(Proxy, "proxy-write-timeout", Ignored, uint => proxy_write_timeout, "5000",
        "Milliseconds allowed for a proxied write."),
    flag!(Proxy, "proxy-read-timeout", Ignored, uint => proxy_read_timeout, "0",
        "Milliseconds allowed for a proxied read (0: no limit)."),
    // ---- experimental ----
    gate_flag!("experimental-initial-corrupt-check", InitialCorruptCheck, "false",
        "Compare data hashes with peers before serving traffic (gate InitialCorruptCheck)."),
    flag!(Experimental, "experimental-corrupt-check-time", Ignored, duration => experimental_corrupt_check_time, "0s",
        "Period of the cluster-wide data hash check (0 disables)."),
    flag!(Experimental, "corrupt-check-time", Ignored, duration => experimental_corrupt_check_time, "0s",
        "Period of the cluster-wide data hash check (etcd 3.6 name)."),
    gate_flag!("experimental-compact-hash-check-enabled", CompactHashCheck, "false",
        "Let the leader compare followers' hashes at compaction points (gate CompactHashCheck)."),
    flag!(Experimental, "experimental-compact-hash-check-time", Ignored, duration => experimental_compact_hash_check_time, "1m0s",
        "Period of the compaction hash check."),
    flag!(Experimental, "compact-hash-check-time", Ignored, duration => experimental_compact_hash_check_time, "1m0s",
        "Period of the compaction hash check (etcd 3.6 name)."),
    gate_flag!("experimental-enable-lease-checkpoint", LeaseCheckpoint, "false",
        "Replicate remaining lease TTLs so a leader change does not renew every lease (gate LeaseCheckpoint)."),
    gate_flag!("experimental-enable-lease-checkpoint-persist", LeaseCheckpointPersist, "false",
        "Also persist remaining lease TTLs (needs --experimental-enable-lease-checkpoint) (gate LeaseCheckpointPersist)."),
    flag!(Experimental, "experimental-compaction-batch-limit", Ignored, int => experimental_compaction_batch_limit, "0",
        "Revisions deleted per compaction batch (0: server default of 1000)."),
    flag!(Experimental, "compaction-batch-limit", Ignored, int => experimental_compaction_batch_limit, "0",
        "Revisions deleted per compaction batch (etcd 3.6 name)."),
    flag!(Experimental, "experimental-compaction-sleep-interval", Ignored, duration => experimental_compaction_sleep_interval, "0s",
        "Pause between compaction batches (0: server default)."),
    flag!(Experimental, "compaction-sleep-interval", Ignored, duration => experimental_compaction_sleep_interval, "0s",
        "Pause between compaction batches (etcd 3.6 name)."),
    flag!(Experimental, "experimental-watch-progress-notify-interval", Supported, duration => experimental_watch_progress_notify_interval, "0s",
        "Period of progress notifications to watchers that asked for them (0: 10m)."),
    flag!(Experimental, "watch-progress-notify-interval", Supported, duration => experimental_watch_progress_notify_interval, "0s",
        "Period of progress notifications to watchers that asked for them (etcd 3.6 name; 0: 10m)."),
    flag!(Experimental, "experimental-downgrade-check-time", Ignored, duration => experimental_downgrade_check_time, "5s",
        "Period of the cluster downgrade check."),
    flag!(Experimental, "downgrade-check-time", Ignored, duration => experimental_downgrade_check_time, "5s",
        "Period of the cluster downgrade check (etcd 3.6 name)."),
    flag!(Experimental, "experimental-warning-apply-duration", Ignored, duration => experimental_warning_apply_duration, "100ms",
        "Log applies that take longer than this."),
    flag!(Experimental, "warning-apply-duration", Ignored, duration => experimental_warning_apply_duration, "100ms",
        "Log applies that take longer than this (etcd 3.6 name)."),
    flag!(Experimental, "experimental-memory-mlock", Ignored, bool => experimental_memory_mlock, "false",
        "Lock the process's memory so it is never swapped out."),
    flag!(Experimental, "memory-mlock", Ignored, bool => experimental_memory_mlock, "false",
        "Lock the process's memory so it is never swapped out (etcd 3.6 name)."),
    gate_flag!("experimental-txn-mode-write-with-shared-buffer", TxnModeWriteWithSharedBuffer, "true",
        "Let write transactions read through the shared read buffer (gate TxnModeWriteWithSharedBuffer)."),
    gate_flag!("experimental-stop-grpc-service-on-defrag", StopGrpcServiceOnDefrag, "false",
        "Report NOT_SERVING on the gRPC health service while defragmenting (gate StopGRPCServiceOnDefrag)."),
    flag!(Experimental, "experimental-bootstrap-defrag-threshold-megabytes", Ignored, uint => experimental_bootstrap_defrag_threshold_megabytes, "0",
        "Defragment at boot when that frees at least this many megabytes (0: never)."),
    flag!(Experimental, "bootstrap-defrag-threshold-megabytes", Ignored, uint => experimental_bootstrap_defrag_threshold_megabytes, "0",
        "Defragment at boot when that frees at least this many megabytes (etcd 3.6 name)."),
    flag!(Experimental, "experimental-snapshot-catchup-entries", Ignored, uint => experimental_snapshot_catchup_entries, "5000",
        "Raft entries kept after log compaction for slow followers to catch up from."),
    flag!(Experimental, "snapshot-catchup-entries", Ignored, uint => experimental_snapshot_catchup_entries, "5000",
        "Raft entries kept after log compaction for slow followers (etcd 3.6 name)."),
    // ---- unsafe ----
    flag!(Unsafe, "force-new-cluster", Rejected, bool => force_new_cluster, "false",
        "Restart this member as a one-member cluster, dropping all others."),
    flag!(Unsafe, "unsafe-no-fsync", Ignored, bool => unsafe_no_fsync, "false",
        "Skip fsync; a crash can lose acknowledged writes."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_round_trip() {
        let mut names: Vec<_> = all().iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        let defaults = Config::default();
        for f in all() {
            assert!((f.is_default)(&defaults, &defaults), "{}", f.name);
        }
    }

    #[test]
    fn env_keys() {
        assert_eq!(env_key("listen-client-urls"), "ETCD_LISTEN_CLIENT_URLS");
        assert_eq!(
            lookup("name").map(Flag::env_key).as_deref(),
            Some("ETCD_NAME")
        );
    }

    #[test]
    fn help_defaults_match_config_defaults() {
        // Setting every flag to the default its help shows must leave the
        // configuration at its defaults.
        let defaults = Config::default();
        for f in all() {
            let mut cfg = Config::default();
            let shown = match f.default_text {
                "${name}.etcd" => "",
                other => other,
            };
            (f.set)(&mut cfg, shown).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            assert!((f.is_default)(&cfg, &defaults), "{}", f.name);
        }
    }
}
