//! `Config::parse` end to end: defaults, flags vs `ETCD_*` variables vs
//! `--config-file`, etcd's error messages and exit codes, and the flags
//! etcd-rs ignores or refuses. Expected texts were checked against etcd.

use std::path::PathBuf;
use std::time::Duration;

use etcd_server::config::{
    AutoCompaction, ClusterState, CompactionMode, Config, ConfigError, ConfigSource, LogLevel,
    NoticeLevel, ParseOutcome,
};

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<ParseOutcome, ConfigError> {
    let argv = std::iter::once("etcd").chain(args.iter().copied());
    Config::parse(argv, env.iter().copied())
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Config {
    match parse(args, env) {
        Ok(ParseOutcome::Run(cfg)) => cfg,
        other => panic!("expected a runnable config, got {other:?}"),
    }
}

fn error(args: &[&str], env: &[(&str, &str)]) -> ConfigError {
    match parse(args, env) {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

fn urls(cfg_urls: &[etcd_server::config::Url]) -> Vec<String> {
    cfg_urls.iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_match_etcd() {
    let cfg = run(&[], &[]);
    assert_eq!(cfg.name, "default");
    assert_eq!(cfg.data_dir(), PathBuf::from("default.etcd"));
    assert_eq!(cfg.wal_dir(), PathBuf::from("default.etcd/member/wal"));
    assert_eq!(urls(&cfg.listen_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&cfg.advertise_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&cfg.listen_peer_urls), ["http://localhost:2380"]);
    assert_eq!(
        urls(&cfg.initial_advertise_peer_urls),
        ["http://localhost:2380"]
    );
    assert_eq!(cfg.initial_cluster, "default=http://localhost:2380");
    assert_eq!(cfg.initial_cluster_state, ClusterState::New);
    assert_eq!(cfg.initial_cluster_token, "etcd-cluster");
    assert_eq!(cfg.snapshot_count, 100_000);
    assert_eq!(cfg.heartbeat_interval(), Duration::from_millis(100));
    assert_eq!(cfg.election_timeout(), Duration::from_secs(1));
    assert_eq!(cfg.max_request_bytes, 1_572_864);
    assert_eq!(cfg.max_txn_ops, 128);
    assert_eq!(cfg.max_concurrent_streams, u32::MAX);
    assert_eq!(cfg.quota_backend_bytes, 0);
    assert_eq!(cfg.grpc_keepalive_min_time, Duration::from_secs(5));
    assert_eq!(cfg.grpc_keepalive_interval, Duration::from_secs(7200));
    assert_eq!(cfg.grpc_keepalive_timeout, Duration::from_secs(20));
    assert!(cfg.strict_reconfig_check);
    assert!(cfg.pre_vote);
    assert!(!cfg.force_new_cluster);
    assert_eq!(cfg.auto_compaction(), AutoCompaction::Disabled);
    assert_eq!(cfg.auth_token, "simple");
    assert_eq!(cfg.bcrypt_cost, 10);
    assert_eq!(cfg.logger, "zap");
    assert_eq!(cfg.log_level, LogLevel::Info);
    assert_eq!(cfg.log_outputs, ["default"]);
    assert_eq!(cfg.source, ConfigSource::CommandLine);
    assert!(cfg.unsupported().is_empty());
    // etcd warns that it picked the data dir itself.
    assert!(cfg
        .notices()
        .iter()
        .any(|n| n.message == "'data-dir' was empty; using default"
            && n.fields == vec![("data-dir", "default.etcd".to_string())]));
}

#[test]
fn typical_member_command_line() {
    let cfg = run(
        &[
            "--name",
            "infra1",
            "--data-dir=/var/lib/etcd",
            "--wal-dir",
            "/wal",
            "--listen-client-urls",
            "http://10.0.0.1:2379,http://127.0.0.1:2379",
            "--advertise-client-urls",
            "http://10.0.0.1:2379",
            "--listen-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://10.0.0.1:2380",
            "--initial-cluster",
            "infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380",
            "--initial-cluster-state",
            "existing",
            "--initial-cluster-token",
            "tok",
            "--heartbeat-interval",
            "50",
            "--election-timeout",
            "500",
            "--auto-compaction-mode",
            "revision",
            "--auto-compaction-retention",
            "1000",
            "--quota-backend-bytes",
            "8589934592",
            "--log-level",
            "debug",
            "--grpc-keepalive-interval",
            "1h30m",
        ],
        &[],
    );
    assert_eq!(cfg.name, "infra1");
    assert_eq!(cfg.data_dir(), PathBuf::from("/var/lib/etcd"));
    assert_eq!(cfg.wal_dir(), PathBuf::from("/wal"));
    // etcd sorts URL lists.
    assert_eq!(
        urls(&cfg.listen_client_urls),
        ["http://10.0.0.1:2379", "http://127.0.0.1:2379"]
    );
    assert_eq!(cfg.initial_cluster_state, ClusterState::Existing);
    assert_eq!(cfg.auto_compaction(), AutoCompaction::Revision(1000));
    assert_eq!(cfg.quota_backend_bytes, 8 << 30);
    assert_eq!(cfg.log_level, LogLevel::Debug);
    assert_eq!(cfg.grpc_keepalive_interval, Duration::from_secs(5400));
    let members = cfg.initial_cluster_members().unwrap();
    assert_eq!(members.keys().collect::<Vec<_>>(), ["infra1", "infra2"]);
    assert_eq!(urls(&members["infra2"]), ["http://10.0.0.2:2380"]);
}

#[test]
fn initial_cluster_follows_name_and_peer_urls() {
    // A non-default name with the default --initial-cluster: etcd derives it.
    let cfg = run(
        &[
            "--name",
            "n1",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380,http://127.0.0.2:2380",
        ],
        &[],
    );
    assert_eq!(
        cfg.initial_cluster,
        "n1=http://127.0.0.1:2380,n1=http://127.0.0.2:2380"
    );
    assert_eq!(cfg.data_dir(), PathBuf::from("n1.etcd"));
    // The default name keeps etcd's default cluster, even with other peer URLs.
    let cfg = run(
        &["--initial-advertise-peer-urls", "http://127.0.0.1:2380"],
        &[],
    );
    assert_eq!(cfg.initial_cluster, "default=http://localhost:2380");
    // An explicit value is kept.
    let cfg = run(
        &[
            "--name",
            "n1",
            "--initial-cluster",
            "n1=http://127.0.0.1:2380",
        ],
        &[],
    );
    assert_eq!(cfg.initial_cluster, "n1=http://127.0.0.1:2380");
}

#[test]
fn periodic_compaction_takes_hours_or_durations() {
    let cfg = run(&["--auto-compaction-retention", "2"], &[]);
    assert_eq!(cfg.auto_compaction_mode, Some(CompactionMode::Periodic));
    assert_eq!(
        cfg.auto_compaction(),
        AutoCompaction::Periodic(Duration::from_secs(7200))
    );
    let cfg = run(&["--auto-compaction-retention=30m"], &[]);
    assert_eq!(
        cfg.auto_compaction(),
        AutoCompaction::Periodic(Duration::from_secs(1800))
    );
    assert_eq!(
        error(&["--auto-compaction-retention=abc"], &[]).to_string(),
        "error parsing CompactionRetention: time: invalid duration \"abc\""
    );
}

#[test]
fn environment_fills_unset_flags() {
    let cfg = run(
        &[],
        &[
            ("ETCD_NAME", "envname"),
            ("ETCD_SNAPSHOT_COUNT", "10"),
            ("ETCD_FORCE_NEW_CLUSTER", ""),
        ],
    );
    assert_eq!(cfg.name, "envname");
    assert_eq!(cfg.snapshot_count, 10);
    let used: Vec<_> = cfg
        .notices()
        .iter()
        .filter(|n| n.message == "recognized and used environment variable")
        .map(|n| n.fields[0].1.clone())
        .collect();
    assert_eq!(used, ["ETCD_NAME", "ETCD_SNAPSHOT_COUNT"]);
    // Variables count as set for etcd's "advertise URLs required" rule.
    let err = error(&[], &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:1")]);
    assert_eq!(err, ConfigError::UnsetAdvertiseClientUrls);
}

#[test]
fn flag_and_variable_together_is_fatal() {
    let err = error(&["--name", "y"], &[("ETCD_NAME", "x")]);
    assert_eq!(
        err.to_string(),
        "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    );
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn unknown_variables_only_warn() {
    let cfg = run(
        &[],
        &[("ETCD_FOO", "1"), ("ETCDCTL_API", "3"), ("HOME", "/root")],
    );
    let warnings: Vec<_> = cfg
        .notices()
        .iter()
        .filter(|n| n.level == NoticeLevel::Warn)
        .collect();
    assert!(warnings
        .iter()
        .any(|n| n.message == "unrecognized environment variable"
            && n.fields == vec![("environment-variable", "ETCD_FOO=1".to_string())]));
    assert_eq!(
        warnings
            .iter()
            .filter(|n| n.message == "unrecognized environment variable")
            .count(),
        1
    );
}

#[test]
fn bad_values_in_variables() {
    assert_eq!(
        error(&[], &[("ETCD_SNAPSHOT_COUNT", "abc")]).to_string(),
        "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error"
    );
}

#[test]
fn command_line_errors_read_like_go_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--foo"], "flag provided but not defined: -foo"),
        (&["--snapshot-count", "abc"], "invalid value \"abc\" for flag -snapshot-count: parse error"),
        (&["--snapshot-count=-1"], "invalid value \"-1\" for flag -snapshot-count: parse error"),
        (
            &["--snapshot-count=99999999999999999999999"],
            "invalid value \"99999999999999999999999\" for flag -snapshot-count: value out of range",
        ),
        (&["--force-new-cluster=x"], "invalid boolean value \"x\" for -force-new-cluster: parse error"),
        (&["--grpc-keepalive-min-time=x"], "invalid value \"x\" for flag -grpc-keepalive-min-time: parse error"),
        (&["--initial-cluster-state=x"], "invalid value \"x\" for flag -initial-cluster-state: invalid value"),
        (&["--name"], "flag needs an argument: -name"),
        (&["---name"], "bad flag syntax: ---name"),
        (
            &["--listen-client-urls", "foo"],
            "invalid value \"foo\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: foo",
        ),
    ];
    for (args, message) in cases {
        let err = error(args, &[]);
        assert_eq!(err.to_string(), *message, "{args:?}");
        assert_eq!(err.exit_code(), 2);
        assert!(err.prints_usage());
    }
}

#[test]
fn stray_arguments_are_not_flags() {
    let err = error(&["foo"], &[]);
    assert_eq!(err.to_string(), "'foo' is not a valid flag");
    assert_eq!(err.exit_code(), 1);
    // Boolean flags need `=`: the value becomes a stray argument.
    assert_eq!(
        error(&["--strict-reconfig-check", "false"], &[]).to_string(),
        "'false' is not a valid flag"
    );
}

#[test]
fn validation_messages() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--listen-client-urls", "http://127.0.0.1:23790"],
            "--advertise-client-urls is required when --listen-client-urls is set explicitly",
        ),
        (
            &["--listen-client-urls", "http://example.com:2379", "--advertise-client-urls", "http://a:1"],
            "expected IP in URL for binding (http://example.com:2379)",
        ),
        (
            &["--listen-client-urls=http://127.0.0.1:1", "--advertise-client-urls", "http://:1"],
            "--advertise-client-urls \"http://:1\" must be \"host:port\" (unexpected empty host (http://:1))",
        ),
        (
            &["--heartbeat-interval=0x10", "--election-timeout", "10"],
            "--election-timeout[10ms] should be at least as 5 times as --heartbeat-interval[16ms]",
        ),
        (&["--heartbeat-interval", "0"], "--heartbeat-interval must be >0 (set to 0ms)"),
        (
            &["--election-timeout", "60000"],
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms",
        ),
        (&["--logger", "foo"], "unknown logger option \"foo\""),
        (&["--log-outputs", "default,stdout"], "multi logoutput for \"default\" is not supported yet"),
    ];
    for (args, message) in cases {
        let err = error(args, &[]);
        assert_eq!(err.to_string(), *message, "{args:?}");
        assert_eq!(err.exit_code(), 1);
        assert!(!err.prints_usage());
    }
}

#[test]
fn help_and_version() {
    match parse(&["-h"], &[]) {
        Ok(ParseOutcome::PrintHelp(text)) => {
            assert!(text.contains("--listen-client-urls 'http://localhost:2379'"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&["--help"], &[]),
        Ok(ParseOutcome::PrintHelp(_))
    ));
    assert_eq!(parse(&["--version"], &[]), Ok(ParseOutcome::PrintVersion));
    // --version wins over a bad environment, but not over a stray argument.
    assert_eq!(
        parse(&["--version"], &[("ETCD_SNAPSHOT_COUNT", "x")]),
        Ok(ParseOutcome::PrintVersion)
    );
    assert_eq!(
        error(&["--version", "x"], &[]).to_string(),
        "'x' is not a valid flag"
    );
}

#[test]
fn config_file_replaces_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etcd.yaml");
    std::fs::write(
        &path,
        "name: fromfile\n\
         listen-client-urls: http://127.0.0.1:23793\n\
         listen-peer-urls: http://127.0.0.1:23803\n\
         initial-advertise-peer-urls: http://127.0.0.1:23803\n\
         auto-compaction-retention: \"1\"\n",
    )
    .unwrap();
    let path_str = path.to_str().unwrap();
    let cfg = run(
        &["--config-file", path_str, "--name", "z"],
        &[("ETCD_NAME", "envname"), ("ETCD_FOO", "1")],
    );
    assert_eq!(cfg.name, "fromfile");
    assert_eq!(cfg.source, ConfigSource::File(path.clone()));
    assert_eq!(cfg.initial_cluster, "fromfile=http://127.0.0.1:23803");
    // No advertise-client-urls in the file: etcd keeps the library default.
    assert_eq!(urls(&cfg.advertise_client_urls), ["http://localhost:2379"]);
    // Without auto-compaction-mode in the file, etcd compacts nothing.
    assert_eq!(cfg.auto_compaction_mode, None);
    assert_eq!(cfg.auto_compaction(), AutoCompaction::Disabled);
    assert!(cfg
        .notices()
        .iter()
        .any(|n| n.message.starts_with("loaded server configuration")));
    assert!(!cfg
        .notices()
        .iter()
        .any(|n| n.message == "unrecognized environment variable"));

    // ETCD_CONFIG_FILE works too.
    let cfg = run(&[], &[("ETCD_CONFIG_FILE", path_str)]);
    assert_eq!(cfg.name, "fromfile");

    // Command-line syntax is still checked.
    assert_eq!(
        error(&["--config-file", path_str, "--foo"], &[]).exit_code(),
        2
    );

    let missing = dir.path().join("missing.yaml");
    assert_eq!(
        error(&["--config-file", missing.to_str().unwrap()], &[]).to_string(),
        format!("open {}: no such file or directory", missing.display())
    );
}

#[test]
fn config_file_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etcd.yaml");
    std::fs::write(&path, "heartbeat-interval: 300\nelection-timeout: 1000\n").unwrap();
    assert_eq!(
        error(&["--config-file", path.to_str().unwrap()], &[]).to_string(),
        "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"
    );
    std::fs::write(
        &path,
        "client-transport-security:\n  cert-file: /etc/etcd/server.crt\n",
    )
    .unwrap();
    assert!(error(&["--config-file", path.to_str().unwrap()], &[])
        .to_string()
        .starts_with("KeyFile and CertFile must both be present"));
    std::fs::write(
        &path,
        "peer-transport-security:\n  cert-file: /p.crt\n  key-file: /p.key\n  trusted-ca-file: /ca.crt\n  client-cert-auth: true\n  allowed-cn: [member]\n",
    )
    .unwrap();
    let cfg = run(&["--config-file", path.to_str().unwrap()], &[]);
    assert_eq!(
        cfg.peer_tls.cert_file.as_deref(),
        Some(std::path::Path::new("/p.crt"))
    );
    assert!(cfg.peer_tls.client_cert_auth);
    assert_eq!(cfg.peer_tls.allowed_cns, ["member"]);
}

#[test]
fn unimplemented_flags_are_classified() {
    let cfg = run(
        &[
            "--enable-pprof",
            "--metrics=extensive",
            "--max-wals=1",
            "--pre-vote=true",
            "--logger=capnslog",
        ],
        &[],
    );
    let ignored: Vec<_> = cfg.unsupported().iter().map(|u| u.flag).collect();
    // `--metrics` is served: not in the list.
    assert_eq!(ignored, ["max-wals", "enable-pprof"]);
    assert!(cfg.notices().iter().any(|n| n.message.contains("capnslog")));

    let refused: &[(&[&str], &str)] = &[
        (&["--cert-file", "/x.crt"], "KeyFile and CertFile must both be present (--cert-file and --key-file)"),
        (&["--client-cert-auth"], "--client-cert-auth needs --trusted-ca-file: client certificates must be verified against a CA"),
        (
            &["--discovery-srv", "example.com", "--initial-cluster", ""],
            "--discovery-srv is not yet supported by etcd-rs; bootstrap with --initial-cluster instead",
        ),
        (&["--proxy", "on"], "--proxy is not yet supported by etcd-rs; etcd-rs only runs as a cluster member"),
        (&["--force-new-cluster"], "--force-new-cluster is not yet supported by etcd-rs"),
        (
            &["--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379"],
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme",
        ),
        (&["gateway"], "`etcd gateway` is not yet supported by etcd-rs"),
    ];
    for (args, message) in refused {
        let err = error(args, &[]);
        assert_eq!(err.to_string(), *message, "{args:?}");
        assert_eq!(err.exit_code(), 1);
    }
}

#[test]
fn obsolete_and_deprecated_flags_warn() {
    let cfg = run(&["-v", "--enable-v2=true"], &[]);
    let messages: Vec<_> = cfg.notices().iter().map(|n| n.message.as_str()).collect();
    assert!(messages.contains(&"flag is no longer supported - ignoring"));
    assert!(
        messages.contains(&"--enable-v2 is deprecated in 3.5 and will be decommissioned in 3.6.")
    );
}
