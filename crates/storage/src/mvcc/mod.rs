//! etcd's multi-version key-value store (mvcc/ in etcd), on redb tables.
//!
//! Owns the MVCC rules: revisions and their encoding (`revision`), what a
//! key/range_end pair selects (`key_range`), finding the revision of a key at
//! a point in history (`key_index`), reading key-values at a revision
//! (`read`), a Range request's limit/filter/sort semantics (`range`), writing
//! puts and tombstones inside one request (`write`), compaction
//! (`compaction`) and reading the history back as watch events (`history`). It does not own the tables' definitions or the database
//! (`backend`), nor request dispatch, pre-checks and Txn branches (`apply`).
//!
//! Two implementations of [`KvTxn`] give the request layer one interface:
//! the read snapshot (`crate::read`) and the write of one request
//! ([`write::TxnWrite`]), as etcd's `TxnRead`/`TxnWrite` do.

pub(crate) mod compaction;
pub(crate) mod history;
pub(crate) mod key_index;
pub mod key_range;
pub(crate) mod range;
pub(crate) mod read;
pub mod revision;
pub(crate) mod write;

use etcd_proto::mvccpb::KeyValue;
use redb::ReadableTable;

use crate::error::{ApplyError, StorageError};
use key_range::KeyRange;

/// The three tables every MVCC read needs, as a read snapshot or inside the
/// write transaction (so reads of a write request see its earlier changes).
pub(crate) trait MvccTables {
    type Kv: ReadableTable<(u64, u64), &'static [u8]>;
    type KeyIndex: ReadableTable<(&'static [u8], u64, u64), u8>;
    type Latest: ReadableTable<&'static [u8], (u64, u64)>;
    fn kv(&self) -> &Self::Kv;
    fn key_index(&self) -> &Self::KeyIndex;
    fn latest(&self) -> &Self::Latest;
}

/// Options of an MVCC-level range (etcd's `RangeOptions`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RangeOptions {
    /// Fetch at most this many key-values; <= 0 means all.
    pub limit: i64,
    /// Read at this revision; <= 0 means the current one.
    pub rev: i64,
    /// Count only: return no key-values.
    pub count_only: bool,
}

/// Result of an MVCC-level range (etcd's `RangeResult`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RangeResult {
    /// The first `limit` live key-values in key order.
    pub kvs: Vec<KeyValue>,
    /// How many keys the range selects at the revision, whatever the limit.
    pub count: i64,
    /// The revision the reader is at (not the one read at).
    pub rev: i64,
}

/// One request's view of the store: etcd's `TxnRead` / `TxnWrite`.
pub(crate) trait KvTxn {
    /// etcd's `Rev()`: the store revision before this request's changes.
    fn rev(&self) -> i64;
    /// etcd's `FirstRev()`: the compacted revision (-1 if never compacted).
    fn first_rev(&self) -> i64;
    /// Whether this request has written anything yet.
    fn changed(&self) -> bool;
    /// Reads `range`; at the current revision this includes the request's
    /// own earlier changes.
    fn range(&self, range: &KeyRange<'_>, opts: &RangeOptions) -> Result<RangeResult, ApplyError>;
    /// Whether lease `id` exists.
    fn lease_exists(&self, id: i64) -> Result<bool, StorageError>;
    /// Puts `key`; returns the revision it is written at.
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<i64, ApplyError>;
    /// Deletes the live keys of `range`; returns (how many, the revision a
    /// response reports).
    fn delete_range(&mut self, range: &KeyRange<'_>) -> Result<(i64, i64), ApplyError>;
}
