//! The one-writer gate in front of redb's write transactions.
//!
//! redb serialises write transactions itself, but cannot say whether one is
//! open, nor wait for it with a deadline. [`Backend::install`] needs both:
//! it swaps database files only when no write transaction is open on the
//! old one (a commit made there after the swap would be lost), and must not
//! wait forever. So every write transaction the backend begins holds a
//! [`WritePermit`] for its whole life, taken BEFORE the database lock:
//! install takes the permit, then the lock, in the same order, so a writer
//! that begins a read while holding its batch (the snapshot builder does)
//! cannot deadlock with it.
//!
//! [`Backend::install`]: super::Backend::install

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Admits one writer at a time.
#[derive(Default)]
pub(crate) struct WriteGate {
    state: Mutex<State>,
    /// Signalled when the permit comes back.
    returned: Condvar,
}

#[derive(Default)]
struct State {
    /// Whether the permit is out.
    taken: bool,
    /// How many threads wait for it (for tests that must know a thread
    /// has reached the gate).
    waiting: usize,
}

/// The right to have the one write transaction open; returned on drop.
pub(crate) struct WritePermit<'a> {
    gate: &'a WriteGate,
}

impl WriteGate {
    /// Waits for the permit as long as it takes (as redb's `begin_write`).
    pub(crate) fn enter(&self) -> WritePermit<'_> {
        self.enter_until(None)
            .unwrap_or_else(|| unreachable!("no deadline"))
    }

    /// Waits for the permit at most `wait`.
    pub(crate) fn enter_within(&self, wait: Duration) -> Option<WritePermit<'_>> {
        self.enter_until(Some(Instant::now() + wait))
    }

    fn enter_until(&self, deadline: Option<Instant>) -> Option<WritePermit<'_>> {
        let mut state = self.lock();
        state.waiting += 1;
        while state.taken {
            state = match deadline {
                None => self
                    .returned
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.waiting -= 1;
                        return None;
                    }
                    self.returned
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        state.waiting -= 1;
        state.taken = true;
        Some(WritePermit { gate: self })
    }

    /// How many threads wait for the permit.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// The state; its fields are set in lines that cannot panic, so a
    /// poisoned lock still holds valid values.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for WritePermit<'_> {
    fn drop(&mut self) {
        self.gate.lock().taken = false;
        self.gate.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_permit_at_a_time() {
        let gate = WriteGate::default();
        let permit = gate.enter();
        assert!(gate.enter_within(Duration::from_millis(20)).is_none());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| gate.enter_within(Duration::from_secs(30)).is_some());
            while gate.waiting() == 0 {
                std::thread::yield_now();
            }
            drop(permit);
            assert!(waiter.join().unwrap());
        });
        // Returned again by the waiter's drop.
        drop(gate.enter());
    }
}
