//! etcd's consistency checks on a resolved configuration (its
//! `embed.Config.Validate`), in etcd's order and with etcd's messages:
//! logger settings, listen/advertise URLs, bootstrap flags, heartbeat vs
//! election timeout, advertise URLs, compaction mode, lease checkpoints,
//! TLS versions and tracing. Which flags etcd-rs implements is not decided
//! here (see `support.rs`).

use std::time::Duration;

use super::flags::RENAMED;
use super::url::{check_bind_urls, check_host_urls, join};
use super::value::{format_go_duration, go_quote};
use super::{Config, ConfigError, Gate, Notice, TlsConfig, DEFAULT_LOG_OUTPUT};

/// The longest election timeout etcd accepts, in milliseconds.
const MAX_ELECTION_MS: u64 = 50_000;

/// Runs every check; warnings etcd logs along the way go to the notices.
pub(crate) fn check(cfg: &mut Config) -> Result<(), ConfigError> {
    let invalid = ConfigError::Invalid;
    check_logging(cfg)?;
    check_bind_urls(&cfg.listen_peer_urls).map_err(invalid)?;
    check_bind_urls(&cfg.listen_client_urls).map_err(invalid)?;
    check_bind_urls(&cfg.listen_client_http_urls).map_err(invalid)?;
    check_bind_urls(&cfg.listen_metrics_urls).map_err(invalid)?;
    if let Err(e) = check_host_urls(&cfg.initial_advertise_peer_urls) {
        return Err(invalid(format!(
            "--initial-advertise-peer-urls {} must be \"host:port\" ({e})",
            go_quote(&join(&cfg.initial_advertise_peer_urls))
        )));
    }
    if let Err(e) = check_host_urls(&cfg.advertise_client_urls) {
        return Err(invalid(format!(
            "--advertise-client-urls {} must be \"host:port\" ({e})",
            go_quote(&join(&cfg.advertise_client_urls))
        )));
    }
    let bootstrap_sources = [&cfg.discovery, &cfg.initial_cluster, &cfg.discovery_srv]
        .iter()
        .filter(|s| !s.is_empty())
        .count();
    if bootstrap_sources > 1 {
        return Err(invalid(
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
                .to_string(),
        ));
    }
    check_timeouts(cfg.heartbeat_interval_ms, cfg.election_timeout_ms)?;
    if !cfg.listen_client_urls.is_empty() && cfg.advertise_client_urls.is_empty() {
        return Err(ConfigError::UnsetAdvertiseClientUrls);
    }
    check_lease_checkpoints(cfg)?;
    if cfg.experimental_compact_hash_check_time == Duration::ZERO {
        return Err(invalid(format!(
            "--experimental-compact-hash-check-time must be >0 (set to {})",
            format_go_duration(cfg.experimental_compact_hash_check_time)
        )));
    }
    check_tls_versions(cfg)?;
    check_tls_files(cfg)?;
    if cfg.experimental_enable_distributed_tracing {
        let rate = cfg.experimental_distributed_tracing_sampling_rate;
        let problem = if rate < 0 {
            Some("tracing sampling rate must be positive".to_string())
        } else if rate > 1_000_000 {
            Some("tracing sampling rate must be less than 1000000".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(invalid(format!(
                "distributed tracing configurition is not valid: ({p})"
            )));
        }
    }
    Ok(())
}

/// etcd 3.6 refuses a setting given under both its 3.5 and its 3.6 name;
/// `explicit` says which names the command line (or the file) set.
pub(crate) fn check_renamed(explicit: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
    match RENAMED
        .iter()
        .find(|(old, new)| explicit(old) && explicit(new))
    {
        Some((old, new)) => Err(ConfigError::Invalid(format!(
            "cannot set --{old} and --{new} at the same time, please use --{new} only"
        ))),
        None => Ok(()),
    }
}

/// Checkpoint persistence needs checkpoints; worded as 3.6 words it when
/// the gates decided it, as 3.5 does when its flags did.
fn check_lease_checkpoints(cfg: &mut Config) -> Result<(), ConfigError> {
    let gates = &cfg.feature_gates;
    let checkpoint = gates.enabled(Gate::LeaseCheckpoint);
    let persist = gates.enabled(Gate::LeaseCheckpointPersist);
    let by_gates = gates.set_by_gates(Gate::LeaseCheckpoint)
        || gates.set_by_gates(Gate::LeaseCheckpointPersist);
    if checkpoint && !persist {
        cfg.notices.push(Notice::warn(
            if by_gates {
                "Detected that checkpointing is enabled without persistence. Consider enabling feature gate LeaseCheckpointPersist"
            } else {
                "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist"
            },
            vec![],
        ));
    }
    if persist && !checkpoint {
        return Err(ConfigError::Invalid(
            if by_gates {
                "enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint"
            } else {
                "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"
            }
            .to_string(),
        ));
    }
    Ok(())
}

/// Heartbeat and election timeout limits.
pub(crate) fn check_timeouts(tick_ms: u64, election_ms: u64) -> Result<(), ConfigError> {
    if tick_ms == 0 {
        return Err(ConfigError::Invalid(format!(
            "--heartbeat-interval must be >0 (set to {tick_ms}ms)"
        )));
    }
    if election_ms == 0 {
        return Err(ConfigError::Invalid(format!(
            "--election-timeout must be >0 (set to {election_ms}ms)"
        )));
    }
    if tick_ms.saturating_mul(5) > election_ms {
        return Err(ConfigError::Invalid(format!(
            "--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{tick_ms}ms]"
        )));
    }
    if election_ms > MAX_ELECTION_MS {
        return Err(ConfigError::Invalid(format!(
            "--election-timeout[{election_ms}ms] is too long, and should be set less than {MAX_ELECTION_MS}ms"
        )));
    }
    Ok(())
}

/// `--logger`, `--log-outputs` and log rotation settings.
fn check_logging(cfg: &mut Config) -> Result<(), ConfigError> {
    if !matches!(cfg.log_format.as_str(), "json" | "console") {
        return Err(ConfigError::Invalid(format!(
            "unknown log format: {}, supported values json, console",
            cfg.log_format
        )));
    }
    match cfg.logger.as_str() {
        "zap" => {}
        // etcd 3.5 refuses capnslog; etcd-rs keeps running and says the
        // output format will not be what was asked for.
        "capnslog" => cfg.notices.push(Notice::warn(
            "--logger=capnslog is not supported by etcd-rs; logging in zap's JSON format instead",
            vec![("logger", cfg.logger.clone())],
        )),
        other => {
            return Err(ConfigError::Invalid(format!(
                "unknown logger option {}",
                go_quote(other)
            )));
        }
    }
    if cfg.log_outputs.is_empty() {
        cfg.log_outputs = vec![DEFAULT_LOG_OUTPUT.to_string()];
    }
    if cfg.log_outputs.len() > 1 && cfg.log_outputs.iter().any(|o| o == DEFAULT_LOG_OUTPUT) {
        return Err(ConfigError::Invalid(format!(
            "multi logoutput for {} is not supported yet",
            go_quote(DEFAULT_LOG_OUTPUT)
        )));
    }
    if cfg.enable_log_rotation {
        check_log_rotation(&cfg.log_outputs, &cfg.log_rotation_config_json)?;
    }
    Ok(())
}

/// Rotation needs exactly one file target and readable JSON limits.
fn check_log_rotation(outputs: &[String], json: &str) -> Result<(), ConfigError> {
    let files = outputs
        .iter()
        .filter(|o| !matches!(o.as_str(), "default" | "stderr" | "stdout"))
        .count();
    if (outputs.len() == 1 && files == 0) || files > 1 {
        return Err(ConfigError::Invalid(
            "--log-outputs requires a single file path when --log-rotate-config-json is defined"
                .to_string(),
        ));
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)] // only the shape is checked; etcd-rs does not rotate yet
    struct Rotation {
        maxsize: Option<i64>,
        maxage: Option<i64>,
        maxbackups: Option<i64>,
        localtime: Option<bool>,
        compress: Option<bool>,
    }
    if let Err(e) = serde_json::from_str::<Rotation>(json) {
        let kind = if e.is_data() {
            "invalid"
        } else {
            "improperly formatted"
        };
        return Err(ConfigError::Invalid(format!(
            "{kind} log rotation config: {e}"
        )));
    }
    Ok(())
}

/// `--tls-min-version` / `--tls-max-version` / `--cipher-suites` coherence.
fn check_tls_versions(cfg: &Config) -> Result<(), ConfigError> {
    fn version(v: &str) -> Result<u8, ConfigError> {
        match v {
            "" => Ok(0),
            "TLS1.2" => Ok(2),
            "TLS1.3" => Ok(3),
            _ => Err(ConfigError::Invalid(format!(
                "unexpected TLS version {} (must be one of: TLS1.2, TLS1.3)",
                go_quote(v)
            ))),
        }
    }
    let min = version(&cfg.tls_min_version)?;
    let max = version(&cfg.tls_max_version)?;
    if max != 0 && min > max {
        return Err(ConfigError::Invalid(format!(
            "min version ({}) is greater than max version ({})",
            cfg.tls_min_version, cfg.tls_max_version
        )));
    }
    if min == 3 && !cfg.cipher_suites.is_empty() {
        return Err(ConfigError::Invalid(
            "cipher suites cannot be configured when only TLS1.3 is enabled".to_string(),
        ));
    }
    Ok(())
}

/// TLS URLs need certificates, and certificate checks need a CA: etcd's
/// messages where it has one (a TLS listener without key and cert), and a
/// clear one where etcd would start and then refuse every client (client
/// certificate auth without a CA to verify against).
fn check_tls_files(cfg: &Config) -> Result<(), ConfigError> {
    let has_pair = |tls: &TlsConfig| tls.cert_file.is_some() || tls.key_file.is_some();
    let client_certs = has_pair(&cfg.client_tls) || cfg.client_tls.auto_tls;
    if let Some(url) = cfg.listen_client_urls.iter().find(|u| u.is_tls()) {
        if !client_certs {
            return Err(ConfigError::Invalid(format!(
                "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
            )));
        }
    }
    let peer_certs = has_pair(&cfg.peer_tls) || cfg.peer_tls.auto_tls;
    if let Some(url) = cfg.listen_peer_urls.iter().find(|u| u.is_tls()) {
        if !peer_certs {
            return Err(ConfigError::Invalid(format!(
                "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
                url.host()
            )));
        }
    }
    for (tls, side) in [(&cfg.client_tls, ""), (&cfg.peer_tls, "peer-")] {
        if has_pair(tls) && (tls.cert_file.is_none() || tls.key_file.is_none()) {
            return Err(ConfigError::Invalid(format!(
                "KeyFile and CertFile must both be present (--{side}cert-file and --{side}key-file)"
            )));
        }
        if tls.client_cert_auth && tls.trusted_ca_file.is_none() && !tls.auto_tls {
            return Err(ConfigError::Invalid(format!(
                "--{side}client-cert-auth needs --{side}trusted-ca-file: client certificates must be verified against a CA"
            )));
        }
    }
    if let (Some(cn), Some(host)) = (
        cfg.peer_tls.allowed_cns.first(),
        cfg.peer_tls.allowed_hostnames.first(),
    ) {
        return Err(ConfigError::Invalid(format!(
            "AllowedCN and AllowedHostname are mutually exclusive (cn={}, hostname={})",
            go_quote(cn),
            go_quote(host)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_default(f: impl FnOnce(&mut Config)) -> Result<(), String> {
        let mut cfg = Config::default();
        f(&mut cfg);
        check(&mut cfg).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(check_default(|_| {}), Ok(()));
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            check_timeouts(0, 1000).unwrap_err().to_string(),
            "--heartbeat-interval must be >0 (set to 0ms)"
        );
        assert_eq!(
            check_timeouts(100, 0).unwrap_err().to_string(),
            "--election-timeout must be >0 (set to 0ms)"
        );
        assert_eq!(
            check_timeouts(16, 10).unwrap_err().to_string(),
            "--election-timeout[10ms] should be at least as 5 times as --heartbeat-interval[16ms]"
        );
        assert_eq!(
            check_timeouts(100, 60_000).unwrap_err().to_string(),
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms"
        );
        assert!(check_timeouts(100, 500).is_ok());
        assert!(check_timeouts(u64::MAX, 1).is_err());
    }

    #[test]
    fn bootstrap_conflict() {
        assert_eq!(
            check_default(|c| c.discovery = "https://d/x".into()).unwrap_err(),
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
        );
    }

    #[test]
    fn logging_checks() {
        assert_eq!(
            check_default(|c| c.logger = "x".into()).unwrap_err(),
            "unknown logger option \"x\""
        );
        assert_eq!(
            check_default(|c| c.log_outputs = vec!["default".into(), "stdout".into()]).unwrap_err(),
            "multi logoutput for \"default\" is not supported yet"
        );
        assert_eq!(
            check_default(|c| c.enable_log_rotation = true).unwrap_err(),
            "--log-outputs requires a single file path when --log-rotate-config-json is defined"
        );
        assert!(check_default(|c| {
            c.enable_log_rotation = true;
            c.log_outputs = vec!["/tmp/x.log".into()];
        })
        .is_ok());
        assert!(check_default(|c| {
            c.enable_log_rotation = true;
            c.log_outputs = vec!["/tmp/x.log".into()];
            c.log_rotation_config_json = "{".into();
        })
        .unwrap_err()
        .starts_with("improperly formatted log rotation config: "));
    }

    #[test]
    fn tls_urls_need_certificates() {
        use crate::config::Url;
        let https = || Url::parse_list("https://127.0.0.1:2379").unwrap();
        assert_eq!(
            check_default(|c| {
                c.listen_client_urls = https();
                c.advertise_client_urls = https();
            })
            .unwrap_err(),
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"
        );
        assert!(check_default(|c| {
            c.listen_client_urls = https();
            c.advertise_client_urls = https();
            c.client_tls.auto_tls = true;
        })
        .is_ok());
        assert_eq!(
            check_default(
                |c| c.listen_peer_urls = Url::parse_list("https://127.0.0.1:2380").unwrap()
            )
            .unwrap_err(),
            "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"
        );
        assert!(
            check_default(|c| c.client_tls.cert_file = Some("/c.pem".into()))
                .unwrap_err()
                .starts_with("KeyFile and CertFile must both be present")
        );
        assert!(check_default(|c| {
            c.peer_tls.client_cert_auth = true;
            c.peer_tls.cert_file = Some("/c.pem".into());
            c.peer_tls.key_file = Some("/k.pem".into());
        })
        .unwrap_err()
        .starts_with("--peer-client-cert-auth needs --peer-trusted-ca-file"));
        assert_eq!(
            check_default(|c| {
                c.peer_tls.allowed_cns = vec!["a".into()];
                c.peer_tls.allowed_hostnames = vec!["b".into()];
            })
            .unwrap_err(),
            "AllowedCN and AllowedHostname are mutually exclusive (cn=\"a\", hostname=\"b\")"
        );
    }

    #[test]
    fn tls_and_tracing() {
        assert_eq!(
            check_default(|c| c.tls_min_version = "TLS1.0".into()).unwrap_err(),
            "unexpected TLS version \"TLS1.0\" (must be one of: TLS1.2, TLS1.3)"
        );
        assert_eq!(
            check_default(|c| {
                c.tls_min_version = "TLS1.3".into();
                c.tls_max_version = "TLS1.2".into();
            })
            .unwrap_err(),
            "min version (TLS1.3) is greater than max version (TLS1.2)"
        );
        assert_eq!(
            check_default(|c| {
                c.experimental_enable_distributed_tracing = true;
                c.experimental_distributed_tracing_sampling_rate = -1;
            })
            .unwrap_err(),
            "distributed tracing configurition is not valid: (tracing sampling rate must be positive)"
        );
    }

    #[test]
    fn lease_checkpoint_and_hash_check() {
        assert_eq!(
            check_default(|c| c.feature_gates.set_flag(Gate::LeaseCheckpointPersist, true)).unwrap_err(),
            "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"
        );
        assert_eq!(
            check_default(|c| c.experimental_compact_hash_check_time = Duration::ZERO).unwrap_err(),
            "--experimental-compact-hash-check-time must be >0 (set to 0s)"
        );
    }
}
