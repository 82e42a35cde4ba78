//! Lease TTL arithmetic: etcd's limits on granted TTLs and the roundings it
//! applies when a remaining time becomes whole seconds. Pure functions; the
//! lessor and the Lease service use them so every answer rounds one way.

use std::time::Duration;

use crate::errors::EtcdError;

pub use etcd_storage::MAX_LEASE_TTL;

/// The shortest TTL a lease gets, in seconds, for a member with these Raft
/// timings. etcd computes it from whole ticks — `(3 × election ticks / 2)`
/// heartbeats, rounded up to a second — so that a lease outlives a leader
/// election; this is ceil(1.5 × election timeout) whenever the election
/// timeout is a whole number of heartbeats, as it normally is.
pub fn min_lease_ttl(heartbeat: Duration, election_timeout: Duration) -> i64 {
    let heartbeat_ms = heartbeat.as_millis().max(1);
    let election_ticks = election_timeout.as_millis() / heartbeat_ms;
    let min_ms = (3 * election_ticks / 2) * heartbeat_ms;
    i64::try_from(min_ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// The TTL a grant asking for `requested` seconds gets: refused above
/// [`MAX_LEASE_TTL`], raised silently to `min_ttl` below it (a zero or
/// negative request included).
pub fn granted_ttl(requested: i64, min_ttl: i64) -> Result<i64, EtcdError> {
    if requested > MAX_LEASE_TTL {
        return Err(EtcdError::LeaseTtlTooLarge);
    }
    Ok(requested.max(min_ttl))
}

/// Whole seconds left, rounded up: what a checkpoint records, so resuming
/// from it never ends a lease earlier than it would have ended.
pub fn ceil_secs(left: Duration) -> i64 {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Whole seconds left, truncated toward zero, negative once past the expiry:
/// what TimeToLive reports, as etcd converts its remaining duration.
pub fn trunc_secs(left_nanos: i128) -> i64 {
    let secs = left_nanos / 1_000_000_000;
    i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn minimum_ttl_follows_etcds_tick_formula() {
        // etcd's defaults: 10 ticks of 100 ms → 1.5 s → 2 s.
        assert_eq!(min_lease_ttl(ms(100), ms(1000)), 2);
        // The test harness's reference flags: 10 ticks of 10 ms → 150 ms → 1 s.
        assert_eq!(min_lease_ttl(ms(10), ms(100)), 1);
        assert_eq!(min_lease_ttl(ms(100), ms(2000)), 3);
        assert_eq!(min_lease_ttl(ms(100), ms(2100)), 4);
        // 5 ticks: 3 × 5 / 2 = 7 ticks (integer), 700 ms → 1 s.
        assert_eq!(min_lease_ttl(ms(100), ms(500)), 1);
        assert_eq!(min_lease_ttl(ms(0), ms(1000)), 2);
    }

    #[test]
    fn grants_are_raised_or_refused() {
        assert_eq!(granted_ttl(10, 2), Ok(10));
        assert_eq!(granted_ttl(1, 2), Ok(2));
        assert_eq!(granted_ttl(0, 2), Ok(2));
        assert_eq!(granted_ttl(-5, 2), Ok(2));
        assert_eq!(granted_ttl(MAX_LEASE_TTL, 2), Ok(MAX_LEASE_TTL));
        assert_eq!(
            granted_ttl(MAX_LEASE_TTL + 1, 2),
            Err(EtcdError::LeaseTtlTooLarge)
        );
    }

    #[test]
    fn roundings() {
        assert_eq!(ceil_secs(ms(0)), 0);
        assert_eq!(ceil_secs(ms(1)), 1);
        assert_eq!(ceil_secs(ms(1000)), 1);
        assert_eq!(ceil_secs(ms(1001)), 2);
        assert_eq!(trunc_secs(1_999_999_999), 1);
        assert_eq!(trunc_secs(-300_000_000), 0);
        assert_eq!(trunc_secs(-1_500_000_000), -1);
    }
}
