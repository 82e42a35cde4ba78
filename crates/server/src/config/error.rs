//! Why a configuration was refused. `Display` is the message to print,
//! worded as etcd words it; [`ConfigError::exit_code`] and
//! [`ConfigError::prints_usage`] say how etcd exits.

use super::value::go_quote;

/// A configuration etcd-rs will not start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Malformed command line, worded as Go's `flag` package does
    /// (`flag provided but not defined: -foo`,
    /// `invalid value "abc" for flag -snapshot-count: parse error`).
    /// etcd prints it with the usage text to stderr and exits 2.
    #[error("{0}")]
    Flag(String),
    /// A stray argument that is not a flag (`etcd foo`, or
    /// `--force-new-cluster false` where the value needed `=`).
    #[error("'{0}' is not a valid flag")]
    NotAFlag(String),
    /// The same setting given both as a flag and as an `ETCD_*` variable.
    #[error(
        "conflicting environment variable {} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)",
        go_quote(.0)
    )]
    ShadowedEnv(String),
    /// An `ETCD_*` variable with a value its flag does not accept.
    #[error("invalid value {} for {key}: {reason}", go_quote(.value))]
    Env {
        /// The variable name, e.g. `ETCD_SNAPSHOT_COUNT`.
        key: String,
        /// The value as given.
        value: String,
        /// Why it was refused (`parse error`, a URL error, ...).
        reason: String,
    },
    /// The `--config-file` could not be read or decoded.
    #[error("{0}")]
    File(String),
    /// `--listen-client-urls` was set without `--advertise-client-urls`.
    /// etcd logs a second line, "advertise client URLs are not set", for it.
    #[error("--advertise-client-urls is required when --listen-client-urls is set explicitly")]
    UnsetAdvertiseClientUrls,
    /// One of etcd's consistency checks failed (message verbatim).
    #[error("{0}")]
    Invalid(String),
    /// A setting etcd-rs cannot honour yet and must not silently ignore.
    #[error("{what} is not yet supported by etcd-rs{hint}")]
    NotSupported {
        /// What was asked for, e.g. `--cert-file`.
        what: String,
        /// Extra guidance, starting with `; ` when present.
        hint: String,
    },
    /// Logging could not be set up (e.g. a log file could not be opened).
    #[error("{0}")]
    Logging(String),
}

impl ConfigError {
    /// The process exit status etcd uses for this error: 2 for command-line
    /// syntax errors (Go's `flag` package), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Flag(_) => 2,
            _ => 1,
        }
    }

    /// Whether etcd prints the usage text ([`super::usage`]) to stderr after
    /// the message; only for command-line syntax errors.
    pub fn prints_usage(&self) -> bool {
        matches!(self, ConfigError::Flag(_))
    }

    pub(crate) fn not_supported(what: impl Into<String>, hint: &str) -> ConfigError {
        ConfigError::NotSupported {
            what: what.into(),
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!("; {hint}")
            },
        }
    }
}
