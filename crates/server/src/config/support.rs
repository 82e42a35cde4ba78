//! What etcd-rs does with settings it has not implemented: the flag table's
//! `Support` column, applied to flags whose value differs from the default,
//! plus the rules that depend on a value rather than a flag (`--auth-token`
//! types, journald logging, Host-header filtering). See the classification
//! in the `config` module doc.

use super::flags::{self, Section, Support};
use super::{Config, ConfigError, Notice, Unsupported};

/// bcrypt's accepted cost range and the cost etcd falls back to.
const BCRYPT_MIN_COST: u64 = 4;
const BCRYPT_MAX_COST: u64 = 31;
const BCRYPT_DEFAULT_COST: u64 = 10;

/// Refuses settings etcd-rs must not ignore and records the ones it ignores.
/// `defaults` is the baseline of the configuration's source (flags or file).
pub(crate) fn classify(cfg: &mut Config, defaults: &Config) -> Result<(), ConfigError> {
    check_auth_token(&cfg.auth_token)?;
    if cfg.log_outputs.iter().any(|o| o == "systemd/journal") {
        return Err(ConfigError::not_supported(
            "--log-outputs=systemd/journal",
            "log to stderr and let systemd collect it",
        ));
    }
    if cfg.host_whitelist.iter().any(|h| h != "*" && !h.is_empty()) {
        return Err(ConfigError::not_supported(
            "--host-whitelist",
            "etcd-rs does not filter HTTP Host headers yet",
        ));
    }
    let mut ignored = Vec::new();
    for flag in flags::all() {
        if (flag.is_default)(cfg, defaults) {
            continue;
        }
        match flag.support {
            Support::Supported | Support::ByValue => {}
            Support::Ignored => ignored.push(Unsupported { flag: flag.name }),
            Support::Rejected => {
                return Err(ConfigError::not_supported(
                    format!("--{}", flag.name),
                    hint(flag.name, flag.section),
                ));
            }
        }
    }
    // JSON is the one format etcd-rs writes.
    if cfg.log_format == "console" {
        ignored.push(Unsupported { flag: "log-format" });
    }
    cfg.unsupported = ignored;
    if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cfg.bcrypt_cost) {
        cfg.notices.push(Notice::warn(
            "use default bcrypt cost instead of the invalid given cost",
            vec![
                ("min-cost", BCRYPT_MIN_COST.to_string()),
                ("max-cost", BCRYPT_MAX_COST.to_string()),
                ("default-cost", BCRYPT_DEFAULT_COST.to_string()),
                ("given-cost", cfg.bcrypt_cost.to_string()),
            ],
        ));
        cfg.bcrypt_cost = BCRYPT_DEFAULT_COST;
    }
    Ok(())
}

/// Guidance printed after "... is not yet supported by etcd-rs".
fn hint(name: &str, section: Section) -> &'static str {
    match (name, section) {
        ("discovery" | "discovery-srv" | "discovery-srv-name", _) => {
            "bootstrap with --initial-cluster instead"
        }
        ("proxy", _) => "etcd-rs only runs as a cluster member",
        _ => "",
    }
}

/// `--auth-token`: `simple[,opt=v...]` and `jwt,opt=v,...` work (the JWT
/// keys are read at start); other types (and malformed options) fail as
/// etcd fails them.
fn check_auth_token(opts: &str) -> Result<(), ConfigError> {
    let mut parts = opts.split(',');
    let kind = parts.next().unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for pair in parts {
        let kv: Vec<&str> = pair.split('=').collect();
        if kv.len() != 2 || !seen.insert(kv[0]) {
            return Err(ConfigError::Invalid(
                "auth: invalid auth options".to_string(),
            ));
        }
    }
    match kind {
        "simple" | "jwt" => Ok(()),
        "" => Err(ConfigError::not_supported(
            "an empty --auth-token",
            "use --auth-token=simple",
        )),
        _ => Err(ConfigError::Invalid(
            "auth: invalid auth options".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Url;

    fn classify_default(f: impl FnOnce(&mut Config)) -> Result<Config, String> {
        let mut cfg = Config::default();
        f(&mut cfg);
        classify(&mut cfg, &Config::default())
            .map(|()| cfg)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_clean() {
        let cfg = classify_default(|_| {}).unwrap();
        assert!(cfg.unsupported().is_empty());
    }

    #[test]
    fn harmless_flags_are_listed() {
        let cfg = classify_default(|c| {
            c.enable_pprof = true;
            c.max_wals = 1;
            c.pre_vote = true; // the default: not listed
        })
        .unwrap();
        let names: Vec<_> = cfg.unsupported().iter().map(|u| u.flag).collect();
        assert_eq!(names, vec!["max-wals", "enable-pprof"]);
    }

    #[test]
    fn unsafe_flags_are_refused() {
        assert!(classify_default(|c| c.client_tls.cert_file = Some("/x.crt".into())).is_ok());
        assert_eq!(
            classify_default(|c| c.discovery = "https://d".into()).unwrap_err(),
            "--discovery is not yet supported by etcd-rs; bootstrap with --initial-cluster instead"
        );
        assert_eq!(
            classify_default(|c| c.force_new_cluster = true).unwrap_err(),
            "--force-new-cluster is not yet supported by etcd-rs"
        );
        assert!(classify_default(
            |c| c.auth_token = "jwt,pub-key=a,priv-key=b,sign-method=RS256".into()
        )
        .is_ok());
        assert_eq!(
            classify_default(|c| c.auth_token = "foo".into()).unwrap_err(),
            "auth: invalid auth options"
        );
        assert!(classify_default(|c| c.auth_token = "simple".into()).is_ok());
        assert!(classify_default(
            |c| c.listen_client_urls = Url::parse_list("unixs://localhost:2379").unwrap()
        )
        .is_ok());
        assert!(classify_default(|c| c.host_whitelist = vec![String::new()]).is_ok());
        assert!(classify_default(|c| c.host_whitelist = vec!["a.example".into()]).is_err());
        assert!(classify_default(|c| c.log_outputs = vec!["systemd/journal".into()]).is_err());
    }

    #[test]
    fn bad_bcrypt_cost_falls_back() {
        let cfg = classify_default(|c| c.bcrypt_cost = 99).unwrap();
        assert_eq!(cfg.bcrypt_cost, 10);
        assert_eq!(
            cfg.notices()[0].message,
            "use default bcrypt cost instead of the invalid given cost"
        );
    }
}
