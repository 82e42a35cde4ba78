//! Lease ids the server picks when a grant asks for ID 0, laid out as etcd's
//! request-id generator lays them out: the member id's low 16 bits on top,
//! then 40 bits of the start time in milliseconds, then a counter in the low
//! 8 bits that carries into the time bits. Ids from different members never
//! collide, and a restart (a later start time) does not repeat earlier ones.
//! The top bit is cleared, so ids are positive, as etcd's are.

use std::sync::atomic::{AtomicU64, Ordering};

const TIME_BITS: u32 = 40;
const COUNTER_BITS: u32 = 8;
const SUFFIX_BITS: u32 = TIME_BITS + COUNTER_BITS;

#[derive(Debug)]
pub struct IdGenerator {
    /// The member id's low 16 bits, shifted into place.
    prefix: u64,
    /// Start time and counter; each id adds one.
    suffix: AtomicU64,
}

impl IdGenerator {
    pub fn new(member_id: u64, unix_millis: u64) -> IdGenerator {
        IdGenerator {
            prefix: (member_id & 0xffff) << SUFFIX_BITS,
            suffix: AtomicU64::new(low_bits(unix_millis, TIME_BITS) << COUNTER_BITS),
        }
    }

    /// The next id: positive and never 0.
    pub fn next(&self) -> i64 {
        loop {
            let suffix = self.suffix.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            let id = (self.prefix | low_bits(suffix, SUFFIX_BITS)) & (i64::MAX as u64);
            if id != 0 {
                return id as i64;
            }
        }
    }
}

fn low_bits(x: u64, n: u32) -> u64 {
    x & (u64::MAX >> (64 - n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_member_and_time_and_count_up() {
        let g = IdGenerator::new(0x1234_5678_9abc_def0, 0x01_0203_0405);
        let first = g.next();
        assert_eq!(first, 0xdef0_0102_0304_0501u64 as i64 & i64::MAX);
        assert_eq!(g.next(), first + 1);
        assert!(first > 0);
    }

    #[test]
    fn ids_are_positive_and_non_zero() {
        let g = IdGenerator::new(0x8000, 0);
        assert_eq!(g.next(), 1);
        let g = IdGenerator::new(0xffff, u64::MAX);
        for _ in 0..600 {
            assert!(g.next() > 0);
        }
    }

    #[test]
    fn members_and_restarts_get_distinct_ids() {
        let a = IdGenerator::new(1, 1_700_000_000_000);
        let b = IdGenerator::new(2, 1_700_000_000_000);
        let later = IdGenerator::new(1, 1_700_000_000_001);
        let ids_a: Vec<i64> = (0..100).map(|_| a.next()).collect();
        assert!(!ids_a.contains(&b.next()));
        // 100 ids within one millisecond overflow into the time bits only
        // after 256; a start 1 ms later begins above them.
        assert!(later.next() > *ids_a.last().unwrap());
    }
}
