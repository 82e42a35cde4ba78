//! Reading key-values at a revision: etcd's `rangeKeys` (mvcc/kvstore_txn.go).
//!
//! Decides the revision to read (future / compacted errors), walks the live
//! keys of the range (from `latest` at the current revision, from
//! `key_index` otherwise), counts them all and fetches the first `limit`
//! key-values from `kv`. The Range request's filters, sorting and `more`
//! are applied above this, in `range`.

use etcd_proto::mvccpb::KeyValue;
use prost::Message;
use redb::ReadableTable;

use super::key_index::{visit_at, visit_latest};
use super::key_range::KeyRange;
use super::revision::Revision;
use super::{MvccTables, RangeOptions, RangeResult};
use crate::error::{ApplyError, StorageError};

/// Reads `range` as etcd's `rangeKeys` does, for a reader at `cur_rev` in a
/// store compacted at `compacted`.
///
/// Errors, in etcd's order: `opts.rev > cur_rev` → future revision; then
/// `opts.rev <= 0` reads `cur_rev`; then a revision below `compacted` →
/// compacted (reading exactly at the compacted revision works).
pub(crate) fn range_keys<T: MvccTables>(
    t: &T,
    range: &KeyRange<'_>,
    cur_rev: i64,
    compacted: i64,
    opts: &RangeOptions,
) -> Result<RangeResult, ApplyError> {
    if opts.rev > cur_rev {
        return Err(ApplyError::FutureRevision);
    }
    let rev = if opts.rev <= 0 { cur_rev } else { opts.rev };
    if rev < compacted {
        return Err(ApplyError::Compacted);
    }
    let want = if opts.count_only {
        0
    } else if opts.limit <= 0 {
        usize::MAX
    } else {
        usize::try_from(opts.limit).unwrap_or(usize::MAX)
    };
    let mut count: i64 = 0;
    let mut revs: Vec<Revision> = Vec::new();
    let mut visit = |_: &[u8], r: Revision| {
        count += 1;
        if revs.len() < want {
            revs.push(r);
        }
        Ok(true)
    };
    if rev == cur_rev {
        visit_latest(t.latest(), range, &mut visit)?;
    } else {
        visit_at(t.key_index(), range, rev, &mut visit)?;
    }
    let mut kvs = Vec::with_capacity(revs.len());
    for r in revs {
        kvs.push(get_kv(t.kv(), r)?);
    }
    Ok(RangeResult {
        kvs,
        count,
        rev: cur_rev,
    })
}

/// The key-value written at `rev`; its absence breaks the schema.
pub(crate) fn get_kv(
    kv: &impl ReadableTable<(u64, u64), &'static [u8]>,
    rev: Revision,
) -> Result<KeyValue, StorageError> {
    match kv.get(rev.to_key())? {
        Some(v) => Ok(KeyValue::decode(v.value())?),
        None => Err(StorageError::Corrupt(format!(
            "indexed revision {}/{} missing from kv",
            rev.main, rev.sub
        ))),
    }
}
