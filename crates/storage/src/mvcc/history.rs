//! Reading the history back as watch events, for watchers that start in the
//! past or fell behind (etcd's watchable_store.go `syncWatchers` /
//! `kvsToEvents`, and the `prev_kv` lookup of v3rpc's watch.go).
//!
//! Every change is a `kv` row in revision order, so the events of a range
//! from a revision on are one ordered scan of `kv` from `(from, 0)`, keeping
//! the rows whose key the range selects; as in etcd, a watcher on one key
//! among many unrelated writes pays for scanning them. Only the key is
//! parsed out of a row that does not match, not its value. A single key
//! needs no scan: its `key_index` entries list exactly its changes, in
//! revision order. Results are bounded by a number of revisions, never
//! splitting one, like etcd's `watchBatchMaxRevs`.
//!
//! Compaction: history below the compacted revision is gone. Like etcd, a
//! start exactly at the compacted revision is allowed and yields what
//! compaction kept of that revision (its puts, not its deletes), and a
//! `prev_kv` that would have to be read below it is left out.
//!
//! Not here: which watchers want what, filters, fragmenting, progress
//! (the server's watch hub).

use etcd_proto::mvccpb::{event::EventType, Event, KeyValue};
use prost::Message;
use redb::ReadableTable;

use super::key_index::live_at;
use super::key_range::KeyRange;
use super::read::get_kv;
use super::revision::{max_key_at, Revision};
use super::MvccTables;
use crate::error::{ApplyError, StorageError};

/// The events of `range` with revision `>= from_rev` up to `current`, in
/// revision then sub-revision order, covering at most `max_revisions`
/// distinct revisions (0: none), each with `prev_kv` if asked.
///
/// `from_rev <= 1` reads from the beginning. Errors: a start below
/// `compacted` → [`ApplyError::Compacted`].
pub(crate) fn events<T: MvccTables>(
    t: &T,
    current: i64,
    compacted: i64,
    from_rev: i64,
    range: &KeyRange<'_>,
    prev_kv: bool,
    max_revisions: usize,
) -> Result<Vec<Event>, ApplyError> {
    // History starts at revision 1 (the empty store): an earlier start
    // means the same, and keeps the table bounds valid.
    let from = from_rev.max(1);
    // etcd cancels an unsynced watcher with `minRev < compactRev` only.
    if from < compacted {
        return Err(ApplyError::Compacted);
    }
    let mut out = Batch::new(max_revisions);
    if max_revisions == 0 || range.is_empty() || from > current {
        return Ok(out.events);
    }
    let start = Revision::new(from, 0).to_key();
    let end = max_key_at(current);
    match *range {
        KeyRange::Single(key) => {
            for row in t
                .key_index()
                .range((key, start.0, start.1)..=(key, end.0, end.1))?
            {
                let (k, _) = row?;
                let (_, main, sub) = k.value();
                let kv = get_kv(t.kv(), Revision::from_key((main, sub))?)?;
                if !out.push(kv) {
                    break;
                }
            }
        }
        KeyRange::From(_) | KeyRange::Between(..) => {
            for row in t.kv().range(start..=end)? {
                let (_, v) = row?;
                let bytes = v.value();
                if !range.contains(encoded_key(bytes)?) {
                    continue;
                }
                let kv = KeyValue::decode(bytes).map_err(StorageError::from)?;
                if !out.push(kv) {
                    break;
                }
            }
        }
    }
    let mut events = out.events;
    if prev_kv {
        for ev in &mut events {
            ev.prev_kv = previous(t, compacted, ev)?;
        }
    }
    Ok(events)
}

/// Events gathered so far, counting distinct revisions.
struct Batch {
    events: Vec<Event>,
    max_revisions: usize,
    revisions: usize,
}

impl Batch {
    fn new(max_revisions: usize) -> Batch {
        Batch {
            events: Vec::new(),
            max_revisions,
            revisions: 0,
        }
    }

    /// Adds the change `kv` (a put, or a tombstone: `create_revision == 0`,
    /// see `backend`) unless it opens one revision too many; false then.
    fn push(&mut self, kv: KeyValue) -> bool {
        let last = self.events.last().and_then(|e| e.kv.as_ref());
        if last.map(|l| l.mod_revision) != Some(kv.mod_revision) {
            if self.revisions == self.max_revisions {
                return false;
            }
            self.revisions += 1;
        }
        let kind = if kv.create_revision == 0 {
            EventType::Delete
        } else {
            EventType::Put
        };
        self.events.push(Event {
            r#type: kind as i32,
            kv: Some(kv),
            prev_kv: None,
        });
        true
    }
}

/// The key's live version just before the event (etcd reads the key at
/// `mod_revision - 1`): none for a creation, nor when that revision is
/// compacted away.
fn previous<T: MvccTables>(
    t: &T,
    compacted: i64,
    ev: &Event,
) -> Result<Option<KeyValue>, StorageError> {
    let Some(kv) = &ev.kv else {
        return Ok(None);
    };
    let at = kv.mod_revision - 1;
    if at < compacted {
        return Ok(None);
    }
    match live_at(t.key_index(), &kv.key, at)? {
        Some(r) => Ok(Some(get_kv(t.kv(), r)?)),
        None => Ok(None),
    }
}

/// The `key` field of an encoded `KeyValue`, without decoding (or copying)
/// its value. prost writes fields in number order, so `key` (field 1) comes
/// first; an absent field is the empty key, as protobuf defines.
pub(crate) fn encoded_key(mut buf: &[u8]) -> Result<&[u8], StorageError> {
    fn corrupt(what: &str) -> StorageError {
        StorageError::Corrupt(format!("undecodable key-value record: {what}"))
    }
    fn take<'a>(buf: &mut &'a [u8], len: u64) -> Result<&'a [u8], StorageError> {
        let len = usize::try_from(len).map_err(|_| corrupt("field length"))?;
        if len > buf.len() {
            return Err(corrupt("truncated field"));
        }
        let (head, rest) = buf.split_at(len);
        *buf = rest;
        Ok(head)
    }
    while !buf.is_empty() {
        let tag = prost::encoding::decode_varint(&mut buf)?;
        match (tag >> 3, tag & 7) {
            (1, 2) => {
                let len = prost::encoding::decode_varint(&mut buf)?;
                return take(&mut buf, len);
            }
            (_, 0) => {
                prost::encoding::decode_varint(&mut buf)?;
            }
            (_, 1) => {
                take(&mut buf, 8)?;
            }
            (_, 2) => {
                let len = prost::encoding::decode_varint(&mut buf)?;
                take(&mut buf, len)?;
            }
            (_, 5) => {
                take(&mut buf, 4)?;
            }
            _ => return Err(corrupt("wire type")),
        }
    }
    Ok(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use etcd_proto::etcdserverpb::TxnRequest;
    use etcd_proto::raftpb::raft_request::Request;

    /// (type, key, revision) of each event; `D` marks deletes.
    fn brief(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let kv = e.kv.as_ref().unwrap();
                let kind = if e.r#type == EventType::Delete as i32 {
                    "D"
                } else {
                    "P"
                };
                format!(
                    "{kind}{}@{}",
                    String::from_utf8_lossy(&kv.key),
                    kv.mod_revision
                )
            })
            .collect()
    }

    /// put a@2, put b@3, txn{put c, delete a}@4, put ab@5, delete [ab, c)@6
    /// (ab, b), put a@7.
    fn sample() -> Store {
        let s = Store::new();
        s.put("a", "a2");
        s.put("b", "b3");
        s.apply(Request::Txn(TxnRequest {
            compare: vec![],
            success: vec![op_put("c", "c4"), op_delete("a", "")],
            failure: vec![],
        }))
        .unwrap();
        s.put("ab", "ab5");
        s.delete("ab", "c");
        s.put("a", "a7");
        assert_eq!(s.rev(), 7);
        s
    }

    fn ev(s: &Store, from: i64, key: &str, end: &str, max: usize) -> Vec<String> {
        let r = s.backend.read().unwrap();
        brief(
            &r.events(from, key.as_bytes(), end.as_bytes(), false, max)
                .unwrap(),
        )
    }

    #[test]
    fn events_follow_revisions_and_ranges() {
        let s = sample();
        let all = [
            "Pa@2", "Pb@3", "Pc@4", "Da@4", "Pab@5", "Dab@6", "Db@6", "Pa@7",
        ];
        assert_eq!(ev(&s, 1, "\0", "\0", 100), all);
        assert_eq!(ev(&s, 0, "\0", "\0", 100), all);
        assert_eq!(ev(&s, -5, "\0", "\0", 100), all);
        assert_eq!(ev(&s, 4, "\0", "\0", 100), all[2..]);
        assert_eq!(ev(&s, 7, "\0", "\0", 100), ["Pa@7"]);
        assert!(ev(&s, 8, "\0", "\0", 100).is_empty());
        // Exactly a key; a prefix; from a key; a bounded range.
        assert_eq!(ev(&s, 1, "a", "", 100), ["Pa@2", "Da@4", "Pa@7"]);
        assert_eq!(
            ev(&s, 1, "a", "b", 100),
            ["Pa@2", "Da@4", "Pab@5", "Dab@6", "Pa@7"]
        );
        assert_eq!(ev(&s, 1, "b", "\0", 100), ["Pb@3", "Pc@4", "Db@6"]);
        assert_eq!(
            ev(&s, 1, "ab", "c", 100),
            ["Pb@3", "Pab@5", "Dab@6", "Db@6"]
        );
        assert_eq!(ev(&s, 5, "a", "", 100), ["Pa@7"]);
        assert!(ev(&s, 1, "zz", "", 100).is_empty());
        assert!(ev(&s, 1, "c", "a", 100).is_empty(), "inverted range");
        assert!(ev(&s, 1, "b", "b", 100).is_empty(), "empty range");
    }

    #[test]
    fn events_are_bounded_by_whole_revisions() {
        let s = sample();
        assert!(ev(&s, 1, "\0", "\0", 0).is_empty());
        assert_eq!(ev(&s, 1, "\0", "\0", 1), ["Pa@2"]);
        // Both events of revision 4 come together.
        assert_eq!(ev(&s, 3, "\0", "\0", 2), ["Pb@3", "Pc@4", "Da@4"]);
        assert_eq!(ev(&s, 4, "\0", "\0", 1), ["Pc@4", "Da@4"]);
        // Revisions count only when they hold a selected event.
        assert_eq!(ev(&s, 1, "a", "", 2), ["Pa@2", "Da@4"]);
        assert_eq!(ev(&s, 1, "b", "\0", 1), ["Pb@3"]);
        // Reading on from the last revision + 1 yields everything once.
        let mut from = 1;
        let mut got = Vec::new();
        loop {
            let r = s.backend.read().unwrap();
            let page = r.events(from, b"\0", b"\0", false, 2).unwrap();
            let Some(last) = page.last() else { break };
            from = last.kv.as_ref().unwrap().mod_revision + 1;
            got.extend(brief(&page));
        }
        assert_eq!(got, ev(&s, 1, "\0", "\0", usize::MAX));
    }

    #[test]
    fn prev_kv_is_the_version_before_each_event() {
        let s = sample();
        let r = s.backend.read().unwrap();
        let evs = r.events(1, b"\0", b"\0", true, 100).unwrap();
        let prev: Vec<Option<String>> = evs
            .iter()
            .map(|e| {
                e.prev_kv
                    .as_ref()
                    .map(|p| format!("{}@{}", String::from_utf8_lossy(&p.value), p.mod_revision))
            })
            .collect();
        let want: Vec<Option<&str>> = vec![
            None,          // a created
            None,          // b created
            None,          // c created
            Some("a2@2"),  // a deleted
            None,          // ab created
            Some("ab5@5"), // ab deleted
            Some("b3@3"),  // b deleted
            None,          // a recreated
        ];
        let want: Vec<Option<String>> = want.into_iter().map(|w| w.map(String::from)).collect();
        assert_eq!(prev, want);
        // Not asked: never filled.
        let plain = r.events(1, b"\0", b"\0", false, 100).unwrap();
        assert!(plain.iter().all(|e| e.prev_kv.is_none()));
        // Whole kvs, as they were written.
        assert_eq!(evs[0].kv, plain[0].kv);
        let kv = evs[7].kv.as_ref().unwrap();
        assert_eq!(
            (kv.create_revision, kv.version, kv.value.as_slice()),
            (7, 1, &b"a7"[..])
        );
        let p = s.put("a", "a8");
        let r = s.backend.read().unwrap();
        let e = r.events(p, b"a", b"", true, 1).unwrap();
        assert_eq!(e[0].prev_kv.as_ref().unwrap().value, b"a7");
        assert_eq!(e[0].kv.as_ref().unwrap().version, 2);
    }

    #[test]
    fn compacted_history_is_refused_below_the_compacted_revision() {
        let s = sample();
        s.compact(4).unwrap();
        let r = s.backend.read().unwrap();
        for from in [0, 1, 3] {
            assert!(matches!(
                r.events(from, b"\0", b"\0", false, 100),
                Err(ApplyError::Compacted)
            ));
        }
        // At the compacted revision: what compaction kept of it (the put of
        // c, not the delete of a), and no prev_kv read below it.
        let evs = r.events(4, b"\0", b"\0", true, 100).unwrap();
        assert_eq!(brief(&evs), ["Pc@4", "Pab@5", "Dab@6", "Db@6", "Pa@7"]);
        assert!(evs[0].prev_kv.is_none());
        // Above it, prev_kv reads the versions compaction kept (b@3).
        assert_eq!(evs[3].prev_kv.as_ref().unwrap().value, b"b3");
        assert_eq!(evs[2].prev_kv.as_ref().unwrap().value, b"ab5");
        assert_eq!(
            brief(&r.events(4, b"a", b"", false, 100).unwrap()),
            ["Pa@7"]
        );
    }

    #[test]
    fn a_single_key_reads_its_own_changes_like_a_scan_would() {
        let s = Store::new();
        let keys = ["a", "a\0", "b", "bb", "c"];
        for i in 0..60 {
            let k = keys[(i * 7) % keys.len()];
            if i % 5 == 4 {
                s.delete(k, "");
            } else {
                s.put(k, &format!("v{i}"));
            }
            if i == 30 {
                s.compact(20).unwrap();
            }
        }
        let r = s.backend.read().unwrap();
        for key in keys {
            let mut end = key.as_bytes().to_vec();
            end.push(0);
            for from in [20, 21, 35, 61, 62] {
                for max in [1, 3, 100] {
                    for prev in [false, true] {
                        let single = r.events(from, key.as_bytes(), b"", prev, max).unwrap();
                        let scanned = r.events(from, key.as_bytes(), &end, prev, max).unwrap();
                        assert_eq!(single, scanned, "{key} from {from} max {max}");
                    }
                }
            }
        }
        assert!(r.events(19, b"a", b"", false, 1).is_err());
    }

    #[test]
    fn a_view_reads_its_own_point_in_time() {
        let s = sample();
        let r = s.backend.read().unwrap();
        s.put("a", "later");
        assert_eq!(
            brief(&r.events(7, b"\0", b"\0", false, 100).unwrap()),
            ["Pa@7"]
        );
        assert!(r.events(8, b"\0", b"\0", false, 100).unwrap().is_empty());
    }

    #[test]
    fn key_is_read_without_decoding() {
        for kv in [
            KeyValue {
                key: b"k".to_vec(),
                create_revision: 2,
                mod_revision: 9,
                version: 3,
                value: vec![7; 300],
                lease: 5,
            },
            KeyValue {
                key: b"tomb".to_vec(),
                mod_revision: 4,
                ..Default::default()
            },
            KeyValue {
                key: vec![0xff; 200],
                ..Default::default()
            },
        ] {
            assert_eq!(encoded_key(&kv.encode_to_vec()).unwrap(), kv.key);
        }
        // Key not first, fields of every wire type before it.
        let odd = [0x10, 0x05, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x0d, 1, 2, 3, 4];
        let mut buf = odd.to_vec();
        buf.extend([0x2a, 1, b'x', 0x0a, 2, b'a', b'b']);
        assert_eq!(encoded_key(&buf).unwrap(), b"ab");
        assert_eq!(encoded_key(&[]).unwrap(), b"");
        assert_eq!(encoded_key(&[0x10, 0x05]).unwrap(), b"");
    }

    #[test]
    fn corrupt_records_are_errors() {
        assert!(encoded_key(&[0x0a, 5, b'a']).is_err(), "truncated");
        assert!(encoded_key(&[0x0b]).is_err(), "wire type 3");
        assert!(encoded_key(&[0x10]).is_err(), "truncated varint");
    }
}
