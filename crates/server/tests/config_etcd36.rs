//! etcd 3.6's spellings beside etcd 3.5's: the de-prefixed names of the
//! `--experimental-*` flags, `--feature-gates` (and the experimental
//! booleans it replaced), `--log-format` — on the command line, as `ETCD_*`
//! variables and as config-file keys. Messages are etcd 3.6.7's (read from
//! its sources; no 3.6 binary runs here).

use std::time::Duration;

use etcd_server::config::{Config, ConfigError, Gate, ParseOutcome};

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<ParseOutcome, ConfigError> {
    let argv = std::iter::once("etcd").chain(args.iter().copied());
    Config::parse(argv, env.iter().copied())
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Config {
    match parse(args, env) {
        Ok(ParseOutcome::Run(cfg)) => cfg,
        other => panic!("expected a runnable config for {args:?} {env:?}, got {other:?}"),
    }
}

fn error(args: &[&str], env: &[(&str, &str)]) -> String {
    match parse(args, env) {
        Err(e) => e.to_string(),
        Ok(other) => panic!("expected an error for {args:?}, got {other:?}"),
    }
}

fn from_file(yaml: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etcd.yaml");
    std::fs::write(&path, yaml).unwrap();
    match parse(&["--config-file", path.to_str().unwrap()], &[]) {
        Ok(ParseOutcome::Run(cfg)) => Ok(cfg),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

/// Each 3.6 name, a value different from the default, and how to read the
/// setting back; the 3.5 name must give the same.
type Probe = fn(&Config) -> String;
const RENAMED: &[(&str, &str, &str, Probe)] = &[
    (
        "compact-hash-check-time",
        "experimental-compact-hash-check-time",
        "2m",
        |c| format!("{:?}", c.experimental_compact_hash_check_time),
    ),
    (
        "corrupt-check-time",
        "experimental-corrupt-check-time",
        "3m",
        |c| format!("{:?}", c.experimental_corrupt_check_time),
    ),
    (
        "compaction-batch-limit",
        "experimental-compaction-batch-limit",
        "200",
        |c| c.experimental_compaction_batch_limit.to_string(),
    ),
    (
        "watch-progress-notify-interval",
        "experimental-watch-progress-notify-interval",
        "5s",
        |c| format!("{:?}", c.experimental_watch_progress_notify_interval),
    ),
    (
        "warning-apply-duration",
        "experimental-warning-apply-duration",
        "200ms",
        |c| format!("{:?}", c.experimental_warning_apply_duration),
    ),
    (
        "bootstrap-defrag-threshold-megabytes",
        "experimental-bootstrap-defrag-threshold-megabytes",
        "100",
        |c| {
            c.experimental_bootstrap_defrag_threshold_megabytes
                .to_string()
        },
    ),
    ("memory-mlock", "experimental-memory-mlock", "true", |c| {
        c.experimental_memory_mlock.to_string()
    }),
    (
        "snapshot-catchup-entries",
        "experimental-snapshot-catchup-entries",
        "7000",
        |c| c.experimental_snapshot_catchup_entries.to_string(),
    ),
    (
        "compaction-sleep-interval",
        "experimental-compaction-sleep-interval",
        "20ms",
        |c| format!("{:?}", c.experimental_compaction_sleep_interval),
    ),
    (
        "downgrade-check-time",
        "experimental-downgrade-check-time",
        "9s",
        |c| format!("{:?}", c.experimental_downgrade_check_time),
    ),
    (
        "peer-skip-client-san-verification",
        "experimental-peer-skip-client-san-verification",
        "true",
        |c| c.experimental_peer_skip_client_san_verification.to_string(),
    ),
    (
        "enable-distributed-tracing",
        "experimental-enable-distributed-tracing",
        "true",
        |c| c.experimental_enable_distributed_tracing.to_string(),
    ),
    (
        "distributed-tracing-address",
        "experimental-distributed-tracing-address",
        "otel:4317",
        |c| c.experimental_distributed_tracing_address.clone(),
    ),
    (
        "distributed-tracing-service-name",
        "experimental-distributed-tracing-service-name",
        "kv",
        |c| c.experimental_distributed_tracing_service_name.clone(),
    ),
    (
        "distributed-tracing-instance-id",
        "experimental-distributed-tracing-instance-id",
        "m1",
        |c| c.experimental_distributed_tracing_instance_id.clone(),
    ),
    (
        "distributed-tracing-sampling-rate",
        "experimental-distributed-tracing-sampling-rate",
        "100",
        |c| c.experimental_distributed_tracing_sampling_rate.to_string(),
    ),
];

fn env_key(flag: &str) -> String {
    format!("ETCD_{}", flag.replace('-', "_").to_ascii_uppercase())
}

#[test]
fn every_36_name_sets_what_its_35_name_sets() {
    let defaults = Config::default();
    for (new, old, value, probe) in RENAMED {
        let by_new = run(&[&format!("--{new}={value}")], &[]);
        let by_old = run(&[&format!("--{old}={value}")], &[]);
        assert_ne!(probe(&by_new), probe(&defaults), "--{new} changes nothing");
        assert_eq!(probe(&by_new), probe(&by_old), "--{new} vs --{old}");
        let by_env = run(&[], &[(&env_key(new), value)]);
        assert_eq!(probe(&by_env), probe(&by_new), "{}", env_key(new));
    }
}

#[test]
fn both_names_at_once_is_refused_as_etcd_36_refuses_it() {
    for (new, old, value, _) in RENAMED {
        let message =
            format!("cannot set --{old} and --{new} at the same time, please use --{new} only");
        assert_eq!(
            error(
                &[&format!("--{old}={value}"), &format!("--{new}={value}")],
                &[]
            ),
            message
        );
        // A flag and the other name's variable count as both set too.
        assert_eq!(
            error(&[&format!("--{new}={value}")], &[(&env_key(old), value)]),
            message
        );
    }
}

#[test]
fn kubeadm_command_line() {
    let cfg = run(
        &[
            "--feature-gates=InitialCorruptCheck=true",
            "--watch-progress-notify-interval=5s",
            "--name=cp1",
        ],
        &[],
    );
    assert!(cfg.feature_gates.enabled(Gate::InitialCorruptCheck));
    assert_eq!(
        cfg.experimental_watch_progress_notify_interval,
        Duration::from_secs(5)
    );
    // The corruption check is not implemented: named for the start-up warning.
    let ignored: Vec<_> = cfg.feature_gates.ignored().map(|g| g.name).collect();
    assert_eq!(ignored, ["InitialCorruptCheck"]);
    assert_eq!(cfg.feature_gates.to_string(), "InitialCorruptCheck=true");
}

#[test]
fn feature_gate_errors_read_like_etcd() {
    assert_eq!(
        error(&["--feature-gates=Foo=true"], &[]),
        "invalid value \"Foo=true\" for flag -feature-gates: unrecognized feature gate: Foo"
    );
    assert_eq!(
        error(&["--feature-gates=Foo"], &[]),
        "invalid value \"Foo\" for flag -feature-gates: missing bool value for Foo"
    );
    assert_eq!(
        error(&["--feature-gates=InitialCorruptCheck=maybe"], &[]),
        "invalid value \"InitialCorruptCheck=maybe\" for flag -feature-gates: invalid value of InitialCorruptCheck=maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    assert_eq!(
        error(&[], &[("ETCD_FEATURE_GATES", "Nope=true")]),
        "invalid value \"Nope=true\" for ETCD_FEATURE_GATES: unrecognized feature gate: Nope"
    );
    let syntax = parse(&["--feature-gates=Foo=true"], &[]).unwrap_err();
    assert_eq!(
        syntax.exit_code(),
        2,
        "a flag syntax error exits 2, as Go's flag package"
    );
}

#[test]
fn experimental_booleans_are_the_gates_they_became() {
    let pairs = [
        (
            "experimental-initial-corrupt-check",
            Gate::InitialCorruptCheck,
        ),
        (
            "experimental-compact-hash-check-enabled",
            Gate::CompactHashCheck,
        ),
        (
            "experimental-stop-grpc-service-on-defrag",
            Gate::StopGrpcServiceOnDefrag,
        ),
    ];
    for (flag, gate) in pairs {
        assert!(
            run(&[&format!("--{flag}")], &[])
                .feature_gates
                .enabled(gate),
            "{flag}"
        );
    }
    let cfg = run(
        &[
            "--experimental-enable-lease-checkpoint",
            "--experimental-enable-lease-checkpoint-persist",
            "--experimental-txn-mode-write-with-shared-buffer=false",
        ],
        &[],
    );
    assert!(cfg.feature_gates.enabled(Gate::LeaseCheckpoint));
    assert!(cfg.feature_gates.enabled(Gate::LeaseCheckpointPersist));
    assert!(!cfg
        .feature_gates
        .enabled(Gate::TxnModeWriteWithSharedBuffer));
    // Lease checkpoints are what etcd-rs always does: nothing to warn about.
    assert_eq!(cfg.feature_gates.ignored().count(), 0);
    assert!(cfg.unsupported().is_empty());
}

#[test]
fn a_gate_and_its_experimental_flag_together_are_refused() {
    assert_eq!(
        error(
            &[
                "--experimental-initial-corrupt-check=true",
                "--feature-gates=InitialCorruptCheck=false"
            ],
            &[]
        ),
        "cannot specify both flags: --experimental-initial-corrupt-check=true and --feature-gates=InitialCorruptCheck=false at the same time, please just use --feature-gates=InitialCorruptCheck=false"
    );
    // A gate and an unrelated experimental flag are fine.
    let cfg = run(
        &[
            "--experimental-initial-corrupt-check",
            "--feature-gates=StopGRPCServiceOnDefrag=true",
        ],
        &[],
    );
    assert!(cfg.feature_gates.enabled(Gate::InitialCorruptCheck));
    assert!(cfg.feature_gates.enabled(Gate::StopGrpcServiceOnDefrag));
}

#[test]
fn lease_checkpoint_persistence_needs_checkpoints() {
    assert_eq!(
        error(&["--feature-gates=LeaseCheckpointPersist=true"], &[]),
        "enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint"
    );
    assert_eq!(
        error(&["--experimental-enable-lease-checkpoint-persist"], &[]),
        "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"
    );
    let cfg = run(&["--feature-gates=LeaseCheckpoint=true"], &[]);
    assert!(cfg.notices().iter().any(|n| n.message
        == "Detected that checkpointing is enabled without persistence. Consider enabling feature gate LeaseCheckpointPersist"));
}

#[test]
fn stage_switches() {
    let cfg = run(
        &["--feature-gates=AllAlpha=true,SetMemberLocalAddr=false"],
        &[],
    );
    assert!(cfg.feature_gates.enabled(Gate::CompactHashCheck));
    assert!(!cfg.feature_gates.enabled(Gate::SetMemberLocalAddr));
    let ignored: Vec<_> = cfg.feature_gates.ignored().map(|g| g.name).collect();
    assert_eq!(
        ignored,
        [
            "CompactHashCheck",
            "InitialCorruptCheck",
            "StopGRPCServiceOnDefrag"
        ]
    );
}

#[test]
fn log_format() {
    assert_eq!(run(&["--log-format=json"], &[]).log_format, "json");
    assert_eq!(run(&["--log-format="], &[]).log_format, "json");
    let console = run(&["--log-format=console"], &[]);
    assert_eq!(console.log_format, "console");
    let ignored: Vec<_> = console.unsupported().iter().map(|u| u.flag).collect();
    assert_eq!(ignored, ["log-format"]);
    assert_eq!(
        error(&["--log-format=xml"], &[]),
        "unknown log format: xml, supported values json, console"
    );
    assert_eq!(run(&[], &[("ETCD_LOG_FORMAT", "json")]).log_format, "json");
}

#[test]
fn config_file_keys() {
    let cfg = from_file(
        "feature-gates: InitialCorruptCheck=true,LeaseCheckpoint=true,LeaseCheckpointPersist=true\n\
         watch-progress-notify-interval: 5000000000\n\
         compaction-batch-limit: 500\n\
         snapshot-catchup-entries: 6000\n\
         log-format: json\n\
         peer-transport-security:\n  skip-client-san-verification: true\n",
    )
    .unwrap();
    assert!(cfg.feature_gates.enabled(Gate::InitialCorruptCheck));
    assert!(cfg.feature_gates.enabled(Gate::LeaseCheckpointPersist));
    assert_eq!(
        cfg.experimental_watch_progress_notify_interval,
        Duration::from_secs(5)
    );
    assert_eq!(cfg.experimental_compaction_batch_limit, 500);
    assert_eq!(cfg.experimental_snapshot_catchup_entries, 6000);
    assert!(cfg.experimental_peer_skip_client_san_verification);

    let old = from_file(
        "experimental-initial-corrupt-check: true\nexperimental-snapshot-catch-up-entries: 6000\n",
    )
    .unwrap();
    assert!(old.feature_gates.enabled(Gate::InitialCorruptCheck));
    assert_eq!(old.experimental_snapshot_catchup_entries, 6000);

    assert_eq!(
        from_file("experimental-compaction-batch-limit: 1\ncompaction-batch-limit: 2\n").unwrap_err(),
        "cannot set --experimental-compaction-batch-limit and --compaction-batch-limit at the same time, please use --compaction-batch-limit only"
    );
    assert_eq!(
        from_file("experimental-snapshot-catch-up-entries: 1\nsnapshot-catchup-entries: 2\n").unwrap_err(),
        "cannot set --experimental-snapshot-catchup-entries and --snapshot-catchup-entries at the same time, please use --snapshot-catchup-entries only"
    );
    assert_eq!(
        from_file("feature-gates: Foo=true\n").unwrap_err(),
        "unrecognized feature gate: Foo"
    );
    assert_eq!(
        from_file("experimental-initial-corrupt-check: true\nfeature-gates: InitialCorruptCheck=true\n").unwrap_err(),
        "cannot specify both flags: --experimental-initial-corrupt-check=true and --feature-gates=InitialCorruptCheck=true at the same time, please just use --feature-gates=InitialCorruptCheck=true"
    );
    assert_eq!(
        from_file("log-format: xml\n").unwrap_err(),
        "unknown log format: xml, supported values json, console"
    );
}

#[test]
fn help_lists_the_36_names_and_the_gates() {
    let Ok(ParseOutcome::PrintHelp(text)) = parse(&["--help"], &[]) else {
        panic!("--help");
    };
    for (new, _, _, _) in RENAMED {
        assert!(text.contains(&format!("  --{new} '")), "{new}");
    }
    assert!(text.contains("  --feature-gates ''"));
    assert!(text.contains("      InitialCorruptCheck=true|false (ALPHA - default=false)\n"));
    assert!(text.contains("  --log-format 'json'"));
}
