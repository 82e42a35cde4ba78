//! Concurrent clients that drive a cluster and record what they did: the
//! two traffic profiles (an etcd-style mix and a kube-apiserver-style mix),
//! the watchers, and the [`Recorder`] that timestamps every call and watch
//! response on one clock.
//!
//! Each client is its own etcd-client connection over every member's
//! endpoint, so faults on one member are seen as a real client sees them.
//! Every value written is unique (`"<client>-<seq>"`), which lets the
//! checks tie any observed value to the one write that produced it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};
use tonic::Code;

use crate::cluster::{connect, CALL_TIMEOUT};
use crate::history::{
    self, Event, EventKind, History, KeyValue, Operation, Outcome, Request, Response, Rev,
    TxnWrite, WatchRequest, WatchResponse, OPEN,
};

/// Which mix of requests the clients send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Put, Get (linearizable, serializable, ranges with limits),
    /// DeleteRange, Txn, leases, Compact, Defragment.
    Etcd,
    /// kube-apiserver's use: creates and guarded updates/deletes as Txns,
    /// paged lists at a pinned revision, prefix watches with progress
    /// requests, the compactor's Txn + Compact, leases shared by many keys.
    Kubernetes,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Etcd => "etcd",
            Profile::Kubernetes => "kubernetes",
        }
    }
}

/// Keys per profile: few, so clients contend on them.
const KEYS: usize = 10;
/// Leases outlive every scenario: expiry is not what is tested.
const LEASE_TTL: i64 = 600;
/// The compactor's key, as kube-apiserver names it.
const COMPACT_KEY: &str = "compact_rev_key";

/// Timestamps and collects everything the run does.
pub struct Recorder {
    start: Instant,
    operations: Mutex<Vec<Operation>>,
    watches: Mutex<Vec<history::WatchStream>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            operations: Mutex::new(Vec::new()),
            watches: Mutex::new(Vec::new()),
        })
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Runs `call` as client `client`'s `request` and records it.
    pub async fn call<F>(&self, client: usize, request: Request, call: F) -> Outcome
    where
        F: Future<Output = Result<Response, etcd_client::Error>>,
    {
        let called = self.now();
        let outcome = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(response)) => Outcome::Ok(response),
            Ok(Err(error)) => classify(&error),
            Err(_) => Outcome::Indeterminate("client timeout".to_string()),
        };
        let ret = match outcome {
            Outcome::Indeterminate(_) => OPEN,
            _ => self.now(),
        };
        let mut operations = self.operations.lock().unwrap();
        let id = operations.len();
        operations.push(Operation {
            id,
            client,
            call: called,
            ret,
            request,
            outcome: outcome.clone(),
        });
        outcome
    }

    fn add_stream(&self, stream: history::WatchStream) {
        let mut watches = self.watches.lock().unwrap();
        let mut stream = stream;
        stream.id = watches.len();
        watches.push(stream);
    }

    pub fn history(&self) -> History {
        History {
            // In recording order: each id is its position.
            operations: self.operations.lock().unwrap().clone(),
            watches: self.watches.lock().unwrap().clone(),
        }
    }
}

/// Errors that mean the request was refused before it took effect; any
/// other error leaves the outcome open.
fn classify(error: &etcd_client::Error) -> Outcome {
    match error {
        etcd_client::Error::GRpcStatus(status) => match status.code() {
            Code::InvalidArgument
            | Code::NotFound
            | Code::OutOfRange
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::ResourceExhausted => Outcome::Rejected(status.message().to_string()),
            // The connection was never made, so nothing was sent.
            Code::Unavailable if never_sent(status.message()) => {
                Outcome::Rejected(status.message().to_string())
            }
            _ => Outcome::Indeterminate(format!("{:?}: {}", status.code(), status.message())),
        },
        etcd_client::Error::TransportError(e) if never_sent(&format!("{e:?}")) => {
            Outcome::Rejected(e.to_string())
        }
        other => Outcome::Indeterminate(other.to_string()),
    }
}

fn never_sent(message: &str) -> bool {
    message.contains("tcp connect error") || message.contains("Connection refused")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: text(kv.key()),
        value: text(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Rev {
    header.map_or(0, |h| h.revision())
}

/// Sends one request and turns the answer into a [`Response`].
pub async fn execute(
    client: &mut Client,
    request: &Request,
) -> Result<Response, etcd_client::Error> {
    match request {
        Request::Put { key, value, lease } => {
            let options = (*lease != 0).then(|| PutOptions::new().with_lease(*lease));
            let r = client.put(key.as_str(), value.as_str(), options).await?;
            Ok(Response::Put {
                revision: header_revision(r.header()),
            })
        }
        Request::Get {
            key,
            range_end,
            revision,
            limit,
            serializable,
        } => {
            let mut options = GetOptions::new()
                .with_revision(*revision)
                .with_limit(*limit);
            if let Some(end) = range_end {
                options = options.with_range(end.as_str());
            }
            if *serializable {
                options = options.with_serializable();
            }
            let r = client.get(key.as_str(), Some(options)).await?;
            Ok(Response::Get {
                revision: header_revision(r.header()),
                kvs: r.kvs().iter().map(key_value).collect(),
                more: r.more(),
                count: r.count(),
            })
        }
        Request::Delete { key, range_end } => {
            let options = range_end
                .as_ref()
                .map(|end| DeleteOptions::new().with_range(end.as_str()));
            let r = client.delete(key.as_str(), options).await?;
            Ok(Response::Delete {
                revision: header_revision(r.header()),
                deleted: r.deleted(),
            })
        }
        Request::Txn {
            key,
            expected_mod_revision,
            then,
        } => {
            let write = match then {
                TxnWrite::Put { value, lease } => {
                    let options = (*lease != 0).then(|| PutOptions::new().with_lease(*lease));
                    TxnOp::put(key.as_str(), value.as_str(), options)
                }
                TxnWrite::Delete => TxnOp::delete(key.as_str(), None),
            };
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    *expected_mod_revision,
                )])
                .and_then([write])
                .or_else([TxnOp::get(key.as_str(), None)]);
            let r = client.txn(txn).await?;
            let current = if r.succeeded() {
                None
            } else {
                r.op_responses().iter().find_map(|op| match op {
                    TxnOpResponse::Get(get) => get.kvs().first().map(key_value),
                    _ => None,
                })
            };
            Ok(Response::Txn {
                revision: header_revision(r.header()),
                succeeded: r.succeeded(),
                current,
            })
        }
        Request::LeaseGrant { ttl } => {
            let r = client.lease_grant(*ttl, None).await?;
            Ok(Response::LeaseGrant {
                revision: header_revision(r.header()),
                id: r.id(),
            })
        }
        Request::LeaseRevoke { id } => {
            let r = client.lease_revoke(*id).await?;
            Ok(Response::LeaseRevoke {
                revision: header_revision(r.header()),
            })
        }
        Request::Compact { revision } => {
            let r = client.compact(*revision, None).await?;
            Ok(Response::Compact {
                revision: header_revision(r.header()),
            })
        }
        Request::Defragment => {
            client.defragment().await?;
            Ok(Response::Defragment)
        }
    }
}

/// What one client remembers between requests: the revisions it saw per
/// key (for its guarded updates, as kube-apiserver's cache does) and the
/// leases it may attach.
struct ClientState {
    id: usize,
    rng: fastrand::Rng,
    seq: u64,
    seen: HashMap<String, Rev>,
    last_revision: Rev,
}

impl ClientState {
    fn value(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.id, self.seq)
    }

    fn learn(&mut self, outcome: &Outcome, request: &Request) {
        let Outcome::Ok(response) = outcome else {
            return;
        };
        self.last_revision = self.last_revision.max(response.revision());
        match (request, response) {
            (Request::Get { key, range_end, .. }, Response::Get { kvs, .. }) => {
                if range_end.is_none() && kvs.is_empty() {
                    self.seen.insert(key.clone(), 0);
                }
                for kv in kvs {
                    self.seen.insert(kv.key.clone(), kv.mod_revision);
                }
            }
            (Request::Put { key, .. }, Response::Put { revision }) => {
                self.seen.insert(key.clone(), *revision);
            }
            (
                Request::Delete {
                    key,
                    range_end: None,
                },
                _,
            ) => {
                self.seen.insert(key.clone(), 0);
            }
            (
                Request::Txn { key, then, .. },
                Response::Txn {
                    revision,
                    succeeded,
                    current,
                },
            ) => {
                let rev = match (succeeded, then, current) {
                    (true, TxnWrite::Put { .. }, _) => *revision,
                    (true, TxnWrite::Delete, _) => 0,
                    (false, _, Some(kv)) => kv.mod_revision,
                    (false, _, None) => 0,
                };
                self.seen.insert(key.clone(), rev);
            }
            _ => {}
        }
    }
}

/// State the clients of one run share: the leases granted and not revoked.
#[derive(Default)]
struct Shared {
    leases: Mutex<Vec<i64>>,
}

/// A running workload: clients and watchers until [`Traffic::stop`].
pub struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    recorder: Arc<Recorder>,
}

impl Traffic {
    /// Starts `clients` clients and the profile's watchers on `endpoints`.
    pub fn start(
        profile: Profile,
        endpoints: Vec<String>,
        clients: usize,
        seed: u64,
        recorder: Arc<Recorder>,
    ) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let mut tasks = Vec::new();
        for (i, request) in watch_requests(profile).into_iter().enumerate() {
            let watcher = Watcher {
                client: 1000 + i,
                request,
                endpoints: endpoints.clone(),
                recorder: recorder.clone(),
                stop: stop.clone(),
                progress_requests: profile == Profile::Kubernetes,
            };
            tasks.push(tokio::spawn(watcher.run()));
        }
        for id in 0..clients {
            let state = ClientState {
                id,
                rng: fastrand::Rng::with_seed(seed.wrapping_mul(31).wrapping_add(id as u64)),
                seq: 0,
                seen: HashMap::new(),
                last_revision: 0,
            };
            let worker = Worker {
                profile,
                state,
                endpoints: endpoints.clone(),
                recorder: recorder.clone(),
                stop: stop.clone(),
                shared: shared.clone(),
            };
            tasks.push(tokio::spawn(worker.run()));
        }
        Traffic {
            stop,
            tasks,
            recorder,
        }
    }

    /// Stops every client and watcher and waits for them.
    pub async fn stop(self) -> Arc<Recorder> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        self.recorder
    }
}

fn watch_requests(profile: Profile) -> Vec<WatchRequest> {
    let all = |prev_kv, progress_notify| WatchRequest {
        key: "\0".to_string(),
        range_end: Some("\0".to_string()),
        start_revision: 0,
        prev_kv,
        progress_notify,
    };
    let prefix = |prefix: &str| WatchRequest {
        key: prefix.to_string(),
        range_end: Some(history::prefix_end(prefix)),
        start_revision: 0,
        prev_kv: true,
        progress_notify: true,
    };
    match profile {
        Profile::Etcd => vec![all(true, false), all(false, true), prefix("key/1")],
        Profile::Kubernetes => vec![
            all(true, true),
            prefix("/registry/pods/"),
            prefix("/registry/leases/"),
        ],
    }
}

struct Worker {
    profile: Profile,
    state: ClientState,
    endpoints: Vec<String>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl Worker {
    async fn run(mut self) {
        let mut client = loop {
            match connect(&self.endpoints).await {
                Ok(client) => break client,
                Err(_) if !self.stop.load(Ordering::SeqCst) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(_) => return,
            }
        };
        let mut last_compact = Instant::now();
        let mut compact_target: Rev = 0;
        while !self.stop.load(Ordering::SeqCst) {
            // Client 0 also runs the compactor every few seconds, compacting
            // to the revision it saw one period earlier (kube-apiserver's
            // scheme: nothing younger than a period is ever compacted).
            if self.state.id == 0 && last_compact.elapsed() >= Duration::from_secs(3) {
                last_compact = Instant::now();
                self.compact(&mut client, &mut compact_target).await;
                continue;
            }
            let requests = match self.profile {
                Profile::Etcd => self.next_etcd(),
                Profile::Kubernetes => self.next_kubernetes(),
            };
            // A paged list continues while the server says there is more.
            let mut pending = requests;
            pending.reverse();
            while let Some(request) = pending.pop() {
                let outcome = self.send(&mut client, request.clone()).await;
                if let Outcome::Ok(response) = &outcome {
                    pending.extend(next_page(&request, response));
                }
            }
        }
    }

    async fn send(&mut self, client: &mut Client, request: Request) -> Outcome {
        let outcome = self
            .recorder
            .call(self.state.id, request.clone(), execute(client, &request))
            .await;
        self.state.learn(&outcome, &request);
        match (&request, &outcome) {
            (Request::LeaseGrant { .. }, Outcome::Ok(Response::LeaseGrant { id, .. })) => {
                self.shared.leases.lock().unwrap().push(*id);
            }
            (Request::LeaseRevoke { id }, _) => {
                self.shared.leases.lock().unwrap().retain(|l| l != id);
            }
            (_, Outcome::Indeterminate(_) | Outcome::Rejected(_)) => {
                // Do not hammer a cluster that is failing over.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => {}
        }
        outcome
    }

    fn lease(&mut self) -> i64 {
        let leases = self.shared.leases.lock().unwrap();
        if leases.is_empty() {
            0
        } else {
            leases[self.state.rng.usize(..leases.len())]
        }
    }

    fn next_etcd(&mut self) -> Vec<Request> {
        let rng = &mut self.state.rng;
        let key = format!("key/{}", rng.usize(..KEYS));
        let roll = rng.u32(..100);
        let request = match roll {
            0..=29 => {
                let value = self.state.value();
                let lease = if self.state.rng.u32(..10) == 0 {
                    self.lease()
                } else {
                    0
                };
                Request::Put { key, value, lease }
            }
            30..=49 => get(&key, None, 0, 0, false),
            50..=54 => get(&key, None, 0, 0, true),
            55..=59 => {
                let limit = self.state.rng.i64(0..4);
                get("key/", Some(history::prefix_end("key/")), 0, limit, false)
            }
            60..=61 => {
                // An older revision, which the compactor may have removed.
                let back = self.state.rng.i64(0..20);
                let revision = (self.state.last_revision - back).max(1);
                get("key/", Some(history::prefix_end("key/")), revision, 0, true)
            }
            62..=67 => Request::Delete {
                key,
                range_end: None,
            },
            68 => Request::Delete {
                key: "key/1".to_string(),
                range_end: Some("key/3".to_string()),
            },
            69..=83 => {
                let expected = self.state.seen.get(&key).copied().unwrap_or(0);
                let value = self.state.value();
                Request::Txn {
                    key,
                    expected_mod_revision: expected,
                    then: TxnWrite::Put { value, lease: 0 },
                }
            }
            84..=88 => Request::LeaseGrant { ttl: LEASE_TTL },
            89..=91 => {
                let lease = self.lease();
                if lease == 0 {
                    Request::LeaseGrant { ttl: LEASE_TTL }
                } else {
                    Request::LeaseRevoke { id: lease }
                }
            }
            92 if self.state.id == 1 && self.state.rng.u32(..4) == 0 => Request::Defragment,
            _ => get(&key, None, 0, 0, false),
        };
        vec![request]
    }

    fn next_kubernetes(&mut self) -> Vec<Request> {
        let rng = &mut self.state.rng;
        let roll = rng.u32(..100);
        let (kind, n) = if rng.u32(..4) == 0 {
            ("leases", rng.usize(..4))
        } else {
            ("pods", rng.usize(..KEYS))
        };
        let key = format!("/registry/{kind}/default/{kind}-{n}");
        let known = self.state.seen.get(&key).copied();
        match roll {
            // Create: If(ModRevision(k) == 0) Put. Leases hold keys with
            // a lease shared by many (kube's events and leases).
            0..=24 => {
                let value = self.state.value();
                let lease = if kind == "leases" { self.lease() } else { 0 };
                vec![Request::Txn {
                    key,
                    expected_mod_revision: 0,
                    then: TxnWrite::Put { value, lease },
                }]
            }
            // Update or delete guarded by the revision the client last saw.
            25..=59 => {
                let value = self.state.value();
                let lease = if kind == "leases" { self.lease() } else { 0 };
                vec![Request::Txn {
                    key,
                    expected_mod_revision: known.unwrap_or(0),
                    then: TxnWrite::Put { value, lease },
                }]
            }
            60..=67 => vec![Request::Txn {
                key,
                expected_mod_revision: known.unwrap_or(0),
                then: TxnWrite::Delete,
            }],
            // A get, as a quorum read.
            68..=79 => vec![get(&key, None, 0, 0, false)],
            // A paged list: the first page at the latest revision, the rest
            // pinned at it (sent one by one by `list` below).
            80..=91 => vec![get(
                "/registry/pods/",
                Some(history::prefix_end("/registry/pods/")),
                0,
                3,
                false,
            )],
            92..=95 => vec![Request::LeaseGrant { ttl: LEASE_TTL }],
            _ => {
                let lease = self.lease();
                if lease == 0 {
                    vec![Request::LeaseGrant { ttl: LEASE_TTL }]
                } else {
                    vec![Request::LeaseRevoke { id: lease }]
                }
            }
        }
    }

    /// The compactor: bump `compact_rev_key` with a guarded Txn (so only
    /// one apiserver compacts per period), then compact to the revision
    /// from the previous period.
    async fn compact(&mut self, client: &mut Client, target: &mut Rev) {
        let expected = self.state.seen.get(COMPACT_KEY).copied().unwrap_or(0);
        let value = self.state.value();
        let request = Request::Txn {
            key: COMPACT_KEY.to_string(),
            expected_mod_revision: expected,
            then: TxnWrite::Put { value, lease: 0 },
        };
        let outcome = self.send(client, request).await;
        if let Outcome::Ok(Response::Txn { revision, .. }) = outcome {
            if *target > 0 {
                let revision_to_compact = *target;
                self.send(
                    client,
                    Request::Compact {
                        revision: revision_to_compact,
                    },
                )
                .await;
            }
            *target = revision;
        }
    }
}

fn get(
    key: &str,
    range_end: Option<String>,
    revision: Rev,
    limit: i64,
    serializable: bool,
) -> Request {
    Request::Get {
        key: key.to_string(),
        range_end,
        revision,
        limit,
        serializable,
    }
}

/// Continues a paged list: kube-apiserver reads later pages at the first
/// page's revision, from just after the last key it got.
fn next_page(request: &Request, response: &Response) -> Option<Request> {
    let (
        Request::Get {
            range_end, limit, ..
        },
        Response::Get {
            revision,
            kvs,
            more: true,
            ..
        },
    ) = (request, response)
    else {
        return None;
    };
    let last = kvs.last()?;
    Some(Request::Get {
        key: format!("{}\0", last.key),
        range_end: range_end.clone(),
        revision: *revision,
        limit: *limit,
        serializable: false,
    })
}

/// One logical watcher: it opens a stream, records every response, and
/// when the stream breaks opens a new one from the revision after the last
/// it saw (as clientv3 and kube's reflector do).
struct Watcher {
    client: usize,
    request: WatchRequest,
    endpoints: Vec<String>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    progress_requests: bool,
}

impl Watcher {
    async fn run(self) {
        let mut next_revision: Rev = 0;
        while !self.stop.load(Ordering::SeqCst) {
            let mut request = self.request.clone();
            request.start_revision = next_revision;
            if let Some(last) = self.stream(request).await {
                next_revision = last + 1;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One stream; returns the last revision it is known to have seen
    /// everything up to.
    async fn stream(&self, request: WatchRequest) -> Option<Rev> {
        let mut client = connect(&self.endpoints).await.ok()?;
        let mut options = WatchOptions::new()
            .with_range(request.range_end.clone().unwrap_or_default())
            .with_start_revision(request.start_revision);
        if request.prev_kv {
            options = options.with_prev_key();
        }
        if request.progress_notify {
            options = options.with_progress_notify();
        }
        let stream = tokio::time::timeout(
            CALL_TIMEOUT,
            client.watch(request.key.as_str(), Some(options)),
        )
        .await
        .ok()?
        .ok()?;
        let (mut sender, mut stream) = stream.split();
        let mut record = history::WatchStream {
            id: 0,
            client: self.client,
            request: request.clone(),
            created_revision: 0,
            responses: Vec::new(),
        };
        let mut seen_up_to: Option<Rev> =
            (request.start_revision > 0).then(|| request.start_revision - 1);
        let mut progress_tick = tokio::time::interval(Duration::from_millis(700));
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let message = tokio::select! {
                m = stream.message() => m,
                _ = progress_tick.tick() => {
                    if self.progress_requests {
                        let _ = sender.request_progress().await;
                    }
                    continue;
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
            };
            let response = match message {
                Ok(Some(response)) => response,
                _ => break,
            };
            let header = header_revision(response.header());
            if response.created() {
                record.created_revision = header;
                if seen_up_to.is_none() {
                    seen_up_to = Some(header);
                }
                if !response.canceled() && response.events().is_empty() {
                    continue;
                }
            }
            let events: Vec<Event> = response.events().iter().filter_map(event).collect();
            if let Some(last) = events.last() {
                seen_up_to = Some(last.kv.mod_revision);
            } else if !response.canceled() {
                seen_up_to = seen_up_to.max(Some(header));
            }
            let canceled = response.canceled();
            record.responses.push(WatchResponse {
                time: self.recorder.now(),
                header_revision: header,
                progress_notify: events.is_empty() && !canceled,
                events,
                canceled,
                compact_revision: response.compact_revision(),
            });
            if canceled {
                if response.compact_revision() > 0 {
                    // Compacted away: start again at the oldest revision
                    // still there (kube relists here).
                    seen_up_to = Some(response.compact_revision() - 1);
                }
                break;
            }
        }
        self.recorder.add_stream(record);
        seen_up_to
    }
}

fn event(event: &etcd_client::Event) -> Option<Event> {
    let kv = key_value(event.kv()?);
    Some(Event {
        kind: match event.event_type() {
            EventType::Put => EventKind::Put,
            EventType::Delete => EventKind::Delete,
        },
        kv,
        prev_kv: event.prev_kv().map(key_value),
    })
}
