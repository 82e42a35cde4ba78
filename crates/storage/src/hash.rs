//! Consistency hashes of a read view: Maintenance.HashKV and Maintenance.Hash.
//!
//! [`hash_kv`] reproduces etcd's `HashByRev` (mvcc/kvstore.go): a CRC-32C
//! over the bucket name `key`, then, in revision order, every change's
//! bucket key and value. etcd's bucket key is 17 bytes (big-endian main,
//! `_`, big-endian sub) plus `t` for a tombstone; its value is the marshaled
//! `mvccpb.KeyValue`. A put's value is exactly the prost encoding we store
//! (same fields, field-number order, zero fields omitted). A tombstone is
//! stored by etcd as a KeyValue holding only the key, while we keep its
//! `mod_revision` too, so its value is re-encoded here. Hence the same
//! history gives the same hash as etcd.
//!
//! Changes at or below the compacted revision follow etcd's rule too: once
//! any key is live at the hashed revision, such a change counts only if it
//! is its key's newest change at that revision and a put (etcd's
//! `kvindex.Keep`); when no key is live, every surviving change counts.
//!
//! [`hash_all`] (Maintenance.Hash) has no etcd equivalent we can match: etcd
//! hashes its bbolt buckets, whose layout we do not have. Ours is a CRC-32C
//! over every table of the view in a fixed order, excluding the meta blobs
//! of upper layers (raft log ids and membership differ between members at
//! the same revision), so members holding the same data agree.
//!
//! Not here: the gRPC responses and headers (the server's maintenance API).

use etcd_proto::mvccpb::KeyValue;
use prost::Message;
use redb::{Key, ReadTransaction, ReadableTable, TableDefinition, TableHandle, Value};

use crate::backend::{
    ALARMS, KEY_INDEX, KV, LATEST, LEASES, LEASE_KEYS, META, RESERVED_META_PREFIX,
};
use crate::error::{ApplyError, StorageError};
use crate::mvcc::key_index::{newest_at, PUT};
use crate::mvcc::revision::{max_key_at, Revision};
use crate::read::ReadTxn;

/// The result of [`hash_kv`], as HashKVResponse reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    /// CRC-32C (Castagnoli) of the history up to the hashed revision.
    pub hash: u32,
    /// The view's current revision (the response header's revision).
    pub current_revision: i64,
    /// The view's compacted revision (-1 if never compacted).
    pub compact_revision: i64,
}

/// etcd's `HashByRev(rev)` over `view`; `rev <= 0` hashes at the current
/// revision. Errors as etcd: `0 < rev <= compacted` →
/// [`ApplyError::Compacted`], `rev > current` → [`ApplyError::FutureRevision`].
pub fn hash_kv(view: &ReadTxn, rev: i64) -> Result<KvHash, ApplyError> {
    let current = view.current_revision()?;
    let compacted = view.compacted_revision()?;
    if rev > 0 && rev <= compacted {
        return Err(ApplyError::Compacted);
    }
    if rev > 0 && rev > current {
        return Err(ApplyError::FutureRevision);
    }
    let rev = if rev <= 0 { current } else { rev };
    let txn = view.redb();
    let kv = txn.open_table(KV).map_err(StorageError::from)?;
    let key_index = txn.open_table(KEY_INDEX).map_err(StorageError::from)?;
    let mut crc = Crc32c::new();
    crc.update(b"key");
    // etcd's "keep set is empty": computed only if a change at or below the
    // compacted revision is met.
    let mut any_live: Option<bool> = None;
    for row in kv.range(..=max_key_at(rev))? {
        let (k, v) = row?;
        let r = Revision::from_key(k.value())?;
        let stored = KeyValue::decode(v.value())
            .map_err(|e| StorageError::Corrupt(format!("kv record at {r:?}: {e}")))?;
        let tombstone = stored.create_revision == 0;
        if r.main <= compacted {
            let live = match any_live {
                Some(l) => l,
                None => {
                    let l = any_key_live(txn, rev)?;
                    any_live = Some(l);
                    l
                }
            };
            if live && newest_at(&key_index, &stored.key, rev)? != Some((r, PUT)) {
                continue;
            }
        }
        crc.update(&etcd_bucket_key(r, tombstone));
        if tombstone {
            let etcd_value = KeyValue {
                key: stored.key,
                ..Default::default()
            };
            crc.update(&etcd_value.encode_to_vec());
        } else {
            crc.update(v.value());
        }
    }
    Ok(KvHash {
        hash: crc.finish(),
        current_revision: current,
        compact_revision: compacted,
    })
}

/// Maintenance.Hash: a CRC-32C over all tables of `view` (see the module
/// doc); deterministic for the same data, not comparable with etcd's.
pub fn hash_all(view: &ReadTxn) -> Result<u32, StorageError> {
    let txn = view.redb();
    let mut crc = Crc32c::new();
    hash_table(txn, KV, &mut crc, |_| true)?;
    hash_table(txn, KEY_INDEX, &mut crc, |_| true)?;
    hash_table(txn, LATEST, &mut crc, |_| true)?;
    hash_table(txn, META, &mut crc, |k| k.starts_with(RESERVED_META_PREFIX))?;
    hash_table(txn, LEASES, &mut crc, |_| true)?;
    hash_table(txn, LEASE_KEYS, &mut crc, |_| true)?;
    hash_table(txn, ALARMS, &mut crc, |_| true)?;
    // etcd's Hash covers its auth buckets too.
    hash_table(txn, crate::auth::AUTH_USERS, &mut crc, |_| true)?;
    hash_table(txn, crate::auth::AUTH_ROLES, &mut crc, |_| true)?;
    hash_table(txn, crate::auth::AUTH_STATE, &mut crc, |_| true)?;
    Ok(crc.finish())
}

/// Whether any key is live at `rev` (etcd: a non-empty keep set). A key is
/// live when its newest change `<= rev` is a put.
fn any_key_live(txn: &ReadTransaction, rev: i64) -> Result<bool, StorageError> {
    let key_index = txn.open_table(KEY_INDEX)?;
    let mut next: Option<Vec<u8>> = Some(Vec::new());
    // One seek per distinct key: jump to the first entry after the key.
    while let Some(from) = next.take() {
        let first = match key_index.range((from.as_slice(), 0u64, 0u64)..)?.next() {
            None => return Ok(false),
            Some(row) => row?.0.value().0.to_vec(),
        };
        if let Some((_, PUT)) = newest_at(&key_index, &first, rev)? {
            return Ok(true);
        }
        let mut after = first;
        after.push(0);
        next = Some(after);
    }
    Ok(false)
}

/// etcd's bucket key of a change: main, `_`, sub, and `t` for a tombstone.
pub(crate) fn etcd_bucket_key(r: Revision, tombstone: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(&r.main.to_be_bytes());
    out.push(b'_');
    out.extend_from_slice(&r.sub.to_be_bytes());
    if tombstone {
        out.push(b't');
    }
    out
}

/// Feeds a table's name and its selected rows' raw key and value bytes.
fn hash_table<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    crc: &mut Crc32c,
    keep: impl Fn(&K::SelfType<'_>) -> bool,
) -> Result<(), StorageError> {
    let table = txn.open_table(def)?;
    crc.update(def.name().as_bytes());
    for row in table.iter()? {
        let (k, v) = row?;
        let key = k.value();
        if !keep(&key) {
            continue;
        }
        crc.update(K::as_bytes(&key).as_ref());
        crc.update(V::as_bytes(&v.value()).as_ref());
    }
    Ok(())
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Go's
/// `crc32.MakeTable(crc32.Castagnoli)`.
pub(crate) struct Crc32c(u32);

const CASTAGNOLI_TABLE: [u32; 256] = castagnoli_table();

const fn castagnoli_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

impl Crc32c {
    pub(crate) fn new() -> Crc32c {
        Crc32c(!0)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c = CASTAGNOLI_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    pub(crate) fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Store;

    /// etcd's hash of the given changes, written out independently.
    fn etcd_hash(changes: &[(i64, KeyValue, bool)]) -> u32 {
        let mut c = Crc32c::new();
        c.update(b"key");
        for (main, kv, tombstone) in changes {
            let mut k = main.to_be_bytes().to_vec();
            k.push(b'_');
            k.extend_from_slice(&0i64.to_be_bytes());
            if *tombstone {
                k.push(b't');
            }
            c.update(&k);
            c.update(&kv.encode_to_vec());
        }
        c.finish()
    }

    fn put_kv(key: &str, value: &str, create: i64, modr: i64, version: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: create,
            mod_revision: modr,
            version,
            lease: 0,
        }
    }

    fn tomb(key: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            ..Default::default()
        }
    }

    fn at(s: &Store, rev: i64) -> Result<KvHash, ApplyError> {
        hash_kv(&s.backend.read().unwrap(), rev)
    }

    #[test]
    fn hashes_etcds_bucket_records() {
        let s = Store::new();
        assert_eq!(at(&s, 0).unwrap().hash, etcd_hash(&[]));
        s.put("a", "1");
        s.put("a", "2");
        s.delete("a", "");
        let h = at(&s, 0).unwrap();
        assert_eq!(
            h.hash,
            etcd_hash(&[
                (2, put_kv("a", "1", 2, 2, 1), false),
                (3, put_kv("a", "2", 2, 3, 2), false),
                (4, tomb("a"), true),
            ])
        );
        assert_eq!((h.current_revision, h.compact_revision), (4, -1));
        assert_eq!(
            at(&s, 3).unwrap().hash,
            etcd_hash(&[
                (2, put_kv("a", "1", 2, 2, 1), false),
                (3, put_kv("a", "2", 2, 3, 2), false),
            ])
        );
    }

    #[test]
    fn compacted_changes_count_only_if_kept_at_the_revision() {
        let s = Store::new();
        s.put("a", "1"); // 2
        s.put("a", "2"); // 3
        s.put("b", "1"); // 4
        s.compact(3).unwrap();
        s.put("a", "3"); // 5
                         // a@3 survived compaction, but at 5 a's kept change is a@5.
        assert_eq!(
            at(&s, 5).unwrap().hash,
            etcd_hash(&[
                (4, put_kv("b", "1", 4, 4, 1), false),
                (5, put_kv("a", "3", 2, 5, 3), false),
            ])
        );
        // At 4, a@3 is still a's newest change: it counts.
        assert_eq!(
            at(&s, 4).unwrap().hash,
            etcd_hash(&[
                (3, put_kv("a", "2", 2, 3, 2), false),
                (4, put_kv("b", "1", 4, 4, 1), false),
            ])
        );
        // No key live at the revision: etcd's keep set is empty and every
        // surviving change counts.
        s.delete("a", "c"); // 6: tombstones a@6:0 and b@6:1
        let h = at(&s, 0).unwrap();
        assert_ne!(h.hash, etcd_hash(&[]));
        assert_eq!(h.compact_revision, 3);
    }

    #[test]
    fn compacted_and_future_revisions_fail() {
        let s = Store::new();
        s.put("a", "1");
        s.put("a", "2");
        assert!(matches!(at(&s, 4), Err(ApplyError::FutureRevision)));
        s.compact(2).unwrap();
        assert!(matches!(at(&s, 1), Err(ApplyError::Compacted)));
        assert!(matches!(at(&s, 2), Err(ApplyError::Compacted)));
        assert!(at(&s, 3).is_ok());
        assert!(at(&s, -5).is_ok());
    }

    #[test]
    fn hash_all_follows_the_data_only() {
        let s = Store::new();
        let empty = hash_all(&s.backend.read().unwrap()).unwrap();
        let mut batch = s.backend.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"7").unwrap();
        batch.commit(false).unwrap();
        assert_eq!(hash_all(&s.backend.read().unwrap()).unwrap(), empty);
        s.put("a", "1");
        assert_ne!(hash_all(&s.backend.read().unwrap()).unwrap(), empty);
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        let mut c = Crc32c::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xE306_9283);
    }

    #[test]
    fn bucket_key_matches_etcd_layout() {
        let k = etcd_bucket_key(Revision::new(2, 1), false);
        assert_eq!(k, [0, 0, 0, 0, 0, 0, 0, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(etcd_bucket_key(Revision::new(2, 1), true).len(), 18);
    }
}
