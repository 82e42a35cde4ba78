//! The Watch service (`etcdserverpb.Watch`): one bidirectional stream
//! carrying any number of watchers (etcd's v3rpc/watch.go).
//!
//! Owns the wire protocol on top of the hub (`crate::watch`): decoding
//! create/cancel/progress requests, watch ids, the created/canceled answers
//! and their headers, compaction notices, splitting large responses when a
//! watcher asked for `fragment`, the periodic progress notifications of
//! watchers with `progress_notify`, the stream-wide progress answer, and the
//! `hasleader` metadata. Which events a watcher gets, and when, is the hub's.
//!
//! Each call runs one task: it reads requests, forwards the hub's batches
//! and ticks timers, and answers in order on one channel. The responses of
//! one step (all watchers' responses to one committed batch, say) go down
//! the channel together, so the transport encodes and writes them at once
//! rather than one task switch per response. A client that stops
//! reading stops that task (gRPC flow control); its watchers then fall back
//! to catch-up in the hub, so nothing piles up in memory.

use foldhash::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::watch_create_request::FilterType;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::watch_server::Watch;
use etcd_proto::etcdserverpb::{
    encode_event, ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse,
};
use etcd_proto::mvccpb::Event;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::errors::EtcdError;
use crate::server::auth::Credentials;
use crate::server::EtcdServer;
use crate::watch::{
    Delivery, Filters, Hub, Span, WatchError, WatchSpec, WatchStream, WatcherKey, STREAM,
};

/// etcd's default period of progress notifications.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// etcd raises shorter configured periods to this.
pub const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The metadata key (and value) by which a client asks for a stream that
/// fails when the member has no leader.
const REQUIRE_LEADER_KEY: &str = "hasleader";
const REQUIRE_LEADER_VALUE: &str = "true";
/// Leader checks missed in a row before a `hasleader` stream is ended.
const MAX_NO_LEADER_CHECKS: u32 = 3;
/// gRPC overhead etcd adds to `--max-request-bytes` to get the size above
/// which a fragmenting watcher's responses are split.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;
/// Batches of responses (one per step of the session) waiting for the
/// transport, per stream.
const OUTBOUND_CAPACITY: usize = 16;

/// The responses of one step of a session, in order.
type Outbound = Vec<Result<WatchResponse, Status>>;
/// A step's responses are handed over in parts of about this many bytes, so
/// the channel holds at most [`OUTBOUND_CAPACITY`] such parts whatever the
/// watchers and values (one large event for a thousand watchers, say).
const OUTBOUND_PART_BYTES: usize = 1024 * 1024;

/// Timers of the service.
#[derive(Clone, Copy, Debug)]
pub struct WatchConfig {
    /// Period of progress notifications (`--experimental-watch-progress-
    /// notify-interval`); each stream adds up to a tenth of random jitter,
    /// as etcd does, so streams opened together do not tick together.
    pub progress_interval: Duration,
    /// How often a `hasleader` stream checks that the member knows a leader
    /// (etcd: once per election timeout).
    pub leader_check_interval: Duration,
}

impl WatchConfig {
    /// etcd's rules: a zero interval means the default, a shorter one than
    /// the minimum is raised to it.
    pub fn new(progress_interval: Duration, election_timeout: Duration) -> WatchConfig {
        let progress_interval = if progress_interval.is_zero() {
            DEFAULT_PROGRESS_INTERVAL
        } else if progress_interval < MIN_PROGRESS_INTERVAL {
            tracing::warn!(
                "min-watch-progress-notify-interval" = ?MIN_PROGRESS_INTERVAL,
                "adjusting watch progress notify interval to minimum period"
            );
            MIN_PROGRESS_INTERVAL
        } else {
            progress_interval
        };
        WatchConfig {
            progress_interval,
            leader_check_interval: election_timeout.max(Duration::from_millis(1)),
        }
    }
}

pub struct WatchService {
    server: Arc<EtcdServer>,
    hub: Hub,
    config: WatchConfig,
    /// Flips to true when the member stops: watch streams never end on
    /// their own, so they are ended then ("server stopped", which clients
    /// answer by reconnecting elsewhere) instead of holding the shutdown.
    shutdown: watch::Receiver<bool>,
}

impl WatchService {
    pub fn new(
        server: Arc<EtcdServer>,
        hub: Hub,
        config: WatchConfig,
        shutdown: watch::Receiver<bool>,
    ) -> WatchService {
        WatchService {
            server,
            hub,
            config,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = futures::stream::FlatMap<
        ReceiverStream<Outbound>,
        futures::stream::Iter<std::vec::IntoIter<Result<WatchResponse, Status>>>,
        fn(Outbound) -> futures::stream::Iter<std::vec::IntoIter<Result<WatchResponse, Status>>>,
    >;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let require_leader = requires_leader(request.metadata());
        if require_leader && self.server.leader().is_none() {
            return Err(EtcdError::NoLeader.into());
        }
        let credentials = Credentials::of(&request);
        let inbound = request.into_inner();
        let (out, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let (stream, batches) = self.hub.open_stream();
        let session = Session {
            server: self.server.clone(),
            credentials,
            stream,
            watchers: HashMap::default(),
            progress_waiting: false,
            max_response_bytes: self.server.limits().max_request_bytes + GRPC_OVERHEAD_BYTES,
            out,
            pending: Vec::new(),
            pending_bytes: 0,
        };
        tokio::spawn(session.run(
            inbound,
            batches,
            self.config,
            require_leader,
            self.shutdown.clone(),
        ));
        let flatten: fn(Outbound) -> _ = futures::stream::iter;
        Ok(Response::new(futures::StreamExt::flat_map(
            ReceiverStream::new(rx),
            flatten,
        )))
    }
}

/// What the wire side remembers of a watcher.
struct WireWatcher {
    watch_id: i64,
    fragment: bool,
    progress_notify: bool,
    /// Whether the next progress tick should notify: cleared when events
    /// were sent since the last tick (etcd elides that notification).
    progress_due: bool,
}

/// The client went away: stop.
struct Gone;

/// One Watch call.
struct Session {
    server: Arc<EtcdServer>,
    /// What the stream's caller presented: each create is judged by it.
    credentials: Credentials,
    stream: WatchStream,
    /// By hub key, so a late batch for a canceled watcher whose id was
    /// reused is never sent under the new one.
    watchers: HashMap<WatcherKey, WireWatcher>,
    /// A WatchProgressRequest is waiting for every watcher to be synced.
    progress_waiting: bool,
    /// Responses of fragmenting watchers are split above this size.
    max_response_bytes: usize,
    out: mpsc::Sender<Outbound>,
    /// Responses of the current step, sent by [`Session::flush`].
    pending: Outbound,
    /// Roughly their encoded size: the events they carry (see
    /// [`OUTBOUND_PART_BYTES`]); other responses are small.
    pending_bytes: usize,
}

impl Session {
    async fn run(
        mut self,
        mut inbound: Streaming<WatchRequest>,
        mut batches: mpsc::Receiver<Delivery>,
        config: WatchConfig,
        require_leader: bool,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let out = self.out.clone();
        let resynced = self.stream.resynced();
        let period = jittered(config.progress_interval);
        let mut progress = interval_at(Instant::now() + period, period);
        progress.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let check = config.leader_check_interval;
        let mut leader = interval_at(Instant::now() + check, check);
        leader.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut leaderless_checks = 0;
        // A client may half-close its side and keep receiving, as with etcd.
        let mut reading = true;
        loop {
            let step = tokio::select! {
                req = inbound.message(), if reading => match req {
                    Ok(Some(req)) => {
                        self.request(req).await;
                        Ok(())
                    }
                    Ok(None) => {
                        reading = false;
                        Ok(())
                    }
                    Err(_) => Err(Gone),
                },
                Some(items) = batches.recv() => self.deliver(items).await,
                _ = progress.tick() => {
                    self.progress_tick();
                    Ok(())
                }
                _ = resynced.notified(), if self.progress_waiting => {
                    self.retry_progress();
                    Ok(())
                }
                _ = leader.tick(), if require_leader => {
                    if self.server.leader().is_some() {
                        leaderless_checks = 0;
                        Ok(())
                    } else {
                        leaderless_checks += 1;
                        if leaderless_checks >= MAX_NO_LEADER_CHECKS {
                            self.pending.push(Err(EtcdError::NoLeader.into()));
                            let _ = self.flush().await;
                            Err(Gone)
                        } else {
                            Ok(())
                        }
                    }
                }
                _ = out.closed() => Err(Gone),
                // A dropped sender also means the member is stopping.
                _ = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                    self.pending.push(Err(EtcdError::Stopped.into()));
                    let _ = self.flush().await;
                    Err(Gone)
                }
            };
            if step.is_err() || self.flush().await.is_err() {
                break;
            }
        }
        // Dropping the session's WatchStream cancels its watchers.
    }

    /// Queues `resp` behind the step's earlier responses.
    fn send(&mut self, resp: WatchResponse) {
        self.pending.push(Ok(resp));
    }

    /// Hands the step's responses to the transport.
    async fn flush(&mut self) -> Result<(), Gone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.out.send(batch).await.map_err(|_| Gone)
    }

    async fn request(&mut self, req: WatchRequest) {
        match req.request_union {
            Some(RequestUnion::CreateRequest(create)) => match self.permitted(&create).await {
                Ok(()) => self.create(create),
                Err(e) => self.refuse(e),
            },
            Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id),
            Some(RequestUnion::ProgressRequest(_)) if !self.progress_waiting => {
                self.progress_waiting = !self.stream.request_progress_all();
            }
            // Already waiting: one answer serves both. etcd ignores a
            // request it does not understand.
            Some(RequestUnion::ProgressRequest(_)) | None => {}
        }
    }

    /// Whether the stream's caller may read what `req` watches.
    async fn permitted(&self, req: &WatchCreateRequest) -> Result<(), EtcdError> {
        let caller = self.server.caller_of(&self.credentials).await?;
        self.server
            .check_watch(&caller, &req.key, &req.range_end)
            .await
    }

    /// etcd refuses a create it does not permit as created and canceled at
    /// once, under watch id -1, with the status's text as the reason.
    fn refuse(&mut self, e: EtcdError) {
        self.send(WatchResponse {
            header: Some(self.server.header(self.stream.revision())),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: crate::errors::go_status_text(&e),
            ..Default::default()
        });
    }

    fn create(&mut self, req: WatchCreateRequest) {
        let filters = Filters {
            no_put: req.filters.contains(&(FilterType::Noput as i32)),
            no_delete: req.filters.contains(&(FilterType::Nodelete as i32)),
        };
        let created = Span::new(&req.key, &req.range_end)
            .map_err(WatchError::from)
            .and_then(|span| {
                let spec = WatchSpec {
                    span,
                    start_revision: req.start_revision,
                    prev_kv: req.prev_kv,
                    filters,
                };
                self.stream.create(req.watch_id, spec)
            });
        let resp = match created {
            Ok(created) => {
                self.watchers.insert(
                    created.key,
                    WireWatcher {
                        watch_id: created.watch_id,
                        fragment: req.fragment,
                        progress_notify: req.progress_notify,
                        progress_due: true,
                    },
                );
                WatchResponse {
                    header: Some(self.server.header(created.revision)),
                    watch_id: created.watch_id,
                    created: true,
                    ..Default::default()
                }
            }
            // etcd answers a refused create as created and canceled at once,
            // under watch id -1.
            Err(e) => WatchResponse {
                header: Some(self.server.header(self.stream.revision())),
                watch_id: -1,
                created: true,
                canceled: true,
                cancel_reason: e.to_string(),
                ..Default::default()
            },
        };
        self.send(resp)
    }

    fn cancel(&mut self, watch_id: i64) {
        // Canceling an unknown id is silently ignored, as in etcd.
        let Some((key, revision)) = self.stream.cancel(watch_id) else {
            return;
        };
        self.watchers.remove(&key);
        self.send(WatchResponse {
            header: Some(self.server.header(revision)),
            watch_id,
            canceled: true,
            ..Default::default()
        });
    }

    async fn deliver(&mut self, delivery: Delivery) -> Result<(), Gone> {
        // A catch-up delivery's slot is held until its responses are handed
        // to the transport, bounding what catch-up keeps in memory.
        let Delivery { batches, slot } = delivery;
        // The batches of one delivery share a revision: build its header once
        // (a header reads Raft's status).
        let mut header: Option<ResponseHeader> = None;
        let mut encoded = EncodedEvents::default();
        for batch in batches {
            if batch.watcher == STREAM {
                self.send(WatchResponse {
                    header: Some(self.server.header(batch.revision)),
                    watch_id: batch.watch_id,
                    ..Default::default()
                });
                continue;
            }
            let Some(w) = self.watchers.get_mut(&batch.watcher) else {
                continue; // canceled meanwhile
            };
            if batch.compact_revision != 0 {
                let watch_id = w.watch_id;
                self.watchers.remove(&batch.watcher);
                self.stream.forget(watch_id);
                // etcd's compaction notice carries no header revision.
                self.send(WatchResponse {
                    header: Some(self.server.header(0)),
                    watch_id,
                    canceled: true,
                    compact_revision: batch.compact_revision,
                    ..Default::default()
                });
                continue;
            }
            if !batch.events.is_empty() {
                w.progress_due = false;
            }
            let fragment = w.fragment;
            let header = match header {
                Some(h) if h.revision == batch.revision => h,
                _ => *header.insert(self.server.header(batch.revision)),
            };
            if fragment {
                let resp = WatchResponse {
                    header: Some(header),
                    watch_id: w.watch_id,
                    events: batch.events.iter().map(|e| (**e).clone()).collect(),
                    ..Default::default()
                };
                for part in fragments(resp, self.max_response_bytes) {
                    self.pending_bytes += part.encoded_len();
                    self.send(part);
                }
            } else {
                let events = encoded.of(&batch.events).to_vec();
                // The events are the bulk of a response: enough to bound
                // the step's parts without sizing every header.
                self.pending_bytes += events.len();
                let resp = WatchResponse {
                    header: Some(header),
                    watch_id: w.watch_id,
                    encoded_events: events,
                    ..Default::default()
                };
                self.send(resp);
            }
            if self.pending_bytes >= OUTBOUND_PART_BYTES {
                self.flush().await?;
            }
        }
        self.flush().await?;
        drop(slot);
        self.retry_progress();
        Ok(())
    }

    /// etcd's progress tick: notify each `progress_notify` watcher that got
    /// no events since the previous tick (and is synced; the hub checks).
    fn progress_tick(&mut self) {
        let mut due = Vec::new();
        for (key, w) in self.watchers.iter_mut() {
            if w.progress_notify {
                if w.progress_due {
                    due.push(*key);
                }
                w.progress_due = true;
            }
        }
        for key in due {
            self.stream.request_progress(key);
        }
    }

    fn retry_progress(&mut self) {
        if self.progress_waiting && self.stream.request_progress_all() {
            self.progress_waiting = false;
        }
    }
}

/// The events of the last batch encoded, for the next batch with the same
/// events: the watchers of one committed write all get that write's event
/// (the hub shares one `Arc` per event among them), so a delivery encodes it
/// once, and each watcher's response copies the bytes.
#[derive(Default)]
struct EncodedEvents {
    /// The events encoded, by address. Every event of a delivery exists
    /// from its start and none is allocated while it is sent, so equal
    /// addresses within one delivery are the same event.
    events: Vec<usize>,
    bytes: Vec<u8>,
}

impl EncodedEvents {
    fn of(&mut self, events: &[Arc<Event>]) -> &[u8] {
        let same = events.len() == self.events.len()
            && events
                .iter()
                .zip(&self.events)
                .all(|(e, &at)| Arc::as_ptr(e) as usize == at);
        if !same {
            self.events.clear();
            self.bytes.clear();
            for e in events {
                self.events.push(Arc::as_ptr(e) as usize);
                encode_event(e, &mut self.bytes);
            }
        }
        &self.bytes
    }
}

/// Whether the client asked for a stream that fails without a leader
/// (clientv3's `WithRequireLeader`, which etcdctl watch always uses).
fn requires_leader(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata
        .get(REQUIRE_LEADER_KEY)
        .is_some_and(|v| v.as_bytes() == REQUIRE_LEADER_VALUE.as_bytes())
}

/// A period plus up to a tenth of it at random.
fn jittered(period: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let tenth = (period.as_nanos() / 10).max(1);
    period + Duration::from_nanos((u128::from(random) % tenth) as u64)
}

/// etcd's `sendFragments`: a response of a fragmenting watcher that reaches
/// `limit` bytes and holds several events is split into responses of whole
/// events, each under the limit unless a single event alone exceeds it; all
/// but the last are marked `fragment`.
pub fn fragments(resp: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if resp.encoded_len() < limit || resp.events.len() < 2 {
        return vec![resp];
    }
    let template = WatchResponse {
        header: resp.header,
        watch_id: resp.watch_id,
        created: resp.created,
        canceled: resp.canceled,
        compact_revision: resp.compact_revision,
        cancel_reason: resp.cancel_reason.clone(),
        fragment: true,
        events: Vec::new(),
        encoded_events: Vec::new(),
    };
    let base = template.encoded_len();
    let mut out = Vec::new();
    let mut current = template.clone();
    let mut size = base;
    for ev in resp.events {
        let add = prost::encoding::message::encoded_len(11, &ev);
        if !current.events.is_empty() && size + add >= limit {
            out.push(std::mem::replace(&mut current, template.clone()));
            size = base;
        }
        size += add;
        current.events.push(ev);
    }
    current.fragment = false;
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::ResponseHeader;
    use etcd_proto::mvccpb::{Event, KeyValue};

    fn event(size: usize) -> Event {
        Event {
            r#type: 0,
            kv: Some(KeyValue {
                key: b"k".to_vec(),
                value: vec![b'v'; size],
                mod_revision: 2,
                create_revision: 2,
                version: 1,
                lease: 0,
            }),
            prev_kv: None,
        }
    }

    fn response(sizes: &[usize]) -> WatchResponse {
        WatchResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 9,
                raft_term: 3,
            }),
            watch_id: 4,
            events: sizes.iter().map(|s| event(*s)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn small_or_single_event_responses_are_not_split() {
        let r = response(&[10, 10]);
        assert_eq!(fragments(r.clone(), 1000), vec![r]);
        let big = response(&[5000]);
        assert_eq!(fragments(big.clone(), 1000), vec![big]);
    }

    #[test]
    fn large_responses_split_into_whole_events() {
        let r = response(&[400, 400, 400, 2000, 10]);
        let parts = fragments(r.clone(), 1000);
        let counts: Vec<usize> = parts.iter().map(|p| p.events.len()).collect();
        assert_eq!(counts, [2, 1, 1, 1]);
        let flags: Vec<bool> = parts.iter().map(|p| p.fragment).collect();
        assert_eq!(flags, [true, true, true, false]);
        for p in &parts {
            assert_eq!(p.header, r.header);
            assert_eq!(p.watch_id, 4);
            assert!(p.encoded_len() < 1000 || p.events.len() == 1);
        }
        let joined: Vec<Event> = parts.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(joined, r.events);
    }

    /// The incremental size equals what prost encodes (the split decisions
    /// depend on it).
    #[test]
    fn fragment_sizes_are_exact() {
        let r = response(&[100, 200, 300]);
        let mut t = r.clone();
        t.events.clear();
        t.fragment = true;
        let sum: usize = r
            .events
            .iter()
            .map(|e| prost::encoding::message::encoded_len(11, e))
            .sum();
        let mut whole = r.clone();
        whole.fragment = true;
        assert_eq!(t.encoded_len() + sum, whole.encoded_len());
    }

    #[test]
    fn hasleader_metadata() {
        let mut md = tonic::metadata::MetadataMap::new();
        assert!(!requires_leader(&md));
        md.insert("hasleader", "false".parse().unwrap());
        assert!(!requires_leader(&md));
        md.insert("hasleader", "true".parse().unwrap());
        assert!(requires_leader(&md));
    }

    #[test]
    fn progress_interval_rules() {
        let e = Duration::from_secs(1);
        assert_eq!(
            WatchConfig::new(Duration::ZERO, e).progress_interval,
            DEFAULT_PROGRESS_INTERVAL
        );
        assert_eq!(
            WatchConfig::new(Duration::from_millis(5), e).progress_interval,
            MIN_PROGRESS_INTERVAL
        );
        assert_eq!(
            WatchConfig::new(Duration::from_secs(2), e).progress_interval,
            Duration::from_secs(2)
        );
        let j = jittered(Duration::from_secs(10));
        assert!(j >= Duration::from_secs(10) && j < Duration::from_secs(11));
    }
}
