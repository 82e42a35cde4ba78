//! `etcdutl`: works on a member's files while no server runs, like etcd's
//! `etcdutl`. Today: `snapshot restore` (a new cluster's data dir from
//! `etcdctl snapshot save` output, ours or etcd's), `snapshot status` (of a
//! snapshot in etcd's format, as etcd computes it), `defrag --data-dir`
//! (a stopped member's backend) and `version`. The
//! restore itself lives in `etcd_server::restore`, the status in
//! `etcd_storage::etcd_snapshot`; this file is only the command line and
//! the printers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use etcd_server::restore::{restore, RestoreOptions};
use etcd_storage::bbolt::read::BoltFile;
use etcd_storage::etcd_snapshot;

// etcd's exit codes (`cobrautl`), shared with our etcdctl.
use etcd_ctl::{EXIT_BAD_ARGS, EXIT_BAD_FEATURE};

#[derive(Parser)]
#[command(
    name = "etcdutl",
    about = "An administrative command line tool for etcd-rs data."
)]
struct Cli {
    /// set the output format (fields, json, protobuf, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        global = true,
        default_value = "simple"
    )]
    write_out: String,
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
    /// Defragments the storage of the etcd
    Defrag {
        /// Required. Defragments a data directory not in use by etcd.
        #[arg(long = "data-dir")]
        data_dir: PathBuf,
    },
    /// Prints the version of etcdutl
    Version,
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Restores an etcd member snapshot to an etcd directory
    Restore(RestoreArgs),
    /// Gets backend snapshot status of a given file
    Status {
        /// The snapshot file.
        filename: Vec<PathBuf>,
    },
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
    /// How much to increase the latest revision after restore
    #[arg(long = "bump-revision", default_value_t = 0)]
    bump_revision: u64,
    /// Mark the latest revision after restore as the point of scheduled compaction (required if --bump-revision > 0, disallowed otherwise)
    #[arg(long = "mark-compacted", num_args = 0..=1, default_missing_value = "true")]
    mark_compacted: Option<bool>,
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
        Command::Snapshot {
            command: SnapshotCommand::Status { filename },
        } => snapshot_status(&filename, &cli.write_out),
        Command::Defrag { data_dir } => defrag(&data_dir),
    }
}

/// `etcdutl defrag --data-dir`: compacts a stopped member's backend file
/// in place. Silent on success, as etcd's; a running member holds the
/// file's lock, so its data dir is refused rather than changed under it.
fn defrag(data_dir: &std::path::Path) -> ExitCode {
    let db = data_dir.join("member").join("snap").join("db");
    let result = if !db.exists() {
        Err(format!("open {}: no such file or directory", db.display()))
    } else {
        etcd_storage::Backend::open(&db)
            .map_err(|e| e.to_string())
            .and_then(|backend| {
                backend
                    .defragment(std::time::Duration::from_secs(5))
                    .map_err(|e| e.to_string())
            })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "Failed to defragment etcd data[{}] ({e})",
                data_dir.display()
            );
            ExitCode::from(1)
        }
    }
}

fn snapshot_status(filename: &[PathBuf], format: &str) -> ExitCode {
    let [file] = filename else {
        eprintln!("Error: snapshot status requires exactly one argument");
        return ExitCode::from(EXIT_BAD_ARGS);
    };
    if !matches!(format, "simple" | "json" | "table" | "fields") {
        eprintln!("Error: {format} not supported as output format");
        return ExitCode::from(EXIT_BAD_FEATURE);
    }
    if let Err(e) = std::fs::metadata(file) {
        return fail(format!("stat {}: {}", file.display(), io_reason(&e)));
    }
    let status = BoltFile::open(file).and_then(|bolt| etcd_snapshot::status(&bolt));
    let s = match status {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match format {
        "json" => println!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}",
            s.hash, s.revision, s.total_key, s.total_size
        ),
        "fields" => {
            println!("\"Hash\" : {}", s.hash);
            println!("\"Revision\" : {}", s.revision);
            println!("\"Keys\" : {}", s.total_key);
            println!("\"Size\" : {}", s.total_size);
        }
        "table" => print!(
            "{}",
            etcd_ctl::table(
                &["hash", "revision", "total keys", "total size"],
                &[vec![
                    format!("{:x}", s.hash),
                    s.revision.to_string(),
                    s.total_key.to_string(),
                    etcd_ctl::humanize_bytes(s.total_size),
                ]],
            )
        ),
        _ => println!(
            "{:x}, {}, {}, {}",
            s.hash,
            s.revision,
            s.total_key,
            etcd_ctl::humanize_bytes(s.total_size)
        ),
    }
    ExitCode::SUCCESS
}

/// Go's wording of common file errors (`no such file or directory`).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn snapshot_restore(args: RestoreArgs) -> ExitCode {
    let [snapshot] = args.filename.as_slice() else {
        eprintln!("Error: snapshot restore requires exactly one argument");
        return ExitCode::from(EXIT_BAD_ARGS);
    };
    let mark_compacted = args.mark_compacted.unwrap_or(false);
    if (args.bump_revision == 0) == mark_compacted {
        // etcd's wording, flag name and all.
        eprintln!("Error: --mark-compacted required if --revision-bump > 0");
        return ExitCode::from(EXIT_BAD_ARGS);
    }
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
        bump_revision: args.bump_revision,
        mark_compacted,
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
