//! Raw gRPC bodies that no well-behaved client sends: bytes that are not a
//! valid protobuf, well-formed messages with unknown fields or empty
//! union members, and unknown methods. The server must answer with an error
//! status (never crash or hang), keep serving, and write nothing.

use crate::common;

use common::raw_codec::RawCodec;
use common::{rev, Node};
use etcd_client::GetOptions;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};

/// Sends `body` as the request message of the unary method at `path`.
async fn raw_call(node: &Node, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let channel = tonic::transport::Channel::from_shared(node.client_url())
        .expect("valid URL")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    grpc.unary(
        tonic::Request::new(body),
        PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// The top-level fields of a protobuf message: (field number, varint value),
/// with `None` for length-delimited fields (whose bytes are skipped).
fn top_level_fields(bytes: &[u8]) -> Vec<(u64, Option<u64>)> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let tag = read_varint(bytes, &mut pos);
        match tag & 7 {
            0 => fields.push((tag >> 3, Some(read_varint(bytes, &mut pos)))),
            2 => {
                let len = read_varint(bytes, &mut pos) as usize;
                pos += len;
                fields.push((tag >> 3, None));
            }
            other => panic!("unexpected wire type {other} in {bytes:?}"),
        }
    }
    fields
}

/// The store is untouched: no keys, still at revision 1.
async fn assert_untouched(node: &Node) {
    let mut client = node.client().await;
    let got = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .expect("server still serves");
    assert_eq!((got.count(), rev(got.header())), (0, 1));
}

both!(malformed_protobuf, |target| async move {
    let node = Node::start(target, &[]).await;
    let bodies: [(&str, Vec<u8>); 6] = [
        ("truncated length-delimited key", vec![0x0a, 0x05, b'a']),
        ("invalid wire type 7", vec![0x0f, 0x00]),
        ("key sent as a varint", vec![0x08, 0x01]),
        ("field number 0", vec![0x00, 0x01]),
        (
            "varint longer than 10 bytes",
            vec![
                0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ),
        ("truncated varint", vec![0x0a, 0x01, b'k', 0x18, 0xff]),
    ];
    // etcd (grpc-go) answers Internal "grpc: error unmarshalling request: ..."
    // with the decoder's own wording after the colon; only the code is
    // part of the contract here.
    for (what, body) in bodies {
        let status = raw_call(&node, "/etcdserverpb.KV/Put", body)
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::Internal, "{what}: {status:?}");
        assert!(!status.message().is_empty(), "{what}: {status:?}");
    }
    // Range and Txn decode the same way.
    let status = raw_call(&node, "/etcdserverpb.KV/Range", vec![0x0a, 0x05, b'a'])
        .await
        .expect_err("range");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let status = raw_call(&node, "/etcdserverpb.KV/Txn", vec![0x12, 0x05, 0x0a])
        .await
        .expect_err("txn");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_untouched(&node).await;
});

both!(well_formed_edge_messages, |target| async move {
    let node = Node::start(target, &[]).await;
    // An empty PutRequest is a valid message without a key.
    let status = raw_call(&node, "/etcdserverpb.KV/Put", vec![])
        .await
        .expect_err("empty put");
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "etcdserver: key is not provided")
    );
    // A txn whose success list holds an empty RequestOp (no request set).
    let status = raw_call(&node, "/etcdserverpb.KV/Txn", vec![0x12, 0x00])
        .await
        .expect_err("empty op");
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "etcdserver: key not found")
    );
    // A compare with a key but no target value: a VERSION compare against 0.
    // Compare{key: "k"} = field 3 (key) bytes; TxnRequest.compare = field 1.
    let compare = vec![0x1a, 0x01, b'k'];
    let mut txn = vec![0x0a, compare.len() as u8];
    txn.extend(compare);
    let reply = raw_call(&node, "/etcdserverpb.KV/Txn", txn)
        .await
        .expect("compare without target value");
    // TxnResponse: header (field 1, skipped), then succeeded (field 2) = 1.
    assert_eq!(
        top_level_fields(&reply),
        [(1, None), (2, Some(1))],
        "{reply:?}"
    );
    assert_untouched(&node).await;

    // Unknown fields are skipped: key "k", value "v", field 127 = 1.
    raw_call(
        &node,
        "/etcdserverpb.KV/Put",
        vec![0x0a, 0x01, b'k', 0x12, 0x01, b'v', 0xf8, 0x07, 0x01],
    )
    .await
    .expect("unknown field is ignored");
    let mut client = node.client().await;
    let got = client.get("k", None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"v");
    assert_eq!(rev(got.header()), 2);
});

both!(unknown_method, |target| async move {
    let node = Node::start(target, &[]).await;
    for path in ["/etcdserverpb.KV/Nope", "/etcdserverpb.Nope/Range"] {
        let status = raw_call(&node, path, vec![0x0a, 0x01, b'k'])
            .await
            .expect_err(path);
        assert_eq!(status.code(), Code::Unimplemented, "{path}: {status:?}");
    }
    assert_untouched(&node).await;
});
