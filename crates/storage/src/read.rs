//! [`ReadTxn`]: a consistent snapshot of the store for serving reads (Range,
//! read-only Txn, history as watch events, leases) and meta lookups,
//! concurrently with the apply batch.
//!
//! It owns nothing but the redb read transaction and the revisions read at
//! its start; the read logic itself is in `mvcc`, `apply::txn` and `lease`.

use crate::metrics::Tally;
use etcd_proto::etcdserverpb::{AlarmMember, RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use etcd_proto::mvccpb::Event;
use std::sync::Arc;

use redb::{ReadOnlyTable, ReadTransaction};

use crate::apply::{alarm, ops, txn};
use crate::auth::cache::AuthCache;
use crate::backend::{
    read_meta_i64, ALARMS, KEY_INDEX, KV, LATEST, LEASES, LEASE_KEYS, META,
    META_COMPACTED_REVISION, META_CURRENT_REVISION,
};
use crate::error::{ApplyError, StorageError};
use crate::lease::{self, LeaseRecord};
use crate::mvcc::history;
use crate::mvcc::key_range::KeyRange;
use crate::mvcc::read::range_keys;
use crate::mvcc::{KvTxn, MvccTables, RangeOptions, RangeResult};

/// A point-in-time view of the whole database.
pub struct ReadTxn {
    /// redb's snapshot; keeps the pages of this view alive.
    txn: ReadTransaction,
    /// The store revision of the snapshot.
    current: i64,
    /// The compacted revision of the snapshot (-1 if never compacted).
    compacted: i64,
    /// The database `txn` reads, kept open while it does: a file replaced
    /// by `Backend::install` closes when its last view ends. Declared after
    /// `txn`, so dropped after it.
    /// (A `Database`, or a `ReadOnlyDatabase` for a file only looked at.)
    _db: Arc<dyn Send + Sync>,
    /// The backend's auth cache; `None` for a file only looked at.
    pub(crate) auth: Option<Arc<AuthCache>>,
}

impl ReadTxn {
    /// The underlying redb snapshot (for whole-store copies).
    pub(crate) fn redb(&self) -> &ReadTransaction {
        &self.txn
    }

    pub(crate) fn new(
        txn: ReadTransaction,
        db: Arc<dyn Send + Sync>,
        auth: Option<Arc<AuthCache>>,
    ) -> Result<ReadTxn, StorageError> {
        let meta = txn.open_table(META)?;
        let current = read_meta_i64(&meta, META_CURRENT_REVISION)?;
        let compacted = read_meta_i64(&meta, META_COMPACTED_REVISION)?;
        drop(meta);
        Ok(ReadTxn {
            txn,
            current,
            compacted,
            _db: db,
            auth,
        })
    }

    /// The store revision (1 for an empty store).
    pub fn current_revision(&self) -> Result<i64, StorageError> {
        Ok(self.current)
    }

    /// The revision of the last compaction, -1 if the store was never
    /// compacted (etcd's value, as HashKV reports it).
    pub fn compacted_revision(&self) -> Result<i64, StorageError> {
        Ok(self.compacted)
    }

    /// Serves a Range request (etcd's apply.go `Range`).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, ApplyError> {
        let view = self.view()?;
        ops::range(&view, req)
    }

    /// Serves a read-only Txn. The caller routes only transactions for which
    /// [`crate::is_read_only`] holds here; a write inside yields
    /// [`ApplyError::Unsupported`] without touching anything.
    pub fn txn(&self, req: &TxnRequest) -> Result<TxnResponse, ApplyError> {
        if !txn::is_read_only(req) {
            return Err(ApplyError::Unsupported(
                "a write in a read-only transaction",
            ));
        }
        let mut view = self.view()?;
        txn::execute(&mut view, req)
    }

    /// The events of the keys `key` / `range_end` select (etcd's range
    /// rules, see [`KeyRange::new`]) with revision `>= from_rev`, up to this
    /// view's current revision: in revision then sub-revision order,
    /// covering at most `max_revisions` distinct revisions (0 returns
    /// nothing) without ever splitting one. Each DELETE carries the key and
    /// the deleting revision as its `kv`, as etcd sends it. With `prev_kv`,
    /// each event carries the key's previous live version, read as etcd does
    /// at `mod_revision - 1`: none for a creation, nor when that revision is
    /// below the compacted revision.
    ///
    /// Reading on: when the result covers `max_revisions` revisions, more
    /// may follow from the last event's revision + 1; otherwise the view's
    /// history up to [`ReadTxn::current_revision`] has been read.
    ///
    /// `from_rev <= 1` reads from the beginning. A start below the compacted
    /// revision → [`ApplyError::Compacted`]; at exactly the compacted
    /// revision, as in etcd, the events compaction kept of it (its puts) are
    /// returned.
    ///
    /// Cost: a range scans `kv` from `from_rev` (every change since, parsing
    /// only the key of those outside the range); a single key walks its own
    /// changes only. Memory holds only the returned events.
    pub fn events(
        &self,
        from_rev: i64,
        key: &[u8],
        range_end: &[u8],
        prev_kv: bool,
        max_revisions: usize,
    ) -> Result<Vec<Event>, ApplyError> {
        let view = self.view()?;
        history::events(
            &view,
            self.current,
            self.compacted,
            from_rev,
            &KeyRange::new(key, range_end),
            prev_kv,
            max_revisions,
        )
    }

    /// Lease `id`, if granted.
    pub fn lease(&self, id: i64) -> Result<Option<LeaseRecord>, StorageError> {
        lease::get(&self.txn.open_table(LEASES)?, id)
    }

    /// Every granted lease, by id.
    pub fn leases(&self) -> Result<Vec<LeaseRecord>, StorageError> {
        lease::all(&self.txn.open_table(LEASES)?)
    }

    /// The keys attached to lease `id` (empty if it has none or does not
    /// exist), in key order.
    pub fn lease_keys(&self, id: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        lease::keys(&self.txn.open_table(LEASE_KEYS)?, id)
    }

    /// The active alarms of type `alarm` (an `AlarmType` value; `NONE` = every
    /// type), ordered by type then member id.
    pub fn alarms(&self, alarm: i32) -> Result<Vec<AlarmMember>, StorageError> {
        alarm::list(&self.txn.open_table(ALARMS)?, alarm)
    }

    /// An opaque blob stored by an upper layer with `ApplyBatch::set_meta`.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let meta = self.txn.open_table(META)?;
        Ok(meta.get(key)?.map(|v| v.value().to_vec()))
    }

    fn view(&self) -> Result<ReadView, StorageError> {
        Ok(ReadView {
            kv: self.txn.open_table(KV)?,
            key_index: self.txn.open_table(KEY_INDEX)?,
            latest: self.txn.open_table(LATEST)?,
            leases: self.txn.open_table(LEASES)?,
            current: self.current,
            compacted: self.compacted,
            tally: Tally::default(),
        })
    }
}

/// The snapshot's tables as a [`KvTxn`] that cannot write (etcd's
/// `txnReadWrite` around a read).
pub(crate) struct ReadView {
    kv: ReadOnlyTable<(u64, u64), &'static [u8]>,
    key_index: ReadOnlyTable<(&'static [u8], u64, u64), u8>,
    latest: ReadOnlyTable<&'static [u8], (u64, u64)>,
    leases: ReadOnlyTable<i64, &'static [u8]>,
    current: i64,
    compacted: i64,
    /// The ranges run, for etcd's `etcd_mvcc_*_total` when the view ends.
    tally: Tally,
}

impl Drop for ReadView {
    fn drop(&mut self) {
        self.tally.record();
    }
}

impl MvccTables for ReadView {
    type Kv = ReadOnlyTable<(u64, u64), &'static [u8]>;
    type KeyIndex = ReadOnlyTable<(&'static [u8], u64, u64), u8>;
    type Latest = ReadOnlyTable<&'static [u8], (u64, u64)>;
    fn kv(&self) -> &Self::Kv {
        &self.kv
    }
    fn key_index(&self) -> &Self::KeyIndex {
        &self.key_index
    }
    fn latest(&self) -> &Self::Latest {
        &self.latest
    }
}

impl KvTxn for ReadView {
    fn rev(&self) -> i64 {
        self.current
    }

    fn first_rev(&self) -> i64 {
        self.compacted
    }

    fn changed(&self) -> bool {
        false
    }

    fn range(&self, range: &KeyRange<'_>, opts: &RangeOptions) -> Result<RangeResult, ApplyError> {
        self.tally.range();
        range_keys(self, range, self.current, self.compacted, opts)
    }

    fn lease_exists(&self, id: i64) -> Result<bool, StorageError> {
        Ok(self.leases.get(id)?.is_some())
    }

    fn put(&mut self, _: &[u8], _: &[u8], _: i64) -> Result<i64, ApplyError> {
        Err(ApplyError::Unsupported("a put in a read-only transaction"))
    }

    fn delete_range(&mut self, _: &KeyRange<'_>) -> Result<(i64, i64), ApplyError> {
        Err(ApplyError::Unsupported(
            "a delete in a read-only transaction",
        ))
    }
}
