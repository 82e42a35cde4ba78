//! Executing committed requests: [`ApplyBatch`], one redb write transaction
//! for a batch of raft entries (etcd's `applierV3backend`).
//!
//! Owns request dispatch, the top-level Put lease check, compaction requests,
//! revision bookkeeping across the batch and the commit. The per-request
//! semantics are in `ops` (Range/Put/DeleteRange), `txn` (Txn) and `lease`
//! (LeaseGrant/LeaseRevoke/LeaseCheckpoint); the MVCC
//! mechanics in `crate::mvcc`. Not here: raft log ids, membership (opaque
//! meta blobs of the raft layer) and headers' cluster/member/term fields
//! (the server's).
//!
//! Atomicity: every refusal (`ApplyError` other than `Storage`) is decided
//! before the request's first change, so it leaves nothing behind and the
//! batch goes on. A `Storage` error may leave a partial change: the batch is
//! then poisoned and [`ApplyBatch::commit`] refuses, so redb rolls it all
//! back.

pub(crate) mod alarm;
pub(crate) mod lease;
pub(crate) mod ops;
pub(crate) mod txn;

use etcd_proto::etcdserverpb::{
    AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeResponse,
    LeaseCheckpointResponse, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, TxnResponse,
};
use etcd_proto::mvccpb::Event;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::RaftRequest;
use std::sync::Arc;

use etcd_proto::raftpb::auth_change::Change;
use redb::{Durability, ReadableTable, WriteTransaction};

use crate::auth::cache::AuthCache;
use crate::auth::check::{authorize, AuthSource, AuthState};
use crate::auth::perms::UserPerms;
use crate::auth::AuthEvent;
use crate::request::Needs;

use crate::backend::write_gate::WritePermit;
use crate::backend::{
    read_meta_i64, ALARMS, META, META_COMPACTED_REVISION, META_CURRENT_REVISION,
    RESERVED_META_PREFIX,
};
use crate::error::{ApplyError, StorageError};
use crate::mvcc::compaction;
use crate::mvcc::revision::encode_i64;
use crate::mvcc::write::{TxnWrite, WriteTables};
use crate::mvcc::KvTxn;

/// The response to one applied request. Headers carry only `revision`: the
/// store revision after the request.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyResponse {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    LeaseCheckpoint(LeaseCheckpointResponse),
    Alarm(AlarmResponse),
    /// An auth change applied; the store revision it leaves (auth changes
    /// do not raise it), which etcd reports in their response headers.
    Auth(i64),
    /// An Authenticate applied: the store revision for the header, the
    /// auth revision it was judged at (a JWT's claim) and the simple token
    /// it assigned (`None` for JWT).
    Authenticated {
        revision: i64,
        auth_revision: u64,
        token: Option<String>,
    },
}

/// One redb write transaction applying a batch of committed entries.
pub struct ApplyBatch<'a> {
    /// The write transaction every request of the batch writes into.
    txn: WriteTransaction,
    /// The store revision after the requests applied so far.
    current: i64,
    /// The compacted revision after the requests applied so far.
    compacted: i64,
    /// The revisions at the start, to skip rewriting unchanged meta.
    initial: (i64, i64),
    /// Every event of the batch, in revision order.
    events: Vec<Event>,
    /// Every lease change of the batch, in apply order.
    lease_changes: Vec<LeaseChange>,
    /// Every auth event of the batch, in apply order.
    auth_events: Vec<AuthEvent>,
    /// The backend's auth cache (see `auth::cache`).
    auth: Arc<AuthCache>,
    /// The auth state as this batch sees it; `None` until a check needs
    /// it, and again after each auth change.
    auth_state: Option<AuthState>,
    /// An auth change applied: publish the final state at commit.
    auth_changed: bool,
    /// Set when a storage error struck after a request began changing
    /// tables: the batch must not commit.
    poisoned: Option<String>,
    /// The backend's one write permit, held until the batch ends (after
    /// `txn`, which is dropped first): see `backend::write_gate`. `None`
    /// for a batch on a file no one else writes (a defragment's copy).
    permit: Option<WritePermit<'a>>,
}

impl<'a> ApplyBatch<'a> {
    pub(crate) fn new(
        txn: WriteTransaction,
        permit: WritePermit<'a>,
        auth: Arc<AuthCache>,
    ) -> Result<ApplyBatch<'a>, StorageError> {
        Self::begin(txn, Some(permit), auth)
    }

    /// A batch on a file only its caller writes (see
    /// `Backend::defragment_online`), needing no permit.
    pub(crate) fn detached(
        txn: WriteTransaction,
        auth: Arc<AuthCache>,
    ) -> Result<ApplyBatch<'a>, StorageError> {
        Self::begin(txn, None, auth)
    }

    /// The batch's transaction, for a caller that writes tables the batch
    /// does not (a defragment's local meta).
    pub(crate) fn txn(&self) -> &WriteTransaction {
        &self.txn
    }

    fn begin(
        txn: WriteTransaction,
        permit: Option<WritePermit<'a>>,
        auth: Arc<AuthCache>,
    ) -> Result<ApplyBatch<'a>, StorageError> {
        let (current, compacted) = {
            let meta = txn.open_table(META)?;
            (
                read_meta_i64(&meta, META_CURRENT_REVISION)?,
                read_meta_i64(&meta, META_COMPACTED_REVISION)?,
            )
        };
        Ok(ApplyBatch {
            txn,
            current,
            compacted,
            initial: (current, compacted),
            events: Vec::new(),
            lease_changes: Vec::new(),
            auth_events: Vec::new(),
            auth,
            auth_state: None,
            auth_changed: false,
            poisoned: None,
            permit,
        })
    }

    /// The store revision after the requests applied so far.
    pub fn current_revision(&self) -> i64 {
        self.current
    }

    /// The compacted revision after the requests applied so far (-1 if
    /// never compacted).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted
    }

    /// Applies one committed request (for tests and tools: an entry
    /// without a raft index).
    pub fn apply(&mut self, req: &RaftRequest) -> Result<ApplyResponse, ApplyError> {
        self.apply_at(0, req)
    }

    /// Applies the committed request at raft `index`. An error other than
    /// `ApplyError::Storage` changed nothing; the batch goes on.
    pub fn apply_at(&mut self, index: u64, req: &RaftRequest) -> Result<ApplyResponse, ApplyError> {
        let Some(request) = &req.request else {
            return Err(ApplyError::Unsupported("an empty raft request"));
        };
        // etcd's capped applier: under NOSPACE, refuse what may grow the
        // store before anything else (even a Put's lease check).
        if crate::request::may_grow_store(request) {
            let table = self.txn.open_table(ALARMS).map_err(StorageError::from)?;
            let nospace = alarm::nospace_active(&table)?;
            alarm::check_capped(request, nospace)?;
        }
        // Then etcd's auth applier: the sender's permissions as of this
        // entry. Before the KV tables open: the check reads lease keys.
        // With auth off (the hint), nothing is built or read.
        let needs = match self.auth.maybe_enabled() {
            true => Needs::of(request),
            false => Needs::default(),
        };
        if !needs.is_empty() {
            let state = self.auth_state()?;
            let source = BatchSource {
                txn: &self.txn,
                cache: &self.auth,
                revision: state.revision,
            };
            authorize(state, req.caller.as_ref(), &needs, &source)?;
        }
        if let Request::Auth(a) = request {
            return match &a.change {
                Some(change) => self.apply_auth(index, change),
                None => Err(ApplyError::Unsupported("an empty auth change")),
            };
        }
        let mut tw = TxnWrite::new(WriteTables::open(&self.txn)?, self.current, self.compacted);
        if self.permit.is_none() {
            // A defragment's catch-up re-applies what the live store
            // applied and counted already.
            tw.uncounted();
        }
        let mut compacted_to = None;
        let mut lease_changes = Vec::new();
        let result = match request {
            Request::Put(p) => {
                // etcd checks the lease before opening its write.
                match p.lease != 0 && !tw.lease_exists(p.lease)? {
                    true => Err(ApplyError::LeaseNotFound),
                    false => ops::put(&mut tw, p).map(ApplyResponse::Put),
                }
            }
            Request::DeleteRange(d) => {
                ops::delete_range(&mut tw, d).map(ApplyResponse::DeleteRange)
            }
            Request::Txn(t) => txn::execute(&mut tw, t).map(ApplyResponse::Txn),
            Request::Compaction(c) => {
                let r = compact(&mut tw, c, self.compacted, self.current);
                if r.is_ok() {
                    compacted_to = Some(c.revision);
                }
                r
            }
            Request::LeaseGrant(g) => lease::grant(&mut tw, g).map(|(resp, change)| {
                lease_changes.push(change);
                ApplyResponse::LeaseGrant(resp)
            }),
            Request::LeaseRevoke(r) => lease::revoke(&mut tw, r).map(|(resp, change)| {
                lease_changes.push(change);
                ApplyResponse::LeaseRevoke(resp)
            }),
            Request::LeaseCheckpoint(c) => lease::checkpoint(&mut tw, c).map(|(resp, changes)| {
                lease_changes = changes;
                ApplyResponse::LeaseCheckpoint(resp)
            }),
            Request::Auth(_) => unreachable!("auth changes are applied above"),
            Request::Alarm(a) => match self.txn.open_table(ALARMS) {
                Ok(mut table) => alarm::apply(&mut table, a)
                    .map(ApplyResponse::Alarm)
                    .map_err(ApplyError::from),
                Err(e) => Err(ApplyError::Storage(e.into())),
            },
        };
        let events = tw.into_events();
        match result {
            Ok(resp) => {
                if !events.is_empty() {
                    self.current += 1;
                    self.events.extend(events);
                }
                if let Some(rev) = compacted_to {
                    self.compacted = rev;
                }
                self.lease_changes.extend(lease_changes);
                Ok(resp)
            }
            Err(ApplyError::Storage(e)) => {
                // Compaction and lease records change tables without events,
                // so any storage error may have left a partial change.
                self.poisoned = Some(e.to_string());
                Err(ApplyError::Storage(e))
            }
            Err(e) => Err(e),
        }
    }

    /// The auth state as this batch sees it.
    fn auth_state(&mut self) -> Result<AuthState, StorageError> {
        if let Some(state) = self.auth_state {
            return Ok(state);
        }
        let state = crate::auth::apply::state(&self.txn)?;
        self.auth_state = Some(state);
        Ok(state)
    }

    /// An auth change, judged already: applied, its event kept for the
    /// commit.
    fn apply_auth(&mut self, index: u64, change: &Change) -> Result<ApplyResponse, ApplyError> {
        let outcome = match crate::auth::apply::apply(&self.txn, change, index) {
            Ok(outcome) => outcome,
            Err(ApplyError::Storage(e)) => {
                self.poisoned = Some(e.to_string());
                return Err(ApplyError::Storage(e));
            }
            Err(e) => return Err(e),
        };
        self.auth_state = None;
        self.auth_changed = true;
        let state = self.auth_state()?;
        if state.enabled {
            // Views of this batch's commit must check from the moment it
            // commits: raise the hint before.
            self.auth.set_maybe_enabled(true);
        }
        self.auth_events.extend(outcome.event);
        Ok(match change {
            Change::Authenticate(_) => ApplyResponse::Authenticated {
                revision: self.current,
                auth_revision: state.revision,
                token: outcome.token,
            },
            _ => ApplyResponse::Auth(self.current),
        })
    }

    /// Stores an opaque blob of an upper layer; committed with the batch.
    /// Keys starting with `mvcc/` are reserved.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StorageError::ReservedMetaKey(key.to_string()));
        }
        self.txn.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Removes an upper layer's blob; committed with the batch.
    pub fn delete_meta(&mut self, key: &str) -> Result<(), StorageError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StorageError::ReservedMetaKey(key.to_string()));
        }
        self.txn.open_table(META)?.remove(key)?;
        Ok(())
    }

    /// Removes every upper layer's blob (keys outside `mvcc/`), leaving only
    /// the replicated MVCC data: what a backup restored into a new cluster
    /// must start from. Committed with the batch.
    pub fn clear_upper_meta(&mut self) -> Result<(), StorageError> {
        let mut meta = self.txn.open_table(META)?;
        let keys: Vec<String> = meta
            .iter()?
            .map(|row| row.map(|(k, _)| k.value().to_string()))
            .collect::<Result<_, _>>()?;
        for key in keys.iter().filter(|k| !k.starts_with(RESERVED_META_PREFIX)) {
            meta.remove(key.as_str())?;
        }
        Ok(())
    }

    /// Reads a blob, including this batch's uncommitted `set_meta`.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let meta = self.txn.open_table(META)?;
        let value = meta.get(key)?.map(|v| v.value().to_vec());
        Ok(value)
    }

    /// Commits the batch and returns its events in revision order and its
    /// lease changes in apply order.
    ///
    /// `durable = false` commits with redb's `Durability::None`: visible to
    /// readers at once, but a crash rolls the file back to the last durable
    /// commit (with the applied index stored in meta by the raft layer, which
    /// then replays the log). Pages the last durable commit references are
    /// not reused before the next durable commit, so the file grows under a
    /// long run of non-durable commits: commit durably now and then (e.g.
    /// every N batches and before snapshots).
    pub fn commit(self, durable: bool) -> Result<Committed, StorageError> {
        let mut txn = self.txn;
        if let Some(reason) = self.poisoned {
            txn.abort()?;
            return Err(StorageError::Corrupt(format!(
                "apply batch not committed after a storage error: {reason}"
            )));
        }
        if (self.current, self.compacted) != self.initial {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_CURRENT_REVISION, &encode_i64(self.current)[..])?;
            meta.insert(META_COMPACTED_REVISION, &encode_i64(self.compacted)[..])?;
        }
        let auth_state = match self.auth_changed {
            true => Some(crate::auth::apply::state(&txn)?),
            false => None,
        };
        if durable {
            // Record the allocator state with every durable commit, so that
            // reopening after a crash (which rolls back to this commit) is
            // quick instead of a walk of the whole file.
            txn.set_quick_repair(true);
        } else {
            txn.set_durability(Durability::None)?;
        }
        let started = std::time::Instant::now();
        txn.commit()?;
        crate::metrics::COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        if let Some(state) = auth_state {
            self.auth.set_revision(state.revision);
            self.auth.set_maybe_enabled(state.enabled);
        }
        Ok(Committed {
            revision: self.current,
            events: self.events,
            lease_changes: self.lease_changes,
            auth_events: self.auth_events,
        })
    }
}

/// What a committed batch changed, for the layers that react to applied
/// state (watchers, the lessor).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    /// The store revision after the batch.
    pub revision: i64,
    /// Every event of the batch, in revision order, each with its `prev_kv`.
    /// A lease revoke's deletes are here like any other delete.
    pub events: Vec<Event>,
    /// Every lease grant, revoke and checkpoint of the batch, in apply order,
    /// so the in-memory lessor follows exactly what was applied.
    pub lease_changes: Vec<LeaseChange>,
    /// Every auth event of the batch, in apply order, for the tokens the
    /// server keeps.
    pub auth_events: Vec<AuthEvent>,
}

/// Permissions from the batch's own tables (its earlier changes included),
/// cached at the batch's auth revision.
struct BatchSource<'t> {
    txn: &'t WriteTransaction,
    cache: &'t AuthCache,
    revision: u64,
}

impl AuthSource for BatchSource<'_> {
    fn perms(&self, user: &str) -> Result<Option<Arc<UserPerms>>, StorageError> {
        self.cache.perms(self.revision, user, || {
            crate::auth::apply::user_perms(self.txn, user)
        })
    }

    fn lease_keys(&self, lease: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        let table = self.txn.open_table(crate::backend::LEASE_KEYS)?;
        crate::lease::keys(&table, lease)
    }
}

/// One applied change to the set of leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseChange {
    /// Lease `id` was granted with `ttl` seconds.
    Granted { id: i64, ttl: i64 },
    /// Lease `id` was revoked; its keys' deletes are in `Committed::events`.
    Revoked { id: i64 },
    /// Lease `id` (still granted) had `remaining_ttl` seconds left when its
    /// checkpoint was proposed.
    Checkpointed { id: i64, remaining_ttl: i64 },
}

/// A compaction request: checks, then the physical removal, within this
/// apply (see `mvcc::compaction` for why).
fn compact(
    tw: &mut TxnWrite<'_>,
    req: &CompactionRequest,
    compacted: i64,
    current: i64,
) -> Result<ApplyResponse, ApplyError> {
    compaction::check(req.revision, compacted, current)?;
    let tables = tw.tables_mut();
    compaction::compact(
        &mut tables.kv,
        &mut tables.key_index,
        compacted,
        req.revision,
        compaction::CHUNK,
    )?;
    // etcd reads its answer's revision with a range of its own (of the key
    // "compaction"), which its metrics count; so do ours.
    let header_read = crate::metrics::Tally::default();
    header_read.range();
    header_read.record();
    Ok(ApplyResponse::Compaction(CompactionResponse {
        header: ops::header(current),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, LEASE_KEYS};
    use crate::test_util::*;
    use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
    use etcd_proto::etcdserverpb::{AlarmRequest, AlarmType, PutRequest};
    use redb::ReadableDatabase;

    fn raft(req: Request) -> RaftRequest {
        RaftRequest {
            caller: None,
            id: 0,
            request: Some(req),
        }
    }

    #[test]
    fn a_batch_applies_requests_in_order_and_skips_refusals() {
        let s = Store::new();
        let reader_before = s.backend.read().unwrap();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.apply(&raft(Request::Put(put_req("a", "1")))).unwrap();
        let refused = batch.apply(&raft(Request::Put(PutRequest {
            lease: 3,
            ..put_req("b", "1")
        })));
        assert!(matches!(refused, Err(ApplyError::LeaseNotFound)));
        let r = batch.apply(&raft(Request::Put(put_req("a", "2")))).unwrap();
        assert_eq!(
            r,
            ApplyResponse::Put(PutResponse {
                header: ops::header(3),
                prev_kv: None
            })
        );
        assert_eq!(batch.current_revision(), 3);
        // Uncommitted: readers do not see it.
        assert_eq!(s.backend.read().unwrap().current_revision().unwrap(), 1);
        let events = batch.commit(false).unwrap().events;
        let revs: Vec<i64> = events
            .iter()
            .map(|e| e.kv.as_ref().unwrap().mod_revision)
            .collect();
        assert_eq!(revs, [2, 3]);
        assert_eq!(s.rev(), 3);
        assert_eq!(s.get("\0", "\0"), [("a".into(), "2".into())]);
        // An older snapshot stays as it was.
        assert_eq!(reader_before.current_revision().unwrap(), 1);
        assert!(reader_before
            .range(&range_req("a", ""))
            .unwrap()
            .kvs
            .is_empty());
    }

    fn alarm(action: AlarmAction, member_id: u64, alarm: AlarmType) -> RaftRequest {
        raft(Request::Alarm(AlarmRequest {
            action: action as i32,
            member_id,
            alarm: alarm as i32,
        }))
    }

    fn members(r: Result<ApplyResponse, ApplyError>) -> Vec<(u64, i32)> {
        match r.unwrap() {
            ApplyResponse::Alarm(a) => a.alarms.iter().map(|m| (m.member_id, m.alarm)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alarms_activate_deactivate_and_list() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        let nospace = AlarmType::Nospace as i32;
        let r = batch.apply(&alarm(AlarmAction::Activate, 9, AlarmType::Nospace));
        assert_eq!(members(r), [(9, nospace)]);
        // Again: answered with the active alarm, stored once.
        let r = batch.apply(&alarm(AlarmAction::Activate, 9, AlarmType::Nospace));
        assert_eq!(members(r), [(9, nospace)]);
        let r = batch.apply(&alarm(AlarmAction::Activate, 2, AlarmType::Corrupt));
        assert_eq!(members(r), [(2, AlarmType::Corrupt as i32)]);
        let r = batch.apply(&alarm(AlarmAction::Get, 0, AlarmType::Nospace));
        assert_eq!(members(r), [(9, nospace)]);
        batch.commit(false).unwrap();
        // Alarms change no revision.
        assert_eq!(s.rev(), 1);
        let view = s.backend.read().unwrap();
        let all: Vec<(u64, i32)> = view
            .alarms(AlarmType::None as i32)
            .unwrap()
            .iter()
            .map(|m| (m.member_id, m.alarm))
            .collect();
        assert_eq!(all, [(9, nospace), (2, AlarmType::Corrupt as i32)]);

        let mut batch = s.backend.begin_apply().unwrap();
        let r = batch.apply(&alarm(AlarmAction::Deactivate, 7, AlarmType::Nospace));
        assert_eq!(members(r), []);
        let r = batch.apply(&alarm(AlarmAction::Deactivate, 9, AlarmType::Nospace));
        assert_eq!(members(r), [(9, nospace)]);
        batch.commit(false).unwrap();
        let view = s.backend.read().unwrap();
        assert!(view.alarms(nospace).unwrap().is_empty());
    }

    #[test]
    fn nospace_refuses_growth_until_disarmed() {
        use etcd_proto::etcdserverpb::{DeleteRangeRequest, LeaseGrantRequest};
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.apply(&raft(Request::Put(put_req("a", "1")))).unwrap();
        batch
            .apply(&alarm(AlarmAction::Activate, 1, AlarmType::Nospace))
            .unwrap();
        let refused = batch.apply(&raft(Request::Put(put_req("b", "1"))));
        assert!(matches!(refused, Err(ApplyError::NoSpace)));
        // Refused before the lease check, as etcd's capped applier.
        let refused = batch.apply(&raft(Request::Put(PutRequest {
            lease: 77,
            ..put_req("b", "1")
        })));
        assert!(matches!(refused, Err(ApplyError::NoSpace)));
        let refused = batch.apply(&raft(Request::LeaseGrant(LeaseGrantRequest {
            id: 5,
            ttl: 10,
        })));
        assert!(matches!(refused, Err(ApplyError::NoSpace)));
        // Deletes pass.
        let del = batch.apply(&raft(Request::DeleteRange(DeleteRangeRequest {
            key: b"a".to_vec(),
            ..Default::default()
        })));
        assert!(del.is_ok());
        batch
            .apply(&alarm(AlarmAction::Deactivate, 1, AlarmType::Nospace))
            .unwrap();
        assert!(batch.apply(&raft(Request::Put(put_req("b", "1")))).is_ok());
        batch.commit(false).unwrap();
        assert_eq!(s.get("\0", "\0"), [("b".into(), "1".into())]);
    }

    #[test]
    fn unsupported_requests_are_refused_without_panic() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        let req = RaftRequest {
            caller: None,
            id: 0,
            request: None,
        };
        assert!(matches!(batch.apply(&req), Err(ApplyError::Unsupported(_))));
        let committed = batch.commit(true).unwrap();
        assert!(committed.events.is_empty());
        assert!(committed.lease_changes.is_empty());
        assert_eq!(s.rev(), 1);
    }

    #[test]
    fn dropping_a_batch_discards_it() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.apply(&raft(Request::Put(put_req("a", "1")))).unwrap();
        batch.set_meta("applied", b"7").unwrap();
        assert_eq!(batch.meta("applied").unwrap().as_deref(), Some(&b"7"[..]));
        drop(batch);
        let r = s.backend.read().unwrap();
        assert_eq!(r.current_revision().unwrap(), 1);
        assert_eq!(r.meta("applied").unwrap(), None);
    }

    #[test]
    fn meta_blobs_can_be_deleted_but_not_reserved_ones() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"7").unwrap();
        batch.commit(true).unwrap();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.delete_meta("raft/applied").unwrap();
        batch.delete_meta("never/set").unwrap();
        assert!(batch.delete_meta("mvcc/current_revision").is_err());
        batch.commit(true).unwrap();
        assert_eq!(
            s.backend.read().unwrap().meta("raft/applied").unwrap(),
            None
        );
        assert_eq!(s.rev(), 1);

        let mut batch = s.backend.begin_apply().unwrap();
        batch.apply(&raft(Request::Put(put_req("a", "1")))).unwrap();
        batch.set_meta("cluster/member_id", b"1").unwrap();
        batch.set_meta("raft/membership", b"m").unwrap();
        batch.commit(true).unwrap();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.clear_upper_meta().unwrap();
        batch.commit(true).unwrap();
        let r = s.backend.read().unwrap();
        assert_eq!(r.meta("cluster/member_id").unwrap(), None);
        assert_eq!(r.meta("raft/membership").unwrap(), None);
        assert_eq!(r.current_revision().unwrap(), 2);
    }

    #[test]
    fn durable_commits_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let b = Backend::open(&path).unwrap();
            let mut batch = b.begin_apply().unwrap();
            batch.apply(&raft(Request::Put(put_req("a", "1")))).unwrap();
            batch.apply(&raft(Request::Put(put_req("b", "1")))).unwrap();
            batch
                .apply(&raft(Request::Compaction(CompactionRequest {
                    revision: 2,
                    physical: false,
                })))
                .unwrap();
            batch.set_meta("applied", b"3").unwrap();
            batch.commit(true).unwrap();
        }
        let b = Backend::open(&path).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.current_revision().unwrap(), 3);
        assert_eq!(r.compacted_revision().unwrap(), 2);
        assert_eq!(r.meta("applied").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(r.range(&range_req("a", "\0")).unwrap().count, 2);
    }

    #[test]
    fn puts_and_deletes_maintain_lease_links() {
        let s = Store::new();
        s.grant(7, 10);
        s.grant(8, 10);
        let links = || -> Vec<(i64, String)> {
            let r = s.backend.db().begin_read().unwrap();
            let t = r.open_table(LEASE_KEYS).unwrap();
            t.iter()
                .unwrap()
                .map(|e| {
                    let (k, _) = e.unwrap();
                    let (l, key) = k.value();
                    (l, String::from_utf8(key.to_vec()).unwrap())
                })
                .collect()
        };
        let put_lease = |key: &str, lease: i64| {
            s.apply(Request::Put(PutRequest {
                lease,
                ..put_req(key, "v")
            }))
            .unwrap();
        };
        put_lease("a", 7);
        put_lease("b", 7);
        assert_eq!(s.get_kv("a").unwrap().lease, 7);
        assert_eq!(links(), [(7, "a".into()), (7, "b".into())]);
        put_lease("a", 8);
        assert_eq!(links(), [(7, "b".into()), (8, "a".into())]);
        // ignore_lease keeps the link.
        s.apply(Request::Put(PutRequest {
            ignore_lease: true,
            ..put_req("a", "w")
        }))
        .unwrap();
        assert_eq!(s.get_kv("a").unwrap().lease, 8);
        put_lease("b", 0);
        assert_eq!(links(), [(8, "a".into())]);
        s.delete("a", "");
        assert_eq!(links(), []);
    }
}
