//! The redb database behind the state machine: its tables, the meta table,
//! size queries, point-in-time snapshot copies and defragmentation.
//!
//! This module owns the schema and the database handle. It does not know
//! MVCC rules (see `mvcc`) nor how requests are executed (see `apply`).
//!
//! # Schema
//!
//! ```text
//! kv          (main u64, sub u64)          -> prost mvccpb::KeyValue
//! key_index   (key bytes, main u64, sub u64) -> u8: 0 = put, 1 = tombstone
//! latest      key bytes                    -> (main u64, sub u64)
//! meta        &str                         -> bytes
//! leases      lease id i64                 -> protobuf leasepb.Lease (see `lease`)
//! lease_keys  (lease id i64, key bytes)    -> ()
//! ```
//!
//! - `kv` is etcd's `key` bucket: every change in revision order, for
//!   historical reads and watch replay. A tombstone is stored as a KeyValue
//!   with `create_revision == 0` (a put always has `create_revision >= 2`),
//!   carrying its key and `mod_revision` = the deleting revision; that is
//!   exactly the `kv` of the DELETE watch event, and the same test etcd's
//!   watchable store uses. A separate marker byte would say nothing more.
//! - `key_index` replaces etcd's in-memory btree of key generations: per key,
//!   every surviving revision in order, with a put/tombstone flag. "Live
//!   revision of `k` at `rev`" is the newest entry `<= rev` if it is a put.
//!   Being on disk, memory does not grow with history or key count.
//! - `latest` holds the live revision of every existing key (absent once
//!   deleted), so reads at the current revision, which are nearly all reads,
//!   are one ordered scan instead of a seek per key in `key_index`.
//! - `meta` holds `mvcc/current_revision` and `mvcc/compacted_revision`
//!   (big-endian i64; the compacted revision is -1 until the first
//!   compaction, as in etcd), `mvcc/schema_version`, and opaque blobs of
//!   upper layers (raft applied log id, membership, ids) under any key not
//!   starting with `mvcc/`.
//! - `leases` holds one record per granted lease (format in `crate::lease`),
//!   written by lease grant / checkpoint / revoke; a put naming a lease
//!   absent here is refused. `lease_keys` is maintained by every put and delete so that a
//!   lease revoke can find its keys without a scan.
//!
//! Every table is written only inside one redb write transaction per apply
//! batch, so a crash leaves all tables, the revisions and the raft applied
//! index (a meta blob) from the same last commit.
//!
//! # Defragmentation
//!
//! redb frees pages for reuse but never returns them to the file system
//! except through `Database::compact(&mut self)`, which refuses to run while
//! any read or write transaction (or savepoint) is alive. The handle
//! therefore sits in a `RwLock`: beginning a transaction takes the shared
//! lock only for the call (redb transactions do not borrow the `Database`),
//! and [`Backend::defragment`] takes it exclusively, so no new transaction
//! begins, then waits a bounded time for those in flight to end.
//!
//! # Installing a snapshot
//!
//! [`Backend::install`] swaps in a whole other database file (a member's
//! snapshot received through Raft) under the same exclusive lock, keeping
//! this member's own meta keys. The handle sits in an `Arc` that every
//! [`ReadTxn`] clones, so the replaced database (its file already unlinked)
//! stays open exactly as long as views still read it, and closes when the
//! last one ends. Write transactions pass through a one-writer gate
//! (`write_gate`) so that install can wait, with a deadline, until none is
//! open on the file it replaces.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::{Duration, Instant};

use redb::{
    Database, Key, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, Value, WriteTransaction,
};

use crate::apply::ApplyBatch;
use crate::auth::cache::AuthCache;
use crate::error::StorageError;
use crate::mvcc::revision::{decode_i64, encode_i64};
use crate::read::ReadTxn;

pub(crate) mod write_gate;

use write_gate::WriteGate;

pub(crate) const KV: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("kv");
pub(crate) const KEY_INDEX: TableDefinition<(&[u8], u64, u64), u8> =
    TableDefinition::new("key_index");
pub(crate) const LATEST: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("latest");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const LEASES: TableDefinition<i64, &[u8]> = TableDefinition::new("leases");
pub(crate) const LEASE_KEYS: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("lease_keys");
/// Active alarms: (alarm type, member id) -> (); see `apply::alarm`.
pub(crate) const ALARMS: TableDefinition<(i32, u64), ()> = TableDefinition::new("alarms");

/// Meta keys starting with this belong to this crate; `set_meta` refuses them.
pub(crate) const RESERVED_META_PREFIX: &str = "mvcc/";
pub(crate) const META_CURRENT_REVISION: &str = "mvcc/current_revision";
pub(crate) const META_COMPACTED_REVISION: &str = "mvcc/compacted_revision";
const META_SCHEMA_VERSION: &str = "mvcc/schema_version";
const SCHEMA_VERSION: i64 = 1;

/// The revision of an empty store (etcd: the first write gets revision 2).
pub(crate) const INITIAL_REVISION: i64 = 1;
/// etcd's compacted revision before any compaction.
pub(crate) const NEVER_COMPACTED: i64 = -1;

/// The state machine's database file. `Send + Sync`: readers take snapshots
/// concurrently with the (single) apply batch.
pub struct Backend {
    /// The redb database. Shared to begin transactions, exclusive to
    /// defragment or install (see the module doc). Views clone the `Arc`.
    db: RwLock<Arc<Database>>,
    /// Admits the one write transaction (see `write_gate`).
    writer: WriteGate,
    /// Where the file lives, for [`Backend::size`].
    path: PathBuf,
    /// Cached Status.dbSizeInUse (see [`Backend::refresh_size_in_use`]).
    size_in_use: AtomicU64,
    /// What permission checks keep between requests; shared with views
    /// and batches.
    auth: Arc<AuthCache>,
}

impl Backend {
    /// Opens the database at `path`, creating the file, its parent
    /// directory and the tables when missing.
    pub fn open(path: &Path) -> Result<Backend, StorageError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        let db = create_database(path)?;
        let txn = db.begin_write()?;
        init_tables(&txn)?;
        txn.commit()?;
        let backend = Backend {
            db: RwLock::new(Arc::new(db)),
            writer: WriteGate::default(),
            path: path.to_path_buf(),
            size_in_use: AtomicU64::new(0),
            auth: Arc::default(),
        };
        // Copies an interrupted `install` or `defragment` left behind.
        let defrag = backend.staged_defrag_path();
        let mut defrag_tmp = defrag.as_os_str().to_owned();
        defrag_tmp.push(".tmp");
        for staged in [backend.staged_install_path(), defrag, defrag_tmp.into()] {
            remove_if_present(&staged)?;
        }
        backend.refresh_size_in_use()?;
        backend.refresh_auth()?;
        Ok(backend)
    }

    /// Reads the enabled flag and auth revision into the cache (at open,
    /// after an install).
    fn refresh_auth(&self) -> Result<(), StorageError> {
        let view = self.read()?;
        self.auth.set_revision(view.auth_revision()?);
        self.auth.set_maybe_enabled(view.auth_enabled()?);
        Ok(())
    }

    /// The committed auth revision: what a request arriving now is judged
    /// at.
    pub fn auth_revision(&self) -> u64 {
        self.auth.revision()
    }

    /// False when no view can see auth enabled: no request needs a check.
    pub fn auth_maybe_enabled(&self) -> bool {
        self.auth.maybe_enabled()
    }

    /// A consistent snapshot for reads; it does not block the apply batch.
    pub fn read(&self) -> Result<ReadTxn, StorageError> {
        let db = Arc::clone(&self.handle());
        let txn = db.begin_read()?;
        ReadTxn::new(txn, db, Some(self.auth.clone()))
    }

    /// A view of another store's file (a snapshot, received from a peer or
    /// built here), to look at. Opened read-only: nothing in it changes.
    pub fn view_file(path: &Path) -> Result<ReadTxn, StorageError> {
        // Read-only: opening for writing would mark the file open in its
        // header, and a snapshot may be streaming to a peer meanwhile. A file
        // not closed cleanly needs a repair, which only a writable open does.
        match ReadOnlyDatabase::open(path) {
            Ok(db) => {
                let txn = db.begin_read()?;
                ReadTxn::new(txn, Arc::new(db), None)
            }
            Err(redb::DatabaseError::RepairAborted) => {
                tracing::warn!(path = %path.display(), "repairing a file not closed cleanly");
                let db = Database::open(path)?;
                let txn = db.begin_read()?;
                ReadTxn::new(txn, Arc::new(db), None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the one write transaction for a batch of committed entries.
    /// Blocks while another batch is open.
    pub fn begin_apply(&self) -> Result<ApplyBatch<'_>, StorageError> {
        // The permit first, then the lock: see `write_gate`.
        let permit = self.writer.enter();
        let txn = self.handle().begin_write()?;
        ApplyBatch::new(txn, permit, self.auth.clone())
    }

    /// [`Backend::begin_apply`] if it would not wait: `None` while another
    /// batch, a snapshot's sync, a defragmentation or an install holds the
    /// store. Lets a caller that must not block run short batches in place.
    pub fn try_begin_apply(&self) -> Result<Option<ApplyBatch<'_>>, StorageError> {
        let Some(permit) = self.writer.enter_within(Duration::ZERO) else {
            return Ok(None);
        };
        let db = match self.db.try_read() {
            Ok(db) => db,
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        let txn = db.begin_write()?;
        drop(db);
        ApplyBatch::new(txn, permit, self.auth.clone()).map(Some)
    }

    /// The database, shared, for beginning one transaction. Hold it no
    /// longer than the `begin_*` call: a held guard blocks defragmentation.
    /// A panic while it was held cannot leave the handle half-changed
    /// (redb's compaction is transactional, and `install` replaces the
    /// `Arc` in one move), so a poisoned lock is used as is.
    pub(crate) fn handle(&self) -> RwLockReadGuard<'_, Arc<Database>> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory holding the database file: scratch files that may be as
    /// large as the database (snapshot copies) belong here, not in `/tmp`.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The file's size in bytes (Status.dbSize).
    pub fn size(&self) -> Result<u64, StorageError> {
        Ok(fs::metadata(&self.path)?.len())
    }

    /// Bytes in allocated pages (Status.dbSizeInUse), as of the last
    /// [`Backend::refresh_size_in_use`]. Cheap: Status may be polled.
    pub fn size_in_use(&self) -> u64 {
        self.size_in_use.load(Ordering::Relaxed)
    }

    /// Recomputes [`Backend::size_in_use`]: the bytes of every table's
    /// pages, counted in a view. The walk costs O(database pages), so it
    /// runs rarely (at open, after snapshots and defragments, and at most
    /// every few seconds on demand); being a view, it holds up no write.
    /// (redb's own count of allocated pages needs a write transaction,
    /// which would stall applies for the whole walk: 0.3 s with 150k keys
    /// of 1 KiB.)
    pub fn refresh_size_in_use(&self) -> Result<u64, StorageError> {
        let view = self.read()?;
        let txn = view.redb();
        let mut bytes = 0;
        for table in txn.list_tables()? {
            let stats = txn.open_untyped_table(table)?.stats()?;
            bytes += stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes();
        }
        self.size_in_use.store(bytes, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Gives the file's free pages back to the file system (etcd's
    /// Defragment) and refreshes [`Backend::size_in_use`]. Keys, revisions
    /// and meta are unchanged.
    ///
    /// As etcd does, the live data is copied into a new file
    /// (`<db>.defrag`, committed durably) which then replaces the database
    /// by a rename. Writes wait for the copy (the apply thread included, as
    /// etcd's defrag stalls them); reads do not wait at all: views open on
    /// the old file keep reading it, new ones begin on whichever file is
    /// current. The old file is closed, and its space returned, when its
    /// last view ends, so disk use peaks at the old file plus the copy. If
    /// a write transaction stays open for all of `wait`, nothing is changed
    /// and [`DefragError::Busy`] is returned.
    pub fn defragment(&self, wait: Duration) -> Result<(), DefragError> {
        let started = Instant::now();
        let defragmented = self.defragment_within(wait);
        if defragmented.is_ok() {
            crate::metrics::DEFRAG_SECONDS.observe(started.elapsed().as_secs_f64());
        }
        defragmented
    }

    fn defragment_within(&self, wait: Duration) -> Result<(), DefragError> {
        let staged = self.staged_defrag_path();
        let swapped = self.defragment_held(wait, &staged);
        if swapped.is_err() {
            remove_if_present(&staged)?;
        }
        swapped
    }

    /// The copy and swap of [`Backend::defragment`], writes held throughout.
    fn defragment_held(&self, wait: Duration, staged: &Path) -> Result<(), DefragError> {
        let deadline = Instant::now() + wait;
        // The permit: no write transaction is open and none can begin, so
        // the view below is the final state of the old file.
        let permit = self
            .writer
            .enter_within(wait)
            .ok_or(DefragError::Busy(wait))?;
        let view = self.read()?;
        self.copy_snapshot(&view, staged)?;
        drop(view);
        let new_db = Arc::new(create_database(staged).map_err(StorageError::from)?);
        // Transactions only wait to begin while the handle is swapped.
        let left = deadline.saturating_duration_since(Instant::now());
        let db = self
            .lock_exclusive(left.max(SWAP_WAIT))
            .ok_or(DefragError::Busy(wait))?;
        self.swap_in(db, permit, staged, new_db)?;
        self.refresh_size_in_use()?;
        Ok(())
    }

    /// [`Backend::defragment`] without stalling writes for the copy: the
    /// live data is copied from a view while applies go on; then, with
    /// applies waiting, `catch_up` brings the copy from the view's state to
    /// the current one (the raft layer re-applies the log entries applied
    /// meanwhile, deterministic as every apply is), this member's own meta
    /// keys (not under `mvcc/` or a `replicated` prefix) are carried over,
    /// and the copy replaces the database. Writes wait only for the catch
    /// up and the rename. If `catch_up` cannot (returns `false`: the
    /// entries were purged, say), or the database was replaced meanwhile
    /// (a snapshot installed), this falls back to [`Backend::defragment`].
    pub fn defragment_online(
        &self,
        wait: Duration,
        replicated: &[&str],
        catch_up: &CatchUp<'_>,
    ) -> Result<(), DefragError> {
        let started = Instant::now();
        let staged = self.staged_defrag_path();
        let swapped = self.defragment_caught_up(wait, replicated, catch_up, &staged);
        if !matches!(swapped, Ok(true)) {
            remove_if_present(&staged)?;
        }
        match swapped? {
            true => {
                crate::metrics::DEFRAG_SECONDS.observe(started.elapsed().as_secs_f64());
                Ok(())
            }
            false => {
                tracing::info!("defragmenting with writes held: the copy could not catch up");
                self.defragment(wait)
            }
        }
    }

    /// The copy, catch-up and swap of [`Backend::defragment_online`];
    /// `Ok(false)` when the copy could not be caught up.
    fn defragment_caught_up(
        &self,
        wait: Duration,
        replicated: &[&str],
        catch_up: &CatchUp<'_>,
        staged: &Path,
    ) -> Result<bool, DefragError> {
        let started = Instant::now();
        let copied = self.read()?;
        let source = Arc::clone(&self.handle());
        self.copy_snapshot(&copied, staged)?;
        let new_db = Arc::new(create_database(staged).map_err(StorageError::from)?);
        let copy_took = started.elapsed();
        // The copy lags by what was applied while it was made, seconds of
        // writes on a large store. Rounds with applies going on bring it
        // close, so the round with them held has only the last one's lag.
        let mut reached = copied;
        for _ in 0..CATCH_UP_ROUNDS {
            let round = Instant::now();
            let Some((batch, now)) = self.catch_up_round(&source, &new_db, &reached, catch_up)?
            else {
                return Ok(false);
            };
            batch.commit(false)?;
            reached = now;
            if round.elapsed() < CAUGHT_UP {
                break;
            }
        }
        let deadline = Instant::now() + wait;
        let permit = self
            .writer
            .enter_within(wait)
            .ok_or(DefragError::Busy(wait))?;
        let held = Instant::now();
        let Some((batch, now)) = self.catch_up_round(&source, &new_db, &reached, catch_up)? else {
            return Ok(false);
        };
        drop((source, reached, now));
        // The copy's own meta is this member's as it was at the copy: make
        // it this member's as it is now, in the same durable commit.
        let local = local_meta(&self.handle(), replicated)?;
        write_local_meta(batch.txn(), replicated, &local)?;
        batch.commit(true)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let db = self
            .lock_exclusive(left.max(SWAP_WAIT))
            .ok_or(DefragError::Busy(wait))?;
        self.swap_in(db, permit, staged, new_db)?;
        tracing::debug!(
            copy_took = ?copy_took,
            // Up to the swap's durable rename, which writes no longer wait for.
            held_until_swapped = ?held.elapsed(),
            "defragment: copy caught up and swapped in"
        );
        self.refresh_size_in_use()?;
        Ok(true)
    }

    /// One round of a defragment's catch-up: a batch on the copy `new_db`
    /// that brings it from `reached` to the state now, and a view of that
    /// state, the next round's start. `None` if the database is no longer
    /// `source` (a snapshot was installed) or `catch_up` cannot.
    fn catch_up_round(
        &self,
        source: &Arc<Database>,
        new_db: &Database,
        reached: &ReadTxn,
        catch_up: &CatchUp<'_>,
    ) -> Result<Option<(ApplyBatch<'static>, ReadTxn)>, StorageError> {
        let now = self.read()?;
        // Checked after the view began: a swap before it shows here, one
        // after it leaves the view on `source`.
        if !Arc::ptr_eq(source, &self.handle()) {
            return Ok(None);
        }
        let mut batch = ApplyBatch::detached(new_db.begin_write()?, self.auth.clone())?;
        Ok(catch_up(reached, &now, &mut batch)?.then_some((batch, now)))
    }

    /// Where [`Backend::defragment`] writes the new file.
    fn staged_defrag_path(&self) -> PathBuf {
        let mut staged = self.path.as_os_str().to_owned();
        staged.push(".defrag");
        PathBuf::from(staged)
    }

    /// Makes `new_db`, open on the file `staged`, the database: the file is
    /// renamed over the database and the handle swapped under the
    /// exclusive lock `db`, then `permit` lets writers in again. Views open
    /// on the old file keep reading it; it is closed when the last ends.
    /// Shared by install and defragment, whose callers decide what the new
    /// file holds.
    fn swap_in(
        &self,
        mut db: RwLockWriteGuard<'_, Arc<Database>>,
        permit: write_gate::WritePermit<'_>,
        staged: &Path,
        new_db: Arc<Database>,
    ) -> Result<(), StorageError> {
        fs::rename(staged, &self.path)?;
        let old = std::mem::replace(&mut *db, new_db);
        drop(db);
        drop(permit);
        retire(old);
        sync_parent_dir(&self.path)?;
        Ok(())
    }

    /// Replaces the whole database with the redb file at `src` (a snapshot
    /// of another member's backend, in the same file system), atomically
    /// and durably. The file is taken, not copied: `src` is gone afterwards,
    /// installed or not.
    ///
    /// `check` looks at the file first; if it refuses (the file does not
    /// hold what its sender announced, say), or the file is no database,
    /// [`InstallError::Declined`] is returned and the store is untouched.
    ///
    /// Meta keys under `mvcc/` or any of the `replicated` prefixes come from
    /// `src`; every other meta key describes this member, not the replicated
    /// state (its member id, say), and is carried over from the database
    /// being replaced, so the installed file never makes this member believe
    /// it is the one that sent it. They are copied as they are at the swap,
    /// when no write transaction is open on the old database.
    ///
    /// The file is prepared at `<db>.install`, committed durably, then
    /// renamed over the database under the exclusive lock, so a crash leaves
    /// either the old database or the new one. Disk use peaks at the new
    /// file plus the old one, which views already open keep reading; it is
    /// closed (and its space returned) when the last of them ends. Fails
    /// with [`InstallError::Busy`], changing nothing, if a write transaction
    /// stays open or transactions keep beginning for all of `wait`.
    pub fn install(
        &self,
        src: &Path,
        replicated: &[&str],
        check: &dyn Fn(&ReadTxn) -> Result<(), String>,
        wait: Duration,
    ) -> Result<(), InstallError> {
        let staged = self.staged_install_path();
        remove_if_present(&staged)?;
        fs::rename(src, &staged).map_err(StorageError::from)?;
        let installed = self.install_staged(&staged, replicated, check, wait);
        if installed.is_err() && staged.exists() {
            // Not installed: nothing of it may stay behind.
            if let Err(e) = fs::remove_file(&staged) {
                tracing::warn!(error = %e, path = %staged.display(), "cannot remove a declined snapshot");
            }
        }
        installed
    }

    fn install_staged(
        &self,
        staged: &Path,
        replicated: &[&str],
        check: &dyn Fn(&ReadTxn) -> Result<(), String>,
        wait: Duration,
    ) -> Result<(), InstallError> {
        let declined = |e: StorageError| InstallError::Declined(e.to_string());
        let new_db = Arc::new(create_database(staged).map_err(|e| declined(e.into()))?);
        {
            let txn = new_db.begin_read().map_err(|e| declined(e.into()))?;
            let view = ReadTxn::new(txn, new_db.clone(), None).map_err(declined)?;
            check(&view).map_err(InstallError::Declined)?;
        }
        // This member's meta, read now to do most of the writing outside
        // the lock, and read again under it.
        let old_db = Arc::clone(&self.handle());
        let local = local_meta(&old_db, replicated)?;
        drop(old_db);
        set_local_meta(&new_db, replicated, &local)?;

        let busy = || InstallError::Busy(wait);
        let deadline = Instant::now() + wait;
        // The permit, then the lock: no write transaction is open on the old
        // database and none can begin, so its meta is final.
        let permit = self.writer.enter_within(wait).ok_or_else(busy)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let db = self.lock_exclusive(left).ok_or_else(busy)?;
        let now_local = local_meta(&db, replicated)?;
        if now_local != local {
            // Written meanwhile (a member recording that it served, say).
            set_local_meta(&new_db, replicated, &now_local)?;
        }
        self.swap_in(db, permit, staged, new_db)?;
        self.refresh_size_in_use()?;
        self.refresh_auth()?;
        Ok(())
    }

    /// Where [`Backend::install`] prepares the new file.
    fn staged_install_path(&self) -> PathBuf {
        let mut staged = self.path.as_os_str().to_owned();
        staged.push(".install");
        PathBuf::from(staged)
    }

    /// The exclusive lock, taken within `wait` (`None` if not): no
    /// transaction begins while it is held. `try_write`, never `write`:
    /// see `defragment`.
    fn lock_exclusive(&self, wait: Duration) -> Option<RwLockWriteGuard<'_, Arc<Database>>> {
        let deadline = Instant::now() + wait;
        loop {
            match self.db.try_write() {
                Ok(db) => return Some(db),
                Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(SWAP_POLL);
        }
    }

    /// `etcdutl snapshot restore --bump-revision N --mark-compacted`: moves
    /// the current revision `amount` ahead (so revisions clients saw before
    /// a restore are never reused for other data) and, when asked, marks the
    /// new revision compacted, so watches and reads from older revisions are
    /// refused as compacted. For a backend no server has open yet.
    pub fn bump_revision(&self, amount: u64, mark_compacted: bool) -> Result<i64, StorageError> {
        let db = self.handle();
        let txn = db.begin_write()?;
        let bumped;
        {
            let mut meta = txn.open_table(META)?;
            let current = read_meta_i64(&meta, META_CURRENT_REVISION)?;
            bumped = current.saturating_add(i64::try_from(amount).unwrap_or(i64::MAX));
            meta.insert(META_CURRENT_REVISION, encode_i64(bumped).as_slice())?;
            if mark_compacted {
                meta.insert(META_COMPACTED_REVISION, encode_i64(bumped).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(bumped)
    }

    /// Makes every commit so far durable (an empty durable commit).
    pub fn sync(&self) -> Result<(), StorageError> {
        self.begin_apply()?.commit(true)?;
        Ok(())
    }

    /// The redb database, for white-box tests.
    #[cfg(test)]
    pub(crate) fn db(&self) -> RwLockReadGuard<'_, Arc<Database>> {
        self.handle()
    }

    /// Writes the state `view` sees — a consistent point in time — as a new
    /// redb file at `path` (replacing it if present). The copy is built at
    /// `<path>.tmp`, committed durably, then renamed into place, so `path`
    /// never holds a partial copy.
    pub fn write_snapshot(&self, view: &ReadTxn, path: &Path) -> Result<(), StorageError> {
        let started = Instant::now();
        self.copy_snapshot(view, path)?;
        crate::metrics::SNAPSHOT_SECONDS.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn copy_snapshot(&self, view: &ReadTxn, path: &Path) -> Result<(), StorageError> {
        let src = view.redb();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        remove_if_present(&tmp)?;
        {
            // A small cache: the copy is written once, and redb holds up to
            // half its cache of dirty pages in memory until a commit (half
            // of its 1 GiB default otherwise).
            let dst_db = Database::builder()
                .set_cache_size(COPY_CACHE_BYTES)
                .create(&tmp)?;
            let mut dst = ChunkedCopy::begin(&dst_db, &tmp)?;
            copy_table(src, &mut dst, KV)?;
            copy_table(src, &mut dst, KEY_INDEX)?;
            copy_table(src, &mut dst, LATEST)?;
            copy_table(src, &mut dst, META)?;
            copy_table(src, &mut dst, LEASES)?;
            copy_table(src, &mut dst, LEASE_KEYS)?;
            copy_table(src, &mut dst, ALARMS)?;
            copy_table(src, &mut dst, crate::auth::AUTH_USERS)?;
            copy_table(src, &mut dst, crate::auth::AUTH_ROLES)?;
            copy_table(src, &mut dst, crate::auth::AUTH_STATE)?;
            dst.finish()?;
        }
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                // Make the rename itself durable.
                fs::File::open(parent)?.sync_all()?;
            }
        }
        Ok(())
    }
}

/// The least time [`Backend::defragment`] waits to swap files: the lock it
/// takes is held by others only while a transaction begins.
const SWAP_WAIT: Duration = Duration::from_millis(500);
/// How often a swap of files looks again for the lock.
const SWAP_POLL: Duration = Duration::from_millis(2);

/// At most this many catch-up rounds of a defragment's copy run before the
/// one with writes held (see `defragment_caught_up`): each round re-applies
/// what was applied during the one before, so the lag shrinks fast unless
/// writes outrun the re-apply, which the bound is for.
const CATCH_UP_ROUNDS: usize = 4;
/// A catch-up round this quick leaves a lag the held round can take.
const CAUGHT_UP: Duration = Duration::from_millis(20);

/// Brings a defragment's copy up to date (see
/// [`Backend::defragment_online`]): given a view of the state copied, a
/// view of the current state and a batch on the copy, applies to the batch
/// what changed between the two views. `Ok(false)`: it cannot, and the
/// batch is dropped.
pub type CatchUp<'c> =
    dyn Fn(&ReadTxn, &ReadTxn, &mut ApplyBatch<'_>) -> Result<bool, StorageError> + Sync + 'c;

/// Why [`Backend::defragment`] did not run.
#[derive(Debug, thiserror::Error)]
pub enum DefragError {
    /// Transactions stayed open for the whole wait; nothing was changed.
    /// Not a failure of the store: the caller may simply try again.
    #[error("etcd-rs: defragment gave up after {0:?}: transactions still in progress")]
    Busy(Duration),
    /// The storage failed while compacting (fatal, see [`StorageError`]).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why [`Backend::install`] did not install; the store is unchanged
/// unless the error is [`InstallError::Storage`].
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The file is no store, or `check` refused it.
    #[error("etcd-rs: snapshot declined: {0}")]
    Declined(String),
    /// A write transaction stayed open, or transactions kept beginning,
    /// for the whole wait. The caller may try again.
    #[error("etcd-rs: snapshot install gave up after {0:?}: transactions still in progress")]
    Busy(Duration),
    /// The storage failed (fatal, see [`StorageError`]).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// redb's page cache for the store. redb's default (1 GiB, half of it for
/// dirty pages of non-durable commits) lets the resident size grow with the
/// data; the kernel's page cache holds the file anyway, so a miss here is a
/// `pread` of a cached page. 16 MiB measured the same put throughput as
/// 64 MiB with 100k and with 1M keys (random keys, 1000 clients, and the
/// apply path alone: `examples/apply_puts.rs`) and a peak RSS 33 MiB lower.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Opens (creating if needed) a store file with [`CACHE_BYTES`] of cache.
fn create_database(path: &Path) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(CACHE_BYTES).create(path)
}

/// redb's cache for a snapshot copy being written (see `write_snapshot`).
const COPY_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Whether meta `key` belongs to the replicated state (see
/// [`Backend::install`]) rather than to this member.
fn is_replicated_meta(key: &str, replicated: &[&str]) -> bool {
    key.starts_with(RESERVED_META_PREFIX) || replicated.iter().any(|p| key.starts_with(p))
}

/// Removes the file at `path` if there is one.
fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}

/// Closes a database replaced by [`Backend::install`] once no view reads
/// it any more: closing it earlier would fail their reads. Nothing can
/// begin a new one (it is no longer behind the lock), so the count of its
/// handles only falls. A background thread waits for the last view, then
/// drops the handle, so redb's close (a small commit on the unlinked file)
/// runs neither in the install nor in whichever task ends the last view.
fn retire(old: Arc<Database>) {
    if Arc::strong_count(&old) == 1 {
        // No view: close it now.
        drop(old);
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("backend-retire".into())
        .spawn(move || {
            while Arc::strong_count(&old) > 1 {
                std::thread::sleep(RETIRE_POLL);
            }
            drop(old);
        });
    if let Err(e) = spawned {
        // The handle went with the closure: the last view closes it.
        tracing::warn!(error = %e, "cannot start the thread that closes a replaced database");
    }
}

/// How often [`retire`] looks again for the end of the old database's views.
const RETIRE_POLL: Duration = Duration::from_millis(50);

/// This member's own meta keys and values in `db` (see [`Backend::install`]).
fn local_meta(db: &Database, replicated: &[&str]) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let mut local = Vec::new();
    for row in meta.iter()? {
        let (key, value) = row?;
        if !is_replicated_meta(key.value(), replicated) {
            local.push((key.value().to_string(), value.value().to_vec()));
        }
    }
    Ok(local)
}

/// Makes `local` the only non-replicated meta of `db`, durably.
fn set_local_meta(
    db: &Database,
    replicated: &[&str],
    local: &[(String, Vec<u8>)],
) -> Result<(), StorageError> {
    let txn = db.begin_write()?;
    init_tables(&txn)?;
    write_local_meta(&txn, replicated, local)?;
    // redb's default durability: synced before `commit` returns.
    txn.commit()?;
    Ok(())
}

/// Makes `local` the only non-replicated meta `txn` commits.
fn write_local_meta(
    txn: &WriteTransaction,
    replicated: &[&str],
    local: &[(String, Vec<u8>)],
) -> Result<(), StorageError> {
    let mut meta = txn.open_table(META)?;
    let mut foreign = Vec::new();
    for row in meta.iter()? {
        let (key, _) = row?;
        if !is_replicated_meta(key.value(), replicated) {
            foreign.push(key.value().to_string());
        }
    }
    for key in foreign {
        meta.remove(key.as_str())?;
    }
    for (key, value) in local {
        meta.insert(key.as_str(), value.as_slice())?;
    }
    Ok(())
}

/// Creates missing tables and the initial revisions of an empty store.
fn init_tables(txn: &WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(KV)?;
    txn.open_table(KEY_INDEX)?;
    txn.open_table(LATEST)?;
    txn.open_table(LEASES)?;
    txn.open_table(LEASE_KEYS)?;
    txn.open_table(ALARMS)?;
    txn.open_table(crate::auth::AUTH_USERS)?;
    txn.open_table(crate::auth::AUTH_ROLES)?;
    txn.open_table(crate::auth::AUTH_STATE)?;
    let mut meta = txn.open_table(META)?;
    let schema = meta
        .get(META_SCHEMA_VERSION)?
        .map(|v| decode_i64(v.value()));
    match schema {
        None => {
            meta.insert(META_SCHEMA_VERSION, &encode_i64(SCHEMA_VERSION)[..])?;
            meta.insert(META_CURRENT_REVISION, &encode_i64(INITIAL_REVISION)[..])?;
            meta.insert(META_COMPACTED_REVISION, &encode_i64(NEVER_COMPACTED)[..])?;
        }
        Some(Ok(SCHEMA_VERSION)) => {}
        Some(Ok(v)) => {
            return Err(StorageError::Corrupt(format!(
                "unknown storage schema version {v}"
            )))
        }
        Some(Err(e)) => return Err(e),
    }
    Ok(())
}

/// Reads a meta integer that `init_tables` guarantees to exist.
pub(crate) fn read_meta_i64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<i64, StorageError> {
    match meta.get(key)? {
        Some(v) => decode_i64(v.value()),
        None => Err(StorageError::Corrupt(format!("meta key {key} missing"))),
    }
}

/// Copies one table row by row (bounded memory whatever its size).
fn copy_table<K: Key + 'static, V: Value + 'static>(
    src: &ReadTransaction,
    copy: &mut ChunkedCopy<'_>,
    def: TableDefinition<K, V>,
) -> Result<(), StorageError> {
    let from = src.open_table(def)?;
    let mut rows = from.iter()?;
    loop {
        let mut chunk_full = false;
        {
            let mut to = copy.txn()?.open_table(def)?;
            for row in rows.by_ref() {
                let (k, v) = row?;
                let (k, v) = (k.value(), v.value());
                to.insert(&k, &v)?;
                let bytes = K::as_bytes(&k).as_ref().len() + V::as_bytes(&v).as_ref().len();
                if copy.wrote(bytes) {
                    chunk_full = true;
                    break;
                }
            }
        }
        if !chunk_full {
            return Ok(());
        }
        copy.next_chunk()?;
    }
}

/// A copy of the store written as a run of transactions of a few MiB each
/// rather than one: one transaction would have redb checksum, write and
/// sync the whole store in its commit, and every WAL sync meanwhile would
/// wait behind that flush (a put stalled 180 ms at the end of a 150k-key
/// copy). Each chunk is committed without a sync, then its pages are
/// synced before the next begins, so the disk's queue stays short; the
/// last commit is durable, and until it the file is no store anyone opens.
struct ChunkedCopy<'d> {
    db: &'d Database,
    file: fs::File,
    txn: Option<WriteTransaction>,
    /// Bytes copied into the current chunk (a cell: counted while a table
    /// of the chunk's transaction is open).
    unsynced: std::cell::Cell<u64>,
}

/// How much a [`ChunkedCopy`] writes per transaction (small in unit tests,
/// so their stores take several chunks).
#[cfg(not(test))]
const COPY_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
#[cfg(test)]
const COPY_CHUNK_BYTES: u64 = 64 * 1024;

impl<'d> ChunkedCopy<'d> {
    fn begin(db: &'d Database, path: &Path) -> Result<ChunkedCopy<'d>, StorageError> {
        Ok(ChunkedCopy {
            db,
            file: fs::File::open(path)?,
            txn: Some(db.begin_write()?),
            unsynced: std::cell::Cell::new(0),
        })
    }

    fn txn(&self) -> Result<&WriteTransaction, StorageError> {
        self.txn
            .as_ref()
            .ok_or_else(|| StorageError::Corrupt("copy used after its end".into()))
    }

    /// Counts `bytes` more copied; whether the chunk is full.
    fn wrote(&self, bytes: usize) -> bool {
        self.unsynced.set(self.unsynced.get() + bytes as u64);
        self.unsynced.get() >= COPY_CHUNK_BYTES
    }

    /// Commits the chunk, syncs its pages, begins the next.
    fn next_chunk(&mut self) -> Result<(), StorageError> {
        if let Some(mut txn) = self.txn.take() {
            txn.set_durability(redb::Durability::None)?;
            txn.commit()?;
        }
        self.file.sync_data()?;
        self.unsynced.set(0);
        self.txn = Some(self.db.begin_write()?);
        Ok(())
    }

    /// Commits the last chunk durably.
    fn finish(mut self) -> Result<(), StorageError> {
        if let Some(txn) = self.txn.take() {
            txn.commit()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_file_and_initial_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("member/snap/db");
        let b = Backend::open(&path).unwrap();
        assert!(path.exists());
        let r = b.read().unwrap();
        assert_eq!(r.current_revision().unwrap(), 1);
        assert_eq!(r.compacted_revision().unwrap(), -1);
        assert!(b.size().unwrap() > 0);
        assert!(b.refresh_size_in_use().unwrap() > 0);
        assert!(b.size_in_use() <= b.size().unwrap());
    }

    #[test]
    fn try_begin_apply_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&dir.path().join("db")).unwrap();
        let open = b.begin_apply().unwrap();
        assert!(b.try_begin_apply().unwrap().is_none(), "a batch is open");
        drop(open);
        {
            let _exclusive = b.db.write().unwrap();
            assert!(b.try_begin_apply().unwrap().is_none(), "the store is held");
        }
        let batch = b.try_begin_apply().unwrap().expect("the store is free");
        batch.commit(false).unwrap();
        assert!(b.try_begin_apply().unwrap().is_some());
    }

    #[test]
    fn reopen_keeps_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let b = Backend::open(&path).unwrap();
            let mut batch = b.begin_apply().unwrap();
            batch.set_meta("raft/applied", b"42").unwrap();
            batch.commit(true).unwrap();
        }
        let b = Backend::open(&path).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.meta("raft/applied").unwrap().as_deref(), Some(&b"42"[..]));
        assert_eq!(r.meta("absent").unwrap(), None);
        assert_eq!(r.current_revision().unwrap(), 1);
    }

    #[test]
    fn reserved_meta_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&dir.path().join("db")).unwrap();
        let mut batch = b.begin_apply().unwrap();
        assert!(matches!(
            batch.set_meta("mvcc/current_revision", b"x"),
            Err(StorageError::ReservedMetaKey(_))
        ));
    }

    #[test]
    fn snapshot_is_a_point_in_time_copy() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&dir.path().join("db")).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("x", b"1").unwrap();
        batch.commit(true).unwrap();
        let snap = dir.path().join("snap.db");
        b.write_snapshot(&b.read().unwrap(), &snap).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("x", b"2").unwrap();
        batch.commit(false).unwrap();

        let copy = Backend::open(&snap).unwrap();
        let r = copy.read().unwrap();
        assert_eq!(r.meta("x").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(r.current_revision().unwrap(), 1);
        assert!(!dir.path().join("snap.db.tmp").exists());
        // Writing again replaces the file.
        drop(r);
        drop(copy);
        b.write_snapshot(&b.read().unwrap(), &snap).unwrap();
        let copy = Backend::open(&snap).unwrap();
        assert_eq!(
            copy.read().unwrap().meta("x").unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }

    #[test]
    fn install_replaces_the_store_and_keeps_local_meta() {
        let dir = tempfile::tempdir().unwrap();
        // The sender: data, replicated meta, and its own identity.
        let sender = crate::test_util::Store::new();
        sender.put("a", "1");
        let rev = sender.put("b", "2");
        let mut batch = sender.backend.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"sender-applied").unwrap();
        batch.set_meta("cluster/member_id", b"sender").unwrap();
        batch.set_meta("cluster/only_sender", b"x").unwrap();
        batch.commit(true).unwrap();
        let snap = dir.path().join("snap.db");
        sender
            .backend
            .write_snapshot(&sender.backend.read().unwrap(), &snap)
            .unwrap();

        // The receiver: other data and its own identity.
        let path = dir.path().join("db");
        let b = Backend::open(&path).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"mine").unwrap();
        batch.set_meta("raft/stale", b"mine").unwrap();
        batch.set_meta("cluster/member_id", b"me").unwrap();
        batch.commit(true).unwrap();
        let old_view = b.read().unwrap();

        b.install(&snap, &["raft/"], &accept, Duration::from_secs(5))
            .unwrap();

        let check = |b: &Backend| {
            let r = b.read().unwrap();
            assert_eq!(r.current_revision().unwrap(), rev);
            let meta = |k| r.meta(k).unwrap();
            assert_eq!(
                meta("raft/applied").as_deref(),
                Some(&b"sender-applied"[..])
            );
            assert_eq!(meta("raft/stale"), None);
            assert_eq!(meta("cluster/member_id").as_deref(), Some(&b"me"[..]));
            assert_eq!(meta("cluster/only_sender"), None);
        };
        check(&b);
        // A view opened before still reads the old state.
        assert_eq!(old_view.current_revision().unwrap(), 1);
        assert_eq!(
            old_view.meta("raft/applied").unwrap().as_deref(),
            Some(&b"mine"[..])
        );
        drop(old_view);
        // The snapshot file was taken, nothing is left staged, and the store
        // is writable.
        assert!(!snap.exists());
        assert!(!b.staged_install_path().exists());
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"after").unwrap();
        batch.commit(true).unwrap();
        drop(b);
        // Durable: a reopen sees the installed store.
        let b = Backend::open(&path).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.current_revision().unwrap(), rev);
        assert_eq!(
            r.meta("raft/applied").unwrap().as_deref(),
            Some(&b"after"[..])
        );
        assert_eq!(
            r.meta("cluster/member_id").unwrap().as_deref(),
            Some(&b"me"[..])
        );
    }

    #[test]
    fn install_of_a_bad_file_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let b = Backend::open(&path).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("cluster/member_id", b"me").unwrap();
        batch.commit(true).unwrap();
        let junk = dir.path().join("junk.snap.db");
        fs::write(&junk, b"not a redb file").unwrap();
        assert!(matches!(
            b.install(&junk, &["raft/"], &accept, Duration::from_secs(1)),
            Err(InstallError::Declined(_))
        ));
        assert!(!junk.exists());
        assert!(!b.staged_install_path().exists());
        let r = b.read().unwrap();
        assert_eq!(
            r.meta("cluster/member_id").unwrap().as_deref(),
            Some(&b"me"[..])
        );
        drop(r);
        drop(b);
        // The staged copy does not outlive a restart.
        Backend::open(&path).unwrap();
        assert!(!dir.path().join("db.install").exists());
    }

    fn accept(_: &ReadTxn) -> Result<(), String> {
        Ok(())
    }

    /// A snapshot of a sender's store holding `a` and `raft/applied` =
    /// `applied`, written at `dir/snap.db`; and its revision.
    fn sender_snapshot(dir: &Path, applied: &[u8]) -> (PathBuf, i64) {
        let sender = crate::test_util::Store::new();
        let rev = sender.put("a", "1");
        let mut batch = sender.backend.begin_apply().unwrap();
        batch.set_meta("raft/applied", applied).unwrap();
        batch.commit(true).unwrap();
        let snap = dir.join("snap.db");
        sender
            .backend
            .write_snapshot(&sender.backend.read().unwrap(), &snap)
            .unwrap();
        (snap, rev)
    }

    #[test]
    fn install_declined_by_the_check_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (snap, _) = sender_snapshot(dir.path(), b"sent");
        let path = dir.path().join("db");
        let b = Backend::open(&path).unwrap();
        let mut batch = b.begin_apply().unwrap();
        batch.set_meta("raft/applied", b"mine").unwrap();
        batch.commit(true).unwrap();

        let expect = |view: &ReadTxn| match view.meta("raft/applied").unwrap().as_deref() {
            Some(b"announced") => Ok(()),
            other => Err(format!("holds {:?}", other.map(String::from_utf8_lossy))),
        };
        let err = b
            .install(&snap, &["raft/"], &expect, Duration::from_secs(5))
            .unwrap_err();
        assert!(
            matches!(&err, InstallError::Declined(why) if why.contains("sent")),
            "{err}"
        );
        assert!(!snap.exists());
        assert!(!b.staged_install_path().exists());
        let check = |b: &Backend| {
            let r = b.read().unwrap();
            assert_eq!(r.current_revision().unwrap(), 1);
            assert_eq!(
                r.meta("raft/applied").unwrap().as_deref(),
                Some(&b"mine"[..])
            );
        };
        check(&b);
        drop(b);
        check(&Backend::open(&path).unwrap());
    }

    #[test]
    fn install_keeps_local_meta_committed_while_it_prepares() {
        let dir = tempfile::tempdir().unwrap();
        let (snap, rev) = sender_snapshot(dir.path(), b"sent");
        let b = Backend::open(&dir.path().join("db")).unwrap();
        std::thread::scope(|s| {
            // A writer of this member's own meta, its batch open before the
            // install starts and committed while the install prepares.
            let mut batch = b.begin_apply().unwrap();
            batch.set_meta("cluster/served", b"1").unwrap();
            let install =
                s.spawn(|| b.install(&snap, &["raft/"], &accept, Duration::from_secs(30)));
            // The install has read the old meta and waits for the batch.
            let started = Instant::now();
            while b.writer.waiting() == 0 {
                assert!(started.elapsed() < Duration::from_secs(30));
                std::thread::sleep(Duration::from_millis(1));
            }
            batch.commit(false).unwrap();
            install.join().unwrap().unwrap();
        });
        let r = b.read().unwrap();
        assert_eq!(r.current_revision().unwrap(), rev);
        assert_eq!(
            r.meta("cluster/served").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(
            r.meta("raft/applied").unwrap().as_deref(),
            Some(&b"sent"[..])
        );
    }

    /// Files this process has open whose name starts with `prefix`
    /// (Linux: the targets of /proc/self/fd).
    #[cfg(target_os = "linux")]
    fn open_files(prefix: &Path) -> Vec<String> {
        let prefix = prefix.to_string_lossy().into_owned();
        fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| p.starts_with(&prefix))
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_replaced_file_closes_when_its_last_view_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (snap, rev) = sender_snapshot(dir.path(), b"sent");
        let path = dir.path().join("db");
        let b = Backend::open(&path).unwrap();
        let old_view = b.read().unwrap();
        let deleted = format!("{} (deleted)", path.display());
        b.install(&snap, &["raft/"], &accept, Duration::from_secs(5))
            .unwrap();
        // The old file is unlinked but still open for the view.
        assert!(open_files(dir.path()).contains(&deleted));
        assert_eq!(old_view.current_revision().unwrap(), 1);
        assert_eq!(b.read().unwrap().current_revision().unwrap(), rev);
        drop(old_view);
        let started = Instant::now();
        while open_files(dir.path()).contains(&deleted) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the replaced file is still open"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Only the installed file stays open.
        assert_eq!(open_files(dir.path()), [path.display().to_string()]);
    }

    /// A store whose history was mostly deleted and compacted away: the
    /// kept keys with their revisions, the HashKV and the revisions.
    fn mostly_deleted_store() -> (crate::test_util::Store, Vec<etcd_proto::mvccpb::KeyValue>) {
        let s = crate::test_util::Store::new();
        let big = "x".repeat(16 * 1024);
        for i in 0..300 {
            s.put(&format!("big/{i:03}"), &big);
        }
        s.put("keep/a", "1");
        s.put("keep/b", "2");
        s.put("keep/a", "3");
        let (deleted, rev) = s.delete("big/", "big0");
        assert_eq!(deleted, 300);
        s.compact(rev).unwrap();
        let kept = vec![s.get_kv("keep/a").unwrap(), s.get_kv("keep/b").unwrap()];
        (s, kept)
    }

    #[test]
    fn defragment_shrinks_the_file_and_keeps_everything() {
        let (s, kept) = mostly_deleted_store();
        let b = &s.backend;
        let size_before = b.size().unwrap();
        let view = b.read().unwrap();
        let hash_before = crate::hash_kv(&view, 0).unwrap();
        drop(view);

        b.defragment(Duration::from_secs(5)).unwrap();

        let size_after = b.size().unwrap();
        assert!(
            size_after * 2 < size_before,
            "{size_before} -> {size_after}"
        );
        assert!(b.size_in_use() <= size_after);
        let view = b.read().unwrap();
        assert_eq!(crate::hash_kv(&view, 0).unwrap(), hash_before);
        assert_eq!(
            view.current_revision().unwrap(),
            hash_before.current_revision
        );
        drop(view);
        assert_eq!(
            vec![s.get_kv("keep/a").unwrap(), s.get_kv("keep/b").unwrap()],
            kept
        );
        assert!(s.get("big/", "big0").is_empty());
        // Still writable, and a second defragment finds nothing to do.
        let rev = s.put("after", "v");
        assert_eq!(rev, hash_before.current_revision + 1);
        b.defragment(Duration::from_secs(5)).unwrap();
        assert_eq!(s.get_kv("after").unwrap().mod_revision, rev);
    }

    #[test]
    fn a_copy_of_many_chunks_keeps_every_row() {
        let s = crate::test_util::Store::new();
        let value = "v".repeat(200);
        for i in 0..2000 {
            s.put(&format!("k{i:04}"), &value);
        }
        let b = &s.backend;
        let hash_before = crate::hash_kv(&b.read().unwrap(), 0).unwrap();
        b.defragment(Duration::from_secs(5)).unwrap();
        assert_eq!(crate::hash_kv(&b.read().unwrap(), 0).unwrap(), hash_before);
        assert_eq!(s.get("k", "l").len(), 2000);
    }

    #[test]
    fn a_view_open_across_a_defragment_keeps_reading_the_old_file() {
        let (s, kept) = mostly_deleted_store();
        let b = &s.backend;
        let size_before = b.size().unwrap();
        let reader = b.read().unwrap();
        let rev = reader.current_revision().unwrap();
        // Readers never hold it up.
        b.defragment(Duration::from_millis(200)).unwrap();
        assert!(b.size().unwrap() < size_before);
        s.put("after", "v");
        assert_eq!(reader.current_revision().unwrap(), rev);
        assert_eq!(s.get_kv("keep/a").unwrap(), kept[0]);
        drop(reader);
        assert!(!b.staged_defrag_path().exists());
    }

    #[test]
    fn defragment_waits_for_an_open_batch_then_gives_up() {
        let (s, kept) = mostly_deleted_store();
        let b = &s.backend;
        let size_before = b.size().unwrap();
        let batch = b.begin_apply().unwrap();
        let started = Instant::now();
        assert!(matches!(
            b.defragment(Duration::from_millis(200)),
            Err(DefragError::Busy(_))
        ));
        assert!(started.elapsed() >= Duration::from_millis(200));
        batch.commit(false).unwrap();
        // Nothing changed.
        assert_eq!(b.size().unwrap(), size_before);
        assert_eq!(s.get_kv("keep/a").unwrap(), kept[0]);
        b.defragment(Duration::from_secs(5)).unwrap();
        assert!(b.size().unwrap() < size_before);
    }

    /// A catch-up for tests whose only writes are puts of new keys under
    /// `w`: re-applies, in revision order, the ones `copied` did not see.
    fn replay_new_puts(
        copied: &ReadTxn,
        now: &ReadTxn,
        batch: &mut ApplyBatch<'_>,
    ) -> Result<bool, StorageError> {
        let seen = copied.current_revision()?;
        let mut kvs = now
            .range(&crate::test_util::range_req("w", "x"))
            .expect("a range")
            .kvs;
        kvs.retain(|kv| kv.mod_revision > seen);
        kvs.sort_by_key(|kv| kv.mod_revision);
        for kv in kvs {
            let put = etcd_proto::etcdserverpb::PutRequest {
                key: kv.key,
                value: kv.value,
                ..Default::default()
            };
            let request = etcd_proto::raftpb::RaftRequest {
                caller: None,
                id: 0,
                request: Some(etcd_proto::raftpb::raft_request::Request::Put(put)),
            };
            batch.apply(&request).expect("a put");
        }
        Ok(true)
    }

    #[test]
    fn an_online_defragment_keeps_the_writes_made_during_its_copy() {
        let (s, kept) = mostly_deleted_store();
        let size_before = s.backend.size().unwrap();
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                (0..300)
                    .map(|i| (format!("w{i:03}"), s.put(&format!("w{i:03}"), "v")))
                    .collect::<Vec<_>>()
            });
            while s.rev() < 2 + 300 + 3 + 1 + 50 {
                std::thread::yield_now();
            }
            // Defragments until the writer is done; those whose copy missed
            // writes must have replayed them.
            let replayed = std::sync::atomic::AtomicUsize::new(0);
            let counting = |copied: &ReadTxn, now: &ReadTxn, batch: &mut ApplyBatch<'_>| {
                if now.current_revision()? > copied.current_revision()? {
                    replayed.fetch_add(1, Ordering::Relaxed);
                }
                replay_new_puts(copied, now, batch)
            };
            while !writer.is_finished() {
                s.backend
                    .defragment_online(Duration::from_secs(20), &[], &counting)
                    .unwrap();
            }
            assert!(
                replayed.load(Ordering::Relaxed) > 0,
                "no write came during a copy"
            );
            let written = writer.join().unwrap();
            for (key, rev) in written {
                assert_eq!(s.get_kv(&key).unwrap().mod_revision, rev, "{key}");
            }
        });
        assert!(s.backend.size().unwrap() < size_before);
        assert_eq!(s.get_kv("keep/a").unwrap(), kept[0]);
        assert_eq!(s.get("w", "x").len(), 300);
        assert!(!s.backend.staged_defrag_path().exists());
    }

    #[test]
    fn an_online_defragment_that_cannot_catch_up_holds_writes_instead() {
        let (s, kept) = mostly_deleted_store();
        let size_before = s.backend.size().unwrap();
        let hash_before = crate::hash_kv(&s.backend.read().unwrap(), 0).unwrap();
        let cannot = |_: &ReadTxn, _: &ReadTxn, _: &mut ApplyBatch<'_>| Ok(false);
        s.backend
            .defragment_online(Duration::from_secs(5), &[], &cannot)
            .unwrap();
        assert!(s.backend.size().unwrap() < size_before);
        let view = s.backend.read().unwrap();
        assert_eq!(crate::hash_kv(&view, 0).unwrap(), hash_before);
        assert_eq!(s.get_kv("keep/a").unwrap(), kept[0]);
        assert!(!s.backend.staged_defrag_path().exists());
    }

    #[test]
    fn defragment_alongside_readers_and_writers() {
        let (s, kept) = mostly_deleted_store();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut reads = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            assert_eq!(s.get_kv("keep/b").unwrap(), kept[1]);
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            let writer = scope.spawn(|| {
                let mut last = 0;
                for i in 0..200 {
                    last = s.put(&format!("w{i:03}"), "v");
                }
                last
            });
            // The snapshot builder's pattern: a read begun inside a batch.
            let nested = scope.spawn(|| {
                for _ in 0..20 {
                    let batch = s.backend.begin_apply().unwrap();
                    let view = s.backend.read().unwrap();
                    batch.commit(false).unwrap();
                    view.current_revision().unwrap();
                }
            });
            for _ in 0..3 {
                s.backend.defragment(Duration::from_secs(20)).unwrap();
            }
            let last = writer.join().unwrap();
            nested.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            for r in readers {
                assert!(r.join().unwrap() > 0);
            }
            assert_eq!(s.get_kv("w199").unwrap().mod_revision, last);
        });
        assert_eq!(s.get("w", "x").len(), 200);
    }
}
