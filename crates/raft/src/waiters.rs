//! Request ids and the members waiting on them: how the member that took a
//! client's write answers it from its OWN apply, also when the write was
//! proposed by the leader on its behalf (etcd's `wait` registry).
//!
//! A proposal carries an id ([`RequestIds`], etcd's request-id layout, so
//! ids of different members never collide and a restart does not repeat
//! them). Before forwarding, the member registers the id ([`Waiters`]); the
//! state machine hands each applied result with a registered id to its
//! waiter, after the batch committed. A [`Waiter`] dropped on any exit path
//! (timeout, refusal, cancelled client) unregisters itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use etcd_storage::{ApplyError, ApplyResponse};
use tokio::sync::oneshot;

/// What applying one write produced.
pub type ApplyResult = Result<ApplyResponse, ApplyError>;

const TIME_BITS: u32 = 40;
const COUNTER_BITS: u32 = 8;
const SUFFIX_BITS: u32 = TIME_BITS + COUNTER_BITS;

/// Request ids: the member id's low 16 bits, then 40 bits of the start time
/// in milliseconds, then an 8-bit counter that carries into the time bits.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    suffix: AtomicU64,
}

impl RequestIds {
    pub fn new(member_id: u64) -> RequestIds {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        RequestIds::starting_at(member_id, millis)
    }

    fn starting_at(member_id: u64, unix_millis: u64) -> RequestIds {
        let time = unix_millis & ((1 << TIME_BITS) - 1);
        RequestIds {
            prefix: (member_id & 0xffff) << SUFFIX_BITS,
            suffix: AtomicU64::new(time << COUNTER_BITS),
        }
    }

    /// The next id; never 0 (0 means "nobody waits").
    pub fn next(&self) -> u64 {
        loop {
            let suffix = self.suffix.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            let id = self.prefix | (suffix & ((1 << SUFFIX_BITS) - 1));
            if id != 0 {
                return id;
            }
        }
    }
}

/// The registry of ids this member waits on; shared by the node (which
/// registers) and the state machine (which completes).
#[derive(Debug, Clone, Default)]
pub struct Waiters {
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ApplyResult>>>>,
}

impl Waiters {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<ApplyResult>>> {
        // Every operation is a single map call; a panic elsewhere cannot
        // leave the map half-changed.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the apply of request `id`.
    pub fn register(&self, id: u64) -> Waiter {
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, tx);
        Waiter {
            id,
            rx,
            waiters: self.clone(),
        }
    }

    /// Hands the result of applying request `id` to its waiter; gives it
    /// back when nobody here waits for it.
    pub fn complete(&self, id: u64, result: ApplyResult) -> Option<ApplyResult> {
        if id == 0 {
            return Some(result);
        }
        let Some(tx) = self.pending().remove(&id) else {
            return Some(result);
        };
        // A waiter that gave up meanwhile drops the result with it.
        let _ = tx.send(result);
        None
    }

    /// How many ids are waited on (for tests).
    pub fn len(&self) -> usize {
        self.pending().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One registered id; unregisters when dropped.
#[derive(Debug)]
pub struct Waiter {
    id: u64,
    rx: oneshot::Receiver<ApplyResult>,
    waiters: Waiters,
}

impl Waiter {
    /// Resolves with the applied result; `None` if the registry went away.
    pub async fn applied(&mut self) -> Option<ApplyResult> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiters.pending().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_member_and_count_up() {
        let ids = RequestIds::starting_at(0xabcd_1234, 0x12_3456_789a);
        let a = ids.next();
        let b = ids.next();
        assert_eq!(a >> SUFFIX_BITS, 0x1234);
        assert_eq!(b, a + 1);
        assert_eq!((a >> COUNTER_BITS) & ((1 << TIME_BITS) - 1), 0x12_3456_789a);
        let other = RequestIds::starting_at(0x1235, 0x12_3456_789a).next();
        assert_ne!(a, other);
    }

    #[tokio::test]
    async fn a_registered_id_gets_its_result_once() {
        let waiters = Waiters::default();
        let mut waiter = waiters.register(7);
        assert!(waiters
            .complete(8, Err(ApplyError::LeaseNotFound))
            .is_some());
        assert!(waiters
            .complete(7, Err(ApplyError::LeaseNotFound))
            .is_none());
        assert!(matches!(
            waiter.applied().await,
            Some(Err(ApplyError::LeaseNotFound))
        ));
        // Completed ids are gone; a second apply of the id is nobody's.
        assert!(waiters
            .complete(7, Err(ApplyError::LeaseNotFound))
            .is_some());
        assert!(waiters
            .complete(0, Err(ApplyError::LeaseNotFound))
            .is_some());
    }

    #[test]
    fn dropping_a_waiter_unregisters_it() {
        let waiters = Waiters::default();
        let waiter = waiters.register(9);
        assert_eq!(waiters.len(), 1);
        drop(waiter);
        assert!(waiters.is_empty());
        assert!(waiters
            .complete(9, Err(ApplyError::LeaseNotFound))
            .is_some());
    }
}
