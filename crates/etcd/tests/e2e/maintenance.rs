//! Maintenance Snapshot, Hash, HashKV and Defragment on a single member:
//! `etcdctl snapshot save`, HashKV equal to etcd 3.4.23's for the same
//! history (compared side by side), HashKV's errors, hashes stable across a
//! restart, and `etcdctl defrag`.
//!
//! Not here: Status and alarms (`etcdctl_cluster.rs`), multi-member hashes.

use crate::common;

use common::{assert_status, etcdctl, etcdctl_ok, Node, Target};
use etcd_client::{
    Client, CompactionOptions, DeleteOptions, LeaseGrantOptions, PutOptions, Txn, TxnOp,
};

/// A history with puts, overwrites, deletes, a multi-op txn and a
/// re-created key; returns the store revision reached.
async fn write_history(c: &mut Client, round: u32) -> i64 {
    for i in 0..5 {
        c.put(format!("k{i}"), format!("v{i}-{round}"), None)
            .await
            .unwrap();
    }
    c.put("k1", "again", None).await.unwrap();
    c.put("empty", "", None).await.unwrap();
    c.delete("k2", None).await.unwrap();
    c.delete("k3", Some(DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
    c.txn(Txn::new().and_then(vec![
        TxnOp::put("t1", "a", None),
        TxnOp::put("t2", "b", Some(PutOptions::new())),
        TxnOp::delete("k4", None),
    ]))
    .await
    .unwrap();
    c.put("k2", "reborn", None).await.unwrap();
    // A lease with a client-chosen id, so both servers store the same one.
    let lease = 0x1000 + i64::from(round);
    c.lease_grant(60, Some(LeaseGrantOptions::new().with_id(lease)))
        .await
        .unwrap();
    c.put("leased", "v", Some(PutOptions::new().with_lease(lease)))
        .await
        .unwrap();
    c.get("k0", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
}

/// The hash `etcdctl endpoint hashkv -w json` prints.
async fn etcdctl_hashkv(node: &Node) -> u64 {
    let out = etcdctl_ok(node, &["endpoint", "hashkv", "-w", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["HashKV"]["hash"].as_u64().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 by the system's `sha256sum` (the test crate has no digest crate).
fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

both!(snapshot_save_succeeds, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut c = node.client().await;
    // Enough data for several 32 KiB chunks.
    let value = "x".repeat(1000);
    for i in 0..200 {
        c.put(format!("key{i}"), value.clone(), None).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.db");
    let out = etcdctl_ok(&node, &["snapshot", "save", file.to_str().unwrap()]).await;
    assert!(out.contains("Snapshot saved at"), "{out}");
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        (200_000..50_000_000).contains(&size),
        "implausible snapshot size {size}"
    );
    // The stream ends with the SHA-256 of everything before it, which
    // etcdctl keeps as the file's last 32 bytes.
    let bytes = std::fs::read(&file).unwrap();
    let (body, trailer) = bytes.split_at(bytes.len() - 32);
    assert_eq!(sha256_hex(body), hex(trailer));
    // The server keeps serving after the stream.
    assert_eq!(c.get("key7", None).await.unwrap().kvs().len(), 1);
});

/// The same history on our server and on etcd 3.4.23 gives the same HashKV,
/// at the current revision and at past ones, before and after compaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_kv_equals_reference() {
    let ours = Node::start(Target::EtcdRs, &[]).await;
    let reference = Node::start(Target::Reference, &[]).await;
    let mut a = ours.client().await;
    let mut b = reference.client().await;

    let empty = (a.hash_kv(0).await.unwrap(), b.hash_kv(0).await.unwrap());
    assert_eq!(empty.0.hash(), empty.1.hash(), "empty store");

    let r1 = write_history(&mut a, 1).await;
    assert_eq!(r1, write_history(&mut b, 1).await);
    for rev in [0, 2, 5, r1 - 1, r1] {
        let (x, y) = (a.hash_kv(rev).await.unwrap(), b.hash_kv(rev).await.unwrap());
        assert_eq!(x.hash(), y.hash(), "hash at {rev}");
        assert_eq!(x.compact_version(), y.compact_version());
    }

    let at = r1 - 3;
    for c in [&mut a, &mut b] {
        c.compact(at, Some(CompactionOptions::new().with_physical()))
            .await
            .unwrap();
    }
    let r2 = write_history(&mut a, 2).await;
    assert_eq!(r2, write_history(&mut b, 2).await);
    for rev in [0, at + 1, r1, r2] {
        let (x, y) = (a.hash_kv(rev).await.unwrap(), b.hash_kv(rev).await.unwrap());
        assert_eq!(x.hash(), y.hash(), "hash at {rev} after compacting at {at}");
        assert_eq!(x.compact_version(), at);
        assert_eq!(y.compact_version(), at);
        assert_eq!(x.header().unwrap().revision(), r2);
    }

    // Everything deleted: etcd then counts every change kept at or below
    // the compacted revision (its keep set is empty).
    for c in [&mut a, &mut b] {
        c.delete("", Some(DeleteOptions::new().with_from_key()))
            .await
            .unwrap();
    }
    let (x, y) = (a.hash_kv(0).await.unwrap(), b.hash_kv(0).await.unwrap());
    assert_eq!(x.hash(), y.hash(), "all keys deleted");

    // etcdctl's view of it: `endpoint hashkv` prints the same hash.
    assert_eq!(
        etcdctl_hashkv(&ours).await,
        etcdctl_hashkv(&reference).await
    );
    assert_eq!(etcdctl_hashkv(&ours).await, u64::from(x.hash()));
}

both!(hash_kv_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut c = node.client().await;
    let rev = write_history(&mut c, 1).await;
    assert_status(
        c.hash_kv(rev + 1).await,
        tonic::Code::OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
    );
    c.compact(rev - 2, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    for bad in [1, rev - 3, rev - 2] {
        assert_status(
            c.hash_kv(bad).await,
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted",
        );
    }
    let ok = c.hash_kv(rev - 1).await.unwrap();
    assert_eq!(ok.compact_version(), rev - 2);
});

/// Our Hash and HashKV depend only on the data: a restart changes neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_survive_restart() {
    let mut node = Node::start(Target::EtcdRs, &[]).await;
    let mut c = node.client().await;
    let rev = write_history(&mut c, 1).await;
    c.compact(rev - 4, None).await.unwrap();
    write_history(&mut c, 2).await;
    let kv = c.hash_kv(0).await.unwrap().hash();
    let kv_past = c.hash_kv(rev).await.unwrap().hash();
    let all = c.hash().await.unwrap().hash();
    assert_ne!(kv, kv_past);
    drop(c);
    node.restart().await;
    let mut c = node.client().await;
    assert_eq!(c.hash_kv(0).await.unwrap().hash(), kv);
    assert_eq!(c.hash_kv(rev).await.unwrap().hash(), kv_past);
    assert_eq!(c.hash().await.unwrap().hash(), all);
    // And a write changes both.
    c.put("new", "x", None).await.unwrap();
    assert_ne!(c.hash_kv(0).await.unwrap().hash(), kv);
    assert_ne!(c.hash().await.unwrap().hash(), all);
}

// Defragment keeps every key and revision (HashKV unchanged), answers
// without a header as etcd 3.4 does, and the server keeps serving.
both!(defrag_keeps_data, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut c = node.client().await;
    write_history(&mut c, 1).await;
    let before = c.hash_kv(0).await.unwrap().hash();
    let out = etcdctl(&node, &["defrag"]).await;
    assert!(out.status.success(), "{out:?}");
    let resp = c.defragment().await.unwrap();
    assert!(resp.header().is_none());
    assert_eq!(c.hash_kv(0).await.unwrap().hash(), before);
    c.put("after", "defrag", None).await.unwrap();
    assert_eq!(
        c.get("after", None).await.unwrap().kvs()[0].value(),
        b"defrag"
    );
});

// After most of the data is deleted and compacted away, Defragment gives
// the space back: the file (Status.dbSize) shrinks, HashKV and the kept
// keys are unchanged.
both!(defrag_shrinks_the_file, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut c = node.client().await;
    write_history(&mut c, 1).await;
    let big = vec![b'x'; 16 * 1024];
    for i in 0..400 {
        c.put(format!("big/{i:03}"), big.clone(), None)
            .await
            .unwrap();
    }
    let deleted = c
        .delete("big/", Some(DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 400);
    let rev = deleted.header().unwrap().revision();
    c.compact(rev, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    let kept = c
        .get("k", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap()
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.value().to_vec(), kv.mod_revision()))
        .collect::<Vec<_>>();
    let hash = c.hash_kv(0).await.unwrap();
    let size_before = c.status().await.unwrap().db_size();
    assert!(size_before > 400 * 16 * 1024, "{size_before}");

    c.defragment().await.unwrap();

    let status = c.status().await.unwrap();
    let size_after = status.db_size();
    assert!(
        size_after * 2 < size_before,
        "{size_before} -> {size_after}"
    );
    assert!(status.raft_used_db_size() <= size_after);
    let after = c.hash_kv(0).await.unwrap();
    assert_eq!(after.hash(), hash.hash());
    assert_eq!(after.compact_version(), rev);
    assert_eq!(after.header().unwrap().revision(), rev);
    let again = c
        .get("k", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap()
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.value().to_vec(), kv.mod_revision()))
        .collect::<Vec<_>>();
    assert_eq!(again, kept);
    let put = c.put("after", "defrag", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), rev + 1);
});
