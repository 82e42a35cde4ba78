//! The progress bar of a run: a shared count of finished units (requests,
//! or events for the watch workloads) drawn against the run's total on
//! stderr a few times a second, as etcd's tool draws its `pb` bar.
//!
//! Owns the count and the drawing. Whether a bar is shown at all is the
//! caller's choice (`main`: only when stderr is a terminal and the output
//! is not `--json`); a hidden bar still counts, since the watch workloads
//! read the count to tell a slow run from a stalled one.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often a visible bar is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// Width of the bar itself, between its brackets, in characters.
const BAR_WIDTH: usize = 40;

/// A run's progress; clones share one count.
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Whether to draw on stderr at all.
    visible: bool,
    done: AtomicU64,
    total: AtomicU64,
    /// The redraw task, once [`Progress::start`] has run with a visible bar.
    drawer: Mutex<Option<Drawer>>,
}

#[derive(Debug)]
struct Drawer {
    task: JoinHandle<()>,
    started: Instant,
}

impl Progress {
    /// A progress count, drawn on stderr if `visible`.
    pub fn new(visible: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                visible,
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                drawer: Mutex::new(None),
            }),
        }
    }

    /// A count that is never drawn.
    pub fn hidden() -> Self {
        Self::new(false)
    }

    /// Sets the total the count runs to and, for a visible bar, starts
    /// drawing it. Called once the workload knows its total.
    pub fn start(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
        if !self.inner.visible || total == 0 {
            return;
        }
        let mut drawer = self.drawer();
        if drawer.is_some() {
            return;
        }
        let started = Instant::now();
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REDRAW_EVERY);
            loop {
                ticks.tick().await;
                draw(&inner, started.elapsed(), false);
            }
        });
        *drawer = Some(Drawer { task, started });
    }

    /// Notes `n` more finished units.
    pub fn add(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Units finished so far.
    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    /// Stops drawing, leaving the final state on its own line so the report
    /// starts below it. Does nothing for a bar that never showed.
    pub fn finish(&self) {
        let Some(drawer) = self.drawer().take() else {
            return;
        };
        drawer.task.abort();
        draw(&self.inner, drawer.started.elapsed(), true);
    }

    fn drawer(&self) -> std::sync::MutexGuard<'_, Option<Drawer>> {
        // A poisoned lock only means a panic elsewhere mid-update of a
        // handle; the handle itself is still usable.
        self.inner
            .drawer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Redraws the bar in place (`\r`), and ends the line when `last`.
fn draw(inner: &Inner, elapsed: Duration, last: bool) {
    let done = inner.done.load(Ordering::Relaxed);
    let total = inner.total.load(Ordering::Relaxed);
    let mut stderr = std::io::stderr().lock();
    // The bar is a courtesy; a stderr that cannot be written is not a
    // reason to disturb the run.
    let _ = write!(stderr, "\r{}", render(done, total, elapsed));
    if last {
        let _ = writeln!(stderr);
    }
    let _ = stderr.flush();
}

/// One frame of the bar: `[=====>     ] done / total  pct% elapsed`.
pub fn render(done: u64, total: u64, elapsed: Duration) -> String {
    let shown = done.min(total);
    let fraction = if total == 0 {
        1.0
    } else {
        shown as f64 / total as f64
    };
    let filled = ((fraction * BAR_WIDTH as f64) as usize).min(BAR_WIDTH);
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push(if filled > 0 { '>' } else { ' ' });
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    format!(
        "[{bar}] {done} / {total} {:6.2}% {}s",
        fraction * 100.0,
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fill_with_the_count() {
        let empty = render(0, 100, Duration::ZERO);
        assert_eq!(empty, format!("[{}] 0 / 100   0.00% 0s", " ".repeat(40)));
        let half = render(50, 100, Duration::from_secs(3));
        assert_eq!(
            half,
            format!(
                "[{}>{}] 50 / 100  50.00% 3s",
                "=".repeat(20),
                " ".repeat(19)
            )
        );
        let full = render(100, 100, Duration::from_millis(1500));
        assert_eq!(full, format!("[{}] 100 / 100 100.00% 1s", "=".repeat(40)));
    }

    #[test]
    fn frames_never_overflow() {
        // More units than expected (a watcher seeing extra events) keeps
        // the bar full rather than wider.
        let over = render(150, 100, Duration::ZERO);
        assert!(over.starts_with(&format!("[{}]", "=".repeat(40))));
        assert!(render(0, 0, Duration::ZERO).contains("100.00%"));
    }

    #[tokio::test]
    async fn hidden_progress_counts_but_never_draws() {
        let progress = Progress::hidden();
        progress.start(10);
        progress.clone().add(3);
        progress.add(2);
        assert_eq!(progress.done(), 5);
        assert!(progress.drawer().is_none());
        progress.finish();
    }
}
