//! What a run measured and the statistics etcd's `benchmark` prints from it:
//! throughput, fastest/slowest/average/stddev latency, the percentiles
//! p10..p99.9, a ten-bucket latency histogram and a count per distinct error.
//!
//! Owns the numbers. The text layout lives in [`text`]; JSON is this module's
//! [`Summary`] serialized as is. Issuing requests and timing them belongs to
//! the workloads.
//!
//! The math follows etcd's report package on purpose, so figures from the two
//! tools can be compared: latencies are in seconds, the standard deviation is
//! the population one, throughput counts successful requests over the whole
//! run, and a percentile is the first sorted sample at or past that share of
//! the samples.

pub mod text;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// The percentiles etcd prints, in percent.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];

/// How many equal-width buckets the histogram has (plus one at the slowest).
pub const HISTOGRAM_BUCKETS: usize = 10;

/// Raw results of a run, or of one client's share of it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recording {
    /// Latency of each successful request.
    pub latencies: Vec<Duration>,
    /// Failed requests, counted per distinct error text.
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the whole run; set once, by whoever drove all clients.
    pub elapsed: Duration,
}

impl Recording {
    /// Notes one request's outcome.
    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.latencies.push(latency),
            Err(text) => *self.errors.entry(text).or_default() += 1,
        }
    }

    /// Folds another client's results into these.
    pub fn merge(&mut self, other: Recording) {
        self.latencies.extend(other.latencies);
        for (text, count) in other.errors {
            *self.errors.entry(text).or_default() += count;
        }
    }
}

/// Formats a gRPC failure the way Go's gRPC client prints one, so error
/// tallies read the same as etcd's tool's.
pub fn status_text(status: &tonic::Status) -> String {
    etcd_proto::go_status::go_status_text(status.code(), status.message())
}

/// One percentile: `percent`% of successful requests took at most `secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentile {
    pub percent: f64,
    pub secs: f64,
}

/// One histogram bar: `count` requests slower than the previous bar's bound
/// and at most `upper_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    pub upper_secs: f64,
    pub count: u64,
}

/// Everything the report prints; also the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Wall time of the run.
    pub total_secs: f64,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Successful requests per second of wall time.
    pub requests_per_sec: f64,
    pub fastest_secs: f64,
    pub slowest_secs: f64,
    pub average_secs: f64,
    pub stddev_secs: f64,
    pub percentiles: Vec<Percentile>,
    pub histogram: Vec<Bucket>,
    /// Failed requests per distinct error text.
    pub errors: BTreeMap<String, u64>,
}

/// Computes the summary of a run.
pub fn summarize(recording: &Recording) -> Summary {
    let mut lats: Vec<f64> = recording
        .latencies
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    lats.sort_by(f64::total_cmp);
    let total_secs = recording.elapsed.as_secs_f64();
    let requests = lats.len() as u64;
    let (average_secs, stddev_secs) = mean_and_stddev(&lats);
    let fastest_secs = lats.first().copied().unwrap_or(0.0);
    let slowest_secs = lats.last().copied().unwrap_or(0.0);
    Summary {
        total_secs,
        requests,
        failures: recording.errors.values().sum(),
        requests_per_sec: if total_secs > 0.0 {
            requests as f64 / total_secs
        } else {
            0.0
        },
        fastest_secs,
        slowest_secs,
        average_secs,
        stddev_secs,
        percentiles: PERCENTILES
            .iter()
            .zip(percentiles(&lats))
            .map(|(&percent, secs)| Percentile { percent, secs })
            .collect(),
        histogram: histogram(&lats),
        errors: recording.errors.clone(),
    }
}

/// Mean and population standard deviation; zeros for no samples.
pub fn mean_and_stddev(samples: &[f64]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// The value at each of [`PERCENTILES`] in `sorted`: the first sample whose
/// index is at or past that percent of the count. As in etcd, one sample
/// answers at most one percentile, which only matters for tiny runs; a
/// percentile the samples never reach stays 0, which the text report skips.
pub fn percentiles(sorted: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; PERCENTILES.len()];
    let n = sorted.len() as f64;
    let mut next = 0;
    for (i, &sample) in sorted.iter().enumerate() {
        if next == PERCENTILES.len() {
            break;
        }
        let reached = i as f64 * 100.0 / n;
        if reached >= PERCENTILES[next] {
            out[next] = sample;
            next += 1;
        }
    }
    out
}

/// Ten equal-width buckets from the fastest to the slowest sample, plus a
/// last one bounded by the slowest exactly; each sample counts in the first
/// bucket whose bound it does not exceed. Empty for no samples.
pub fn histogram(sorted: &[f64]) -> Vec<Bucket> {
    let (Some(&fastest), Some(&slowest)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let width = (slowest - fastest) / HISTOGRAM_BUCKETS as f64;
    let mut buckets: Vec<Bucket> = (0..HISTOGRAM_BUCKETS)
        .map(|i| Bucket {
            upper_secs: fastest + width * i as f64,
            count: 0,
        })
        .chain(std::iter::once(Bucket {
            upper_secs: slowest,
            count: 0,
        }))
        .collect();
    let last = buckets.len() - 1;
    let mut b = 0;
    for &sample in sorted {
        while b < last && sample > buckets[b].upper_secs {
            b += 1;
        }
        buckets[b].count += 1;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn mean_and_population_stddev() {
        let (mean, sd) = mean_and_stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(mean, 5.0);
        assert_eq!(sd, 2.0);
        assert_eq!(mean_and_stddev(&[]), (0.0, 0.0));
    }

    #[test]
    fn percentiles_pick_first_sample_at_or_past_the_share() {
        // 1..=1000: sample i (0-based) is reached at i/10 percent.
        let sorted: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(
            percentiles(&sorted),
            vec![101.0, 251.0, 501.0, 751.0, 901.0, 951.0, 991.0, 1000.0]
        );
    }

    #[test]
    fn percentiles_of_few_samples_leave_unreached_at_zero() {
        // With 4 samples the indexes reach 0, 25, 50, 75 percent; like etcd,
        // one sample answers at most one percentile, so p25 moves on to 3.
        let got = percentiles(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(got, vec![2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(percentiles(&[]), vec![0.0; 8]);
    }

    #[test]
    fn histogram_has_eleven_bounds_and_counts_every_sample() {
        let sorted: Vec<f64> = (0..=100).map(f64::from).collect();
        let h = histogram(&sorted);
        assert_eq!(h.len(), 11);
        let bounds: Vec<f64> = h.iter().map(|b| b.upper_secs).collect();
        assert_eq!(
            bounds,
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
        );
        // The first bound is the fastest, so it holds only samples equal to it.
        let counts: Vec<u64> = h.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
    }

    #[test]
    fn histogram_of_equal_samples_puts_all_in_first_bucket() {
        let h = histogram(&[0.5, 0.5, 0.5]);
        assert_eq!(h[0].count, 3);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 3);
        assert!(histogram(&[]).is_empty());
    }

    #[test]
    fn summary_counts_throughput_over_successes_only() {
        let mut rec = Recording {
            latencies: ms(&[30, 10, 20]),
            elapsed: Duration::from_secs(2),
            ..Recording::default()
        };
        rec.record(Duration::from_millis(5), Err("boom".into()));
        rec.record(Duration::from_millis(5), Err("boom".into()));
        let s = summarize(&rec);
        assert_eq!((s.requests, s.failures), (3, 2));
        assert_eq!(s.requests_per_sec, 1.5);
        assert_eq!((s.fastest_secs, s.slowest_secs), (0.010, 0.030));
        assert!((s.average_secs - 0.020).abs() < 1e-12);
        assert_eq!(s.errors.get("boom"), Some(&2));
        // Three samples sit at 0, 33 and 67 percent: p10 is the second,
        // p25 the third, and p50 is never reached.
        let secs: Vec<f64> = s.percentiles.iter().map(|p| p.secs).collect();
        assert_eq!(secs[..3], [0.020, 0.030, 0.0]);
        assert_eq!(s.percentiles[2].percent, 50.0);
    }

    #[test]
    fn merge_adds_latencies_and_error_counts() {
        let mut a = Recording::default();
        a.record(Duration::from_millis(1), Ok(()));
        a.record(Duration::ZERO, Err("x".into()));
        let mut b = Recording::default();
        b.record(Duration::from_millis(2), Ok(()));
        b.record(Duration::ZERO, Err("x".into()));
        b.record(Duration::ZERO, Err("y".into()));
        a.merge(b);
        assert_eq!(a.latencies, ms(&[1, 2]));
        assert_eq!(a.errors, BTreeMap::from([("x".into(), 2), ("y".into(), 1)]));
    }

    #[test]
    fn empty_run_summarizes_to_zeros() {
        let s = summarize(&Recording::default());
        assert_eq!(s.requests, 0);
        assert_eq!(s.requests_per_sec, 0.0);
        assert!(s.histogram.is_empty());
    }

    #[test]
    fn status_text_reads_like_go_grpc() {
        let status = tonic::Status::unavailable("etcdserver: no leader");
        assert_eq!(
            status_text(&status),
            "rpc error: code = Unavailable desc = etcdserver: no leader"
        );
        assert!(status_text(&tonic::Status::cancelled("x")).contains("Canceled"));
    }
}
