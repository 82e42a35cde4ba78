//! `--config-file`: etcd's YAML configuration file.
//!
//! Keys are etcd's (`name`, `data-dir`, `listen-client-urls` as a
//! comma-separated string, `log-outputs` as a list,
//! `client-transport-security: {cert-file, ...}`, ...). As in etcd, the file
//! is the whole configuration: flags and `ETCD_*` variables are ignored;
//! durations are integers in nanoseconds; unknown keys are ignored; keys left
//! out keep etcd's library defaults, which differ from the flag defaults in
//! a few places (no `auto-compaction-mode`, an empty `tls-min-version`, ...).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::url::Url;
use super::value::go_quote;
use super::{
    ClusterState, CompactionMode, Config, ConfigError, ConfigSource, Gate, LogLevel, Notice,
};

/// The defaults a config file starts from (etcd's `embed.NewConfig`).
pub(crate) fn defaults() -> Config {
    Config {
        auto_compaction_mode: None,
        auto_compaction_retention: String::new(),
        tls_min_version: String::new(),
        experimental_distributed_tracing_address: String::new(),
        experimental_distributed_tracing_service_name: String::new(),
        ..Config::default()
    }
}

/// Reads, decodes and checks the file at `path`.
pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        ConfigError::File(format!("open {}: {reason}", path.display()))
    })?;
    let mut cfg = from_yaml(&text)?;
    cfg.config_file = Some(path.to_path_buf());
    cfg.source = ConfigSource::File(path.to_path_buf());
    cfg.notices.push(Notice::info(
        "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided",
        vec![("path", path.display().to_string())],
    ));
    Ok(cfg)
}

/// Decodes YAML text into a configuration (not yet checked).
pub(crate) fn from_yaml(text: &str) -> Result<Config, ConfigError> {
    let decode_err =
        |e: serde_yaml_ng::Error| ConfigError::File(format!("error unmarshaling YAML: {e}"));
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(decode_err)?;
    let present = explicit_keys(&value);
    let file: FileConfig = if value.is_null() {
        FileConfig::default()
    } else {
        serde_yaml_ng::from_value(value).map_err(decode_err)?
    };
    let cfg = file.into_config()?;
    super::validate::check_renamed(|name| present.contains(name))?;
    Ok(cfg)
}

/// The settings a file names, as flag names: its top-level keys, with
/// etcd's two exceptions (a misspelt 3.5 key, and 3.6's peer SAN setting
/// inside `peer-transport-security`).
fn explicit_keys(value: &serde_yaml_ng::Value) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    let Some(map) = value.as_mapping() else {
        return keys;
    };
    for (key, inner) in map {
        let Some(key) = key.as_str() else { continue };
        match key {
            "experimental-snapshot-catch-up-entries" => {
                keys.insert("experimental-snapshot-catchup-entries".to_string());
            }
            "peer-transport-security" if inner.get("skip-client-san-verification").is_some() => {
                keys.insert("peer-skip-client-san-verification".to_string());
            }
            _ => {}
        }
        keys.insert(key.to_string());
    }
    keys
}

/// A duration as etcd's YAML holds it: integer nanoseconds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
struct Nanos(i64);

impl Nanos {
    fn duration(self) -> Duration {
        // Negative durations have no meaning for any of these settings.
        Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }
}

/// `client-transport-security` / `peer-transport-security`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Security {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_cert_file: Option<String>,
    client_key_file: Option<String>,
    client_cert_auth: Option<bool>,
    trusted_ca_file: Option<String>,
    auto_tls: Option<bool>,
    allowed_cn: Option<Vec<String>>,
    allowed_hostname: Option<Vec<String>>,
    /// etcd 3.6's place for `--peer-skip-client-san-verification`.
    skip_client_san_verification: Option<bool>,
}

/// `socket-options`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SocketOptions {
    reuse_port: Option<bool>,
    reuse_address: Option<bool>,
}

/// Every key etcd 3.5 reads from its config file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    name: Option<String>,
    data_dir: Option<String>,
    wal_dir: Option<String>,
    snapshot_count: Option<u64>,
    experimental_snapshot_catch_up_entries: Option<u64>,
    max_snapshots: Option<u64>,
    max_wals: Option<u64>,
    heartbeat_interval: Option<u64>,
    election_timeout: Option<u64>,
    initial_election_tick_advance: Option<bool>,
    backend_batch_interval: Option<Nanos>,
    backend_batch_limit: Option<i64>,
    backend_bbolt_freelist_type: Option<String>,
    quota_backend_bytes: Option<i64>,
    max_txn_ops: Option<u64>,
    max_request_bytes: Option<u64>,
    max_concurrent_streams: Option<u32>,
    listen_peer_urls: Option<String>,
    listen_client_urls: Option<String>,
    listen_client_http_urls: Option<String>,
    initial_advertise_peer_urls: Option<String>,
    advertise_client_urls: Option<String>,
    listen_metrics_urls: Option<String>,
    cors: Option<String>,
    host_whitelist: Option<String>,
    client_transport_security: Option<Security>,
    peer_transport_security: Option<Security>,
    self_signed_cert_validity: Option<u64>,
    cipher_suites: Option<Vec<String>>,
    tls_min_version: Option<String>,
    tls_max_version: Option<String>,
    initial_cluster_state: Option<String>,
    discovery_srv: Option<String>,
    discovery_srv_name: Option<String>,
    discovery_proxy: Option<String>,
    discovery: Option<String>,
    discovery_fallback: Option<String>,
    initial_cluster: Option<String>,
    initial_cluster_token: Option<String>,
    strict_reconfig_check: Option<bool>,
    enable_v2: Option<bool>,
    auto_compaction_mode: Option<String>,
    auto_compaction_retention: Option<String>,
    grpc_keepalive_min_time: Option<Nanos>,
    grpc_keepalive_interval: Option<Nanos>,
    grpc_keepalive_timeout: Option<Nanos>,
    socket_options: Option<SocketOptions>,
    pre_vote: Option<bool>,
    auth_token: Option<String>,
    bcrypt_cost: Option<u64>,
    auth_token_ttl: Option<u64>,
    experimental_initial_corrupt_check: Option<bool>,
    experimental_corrupt_check_time: Option<Nanos>,
    experimental_compact_hash_check_enabled: Option<bool>,
    experimental_compact_hash_check_time: Option<Nanos>,
    experimental_enable_v2v3: Option<String>,
    experimental_enable_lease_checkpoint: Option<bool>,
    experimental_enable_lease_checkpoint_persist: Option<bool>,
    experimental_compaction_batch_limit: Option<i64>,
    experimental_compaction_sleep_interval: Option<Nanos>,
    experimental_watch_progress_notify_interval: Option<Nanos>,
    experimental_warning_apply_duration: Option<Nanos>,
    experimental_bootstrap_defrag_threshold_megabytes: Option<u64>,
    experimental_downgrade_check_time: Option<Nanos>,
    experimental_memory_mlock: Option<bool>,
    experimental_txn_mode_write_with_shared_buffer: Option<bool>,
    experimental_stop_grpc_service_on_defrag: Option<bool>,
    experimental_enable_distributed_tracing: Option<bool>,
    experimental_distributed_tracing_address: Option<String>,
    experimental_distributed_tracing_service_name: Option<String>,
    experimental_distributed_tracing_instance_id: Option<String>,
    experimental_distributed_tracing_sampling_rate: Option<i64>,
    experimental_peer_skip_client_san_verification: Option<bool>,
    // etcd 3.6's names for the experimental settings above.
    compact_hash_check_time: Option<Nanos>,
    corrupt_check_time: Option<Nanos>,
    compaction_batch_limit: Option<i64>,
    compaction_sleep_interval: Option<Nanos>,
    watch_progress_notify_interval: Option<Nanos>,
    warning_apply_duration: Option<Nanos>,
    bootstrap_defrag_threshold_megabytes: Option<u64>,
    downgrade_check_time: Option<Nanos>,
    memory_mlock: Option<bool>,
    snapshot_catchup_entries: Option<u64>,
    enable_distributed_tracing: Option<bool>,
    distributed_tracing_address: Option<String>,
    distributed_tracing_service_name: Option<String>,
    distributed_tracing_instance_id: Option<String>,
    distributed_tracing_sampling_rate: Option<i64>,
    /// etcd 3.6: the `--feature-gates` text, `Name=bool,...`.
    feature_gates: Option<String>,
    log_format: Option<String>,
    force_new_cluster: Option<bool>,
    unsafe_no_fsync: Option<bool>,
    enable_pprof: Option<bool>,
    metrics: Option<String>,
    enable_grpc_gateway: Option<bool>,
    logger: Option<String>,
    log_level: Option<String>,
    log_outputs: Option<Vec<String>>,
    enable_log_rotation: Option<bool>,
    log_rotation_config_json: Option<String>,
    v2_deprecation: Option<String>,
    proxy: Option<String>,
    proxy_failure_wait: Option<u64>,
    proxy_refresh_interval: Option<u64>,
    proxy_dial_timeout: Option<u64>,
    proxy_write_timeout: Option<u64>,
    proxy_read_timeout: Option<u64>,
}

/// Copies `Some` values over the defaults.
macro_rules! take {
    ($cfg:ident, $file:ident, { $($key:ident => $($field:ident).+ $(via $conv:expr)?),* $(,)? }) => {
        $(
            if let Some(v) = $file.$key {
                $cfg.$($field).+ = take!(@conv v $(, $conv)?);
            }
        )*
    };
    (@conv $v:ident) => { $v };
    (@conv $v:ident, $conv:expr) => { ($conv)($v) };
}

/// A comma-separated URL list from the file, with etcd's message on failure.
fn urls(key: &str, raw: &str) -> Result<Vec<Url>, ConfigError> {
    Url::parse_list(raw)
        .map_err(|e| ConfigError::File(format!("unexpected error setting up {key}: {e}")))
}

fn dir(s: String) -> Option<std::path::PathBuf> {
    (!s.is_empty()).then(|| s.into())
}

fn nanos(n: Nanos) -> Duration {
    n.duration()
}

impl FileConfig {
    fn into_config(self) -> Result<Config, ConfigError> {
        let mut cfg = defaults();
        let default_initial_cluster = cfg.initial_cluster.clone();
        let f = self;
        take!(cfg, f, {
            name => name,
            data_dir => data_dir via dir,
            wal_dir => wal_dir via dir,
            snapshot_count => snapshot_count,
            experimental_snapshot_catch_up_entries => experimental_snapshot_catchup_entries,
            max_snapshots => max_snapshots,
            max_wals => max_wals,
            heartbeat_interval => heartbeat_interval_ms,
            election_timeout => election_timeout_ms,
            initial_election_tick_advance => initial_election_tick_advance,
            backend_batch_interval => backend_batch_interval via nanos,
            backend_batch_limit => backend_batch_limit,
            backend_bbolt_freelist_type => backend_bbolt_freelist_type,
            quota_backend_bytes => quota_backend_bytes,
            max_txn_ops => max_txn_ops,
            max_request_bytes => max_request_bytes,
            max_concurrent_streams => max_concurrent_streams,
            self_signed_cert_validity => self_signed_cert_validity,
            cipher_suites => cipher_suites,
            tls_min_version => tls_min_version,
            tls_max_version => tls_max_version,
            discovery_srv => discovery_srv,
            discovery_srv_name => discovery_srv_name,
            discovery_proxy => discovery_proxy,
            discovery => discovery,
            initial_cluster => initial_cluster,
            initial_cluster_token => initial_cluster_token,
            strict_reconfig_check => strict_reconfig_check,
            enable_v2 => enable_v2,
            auto_compaction_retention => auto_compaction_retention,
            grpc_keepalive_min_time => grpc_keepalive_min_time via nanos,
            grpc_keepalive_interval => grpc_keepalive_interval via nanos,
            grpc_keepalive_timeout => grpc_keepalive_timeout via nanos,
            pre_vote => pre_vote,
            auth_token => auth_token,
            bcrypt_cost => bcrypt_cost,
            auth_token_ttl => auth_token_ttl,
            experimental_corrupt_check_time => experimental_corrupt_check_time via nanos,
            experimental_compact_hash_check_time => experimental_compact_hash_check_time via nanos,
            experimental_enable_v2v3 => experimental_enable_v2v3,
            experimental_compaction_batch_limit => experimental_compaction_batch_limit,
            experimental_compaction_sleep_interval => experimental_compaction_sleep_interval via nanos,
            experimental_watch_progress_notify_interval => experimental_watch_progress_notify_interval via nanos,
            experimental_warning_apply_duration => experimental_warning_apply_duration via nanos,
            experimental_bootstrap_defrag_threshold_megabytes => experimental_bootstrap_defrag_threshold_megabytes,
            experimental_downgrade_check_time => experimental_downgrade_check_time via nanos,
            experimental_memory_mlock => experimental_memory_mlock,
            experimental_enable_distributed_tracing => experimental_enable_distributed_tracing,
            experimental_distributed_tracing_address => experimental_distributed_tracing_address,
            experimental_distributed_tracing_service_name => experimental_distributed_tracing_service_name,
            experimental_distributed_tracing_instance_id => experimental_distributed_tracing_instance_id,
            experimental_distributed_tracing_sampling_rate => experimental_distributed_tracing_sampling_rate,
            experimental_peer_skip_client_san_verification => experimental_peer_skip_client_san_verification,
            compact_hash_check_time => experimental_compact_hash_check_time via nanos,
            corrupt_check_time => experimental_corrupt_check_time via nanos,
            compaction_batch_limit => experimental_compaction_batch_limit,
            compaction_sleep_interval => experimental_compaction_sleep_interval via nanos,
            watch_progress_notify_interval => experimental_watch_progress_notify_interval via nanos,
            warning_apply_duration => experimental_warning_apply_duration via nanos,
            bootstrap_defrag_threshold_megabytes => experimental_bootstrap_defrag_threshold_megabytes,
            downgrade_check_time => experimental_downgrade_check_time via nanos,
            memory_mlock => experimental_memory_mlock,
            snapshot_catchup_entries => experimental_snapshot_catchup_entries,
            enable_distributed_tracing => experimental_enable_distributed_tracing,
            distributed_tracing_address => experimental_distributed_tracing_address,
            distributed_tracing_service_name => experimental_distributed_tracing_service_name,
            distributed_tracing_instance_id => experimental_distributed_tracing_instance_id,
            distributed_tracing_sampling_rate => experimental_distributed_tracing_sampling_rate,
            force_new_cluster => force_new_cluster,
            unsafe_no_fsync => unsafe_no_fsync,
            enable_pprof => enable_pprof,
            metrics => metrics,
            enable_grpc_gateway => enable_grpc_gateway,
            logger => logger,
            log_outputs => log_outputs,
            enable_log_rotation => enable_log_rotation,
            log_rotation_config_json => log_rotation_config_json,
            proxy_failure_wait => proxy_failure_wait,
            proxy_refresh_interval => proxy_refresh_interval,
            proxy_dial_timeout => proxy_dial_timeout,
            proxy_write_timeout => proxy_write_timeout,
            proxy_read_timeout => proxy_read_timeout,
        });

        let gate_keys = [
            (
                f.experimental_initial_corrupt_check,
                Gate::InitialCorruptCheck,
            ),
            (
                f.experimental_compact_hash_check_enabled,
                Gate::CompactHashCheck,
            ),
            (
                f.experimental_enable_lease_checkpoint,
                Gate::LeaseCheckpoint,
            ),
            (
                f.experimental_enable_lease_checkpoint_persist,
                Gate::LeaseCheckpointPersist,
            ),
            (
                f.experimental_txn_mode_write_with_shared_buffer,
                Gate::TxnModeWriteWithSharedBuffer,
            ),
            (
                f.experimental_stop_grpc_service_on_defrag,
                Gate::StopGrpcServiceOnDefrag,
            ),
        ];
        for (value, gate) in gate_keys {
            if let Some(on) = value {
                cfg.feature_gates.set_flag(gate, on);
            }
        }
        if let Some(text) = f.feature_gates.as_deref().filter(|s| !s.is_empty()) {
            cfg.feature_gates
                .set_gates(text)
                .map_err(ConfigError::Invalid)?;
        }
        cfg.feature_gates
            .conflicts()
            .map_err(ConfigError::Invalid)?;
        if let Some(format) = f.log_format {
            cfg.log_format = if format.is_empty() {
                "json".to_string()
            } else {
                format
            };
        }

        let url_keys = [
            (
                "listen-peer-urls",
                &f.listen_peer_urls,
                &mut cfg.listen_peer_urls,
            ),
            (
                "listen-client-urls",
                &f.listen_client_urls,
                &mut cfg.listen_client_urls,
            ),
            (
                "listen-client-http-urls",
                &f.listen_client_http_urls,
                &mut cfg.listen_client_http_urls,
            ),
            (
                "initial-advertise-peer-urls",
                &f.initial_advertise_peer_urls,
                &mut cfg.initial_advertise_peer_urls,
            ),
            (
                "advertise-client-urls",
                &f.advertise_client_urls,
                &mut cfg.advertise_client_urls,
            ),
            (
                "listen-metrics-urls",
                &f.listen_metrics_urls,
                &mut cfg.listen_metrics_urls,
            ),
        ];
        for (key, raw, field) in url_keys {
            if let Some(raw) = raw.as_deref().filter(|s| !s.is_empty()) {
                *field = urls(key, raw)?;
            }
        }
        if let Some(raw) = f.cors.as_deref().filter(|s| !s.is_empty()) {
            cfg.cors = if raw == "*" {
                vec!["*".to_string()]
            } else {
                urls("cors", raw)?.iter().map(Url::to_string).collect()
            };
        }
        if let Some(raw) = f.host_whitelist.as_deref().filter(|s| !s.is_empty()) {
            let mut hosts: Vec<String> = raw.split(',').map(str::to_string).collect();
            hosts.sort();
            hosts.dedup();
            cfg.host_whitelist = hosts;
        }
        if let Some(level) = f.log_level {
            cfg.log_level = LogLevel::parse(&level).map_err(ConfigError::Invalid)?;
        }
        if let Some(mode) = f.auto_compaction_mode.filter(|m| !m.is_empty()) {
            cfg.auto_compaction_mode =
                Some(CompactionMode::parse(&mode).map_err(ConfigError::Invalid)?);
        }
        if let Some(state) = f.initial_cluster_state.filter(|s| !s.is_empty()) {
            cfg.initial_cluster_state = match state.as_str() {
                "new" => ClusterState::New,
                "existing" => ClusterState::Existing,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "unexpected clusterState {}",
                        go_quote(other)
                    )));
                }
            };
        }
        if let Some(fallback) = f.discovery_fallback.filter(|s| !s.is_empty()) {
            if !matches!(fallback.as_str(), "exit" | "proxy") {
                return Err(ConfigError::Invalid(format!(
                    "unexpected error setting up discovery-fallback flag: invalid value {}",
                    go_quote(&fallback)
                )));
            }
            cfg.discovery_fallback = fallback;
        }
        if let Some(proxy) = f.proxy.filter(|s| !s.is_empty()) {
            if !matches!(proxy.as_str(), "off" | "readonly" | "on") {
                return Err(ConfigError::Invalid(format!(
                    "unexpected error setting up proxyFlag: invalid value {}",
                    go_quote(&proxy)
                )));
            }
            cfg.proxy = proxy;
        }
        if let Some(stage) = f.v2_deprecation.filter(|s| !s.is_empty()) {
            cfg.v2_deprecation = stage;
        }
        if let Some(opts) = f.socket_options {
            take!(cfg, opts, { reuse_port => socket_reuse_port, reuse_address => socket_reuse_address });
        }
        if let Some(sec) = f.client_transport_security {
            apply_security(&mut cfg.client_tls, sec);
        }
        if let Some(sec) = f.peer_transport_security {
            if let Some(skip) = sec.skip_client_san_verification {
                cfg.experimental_peer_skip_client_san_verification = skip;
            }
            apply_security(&mut cfg.peer_tls, sec);
        }
        if cfg.self_signed_cert_validity == 0 {
            cfg.self_signed_cert_validity = 1;
        }
        // A discovery source replaces the default initial cluster.
        if (!cfg.discovery.is_empty() || !cfg.discovery_srv.is_empty())
            && cfg.initial_cluster == default_initial_cluster
        {
            cfg.initial_cluster = String::new();
        }
        Ok(cfg)
    }
}

fn apply_security(tls: &mut super::TlsConfig, sec: Security) {
    take!(tls, sec, {
        cert_file => cert_file via dir,
        key_file => key_file via dir,
        client_cert_file => client_cert_file via dir,
        client_key_file => client_key_file via dir,
        client_cert_auth => client_cert_auth,
        trusted_ca_file => trusted_ca_file via dir,
        auto_tls => auto_tls,
        allowed_cn => allowed_cns,
        allowed_hostname => allowed_hostnames,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_library_defaults() {
        let cfg = from_yaml("# nothing here\n").unwrap();
        assert_eq!(cfg, defaults());
        assert_eq!(cfg.auto_compaction_mode, None);
        assert_eq!(cfg.initial_cluster, "default=http://localhost:2380");
    }

    #[test]
    fn reads_etcd_keys() {
        let cfg = from_yaml(
            r#"
name: infra1
data-dir: /var/lib/etcd
listen-client-urls: http://127.0.0.1:2379,http://10.0.0.1:2379
advertise-client-urls: http://10.0.0.1:2379
initial-cluster: infra1=http://10.0.0.1:2380
initial-cluster-state: existing
heartbeat-interval: 200
election-timeout: 2000
grpc-keepalive-min-time: 1000000000
log-outputs: [stdout]
log-level: debug
auto-compaction-mode: revision
auto-compaction-retention: "1000"
socket-options:
  reuse-port: true
client-transport-security:
  cert-file: /etc/etcd/server.crt
  client-cert-auth: true
  allowed-cn: [a, b]
unknown-key: ignored
"#,
        )
        .unwrap();
        assert_eq!(cfg.name, "infra1");
        assert_eq!(cfg.data_dir.as_deref(), Some(Path::new("/var/lib/etcd")));
        assert_eq!(cfg.listen_client_urls.len(), 2);
        assert_eq!(cfg.initial_cluster_state, ClusterState::Existing);
        assert_eq!(cfg.heartbeat_interval_ms, 200);
        assert_eq!(cfg.grpc_keepalive_min_time, Duration::from_secs(1));
        assert_eq!(cfg.log_outputs, vec!["stdout"]);
        assert_eq!(cfg.log_level, LogLevel::Debug);
        assert_eq!(cfg.auto_compaction_mode, Some(CompactionMode::Revision));
        assert!(cfg.socket_reuse_port);
        assert_eq!(
            cfg.client_tls.cert_file.as_deref(),
            Some(Path::new("/etc/etcd/server.crt"))
        );
        assert!(cfg.client_tls.client_cert_auth);
        assert_eq!(cfg.client_tls.allowed_cns, vec!["a", "b"]);
    }

    #[test]
    fn errors_read_like_etcd() {
        let err = from_yaml("listen-client-urls: foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected error setting up listen-client-urls: URL scheme must be http, https, unix, or unixs: foo"
        );
        let err = from_yaml("initial-cluster-state: maybe").unwrap_err();
        assert_eq!(err.to_string(), "unexpected clusterState \"maybe\"");
        // etcd does not turn numbers into strings for string keys.
        let err = from_yaml("auto-compaction-retention: 1").unwrap_err();
        assert!(
            err.to_string().starts_with("error unmarshaling YAML: "),
            "{err}"
        );
        let err = load(Path::new("/nonexistent/etcd.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "open /nonexistent/etcd.yaml: no such file or directory"
        );
    }

    #[test]
    fn discovery_clears_default_initial_cluster() {
        let cfg = from_yaml("discovery: https://discovery.etcd.io/x").unwrap();
        assert_eq!(cfg.initial_cluster, "");
    }
}
