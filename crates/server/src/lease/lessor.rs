//! [`Lessor`]: the live lease table of one member, fed by the apply thread
//! and by keep-alives, with leadership decided from Raft's status.
//!
//! The table (see `table`) is behind a plain mutex held only for in-memory
//! work, so [`Lessor::on_commit`], called on the apply thread, never waits
//! on I/O. Everything that proposes (revokes, checkpoints) runs in tasks on
//! the server's pipeline (see `expiry`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_proto::etcdserverpb::{LeaseCheckpoint, LeaseCheckpointRequest};
use etcd_storage::{Backend, Committed, LeaseChange, LeaseRecord, StorageError};
use tokio::sync::Notify;

use super::id::IdGenerator;
use super::table::{LeaseTable, Renewal};
use super::ttl::min_lease_ttl;
use crate::errors::EtcdError;
use crate::server::EtcdServer;

/// etcd's default lease checkpoint interval.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How many leases may be revoked for expiry per second, as in etcd.
pub const REVOKE_RATE: usize = 1000;
/// An expired lease whose revoke did not happen is offered again after this
/// long, as in etcd.
pub const REVOKE_RETRY: Duration = Duration::from_secs(3);
/// The most checkpoints one proposal carries, as in etcd.
pub const CHECKPOINT_BATCH: usize = 1000;
/// How often a promotion retries reloading when applies race with it.
const RELOAD_ATTEMPTS: usize = 5;

/// What a lessor needs to know about its member.
#[derive(Debug, Clone, Copy)]
pub struct LessorConfig {
    /// Seeds the ids chosen for grants with ID 0.
    pub member_id: u64,
    /// The shortest TTL granted, in seconds.
    pub min_ttl: i64,
    /// Added to every lease's time when this member becomes the leader: the
    /// election that just happened must not eat into leases (etcd's
    /// election timeout).
    pub promote_extend: Duration,
    /// Between periodic checkpoints of long leases; a test may shorten it.
    pub checkpoint_interval: Duration,
    /// How long a keep-alive waits for the revoke of a lease that just
    /// expired (the request timeout).
    pub request_timeout: Duration,
}

impl LessorConfig {
    /// etcd's settings for a member with these Raft timings.
    pub fn new(
        member_id: u64,
        heartbeat: Duration,
        election_timeout: Duration,
        request_timeout: Duration,
    ) -> LessorConfig {
        LessorConfig {
            member_id,
            min_ttl: min_lease_ttl(heartbeat, election_timeout),
            promote_extend: election_timeout,
            checkpoint_interval: CHECKPOINT_INTERVAL,
            request_timeout,
        }
    }
}

pub struct Lessor {
    cfg: LessorConfig,
    state: Mutex<State>,
    /// Serialises promotions and demotions: a promotion reads storage
    /// between two holds of `state`.
    role: tokio::sync::Mutex<()>,
    /// Woken when leases are revoked or the role changes, for keep-alives
    /// waiting on a lease that expired.
    changed: Notify,
    ids: IdGenerator,
}

struct State {
    table: LeaseTable,
    /// The Raft term in which this member became the primary; `None` while
    /// it is not the primary.
    term: Option<u64>,
    /// Applied batches with lease changes so far: a promotion's reload from
    /// storage is kept only if none was applied while it read.
    lease_commits: u64,
}

impl Lessor {
    /// A lessor following the leases stored in `backend` (as a follower:
    /// nothing expires until it is promoted).
    pub fn new(cfg: LessorConfig, backend: &Backend) -> Result<Arc<Lessor>, StorageError> {
        let records = backend.read()?.leases()?;
        let mut table = LeaseTable::new(cfg.checkpoint_interval, REVOKE_RETRY, REVOKE_RATE);
        table.replace(records.iter().map(as_tuple));
        let unix_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(Arc::new(Lessor {
            cfg,
            state: Mutex::new(State {
                table,
                term: None,
                lease_commits: 0,
            }),
            role: tokio::sync::Mutex::new(()),
            changed: Notify::new(),
            ids: IdGenerator::new(cfg.member_id, unix_millis),
        }))
    }

    pub fn config(&self) -> &LessorConfig {
        &self.cfg
    }

    pub fn min_ttl(&self) -> i64 {
        self.cfg.min_ttl
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The table stays consistent at every step, so a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows one committed batch. Called on the apply thread before the
    /// batch's clients are answered; only in-memory work.
    pub fn on_commit(&self, committed: &Committed) {
        if committed.lease_changes.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut revoked = false;
        {
            let mut st = self.state();
            st.lease_commits += 1;
            for change in &committed.lease_changes {
                match *change {
                    LeaseChange::Granted { id, ttl } => st.table.grant(id, ttl, now),
                    LeaseChange::Revoked { id } => {
                        st.table.revoke(id);
                        revoked = true;
                    }
                    LeaseChange::Checkpointed { id, remaining_ttl } => {
                        st.table.checkpoint(id, remaining_ttl)
                    }
                }
            }
        }
        if revoked {
            self.changed.notify_waiters();
        }
    }

    /// The store was replaced by a snapshot from the leader: the table is
    /// rebuilt from the installed leases, since the grants, revokes and
    /// checkpoints it skipped never passed through [`Lessor::on_commit`].
    /// Called on the apply thread; only in-memory work.
    pub fn on_install(&self, records: &[LeaseRecord]) {
        {
            let mut st = self.state();
            // A promotion reading storage meanwhile read the old store.
            st.lease_commits += 1;
            // Only followers install snapshots; should a primary ever
            // install one, its clocks restart as after a promotion.
            let primary = st.table.is_primary();
            st.table.replace(records.iter().map(as_tuple));
            if primary {
                st.table.promote(Instant::now(), self.cfg.promote_extend);
            }
        }
        self.changed.notify_waiters();
    }

    /// An id for a grant that asked for ID 0: positive, non-zero, and not a
    /// lease this member knows.
    pub fn new_id(&self) -> i64 {
        loop {
            let id = self.ids.next();
            if !self.state().table.contains(id) {
                return id;
            }
        }
    }

    /// Seconds left on lease `id`, truncated (etcd's TimeToLive), or `None`
    /// for an unknown lease. Off the leader, where nothing is timed, the TTL
    /// a new leader would resume from.
    pub fn remaining(&self, id: i64) -> Option<i64> {
        self.state().table.remaining(id, Instant::now())
    }

    /// Whether this member tracks lease `id`.
    pub fn contains(&self, id: i64) -> bool {
        self.state().table.contains(id)
    }

    /// Known lease ids, soonest expiry first.
    pub fn leases(&self) -> Vec<i64> {
        self.state().table.ids_by_expiry()
    }

    /// A keep-alive: restarts lease `id`'s full TTL and returns it. Only the
    /// leader renews. An unknown lease → `LeaseNotFound`; one that just
    /// expired is waited on until its revoke applies, then `LeaseNotFound`.
    pub async fn renew(&self, server: &EtcdServer, id: i64) -> Result<i64, EtcdError> {
        let deadline = tokio::time::Instant::now() + self.cfg.request_timeout;
        let mut role_checked = false;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let renewal = self.state().table.renew(id, Instant::now());
            match renewal {
                Renewal::Renewed {
                    ttl,
                    clear_checkpoint,
                } => {
                    if clear_checkpoint {
                        self.clear_checkpoint(server, id).await;
                    }
                    return Ok(ttl);
                }
                Renewal::NotFound => return Err(EtcdError::LeaseNotFound),
                Renewal::NotPrimary if !role_checked => {
                    // Elected a moment ago, before the expiry loop noticed.
                    role_checked = true;
                    self.follow_role(server).await?;
                    continue;
                }
                Renewal::NotPrimary => {
                    return Err(match server.leader() {
                        Some(_) => EtcdError::NotLeader,
                        None => EtcdError::NoLeader,
                    })
                }
                Renewal::Expired => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Err(EtcdError::Timeout);
                    }
                }
            }
        }
    }

    /// A renewed lease had a shorter remaining TTL recorded: record "none"
    /// (the full TTL), so a restart or a new leader does not resume from
    /// the stale, shorter value. Failing leaves the renewal in place (the
    /// periodic checkpoint or the next renewal retries), as etcd does.
    async fn clear_checkpoint(&self, server: &EtcdServer, id: i64) {
        let req = LeaseCheckpointRequest {
            checkpoints: vec![LeaseCheckpoint {
                id,
                remaining_ttl: 0,
            }],
        };
        if let Err(e) = server.lease_checkpoint(req).await {
            tracing::warn!(
                "lease-id" = %format!("{id:016x}"),
                error = %e,
                "failed to clear a lease checkpoint on renewal"
            );
        }
    }

    /// Makes the lessor's role match Raft's: the primary exactly while this
    /// member leads. A promotion reloads the leases from storage (the table
    /// may have missed a snapshot install) and starts every lease's clock.
    pub async fn follow_role(&self, server: &EtcdServer) -> Result<(), EtcdError> {
        let status = server.raft_status();
        let leading = status.leader == Some(server.member_id());
        let up_to_date = |term: Option<u64>| match leading {
            true => term == Some(status.term),
            false => term.is_none(),
        };
        if up_to_date(self.state().term) {
            return Ok(());
        }
        let _role = self.role.lock().await;
        if up_to_date(self.state().term) {
            return Ok(());
        }
        if leading {
            self.promote(server, status.term).await?;
            tracing::info!(
                term = status.term,
                "lessor promoted: this member expires leases"
            );
        } else {
            let mut st = self.state();
            st.table.demote();
            st.term = None;
            drop(st);
            tracing::info!("lessor demoted: this member no longer expires leases");
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn promote(&self, server: &EtcdServer, term: u64) -> Result<(), EtcdError> {
        for _ in 0..RELOAD_ATTEMPTS {
            let seen = self.state().lease_commits;
            let (records, _) = server.stored_leases().await?;
            let mut st = self.state();
            if st.lease_commits == seen {
                st.table.replace(records.iter().map(as_tuple));
                st.table.promote(Instant::now(), self.cfg.promote_extend);
                st.term = Some(term);
                return Ok(());
            }
        }
        // Leases keep changing under the reload: the table has followed
        // every applied change, so start the clocks from it as it is.
        let mut st = self.state();
        st.table.promote(Instant::now(), self.cfg.promote_extend);
        st.term = Some(term);
        Ok(())
    }

    /// Up to `limit` expired leases for the expiry loop to revoke.
    pub fn take_expired(&self, limit: usize) -> Vec<i64> {
        self.state().table.take_expired(Instant::now(), limit)
    }

    /// Up to `limit` periodic checkpoints due now.
    pub fn take_due_checkpoints(&self, limit: usize) -> Vec<LeaseCheckpoint> {
        let due = self
            .state()
            .table
            .take_due_checkpoints(Instant::now(), limit);
        due.into_iter().map(as_checkpoint).collect()
    }

    /// Checkpoints of every lease whose recorded remaining TTL is out of
    /// date, for a leader about to stop. Empty on a follower.
    pub fn all_checkpoints(&self) -> Vec<LeaseCheckpoint> {
        let st = self.state();
        if !st.table.is_primary() {
            return Vec::new();
        }
        let all = st.table.all_checkpoints(Instant::now());
        all.into_iter().map(as_checkpoint).collect()
    }
}

fn as_tuple(r: &LeaseRecord) -> (i64, i64, i64) {
    (r.id, r.ttl, r.remaining_ttl)
}

fn as_checkpoint((id, remaining_ttl): (i64, i64)) -> LeaseCheckpoint {
    LeaseCheckpoint { id, remaining_ttl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest};
    use etcd_proto::raftpb::raft_request::Request;
    use etcd_proto::raftpb::RaftRequest;

    fn cfg() -> LessorConfig {
        LessorConfig::new(
            7,
            Duration::from_millis(100),
            Duration::from_millis(1000),
            Duration::from_secs(7),
        )
    }

    fn apply(backend: &Backend, request: Request) -> Committed {
        let mut batch = backend.begin_apply().unwrap();
        batch
            .apply(&RaftRequest {
                caller: None,
                id: 0,
                request: Some(request),
            })
            .unwrap();
        batch.commit(false).unwrap()
    }

    fn grant(id: i64, ttl: i64) -> Request {
        Request::LeaseGrant(LeaseGrantRequest { id, ttl })
    }

    #[test]
    fn config_follows_etcd() {
        let cfg = cfg();
        assert_eq!(cfg.min_ttl, 2);
        assert_eq!(cfg.promote_extend, Duration::from_secs(1));
        assert_eq!(cfg.checkpoint_interval, Duration::from_secs(300));
    }

    #[test]
    fn loads_stored_leases_and_follows_commits() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("db")).unwrap();
        apply(&backend, grant(1, 60));
        apply(&backend, grant(2, 30));
        apply(
            &backend,
            Request::LeaseCheckpoint(LeaseCheckpointRequest {
                checkpoints: vec![LeaseCheckpoint {
                    id: 2,
                    remaining_ttl: 12,
                }],
            }),
        );

        let lessor = Lessor::new(cfg(), &backend).unwrap();
        // Not the leader yet: nothing is timed; a leader would resume lease
        // 2 from its checkpoint.
        assert_eq!(lessor.remaining(1), Some(60));
        assert_eq!(lessor.remaining(2), Some(12));
        assert_eq!(lessor.leases(), [1, 2]);

        lessor.on_commit(&apply(&backend, grant(3, 5)));
        lessor.on_commit(&apply(
            &backend,
            Request::LeaseRevoke(LeaseRevokeRequest { id: 1 }),
        ));
        assert_eq!(lessor.leases(), [2, 3]);
        assert!(!lessor.contains(1));
        assert_eq!(lessor.remaining(3), Some(5));
        // Nothing expires or is checkpointed off the leader.
        assert!(lessor.take_expired(100).is_empty());
        assert!(lessor.all_checkpoints().is_empty());

        let id = lessor.new_id();
        assert!(id > 0 && !lessor.contains(id));
        assert_ne!(lessor.new_id(), id);
    }

    #[test]
    fn an_installed_snapshot_replaces_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("db")).unwrap();
        apply(&backend, grant(1, 60));
        let lessor = Lessor::new(cfg(), &backend).unwrap();
        // The leader revoked 1 and granted 2 in entries this member skipped.
        let leader = Backend::open(&dir.path().join("leader")).unwrap();
        apply(&leader, grant(2, 30));
        lessor.on_install(&leader.read().unwrap().leases().unwrap());
        assert_eq!(lessor.leases(), [2]);
        assert_eq!(lessor.remaining(2), Some(30));
        assert!(lessor.take_expired(100).is_empty());
    }
}
