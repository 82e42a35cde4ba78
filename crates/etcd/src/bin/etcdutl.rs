//! `etcdutl`: works on a member's files while no server runs, like etcd's
//! `etcdutl`. Today: `snapshot restore` (a new cluster's data dir from
//! `etcdctl snapshot save` output) and `version`. The restore itself lives
//! in `etcd_server::restore`; this file is only the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use etcd_server::restore::{restore, RestoreOptions};

/// etcd's exit code for bad arguments (etcdctl's `ExitBadArgs`).
const EXIT_BAD_ARGS: u8 = 128;

#[derive(Parser)]
#[command(
    name = "etcdutl",
    about = "An administrative command line tool for etcd-rs data."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manages etcd node snapshots
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Prints the version of etcdutl
    Version,
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Restores an etcd member snapshot to an etcd directory
    Restore(RestoreArgs),
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The snapshot file, as `etcdctl snapshot save` wrote it.
    filename: Vec<PathBuf>,
    /// Path to the data directory
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Path to the WAL directory (use --data-dir if none given)
    #[arg(long = "wal-dir")]
    wal_dir: Option<PathBuf>,
    /// Human-readable name for this member
    #[arg(long, default_value = "default")]
    name: String,
    /// Initial cluster configuration for restore bootstrap
    #[arg(long = "initial-cluster")]
    initial_cluster: Option<String>,
    /// Initial cluster token for the etcd cluster during restore bootstrap
    #[arg(long = "initial-cluster-token", default_value = "etcd-cluster")]
    initial_cluster_token: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster
    #[arg(
        long = "initial-advertise-peer-urls",
        default_value = "http://localhost:2380"
    )]
    initial_advertise_peer_urls: String,
    /// Ignore snapshot integrity hash value (required if copied from data directory)
    #[arg(long = "skip-hash-check", num_args = 0..=1, default_missing_value = "true")]
    skip_hash_check: Option<bool>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("etcdutl version: {}", etcd_server::VERSION);
            println!("API version: {}", etcd_server::CLUSTER_VERSION);
            ExitCode::SUCCESS
        }
        Command::Snapshot {
            command: SnapshotCommand::Restore(args),
        } => snapshot_restore(args),
    }
}

fn snapshot_restore(args: RestoreArgs) -> ExitCode {
    let [snapshot] = args.filename.as_slice() else {
        eprintln!("Error: snapshot restore requires exactly one argument");
        return ExitCode::from(EXIT_BAD_ARGS);
    };
    // etcd's default names the member's own default peer URL.
    let initial_cluster = args
        .initial_cluster
        .unwrap_or_else(|| format!("{}=http://localhost:2380", args.name));
    let members = match etcd_server::config::parse_initial_cluster(&initial_cluster) {
        Ok(members) => members,
        Err(e) => return fail(e),
    };
    let mut pairs = Vec::new();
    for (name, urls) in members {
        for url in urls {
            pairs.push((name.clone(), url.to_string()));
        }
    }
    let opts = RestoreOptions {
        snapshot: snapshot.clone(),
        name: args.name,
        data_dir: args.data_dir,
        wal_dir: args.wal_dir,
        initial_cluster: pairs,
        initial_cluster_token: args.initial_cluster_token,
        initial_advertise_peer_urls: args
            .initial_advertise_peer_urls
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        skip_hash_check: args.skip_hash_check.unwrap_or(false),
    };
    log("restoring snapshot", &opts.snapshot, None);
    match restore(&opts) {
        Ok(restored) => {
            log("restored snapshot", &opts.snapshot, Some(&restored));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(1)
}

/// One JSON log line on stderr, shaped like etcdutl's zap lines.
fn log(msg: &str, path: &std::path::Path, restored: Option<&etcd_server::restore::Restored>) {
    let mut line = serde_json::json!({
        "level": "info",
        "msg": msg,
        "path": path.display().to_string(),
    });
    if let Some(r) = restored {
        line["wal-dir"] = r.wal_dir.display().to_string().into();
        line["data-dir"] = r.data_dir.display().to_string().into();
        line["snap-dir"] = r.snap_dir.display().to_string().into();
        line["member-id"] = format!("{:x}", r.member_id).into();
        line["cluster-id"] = format!("{:x}", r.cluster_id).into();
    }
    eprintln!("{line}");
}
