//! [`LeaseTable`]: the lessor's state as plain data, driven by explicit
//! instants so every rule is unit-tested without clocks or Raft.
//!
//! It mirrors the leases storage holds (id, granted TTL, checkpointed
//! remaining TTL) and, only while this member is the primary (the Raft
//! leader), when each one expires. It decides which leases are due for a
//! revoke and which remaining TTLs are due for a checkpoint; proposing those
//! is the lessor's job, and applying them storage's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::deadlines::Deadlines;
use super::ttl::ceil_secs;

/// One lease as the lessor tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The granted TTL, in seconds; a renewal restarts it in full.
    pub ttl: i64,
    /// The last remaining TTL recorded through Raft, in seconds; 0 when none
    /// is recorded and the full TTL applies.
    pub checkpointed: i64,
    /// When the lease expires; only the primary tracks expiries (`None`
    /// elsewhere: a follower never expires anything).
    pub expiry: Option<Instant>,
}

impl Lease {
    /// Seconds a newly promoted primary gives this lease: the checkpointed
    /// remaining TTL if one is recorded, else the full TTL.
    pub fn resume_ttl(&self) -> i64 {
        if self.checkpointed > 0 {
            self.checkpointed
        } else {
            self.ttl
        }
    }
}

/// The outcome of a keep-alive, as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed to its full TTL. `clear_checkpoint`: a remaining TTL shorter
    /// than the new one is recorded and must be cleared, or a restart would
    /// resume from it and end the lease early.
    Renewed { ttl: i64, clear_checkpoint: bool },
    /// No such lease.
    NotFound,
    /// Past its expiry; its revoke is pending.
    Expired,
    /// This member is not the primary and cannot renew.
    NotPrimary,
}

#[derive(Debug)]
pub struct LeaseTable {
    leases: HashMap<i64, Lease>,
    /// Whether this member is the primary, the only one tracking expiries.
    primary: bool,
    /// When each lease is next checked for expiry: its expiry, or, once it
    /// was handed out for revoking, a retry time in case the revoke failed.
    revoke_checks: Deadlines,
    /// When each long lease is next checkpointed.
    checkpoints: Deadlines,
    /// How often long leases are checkpointed; leases whose remaining time is
    /// not longer than this are not checkpointed periodically.
    checkpoint_interval: Duration,
    /// Leases handed out for revoking are offered again after this long if
    /// they still exist.
    revoke_retry: Duration,
    /// The most leases expected to be revoked per second; a promotion that
    /// finds more due together spreads them out.
    revoke_rate: usize,
}

impl LeaseTable {
    pub fn new(checkpoint_interval: Duration, revoke_retry: Duration, revoke_rate: usize) -> Self {
        LeaseTable {
            leases: HashMap::new(),
            primary: false,
            revoke_checks: Deadlines::default(),
            checkpoints: Deadlines::default(),
            checkpoint_interval,
            revoke_retry,
            revoke_rate,
        }
    }

    /// Replaces every lease with `records` (id, ttl, checkpointed remaining
    /// TTL) as read from storage; no expiries until [`LeaseTable::promote`].
    pub fn replace(&mut self, records: impl IntoIterator<Item = (i64, i64, i64)>) {
        self.leases = records
            .into_iter()
            .map(|(id, ttl, checkpointed)| {
                let lease = Lease {
                    ttl,
                    checkpointed,
                    expiry: None,
                };
                (id, lease)
            })
            .collect();
        self.primary = false;
        self.revoke_checks.clear();
        self.checkpoints.clear();
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// A grant was applied. Applying one twice (a reload that already saw
    /// it) restarts its clock, which only lengthens it.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) {
        let mut lease = Lease {
            ttl,
            checkpointed: 0,
            expiry: None,
        };
        if self.primary {
            let expiry = now + secs(ttl);
            lease.expiry = Some(expiry);
            self.revoke_checks.set(id, expiry);
        }
        self.leases.insert(id, lease);
        self.schedule_checkpoint(id, now);
    }

    /// A revoke was applied (by a client or by expiry).
    pub fn revoke(&mut self, id: i64) {
        self.leases.remove(&id);
        self.revoke_checks.remove(id);
        self.checkpoints.remove(id);
    }

    /// A checkpoint was applied: remember what a later promotion resumes
    /// from. The expiry this member tracks is not changed by it.
    pub fn checkpoint(&mut self, id: i64, remaining_ttl: i64) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.checkpointed = remaining_ttl;
        }
    }

    /// This member became the primary: every lease expires `extend` (time
    /// for the election that just happened) plus its resume TTL from now,
    /// spread out where too many would expire in the same second.
    pub fn promote(&mut self, now: Instant, extend: Duration) {
        self.primary = true;
        self.revoke_checks.clear();
        self.checkpoints.clear();
        let mut remaining: Vec<(i64, Duration)> = self
            .leases
            .iter()
            .map(|(&id, lease)| (id, extend + secs(lease.resume_ttl())))
            .collect();
        remaining.sort_unstable_by_key(|&(id, left)| (left, id));
        spread_pileups(&mut remaining, self.revoke_rate);
        for (id, left) in remaining {
            let expiry = now + left;
            if let Some(lease) = self.leases.get_mut(&id) {
                lease.expiry = Some(expiry);
            }
            self.revoke_checks.set(id, expiry);
            self.schedule_checkpoint(id, now);
        }
    }

    /// This member stopped being the primary: nothing expires here.
    pub fn demote(&mut self) {
        self.primary = false;
        for lease in self.leases.values_mut() {
            lease.expiry = None;
        }
        self.revoke_checks.clear();
        self.checkpoints.clear();
    }

    /// A keep-alive: restarts the lease's full TTL.
    pub fn renew(&mut self, id: i64, now: Instant) -> Renewal {
        if !self.primary {
            return Renewal::NotPrimary;
        }
        let Some(lease) = self.leases.get_mut(&id) else {
            return Renewal::NotFound;
        };
        if lease.expiry.is_some_and(|e| e <= now) {
            return Renewal::Expired;
        }
        let expiry = now + secs(lease.ttl);
        lease.expiry = Some(expiry);
        let renewal = Renewal::Renewed {
            ttl: lease.ttl,
            clear_checkpoint: lease.checkpointed > 0,
        };
        self.revoke_checks.set(id, expiry);
        renewal
    }

    /// Seconds left (truncated, negative once expired) where this member
    /// tracks the expiry; elsewhere the TTL a promotion would resume from.
    /// `None` for an unknown lease.
    pub fn remaining(&self, id: i64, now: Instant) -> Option<i64> {
        let lease = self.leases.get(&id)?;
        Some(match lease.expiry {
            Some(expiry) => super::ttl::trunc_secs(signed_nanos(expiry, now)),
            None => lease.resume_ttl(),
        })
    }

    /// Lease ids, soonest expiry first (untracked ones last), ties by id.
    pub fn ids_by_expiry(&self) -> Vec<i64> {
        let mut ids: Vec<(Option<Instant>, i64)> = self
            .leases
            .iter()
            .map(|(&id, lease)| (lease.expiry, id))
            .collect();
        ids.sort_unstable_by_key(|&(expiry, id)| (expiry.is_none(), expiry, id));
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Up to `limit` expired leases to revoke now. Each is offered again
    /// after the retry interval if it still exists then (its revoke failed).
    pub fn take_expired(&mut self, now: Instant, limit: usize) -> Vec<i64> {
        let mut expired = Vec::new();
        while expired.len() < limit {
            let due = self.revoke_checks.take_due(now, 1);
            let Some(&id) = due.first() else { break };
            match self.leases.get(&id).and_then(|l| l.expiry) {
                Some(expiry) if expiry <= now => {
                    self.revoke_checks.set(id, now + self.revoke_retry);
                    expired.push(id);
                }
                // Renewed meanwhile (renewals move the check with the expiry,
                // so this is defensive).
                Some(expiry) => self.revoke_checks.set(id, expiry),
                None => {}
            }
        }
        expired
    }

    /// Up to `limit` periodic checkpoints due now, as (id, remaining TTL to
    /// record). Long leases stay scheduled, one interval on.
    pub fn take_due_checkpoints(&mut self, now: Instant, limit: usize) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        while out.len() < limit {
            let due = self.checkpoints.take_due(now, 1);
            let Some(&id) = due.first() else { break };
            let Some(lease) = self.leases.get(&id) else {
                continue;
            };
            if let Some(value) = checkpoint_value(lease, now) {
                out.push((id, value));
            }
            self.schedule_checkpoint(id, now);
        }
        out
    }

    /// Checkpoints for every lease whose recorded remaining TTL is out of
    /// date, for a primary about to stop (so the next one resumes exactly).
    pub fn all_checkpoints(&self, now: Instant) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .leases
            .iter()
            .filter_map(|(&id, lease)| checkpoint_value(lease, now).map(|v| (id, v)))
            .collect();
        out.sort_unstable();
        out
    }

    /// Schedules the lease's next periodic checkpoint if it has more than an
    /// interval left (shorter leases end or are renewed before it matters).
    fn schedule_checkpoint(&mut self, id: i64, now: Instant) {
        let left = match self.leases.get(&id).and_then(|l| l.expiry) {
            Some(expiry) if self.primary => expiry.saturating_duration_since(now),
            _ => return,
        };
        if left > self.checkpoint_interval {
            self.checkpoints.set(id, now + self.checkpoint_interval);
        }
    }
}

/// The remaining TTL to record for a lease now, or `None` when the recorded
/// one is already right (or the lease is untracked or expired). Rounded up,
/// so resuming never ends the lease earlier; a lease with its full TTL left
/// records 0, "no checkpoint", as etcd does.
pub fn checkpoint_value(lease: &Lease, now: Instant) -> Option<i64> {
    let expiry = lease.expiry?;
    if expiry <= now {
        return None;
    }
    let left = ceil_secs(expiry - now);
    let value = if left >= lease.ttl { 0 } else { left };
    (value != lease.checkpointed).then_some(value)
}

/// etcd's pile-up rule for a promotion: given leases' remaining times in
/// ascending order, when at least `revoke_rate` leases exist, no more than
/// 3/4 of the rate may expire within a one-second window; the rest are
/// pushed later so that they expire at that pace. Adjusts in place.
pub fn spread_pileups(sorted: &mut [(i64, Duration)], revoke_rate: usize) {
    if sorted.is_empty() || sorted.len() < revoke_rate {
        return;
    }
    let target = (3 * revoke_rate / 4).max(1) as i128;
    let second: i128 = 1_000_000_000;
    let mut base = sorted[0].1.as_nanos() as i128;
    let mut next = base + second;
    let mut expires: i128 = 0;
    for (_, left) in sorted.iter_mut() {
        let rem = left.as_nanos() as i128;
        if rem > next {
            base = rem;
            next = base + second;
            expires = 1;
            continue;
        }
        expires += 1;
        if expires <= target {
            continue;
        }
        let delay = second * expires / target - (rem - base);
        next = base + delay;
        *left += Duration::from_nanos(u64::try_from(delay.max(0)).unwrap_or(u64::MAX));
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}

/// `a - b` in nanoseconds, negative when `a` is earlier.
fn signed_nanos(a: Instant, b: Instant) -> i128 {
    if a >= b {
        (a - b).as_nanos() as i128
    } else {
        -((b - a).as_nanos() as i128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn table() -> LeaseTable {
        LeaseTable::new(MIN * 5, s(3), 1000)
    }

    #[test]
    fn followers_track_leases_but_never_expire_them() {
        let t0 = Instant::now();
        let mut t = table();
        t.grant(1, 10, t0);
        assert_eq!(t.get(1).unwrap().expiry, None);
        assert!(t.take_expired(t0 + s(1000), 10).is_empty());
        assert_eq!(t.renew(1, t0), Renewal::NotPrimary);
        assert_eq!(t.remaining(1, t0 + s(100)), Some(10));
        t.checkpoint(1, 4);
        assert_eq!(t.remaining(1, t0), Some(4));
        t.revoke(1);
        assert_eq!(t.remaining(1, t0), None);
    }

    #[test]
    fn the_primary_expires_leases_and_retries_failed_revokes() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 10, t0);
        t.grant(2, 20, t0);
        assert!(t.take_expired(t0 + s(9), 10).is_empty());
        assert_eq!(t.take_expired(t0 + s(10), 10), [1]);
        // Handed out once; offered again only after the retry interval.
        assert!(t.take_expired(t0 + s(11), 10).is_empty());
        assert_eq!(t.take_expired(t0 + s(13), 10), [1]);
        // An expired lease cannot be renewed; its revoke is pending.
        assert_eq!(t.renew(1, t0 + s(13)), Renewal::Expired);
        t.revoke(1);
        assert_eq!(t.renew(1, t0 + s(13)), Renewal::NotFound);
        assert_eq!(t.take_expired(t0 + s(30), 10), [2]);
    }

    #[test]
    fn expiry_takes_at_most_the_limit() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        for id in 1..=10 {
            t.grant(id, 5, t0);
        }
        assert_eq!(t.take_expired(t0 + s(5), 4).len(), 4);
        assert_eq!(t.take_expired(t0 + s(5), 4).len(), 4);
        assert_eq!(t.take_expired(t0 + s(5), 4).len(), 2);
    }

    #[test]
    fn renewal_restarts_the_full_ttl() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 10, t0);
        assert_eq!(
            t.renew(1, t0 + s(8)),
            Renewal::Renewed {
                ttl: 10,
                clear_checkpoint: false
            }
        );
        assert!(t.take_expired(t0 + s(17), 10).is_empty());
        assert_eq!(t.remaining(1, t0 + s(17)), Some(1));
        assert_eq!(t.take_expired(t0 + s(18), 10), [1]);
        // TimeToLive truncates, and goes negative past the expiry.
        assert_eq!(
            t.remaining(1, t0 + s(18) + Duration::from_millis(1500)),
            Some(-1)
        );
    }

    #[test]
    fn renewing_a_checkpointed_lease_asks_to_clear_the_checkpoint() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 100, t0);
        t.checkpoint(1, 40);
        assert_eq!(
            t.renew(1, t0 + s(1)),
            Renewal::Renewed {
                ttl: 100,
                clear_checkpoint: true
            }
        );
    }

    #[test]
    fn promotion_resumes_from_the_checkpoint_plus_the_election_time() {
        let t0 = Instant::now();
        let mut t = table();
        t.replace([(1, 60, 0), (2, 60, 25)]);
        assert!(!t.is_primary());
        t.promote(t0, s(1));
        assert_eq!(t.get(1).unwrap().expiry, Some(t0 + s(61)));
        assert_eq!(t.get(2).unwrap().expiry, Some(t0 + s(26)));
        t.demote();
        assert_eq!(t.get(2).unwrap().expiry, None);
        assert!(t.take_expired(t0 + s(1000), 10).is_empty());
    }

    #[test]
    fn checkpoint_values_round_up_and_skip_what_is_recorded() {
        let t0 = Instant::now();
        let mut lease = Lease {
            ttl: 60,
            checkpointed: 0,
            expiry: Some(t0 + s(30) + Duration::from_millis(200)),
        };
        assert_eq!(checkpoint_value(&lease, t0), Some(31));
        lease.checkpointed = 31;
        assert_eq!(checkpoint_value(&lease, t0), None);
        // Full TTL left: record "none" (0) if something else is recorded.
        assert_eq!(checkpoint_value(&lease, t0 - s(30)), Some(0));
        lease.checkpointed = 0;
        assert_eq!(checkpoint_value(&lease, t0 - s(30)), None);
        // Untracked or already expired: nothing to record.
        assert_eq!(checkpoint_value(&lease, t0 + s(31)), None);
        lease.expiry = None;
        assert_eq!(checkpoint_value(&lease, t0), None);
    }

    #[test]
    fn long_leases_are_checkpointed_every_interval() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 3600, t0);
        // Shorter than the interval: never checkpointed periodically.
        t.grant(2, 100, t0);
        assert!(t.take_due_checkpoints(t0 + s(299), 10).is_empty());
        assert_eq!(t.take_due_checkpoints(t0 + s(300), 10), [(1, 3300)]);
        t.checkpoint(1, 3300);
        assert_eq!(t.take_due_checkpoints(t0 + s(600), 10), [(1, 3000)]);
        // Renewed meanwhile: the full TTL is left; 3000 is recorded, so the
        // next checkpoint clears it.
        t.checkpoint(1, 3000);
        t.renew(1, t0 + s(900));
        assert_eq!(t.take_due_checkpoints(t0 + s(900), 10), [(1, 0)]);
        // A lease with no more than an interval left drops off the schedule.
        t.checkpoint(1, 0);
        assert_eq!(t.take_due_checkpoints(t0 + s(4300), 10), [(1, 200)]);
        assert!(t.checkpoints.is_empty());
    }

    #[test]
    fn all_checkpoints_lists_out_of_date_leases() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 60, t0);
        t.grant(2, 60, t0 + s(5));
        t.grant(3, 60, t0 + s(10));
        assert_eq!(t.all_checkpoints(t0 + s(10)), [(1, 50), (2, 55)]);
        t.checkpoint(1, 50);
        assert_eq!(t.all_checkpoints(t0 + s(10)), [(2, 55)]);
    }

    #[test]
    fn replayed_changes_are_harmless() {
        let t0 = Instant::now();
        let mut t = table();
        t.promote(t0, Duration::ZERO);
        t.grant(1, 10, t0);
        t.grant(1, 10, t0 + s(1));
        assert_eq!(t.len(), 1);
        t.revoke(1);
        t.revoke(1);
        t.checkpoint(1, 5);
        assert!(t.is_empty());
    }

    #[test]
    fn leases_list_soonest_expiry_first() {
        let t0 = Instant::now();
        let mut t = table();
        t.grant(9, 5, t0);
        t.promote(t0, Duration::ZERO);
        t.grant(1, 50, t0);
        t.grant(2, 10, t0);
        assert_eq!(t.ids_by_expiry(), [9, 2, 1]);
        t.demote();
        assert_eq!(t.ids_by_expiry(), [1, 2, 9]);
    }

    #[test]
    fn pileups_are_spread_at_three_quarters_of_the_revoke_rate() {
        // 10 leases all due at 5 s, with a revoke rate of 4: 3 may expire per
        // second.
        let mut leases: Vec<(i64, Duration)> = (0..10).map(|id| (id, s(5))).collect();
        spread_pileups(&mut leases, 4);
        let got: Vec<u128> = leases.iter().map(|(_, d)| d.as_millis()).collect();
        assert_eq!(
            got,
            [5000, 5000, 5000, 6333, 6666, 7000, 7333, 7666, 8000, 8333]
        );
        // Fewer leases than the rate: untouched.
        let mut few: Vec<(i64, Duration)> = (0..3).map(|id| (id, s(5))).collect();
        spread_pileups(&mut few, 4);
        assert!(few.iter().all(|&(_, d)| d == s(5)));
    }

    #[test]
    fn promotion_spreads_pileups() {
        let t0 = Instant::now();
        let mut t = LeaseTable::new(MIN * 5, s(3), 4);
        t.replace((0..8).map(|id| (id, 10, 0)));
        t.promote(t0, Duration::ZERO);
        let mut expiries: Vec<Duration> = (0..8)
            .map(|id| t.get(id).unwrap().expiry.unwrap() - t0)
            .collect();
        expiries.sort();
        assert_eq!(expiries[2], s(10));
        assert!(expiries[3] > s(11), "{expiries:?}");
    }
}
