//! [`ReadTxn`]: a consistent snapshot of the store for serving reads (Range,
//! read-only Txn) and meta lookups, concurrently with the apply batch.
//!
//! It owns nothing but the redb read transaction and the revisions read at
//! its start; the read logic itself is in `mvcc` and `apply::txn`.

use etcd_proto::etcdserverpb::{RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::apply::{ops, txn};
use crate::backend::{
    read_meta_i64, KEY_INDEX, KV, LATEST, LEASES, META, META_COMPACTED_REVISION,
    META_CURRENT_REVISION,
};
use crate::error::{ApplyError, StorageError};
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
}

impl ReadTxn {
    /// The underlying redb snapshot (for whole-store copies).
    pub(crate) fn redb(&self) -> &ReadTransaction {
        &self.txn
    }

    pub(crate) fn new(txn: ReadTransaction) -> Result<ReadTxn, StorageError> {
        let meta = txn.open_table(META)?;
        let current = read_meta_i64(&meta, META_CURRENT_REVISION)?;
        let compacted = read_meta_i64(&meta, META_COMPACTED_REVISION)?;
        drop(meta);
        Ok(ReadTxn {
            txn,
            current,
            compacted,
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
