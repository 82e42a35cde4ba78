//! `--max-concurrent-streams`: how many HTTP/2 streams (gRPC calls, watches,
//! keep-alives) one client connection may have open at once. etcd hands the
//! number to its HTTP/2 server, which announces it in the connection's
//! SETTINGS frame; a client keeps further calls queued until a stream ends.
//! The test reads the announced value as any HTTP/2 client receives it: a
//! raw HTTP/2 connection, one gRPC call (so the server's SETTINGS have
//! arrived), then the peer's limit. Unset, etcd announces its default,
//! `math.MaxUint32`.

use crate::common;

use common::{Node, Target};

/// The SETTINGS_MAX_CONCURRENT_STREAMS the node's client port announces.
async fn announced_max_streams(node: &Node) -> usize {
    let url = node.client_url();
    let address = url.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect to the client port");
    let (client, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    // The connection runs beside the test; it ends when `client` drops.
    tokio::spawn(connection);
    let request = tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(format!("{url}/etcdserverpb.Maintenance/Status"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request");
    let mut client = client.ready().await.expect("ready");
    let (response, mut body) = client.send_request(request, false).expect("send");
    // An empty Status request: five bytes of gRPC framing, no message.
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .expect("send the request body");
    let response = response.await.expect("the Status answer");
    assert_eq!(response.status(), 200);
    client.current_max_send_streams()
}

/// With `--max-concurrent-streams`, that number is announced.
async fn a_set_limit_is_announced(target: Target) {
    let node = Node::start(target, &["--max-concurrent-streams", "3"]).await;
    assert_eq!(announced_max_streams(&node).await, 3);
}
both!(set_limit, a_set_limit_is_announced);

/// Without it, etcd's default: `math.MaxUint32`.
async fn the_default_is_the_largest_u32(target: Target) {
    let node = Node::start(target, &[]).await;
    assert_eq!(announced_max_streams(&node).await, u32::MAX as usize);
}
both!(default_limit, the_default_is_the_largest_u32);
