//! `etcdutl defrag --data-dir` on a stopped etcd-rs member (etcd-rs only:
//! etcd's own tool works on etcd's bbolt files, ours on our redb ones):
//! silent success that gives freed pages back and keeps every key; a member
//! that is running, or a data dir without a backend, refused with etcd's
//! "Failed to defragment etcd data[...]" line and exit status 1.

use crate::common;

use common::{Node, Target};
use etcd_client::GetOptions;

async fn etcdutl_defrag(data_dir: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_etcdutl"))
        .arg("defrag")
        .arg(format!("--data-dir={}", data_dir.display()))
        .output()
        .await
        .expect("run etcdutl defrag")
}

/// How many 64 KiB values outlive the compaction.
const KEPT: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defrag_of_a_stopped_member_etcd_rs() {
    let mut node = Node::start(Target::EtcdRs, &[]).await;
    let mut c = node.client().await;
    let value = vec![b'x'; 64 * 1024];
    for i in 0..200 {
        c.put(format!("big/{i:03}"), value.clone(), None)
            .await
            .unwrap();
    }
    // Written after the big values, the kept ones sit nearer the end of the
    // file: the space the big ones free is inside it, where only a defrag
    // gives it back (redb trims free pages at the end of the file itself,
    // sooner or later depending on how many commits follow).
    for i in 0..KEPT {
        c.put(format!("kept/{i:02}"), value.clone(), None)
            .await
            .unwrap();
    }
    let deleted = c
        .delete(
            "big/",
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    let revision = deleted.header().unwrap().revision();
    c.compact(revision, None).await.unwrap();

    // Refused while the member runs: it holds the backend.
    let running = etcdutl_defrag(&node.data_dir()).await;
    assert_eq!(running.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&running.stderr);
    assert!(
        stderr.starts_with(&format!(
            "Failed to defragment etcd data[{}] (",
            node.data_dir().display()
        )),
        "{stderr}"
    );

    node.terminate().await;
    let db = node.data_dir().join("member/snap/db");
    let before = std::fs::metadata(&db).unwrap().len();
    let out = etcdutl_defrag(&node.data_dir()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "etcd's defrag is silent"
    );
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(
        after * 2 < before,
        "defrag gave too little back: {before} -> {after}"
    );

    node.restart().await;
    let mut c = node.client().await;
    let all = c
        .get("", Some(GetOptions::new().with_from_key()))
        .await
        .unwrap();
    assert_eq!(all.header().unwrap().revision(), revision);
    assert_eq!(all.kvs().len(), KEPT);
    assert!(all.kvs().iter().all(|kv| kv.value() == value.as_slice()));

    let missing = tempfile::tempdir().unwrap();
    let out = etcdutl_defrag(missing.path()).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "Failed to defragment etcd data[{}] (open {}/member/snap/db: no such file or directory)\n",
            missing.path().display(),
            missing.path().display()
        )
    );
    assert!(!missing.path().join("member").exists(), "nothing created");
}
