//! The human-readable report, laid out line for line like etcd's
//! `benchmark` output (Summary, Response time histogram, Latency
//! distribution, Error distribution), so the two tools' outputs can be read
//! side by side.
//!
//! Owns formatting only; every number comes from a [`Summary`].

use std::fmt::Write;

use super::Summary;

/// The histogram's widest bar, in characters.
const BAR_WIDTH: u64 = 40;
const BAR_CHAR: char = '∎';

/// Formats a number as etcd does: four decimals, or with `precise` every
/// digit needed to read the exact value back.
fn num(value: f64, precise: bool) -> String {
    if precise {
        format!("{value}")
    } else {
        format!("{value:4.4}")
    }
}

/// Renders the whole report. With no successful request only the error
/// distribution is printed, as etcd does.
pub fn render(summary: &Summary, precise: bool) -> String {
    let mut out = String::new();
    let secs = |v: f64| format!("{} secs.", num(v, precise));
    // Writing to a String cannot fail; the results are ignored on purpose.
    if summary.requests > 0 {
        let _ = writeln!(out, "\nSummary:");
        let _ = writeln!(out, "  Total:\t{}", secs(summary.total_secs));
        let _ = writeln!(out, "  Slowest:\t{}", secs(summary.slowest_secs));
        let _ = writeln!(out, "  Fastest:\t{}", secs(summary.fastest_secs));
        let _ = writeln!(out, "  Average:\t{}", secs(summary.average_secs));
        let _ = writeln!(out, "  Stddev:\t{}", secs(summary.stddev_secs));
        let _ = writeln!(
            out,
            "  Requests/sec:\t{}",
            num(summary.requests_per_sec, precise)
        );

        let _ = writeln!(out, "\nResponse time histogram:");
        let tallest = summary.histogram.iter().map(|b| b.count).max().unwrap_or(0);
        for bucket in &summary.histogram {
            let len = (bucket.count * BAR_WIDTH).checked_div(tallest).unwrap_or(0);
            let bar: String = std::iter::repeat_n(BAR_CHAR, len as usize).collect();
            let _ = writeln!(
                out,
                "  {} [{}]\t|{}",
                num(bucket.upper_secs, precise),
                bucket.count,
                bar
            );
        }

        let _ = writeln!(out, "\nLatency distribution:");
        for p in summary.percentiles.iter().filter(|p| p.secs > 0.0) {
            let _ = writeln!(out, "  {}% in {}", p.percent, secs(p.secs));
        }
    }
    if !summary.errors.is_empty() {
        let _ = writeln!(out, "\nError distribution:");
        for (text, count) in &summary.errors {
            let _ = writeln!(out, "  [{count}]\t{text}");
        }
    }
    out
}

/// Renders single figures of a run under a `Totals:` heading, one
/// `label:\tvalue` line each; whole numbers print without decimals.
pub fn render_figures<'a>(
    figures: impl IntoIterator<Item = (&'a str, f64)>,
    precise: bool,
) -> String {
    let mut out = String::from("\nTotals:\n");
    for (label, value) in figures {
        let shown = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{}", value as i64)
        } else {
            num(value, precise)
        };
        let _ = writeln!(out, "  {label}:\t{shown}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{summarize, Recording};

    fn sample_run() -> Recording {
        Recording {
            latencies: (1..=10).map(Duration::from_millis).collect(),
            elapsed: Duration::from_millis(20),
            ..Recording::default()
        }
    }

    #[test]
    fn layout_follows_etcd() {
        let text = render(&summarize(&sample_run()), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[1], "Summary:");
        assert_eq!(lines[2], "  Total:\t0.0200 secs.");
        assert_eq!(lines[3], "  Slowest:\t0.0100 secs.");
        assert_eq!(lines[4], "  Fastest:\t0.0010 secs.");
        assert!(lines[5].starts_with("  Average:\t0.005"));
        assert_eq!(lines[7], "  Requests/sec:\t500.0000");
        assert_eq!(lines[9], "Response time histogram:");
        // Fastest bucket holds one sample: 40 * 1 / tallest(1) = 40 bars.
        assert_eq!(lines[10], format!("  0.0010 [1]\t|{}", "∎".repeat(40)));
        assert!(text.contains("\nLatency distribution:\n  10% in 0.0020 secs.\n"));
        assert!(text.contains("  90% in 0.0100 secs.\n"));
        // 10 samples never reach p95 and above: those lines are left out.
        assert!(!text.contains("95% in"));
        assert!(!text.contains("Error distribution"));
    }

    #[test]
    fn errors_are_listed_with_counts() {
        let mut rec = sample_run();
        rec.record(
            Duration::ZERO,
            Err("rpc error: code = Unavailable desc = x".into()),
        );
        let text = render(&summarize(&rec), false);
        assert!(text
            .ends_with("\nError distribution:\n  [1]\trpc error: code = Unavailable desc = x\n"));
    }

    #[test]
    fn only_errors_when_nothing_succeeded() {
        let mut rec = Recording::default();
        rec.record(Duration::ZERO, Err("down".into()));
        assert_eq!(
            render(&summarize(&rec), false),
            "\nError distribution:\n  [1]\tdown\n"
        );
    }

    #[test]
    fn figures_print_counts_whole_and_rates_like_etcd() {
        let text = render_figures(
            [("Events received", 1000.0), ("Events/sec", 1234.56789)],
            false,
        );
        assert_eq!(
            text,
            "\nTotals:\n  Events received:\t1000\n  Events/sec:\t1234.5679\n"
        );
    }

    #[test]
    fn precise_prints_full_digits() {
        let text = render(&summarize(&sample_run()), true);
        assert!(text.contains("  Fastest:\t0.001 secs."));
        assert!(text.contains("  Requests/sec:\t500\n"));
    }
}
