//! The `watch-latency` workload, after etcd's `benchmark watch-latency`:
//! `--streams` streams of `--watchers-per-stream` watchers all watch one
//! random `--key-size`-byte key; one put client, on a connection of its own,
//! puts a random `--val-size`-byte value to it `--put-total` times at up to
//! `--put-rate` per second; each watcher's event is timed from its put's
//! ack (zero if the event came first, as etcd counts it).
//!
//! This is the fan-out of `watch` in one particular shape, so it runs on
//! `watch::fan_out` and reports the same sections; only the shape and the
//! headline's title (etcd's "Watch events summary:") are its own.

use super::watch::{fan_out, FanOut, WatchError};
use super::Outcome;
use crate::cli::WatchLatencyArgs;
use crate::connect::Conn;
use crate::progress::Progress;

/// Refuses flag values that would fail mid-run.
pub fn check(args: &WatchLatencyArgs) -> Result<(), WatchError> {
    for (flag, value) in [
        ("streams", args.streams),
        ("watchers-per-stream", args.watchers_per_stream),
        // An empty key is no key: a server refuses to watch or put it.
        ("key-size", args.key_size),
    ] {
        if value == 0 {
            return Err(WatchError::NotPositive(flag));
        }
    }
    Ok(())
}

/// The run's shape: one random key watched by every watcher.
pub fn shape(args: &WatchLatencyArgs, rng: &mut fastrand::Rng) -> FanOut {
    let mut key = vec![0u8; args.key_size];
    rng.fill(&mut key);
    let mut value = vec![0u8; args.val_size];
    rng.fill(&mut value);
    FanOut {
        streams: args.streams,
        watch_per_stream: args.watchers_per_stream,
        keys: vec![key],
        prev_kv: args.prevkv,
        put_total: args.put_total,
        put_rate: args.put_rate,
        value,
        title: "Watch events summary:",
    }
}

/// Runs the workload: stream `s` opens on `channels[assignment[s % clients]]`,
/// the puts go over `put_channel`.
pub async fn run(
    args: &WatchLatencyArgs,
    channels: &[Conn],
    assignment: &[usize],
    put_channel: Conn,
    progress: &Progress,
) -> Result<Outcome, WatchError> {
    check(args)?;
    let by_client: Vec<Conn> = assignment
        .iter()
        .filter_map(|&conn| channels.get(conn))
        .cloned()
        .collect();
    let shape = shape(args, &mut fastrand::Rng::new());
    fan_out(shape, &by_client, vec![put_channel], progress).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(flags: &[&str]) -> WatchLatencyArgs {
        let argv = ["etcd-benchmark", "watch-latency"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::WatchLatency(args) => args,
            other => panic!("not watch-latency: {other:?}"),
        }
    }

    #[test]
    fn check_refuses_empty_shapes() {
        assert!(check(&args(&[])).is_ok());
        assert_eq!(
            check(&args(&["--watchers-per-stream=0"]))
                .unwrap_err()
                .to_string(),
            "--watchers-per-stream must be positive"
        );
        assert!(matches!(
            check(&args(&["--streams=0"])),
            Err(WatchError::NotPositive("streams"))
        ));
        assert!(matches!(
            check(&args(&["--key-size=0"])),
            Err(WatchError::NotPositive("key-size"))
        ));
    }

    #[test]
    fn every_watcher_watches_one_key() {
        let flags = [
            "--streams=3",
            "--watchers-per-stream=4",
            "--key-size=16",
            "--val-size=5",
            "--put-total=7",
            "--put-rate=9",
            "--prevkv",
        ];
        let shape = shape(&args(&flags), &mut fastrand::Rng::with_seed(7));
        assert_eq!(shape.keys.len(), 1);
        assert_eq!(shape.keys[0].len(), 16);
        assert_eq!(shape.value.len(), 5);
        assert_eq!((shape.streams, shape.watch_per_stream), (3, 4));
        assert_eq!((shape.put_total, shape.put_rate), (7, 9));
        assert!(shape.prev_kv);
        assert_eq!(shape.title, "Watch events summary:");
    }
}
