//! The KV service's error replies: exact gRPC code and message for request
//! validation (empty key, put flags, unknown lease), revision bounds
//! (compacted, future) and request size. Also checks that a rejected request
//! writes nothing.

use crate::common;

use common::{assert_status, grpc_status, rev, Node};
use etcd_client::{CompactionOptions, DeleteOptions, GetOptions, PutOptions};
use tonic::Code;

const EMPTY_KEY: &str = "etcdserver: key is not provided";
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "etcdserver: mvcc: required revision is a future revision";
const TOO_LARGE: &str = "etcdserver: request is too large";

both!(empty_key, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert_status(client.get("", None).await, Code::InvalidArgument, EMPTY_KEY);
    assert_status(
        client
            .get("", Some(GetOptions::new().with_range("z")))
            .await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    assert_status(
        client.put("", "v", None).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    // The empty key is checked before the put flags.
    assert_status(
        client
            .put("", "v", Some(PutOptions::new().with_ignore_value()))
            .await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    assert_status(
        client.delete("", None).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    assert_status(
        client
            .delete("", Some(DeleteOptions::new().with_range("z")))
            .await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    assert_eq!(rev(client.get("a", None).await.unwrap().header()), 1);
});

both!(put_flag_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "v", None).await.unwrap(); // 2

    assert_status(
        client
            .put("k", "x", Some(PutOptions::new().with_ignore_value()))
            .await,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    );
    assert_status(
        client
            .put(
                "k",
                "x",
                Some(PutOptions::new().with_ignore_lease().with_lease(7)),
            )
            .await,
        Code::InvalidArgument,
        "etcdserver: lease is provided",
    );
    // Value is checked before lease, and both before the store is read.
    assert_status(
        client
            .put(
                "missing",
                "x",
                Some(
                    PutOptions::new()
                        .with_ignore_value()
                        .with_ignore_lease()
                        .with_lease(7),
                ),
            )
            .await,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    );
    assert_status(
        client
            .put("missing", "", Some(PutOptions::new().with_ignore_value()))
            .await,
        Code::InvalidArgument,
        "etcdserver: key not found",
    );
    assert_status(
        client
            .put("missing", "x", Some(PutOptions::new().with_ignore_lease()))
            .await,
        Code::InvalidArgument,
        "etcdserver: key not found",
    );
    assert_status(
        client
            .put("k", "x", Some(PutOptions::new().with_lease(0x1234)))
            .await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    assert_status(
        client
            .put("new", "x", Some(PutOptions::new().with_lease(-1)))
            .await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    // None of the rejected puts was written.
    let got = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    assert_eq!((got.count(), rev(got.header())), (1, 2));
    assert_eq!(got.kvs()[0].version(), 1);
});

both!(revision_bounds, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for i in 0..4 {
        client.put("k", format!("v{i}"), None).await.unwrap(); // 2..=5
    }
    let at = |r: i64| Some(GetOptions::new().with_revision(r));
    assert_status(client.get("k", at(6)).await, Code::OutOfRange, FUTURE);
    assert_status(client.get("k", at(1000)).await, Code::OutOfRange, FUTURE);

    client.compact(3, None).await.unwrap();
    assert_status(client.get("k", at(2)).await, Code::OutOfRange, COMPACTED);
    assert_status(client.get("k", at(1)).await, Code::OutOfRange, COMPACTED);
    assert_status(
        client
            .get(
                "",
                Some(
                    GetOptions::new()
                        .with_all_keys()
                        .with_revision(2)
                        .with_count_only(),
                ),
            )
            .await,
        Code::OutOfRange,
        COMPACTED,
    );
    // Future is reported before compacted is considered.
    assert_status(client.get("k", at(6)).await, Code::OutOfRange, FUTURE);
    assert_eq!(client.get("k", at(3)).await.unwrap().count(), 1);

    // Compaction bounds.
    assert_status(client.compact(3, None).await, Code::OutOfRange, COMPACTED);
    assert_status(client.compact(2, None).await, Code::OutOfRange, COMPACTED);
    assert_status(
        client
            .compact(2, Some(CompactionOptions::new().with_physical()))
            .await,
        Code::OutOfRange,
        COMPACTED,
    );
    assert_status(client.compact(6, None).await, Code::OutOfRange, FUTURE);
    assert_status(
        client
            .compact(100, Some(CompactionOptions::new().with_physical()))
            .await,
        Code::OutOfRange,
        FUTURE,
    );
    client.compact(4, None).await.unwrap();
    assert_status(client.get("k", at(3)).await, Code::OutOfRange, COMPACTED);
    // Errors did not move the revision.
    assert_eq!(rev(client.get("k", None).await.unwrap().header()), 5);
});

both!(compact_fresh_store, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert_status(client.compact(2, None).await, Code::OutOfRange, FUTURE);
    let resp = client.compact(1, None).await.unwrap();
    assert_eq!(rev(resp.header()), 1);
    assert_status(client.compact(1, None).await, Code::OutOfRange, COMPACTED);
    let got = client
        .get("k", Some(GetOptions::new().with_revision(1)))
        .await
        .unwrap();
    assert_eq!(got.count(), 0);
    let resp = client.put("k", "v", None).await.unwrap();
    assert_eq!(rev(resp.header()), 2);
});

both!(request_too_large, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    const LIMIT: usize = 3 * 512 * 1024; // --max-request-bytes default, 1.5 MiB

    // Just under the limit (leaving room for the request's own framing).
    let resp = client
        .put("ok", vec![b'a'; LIMIT - 1024], None)
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 2);
    // At or above the limit, but within gRPC's receive limit (limit + 512 KiB).
    for size in [LIMIT, LIMIT + 1, LIMIT + 300 * 1024] {
        assert_status(
            client.put("big", vec![b'b'; size], None).await,
            Code::InvalidArgument,
            TOO_LARGE,
        );
    }
    // The limit is on the whole request: two puts that fit alone do not
    // fit together in one txn.
    let half = vec![b'c'; LIMIT / 2 + 1024];
    assert_status(
        client
            .txn(etcd_client::Txn::new().and_then(vec![
                etcd_client::TxnOp::put("t1", half.clone(), None),
                etcd_client::TxnOp::put("t2", half, None),
            ]))
            .await,
        Code::InvalidArgument,
        TOO_LARGE,
    );
    // Past gRPC's receive limit the transport itself refuses the message.
    let status = grpc_status(client.put("huge", vec![b'd'; 3 << 20], None).await);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("larger than max"), "{status:?}");
    // Nothing was written, and the server still serves.
    let got = client
        .get("", Some(GetOptions::new().with_all_keys().with_keys_only()))
        .await
        .unwrap();
    assert_eq!((got.count(), rev(got.header())), (1, 2));
});

both!(max_request_bytes_flag, |target| async move {
    let node = Node::start(target, &["--max-request-bytes=4096"]).await;
    let mut client = node.client().await;
    client.put("ok", vec![b'a'; 2048], None).await.unwrap();
    assert_status(
        client.put("big", vec![b'b'; 8192], None).await,
        Code::InvalidArgument,
        TOO_LARGE,
    );
    assert_eq!(rev(client.get("ok", None).await.unwrap().header()), 2);
});
