//! `ETCD_*` environment variables, applied the way etcd's
//! `flags.SetFlagsFromEnv` does: every flag not given on the command line
//! takes its variable's value when that is non-empty; a variable whose flag
//! was also given on the command line is fatal; other `ETCD_*` variables
//! only warn. Command-line parsing and `ETCD_CONFIG_FILE` are handled by
//! the caller.

use std::collections::{BTreeMap, BTreeSet};

use super::flags::{self, env_key};
use super::{Config, ConfigError, Notice};

/// The variable etcd refuses to take from the environment.
const VERSION_KEY: &str = "ETCD_VERSION";

/// etcd's warning for a flag it dropped long ago but still accepts.
pub(crate) fn obsolete_notice(name: &str) -> Notice {
    Notice::warn(
        "flag is no longer supported - ignoring",
        vec![("flag-name", name.to_string())],
    )
}

/// Applies the environment to `cfg`.
///
/// `cli_set` holds the names of flags given on the command line; flags set
/// from a variable are added to it, since etcd treats them as set too.
pub(crate) fn apply(
    cfg: &mut Config,
    cli_set: &mut BTreeSet<String>,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (key, value) in env {
        if key == VERSION_KEY && !value.is_empty() {
            cfg.notices.push(Notice::warn(
                "cannot set special environment variable",
                vec![("key", key.clone()), ("value", value.clone())],
            ));
            continue;
        }
        vars.push((key.clone(), value.clone()));
    }
    // When a variable repeats, the process sees the last one.
    let lookup: BTreeMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let shadowed: BTreeSet<String> = cli_set.iter().map(|name| env_key(name)).collect();

    // etcd walks its flags in name order and reports the last bad value.
    let mut used = BTreeSet::new();
    let mut error = None;
    let mut by_name: Vec<&flags::Flag> = flags::all().iter().collect();
    by_name.sort_by_key(|f| f.name);
    for flag in by_name {
        let key = flag.env_key();
        if shadowed.contains(&key) {
            continue;
        }
        let Some(value) = lookup.get(key.as_str()).copied().filter(|v| !v.is_empty()) else {
            continue;
        };
        used.insert(key.clone());
        match (flag.set)(cfg, value) {
            Ok(()) => {
                cli_set.insert(flag.name.to_string());
                cfg.notices.push(Notice::info(
                    "recognized and used environment variable",
                    vec![
                        ("variable-name", key),
                        ("variable-value", value.to_string()),
                    ],
                ));
            }
            Err(reason) => {
                error = Some(ConfigError::Env {
                    key,
                    value: value.to_string(),
                    reason,
                });
            }
        }
    }
    for name in flags::OBSOLETE {
        let key = env_key(name);
        if shadowed.contains(&key) || lookup.get(key.as_str()).is_none_or(|v| v.is_empty()) {
            continue;
        }
        used.insert(key);
        cfg.notices.push(obsolete_notice(name));
    }

    for (key, value) in &vars {
        if used.contains(key) {
            continue;
        }
        if shadowed.contains(key) {
            return Err(ConfigError::ShadowedEnv(key.clone()));
        }
        if key.starts_with("ETCD_") {
            cfg.notices.push(Notice::warn(
                "unrecognized environment variable",
                vec![("environment-variable", format!("{key}={value}"))],
            ));
        }
    }
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fills_unset_flags() {
        let mut cfg = Config::default();
        let mut set = BTreeSet::new();
        apply(
            &mut cfg,
            &mut set,
            &env(&[("ETCD_NAME", "n1"), ("ETCD_SNAPSHOT_COUNT", "5")]),
        )
        .unwrap();
        assert_eq!(cfg.name, "n1");
        assert_eq!(cfg.snapshot_count, 5);
        assert!(set.contains("name"));
        assert_eq!(
            cfg.notices[0].message,
            "recognized and used environment variable"
        );
    }

    #[test]
    fn flag_and_variable_together_is_fatal() {
        let mut cfg = Config::default();
        let mut set = BTreeSet::from(["name".to_string()]);
        let err = apply(&mut cfg, &mut set, &env(&[("ETCD_NAME", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
        );
        // Even an empty variable counts, as in etcd.
        let err = apply(&mut cfg, &mut set, &env(&[("ETCD_NAME", "")])).unwrap_err();
        assert!(matches!(err, ConfigError::ShadowedEnv(_)));
    }

    #[test]
    fn unknown_and_special_variables_warn() {
        let mut cfg = Config::default();
        let mut set = BTreeSet::new();
        apply(
            &mut cfg,
            &mut set,
            &env(&[
                ("ETCD_FOO", "1"),
                ("ETCD_VERSION", "1"),
                ("ETCDCTL_API", "3"),
                ("ETCD_V", "1"),
            ]),
        )
        .unwrap();
        let messages: Vec<_> = cfg
            .notices
            .iter()
            .map(|n| (n.message.as_str(), n.fields.clone()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    "cannot set special environment variable",
                    vec![
                        ("key", "ETCD_VERSION".to_string()),
                        ("value", "1".to_string())
                    ]
                ),
                (
                    "flag is no longer supported - ignoring",
                    vec![("flag-name", "v".to_string())]
                ),
                (
                    "unrecognized environment variable",
                    vec![("environment-variable", "ETCD_FOO=1".to_string())]
                ),
            ]
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let mut cfg = Config::default();
        let mut set = BTreeSet::new();
        let err = apply(&mut cfg, &mut set, &env(&[("ETCD_SNAPSHOT_COUNT", "abc")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error"
        );
        let err = apply(
            &mut cfg,
            &mut set,
            &env(&[("ETCD_LISTEN_CLIENT_URLS", "foo")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"foo\" for ETCD_LISTEN_CLIENT_URLS: URL scheme must be http, https, unix, or unixs: foo"
        );
        assert_eq!(err.exit_code(), 1);
    }
}
