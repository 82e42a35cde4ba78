//! `--auto-compaction-mode periodic` with a short retention compacts history
//! older than the retention on its own, as in etcd; history inside the
//! retention window stays readable.

use crate::common;

use std::time::{Duration, Instant};

use common::{grpc_status, Node};
use etcd_client::GetOptions;
use tonic::Code;

/// How long to wait for the compactor before failing (retention 1 s:
/// etcd's first compaction comes one retention after start).
const DEADLINE: Duration = Duration::from_secs(20);

both!(periodic_auto_compaction, |target| async move {
    let node = Node::start(
        target,
        &[
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1s",
        ],
    )
    .await;
    let mut client = node.client().await;
    client.put("k", "v1", None).await.unwrap(); // rev 2
    client.put("k", "v2", None).await.unwrap(); // rev 3

    // Keep writing until revision 2 has been compacted away.
    let started = Instant::now();
    let mut i = 0;
    loop {
        i += 1;
        client.put("k", format!("v{i}"), None).await.unwrap();
        let old = client
            .get("k", Some(GetOptions::new().with_revision(2)))
            .await;
        if old.is_err() {
            let status = grpc_status(old);
            assert_eq!(status.code(), Code::OutOfRange);
            assert_eq!(
                status.message(),
                "etcdserver: mvcc: required revision has been compacted"
            );
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "revision 2 was not auto-compacted within {DEADLINE:?}:\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The newest value is untouched.
    let now = client.get("k", None).await.unwrap();
    assert_eq!(now.kvs()[0].value(), format!("v{i}").as_bytes());
});
