//! A full disk (here: a per-file size limit, so no privileges are needed)
//! stops writes with an error and stops the server — never a silent loss.
//! After a restart with room again, every acknowledged write is there and
//! the server takes writes again.
//!
//! Ours only: etcd preallocates 64 MiB WAL files, so it cannot even start
//! under a per-file limit small enough to fill quickly.

use crate::common;

use std::time::Duration;

use common::{Node, Target};
use etcd_client::GetOptions;

/// Small enough to hit within a few dozen 100 KiB puts, large enough for the
/// server to start.
const FILE_SIZE_LIMIT: u64 = 3 * 1024 * 1024;
const VALUE_SIZE: usize = 100 * 1024;
const MAX_PUTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_stops_writes_and_loses_nothing() {
    let mut node = Node::start(Target::EtcdRs, &[]).await;
    node.set_file_size_limit(Some(FILE_SIZE_LIMIT));
    node.restart().await;

    let mut client = node.client().await;
    let value = vec![b'x'; VALUE_SIZE];
    let mut acked = Vec::new();
    let mut failed = false;
    for i in 0..MAX_PUTS {
        let key = format!("big/{i:04}");
        let put = tokio::time::timeout(
            Duration::from_secs(10),
            client.put(key.as_str(), value.clone(), None),
        )
        .await;
        match put {
            Ok(Ok(_)) => acked.push(key),
            Ok(Err(_)) | Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(
        failed,
        "{MAX_PUTS} puts of {VALUE_SIZE} bytes fit under a {FILE_SIZE_LIMIT}-byte file limit"
    );
    assert!(
        !acked.is_empty(),
        "not a single put succeeded before the limit"
    );

    // A server that can no longer persist writes must not linger as if
    // healthy: it exits with a failure status.
    let status = node.wait_exit(Duration::from_secs(30)).await;
    match status {
        Some(status) => assert!(
            !status.success(),
            "server exited successfully after a write failure"
        ),
        None => panic!(
            "server still running 30 s after a failed write:\n{}",
            node.log_tail()
        ),
    }

    node.set_file_size_limit(None);
    node.restart().await;
    let mut client = node.client().await;
    let all = client
        .get(
            "big/",
            Some(GetOptions::new().with_prefix().with_keys_only()),
        )
        .await
        .unwrap();
    let present: Vec<String> = all
        .kvs()
        .iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect();
    for key in &acked {
        assert!(
            present.contains(key),
            "acknowledged {key} lost after the disk filled"
        );
    }
    client.put("after", "ok", None).await.unwrap();
}
