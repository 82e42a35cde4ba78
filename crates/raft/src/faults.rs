//! A test facility: peer faults injected from a file, so integration tests
//! can partition a cluster of real processes without privileges (no network
//! namespaces, no firewall rules).
//!
//! When the variable `ETCD_RS_PEER_FAULTS_FILE` names a file, every
//! member-to-member client ([`crate::network`]'s Raft RPCs and snapshots,
//! [`crate::leader_client`]'s calls to the leader) asks [`blocked`] before
//! sending, and treats a listed member as unreachable. The file holds one
//! member id in hex per line (as `etcdctl member list` prints them); blank
//! lines and lines starting with `#` are ignored, as is a missing file (no
//! faults). To cut member A off from B and C, A's file lists B and C, and B's
//! and C's files list A: each side refuses to send to the other, and answers
//! only travel on requests, so nothing crosses. Emptying the files heals.
//!
//! The file is re-read only when its modification time, size or inode
//! change, and looked at (one `stat`) at most every [`RECHECK`]; without the
//! variable the check is a single load of a once-initialised value. Write
//! the file atomically (write a temporary file, rename it over) so a reader
//! never sees half a list.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable naming the fault file.
pub const FAULTS_FILE_ENV: &str = "ETCD_RS_PEER_FAULTS_FILE";

/// How stale the view of the file may be.
pub const RECHECK: Duration = Duration::from_millis(50);

/// Whether sending to member `target` is currently forbidden.
pub fn blocked(target: u64) -> bool {
    static FAULTS: OnceLock<Option<FaultFile>> = OnceLock::new();
    FAULTS
        .get_or_init(|| std::env::var_os(FAULTS_FILE_ENV).map(|p| FaultFile::new(p.into())))
        .as_ref()
        .is_some_and(|f| f.blocks(target))
}

/// The fault file and what was last read from it.
struct FaultFile {
    path: PathBuf,
    state: Mutex<Seen>,
}

struct Seen {
    /// When the file was last looked at; `None` before the first look.
    checked: Option<Instant>,
    /// (mtime in ns, size, inode) of the version read.
    stamp: Option<(i128, u64, u64)>,
    blocked: HashSet<u64>,
}

impl FaultFile {
    fn new(path: PathBuf) -> FaultFile {
        FaultFile {
            path,
            state: Mutex::new(Seen {
                checked: None,
                stamp: None,
                blocked: HashSet::new(),
            }),
        }
    }

    fn blocks(&self, target: u64) -> bool {
        // A poisoned lock only means another caller panicked mid-refresh;
        // the set it left is still a valid (if stale) list.
        let mut seen = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if seen
            .checked
            .is_none_or(|at| now.duration_since(at) >= RECHECK)
        {
            seen.checked = Some(now);
            self.refresh(&mut seen);
        }
        seen.blocked.contains(&target)
    }

    /// Re-reads the file if it changed since the last read.
    fn refresh(&self, seen: &mut Seen) {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            (mtime, m.size(), m.ino())
        });
        if stamp == seen.stamp {
            return;
        }
        let text = match stamp {
            Some(_) => std::fs::read_to_string(&self.path).unwrap_or_default(),
            None => String::new(),
        };
        seen.stamp = stamp;
        seen.blocked = parse(&text);
        tracing::warn!(
            file = %self.path.display(),
            blocked = ?seen.blocked.iter().map(|id| format!("{id:x}")).collect::<Vec<_>>(),
            "peer fault file changed (test facility)"
        );
    }
}

/// The member ids listed in a fault file; unparsable lines are skipped.
fn parse(text: &str) -> HashSet<u64> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| u64::from_str_radix(l.trim_start_matches("0x"), 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_ids_and_skips_noise() {
        let ids = parse("8e9e05c52164694d\n\n# comment\n0x10\nnot-hex\n  91bc3c398fb3c146  \n");
        assert_eq!(
            ids,
            HashSet::from([0x8e9e05c52164694d, 0x10, 0x91bc3c398fb3c146])
        );
    }

    #[test]
    fn follows_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults");
        let file = FaultFile::new(path.clone());
        assert!(!file.blocks(1), "a missing file blocks nothing");

        let install = |body: &str| {
            let tmp = dir.path().join("tmp");
            std::fs::write(&tmp, body).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        };
        install("1\nff\n");
        // Force the next call to look at the file now.
        file.state.lock().unwrap().checked = None;
        assert!(file.blocks(1) && file.blocks(0xff) && !file.blocks(2));

        install("");
        file.state.lock().unwrap().checked = None;
        assert!(!file.blocks(1));
    }
}
