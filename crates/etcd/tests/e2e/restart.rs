//! A clean restart (SIGTERM, then start again on the same data dir) keeps
//! everything: revision, data, history, the compaction point, and the
//! member and cluster ids.

use crate::common;

use common::{assert_status, kvs, rev, Kv, Node};
use etcd_client::{Client, GetOptions};
use tonic::Code;

/// What a client can observe about the whole store.
#[derive(Debug, PartialEq)]
struct Snapshot {
    revision: i64,
    cluster_id: u64,
    member_id: u64,
    data: Vec<Kv>,
    history: Vec<Vec<Kv>>,
}

/// Reads everything, and every readable historical revision from `from`.
async fn snapshot(client: &mut Client, from: i64) -> Snapshot {
    let all = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    let header = all.header().unwrap();
    let revision = header.revision();
    let mut history = Vec::new();
    for r in from..=revision {
        let at = client
            .get("", Some(GetOptions::new().with_all_keys().with_revision(r)))
            .await
            .unwrap();
        history.push(kvs(at.kvs()));
    }
    Snapshot {
        revision,
        cluster_id: header.cluster_id(),
        member_id: header.member_id(),
        data: kvs(all.kvs()),
        history,
    }
}

both!(restart_keeps_everything, |target| async move {
    let mut node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for i in 0..20 {
        client
            .put(format!("key/{:02}", i % 7), format!("value-{i}"), None)
            .await
            .unwrap(); // revs 2..=21
    }
    client.delete("key/03", None).await.unwrap(); // 22
    client
        .put("bin\x00\u{ff}", vec![0u8, 255, 1], None)
        .await
        .unwrap(); // 23
    client.compact(10, None).await.unwrap();
    let before = snapshot(&mut client, 10).await;
    assert_eq!(before.revision, 23);
    drop(client);

    node.terminate().await;
    node.restart().await;
    let mut client = node.client().await;
    let after = snapshot(&mut client, 10).await;
    assert_eq!(after, before);
    // The compaction point survived.
    assert_status(
        client
            .get("key/00", Some(GetOptions::new().with_revision(9)))
            .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    );
    assert_status(
        client.compact(10, None).await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    );
    // Writing resumes at the next revision; versions continue.
    let resp = client.put("key/00", "after-restart", None).await.unwrap();
    assert_eq!(rev(resp.header()), 24);
    let got = client.get("key/00", None).await.unwrap();
    assert_eq!(got.kvs()[0].version(), 4);
    assert_eq!(got.kvs()[0].create_revision(), 2);

    // Same ids through the cluster API too.
    let members = client.member_list().await.unwrap();
    assert_eq!(members.members().len(), 1);
    assert_eq!(members.members()[0].id(), before.member_id);
    assert_eq!(members.members()[0].name(), node.name());
    assert_eq!(members.header().unwrap().cluster_id(), before.cluster_id);
});

both!(restart_twice_and_fresh_store, |target| async move {
    // A store that never saw a write restarts at revision 1.
    let mut node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let empty = snapshot(&mut client, 1).await;
    assert_eq!(empty.revision, 1);
    node.restart().await;
    let mut client = node.client().await;
    assert_eq!(snapshot(&mut client, 1).await, empty);

    client.put("a", "1", None).await.unwrap();
    let one = snapshot(&mut client, 1).await;
    for _ in 0..2 {
        node.restart().await;
        let mut client = node.client().await;
        assert_eq!(snapshot(&mut client, 1).await, one);
    }
});
