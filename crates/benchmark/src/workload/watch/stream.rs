//! One gRPC Watch stream of the run: opening it with its watchers (timing
//! each creation), then counting the events it delivers and timing each one
//! against its put's ack.
//!
//! Owns the stream's I/O. Which keys it watches and how many events it
//! should see come from `plan`; the ack instants from `acks`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::acks::{delivery, AckTable, Delivery};
use super::WatchError;
use crate::connect::Conn;
use crate::progress::Progress;
use crate::report::{status_text, Recording};

/// A stream whose watchers are all created.
pub struct OpenStream {
    /// Kept so the request side stays open while events flow: the server
    /// may take a closed request side as the client leaving.
    _requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
}

/// What opening one stream gave.
pub struct Opened {
    pub stream: OpenStream,
    /// Latency of each watcher's creation: create sent → created received.
    pub creation: Recording,
    /// The store's revision in the last created response's header.
    pub revision: i64,
}

/// Opens a Watch stream on `channel` and creates one watcher per key,
/// waiting until the server has confirmed every one.
pub async fn open(channel: Conn, keys: Vec<Vec<u8>>, prev_kv: bool) -> Result<Opened, WatchError> {
    // Every create is queued before the call: a server may hold back the
    // response headers (which the call waits for) until it has something
    // to send, which it will not before it reads a request.
    let (tx, rx) = mpsc::channel(keys.len() + 1);
    let mut sent = VecDeque::with_capacity(keys.len());
    for key in keys {
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key,
                prev_kv,
                ..WatchCreateRequest::default()
            })),
        };
        sent.push_back(Instant::now());
        tx.send(create).await.map_err(|_| WatchError::Closed)?;
    }
    let mut responses = WatchClient::new(channel)
        .watch(ReceiverStream::new(rx))
        .await
        .map_err(|s| WatchError::Create(status_text(&s)))?
        .into_inner();

    let mut creation = Recording::default();
    let mut revision = 0;
    // A server answers a stream's creates in the order it got them.
    while let Some(sent_at) = sent.front().copied() {
        let response = match responses.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Err(WatchError::Closed),
            Err(status) => return Err(WatchError::Create(status_text(&status))),
        };
        if !response.created {
            continue;
        }
        if response.canceled {
            return Err(WatchError::Create(response.cancel_reason));
        }
        sent.pop_front();
        creation.record(sent_at.elapsed(), Ok(()));
        if let Some(header) = response.header {
            revision = revision.max(header.revision);
        }
    }
    Ok(Opened {
        stream: OpenStream {
            _requests: tx,
            responses,
        },
        creation,
        revision,
    })
}

/// What one stream received during the put phase.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Put ack → event received, per event (zero for events before ack).
    pub latencies: Vec<Duration>,
    /// Put sent → event received, for events whose put's ack was in.
    pub since_sent: Vec<Duration>,
    /// (revision, received) of events that came before their put's ack, to
    /// be timed since their put was sent once the run is over.
    pub early: Vec<(i64, Instant)>,
    /// Events received, all watchers of the stream together.
    pub received: u64,
    /// Of those, events that arrived before their put's ack.
    pub before_ack: u64,
    /// When the last event arrived.
    pub last: Option<Instant>,
    /// Why the stream ended early, if it did.
    pub error: Option<String>,
}

/// Reads events until `expected` have arrived, the stream fails, or `stop`
/// turns true. Each arrival adds to `progress`, which the run watches to
/// tell a slow stream from a stalled one.
pub async fn receive(
    stream: OpenStream,
    expected: u64,
    acks: Arc<AckTable>,
    mut stop: watch::Receiver<bool>,
    progress: Progress,
) -> Deliveries {
    let OpenStream {
        _requests,
        mut responses,
    } = stream;
    let mut got = Deliveries {
        latencies: Vec::with_capacity(usize::try_from(expected).unwrap_or(0)),
        ..Deliveries::default()
    };
    while got.received < expected {
        let response = tokio::select! {
            message = responses.message() => message,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let response = match response {
            Ok(Some(response)) => response,
            Ok(None) => {
                got.error = Some("watch stream closed by the server".to_string());
                break;
            }
            Err(status) => {
                got.error = Some(status_text(&status));
                break;
            }
        };
        if response.canceled {
            got.error = Some(format!("watch canceled: {}", response.cancel_reason));
            break;
        }
        if response.events.is_empty() {
            continue;
        }
        let now = Instant::now();
        for event in &response.events {
            let revision = event.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            match delivery(acks.get(revision), now) {
                Delivery::Known {
                    since_sent,
                    since_ack,
                } => {
                    got.since_sent.push(since_sent);
                    got.latencies.push(since_ack.unwrap_or(Duration::ZERO));
                    got.before_ack += u64::from(since_ack.is_none());
                }
                Delivery::BeforeAck => {
                    got.latencies.push(Duration::ZERO);
                    got.before_ack += 1;
                    got.early.push((revision, now));
                }
            }
        }
        let n = response.events.len() as u64;
        got.received += n;
        got.last = Some(now);
        progress.add(n);
    }
    got
}
