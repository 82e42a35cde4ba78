//! Our store as etcd's database, and etcd's database as our store: what
//! `etcdctl snapshot save` receives from etcd-rs (a bbolt file that etcd's
//! `snapshot status` and `snapshot restore` accept, and a real etcd then
//! serves), and what `etcdutl snapshot restore` makes of a snapshot etcd
//! saved.
//!
//! # etcd's buckets (3.4 and 3.5), as written here
//! | bucket | key | value |
//! |---|---|---|
//! | `alarm` | `etcdserverpb.AlarmMember`, protobuf | empty |
//! | `auth` | `authEnabled`, `authRevision` | `[1]`/`[0]`; u64 big-endian |
//! | `authRoles`, `authUsers` | name | `authpb.Role` / `authpb.User`, protobuf |
//! | `cluster` | `clusterVersion` | `3.5.0` |
//! | `key` | main (u64 BE) `_` sub (u64 BE), `t` appended for a tombstone | `mvccpb.KeyValue` (a tombstone's holds only the key) |
//! | `lease` | lease id (u64 BE) | `leasepb.Lease` |
//! | `members` | member id in hex | etcd's member JSON (`id`, `peerURLs`, `isLearner`, `name`, `clientURLs`) |
//! | `members_removed` | — (etcd-rs keeps no list of removed ids) | |
//! | `meta` | `consistent_index`, `term` (u64 BE); `scheduledCompactRev`, `finishedCompactRev` (a revision key) | |
//!
//! Our `kv` table is etcd's `key` bucket row for row, in the same order, so
//! both directions stream the history; the other buckets are small.
//! Importing rebuilds what etcd keeps in memory and we keep on disk (the
//! key index, the latest revision of each key, lease → key links).
//! Membership is not imported: a restore makes a new cluster from its
//! flags, as etcd's does.

use std::fs::File;
use std::io::BufWriter;

use etcd_proto::etcdserverpb::AlarmMember;
use etcd_proto::mvccpb::KeyValue;
use prost::Message;
use redb::ReadableTable;

use crate::auth::{AUTH_ROLES, AUTH_STATE, AUTH_USERS, ENABLED, REVISION};
use crate::backend::{
    ALARMS, KEY_INDEX, KV, LATEST, LEASES, LEASE_KEYS, META, META_COMPACTED_REVISION,
    META_CURRENT_REVISION,
};
use crate::bbolt::read::{BoltError, BoltFile};
use crate::bbolt::write::BoltWriter;
use crate::error::StorageError;
use crate::hash::etcd_bucket_key;
use crate::mvcc::key_index::{PUT, TOMBSTONE};
use crate::mvcc::revision::{encode_i64, Revision};
use crate::read::ReadTxn;
use crate::Backend;

/// The cluster version etcd's `cluster` bucket records.
const CLUSTER_VERSION: &str = "3.5.0";

/// A member as etcd's `members` bucket records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What a snapshot records besides the store, from the layers above it:
/// the Raft position the view corresponds to, and the members.
#[derive(Debug, Clone, Default)]
pub struct SnapshotContext {
    pub consistent_index: u64,
    pub term: u64,
    pub members: Vec<EtcdMember>,
}

/// Writes what `view` sees as an etcd database into `out`; the file's size.
/// Timed as etcd times its backend snapshots.
pub fn export(view: &ReadTxn, ctx: &SnapshotContext, out: File) -> Result<u64, StorageError> {
    let started = std::time::Instant::now();
    let txn = view.redb();
    let mut w = BoltWriter::new(BufWriter::with_capacity(1 << 20, out))?;

    let mut alarms = Vec::new();
    for row in txn.open_table(ALARMS)?.iter()? {
        let (k, _) = row?;
        let (alarm, member_id) = k.value();
        alarms.push((AlarmMember { member_id, alarm }.encode_to_vec(), Vec::new()));
    }
    alarms.sort();
    w.bucket(b"alarm", alarms)?;

    let state = txn.open_table(AUTH_STATE)?;
    let enabled = state.get(ENABLED)?.map(|v| v.value()).unwrap_or(0);
    let revision = state.get(REVISION)?.map(|v| v.value()).unwrap_or(0);
    w.bucket(
        b"auth",
        vec![
            (b"authEnabled".to_vec(), vec![u8::from(enabled != 0)]),
            (b"authRevision".to_vec(), revision.to_be_bytes().to_vec()),
        ],
    )?;
    for (bucket, table) in [
        (&b"authRoles"[..], AUTH_ROLES),
        (&b"authUsers"[..], AUTH_USERS),
    ] {
        let mut rows = Vec::new();
        for row in txn.open_table(table)?.iter()? {
            let (k, v) = row?;
            rows.push((k.value().as_bytes().to_vec(), v.value().to_vec()));
        }
        rows.sort();
        w.bucket(bucket, rows)?;
    }
    w.bucket(
        b"cluster",
        vec![(
            b"clusterVersion".to_vec(),
            CLUSTER_VERSION.as_bytes().to_vec(),
        )],
    )?;

    // The history streams: rows come in revision order, which is the
    // order of etcd's keys.
    let kv = txn.open_table(KV)?;
    let mut failure: Option<StorageError> = None;
    let rows = kv.iter()?.map_while(|row| {
        let converted = row.map_err(StorageError::from).and_then(|(k, v)| {
            let r = Revision::from_key(k.value())?;
            let stored = KeyValue::decode(v.value())
                .map_err(|e| StorageError::Corrupt(format!("kv record at {r:?}: {e}")))?;
            Ok(if stored.create_revision == 0 {
                let tombstone = KeyValue {
                    key: stored.key,
                    ..Default::default()
                };
                (etcd_bucket_key(r, true), tombstone.encode_to_vec())
            } else {
                (etcd_bucket_key(r, false), v.value().to_vec())
            })
        });
        match converted {
            Ok(entry) => Some(entry),
            Err(e) => {
                failure = Some(e);
                None
            }
        }
    });
    w.bucket(b"key", rows)?;
    if let Some(e) = failure {
        return Err(e);
    }

    let mut leases = Vec::new();
    for row in txn.open_table(LEASES)?.iter()? {
        let (k, v) = row?;
        leases.push((k.value().to_be_bytes().to_vec(), v.value().to_vec()));
    }
    leases.sort();
    w.bucket(b"lease", leases)?;

    let mut members: Vec<_> = ctx
        .members
        .iter()
        .map(|m| {
            (
                format!("{:x}", m.id).into_bytes(),
                member_json(m).into_bytes(),
            )
        })
        .collect();
    members.sort();
    w.bucket(b"members", members)?;
    w.bucket(b"members_removed", Vec::new())?;

    let mut meta = vec![
        (
            b"consistent_index".to_vec(),
            ctx.consistent_index.to_be_bytes().to_vec(),
        ),
        (b"term".to_vec(), ctx.term.to_be_bytes().to_vec()),
    ];
    let compacted = view.compacted_revision()?;
    if compacted > 0 {
        let at = etcd_bucket_key(Revision::new(compacted, 0), false);
        meta.push((b"finishedCompactRev".to_vec(), at.clone()));
        meta.push((b"scheduledCompactRev".to_vec(), at));
    }
    meta.sort();
    w.bucket(b"meta", meta)?;

    let (out, size) = w.finish()?;
    // Flushes the buffer; the file is the caller's (a scratch file streamed
    // to a client, so not synced).
    out.into_inner()
        .map_err(|e| StorageError::Io(e.into_error()))?;
    crate::metrics::SNAPSHOT_SECONDS.observe(started.elapsed().as_secs_f64());
    Ok(size)
}

/// etcd's JSON for a member (Go's field order; empty optional fields left
/// out, as `omitempty` does).
fn member_json(m: &EtcdMember) -> String {
    let strings = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let mut out = format!("{{\"id\":{},\"peerURLs\":{}", m.id, strings(&m.peer_urls));
    if m.is_learner {
        out.push_str(",\"isLearner\":true");
    }
    if !m.name.is_empty() {
        out.push_str(&format!(
            ",\"name\":{}",
            serde_json::to_string(&m.name).unwrap_or_default()
        ));
    }
    if !m.client_urls.is_empty() {
        out.push_str(&format!(",\"clientURLs\":{}", strings(&m.client_urls)));
    }
    out.push('}');
    out
}

/// What `etcdutl snapshot status` reports of an etcd database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// CRC-32C over every bucket's name, then its keys and values.
    pub hash: u32,
    /// The main revision of the newest row of the `key` bucket.
    pub revision: i64,
    /// Entries in all buckets.
    pub total_key: u64,
    /// The database's size (bbolt's `tx.Size()`).
    pub total_size: u64,
}

/// etcd's snapshot status of `bolt`, computed as etcd computes it.
pub fn status(bolt: &BoltFile) -> Result<SnapshotStatus, BoltError> {
    let mut crc = crate::hash::Crc32c::new();
    let mut out = SnapshotStatus {
        hash: 0,
        revision: 0,
        total_key: 0,
        total_size: bolt.size(),
    };
    for name in bolt.buckets()? {
        crc.update(&name);
        let is_key = name == b"key";
        bolt.for_each(&name, &mut |k, v| {
            crc.update(k);
            crc.update(v);
            if is_key && k.len() >= 8 {
                out.revision = i64::from_be_bytes(k[0..8].try_into().unwrap_or_default());
            }
            out.total_key += 1;
            Ok::<(), BoltError>(())
        })?;
    }
    out.hash = crc.finish();
    Ok(out)
}

/// What an import brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub current_revision: i64,
    pub compacted_revision: i64,
    /// Rows of the history (puts and tombstones).
    pub revisions: u64,
    pub leases: u64,
}

/// Why an etcd database could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Bolt(#[from] BoltError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("etcd database: {0}")]
    Malformed(String),
}

impl From<redb::Error> for ImportError {
    fn from(e: redb::Error) -> ImportError {
        ImportError::Storage(e.into())
    }
}

macro_rules! redb_into_import {
    ($($t:ty),*) => {$(
        impl From<$t> for ImportError {
            fn from(e: $t) -> ImportError {
                ImportError::Storage(e.into())
            }
        }
    )*};
}
redb_into_import!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Fills `backend` (a new, empty one no server has open) from an etcd
/// database: the history, leases, auth and alarms, in one write
/// transaction. The key index is held in memory while it is sorted (as etcd
/// holds its whole index in memory).
pub fn import(bolt: &BoltFile, backend: &Backend) -> Result<Imported, ImportError> {
    let db = backend.handle();
    let txn = db.begin_write()?;
    let mut imported = Imported {
        current_revision: 1,
        compacted_revision: -1,
        revisions: 0,
        leases: 0,
    };
    {
        // The history goes into `kv` in the order it comes (revision
        // order, sequential inserts); what the indexes need of each row is
        // kept aside, sorted by key, and inserted in key order: random-order
        // inserts into three B-trees were most of an import's time.
        let mut index: Vec<IndexRow> = Vec::new();
        {
            let mut kv = txn.open_table(KV)?;
            bolt.for_each(b"key", &mut |k, v| {
                let (r, tombstone) = parse_revision_key(k)?;
                let stored = KeyValue::decode(v)
                    .map_err(|e| ImportError::Malformed(format!("key bucket at {r:?}: {e}")))?;
                let at = (r.main as u64, r.sub as u64);
                if tombstone {
                    let row = KeyValue {
                        key: stored.key.clone(),
                        mod_revision: r.main,
                        ..Default::default()
                    };
                    kv.insert(at, row.encode_to_vec().as_slice())?;
                } else {
                    kv.insert(at, v)?;
                }
                index.push(IndexRow {
                    key: stored.key,
                    at,
                    tombstone,
                    lease: if tombstone { 0 } else { stored.lease },
                });
                imported.revisions += 1;
                imported.current_revision = imported.current_revision.max(r.main);
                Ok::<(), ImportError>(())
            })?;
        }
        index.sort_unstable_by(|a, b| (&a.key, a.at).cmp(&(&b.key, b.at)));
        let mut live_leases: Vec<(i64, &[u8])> = Vec::new();
        {
            let mut key_index = txn.open_table(KEY_INDEX)?;
            let mut latest = txn.open_table(LATEST)?;
            for (i, row) in index.iter().enumerate() {
                let mark = if row.tombstone { TOMBSTONE } else { PUT };
                key_index.insert((row.key.as_slice(), row.at.0, row.at.1), mark)?;
                // The newest row of each key says whether it is live.
                let newest = index.get(i + 1).is_none_or(|next| next.key != row.key);
                if newest && !row.tombstone {
                    latest.insert(row.key.as_slice(), row.at)?;
                    if row.lease != 0 {
                        live_leases.push((row.lease, row.key.as_slice()));
                    }
                }
            }
        }
        live_leases.sort_unstable();
        {
            let mut lease_keys = txn.open_table(LEASE_KEYS)?;
            for (lease, key) in live_leases {
                lease_keys.insert((lease, key), ())?;
            }
        }

        let mut leases = txn.open_table(LEASES)?;
        bolt.for_each(b"lease", &mut |k, v| {
            let id: [u8; 8] = k
                .try_into()
                .map_err(|_| ImportError::Malformed("lease bucket key of bad size".into()))?;
            leases.insert(i64::from_be_bytes(id), v)?;
            imported.leases += 1;
            Ok::<(), ImportError>(())
        })?;

        let mut state = txn.open_table(AUTH_STATE)?;
        bolt.for_each(b"auth", &mut |k, v| {
            match k {
                b"authEnabled" => {
                    state.insert(ENABLED, u64::from(v.first() == Some(&1)))?;
                }
                b"authRevision" if v.len() == 8 => {
                    state.insert(
                        REVISION,
                        u64::from_be_bytes(v.try_into().unwrap_or_default()),
                    )?;
                }
                _ => {}
            }
            Ok::<(), ImportError>(())
        })?;
        for (bucket, table) in [
            (&b"authRoles"[..], AUTH_ROLES),
            (&b"authUsers"[..], AUTH_USERS),
        ] {
            let mut t = txn.open_table(table)?;
            bolt.for_each(bucket, &mut |k, v| {
                let name = std::str::from_utf8(k)
                    .map_err(|_| ImportError::Malformed("auth name is not UTF-8".into()))?;
                t.insert(name, v)?;
                Ok::<(), ImportError>(())
            })?;
        }

        let mut alarms = txn.open_table(ALARMS)?;
        bolt.for_each(b"alarm", &mut |k, _| {
            let alarm = AlarmMember::decode(k)
                .map_err(|e| ImportError::Malformed(format!("alarm bucket: {e}")))?;
            alarms.insert((alarm.alarm, alarm.member_id), ())?;
            Ok::<(), ImportError>(())
        })?;

        let mut finished = None;
        bolt.for_each(b"meta", &mut |k, v| {
            if k == b"finishedCompactRev" {
                finished = Some(v.to_vec());
            }
            Ok::<(), ImportError>(())
        })?;
        if let Some(at) = finished {
            let (r, _) = parse_revision_key(&at)?;
            imported.compacted_revision = r.main;
        }
        // etcd's current revision after a compaction that removed the
        // newest changes' rows is the compaction point.
        imported.current_revision = imported.current_revision.max(imported.compacted_revision);
        let mut meta = txn.open_table(META)?;
        meta.insert(
            META_CURRENT_REVISION,
            encode_i64(imported.current_revision).as_slice(),
        )?;
        meta.insert(
            META_COMPACTED_REVISION,
            encode_i64(imported.compacted_revision).as_slice(),
        )?;
    }
    txn.commit()?;
    drop(db);
    Ok(imported)
}

/// What the indexes need of one history row.
struct IndexRow {
    key: Vec<u8>,
    at: (u64, u64),
    tombstone: bool,
    lease: i64,
}

/// etcd's `key` bucket key: 17 bytes (main, `_`, sub), or 18 with `t`.
fn parse_revision_key(k: &[u8]) -> Result<(Revision, bool), ImportError> {
    let tombstone = match k.len() {
        17 => false,
        18 if k[17] == b't' => true,
        _ => {
            return Err(ImportError::Malformed(format!(
                "revision key of {} bytes",
                k.len()
            )))
        }
    };
    if k[8] != b'_' {
        return Err(ImportError::Malformed("revision key without '_'".into()));
    }
    let main = i64::from_be_bytes(k[0..8].try_into().unwrap_or_default());
    let sub = i64::from_be_bytes(k[9..17].try_into().unwrap_or_default());
    if main < 0 || sub < 0 {
        return Err(ImportError::Malformed(format!(
            "negative revision {main}_{sub}"
        )));
    }
    Ok((Revision::new(main, sub), tombstone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_json_is_etcds() {
        let m = EtcdMember {
            id: 0x8e9e05c52164694d,
            name: "default".into(),
            peer_urls: vec!["http://localhost:2380".into()],
            client_urls: vec!["http://localhost:2379".into()],
            is_learner: false,
        };
        assert_eq!(
            member_json(&m),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}"#
        );
        let added = EtcdMember {
            name: String::new(),
            client_urls: vec![],
            is_learner: true,
            ..m
        };
        assert_eq!(
            member_json(&added),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"isLearner":true}"#
        );
    }

    #[test]
    fn revision_keys() {
        let k = etcd_bucket_key(Revision::new(5, 2), true);
        assert_eq!(parse_revision_key(&k).unwrap(), (Revision::new(5, 2), true));
        let k = etcd_bucket_key(Revision::new(300, 0), false);
        assert_eq!(
            parse_revision_key(&k).unwrap(),
            (Revision::new(300, 0), false)
        );
        assert!(parse_revision_key(b"short").is_err());
    }
}
