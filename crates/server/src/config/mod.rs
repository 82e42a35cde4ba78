//! Server configuration: etcd 3.5's flags, `ETCD_*` environment variables
//! and `--config-file` YAML, resolved into one typed [`Config`].
//!
//! etcd 3.6's spellings are accepted beside 3.5's: the de-prefixed names of
//! the `--experimental-*` flags (`--watch-progress-notify-interval`, ...;
//! the pairs are `flags::RENAMED`, and giving both names of one setting is
//! refused as 3.6 refuses it), `--feature-gates` with etcd's gates, which
//! also stand behind the 3.5 experimental booleans they replaced
//! ([`features`]), and `--log-format`.
//!
//! # Sources and precedence (as etcd does it)
//! * Command-line flags, parsed with Go `flag` package rules: `-name` and
//!   `--name` both work, values follow as `--name=v` or `--name v`, boolean
//!   flags only take `--flag=false` (a separate `false` is a stray argument),
//!   parsing stops at the first non-flag argument, which is then an error.
//! * `ETCD_<FLAG_NAME_UPPER_WITH_UNDERSCORES>` fills every flag not given on
//!   the command line (empty values are skipped). Setting both the flag and
//!   its variable is fatal; unknown `ETCD_*` variables only warn.
//! * `--config-file` (or `ETCD_CONFIG_FILE`) replaces both: when a file is
//!   given, every other flag and variable is ignored and the YAML (etcd's
//!   key names) is the whole configuration.
//! * `--version` and `--help` win over everything.
//!
//! After that come etcd's checks (URLs, heartbeat vs election timeout,
//! bootstrap flags, ...) with etcd's messages, and etcd's defaults that
//! depend on other settings (data dir `<name>.etcd`, `--initial-cluster`
//! derived from `--name` and `--initial-advertise-peer-urls`).
//!
//! # Flags etcd-rs does not implement yet
//! Every etcd 3.5 server flag is accepted and typed. Those not implemented
//! fall in two groups, chosen by what ignoring them would do:
//! * **Ignored with a warning** (listed by [`Config::unsupported`], logged as
//!   "flag is not yet supported by etcd-rs; ignoring") when leaving them out
//!   only loses a tuning knob or an optional feature whose absence is
//!   visible: `--max-snapshots`, `--max-wals`, `--backend-*`,
//!   `--initial-election-tick-advance`, `--pre-vote`, `--raft-*-timeout`,
//!   `--socket-reuse-*`, `--listen-client-http-urls`, `--enable-pprof`,
//!   `--enable-grpc-gateway`, `--cors`, `--enable-log-rotation`, `--log-rotation-config-json`, `--enable-v2`,
//!   `--experimental-enable-v2v3`, `--v2-deprecation`, `--discovery-fallback`,
//!   `--discovery-proxy`, `--proxy-*` timings, the distributed-tracing flags,
//!   every other `--experimental-*` flag (and its 3.6 name), feature gates
//!   whose behaviour etcd-rs lacks (logged by gate name), `--unsafe-no-fsync`
//!   (etcd-rs keeps syncing), and `--logger=capnslog` / `--log-format=console`
//!   (logs stay JSON).
//! * **Refused at startup** ([`ConfigError::NotSupported`]) when ignoring them
//!   would silently weaken security or change what the member is:
//!   `--host-whitelist`, `--auth-token` other than
//!   `simple`, `--discovery`, `--discovery-srv[-name]`, `--proxy` other than
//!   `off`, `--force-new-cluster`, `--log-outputs=systemd/journal`, and the
//!   `etcd gateway` / `etcd grpc-proxy` commands.
//!
//! A flag counts only when its value differs from etcd's default, so
//! `--pre-vote=true` or `--enable-grpc-gateway=true` pass silently.
//! The classification is one table (the `Support` column in `flags.rs`) plus the
//! value rules in `support.rs`; implementing a flag means flipping its row.
//!
//! This module does not open listeners, create directories or start logging
//! (see [`crate::logging`]); member and cluster IDs live elsewhere.

mod argv;
mod cluster;
mod compaction;
mod env;
mod error;
pub mod features;
mod file;
pub(crate) mod flags;
mod help;
mod support;
mod url;
mod validate;
pub(crate) mod value;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use cluster::parse_initial_cluster;
pub use compaction::{AutoCompaction, CompactionMode};
pub use error::ConfigError;
pub use features::{FeatureGates, Gate};
pub use help::usage;
pub use url::Url;

/// What the command line asks the binary to do.
#[derive(Debug, Clone, PartialEq)]
// Built once per process; boxing the common case buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum ParseOutcome {
    /// Start a member with this configuration.
    Run(Config),
    /// `--version`: print the version and exit 0.
    PrintVersion,
    /// `-h`/`--help`: print this text to stdout and exit 0 (etcd also prints
    /// [`usage`] to stderr first).
    PrintHelp(String),
}

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `--initial-cluster`.
    New,
    /// Join a cluster that already exists (the member was added first).
    Existing,
}

impl ClusterState {
    /// The flag spelling, `new` or `existing`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::New => "new",
            ClusterState::Existing => "existing",
        }
    }
}

/// `--log-level`, with zap's level names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Debug,
    /// Normal operation milestones (the default).
    Info,
    /// Unusual but handled conditions.
    Warn,
    /// Failures.
    Error,
    /// zap's "development panic"; treated like `error`.
    DPanic,
    /// Only conditions that abort the process.
    Panic,
    /// Only conditions that abort the process.
    Fatal,
}

impl LogLevel {
    /// Parses zap's level names (case-insensitive; empty means info).
    pub fn parse(s: &str) -> Result<LogLevel, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" | "" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            "dpanic" => Ok(LogLevel::DPanic),
            "panic" => Ok(LogLevel::Panic),
            "fatal" => Ok(LogLevel::Fatal),
            _ => Err(format!("unrecognized level: {}", value::go_quote(s))),
        }
    }

    /// The lower-case name zap prints.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::DPanic => "dpanic",
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
        }
    }
}

/// TLS settings for one side (client-facing or peer-facing), as the flags
/// give them; `ServeOptions` turns them into `etcd_transport::TlsInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Server certificate (`--cert-file` / `--peer-cert-file`).
    pub cert_file: Option<PathBuf>,
    /// Server private key (`--key-file` / `--peer-key-file`).
    pub key_file: Option<PathBuf>,
    /// Certificate used when this member dials out as a TLS client
    /// (`--client-cert-file` / `--peer-client-cert-file`).
    pub client_cert_file: Option<PathBuf>,
    /// Key for `client_cert_file` (`--client-key-file` / `--peer-client-key-file`).
    pub client_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to
    /// (`--trusted-ca-file` / `--peer-trusted-ca-file`).
    pub trusted_ca_file: Option<PathBuf>,
    /// Certificate revocation list (`--client-crl-file` / `--peer-crl-file`).
    pub crl_file: Option<PathBuf>,
    /// Require and verify client certificates
    /// (`--client-cert-auth` / `--peer-client-cert-auth`).
    pub client_cert_auth: bool,
    /// Generate self-signed certificates (`--auto-tls` / `--peer-auto-tls`).
    pub auto_tls: bool,
    /// Accepted client certificate CNs (`--peer-cert-allowed-cn`; YAML `allowed-cn`).
    pub allowed_cns: Vec<String>,
    /// Accepted client certificate SAN hostnames
    /// (`--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`).
    pub allowed_hostnames: Vec<String>,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Flags and `ETCD_*` variables.
    CommandLine,
    /// A `--config-file` YAML file (flags and variables were ignored).
    File(PathBuf),
}

/// Severity of a [`Notice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Worth knowing (e.g. an `ETCD_*` variable was used).
    Info,
    /// Probably a mistake or a deprecated setting.
    Warn,
}

/// Something etcd logs while reading its configuration, kept until logging
/// is up so it can be printed in etcd's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Info or warn.
    pub level: NoticeLevel,
    /// etcd's message text (`msg`).
    pub message: String,
    /// Structured fields, in order, as etcd names them.
    pub fields: Vec<(&'static str, String)>,
}

impl Notice {
    pub(crate) fn info(message: impl Into<String>, fields: Vec<(&'static str, String)>) -> Notice {
        Notice {
            level: NoticeLevel::Info,
            message: message.into(),
            fields,
        }
    }

    pub(crate) fn warn(message: impl Into<String>, fields: Vec<(&'static str, String)>) -> Notice {
        Notice {
            level: NoticeLevel::Warn,
            message: message.into(),
            fields,
        }
    }
}

/// A flag that was set to a non-default value but etcd-rs ignores for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The flag name without dashes, e.g. `enable-pprof`.
    pub flag: &'static str,
}

/// The resolved server configuration: one typed field per etcd 3.5 server
/// flag, holding etcd's default unless a flag, variable or file set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // ---- member -------------------------------------------------------
    /// `--name`: human-readable member name; keys `--initial-cluster`.
    pub name: String,
    /// `--data-dir`: where the member keeps its data; `None` means
    /// `<name>.etcd` (see [`Config::data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// `--wal-dir`: a separate directory for the write-ahead log; `None`
    /// means `<data-dir>/member/wal` (see [`Config::wal_dir`]).
    pub wal_dir: Option<PathBuf>,
    /// `--snapshot-count`: committed entries between snapshots (0 means the
    /// default, 100000).
    pub snapshot_count: u64,
    /// `--heartbeat-interval`: leader heartbeat period, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// `--election-timeout`: how long a follower waits for a heartbeat before
    /// campaigning, in milliseconds (at least 5 heartbeats, at most 50 s).
    pub election_timeout_ms: u64,
    /// `--initial-election-tick-advance`: fast-forward election ticks at boot
    /// so a fresh cluster elects sooner.
    pub initial_election_tick_advance: bool,
    /// `--listen-peer-urls`: where to accept raft traffic from other members.
    pub listen_peer_urls: Vec<Url>,
    /// `--listen-client-urls`: where to accept client gRPC (and HTTP) traffic.
    pub listen_client_urls: Vec<Url>,
    /// `--listen-client-http-urls`: separate listeners for HTTP-only client
    /// traffic (gateway, /health, /metrics), taking HTTP off the client URLs.
    pub listen_client_http_urls: Vec<Url>,
    /// `--max-snapshots`: snapshot files to keep (0 = unlimited).
    pub max_snapshots: u64,
    /// `--max-wals`: WAL files to keep (0 = unlimited).
    pub max_wals: u64,
    /// `--quota-backend-bytes`: backend size that raises the NOSPACE alarm
    /// (0 = the 2 GiB default; negative disables the quota).
    pub quota_backend_bytes: i64,
    /// `--backend-bbolt-freelist-type`: bbolt freelist layout (`map`/`array`).
    pub backend_bbolt_freelist_type: String,
    /// `--backend-batch-interval`: longest time a backend write batch stays
    /// open before commit (0 = backend default).
    pub backend_batch_interval: Duration,
    /// `--backend-batch-limit`: most writes in one backend batch (0 = default).
    pub backend_batch_limit: i64,
    /// `--max-txn-ops`: most operations in one Txn request.
    pub max_txn_ops: u64,
    /// `--max-request-bytes`: largest client request accepted.
    pub max_request_bytes: u64,
    /// `--max-concurrent-streams`: HTTP/2 streams one client connection may
    /// open at once.
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-min-time`: the shortest ping interval clients may use.
    pub grpc_keepalive_min_time: Duration,
    /// `--grpc-keepalive-interval`: how often the server pings an idle
    /// connection (0 disables).
    pub grpc_keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout`: how long to wait for a ping reply before
    /// closing the connection (0 disables).
    pub grpc_keepalive_timeout: Duration,
    /// `--socket-reuse-port`: set SO_REUSEPORT on listeners.
    pub socket_reuse_port: bool,
    /// `--socket-reuse-address`: set SO_REUSEADDR on listeners.
    pub socket_reuse_address: bool,
    /// `--raft-read-timeout`: read deadline on peer connections (minimum 5 s).
    pub raft_read_timeout: Duration,
    /// `--raft-write-timeout`: write deadline on peer connections (minimum 5 s).
    pub raft_write_timeout: Duration,

    // ---- clustering ---------------------------------------------------
    /// `--initial-advertise-peer-urls`: this member's peer URLs as the rest
    /// of the cluster should dial them.
    pub initial_advertise_peer_urls: Vec<Url>,
    /// `--initial-cluster`: `name=peerURL,...` for bootstrapping; derived
    /// from `--name` and the advertised peer URLs when left at its default.
    pub initial_cluster: String,
    /// `--initial-cluster-state`: bootstrap a new cluster or join one.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`: mixed into member and cluster IDs so two
    /// clusters built from the same URLs do not mistake each other.
    pub initial_cluster_token: String,
    /// `--advertise-client-urls`: client URLs published to clients and other
    /// members; required when `--listen-client-urls` is set.
    pub advertise_client_urls: Vec<Url>,
    /// `--discovery`: discovery service URL for bootstrapping (not supported).
    pub discovery: String,
    /// `--discovery-fallback`: `exit` or `proxy` when discovery finds a full
    /// cluster.
    pub discovery_fallback: String,
    /// `--discovery-proxy`: HTTP proxy for the discovery service.
    pub discovery_proxy: String,
    /// `--discovery-srv`: DNS domain whose SRV records list the cluster (not
    /// supported).
    pub discovery_srv: String,
    /// `--discovery-srv-name`: suffix of the SRV service name (not supported).
    pub discovery_srv_name: String,
    /// `--strict-reconfig-check`: refuse membership changes that would lose
    /// quorum.
    pub strict_reconfig_check: bool,
    /// `--pre-vote`: run raft's pre-vote phase before campaigning.
    pub pre_vote: bool,
    /// `--auto-compaction-retention`: hours or a duration (periodic mode) or
    /// a revision count (revision mode); `0` disables. See
    /// [`Config::auto_compaction`].
    pub auto_compaction_retention: String,
    /// `--auto-compaction-mode`: how to read the retention; `None` (only
    /// possible from a config file without the key) disables it, as in etcd.
    pub auto_compaction_mode: Option<CompactionMode>,
    /// `--enable-v2`: serve the v2 API.
    pub enable_v2: bool,
    /// `--experimental-enable-v2v3`: key prefix for v2 emulated on v3.
    pub experimental_enable_v2v3: String,
    /// `--v2-deprecation`: v2 store deprecation stage.
    pub v2_deprecation: String,

    // ---- security -----------------------------------------------------
    /// Client-facing TLS (`--cert-file`, `--key-file`, `--trusted-ca-file`, ...).
    pub client_tls: TlsConfig,
    /// Peer-facing TLS (`--peer-cert-file`, `--peer-key-file`, ...).
    pub peer_tls: TlsConfig,
    /// `--self-signed-cert-validity`: years that auto-TLS certificates last.
    pub self_signed_cert_validity: u64,
    /// `--cipher-suites`: allowed TLS cipher suites (empty = library default).
    pub cipher_suites: Vec<String>,
    /// `--tls-min-version`: lowest TLS version (`TLS1.2`, `TLS1.3`).
    pub tls_min_version: String,
    /// `--tls-max-version`: highest TLS version (empty = library default).
    pub tls_max_version: String,
    /// `--experimental-peer-skip-client-san-verification`: do not check SANs
    /// of peer client certificates.
    pub experimental_peer_skip_client_san_verification: bool,
    /// `--cors`: allowed CORS origins for the HTTP API (`*` = any).
    pub cors: Vec<String>,
    /// `--host-whitelist`: accepted HTTP Host headers on insecure listeners
    /// (`*` = any); protects against DNS rebinding.
    pub host_whitelist: Vec<String>,

    // ---- auth ---------------------------------------------------------
    /// `--auth-token`: token type and options (`simple`, `jwt,...`).
    pub auth_token: String,
    /// `--bcrypt-cost`: bcrypt cost for password hashes (4..=31).
    pub bcrypt_cost: u64,
    /// `--auth-token-ttl`: lifetime of a simple token, in seconds.
    pub auth_token_ttl: u64,

    // ---- monitoring ---------------------------------------------------
    /// `--enable-pprof`: serve Go's profiler endpoints.
    pub enable_pprof: bool,
    /// `--metrics`: `basic` or `extensive` (adds gRPC latency histograms).
    pub metrics: String,
    /// `--listen-metrics-urls`: extra listeners for /metrics and /health.
    pub listen_metrics_urls: Vec<Url>,
    /// `--enable-grpc-gateway`: serve the JSON gateway for the v3 API.
    pub enable_grpc_gateway: bool,

    // ---- logging ------------------------------------------------------
    /// `--logger`: `zap` (JSON lines; `capnslog` is accepted with a warning).
    pub logger: String,
    /// `--log-outputs`: `default` (stderr), `stderr`, `stdout`,
    /// `systemd/journal` or file paths.
    pub log_outputs: Vec<String>,
    /// `--log-level`: lowest level written.
    pub log_level: LogLevel,
    /// `--log-format` (etcd 3.6): `json` (etcd-rs writes JSON only) or
    /// `console`.
    pub log_format: String,
    /// `--enable-log-rotation`: rotate the single file in `--log-outputs`.
    pub enable_log_rotation: bool,
    /// `--log-rotation-config-json`: rotation limits as JSON.
    pub log_rotation_config_json: String,

    // ---- distributed tracing ------------------------------------------
    /// `--experimental-enable-distributed-tracing`: export OpenTelemetry spans.
    pub experimental_enable_distributed_tracing: bool,
    /// `--experimental-distributed-tracing-address`: collector address.
    pub experimental_distributed_tracing_address: String,
    /// `--experimental-distributed-tracing-service-name`: service name on spans.
    pub experimental_distributed_tracing_service_name: String,
    /// `--experimental-distributed-tracing-instance-id`: instance ID on spans.
    pub experimental_distributed_tracing_instance_id: String,
    /// `--experimental-distributed-tracing-sampling-rate`: spans sampled per
    /// million (0..=1000000).
    pub experimental_distributed_tracing_sampling_rate: i64,

    // ---- v2 proxy -----------------------------------------------------
    /// `--proxy`: run as a v2 proxy (`off`, `readonly`, `on`).
    pub proxy: String,
    /// `--proxy-failure-wait`: ms an endpoint stays marked failed.
    pub proxy_failure_wait: u64,
    /// `--proxy-refresh-interval`: ms between endpoint refreshes.
    pub proxy_refresh_interval: u64,
    /// `--proxy-dial-timeout`: ms to dial an endpoint.
    pub proxy_dial_timeout: u64,
    /// `--proxy-write-timeout`: ms for a proxied write.
    pub proxy_write_timeout: u64,
    /// `--proxy-read-timeout`: ms for a proxied read (0 = none).
    pub proxy_read_timeout: u64,

    // ---- experimental -------------------------------------------------
    /// `--feature-gates` (etcd 3.6) together with the etcd 3.5 boolean flags
    /// that became gates (`--experimental-initial-corrupt-check`,
    /// `--experimental-enable-lease-checkpoint[-persist]`, ...).
    pub feature_gates: FeatureGates,
    /// `--experimental-corrupt-check-time`: period of the cluster hash check
    /// (0 = off).
    pub experimental_corrupt_check_time: Duration,
    /// `--experimental-compact-hash-check-time`: period of that check (> 0).
    pub experimental_compact_hash_check_time: Duration,
    /// `--experimental-compaction-batch-limit`: revisions deleted per
    /// compaction batch (0 = server default, 1000).
    pub experimental_compaction_batch_limit: i64,
    /// `--experimental-compaction-sleep-interval`: pause between compaction
    /// batches (0 = server default).
    pub experimental_compaction_sleep_interval: Duration,
    /// `--experimental-watch-progress-notify-interval`: period of progress
    /// notifications to watchers that asked for them (0 = server default, 10 min).
    pub experimental_watch_progress_notify_interval: Duration,
    /// `--experimental-downgrade-check-time`: period of the downgrade check.
    pub experimental_downgrade_check_time: Duration,
    /// `--experimental-warning-apply-duration`: applies slower than this are
    /// logged.
    pub experimental_warning_apply_duration: Duration,
    /// `--experimental-memory-mlock`: lock the process's memory in RAM.
    pub experimental_memory_mlock: bool,
    /// `--experimental-bootstrap-defrag-threshold-megabytes`: defragment at
    /// boot if that would free at least this much (0 = never).
    pub experimental_bootstrap_defrag_threshold_megabytes: u64,
    /// `--experimental-snapshot-catchup-entries`: entries kept after a raft log
    /// compaction for slow followers to catch up from.
    pub experimental_snapshot_catchup_entries: u64,

    // ---- unsafe -------------------------------------------------------
    /// `--force-new-cluster`: restart as a one-member cluster, dropping the
    /// other members.
    pub force_new_cluster: bool,
    /// `--unsafe-no-fsync`: skip fsync (data loss on crash).
    pub unsafe_no_fsync: bool,

    // ---- bookkeeping --------------------------------------------------
    /// `--config-file` (or `ETCD_CONFIG_FILE`) when one was used.
    pub config_file: Option<PathBuf>,
    /// Whether flags/variables or a file produced this configuration.
    pub source: ConfigSource,
    /// Messages etcd would log while reading the configuration.
    notices: Vec<Notice>,
    /// Flags set to a non-default value that etcd-rs ignores.
    unsupported: Vec<Unsupported>,
}

/// `--name`'s default.
pub const DEFAULT_NAME: &str = "default";
/// `--listen-peer-urls` and `--initial-advertise-peer-urls` default.
pub const DEFAULT_PEER_URL: &str = "http://localhost:2380";
/// `--listen-client-urls` and `--advertise-client-urls` default.
pub const DEFAULT_CLIENT_URL: &str = "http://localhost:2379";
/// `--log-outputs` value meaning "etcd's default target" (stderr).
pub const DEFAULT_LOG_OUTPUT: &str = "default";

fn default_url(raw: &str) -> Vec<Url> {
    // The defaults are constants known to parse; an empty list would only
    // ever show up if one of them were edited into something invalid.
    Url::parse(raw).map(|u| vec![u]).unwrap_or_default()
}

impl Default for Config {
    /// etcd's defaults as the command line sees them.
    fn default() -> Config {
        let peer = default_url(DEFAULT_PEER_URL);
        let client = default_url(DEFAULT_CLIENT_URL);
        let mut cfg = Config {
            name: DEFAULT_NAME.to_string(),
            data_dir: None,
            wal_dir: None,
            snapshot_count: 100_000,
            heartbeat_interval_ms: 100,
            election_timeout_ms: 1000,
            initial_election_tick_advance: true,
            listen_peer_urls: peer.clone(),
            listen_client_urls: client.clone(),
            listen_client_http_urls: Vec::new(),
            max_snapshots: 5,
            max_wals: 5,
            quota_backend_bytes: 0,
            backend_bbolt_freelist_type: "map".to_string(),
            backend_batch_interval: Duration::ZERO,
            backend_batch_limit: 0,
            max_txn_ops: 128,
            max_request_bytes: 1_572_864,
            max_concurrent_streams: u32::MAX,
            grpc_keepalive_min_time: Duration::from_secs(5),
            grpc_keepalive_interval: Duration::from_secs(2 * 3600),
            grpc_keepalive_timeout: Duration::from_secs(20),
            socket_reuse_port: false,
            socket_reuse_address: false,
            raft_read_timeout: Duration::from_secs(5),
            raft_write_timeout: Duration::from_secs(5),
            initial_advertise_peer_urls: peer,
            initial_cluster: String::new(),
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: "etcd-cluster".to_string(),
            advertise_client_urls: client,
            discovery: String::new(),
            discovery_fallback: "proxy".to_string(),
            discovery_proxy: String::new(),
            discovery_srv: String::new(),
            discovery_srv_name: String::new(),
            strict_reconfig_check: true,
            pre_vote: true,
            auto_compaction_retention: "0".to_string(),
            auto_compaction_mode: Some(CompactionMode::Periodic),
            enable_v2: false,
            experimental_enable_v2v3: String::new(),
            v2_deprecation: "not-yet".to_string(),
            client_tls: TlsConfig::default(),
            peer_tls: TlsConfig::default(),
            self_signed_cert_validity: 1,
            cipher_suites: Vec::new(),
            tls_min_version: "TLS1.2".to_string(),
            tls_max_version: String::new(),
            experimental_peer_skip_client_san_verification: false,
            cors: vec!["*".to_string()],
            host_whitelist: vec!["*".to_string()],
            auth_token: "simple".to_string(),
            bcrypt_cost: 10,
            auth_token_ttl: 300,
            enable_pprof: false,
            metrics: "basic".to_string(),
            listen_metrics_urls: Vec::new(),
            enable_grpc_gateway: true,
            logger: "zap".to_string(),
            log_outputs: vec![DEFAULT_LOG_OUTPUT.to_string()],
            log_level: LogLevel::Info,
            log_format: "json".to_string(),
            enable_log_rotation: false,
            log_rotation_config_json:
                r#"{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}"#
                    .to_string(),
            experimental_enable_distributed_tracing: false,
            experimental_distributed_tracing_address: "localhost:4317".to_string(),
            experimental_distributed_tracing_service_name: "etcd".to_string(),
            experimental_distributed_tracing_instance_id: String::new(),
            experimental_distributed_tracing_sampling_rate: 0,
            proxy: "off".to_string(),
            proxy_failure_wait: 5000,
            proxy_refresh_interval: 30000,
            proxy_dial_timeout: 1000,
            proxy_write_timeout: 5000,
            proxy_read_timeout: 0,
            feature_gates: FeatureGates::default(),
            experimental_corrupt_check_time: Duration::ZERO,
            experimental_compact_hash_check_time: Duration::from_secs(60),
            experimental_compaction_batch_limit: 0,
            experimental_compaction_sleep_interval: Duration::ZERO,
            experimental_watch_progress_notify_interval: Duration::ZERO,
            experimental_downgrade_check_time: Duration::from_secs(5),
            experimental_warning_apply_duration: Duration::from_millis(100),
            experimental_memory_mlock: false,
            experimental_bootstrap_defrag_threshold_megabytes: 0,
            experimental_snapshot_catchup_entries: 5000,
            force_new_cluster: false,
            unsafe_no_fsync: false,
            config_file: None,
            source: ConfigSource::CommandLine,
            notices: Vec::new(),
            unsupported: Vec::new(),
        };
        cfg.initial_cluster =
            cluster::initial_cluster_from_name(&cfg.name, &cfg.initial_advertise_peer_urls);
        cfg
    }
}

impl Config {
    /// Resolves the configuration from the command line (`args`, including
    /// `argv[0]`) and the process environment (`env`, e.g. `std::env::vars_os()`).
    pub fn parse<I, A, E, K, V>(args: I, env: E) -> Result<ParseOutcome, ConfigError>
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
        E: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.into().to_string_lossy().into_owned())
            .collect();
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| {
                (
                    k.into().to_string_lossy().into_owned(),
                    v.into().to_string_lossy().into_owned(),
                )
            })
            .collect();
        argv::resolve(args.get(1..).unwrap_or_default(), &env)
    }

    /// The data directory: `--data-dir`, or `<name>.etcd` when unset.
    pub fn data_dir(&self) -> PathBuf {
        match &self.data_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(format!("{}.etcd", self.name)),
        }
    }

    /// The WAL directory: `--wal-dir`, or `<data-dir>/member/wal`.
    pub fn wal_dir(&self) -> PathBuf {
        match &self.wal_dir {
            Some(dir) => dir.clone(),
            None => self.data_dir().join("member").join("wal"),
        }
    }

    /// The member directory inside the data directory (`<data-dir>/member`).
    pub fn member_dir(&self) -> PathBuf {
        self.data_dir().join("member")
    }

    /// Messages etcd logs while reading its configuration (used environment
    /// variables, unknown `ETCD_*` variables, deprecated flags, ...), to be
    /// logged once logging is up; see [`crate::logging::log_config_notices`].
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// Flags set to a non-default value that etcd-rs accepts but ignores for
    /// now; each deserves a "flag is not yet supported by etcd-rs; ignoring"
    /// warning at startup.
    pub fn unsupported(&self) -> &[Unsupported] {
        &self.unsupported
    }

    /// The auto-compaction policy from `--auto-compaction-mode` and
    /// `--auto-compaction-retention` (checked during [`Config::parse`]).
    pub fn auto_compaction(&self) -> AutoCompaction {
        compaction::resolve(self.auto_compaction_mode, &self.auto_compaction_retention)
            .unwrap_or(AutoCompaction::Disabled)
    }

    /// Parses `--initial-cluster` into member name → peer URLs, as etcd does
    /// when it bootstraps a member with an empty data directory.
    pub fn initial_cluster_members(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Vec<Url>>, ConfigError> {
        cluster::parse_initial_cluster(&self.initial_cluster)
    }

    /// The heartbeat interval as a [`Duration`].
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// The election timeout as a [`Duration`].
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms)
    }
}
