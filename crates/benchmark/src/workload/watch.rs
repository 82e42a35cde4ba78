//! The `watch` workload: watch fan-out, after etcd's `benchmark watch`.
//!
//! `--streams` Watch streams each create `--watch-per-stream` watchers over
//! the watched keys (see `plan`); once every watcher is confirmed, `--clients`
//! put clients write `--put-total` puts to those keys at up to `--put-rate`,
//! and every stream counts what it receives until each watcher has seen
//! every put to its key. Three statistics come out: watcher creation
//! latency, put latency, and delivery latency (put ack → event received,
//! see `acks`), with the deliveries per second over the whole fan-out (first
//! put → last event) and the puts per second achieved.
//!
//! Unlike etcd's tool, which times only its client library's bookkeeping,
//! creation here is timed to the server's "created" answer, and each event
//! is timed against its own put.
//!
//! Owns the two phases and their bookkeeping; stream I/O is in `stream`,
//! the pure arithmetic in `plan` and `acks`.

mod acks;
mod plan;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::PutRequest;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::acks::{AckTable, PutTimes};
use self::stream::{Deliveries, OpenStream};
use super::put::{check_keys, PutError};
use super::{drive, Figure, Outcome, Section, Worker};
use crate::cli::WatchArgs;
use crate::connect::Conn;
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::{summarize, Recording};

/// How long the run waits, once all puts are acknowledged, for an event
/// that does not come before it reports the missing ones.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Streams per connection past which etcd's tool warns (gRPC's default
/// limit on concurrent streams in one HTTP/2 connection).
const STREAMS_PER_CONN: usize = 100;

/// Why the watch workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("--{0} must be positive")]
    NotPositive(&'static str),
    #[error(transparent)]
    Keys(#[from] PutError),
    #[error("creating watchers: {0}")]
    Create(String),
    #[error("watch stream closed before its watchers were created")]
    Closed,
    #[error("watch stream task failed: {0}")]
    Task(String),
}

/// Refuses flag combinations that would fail mid-run.
pub fn check(args: &WatchArgs) -> Result<(), WatchError> {
    for (flag, value) in [
        ("streams", args.streams),
        ("watch-per-stream", args.watch_per_stream),
        ("watched-key-total", args.watched_key_total),
    ] {
        if value == 0 {
            return Err(WatchError::NotPositive(flag));
        }
    }
    check_keys(args.key_size, args.key_space_size)?;
    Ok(())
}

/// One put client of the put phase: notes each put's ack by revision.
struct PutWorker {
    kv: KvClient<Conn>,
    keys: Arc<Vec<Vec<u8>>>,
    value: Arc<Vec<u8>>,
    acks: Arc<AckTable>,
}

impl Worker for PutWorker {
    async fn request(&mut self, index: u64) -> Result<(), tonic::Status> {
        let key = (index % self.keys.len().max(1) as u64) as usize;
        let request = PutRequest {
            key: self.keys.get(key).cloned().unwrap_or_default(),
            value: self.value.as_ref().clone(),
            ..PutRequest::default()
        };
        let sent = Instant::now();
        let response = self.kv.put(request).await?.into_inner();
        let acked = Instant::now();
        if let Some(header) = response.header {
            self.acks.record(header.revision, PutTimes { sent, acked });
        }
        Ok(())
    }
}

/// The shape of a fan-out run, whichever workload asked for it.
#[derive(Debug, Clone)]
pub struct FanOut {
    /// Watch streams; stream `s` rides on the stream channel `s`.
    pub streams: usize,
    /// Watchers per stream; watcher j (numbered stream by stream) watches
    /// `keys[j % keys.len()]`.
    pub watch_per_stream: usize,
    pub keys: Vec<Vec<u8>>,
    /// Whether each watcher asks for the previous key-value with events.
    pub prev_kv: bool,
    /// Puts, put i to `keys[i % keys.len()]`, spread over the put channels.
    pub put_total: u64,
    /// Puts per second at most (0: no limit).
    pub put_rate: u64,
    /// The value of every put.
    pub value: Vec<u8>,
    /// The title of the headline (delivery) statistics.
    pub title: &'static str,
}

/// Runs `watch`: stream `s` uses `channels[assignment[s % clients]]`, put
/// client `i` uses `channels[assignment[i]]`.
pub async fn run(
    args: &WatchArgs,
    channels: &[Conn],
    assignment: &[usize],
    progress: &Progress,
) -> Result<Outcome, WatchError> {
    check(args)?;
    let used_conns = assignment.len().min(channels.len()).max(1);
    if args.streams > STREAMS_PER_CONN * used_conns {
        eprintln!(
            "warning: grpc limits {STREAMS_PER_CONN} streams per client connection, have {used_conns} but need {}",
            args.streams.div_ceil(STREAMS_PER_CONN)
        );
    }
    let mut rng = fastrand::Rng::new();
    let keys = plan::watched_keys(
        args.watched_key_total,
        args.key_size,
        args.key_space_size,
        args.sequential_keys,
        &mut rng,
    );
    let mut value = vec![0u8; args.val_size];
    rng.fill(&mut value);
    let by_client: Vec<Conn> = assignment
        .iter()
        .filter_map(|&conn| channels.get(conn))
        .cloned()
        .collect();
    let shape = FanOut {
        streams: args.streams,
        watch_per_stream: args.watch_per_stream,
        keys,
        prev_kv: false,
        put_total: args.put_total,
        put_rate: args.put_rate,
        value,
        title: "Watch events received summary:",
    };
    fan_out(shape, &by_client, by_client.clone(), progress).await
}

/// Runs both phases of a fan-out: stream `s` opens on
/// `stream_channels[s % len]`, and one put client runs per put channel.
/// `progress` counts events received against all the events expected.
pub async fn fan_out(
    shape: FanOut,
    stream_channels: &[Conn],
    put_channels: Vec<Conn>,
    progress: &Progress,
) -> Result<Outcome, WatchError> {
    let channel_of = |i: usize| {
        stream_channels
            .get(i % stream_channels.len().max(1))
            .cloned()
    };

    // Phase 1: every watcher, confirmed by the server.
    let (streams, creation, base) = open_all(&shape, &channel_of).await?;

    // Phase 2: puts, and the streams counting what reaches them.
    let acks = Arc::new(AckTable::new(base, shape.put_total));
    let expected = plan::expected_per_stream(
        &shape.keys,
        shape.put_total,
        shape.streams,
        shape.watch_per_stream,
    );
    let expected_total: u64 = expected.iter().sum();
    progress.start(expected_total);
    let (stop, stop_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    for (stream, expected) in streams.into_iter().zip(expected) {
        receivers.spawn(stream::receive(
            stream,
            expected,
            Arc::clone(&acks),
            stop_rx.clone(),
            progress.clone(),
        ));
    }

    let keys = Arc::new(shape.keys);
    let value = Arc::new(shape.value);
    let workers: Vec<PutWorker> = put_channels
        .into_iter()
        .map(|channel| PutWorker {
            kv: KvClient::new(channel),
            keys: Arc::clone(&keys),
            value: Arc::clone(&value),
            acks: Arc::clone(&acks),
        })
        .collect();
    let puts_started = Instant::now();
    let pacer = Arc::new(Pacer::new(shape.put_rate));
    // The bar counts events; the puts are only their cause.
    let puts = drive(workers, shape.put_total, pacer, &Progress::hidden()).await;

    let deliveries = collect(receivers, progress, &stop).await;
    Ok(outcome(
        shape.title,
        creation,
        puts,
        deliveries,
        &acks,
        expected_total,
        puts_started,
    ))
}

/// Opens every stream at once and waits for all of their watchers. Returns
/// the streams in order, the creation statistics and the highest revision
/// the servers reported (the revision before the first put).
async fn open_all(
    shape: &FanOut,
    channel_of: &impl Fn(usize) -> Option<Conn>,
) -> Result<(Vec<OpenStream>, Recording, i64), WatchError> {
    let started = Instant::now();
    let mut opening = JoinSet::new();
    let (per_stream, keys) = (shape.watch_per_stream, &shape.keys);
    for s in 0..shape.streams {
        let Some(channel) = channel_of(s) else {
            continue;
        };
        let stream_keys: Vec<Vec<u8>> = (0..per_stream)
            .map(|slot| keys[plan::watcher_key(s, slot, per_stream, keys.len())].clone())
            .collect();
        let prev_kv = shape.prev_kv;
        opening.spawn(async move { (s, stream::open(channel, stream_keys, prev_kv).await) });
    }
    let mut slots: Vec<Option<OpenStream>> = (0..shape.streams).map(|_| None).collect();
    let mut creation = Recording::default();
    let mut base = 0;
    while let Some(joined) = opening.join_next().await {
        let (s, opened) = joined.map_err(|err| WatchError::Task(err.to_string()))?;
        let opened = opened?;
        creation.merge(opened.creation);
        base = base.max(opened.revision);
        if let Some(slot) = slots.get_mut(s) {
            *slot = Some(opened.stream);
        }
    }
    creation.elapsed = started.elapsed();
    Ok((slots.into_iter().flatten().collect(), creation, base))
}

/// Waits for every stream to see its events, or, once nothing has arrived
/// for [`STALL_TIMEOUT`], tells them to stop and takes what they have.
async fn collect(
    mut receivers: JoinSet<Deliveries>,
    progress: &Progress,
    stop: &watch::Sender<bool>,
) -> Vec<Deliveries> {
    let mut done = Vec::new();
    let mut seen = progress.done();
    let mut moved_at = Instant::now();
    loop {
        tokio::select! {
            joined = receivers.join_next() => match joined {
                None => break,
                Some(Ok(deliveries)) => done.push(deliveries),
                Some(Err(err)) => done.push(Deliveries {
                    error: Some(format!("watch stream task failed: {err}")),
                    ..Deliveries::default()
                }),
            },
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                let now = progress.done();
                if now != seen {
                    (seen, moved_at) = (now, Instant::now());
                } else if moved_at.elapsed() >= STALL_TIMEOUT {
                    let _ = stop.send(true);
                }
            }
        }
    }
    done
}

/// The report of a run from its raw parts.
fn outcome(
    title: &'static str,
    creation: Recording,
    puts: Recording,
    deliveries: Vec<Deliveries>,
    acks: &AckTable,
    expected: u64,
    puts_started: Instant,
) -> Outcome {
    let mut delivered = Recording::default();
    let mut since_sent = Recording::default();
    let (mut received, mut before_ack, mut last) = (0u64, 0u64, None::<Instant>);
    for d in deliveries {
        delivered.latencies.extend(d.latencies);
        since_sent.latencies.extend(d.since_sent);
        since_sent.latencies.extend(
            d.early
                .iter()
                .filter_map(|&(revision, at)| acks.since_sent(revision, at)),
        );
        received += d.received;
        before_ack += d.before_ack;
        last = last.max(d.last);
        if let Some(error) = d.error {
            *delivered.errors.entry(error).or_default() += 1;
        }
    }
    if let Some(missing) = expected.checked_sub(received).filter(|&m| m > 0) {
        *delivered
            .errors
            .entry("events not delivered".to_string())
            .or_default() += missing;
    }
    delivered.elapsed = last.map_or(Duration::ZERO, |last| last - puts_started);
    since_sent.elapsed = delivered.elapsed;
    let puts = summarize(&puts);
    let delivered = summarize(&delivered);
    let figures = vec![
        Figure::new("events_expected", "Events expected", expected as f64),
        Figure::new("events_received", "Events received", received as f64),
        Figure::new(
            "events_before_put_ack",
            "Events before put ack",
            before_ack as f64,
        ),
        Figure::new(
            "events_per_sec",
            "Events/sec",
            per_sec(received, delivered.total_secs),
        ),
        Figure::new("puts_per_sec", "Puts/sec", puts.requests_per_sec),
    ];
    Outcome {
        title: Some(title),
        sections: vec![
            Section {
                key: "creation",
                title: "Watch creation summary:",
                summary: summarize(&creation),
            },
            Section {
                key: "puts",
                title: "Put summary:",
                summary: puts,
            },
            Section {
                key: "since_put_sent",
                title: "Watch events received, timed from put sent:",
                summary: summarize(&since_sent),
            },
        ],
        report: delivered,
        figures,
    }
}

/// `count` per second of `secs`; zero for an empty span.
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn watch_args(flags: &[&str]) -> WatchArgs {
        let argv = ["etcd-benchmark", "watch"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Watch(args) => args,
            other => panic!("not watch: {other:?}"),
        }
    }

    #[test]
    fn check_refuses_empty_shapes_and_short_keys() {
        assert!(check(&watch_args(&[])).is_ok());
        assert_eq!(
            check(&watch_args(&["--streams=0"]))
                .unwrap_err()
                .to_string(),
            "--streams must be positive"
        );
        assert!(matches!(
            check(&watch_args(&["--watch-per-stream=0"])),
            Err(WatchError::NotPositive("watch-per-stream"))
        ));
        assert_eq!(
            check(&watch_args(&["--key-space-size=0"]))
                .unwrap_err()
                .to_string(),
            "expected positive --key-space-size, got (0)"
        );
        assert!(matches!(
            check(&watch_args(&["--key-size=1", "--key-space-size=1000"])),
            Err(WatchError::Keys(PutError::KeyTooSmall { .. }))
        ));
    }

    #[test]
    fn per_sec_guards_empty_spans() {
        assert_eq!(per_sec(10, 2.0), 5.0);
        assert_eq!(per_sec(10, 0.0), 0.0);
    }

    #[test]
    fn outcome_counts_missing_events_and_rates_from_first_put() {
        let t0 = Instant::now();
        let puts = Recording {
            latencies: vec![Duration::from_millis(1); 4],
            elapsed: Duration::from_secs(2),
            ..Recording::default()
        };
        let acks = AckTable::new(0, 1);
        acks.record(
            1,
            PutTimes {
                sent: t0,
                acked: t0 + Duration::from_millis(2),
            },
        );
        let streams = vec![
            Deliveries {
                latencies: vec![Duration::from_millis(3); 6],
                since_sent: vec![Duration::from_millis(4); 5],
                early: vec![(1, t0 + Duration::from_millis(1)), (7, t0)],
                received: 6,
                before_ack: 1,
                last: Some(t0 + Duration::from_secs(3)),
                error: None,
            },
            Deliveries {
                latencies: vec![Duration::from_millis(5); 2],
                received: 2,
                before_ack: 0,
                last: Some(t0 + Duration::from_secs(4)),
                error: Some("watch stream closed by the server".into()),
                ..Deliveries::default()
            },
        ];
        let out = outcome("t", Recording::default(), puts, streams, &acks, 10, t0);
        assert_eq!(out.report.requests, 8);
        assert_eq!(out.report.total_secs, 4.0);
        assert_eq!(out.report.requests_per_sec, 2.0);
        assert_eq!(out.report.errors.get("events not delivered"), Some(&2));
        assert_eq!(
            out.report.errors.get("watch stream closed by the server"),
            Some(&1)
        );
        let figure = |key| out.figures.iter().find(|f| f.key == key).unwrap().value;
        assert_eq!(figure("events_expected"), 10.0);
        assert_eq!(figure("events_received"), 8.0);
        assert_eq!(figure("events_before_put_ack"), 1.0);
        assert_eq!(figure("events_per_sec"), 2.0);
        assert_eq!(figure("puts_per_sec"), 2.0);
        let keys: Vec<&str> = out.sections.iter().map(|s| s.key).collect();
        assert_eq!(keys, ["creation", "puts", "since_put_sent"]);
        // Five timed on arrival, one resolved after the run, one foreign.
        let since_sent = &out.sections[2].summary;
        assert_eq!(since_sent.requests, 6);
        assert_eq!(since_sent.fastest_secs, 0.001);
    }
}
