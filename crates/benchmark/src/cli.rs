//! The command line: global flags shared by every workload, and one
//! subcommand per workload, named and defaulted like etcd's own `benchmark`
//! tool (etcd 3.4 `tools/benchmark`) so that its command lines run here as
//! they are.
//!
//! Owns parsing and the flags' documentation only. Checking that values make
//! sense together (e.g. key size vs key space) belongs to the workload that
//! uses them; connecting belongs to `connect`.
//!
//! Boolean flags take Go's forms too: `--precise`, `--precise=true`,
//! `--precise=false`.

use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_go_duration;

/// A load generator for etcd v3 servers that speaks the gRPC API directly.
#[derive(Debug, Parser)]
#[command(
    name = "etcd-benchmark",
    version,
    about = "A low-level benchmark tool for etcd v3 servers (etcd-rs or etcd)",
    long_about = "A low-level benchmark tool for etcd v3 servers (etcd-rs or etcd).\n\
                  It talks gRPC directly, without an etcd client library, and \
                  takes the flags of etcd's own `benchmark` tool."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every workload shares; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// gRPC endpoints, comma-separated: `host:port`, `http://host:port` or
    /// `https://host:port` (TLS). A bare `host:port` uses TLS when any of
    /// --cacert, --cert, --key is given, as with etcd's client.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,

    /// Total number of gRPC connections (HTTP/2 connections).
    #[arg(long, global = true, default_value_t = 1)]
    pub conns: usize,

    /// Total number of concurrent clients; client i uses connection i % conns.
    #[arg(long, global = true, default_value_t = 1)]
    pub clients: usize,

    /// Print latencies with full floating point precision.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub precise: bool,

    /// Connect only to the leader: with several endpoints, ask each one's
    /// Maintenance.Status and keep the one that says it leads.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub target_leader: bool,

    /// Send `put` and `range` to the JSON gateway (`POST /v3/kv/put`,
    /// `/v3/kv/range` over HTTP/1.1, one connection per client) instead of
    /// gRPC. Not an etcd flag: it measures the servers' gateways.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub gateway: bool,

    /// Print the report as one JSON object instead of etcd's text layout.
    #[arg(long, global = true, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub json: bool,

    /// Dial timeout for each connection, as a Go duration (0 = none).
    #[arg(long, global = true, default_value = "0", value_parser = parse_go_duration)]
    pub dial_timeout: Duration,

    /// Verify certificates of HTTPS-enabled servers using this CA bundle
    /// (PEM); without it, `https://` servers are verified against the
    /// system's trust store.
    #[arg(long, global = true)]
    pub cacert: Option<String>,

    /// Identify HTTPS client using this SSL certificate file (PEM; with
    /// --key), for servers started with --client-cert-auth.
    #[arg(long, global = true)]
    pub cert: Option<String>,

    /// Identify HTTPS client using this SSL key file (PEM: PKCS#8, RSA or
    /// EC; with --cert). Its own id: `range`'s KEY argument already answers
    /// to `key`.
    #[arg(long = "key", id = "key_file", value_name = "KEY_FILE", global = true)]
    pub key_file: Option<String>,

    /// Authenticate as `username:password`: the benchmark asks the server
    /// for a token (Auth.Authenticate) and sends it with every request; a
    /// server with auth off is used without one, as etcd's client does.
    /// etcd's tool prompts for a missing password; this one refuses.
    #[arg(long, global = true)]
    pub user: Option<String>,
}

/// The workloads.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark put.
    Put(PutArgs),
    /// Benchmark watch fan-out: open watchers, then put to the watched keys
    /// and time each event's delivery to every watcher.
    Watch(WatchArgs),
    /// Benchmark lease keepalive: each client grants one lease, then sends
    /// keepalives for it over its own LeaseKeepAlive stream.
    LeaseKeepalive(LeaseKeepaliveArgs),
    /// Benchmark range.
    Range(RangeArgs),
    /// Benchmark txn-put: transactions of --txn-ops puts each.
    TxnPut(TxnPutArgs),
    /// Benchmark watch latency: the time from a put's ack to each watcher
    /// receiving its event, all watchers on one key, puts from a client of
    /// their own on a connection of their own.
    WatchLatency(WatchLatencyArgs),
}

/// Flags of `put`, with etcd's names and defaults.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// Total number of put requests.
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,

    /// Key size of put request, in bytes.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,

    /// Value size of put request, in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,

    /// Maximum puts per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,

    /// Use sequential keys (request i writes key i % key-space-size) rather
    /// than random ones.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub sequential_keys: bool,

    /// Interval to compact the store while putting, as a Go duration
    /// (e.g. 5m; 0 = never). Do not combine with the server's own
    /// --auto-compaction-retention.
    #[arg(long, default_value = "0", value_parser = parse_go_duration)]
    pub compact_interval: Duration,

    /// How far behind the current revision each compaction goes (current
    /// revision 10000 with delta 1000 compacts at 9000).
    #[arg(long, default_value_t = 1000)]
    pub compact_index_delta: i64,
}

/// Flags of `watch`, with etcd's names and defaults where etcd has them.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Total watch streams; stream i is opened by client i % clients.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,

    /// Total watchers per stream.
    #[arg(long, default_value_t = 100)]
    pub watch_per_stream: usize,

    /// Total number of keys to be watched; watcher j watches key
    /// j % watched-key-total.
    #[arg(long, default_value_t = 1)]
    pub watched_key_total: usize,

    /// Number of keys to put per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub put_rate: u64,

    /// Number of put requests; put i writes watched key i % watched-key-total.
    #[arg(long, default_value_t = 1000)]
    pub put_total: u64,

    /// Key size of watch request, in bytes.
    #[arg(long, default_value_t = 32)]
    pub key_size: usize,

    /// Value size of each put, in bytes (not an etcd flag: etcd's tool puts
    /// the 4-byte value "data", which the default matches in size).
    #[arg(long, default_value_t = 4)]
    pub val_size: usize,

    /// Maximum possible keys: watched keys are drawn from this many.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,

    /// Use sequential keys (watched key i is key number i % key-space-size)
    /// rather than random ones.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub sequential_keys: bool,
}

/// Flags of `lease-keepalive`, with etcd's names and defaults.
#[derive(Debug, Clone, Args)]
pub struct LeaseKeepaliveArgs {
    /// Total number of lease keepalive requests.
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,
}

/// Flags of `range`, with etcd's names and defaults.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// The key to read, or the start of the range.
    pub key: String,

    /// The end of the range (exclusive); without it, only KEY is read.
    pub end: Option<String>,

    /// Total number of range requests.
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,

    /// Maximum range requests per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// Linearizable(l) or Serializable(s).
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,

    /// Maximum number of results to return from range request (0 is no
    /// limit).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    pub limit: i64,

    /// Only returns the count of keys.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub count_only: bool,
}

/// How a range read is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Consistency {
    /// Linearizable: confirmed with the leader (ReadIndex) first.
    #[value(name = "l")]
    Linearizable,
    /// Serializable: answered from the member's own store.
    #[value(name = "s")]
    Serializable,
}

/// Flags of `txn-put`, with etcd's names and defaults.
#[derive(Debug, Clone, Args)]
pub struct TxnPutArgs {
    /// Total number of txn requests.
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,

    /// Key size of txn put, in bytes.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,

    /// Value size of txn put, in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,

    /// Maximum possible keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,

    /// Number of puts per txn.
    #[arg(long, default_value_t = 1)]
    pub txn_ops: u64,

    /// Maximum txns per second (0 is no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

/// Flags of `watch-latency`, with etcd's names and defaults.
#[derive(Debug, Clone, Args)]
pub struct WatchLatencyArgs {
    /// Total watch streams; stream i is opened by client i % clients.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,

    /// Total watchers per stream.
    #[arg(long, default_value_t = 10)]
    pub watchers_per_stream: usize,

    /// PrevKV enabled on watch requests.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = ArgAction::Set)]
    pub prevkv: bool,

    /// Total number of put requests.
    #[arg(long, default_value_t = 1000)]
    pub put_total: u64,

    /// Number of keys to put per second (0 is no limit).
    #[arg(long, default_value_t = 100)]
    pub put_rate: u64,

    /// Key size of watch response, in bytes.
    #[arg(long, default_value_t = 32)]
    pub key_size: usize,

    /// Value size of watch response, in bytes.
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("etcd-benchmark").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_match_etcd() {
        let cli = parse(&["put"]);
        assert_eq!(cli.global.endpoints, vec!["127.0.0.1:2379"]);
        assert_eq!((cli.global.conns, cli.global.clients), (1, 1));
        assert!(!cli.global.precise && !cli.global.json && !cli.global.target_leader);
        let Command::Put(put) = cli.command else {
            panic!("not put")
        };
        assert_eq!(put.total, 10_000);
        assert_eq!((put.key_size, put.val_size), (8, 8));
        assert_eq!((put.rate, put.key_space_size), (0, 1));
        assert!(!put.sequential_keys);
        assert_eq!(put.compact_interval, Duration::ZERO);
        assert_eq!(put.compact_index_delta, 1000);
    }

    #[test]
    fn takes_an_etcd_command_line() {
        let cli = parse(&[
            "--endpoints=127.0.0.1:1,http://127.0.0.1:2",
            "--conns=10",
            "--clients",
            "100",
            "put",
            "--key-size=8",
            "--val-size",
            "256",
            "--sequential-keys",
            "--key-space-size=1000",
            "--compact-interval=5m",
            "--precise=true",
        ]);
        assert_eq!(
            cli.global.endpoints,
            vec!["127.0.0.1:1", "http://127.0.0.1:2"]
        );
        assert_eq!((cli.global.conns, cli.global.clients), (10, 100));
        assert!(cli.global.precise);
        let Command::Put(put) = cli.command else {
            panic!("not put")
        };
        assert_eq!(put.val_size, 256);
        assert!(put.sequential_keys);
        assert_eq!(put.key_space_size, 1000);
        assert_eq!(put.compact_interval, Duration::from_secs(300));
    }

    #[test]
    fn watch_defaults_match_etcd() {
        let Command::Watch(w) = parse(&["watch"]).command else {
            panic!("not watch")
        };
        assert_eq!(
            (w.streams, w.watch_per_stream, w.watched_key_total),
            (10, 100, 1)
        );
        assert_eq!((w.put_rate, w.put_total), (0, 1000));
        assert_eq!((w.key_size, w.val_size, w.key_space_size), (32, 4, 1));
        assert!(!w.sequential_keys);
    }

    #[test]
    fn takes_an_etcd_watch_command_line() {
        let cli = parse(&[
            "--conns=2",
            "watch",
            "--streams=10",
            "--watch-per-stream=1000",
            "--watched-key-total=10000",
            "--key-space-size=10000",
            "--sequential-keys",
            "--put-total=100",
            "--put-rate=500",
            "--key-size=8",
            "--val-size=16",
            "--json",
        ]);
        assert!(cli.global.json);
        assert_eq!(cli.global.conns, 2);
        let Command::Watch(w) = cli.command else {
            panic!("not watch")
        };
        assert_eq!((w.streams, w.watch_per_stream), (10, 1000));
        assert_eq!((w.watched_key_total, w.key_space_size), (10_000, 10_000));
        assert!(w.sequential_keys);
        assert_eq!((w.put_total, w.put_rate), (100, 500));
        assert_eq!((w.key_size, w.val_size), (8, 16));
    }

    #[test]
    fn lease_keepalive_takes_etcd_flags() {
        let Command::LeaseKeepalive(l) = parse(&["lease-keepalive"]).command else {
            panic!("not lease-keepalive")
        };
        assert_eq!(l.total, 10_000);
        let cli = parse(&["--clients=100", "lease-keepalive", "--total=5000"]);
        assert_eq!(cli.global.clients, 100);
        let Command::LeaseKeepalive(l) = cli.command else {
            panic!("not lease-keepalive")
        };
        assert_eq!(l.total, 5000);
    }

    #[test]
    fn range_takes_a_key_an_end_and_etcd_flags() {
        let Command::Range(r) = parse(&["range", "foo"]).command else {
            panic!("not range")
        };
        assert_eq!((r.key.as_str(), r.end.as_deref()), ("foo", None));
        assert_eq!((r.total, r.rate, r.limit), (10_000, 0, 0));
        assert_eq!(r.consistency, Consistency::Linearizable);
        assert!(!r.count_only);
        let cli = parse(&[
            "range",
            "a",
            "z",
            "--consistency=s",
            "--limit=10",
            "--count-only",
            "--total=5",
            "--rate=100",
        ]);
        let Command::Range(r) = cli.command else {
            panic!("not range")
        };
        assert_eq!((r.key.as_str(), r.end.as_deref()), ("a", Some("z")));
        assert_eq!(r.consistency, Consistency::Serializable);
        assert_eq!((r.limit, r.total, r.rate), (10, 5, 100));
        assert!(r.count_only);
    }

    #[test]
    fn range_key_and_tls_key_stay_apart() {
        let cli = parse(&["--key=k.pem", "range", "foo"]);
        assert_eq!(cli.global.key_file.as_deref(), Some("k.pem"));
        let Command::Range(r) = cli.command else {
            panic!("not range")
        };
        assert_eq!(r.key, "foo");
        assert!(parse(&["range", "foo"]).global.key_file.is_none());
    }

    #[test]
    fn range_refuses_what_etcd_refuses() {
        let bad = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("etcd-benchmark").chain(args.iter().copied()))
                .is_err()
        };
        assert!(bad(&["range"]), "a key is required");
        assert!(bad(&["range", "a", "b", "c"]), "at most key and end");
        assert!(bad(&["range", "a", "--consistency=x"]));
        assert!(bad(&["range", "a", "--limit=-1"]));
    }

    #[test]
    fn txn_put_defaults_match_etcd() {
        let Command::TxnPut(t) = parse(&["txn-put"]).command else {
            panic!("not txn-put")
        };
        assert_eq!((t.total, t.key_size, t.val_size), (10_000, 8, 8));
        assert_eq!((t.key_space_size, t.txn_ops, t.rate), (1, 1, 0));
        let cli = parse(&["txn-put", "--txn-ops=4", "--key-space-size=100", "--rate=7"]);
        let Command::TxnPut(t) = cli.command else {
            panic!("not txn-put")
        };
        assert_eq!((t.txn_ops, t.key_space_size, t.rate), (4, 100, 7));
    }

    #[test]
    fn watch_latency_defaults_match_etcd() {
        let Command::WatchLatency(w) = parse(&["watch-latency"]).command else {
            panic!("not watch-latency")
        };
        assert_eq!((w.streams, w.watchers_per_stream), (10, 10));
        assert_eq!((w.put_total, w.put_rate), (1000, 100));
        assert_eq!((w.key_size, w.val_size), (32, 32));
        assert!(!w.prevkv);
        let cli = parse(&["watch-latency", "--prevkv", "--put-rate=0", "--streams=2"]);
        let Command::WatchLatency(w) = cli.command else {
            panic!("not watch-latency")
        };
        assert!(w.prevkv);
        assert_eq!((w.put_rate, w.streams), (0, 2));
    }

    #[test]
    fn tls_and_auth_flags_are_accepted_anywhere() {
        let cli = parse(&[
            "--cacert=ca.pem",
            "put",
            "--cert=c.pem",
            "--key=k.pem",
            "--user=root:pw",
        ]);
        assert_eq!(cli.global.cacert.as_deref(), Some("ca.pem"));
        assert_eq!(cli.global.cert.as_deref(), Some("c.pem"));
        assert_eq!(cli.global.key_file.as_deref(), Some("k.pem"));
        assert_eq!(cli.global.user.as_deref(), Some("root:pw"));
    }

    #[test]
    fn takes_an_etcd_tls_command_line() {
        // As in etcd's docs: https endpoints, the CA, a client certificate.
        let cli = parse(&[
            "--endpoints=https://127.0.0.1:2379,https://localhost:22379",
            "--cacert",
            "/etc/etcd/ca.pem",
            "--cert=/etc/etcd/client.pem",
            "--key",
            "/etc/etcd/client-key.pem",
            "--conns=10",
            "range",
            "foo",
            "--consistency=s",
        ]);
        assert_eq!(
            cli.global.endpoints,
            vec!["https://127.0.0.1:2379", "https://localhost:22379"]
        );
        assert_eq!(cli.global.cacert.as_deref(), Some("/etc/etcd/ca.pem"));
        assert_eq!(cli.global.cert.as_deref(), Some("/etc/etcd/client.pem"));
        assert_eq!(
            cli.global.key_file.as_deref(),
            Some("/etc/etcd/client-key.pem")
        );
        let Command::Range(r) = cli.command else {
            panic!("not range")
        };
        assert_eq!(r.key, "foo");
        // Each TLS flag takes a value.
        for flag in ["--cacert", "--cert", "--key"] {
            assert!(
                Cli::try_parse_from(["etcd-benchmark", "put", flag]).is_err(),
                "{flag} without a file"
            );
        }
    }

    #[test]
    fn go_style_false_turns_a_flag_off() {
        let cli = parse(&["put", "--sequential-keys=false", "--json"]);
        let Command::Put(put) = cli.command else {
            panic!("not put")
        };
        assert!(!put.sequential_keys);
        assert!(cli.global.json);
    }
}
