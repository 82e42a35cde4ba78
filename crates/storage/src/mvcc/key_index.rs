//! Finding which revision of a key is live at a revision, from the
//! `key_index` and `latest` tables (etcd's in-memory `treeIndex`, on disk).
//!
//! `key_index` holds, per key, each surviving change `(key, main, sub)` with a
//! put/tombstone flag. The live revision of `k` at `rev` is the newest entry
//! `<= rev` when it is a put; if it is a tombstone, or there is none, `k` did
//! not exist at `rev`. This is what etcd's generations encode: a tombstone
//! closes a generation, and a later put opens a new one.
//!
//! `latest` short-cuts the current revision: key -> live revision.
//!
//! This module only reads; `write` maintains both tables and `compaction`
//! prunes `key_index`.

use std::ops::Bound;

use redb::ReadableTable;

use super::key_range::KeyRange;
use super::revision::{max_key_at, Revision};
use crate::error::StorageError;

/// `key_index` flag of a put.
pub(crate) const PUT: u8 = 0;
/// `key_index` flag of a tombstone (delete).
pub(crate) const TOMBSTONE: u8 = 1;

/// The newest change of `key` with main revision <= `rev`, as (revision,
/// flag), if any.
pub(crate) fn newest_at(
    key_index: &impl ReadableTable<(&'static [u8], u64, u64), u8>,
    key: &[u8],
    rev: i64,
) -> Result<Option<(Revision, u8)>, StorageError> {
    let (max_main, max_sub) = max_key_at(rev);
    let mut it = key_index.range((key, 0u64, 0u64)..=(key, max_main, max_sub))?;
    match it.next_back() {
        None => Ok(None),
        Some(row) => {
            let (k, flag) = row?;
            let (_, main, sub) = k.value();
            Ok(Some((Revision::from_key((main, sub))?, flag.value())))
        }
    }
}

/// The live revision of `key` at `rev`, if the key existed then.
pub(crate) fn live_at(
    key_index: &impl ReadableTable<(&'static [u8], u64, u64), u8>,
    key: &[u8],
    rev: i64,
) -> Result<Option<Revision>, StorageError> {
    Ok(match newest_at(key_index, key, rev)? {
        Some((r, PUT)) => Some(r),
        _ => None,
    })
}

/// Calls `f(key, revision)` for every key of `range` live at `rev`, in key
/// order, until `f` returns `false`. Costs two seeks per key that ever
/// existed in the range (and survived compaction), however long its history.
pub(crate) fn visit_at(
    key_index: &impl ReadableTable<(&'static [u8], u64, u64), u8>,
    range: &KeyRange<'_>,
    rev: i64,
    mut f: impl FnMut(&[u8], Revision) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    if range.is_empty() {
        return Ok(());
    }
    if let KeyRange::Single(key) = *range {
        if let Some(r) = live_at(key_index, key, rev)? {
            f(key, r)?;
        }
        return Ok(());
    }
    let rev_key = max_key_at(rev);
    let end = range.end();
    // The key visited last; the next one is the first entry after all of its
    // entries.
    let mut after: Option<Vec<u8>> = None;
    loop {
        let lower = match &after {
            None => Bound::Included((range.start(), 0u64, 0u64)),
            Some(k) => Bound::Excluded((k.as_slice(), u64::MAX, u64::MAX)),
        };
        let upper = match end {
            Some(e) => Bound::Excluded((e, 0u64, 0u64)),
            None => Bound::Unbounded,
        };
        let (key, oldest_main) = {
            let mut it = key_index.range((lower, upper))?;
            match it.next() {
                None => return Ok(()),
                Some(row) => {
                    let (k, _) = row?;
                    let (key, main, _) = k.value();
                    (key.to_vec(), main)
                }
            }
        };
        // The oldest surviving entry is already newer than `rev`: the key did
        // not exist then, no need to look for its newest entry.
        if oldest_main <= rev_key.0 {
            if let Some(r) = live_at(key_index, &key, rev)? {
                if !f(&key, r)? {
                    return Ok(());
                }
            }
        }
        after = Some(key);
    }
}

/// Calls `f(key, revision)` for every key of `range` live now, in key order,
/// until `f` returns `false`: one ordered scan of `latest`.
pub(crate) fn visit_latest(
    latest: &impl ReadableTable<&'static [u8], (u64, u64)>,
    range: &KeyRange<'_>,
    mut f: impl FnMut(&[u8], Revision) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    if range.is_empty() {
        return Ok(());
    }
    let iter = match *range {
        KeyRange::Single(key) => {
            if let Some(v) = latest.get(key)? {
                f(key, Revision::from_key(v.value())?)?;
            }
            return Ok(());
        }
        KeyRange::From(start) => latest.range::<&[u8]>(start..)?,
        KeyRange::Between(start, end) => latest.range::<&[u8]>(start..end)?,
    };
    for row in iter {
        let (k, v) = row?;
        if !f(k.value(), Revision::from_key(v.value())?)? {
            break;
        }
    }
    Ok(())
}

/// The live revision of `key` now.
pub(crate) fn latest_rev(
    latest: &impl ReadableTable<&'static [u8], (u64, u64)>,
    key: &[u8],
) -> Result<Option<Revision>, StorageError> {
    match latest.get(key)? {
        Some(v) => Ok(Some(Revision::from_key(v.value())?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{KEY_INDEX, LATEST};
    use redb::{Database, ReadableDatabase};

    /// A throwaway database holding the given index entries.
    fn index_db(
        entries: &[(&[u8], i64, i64, u8)],
        latest: &[(&[u8], i64, i64)],
    ) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db")).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut ki = w.open_table(KEY_INDEX).unwrap();
            for &(k, m, s, f) in entries {
                ki.insert((k, m as u64, s as u64), f).unwrap();
            }
            let mut la = w.open_table(LATEST).unwrap();
            for &(k, m, s) in latest {
                la.insert(k, (m as u64, s as u64)).unwrap();
            }
        }
        w.commit().unwrap();
        (dir, db)
    }

    fn collect_at(db: &Database, range: KeyRange<'_>, rev: i64) -> Vec<(Vec<u8>, i64)> {
        let r = db.begin_read().unwrap();
        let ki = r.open_table(KEY_INDEX).unwrap();
        let mut out = Vec::new();
        visit_at(&ki, &range, rev, |k, rv| {
            out.push((k.to_vec(), rv.main));
            Ok(true)
        })
        .unwrap();
        out
    }

    // History: "a" put@2, put@3, deleted@4, recreated@6; "b" put@5 (sub 1);
    // "ab" put@7.
    fn sample() -> (tempfile::TempDir, Database) {
        index_db(
            &[
                (b"a", 2, 0, PUT),
                (b"a", 3, 0, PUT),
                (b"a", 4, 0, TOMBSTONE),
                (b"a", 6, 0, PUT),
                (b"ab", 7, 0, PUT),
                (b"b", 5, 1, PUT),
            ],
            &[(b"a", 6, 0), (b"ab", 7, 0), (b"b", 5, 1)],
        )
    }

    #[test]
    fn live_revision_follows_generations() {
        let (_d, db) = sample();
        let r = db.begin_read().unwrap();
        let ki = r.open_table(KEY_INDEX).unwrap();
        let at = |rev| live_at(&ki, b"a", rev).unwrap().map(|r| r.main);
        assert_eq!(at(1), None);
        assert_eq!(at(2), Some(2));
        assert_eq!(at(3), Some(3));
        assert_eq!(at(4), None, "deleted at 4");
        assert_eq!(at(5), None);
        assert_eq!(at(6), Some(6), "recreated");
        assert_eq!(at(100), Some(6));
        assert_eq!(live_at(&ki, b"zz", 100).unwrap(), None);
        assert_eq!(
            newest_at(&ki, b"a", 5).unwrap(),
            Some((Revision::new(4, 0), TOMBSTONE))
        );
    }

    #[test]
    fn historical_scan() {
        let (_d, db) = sample();
        let all = KeyRange::From(b"\0");
        assert_eq!(collect_at(&db, all, 3), vec![(b"a".to_vec(), 3)]);
        assert_eq!(collect_at(&db, all, 5), vec![(b"b".to_vec(), 5)]);
        assert_eq!(
            collect_at(&db, all, 7),
            vec![(b"a".to_vec(), 6), (b"ab".to_vec(), 7), (b"b".to_vec(), 5)]
        );
        // Bounded: "a" only up to (not incl.) "ab".
        assert_eq!(
            collect_at(&db, KeyRange::Between(b"a", b"ab"), 7),
            vec![(b"a".to_vec(), 6)]
        );
        assert_eq!(
            collect_at(&db, KeyRange::Between(b"a", b"b"), 7),
            vec![(b"a".to_vec(), 6), (b"ab".to_vec(), 7)]
        );
        assert_eq!(collect_at(&db, KeyRange::Single(b"ab"), 6), vec![]);
        assert_eq!(
            collect_at(&db, KeyRange::Single(b"ab"), 7),
            vec![(b"ab".to_vec(), 7)]
        );
        assert_eq!(collect_at(&db, KeyRange::Between(b"b", b"a"), 7), vec![]);
    }

    #[test]
    fn scans_stop_when_asked() {
        let (_d, db) = sample();
        let r = db.begin_read().unwrap();
        let ki = r.open_table(KEY_INDEX).unwrap();
        let mut n = 0;
        visit_at(&ki, &KeyRange::From(b"\0"), 7, |_, _| {
            n += 1;
            Ok(false)
        })
        .unwrap();
        assert_eq!(n, 1);
        let la = r.open_table(LATEST).unwrap();
        let mut n = 0;
        visit_latest(&la, &KeyRange::From(b"\0"), |_, _| {
            n += 1;
            Ok(n < 2)
        })
        .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn latest_scan() {
        let (_d, db) = sample();
        let r = db.begin_read().unwrap();
        let la = r.open_table(LATEST).unwrap();
        let scan = |range: KeyRange<'_>| {
            let mut out = Vec::new();
            visit_latest(&la, &range, |k, rv| {
                out.push((k.to_vec(), rv));
                Ok(true)
            })
            .unwrap();
            out
        };
        assert_eq!(
            scan(KeyRange::From(b"ab")),
            vec![
                (b"ab".to_vec(), Revision::new(7, 0)),
                (b"b".to_vec(), Revision::new(5, 1))
            ]
        );
        assert_eq!(scan(KeyRange::Single(b"a")).len(), 1);
        assert_eq!(scan(KeyRange::Single(b"c")).len(), 0);
        assert_eq!(scan(KeyRange::Between(b"a", b"b")).len(), 2);
        assert_eq!(scan(KeyRange::Between(b"c", b"a")).len(), 0);
        assert_eq!(latest_rev(&la, b"b").unwrap(), Some(Revision::new(5, 1)));
    }
}
