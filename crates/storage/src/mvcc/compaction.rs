//! Compaction (etcd's mvcc/kvstore.go `Compact`, key_index.go `compact`,
//! kvstore_compaction.go).
//!
//! Compacting at revision `R` keeps, per key, the newest change `<= R` when
//! it is a put (the key's value as of `R`), and every change `> R`. Older
//! changes and a newest-but-tombstone change go, from `kv` and `key_index`.
//! `latest` is untouched: it only holds live keys, whose live revision is
//! always kept.
//!
//! The work is proportional to the history being compacted, not to the
//! store: a key with no change in `(previous compaction, R]` already holds
//! at most one change `<= R` (a put that survived the previous compaction),
//! which stays. So we scan `kv` over `(previous, R]` in chunks, collect the
//! keys changed there, and prune each key's `key_index` entries `<= R`.
//! Memory is bounded by the chunk size.
//!
//! Physical removal happens inside the apply of the compaction request (etcd
//! schedules it in the background and only `physical=true` waits for it):
//! here it commits atomically with the new compacted revision, so no
//! restart can find a half-done compaction to resume, and every member
//! holds the same bytes at the same applied index.

use std::collections::BTreeSet;

use etcd_proto::mvccpb::KeyValue;
use prost::Message;
use redb::{ReadableTable, Table};

use super::key_index::{newest_at, PUT};
use super::revision::max_key_at;
use crate::error::{ApplyError, StorageError};

/// etcd's defaultCompactBatchLimit: changes examined per chunk.
pub(crate) const CHUNK: usize = 1000;

/// etcd's `updateCompactRev` checks, in its order.
pub(crate) fn check(rev: i64, compacted: i64, current: i64) -> Result<(), ApplyError> {
    if rev <= compacted {
        return Err(ApplyError::Compacted);
    }
    if rev > current {
        return Err(ApplyError::FutureRevision);
    }
    Ok(())
}

/// Whether the newest change `<= R` of a key survives compaction at `R`.
pub(crate) fn keeps_newest(flag: u8) -> bool {
    flag == PUT
}

/// Removes the history compaction at `rev` frees, given the previous
/// compacted revision `prev`. `chunk` bounds the keys held in memory.
pub(crate) fn compact(
    kv: &mut Table<'_, (u64, u64), &'static [u8]>,
    key_index: &mut Table<'_, (&'static [u8], u64, u64), u8>,
    prev: i64,
    rev: i64,
    chunk: usize,
) -> Result<(), StorageError> {
    if rev < 1 {
        return Ok(());
    }
    let end = max_key_at(rev);
    let mut from = ((prev.max(0) + 1) as u64, 0u64);
    loop {
        let mut keys = BTreeSet::new();
        let mut seen = 0usize;
        let mut last = None;
        for row in kv.range(from..=end)? {
            let (k, v) = row?;
            keys.insert(KeyValue::decode(v.value())?.key);
            last = Some(k.value());
            seen += 1;
            if seen == chunk.max(1) {
                break;
            }
        }
        for key in &keys {
            compact_key(kv, key_index, key, rev)?;
        }
        match last {
            Some((main, sub)) if seen == chunk.max(1) => from = (main, sub.saturating_add(1)),
            _ => return Ok(()),
        }
    }
}

/// Prunes one key's changes `<= rev`, streaming (a hot key's long history is
/// never loaded at once).
fn compact_key(
    kv: &mut Table<'_, (u64, u64), &'static [u8]>,
    key_index: &mut Table<'_, (&'static [u8], u64, u64), u8>,
    key: &[u8],
    rev: i64,
) -> Result<(), StorageError> {
    let Some((newest, flag)) = newest_at(key_index, key, rev)? else {
        return Ok(());
    };
    let (main, sub) = newest.to_key();
    let lower = std::ops::Bound::Included((key, 0u64, 0u64));
    let upper = if keeps_newest(flag) {
        std::ops::Bound::Excluded((key, main, sub))
    } else {
        std::ops::Bound::Included((key, main, sub))
    };
    for row in key_index.extract_from_if((lower, upper), |_, _| true)? {
        let (k, _) = row?;
        let (_, m, s) = k.value();
        kv.remove((m, s))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_follows_etcd_order() {
        // Never compacted (-1): compacting at 0 is accepted, as in etcd.
        assert!(check(0, -1, 1).is_ok());
        assert!(matches!(check(-1, -1, 1), Err(ApplyError::Compacted)));
        assert!(matches!(check(5, 5, 9), Err(ApplyError::Compacted)));
        assert!(matches!(check(4, 5, 9), Err(ApplyError::Compacted)));
        assert!(matches!(check(10, 5, 9), Err(ApplyError::FutureRevision)));
        // Compacted wins over future when both apply (cannot happen: the
        // compacted revision never exceeds the current one).
        assert!(check(9, 5, 9).is_ok());
    }

    #[test]
    fn newest_put_survives_newest_tombstone_goes() {
        assert!(keeps_newest(PUT));
        assert!(!keeps_newest(super::super::key_index::TOMBSTONE));
    }

    use crate::backend::{KEY_INDEX, KV};
    use crate::mvcc::key_index::TOMBSTONE;
    use crate::mvcc::write::WriteTables;
    use crate::test_util::*;
    use crate::ApplyResponse;
    use etcd_proto::etcdserverpb::RangeRequest;
    use redb::ReadableDatabase;

    type Dump = (Vec<(u64, u64)>, Vec<(String, u64, u8)>);

    /// (main, sub) of every kv record, and (key, main, flag) of every index
    /// entry.
    fn dump(s: &Store) -> Dump {
        let r = s.backend.db().begin_read().unwrap();
        let kv = r.open_table(KV).unwrap();
        let kvs = kv.iter().unwrap().map(|e| e.unwrap().0.value()).collect();
        let ki = r.open_table(KEY_INDEX).unwrap();
        let idx = ki
            .iter()
            .unwrap()
            .map(|e| {
                let (k, f) = e.unwrap();
                let (key, m, _) = k.value();
                (String::from_utf8(key.to_vec()).unwrap(), m, f.value())
            })
            .collect();
        (kvs, idx)
    }

    fn at(s: &Store, rev: i64) -> Result<Vec<(String, String)>, ApplyError> {
        s.range(RangeRequest {
            revision: rev,
            ..range_req("\0", "\0")
        })
        .map(|r| pairs(&r.kvs))
    }

    #[test]
    fn keeps_the_newest_put_at_or_below_and_everything_above() {
        let s = Store::new();
        s.put("a", "1"); // 2
        s.put("a", "2"); // 3
        s.put("b", "1"); // 4
        s.delete("b", ""); // 5
        s.put("c", "1"); // 6
        s.put("a", "3"); // 7
        let views: Vec<_> = (5..=7).map(|r| at(&s, r).unwrap()).collect();

        let r = s.compact(5).unwrap();
        assert_eq!(
            r,
            ApplyResponse::Compaction(etcd_proto::etcdserverpb::CompactionResponse {
                header: crate::apply::ops::header(7)
            })
        );
        let (kvs, idx) = dump(&s);
        // a@3 kept (newest <= 5), b's put and tombstone gone, c@6, a@7 above.
        assert_eq!(kvs, [(3, 0), (6, 0), (7, 0)]);
        assert_eq!(
            idx,
            [
                ("a".into(), 3, PUT),
                ("a".into(), 7, PUT),
                ("c".into(), 6, PUT)
            ]
        );
        for (i, r) in (5..=7).enumerate() {
            assert_eq!(at(&s, r).unwrap(), views[i], "reads at {r} unchanged");
        }
        assert!(matches!(at(&s, 4), Err(ApplyError::Compacted)));
        assert!(matches!(at(&s, 1), Err(ApplyError::Compacted)));
        assert_eq!(at(&s, 0).unwrap(), views[2]);
        let read = s.backend.read().unwrap();
        assert_eq!(read.compacted_revision().unwrap(), 5);
        assert_eq!(read.current_revision().unwrap(), 7);
    }

    #[test]
    fn refusals() {
        let s = Store::new();
        s.put("a", "1");
        s.put("a", "2");
        assert!(matches!(s.compact(4), Err(ApplyError::FutureRevision)));
        s.compact(2).unwrap();
        assert!(matches!(s.compact(2), Err(ApplyError::Compacted)));
        assert!(matches!(s.compact(1), Err(ApplyError::Compacted)));
        assert_eq!(s.backend.read().unwrap().compacted_revision().unwrap(), 2);
        s.compact(3).unwrap();
    }

    #[test]
    fn compacting_a_trailing_tombstone_keeps_the_revision() {
        let s = Store::new();
        s.put("a", "1"); // 2
        s.delete("a", ""); // 3
        s.compact(3).unwrap();
        assert_eq!(dump(&s), (vec![], vec![]));
        assert_eq!(s.rev(), 3);
        assert_eq!(s.put("a", "again"), 4);
        let kv = s.get_kv("a").unwrap();
        assert_eq!((kv.create_revision, kv.version), (4, 1));
    }

    #[test]
    fn writes_after_compaction_continue_versions() {
        let s = Store::new();
        s.put("a", "1");
        s.put("a", "2");
        s.put("a", "3");
        s.compact(4).unwrap();
        s.put("a", "4");
        let kv = s.get_kv("a").unwrap();
        assert_eq!((kv.create_revision, kv.version, kv.mod_revision), (2, 4, 5));
        // A second compaction only prunes what changed since the first.
        s.compact(5).unwrap();
        assert_eq!(dump(&s).0, [(5, 0)]);
    }

    #[test]
    fn chunked_compaction_matches_one_pass() {
        let build = || {
            let s = Store::new();
            for i in 0..40 {
                let key = format!("k{}", i % 7);
                if i % 5 == 4 {
                    s.delete(&key, "");
                } else {
                    s.put(&key, &i.to_string());
                }
            }
            s
        };
        let whole = build();
        let rev = 30;
        let mut results = Vec::new();
        for chunk in [1, 2, 3, 1000] {
            let s = build();
            let txn = s.backend.db().begin_write().unwrap();
            {
                let mut t = WriteTables::open(&txn).unwrap();
                compact(&mut t.kv, &mut t.key_index, -1, rev, chunk).unwrap();
            }
            txn.commit().unwrap();
            results.push(dump(&s));
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        // And the same as the public path.
        whole.compact(rev).unwrap();
        assert_eq!(dump(&whole), results[0]);
        // Every key keeps at most one change <= rev, never a tombstone.
        let (_, idx) = &results[0];
        for key in 0..7 {
            let old: Vec<_> = idx
                .iter()
                .filter(|(k, m, _)| *k == format!("k{key}") && *m <= rev as u64)
                .collect();
            assert!(old.len() <= 1);
            assert!(old.iter().all(|(_, _, f)| *f != TOMBSTONE));
        }
    }
}
