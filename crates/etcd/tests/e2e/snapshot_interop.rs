//! Snapshots across the two implementations, with etcd's own tools:
//!
//! - a snapshot saved from etcd-rs passes etcd 3.4.23's `etcdctl snapshot
//!   status` and etcd 3.5.1's `etcdutl snapshot status` (same hash,
//!   revision and key count), is restored by etcd 3.4's `etcdctl snapshot
//!   restore` and by etcd 3.5.1's `etcdutl snapshot restore`, and a real
//!   etcd started on the restored data dir serves the same keys, values,
//!   revisions, versions, leases, users and roles, with an equal HashKV and
//!   the same compaction point;
//! - a snapshot saved from etcd is restored by our `etcdutl` into an
//!   etcd-rs member serving the same, HashKV equal;
//! - our `etcdutl snapshot status` prints what etcdutl 3.5.1 prints for
//!   both, in every output format;
//! - a snapshot taken through the Python etcd3 client passes both tools'
//!   status;
//! - a truncated or altered file is refused by our restore with etcd's
//!   messages, as etcd's restore refuses it, leaving no data dir behind.
//!
//! The data: overwrites, a delete, a Txn of several puts (sub-revisions), a
//! 1 MiB value (overflow pages), a lease with keys, users and a role with a
//! permission, a compaction, and writes after it.

use crate::common;

use std::path::{Path, PathBuf};

use common::etcd351::etcdutl_351_async;
use common::{etcdctl_ok, kvs, python, Node, Target};
use etcd_client::{
    Client, Compare, GetOptions, LeaseGrantOptions, Permission, PutOptions, Txn, TxnOp,
};
use serde_json::Value;

use crate::snapshot_restore::{restore, restore_flags};

const LEASE: i64 = 0x2a;

/// Writes the sample history; returns the revision it ends at.
async fn write_sample(c: &mut Client) -> i64 {
    for i in 0..40 {
        c.put(format!("key/{i:02}"), format!("value-{i}"), None)
            .await
            .unwrap();
    }
    c.put("key/07", "overwritten", None).await.unwrap();
    c.delete("key/13", None).await.unwrap();
    let ops: Vec<TxnOp> = (0..5)
        .map(|i| TxnOp::put(format!("txn/{i}"), format!("t{i}"), None))
        .collect();
    c.txn(Txn::new().when(Vec::<Compare>::new()).and_then(ops))
        .await
        .unwrap();
    c.put("big", vec![b'z'; 1 << 20], None).await.unwrap();
    c.lease_grant(600, Some(LeaseGrantOptions::new().with_id(LEASE)))
        .await
        .unwrap();
    for k in ["leased/a", "leased/b"] {
        c.put(k, "v", Some(PutOptions::new().with_lease(LEASE)))
            .await
            .unwrap();
    }
    c.user_add("alice", "alice-password", None).await.unwrap();
    c.role_add("reader").await.unwrap();
    c.role_grant_permission("reader", Permission::read("key/").with_prefix())
        .await
        .unwrap();
    c.user_grant_role("alice", "reader").await.unwrap();
    let compact_at = c
        .get("key/00", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
        - 3;
    c.compact(compact_at, None).await.unwrap();
    c.put("key/07", "after-compaction", None).await.unwrap();
    let last = c.delete("key/20", None).await.unwrap();
    last.header().unwrap().revision()
}

/// What a member serves of the sample, for comparing two members.
#[derive(Debug, PartialEq)]
struct Served {
    kvs: Vec<common::Kv>,
    revision: i64,
    hash_kv: u32,
    compact_revision: i64,
    leases: Vec<i64>,
    lease_keys: Vec<Vec<u8>>,
    users: Vec<String>,
    alice_roles: Vec<String>,
    reader_permissions: Vec<(Vec<u8>, Vec<u8>, i32)>,
}

async fn served(node: &Node) -> Served {
    let mut c = node.client().await;
    let all = c
        .get("", Some(GetOptions::new().with_from_key()))
        .await
        .unwrap();
    let revision = all.header().unwrap().revision();
    let hash = c.maintenance_client().hash_kv(revision).await.unwrap();
    let mut leases: Vec<i64> = c
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    leases.sort_unstable();
    let ttl = c
        .lease_time_to_live(
            LEASE,
            Some(etcd_client::LeaseTimeToLiveOptions::new().with_keys()),
        )
        .await
        .unwrap();
    assert!(ttl.ttl() > 0, "lease {LEASE:x} expired or lost: {ttl:?}");
    let mut lease_keys = ttl.keys().to_vec();
    lease_keys.sort();
    let mut users = c.user_list().await.unwrap().users().to_vec();
    users.sort();
    let alice_roles = c.user_get("alice").await.unwrap().roles().to_vec();
    let reader_permissions = c
        .role_get("reader")
        .await
        .unwrap()
        .permissions()
        .iter()
        .map(|p| (p.key().to_vec(), p.range_end().to_vec(), p.get_type()))
        .collect();
    Served {
        kvs: kvs(all.kvs()),
        revision,
        hash_kv: hash.hash(),
        compact_revision: hash.compact_version(),
        leases,
        lease_keys,
        users,
        alice_roles,
        reader_permissions,
    }
}

/// `etcdctl snapshot save` with Debian's etcdctl; the file.
async fn save(node: &Node, dir: &Path) -> PathBuf {
    let file = dir.join("backup.db");
    etcdctl_ok(node, &["snapshot", "save", file.to_str().unwrap()]).await;
    file
}

/// `snapshot status -w json` of `tool` (etcdctl 3.4 or etcdutl 3.5.1).
async fn status(tool: &Path, file: &Path) -> Value {
    let out = tokio::process::Command::new(tool)
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .output()
        .await
        .expect("run snapshot status");
    assert!(
        out.status.success(),
        "{} snapshot status failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// Both etcd tools read the file the same way, at `revision`.
async fn assert_etcd_tools_read(file: &Path, revision: i64) {
    let s34 = status(Path::new(common::ETCDCTL), file).await;
    let s35 = status(&etcdutl_351_async().await, file).await;
    assert_eq!(s34, s35, "etcdctl 3.4 and etcdutl 3.5.1 disagree");
    assert_eq!(s34["revision"], revision, "{s34}");
    assert!(s34["totalKey"].as_u64().unwrap() > 40, "{s34}");
}

/// Our `etcdutl snapshot status` prints what etcdutl 3.5.1 prints, in
/// every output format, with the same exit code.
async fn assert_our_status_is_etcdutls(file: &Path) {
    let theirs = etcdutl_351_async().await;
    for format in ["simple", "json", "table", "fields", "protobuf"] {
        let mut seen = Vec::new();
        for tool in [Path::new(env!("CARGO_BIN_EXE_etcdutl")), theirs.as_path()] {
            let out = tokio::process::Command::new(tool)
                .args(["snapshot", "status", "-w", format])
                .arg(file)
                .output()
                .await
                .expect("run snapshot status");
            seen.push((out.status.code(), out.stdout, out.stderr));
        }
        assert_eq!(seen[0], seen[1], "-w {format}: ours, then etcdutl 3.5.1");
    }
}

/// A member of `target` restored from `file` by `target`'s tool, serving.
async fn restored_member(target: Target, file: &Path) -> Node {
    let mut node = Node::start(target, &[]).await;
    node.terminate().await;
    std::fs::remove_dir_all(node.data_dir()).unwrap();
    let out = restore(target, file, &restore_flags(&node, "restored")).await;
    assert!(
        out.status.success(),
        "{target:?} restore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.restart().await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_rs_snapshot_is_restored_and_served_by_etcd() {
    let source = Node::start(Target::EtcdRs, &[]).await;
    let revision = write_sample(&mut source.client().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = save(&source, dir.path()).await;
    assert_etcd_tools_read(&file, revision).await;
    assert_our_status_is_etcdutls(&file).await;

    let etcd = restored_member(Target::Reference, &file).await;
    let expected = served(&source).await;
    assert_eq!(served(&etcd).await, expected);
    assert!(expected.compact_revision > 1);

    // etcd 3.5.1's restore takes it too.
    let out = tokio::process::Command::new(etcdutl_351_async().await)
        .args(["snapshot", "restore"])
        .arg(&file)
        .arg(format!(
            "--data-dir={}",
            dir.path().join("restored-351").display()
        ))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "etcdutl 3.5.1 restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_snapshot_is_restored_and_served_by_etcd_rs() {
    let source = Node::start(Target::Reference, &[]).await;
    let revision = write_sample(&mut source.client().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = save(&source, dir.path()).await;
    assert_our_status_is_etcdutls(&file).await;

    let ours = restored_member(Target::EtcdRs, &file).await;
    assert_eq!(served(&ours).await, served(&source).await);
    // It takes writes from where etcd left off.
    let put = ours.client().await.put("new", "write", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), revision + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_etcd3_snapshot_passes_etcds_status() {
    let source = Node::start(Target::EtcdRs, &[]).await;
    let revision = write_sample(&mut source.client().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("python.db");
    let python = python::venv_python_async().await;
    let out = python::script_command(python, "etcd3_snapshot.py")
        .arg(source.endpoint())
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "etcd3_snapshot.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_etcd_tools_read(&file, revision).await;
}

/// The last stderr line of a restore, where both tools print `Error: ...`.
fn last_error(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rfind(|l| l.starts_with("Error:"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_snapshots_are_refused_as_etcd_refuses_them() {
    let source = Node::start(Target::EtcdRs, &[]).await;
    write_sample(&mut source.client().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = save(&source, dir.path()).await;
    let bytes = std::fs::read(&file).unwrap();

    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    let altered_file = dir.path().join("altered.db");
    std::fs::write(&altered_file, &altered).unwrap();

    for (case, file, wanted) in [
        (
            "truncated",
            &truncated,
            "Error: snapshot missing hash but --skip-hash-check=false",
        ),
        ("altered", &altered_file, "Error: expected sha256 ["),
    ] {
        let mut outs = Vec::new();
        for target in [Target::EtcdRs, Target::Reference] {
            // etcd leaves its half-restored data dir behind.
            let data_dir = dir.path().join(format!("restore-{case}-{target:?}"));
            let out = restore(
                target,
                file,
                &[format!("--data-dir={}", data_dir.display())],
            )
            .await;
            assert!(
                !out.status.success(),
                "{target:?} restored {}",
                file.display()
            );
            if target == Target::EtcdRs {
                assert!(!data_dir.exists(), "a half-restored data dir was left");
            }
            outs.push(last_error(&out));
        }
        assert!(outs[0].starts_with(wanted), "ours: {:?}", outs[0]);
        assert_eq!(
            outs[0],
            outs[1],
            "etcd-rs vs etcd 3.4 for {}",
            file.display()
        );
    }

    // Told to skip the hash check, a truncated file still fails (bbolt's
    // pages run past its end) and leaves nothing behind.
    let data_dir = dir.path().join("skip");
    let out = restore(
        Target::EtcdRs,
        &truncated,
        &[
            format!("--data-dir={}", data_dir.display()),
            "--skip-hash-check".to_string(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(!data_dir.exists());
}

/// `--bump-revision N --mark-compacted` (etcd 3.5.9+/3.6's restore flags,
/// which kube-apiserver's watch caches need after a restore): the restored
/// member's next write lands N revisions later and every older revision
/// reads as compacted. One without the other is refused as etcd refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_can_bump_and_compact_the_revision_etcd_rs() {
    let source = Node::start(Target::EtcdRs, &[]).await;
    let revision = write_sample(&mut source.client().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = save(&source, dir.path()).await;

    let mut node = Node::start(Target::EtcdRs, &[]).await;
    node.terminate().await;
    std::fs::remove_dir_all(node.data_dir()).unwrap();
    for bad in [&["--bump-revision=10"][..], &["--mark-compacted"][..]] {
        let mut args = restore_flags(&node, "bumped");
        args.extend(bad.iter().map(|s| s.to_string()));
        let out = restore(Target::EtcdRs, &file, &args).await;
        assert_eq!(out.status.code(), Some(128), "{bad:?}");
        assert_eq!(
            last_error(&out),
            "Error: --mark-compacted required if --revision-bump > 0"
        );
        assert!(!node.data_dir().exists());
    }
    let mut args = restore_flags(&node, "bumped");
    args.extend([
        "--bump-revision=1000".to_string(),
        "--mark-compacted".to_string(),
    ]);
    let out = restore(Target::EtcdRs, &file, &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.restart().await;

    let mut c = node.client().await;
    let current = c.get("key/00", None).await.unwrap();
    assert_eq!(current.header().unwrap().revision(), revision + 1000);
    assert_eq!(current.kvs()[0].value(), b"value-0");
    let old = c
        .get("key/00", Some(GetOptions::new().with_revision(revision)))
        .await
        .unwrap_err();
    assert!(
        old.to_string()
            .contains("required revision has been compacted"),
        "{old}"
    );
    let put = c.put("after", "restore", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), revision + 1001);
}
