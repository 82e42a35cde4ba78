//! End to end: the real `etcd-benchmark watch` against a fake server on
//! 127.0.0.1:0 that keeps watchers per key and sends each put as an event
//! to every watcher of its key, as a real member would.

mod common;

use std::sync::{Arc, Mutex};

use common::{bench, serve, FakePut, PutOnly};
use etcd_proto::etcdserverpb::kv_server::KvServer;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::watch_server::{Watch, WatchServer};
use etcd_proto::etcdserverpb::{
    PutRequest, PutResponse, ResponseHeader, WatchRequest, WatchResponse,
};
use etcd_proto::mvccpb::{Event, KeyValue};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

type Outbox = mpsc::UnboundedSender<Result<WatchResponse, Status>>;

#[derive(Default)]
struct State {
    revision: i64,
    next_watch_id: i64,
    /// (key, watch id, the stream it lives on)
    watchers: Vec<(Vec<u8>, i64, Outbox)>,
    puts: u64,
}

#[derive(Default, Clone)]
struct Fake {
    state: Arc<Mutex<State>>,
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..ResponseHeader::default()
    })
}

#[tonic::async_trait]
impl Watch for Fake {
    type WatchStream = UnboundedReceiverStream<Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                let Some(RequestUnion::CreateRequest(create)) = req.request_union else {
                    continue;
                };
                let mut state = state.lock().unwrap();
                let id = state.next_watch_id;
                state.next_watch_id += 1;
                state.watchers.push((create.key, id, tx.clone()));
                let _ = tx.send(Ok(WatchResponse {
                    header: header(state.revision),
                    watch_id: id,
                    created: true,
                    ..WatchResponse::default()
                }));
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

impl FakePut for Fake {
    fn put(&self, put: PutRequest) -> Result<PutResponse, Status> {
        let mut state = self.state.lock().unwrap();
        state.revision += 1;
        state.puts += 1;
        let revision = state.revision;
        for (key, id, outbox) in &state.watchers {
            if *key == put.key {
                let _ = outbox.send(Ok(WatchResponse {
                    header: header(revision),
                    watch_id: *id,
                    events: vec![Event {
                        kv: Some(KeyValue {
                            key: put.key.clone(),
                            value: put.value.clone(),
                            mod_revision: revision,
                            ..KeyValue::default()
                        }),
                        ..Event::default()
                    }],
                    ..WatchResponse::default()
                }));
            }
        }
        Ok(PutResponse {
            header: header(revision),
            ..PutResponse::default()
        })
    }
}

async fn serve_fake(fake: Fake) -> u16 {
    serve(
        Server::builder()
            .add_service(KvServer::new(PutOnly(fake.clone())))
            .add_service(WatchServer::new(fake)),
    )
    .await
}

#[tokio::test]
async fn every_watcher_on_one_key_sees_every_put() {
    let fake = Fake::default();
    let port = serve_fake(fake.clone()).await;
    let endpoint = format!("--endpoints=127.0.0.1:{port}");
    let (ok, stdout, stderr) = bench(&[
        &endpoint,
        "--json",
        "watch",
        "--streams=3",
        "--watch-per-stream=4",
        "--put-total=5",
    ])
    .await;
    assert!(ok, "stderr: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["workload"], "watch");
    assert_eq!(doc["creation"]["requests"], 12);
    assert_eq!(doc["puts"]["requests"], 5);
    assert_eq!(doc["report"]["requests"], 60);
    assert_eq!(doc["report"]["failures"], 0);
    // Every event is timed from its put's send too, early ones included.
    assert_eq!(doc["since_put_sent"]["requests"], 60);
    assert_eq!(doc["figures"]["events_expected"], 60.0);
    assert_eq!(doc["figures"]["events_received"], 60.0);
    assert!(doc["figures"]["events_per_sec"].as_f64().unwrap() > 0.0);
    let state = fake.state.lock().unwrap();
    assert_eq!((state.watchers.len(), state.puts), (12, 5));
    // Default key space of 1: every watcher watches the same 32-byte key.
    assert!(state.watchers.iter().all(|(k, _, _)| k == &vec![0u8; 32]));
}

#[tokio::test]
async fn distinct_keys_split_the_events() {
    let fake = Fake::default();
    let port = serve_fake(fake.clone()).await;
    let endpoint = format!("--endpoints=http://127.0.0.1:{port}");
    let (ok, stdout, stderr) = bench(&[
        &endpoint,
        "--conns=2",
        "--clients=2",
        "watch",
        "--streams=2",
        "--watch-per-stream=3",
        "--watched-key-total=6",
        "--key-space-size=6",
        "--sequential-keys",
        "--key-size=8",
        "--put-total=12",
    ])
    .await;
    assert!(ok, "stderr: {stderr}");
    // Six keys, one watcher each, two puts each: twelve events.
    assert!(
        stdout.starts_with("Watch creation summary:\n\nSummary:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nPut summary:\n"), "{stdout}");
    assert!(
        stdout.contains("\nWatch events received summary:\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  Events expected:\t12\n  Events received:\t12\n"),
        "{stdout}"
    );
    let state = fake.state.lock().unwrap();
    let mut keys: Vec<&Vec<u8>> = state.watchers.iter().map(|(k, _, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6);
}

#[tokio::test]
async fn bad_watch_flags_fail_before_dialing() {
    // Nothing listens on port 1; the flag error must come first.
    let (ok, _, stderr) = bench(&["--endpoints=127.0.0.1:1", "watch", "--streams=0"]).await;
    assert!(!ok);
    assert_eq!(stderr, "etcd-benchmark: --streams must be positive\n");
}
