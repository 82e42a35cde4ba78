//! `etcdctl` for etcd-rs: a faithful subset of etcdctl 3.5, a gRPC client
//! of etcd's v3 API whose output, error messages and exit codes are the
//! real tool's, so scripts and health checks written for etcdctl work
//! unchanged. The binary is `crates/etcd/src/bin/etcdctl.rs`, which only
//! calls [`main`].
//!
//! Layout:
//! - `cli`: the command tree (which commands exist, their flags, help and
//!   usage texts, cobra's unknown-command and flag errors), the global
//!   flags and their `ETCDCTL_*` variables, and dispatch.
//! - `flags`: pflag's parsing rules and messages, Go durations.
//! - `connect`: endpoints, dialing, `--user`, gRPC errors as text.
//! - `tls`: `--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`.
//! - `kv`: `put`, `get`, `del`.
//! - `endpoint`: `endpoint health`, `endpoint status`.
//! - `member`: `member list`.
//! - `output`: the `simple` and `json` printers, Go's duration and
//!   go-humanize's size formats.
//!
//! Not here: every other etcdctl command (they get cobra's "unknown
//! command" error), the `fields` and `protobuf` formats (`table` is there
//! where etcdctl has it: `endpoint` and `member`), `--hex`, DNS discovery,
//! keepalive settings, and prompting for a password.

mod cli;
mod connect;
mod endpoint;
mod flags;
mod kv;
mod member;
mod output;

/// etcd's table layout and go-humanize's byte sizes, which `etcdutl`'s
/// `snapshot status` prints too.
pub use output::{humanize_bytes, table};
mod tls;

use std::io::Write;
use std::process::ExitCode;

/// etcdctl's exit codes (`cobrautl`).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_BAD_CONNECTION: u8 = 2;
pub const EXIT_BAD_FEATURE: u8 = 4;
pub const EXIT_BAD_ARGS: u8 = 128;

/// What this etcdctl calls itself in `etcdctl version`: the etcd version
/// etcd-rs implements (its server reports the same).
pub const VERSION: &str = "3.5.0";
/// The API version etcdctl 3.5 prints.
pub const API_VERSION: &str = "3.5";

/// A command that failed: printed as `Error: <message>`, then the process
/// exits with `code`, as etcdctl's `ExitWithError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    pub code: u8,
    pub message: String,
}

impl CtlError {
    pub fn new(code: u8, message: impl Into<String>) -> CtlError {
        CtlError {
            code,
            message: message.into(),
        }
    }

    /// A failed request (`ExitError`).
    pub fn error(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_ERROR, message)
    }

    /// Wrong arguments (`ExitBadArgs`).
    pub fn bad_args(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_BAD_ARGS, message)
    }
}

/// How a run ends: the exit code, after everything was printed.
pub type Exit = u8;

/// Runs etcdctl with the process's arguments and environment.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let code = runtime.block_on(cli::run(args, env));
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}
