//! The `--rate` limit: hands out send slots at most `rate` per second across
//! all clients, with a burst of one (the same shape as the Go token bucket
//! etcd's tool uses: an idle limiter lets one request through at once, then
//! spaces the rest evenly).
//!
//! Owns only the pacing. Zero means unlimited and costs nothing per request.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every client of a run.
#[derive(Debug)]
pub struct Pacer {
    /// Time between two slots; `None` when unlimited.
    interval: Option<Duration>,
    /// The earliest instant the next slot may start.
    next_free: Mutex<Option<Instant>>,
}

/// Given the next free instant and the time now, returns the slot granted
/// to this caller and the next free instant after it.
pub fn reserve(next_free: Option<Instant>, now: Instant, interval: Duration) -> (Instant, Instant) {
    let slot = next_free.map_or(now, |next| next.max(now));
    (slot, slot + interval)
}

impl Pacer {
    /// A pacer for `rate` requests per second; 0 means no limit.
    pub fn new(rate: u64) -> Self {
        let interval = (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64));
        Self {
            interval,
            next_free: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            // A poisoned lock only means another client panicked mid-update
            // of a plain Instant; the value is still usable.
            let mut next = self
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (slot, after) = reserve(*next, Instant::now(), interval);
            *next = Some(after);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_limiter_grants_now_then_spaces() {
        let now = Instant::now();
        let step = Duration::from_millis(10);
        let (first, next) = reserve(None, now, step);
        assert_eq!((first, next), (now, now + step));
        // A second caller at the same instant waits one interval.
        let (second, next) = reserve(Some(next), now, step);
        assert_eq!((second, next), (now + step, now + 2 * step));
    }

    #[test]
    fn no_credit_builds_up_while_idle() {
        let now = Instant::now();
        let step = Duration::from_millis(10);
        let later = now + Duration::from_secs(1);
        let (slot, next) = reserve(Some(now + step), later, step);
        assert_eq!((slot, next), (later, later + step));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests() {
        let pacer = Pacer::new(100);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(40));
    }

    #[tokio::test]
    async fn zero_is_unlimited() {
        let pacer = Pacer::new(0);
        assert!(pacer.interval.is_none());
        pacer.wait().await;
    }
}
