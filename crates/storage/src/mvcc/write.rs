//! The changes of one write request (etcd's `storeTxnWrite`).
//!
//! A [`TxnWrite`] lives for one request inside the batch's redb write
//! transaction. All its changes share main revision `begin_rev + 1` and get
//! sub revisions 0, 1, 2... in order. Each put or delete writes the `kv`
//! record, its `key_index` entry, the `latest` entry and the `lease_keys`
//! link, and records the watch event. The store revision moves to
//! `begin_rev + 1` only if the request changed something (the batch does that
//! with [`TxnWrite::into_events`]).
//!
//! Pre-checks (lease existence, ignore_value on a missing key) are not here:
//! the request layer runs them before the first change, so a refused request
//! writes nothing.

use etcd_proto::mvccpb::{event::EventType, Event, KeyValue};
use prost::Message;
use redb::{Table, WriteTransaction};

use super::key_index::{latest_rev, visit_latest, PUT, TOMBSTONE};
use super::key_range::KeyRange;
use super::read::{get_kv, range_keys};
use super::revision::Revision;
use super::{KvTxn, MvccTables, RangeOptions, RangeResult};
use crate::backend::{KEY_INDEX, KV, LATEST, LEASES, LEASE_KEYS};
use crate::error::{ApplyError, StorageError};
use crate::metrics::Tally;

/// The tables a write request touches, open in the batch's transaction.
pub(crate) struct WriteTables<'t> {
    pub kv: Table<'t, (u64, u64), &'static [u8]>,
    pub key_index: Table<'t, (&'static [u8], u64, u64), u8>,
    pub latest: Table<'t, &'static [u8], (u64, u64)>,
    pub leases: Table<'t, i64, &'static [u8]>,
    pub lease_keys: Table<'t, (i64, &'static [u8]), ()>,
}

impl<'t> WriteTables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<WriteTables<'t>, StorageError> {
        Ok(WriteTables {
            kv: txn.open_table(KV)?,
            key_index: txn.open_table(KEY_INDEX)?,
            latest: txn.open_table(LATEST)?,
            leases: txn.open_table(LEASES)?,
            lease_keys: txn.open_table(LEASE_KEYS)?,
        })
    }
}

impl<'t> MvccTables for WriteTables<'t> {
    type Kv = Table<'t, (u64, u64), &'static [u8]>;
    type KeyIndex = Table<'t, (&'static [u8], u64, u64), u8>;
    type Latest = Table<'t, &'static [u8], (u64, u64)>;
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

/// One write request's view and changes.
pub(crate) struct TxnWrite<'t> {
    /// Open tables of the batch's redb transaction.
    tables: WriteTables<'t>,
    /// The store revision before this request.
    begin_rev: i64,
    /// The compacted revision (for reads inside the request).
    compacted: i64,
    /// One event per change, in sub-revision order; its length is the next
    /// sub revision.
    events: Vec<Event>,
    /// The operations run, for etcd's `etcd_mvcc_*_total` when it ends.
    tally: Tally,
    /// Whether `tally` is added to the totals (not for a re-apply).
    counted: bool,
}

impl<'t> TxnWrite<'t> {
    pub fn new(tables: WriteTables<'t>, begin_rev: i64, compacted: i64) -> TxnWrite<'t> {
        TxnWrite {
            tables,
            begin_rev,
            compacted,
            events: Vec::new(),
            tally: Tally::default(),
            counted: true,
        }
    }

    /// Leaves this request out of the `etcd_mvcc_*_total` counts.
    pub fn uncounted(&mut self) {
        self.counted = false;
    }

    /// The tables, for work that is not a put or delete (compaction).
    pub fn tables_mut(&mut self) -> &mut WriteTables<'t> {
        &mut self.tables
    }

    /// Ends the request: its events (empty if nothing changed).
    pub fn into_events(mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The revision reads see: etcd reads at `begin_rev + 1` once the request
    /// has changed something, so later ops see earlier ones.
    fn read_rev(&self) -> i64 {
        if self.events.is_empty() {
            self.begin_rev
        } else {
            self.begin_rev + 1
        }
    }

    /// The position of the next change.
    fn next_revision(&self) -> Revision {
        Revision::new(self.begin_rev + 1, self.events.len() as i64)
    }

    fn live_kv(&self, key: &[u8]) -> Result<Option<KeyValue>, StorageError> {
        match latest_rev(&self.tables.latest, key)? {
            Some(r) => Ok(Some(get_kv(&self.tables.kv, r)?)),
            None => Ok(None),
        }
    }

    /// Writes a tombstone for `key`, whose live version is `prev`.
    fn delete(&mut self, prev: KeyValue) -> Result<(), StorageError> {
        let at = self.next_revision();
        let (main, sub) = at.to_key();
        let key = prev.key.as_slice();
        let tombstone = KeyValue {
            key: key.to_vec(),
            mod_revision: at.main,
            ..Default::default()
        };
        self.tables
            .kv
            .insert((main, sub), tombstone.encode_to_vec().as_slice())?;
        self.tables.key_index.insert((key, main, sub), TOMBSTONE)?;
        self.tables.latest.remove(key)?;
        if prev.lease != 0 {
            self.tables.lease_keys.remove((prev.lease, key))?;
        }
        self.events.push(Event {
            r#type: EventType::Delete as i32,
            kv: Some(tombstone),
            prev_kv: Some(prev),
        });
        Ok(())
    }
}

impl Drop for TxnWrite<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.tally.record();
        }
    }
}

impl KvTxn for TxnWrite<'_> {
    fn rev(&self) -> i64 {
        self.begin_rev
    }

    fn first_rev(&self) -> i64 {
        self.compacted
    }

    fn changed(&self) -> bool {
        !self.events.is_empty()
    }

    fn range(&self, range: &KeyRange<'_>, opts: &RangeOptions) -> Result<RangeResult, ApplyError> {
        self.tally.range();
        range_keys(&self.tables, range, self.read_rev(), self.compacted, opts)
    }

    fn lease_exists(&self, id: i64) -> Result<bool, StorageError> {
        use redb::ReadableTable;
        Ok(self.tables.leases.get(id)?.is_some())
    }

    /// etcd's `put`: a new key starts at version 1 with create_revision =
    /// this revision; an existing one keeps its create_revision and counts
    /// up its version. The key moves from its old lease to `lease`.
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<i64, ApplyError> {
        self.tally.puts += 1;
        let at = self.next_revision();
        let (main, sub) = at.to_key();
        let prev = self.live_kv(key)?;
        let (create_revision, version) = match &prev {
            Some(p) => (p.create_revision, p.version + 1),
            None => (at.main, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: at.main,
            version,
            value: value.to_vec(),
            lease,
        };
        self.tables
            .kv
            .insert((main, sub), kv.encode_to_vec().as_slice())?;
        self.tables.key_index.insert((key, main, sub), PUT)?;
        self.tables.latest.insert(key, (main, sub))?;
        if let Some(p) = &prev {
            if p.lease != 0 && p.lease != lease {
                self.tables.lease_keys.remove((p.lease, key))?;
            }
        }
        if lease != 0 {
            self.tables.lease_keys.insert((lease, key), ())?;
        }
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev,
        });
        Ok(at.main)
    }

    /// etcd's `DeleteRange`: tombstones every live key of the range. The
    /// reported revision is the new one if this request changed anything
    /// (now or in an earlier op), else the unchanged store revision.
    fn delete_range(&mut self, range: &KeyRange<'_>) -> Result<(i64, i64), ApplyError> {
        self.tally.deletes += 1;
        let mut live = Vec::new();
        visit_latest(&self.tables.latest, range, |_, r| {
            live.push(r);
            Ok(true)
        })?;
        let deleted = live.len() as i64;
        for r in live {
            let prev = get_kv(&self.tables.kv, r)?;
            self.delete(prev)?;
        }
        if deleted != 0 || self.changed() {
            Ok((deleted, self.begin_rev + 1))
        } else {
            Ok((0, self.begin_rev))
        }
    }
}
