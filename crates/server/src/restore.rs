//! `etcdutl snapshot restore`: turns a snapshot saved with `etcdctl snapshot
//! save` into the data dir of a member of a NEW cluster.
//!
//! A saved snapshot is etcd's database (bbolt, with etcd's buckets) followed
//! by the SHA-256 of those bytes, as etcd's Snapshot RPC sends it, whether
//! etcd-rs or etcd saved it; it is imported into a new redb backend
//! (`etcd_storage::etcd_snapshot`). A copy of an etcd-rs backend (one redb
//! file, the format etcd-rs snapshots had before) is still restored as is. Restoring checks the hash (unless `--skip-hash-check`, for a db
//! copied straight out of a data dir), writes the db into the new data dir,
//! and replaces what tied it to the old cluster: the Raft state (applied log
//! id and membership) and the source member's own records are dropped, so
//! Raft starts from an empty log, and the
//! member's identity and the new cluster's members are derived from the
//! restore flags exactly as a new member derives them. The keys, their
//! revisions, leases and the compaction point are kept, as etcd keeps them.
//!
//! Owns nothing at runtime: `run` starts the restored data dir like any
//! other (as a restart, since the identity is already stored).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use etcd_storage::bbolt::{self, read::BoltFile};
use etcd_storage::{etcd_snapshot, Backend};
use sha2::{Digest, Sha256};

use crate::member::{self, Bootstrap};

/// Everything a restore needs, from `etcdutl snapshot restore`'s flags.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The snapshot file (`etcdctl snapshot save` output).
    pub snapshot: PathBuf,
    /// `--name`.
    pub name: String,
    /// `--data-dir`; etcd's default is `<name>.etcd`.
    pub data_dir: Option<PathBuf>,
    /// `--wal-dir`; default `<data-dir>/member/wal`.
    pub wal_dir: Option<PathBuf>,
    /// `--initial-cluster` as (name, peer URL) pairs.
    pub initial_cluster: Vec<(String, String)>,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--skip-hash-check`: accept a file without the trailing SHA-256.
    pub skip_hash_check: bool,
    /// `--bump-revision`: how far to move the current revision ahead.
    pub bump_revision: u64,
    /// `--mark-compacted`: mark the bumped revision compacted.
    pub mark_compacted: bool,
}

/// Where a restore put things, for the log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    pub snap_dir: PathBuf,
    pub member_id: u64,
    pub cluster_id: u64,
}

/// Why a restore failed; the messages are etcd's where etcd has one.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("data-dir {0:?} exists")]
    DataDirExists(String),
    #[error("wal-dir {0:?} exists")]
    WalDirExists(String),
    #[error("snapshot missing hash but --skip-hash-check=false")]
    MissingHash,
    #[error(transparent)]
    Identity(#[from] member::IdentityError),
    #[error("open {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("snapshot is not an etcd-rs backend: {0}")]
    NotABackend(String),
    /// An etcd database (bbolt) that could not be read.
    #[error("{0}")]
    Etcd(String),
    /// The trailing SHA-256 does not match (etcd's message, with Go's
    /// printing of byte slices).
    #[error("expected sha256 {expected}, got {got}")]
    HashMismatch { expected: String, got: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Restores `opts.snapshot` into a new data dir; the data dir (and a given
/// WAL dir) must not exist yet. On error, nothing usable is left behind: a
/// half-written data dir is removed.
pub fn restore(opts: &RestoreOptions) -> Result<Restored, RestoreError> {
    // Check the flags before touching the disk, as etcd does.
    let identity = member::derive(&Bootstrap {
        name: &opts.name,
        initial_cluster: &opts.initial_cluster,
        initial_advertise_peer_urls: &opts.initial_advertise_peer_urls,
        initial_cluster_token: &opts.initial_cluster_token,
    })?;
    let data_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", opts.name)));
    if data_dir.exists() {
        return Err(RestoreError::DataDirExists(data_dir.display().to_string()));
    }
    let wal_dir = match &opts.wal_dir {
        Some(dir) if dir.exists() => {
            return Err(RestoreError::WalDirExists(dir.display().to_string()))
        }
        Some(dir) => dir.clone(),
        None => data_dir.join("member").join("wal"),
    };
    let snap_dir = data_dir.join("member").join("snap");

    let result = write_data_dir(opts, &snap_dir, &identity);
    if result.is_err() {
        // Leave no half-restored member that could be started by mistake.
        let _ = fs::remove_dir_all(&data_dir);
    }
    result?;
    Ok(Restored {
        data_dir,
        wal_dir,
        snap_dir,
        member_id: identity.member_id,
        cluster_id: identity.cluster_id,
    })
}

fn write_data_dir(
    opts: &RestoreOptions,
    snap_dir: &Path,
    identity: &member::Identity,
) -> Result<(), RestoreError> {
    fs::create_dir_all(snap_dir).map_err(io_err(snap_dir))?;
    let db_path = snap_dir.join("db");
    if bbolt::read::is_bbolt(&opts.snapshot).map_err(io_err(&opts.snapshot))? {
        // etcd's format: what `etcdctl snapshot save` gets from etcd-rs and
        // from etcd itself, or an etcd member's `member/snap/db`.
        let etcd_db = snap_dir.join("db.etcd");
        copy_bbolt_verified(&opts.snapshot, &etcd_db, opts.skip_hash_check)?;
        let backend =
            Backend::open(&db_path).map_err(|e| RestoreError::NotABackend(e.to_string()))?;
        let imported = BoltFile::open(&etcd_db)
            .map_err(|e| RestoreError::Etcd(e.to_string()))
            .and_then(|bolt| {
                etcd_snapshot::import(&bolt, &backend)
                    .map_err(|e| RestoreError::Etcd(e.to_string()))
            });
        let _ = fs::remove_file(&etcd_db);
        imported?;
        bump(&backend, opts)?;
        member::store(&backend, identity)?;
        return Ok(());
    }
    copy_verified(&opts.snapshot, &db_path, opts.skip_hash_check)?;

    let backend = Backend::open(&db_path).map_err(|e| RestoreError::NotABackend(e.to_string()))?;
    // Only the replicated data survives: the Raft state (applied log id,
    // membership) and whatever the source member kept about itself belong
    // to the old cluster.
    let not_a_backend = |e: etcd_storage::StorageError| RestoreError::NotABackend(e.to_string());
    let mut batch = backend.begin_apply().map_err(not_a_backend)?;
    batch.clear_upper_meta().map_err(not_a_backend)?;
    batch.commit(true).map_err(not_a_backend)?;
    bump(&backend, opts)?;
    member::store(&backend, identity)?;
    Ok(())
}

/// `--bump-revision` / `--mark-compacted`, once the data is in.
fn bump(backend: &Backend, opts: &RestoreOptions) -> Result<(), RestoreError> {
    if opts.bump_revision > 0 || opts.mark_compacted {
        backend
            .bump_revision(opts.bump_revision, opts.mark_compacted)
            .map_err(|e| RestoreError::NotABackend(e.to_string()))?;
    }
    Ok(())
}

/// Copies an etcd snapshot to `dest` without its trailing hash, with etcd's
/// rule for telling whether it has one: a bbolt file is whole pages, so
/// a size 32 bytes past a multiple of 512 means a SHA-256 was appended.
fn copy_bbolt_verified(src: &Path, dest: &Path, skip_hash_check: bool) -> Result<(), RestoreError> {
    let mut file = File::open(src).map_err(io_err(src))?;
    let len = file.metadata().map_err(io_err(src))?.len();
    let has_hash = len % 512 == 32;
    if !has_hash && !skip_hash_check {
        return Err(RestoreError::MissingHash);
    }
    let body_len = if has_hash { len - 32 } else { len };
    let mut out = create_new(dest)?;
    let sha = copy_hashing(&mut file, src, &mut out, dest, body_len)?;
    if has_hash && !skip_hash_check {
        let mut trailer = Vec::new();
        file.read_to_end(&mut trailer).map_err(io_err(src))?;
        let got = sha.to_vec();
        if got != trailer {
            return Err(RestoreError::HashMismatch {
                expected: go_bytes(&trailer),
                got: go_bytes(&got),
            });
        }
    }
    out.sync_all().map_err(io_err(dest))?;
    Ok(())
}

/// Creates the restored db file; refuses to overwrite one.
fn create_new(dest: &Path) -> Result<File, RestoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(io_err(dest))
}

/// Copies the next `len` bytes of `file` (at `src`) to `out` (at `dest`);
/// their SHA-256.
fn copy_hashing(
    file: &mut File,
    src: &Path,
    out: &mut File,
    dest: &Path,
    len: u64,
) -> Result<Vec<u8>, RestoreError> {
    let mut sha = Sha256::new();
    let mut body = file.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
    }
    Ok(sha.finalize().to_vec())
}

/// A byte slice as Go's `%v` prints it: `[1 2 3]`.
fn go_bytes(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", parts.join(" "))
}

/// Copies the snapshot to `dest` without its trailing hash, checking the
/// hash unless told not to. A file counts as hashed when its last 32 bytes
/// are the SHA-256 of the rest (redb files have no page-size rule that
/// would tell, as etcd's bbolt files do).
fn copy_verified(src: &Path, dest: &Path, skip_hash_check: bool) -> Result<(), RestoreError> {
    let mut file = File::open(src).map_err(io_err(src))?;
    let len = file.metadata().map_err(io_err(src))?.len();
    let body_len = len.saturating_sub(32);
    let mut trailer = Vec::new();
    if len >= 32 {
        file.seek(SeekFrom::Start(body_len)).map_err(io_err(src))?;
        file.read_to_end(&mut trailer).map_err(io_err(src))?;
        file.seek(SeekFrom::Start(0)).map_err(io_err(src))?;
    }

    let mut out = create_new(dest)?;
    let sha = copy_hashing(&mut file, src, &mut out, dest, body_len)?;
    let has_hash = len >= 32 && sha.as_slice() == trailer.as_slice();
    if !has_hash {
        // A corrupted hashed snapshot and a raw db look alike here (etcd tells
        // them apart by bbolt's page size); both need --skip-hash-check, and
        // a corrupted one then fails to open as a backend.
        if !skip_hash_check {
            return Err(RestoreError::MissingHash);
        }
        // A raw db (copied out of a data dir): the "trailer" is data.
        out.write_all(&trailer).map_err(io_err(dest))?;
    }
    out.sync_all().map_err(io_err(dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::PutRequest;
    use etcd_proto::raftpb::{raft_request::Request, RaftRequest};

    fn options(dir: &Path, snapshot: PathBuf) -> RestoreOptions {
        RestoreOptions {
            snapshot,
            name: "m1".into(),
            data_dir: Some(dir.join("m1.etcd")),
            wal_dir: None,
            initial_cluster: vec![
                ("m1".into(), "http://127.0.0.1:12380".into()),
                ("m2".into(), "http://127.0.0.1:22380".into()),
            ],
            initial_cluster_token: "restored".into(),
            initial_advertise_peer_urls: vec!["http://127.0.0.1:12380".into()],
            skip_hash_check: false,
            bump_revision: 0,
            mark_compacted: false,
        }
    }

    /// A backend with one key and old Raft state, saved as `etcdctl
    /// snapshot save` saves it (db bytes, then their SHA-256).
    fn saved_snapshot(dir: &Path) -> PathBuf {
        let db = dir.join("source.db");
        let backend = Backend::open(&db).unwrap();
        let mut batch = backend.begin_apply().unwrap();
        batch
            .apply(&RaftRequest {
                caller: None,
                id: 0,
                request: Some(Request::Put(PutRequest {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })),
            })
            .unwrap();
        batch.set_meta("raft/applied", b"old").unwrap();
        batch.set_meta("cluster/served", b"1").unwrap();
        batch.commit(true).unwrap();
        drop(backend);
        let mut bytes = fs::read(&db).unwrap();
        let sha = Sha256::digest(&bytes).to_vec();
        bytes.extend_from_slice(&sha);
        let saved = dir.join("saved.db");
        fs::write(&saved, bytes).unwrap();
        saved
    }

    #[test]
    fn restores_data_with_a_new_identity_and_no_raft_state() {
        let dir = tempfile::tempdir().unwrap();
        let saved = saved_snapshot(dir.path());
        let restored = restore(&options(dir.path(), saved)).unwrap();
        let backend = Backend::open(&restored.snap_dir.join("db")).unwrap();
        let read = backend.read().unwrap();
        assert_eq!(read.current_revision().unwrap(), 2);
        assert_eq!(read.meta("raft/applied").unwrap(), None);
        assert_eq!(read.meta("cluster/served").unwrap(), None);
        drop(read);
        let identity = member::load_or_bootstrap(
            &backend,
            &Bootstrap {
                name: "ignored-on-restart",
                initial_cluster: &[],
                initial_advertise_peer_urls: &[],
                initial_cluster_token: "",
            },
        )
        .unwrap();
        assert!(!identity.is_new);
        assert_eq!(identity.member_id, restored.member_id);
        assert_eq!(identity.initial_members.len(), 2);
    }

    #[test]
    fn refuses_an_existing_data_dir_and_a_bad_hash() {
        let dir = tempfile::tempdir().unwrap();
        let saved = saved_snapshot(dir.path());
        let opts = options(dir.path(), saved.clone());
        fs::create_dir_all(opts.data_dir.as_ref().unwrap()).unwrap();
        let err = restore(&opts).unwrap_err();
        assert!(err.to_string().starts_with("data-dir "), "{err}");
        assert!(err.to_string().ends_with("m1.etcd\" exists"), "{err}");

        let mut bytes = fs::read(&saved).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let corrupt = dir.path().join("corrupt.db");
        fs::write(&corrupt, bytes).unwrap();
        let opts = options(&dir.path().join("b"), corrupt);
        let err = restore(&opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot missing hash but --skip-hash-check=false"
        );
        assert!(!opts.data_dir.as_ref().unwrap().exists());
    }

    #[test]
    fn a_raw_db_needs_skip_hash_check() {
        let dir = tempfile::tempdir().unwrap();
        saved_snapshot(dir.path());
        let raw = dir.path().join("source.db");
        let mut opts = options(dir.path(), raw);
        assert!(matches!(restore(&opts), Err(RestoreError::MissingHash)));
        opts.skip_hash_check = true;
        let restored = restore(&opts).unwrap();
        let backend = Backend::open(&restored.snap_dir.join("db")).unwrap();
        assert_eq!(backend.read().unwrap().current_revision().unwrap(), 2);
    }

    #[test]
    fn flags_are_checked_like_a_new_members() {
        let dir = tempfile::tempdir().unwrap();
        let saved = saved_snapshot(dir.path());
        let mut opts = options(dir.path(), saved);
        opts.name = "nobody".into();
        let err = restore(&opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "couldn't find local name \"nobody\" in the initial cluster configuration"
        );
        assert!(!dir.path().join("m1.etcd").exists());
    }
}
