//! End to end: the real `etcd-benchmark` binary against a fake KV service
//! served on 127.0.0.1:0, checking what reaches the server and what the
//! report says. The fake keeps the benchmark's tests independent of the
//! server crates (the benchmark talks to servers only over the wire).

mod common;

use std::sync::{Arc, Mutex};

use common::{bench, serve, FakePut, PutOnly};
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::{PutRequest, PutResponse};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::Status;

/// Records every Put; fails them all when `fail` is set.
#[derive(Default, Clone)]
struct FakeKv {
    puts: Arc<Mutex<Vec<PutRequest>>>,
    fail: bool,
}

impl FakePut for FakeKv {
    fn put(&self, request: PutRequest) -> Result<PutResponse, Status> {
        if self.fail {
            return Err(Status::unavailable("etcdserver: no leader"));
        }
        self.puts.lock().unwrap().push(request);
        Ok(PutResponse::default())
    }
}

/// Serves `kv` on a free loopback port and returns the port.
async fn serve_kv(kv: FakeKv) -> u16 {
    serve(Server::builder().add_service(KvServer::new(PutOnly(kv)))).await
}

#[tokio::test]
async fn put_sends_total_requests_over_the_key_space() {
    let kv = FakeKv::default();
    let port = serve_kv(kv.clone()).await;
    let endpoint = format!("--endpoints=http://127.0.0.1:{port}");
    let (ok, stdout, stderr) = bench(&[
        &endpoint,
        "--conns=2",
        "--clients=4",
        "--json",
        "put",
        "--total=50",
        "--key-size=8",
        "--val-size=16",
        "--sequential-keys",
        "--key-space-size=10",
    ])
    .await;
    assert!(ok, "stderr: {stderr}");

    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["workload"], "put");
    assert_eq!(doc["clients"], 4);
    assert_eq!(doc["report"]["requests"], 50);
    assert_eq!(doc["report"]["failures"], 0);
    assert_eq!(doc["report"]["histogram"].as_array().unwrap().len(), 11);

    let puts = kv.puts.lock().unwrap();
    assert_eq!(puts.len(), 50);
    assert!(puts.iter().all(|p| p.key.len() == 8 && p.value.len() == 16));
    let mut keys: Vec<&[u8]> = puts.iter().map(|p| p.key.as_slice()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10, "sequential keys cover the key space");
}

#[tokio::test]
async fn failed_puts_are_counted_not_fatal() {
    let port = serve_kv(FakeKv {
        fail: true,
        ..FakeKv::default()
    })
    .await;
    let endpoint = format!("--endpoints=127.0.0.1:{port}");
    let (ok, stdout, _) = bench(&[&endpoint, "put", "--total=7"]).await;
    assert!(ok);
    assert_eq!(
        stdout,
        "\nError distribution:\n  [7]\trpc error: code = Unavailable desc = etcdserver: no leader\n\n"
    );
}

#[tokio::test]
async fn unreachable_endpoint_fails_with_a_dial_error() {
    // Bind then drop, so the port is very likely closed.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("--endpoints=127.0.0.1:{port}");
    let (ok, _, stderr) = bench(&[&endpoint, "put", "--total=1"]).await;
    assert!(!ok);
    assert!(
        stderr.starts_with("etcd-benchmark: dial error: http://127.0.0.1:"),
        "{stderr}"
    );
}
