//! The command line, read with Go `flag` package rules, and the order in
//! which etcd combines it with the environment or a config file.
//!
//! Go's rules: `-x` and `--x` are the same; `--x=v` or `--x v`, except that
//! boolean flags only take `--x=v`; `--` or the first non-flag argument
//! ends the flags; `-h`/`--help` asks for help. The first bad flag stops
//! parsing with Go's message. Validation and the per-source details live in
//! `env.rs`, `file.rs`, `validate.rs` and `support.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::flags::{self, lookup};
use super::value::{go_quote, parse_bool};
use super::{cluster, compaction, env, file, help, support, validate};
use super::{Config, ConfigError, Notice, ParseOutcome, DEFAULT_NAME};

/// What the command line itself said, besides flag values.
#[derive(Default)]
struct CommandLine {
    /// Names of every flag given (etcd's "already set" list).
    set: BTreeSet<String>,
    config_file: Option<String>,
    version: bool,
}

/// Result of walking the arguments.
enum Walk {
    /// `-h`/`--help` was reached.
    Help,
    /// Flags consumed; these arguments are left over.
    Done(Vec<String>),
}

/// The minimum deadline etcd enforces on peer connections.
const MIN_RAFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Turns arguments (without `argv[0]`) and the environment into an outcome.
pub(crate) fn resolve(
    args: &[String],
    env: &[(String, String)],
) -> Result<ParseOutcome, ConfigError> {
    if let Some(cmd) = args
        .first()
        .filter(|a| matches!(a.as_str(), "gateway" | "grpc-proxy"))
    {
        return Err(ConfigError::not_supported(format!("`etcd {cmd}`"), ""));
    }
    let mut cfg = Config::default();
    let mut cli = CommandLine::default();
    let rest = match walk(args, &mut cfg, &mut cli)? {
        Walk::Help => return Ok(ParseOutcome::PrintHelp(help::flags_text())),
        Walk::Done(rest) => rest,
    };
    if let Some(stray) = rest.first() {
        return Err(ConfigError::NotAFlag(stray.clone()));
    }
    if cli.version {
        return Ok(ParseOutcome::PrintVersion);
    }

    let file_path = cli
        .config_file
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            env.iter()
                .rev()
                .find(|(k, _)| k == "ETCD_CONFIG_FILE")
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        });
    let defaults = match file_path {
        Some(path) => {
            cfg = file::load(&PathBuf::from(path))?;
            validate::check(&mut cfg)?;
            file::defaults()
        }
        None => {
            from_command_line(&mut cfg, &mut cli, env)?;
            Config::default()
        }
    };
    finish(&mut cfg, &defaults)?;
    Ok(ParseOutcome::Run(cfg))
}

/// Environment, etcd's flag-dependent defaults and checks, deprecations.
fn from_command_line(
    cfg: &mut Config,
    cli: &mut CommandLine,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    env::apply(cfg, &mut cli.set, env)?;
    // etcd 3.6's checks on its new names, before the others as in etcd.
    cfg.feature_gates
        .conflicts()
        .map_err(ConfigError::Invalid)?;
    validate::check_renamed(|name| cli.set.contains(name))?;
    for (name, timeout) in [
        ("raft-read-timeout", &mut cfg.raft_read_timeout),
        ("raft-write-timeout", &mut cfg.raft_write_timeout),
    ] {
        if *timeout < MIN_RAFT_TIMEOUT {
            *timeout = MIN_RAFT_TIMEOUT;
            cfg.notices.push(Notice::info(
                format!("{name} increased to minimum value: 5s"),
                vec![],
            ));
        }
    }
    let may_be_proxy =
        cfg.proxy != "off" || (!cfg.discovery.is_empty() && cfg.discovery_fallback == "proxy");
    // Listening on chosen client URLs means the default advertised URL
    // (localhost) would be wrong, so etcd insists on an explicit one.
    if cli.set.contains("listen-client-urls")
        && !cli.set.contains("advertise-client-urls")
        && !may_be_proxy
    {
        cfg.advertise_client_urls.clear();
    }
    let discovers = !cfg.discovery.is_empty()
        || !cfg.discovery_srv.is_empty()
        || !cfg.discovery_srv_name.is_empty();
    if discovers && !cli.set.contains("initial-cluster") {
        cfg.initial_cluster.clear();
    }
    match validate::check(cfg) {
        Err(ConfigError::UnsetAdvertiseClientUrls) if may_be_proxy => {}
        other => other?,
    }
    for name in flags::DEPRECATED.iter().filter(|n| cli.set.contains(**n)) {
        cfg.notices.push(Notice::warn(
            format!("--{name} is deprecated in 3.5 and will be decommissioned in 3.6."),
            vec![],
        ));
    }
    Ok(())
}

/// Defaults etcd derives at startup, the retention check, and support rules.
fn finish(cfg: &mut Config, defaults: &Config) -> Result<(), ConfigError> {
    if cfg.name != DEFAULT_NAME && cfg.initial_cluster == defaults.initial_cluster {
        cfg.initial_cluster =
            cluster::initial_cluster_from_name(&cfg.name, &cfg.initial_advertise_peer_urls);
    }
    if cfg.data_dir.is_none() {
        let dir = cfg.data_dir();
        cfg.notices.push(Notice::warn(
            "'data-dir' was empty; using default",
            vec![("data-dir", dir.display().to_string())],
        ));
    }
    compaction::resolve(cfg.auto_compaction_mode, &cfg.auto_compaction_retention)
        .map_err(ConfigError::Invalid)?;
    support::classify(cfg, defaults)
}

/// Walks the arguments like Go's `FlagSet.Parse`.
fn walk(args: &[String], cfg: &mut Config, cli: &mut CommandLine) -> Result<Walk, ConfigError> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        let dashes = if arg.starts_with("--") { 2 } else { 1 };
        if arg == "--" {
            i += 1;
            break;
        }
        let body = &arg[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::Flag(format!("bad flag syntax: {arg}")));
        }
        i += 1;
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let takes_value = match name {
            "config-file" => true,
            "version" => false,
            n if flags::OBSOLETE.contains(&n) => false,
            n => match lookup(n) {
                Some(flag) => !flag.is_bool,
                None if n == "help" || n == "h" => return Ok(Walk::Help),
                None => {
                    return Err(ConfigError::Flag(format!(
                        "flag provided but not defined: -{n}"
                    )))
                }
            },
        };
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => {
                    let Some(next) = args.get(i) else {
                        return Err(ConfigError::Flag(format!(
                            "flag needs an argument: -{name}"
                        )));
                    };
                    i += 1;
                    next.clone()
                }
            }
        } else {
            // Boolean flags: validate an inline value like Go does.
            if let Some(v) = &inline {
                // etcd's obsolete flags swallow any value.
                if parse_bool(v).is_err() && !flags::OBSOLETE.contains(&name) {
                    return Err(ConfigError::Flag(format!(
                        "invalid boolean value {} for -{name}: parse error",
                        go_quote(v)
                    )));
                }
            }
            inline.unwrap_or_else(|| "true".to_string())
        };
        apply(name, &value, cfg, cli)?;
        cli.set.insert(name.to_string());
    }
    Ok(Walk::Done(args[i..].to_vec()))
}

/// Stores one flag value.
fn apply(
    name: &str,
    value: &str,
    cfg: &mut Config,
    cli: &mut CommandLine,
) -> Result<(), ConfigError> {
    match name {
        "config-file" => cli.config_file = Some(value.to_string()),
        "version" => cli.version = parse_bool(value).unwrap_or(true),
        n if flags::OBSOLETE.contains(&n) => cfg.notices.push(env::obsolete_notice(n)),
        n => {
            if let Some(flag) = lookup(n) {
                (flag.set)(cfg, value).map_err(|reason| {
                    ConfigError::Flag(format!(
                        "invalid value {} for flag -{n}: {reason}",
                        go_quote(value)
                    ))
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_args(args: &[&str]) -> Result<(Config, Vec<String>), String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut cfg = Config::default();
        let mut cli = CommandLine::default();
        match walk(&args, &mut cfg, &mut cli).map_err(|e| e.to_string())? {
            Walk::Help => Err("help".into()),
            Walk::Done(rest) => Ok((cfg, rest)),
        }
    }

    #[test]
    fn go_flag_syntax() {
        let (cfg, rest) = walk_args(&[
            "-name",
            "a",
            "--snapshot-count=5",
            "--force-new-cluster",
            "x",
        ])
        .unwrap();
        assert_eq!(cfg.name, "a");
        assert_eq!(cfg.snapshot_count, 5);
        assert!(cfg.force_new_cluster);
        assert_eq!(rest, vec!["x"]);
        let (cfg, rest) =
            walk_args(&["--strict-reconfig-check=false", "--", "--name", "b"]).unwrap();
        assert!(!cfg.strict_reconfig_check);
        assert_eq!(rest, vec!["--name", "b"]);
        // A value may itself start with a dash.
        let (cfg, _) = walk_args(&["--name", "-x"]).unwrap();
        assert_eq!(cfg.name, "-x");
    }

    #[test]
    fn go_flag_errors() {
        assert_eq!(
            walk_args(&["--foo"]).unwrap_err(),
            "flag provided but not defined: -foo"
        );
        assert_eq!(
            walk_args(&["---name"]).unwrap_err(),
            "bad flag syntax: ---name"
        );
        assert_eq!(
            walk_args(&["--name"]).unwrap_err(),
            "flag needs an argument: -name"
        );
        assert_eq!(
            walk_args(&["--force-new-cluster=x"]).unwrap_err(),
            "invalid boolean value \"x\" for -force-new-cluster: parse error"
        );
        assert_eq!(
            walk_args(&["--snapshot-count", "abc"]).unwrap_err(),
            "invalid value \"abc\" for flag -snapshot-count: parse error"
        );
        assert_eq!(
            walk_args(&["--max-concurrent-streams=x"]).unwrap_err(),
            "invalid value \"x\" for flag -max-concurrent-streams: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            walk_args(&["--initial-cluster-state=x"]).unwrap_err(),
            "invalid value \"x\" for flag -initial-cluster-state: invalid value"
        );
        assert_eq!(
            walk_args(&["--name", "a", "-h", "--foo"]).unwrap_err(),
            "help"
        );
    }

    #[test]
    fn obsolete_flags_warn() {
        let (cfg, rest) = walk_args(&["-v", "--snapshot=3"]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(cfg.notices().len(), 2);
    }
}
