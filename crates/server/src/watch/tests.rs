//! The hub end to end over a real backend: live delivery, replay, slow
//! readers falling back to catch-up, compaction, progress — and a randomised
//! run checking that every watcher gets exactly its events, in order, once.

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::{CompactionRequest, DeleteRangeRequest, PutRequest};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::RaftRequest;
use etcd_storage::{Backend, Committed};
use tokio::sync::mpsc;

use super::*;

struct Store {
    backend: Arc<Backend>,
    hub: Hub,
    _dir: tempfile::TempDir,
}

impl Store {
    fn new(config: HubConfig) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(Backend::open(&dir.path().join("db")).unwrap());
        let hub = Hub::new(backend.clone(), config).unwrap();
        Store {
            backend,
            hub,
            _dir: dir,
        }
    }

    /// Applies requests as one committed batch and publishes it.
    fn apply(&self, requests: Vec<Request>) -> Committed {
        let mut batch = self.backend.begin_apply().unwrap();
        for r in requests {
            batch
                .apply(&RaftRequest {
                    caller: None,
                    id: 0,
                    request: Some(r),
                })
                .unwrap();
        }
        let committed = batch.commit(false).unwrap();
        self.hub.publish(&committed);
        committed
    }

    fn put(&self, key: &str, value: &str) -> Committed {
        self.apply(vec![put(key, value)])
    }

    fn catch_up(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(catch_up::run(self.hub.clone()))
    }
}

fn put(key: &str, value: &str) -> Request {
    Request::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        prev_kv: false,
        ..Default::default()
    })
}

fn delete(key: &str) -> Request {
    Request::DeleteRange(DeleteRangeRequest {
        key: key.into(),
        ..Default::default()
    })
}

fn spec(key: &str, end: &str, start: i64) -> WatchSpec {
    WatchSpec::new(Span::new(key.as_bytes(), end.as_bytes()).unwrap(), start)
}

/// (key, revision, is_delete) of a batch's events.
fn summary(batch: &WatchBatch) -> Vec<(String, i64, bool)> {
    batch
        .events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
                e.r#type == EventType::Delete as i32,
            )
        })
        .collect()
}

async fn next(rx: &mut mpsc::Receiver<Delivery>) -> Vec<WatchBatch> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no delivery within 10 s")
        .expect("channel closed")
        .batches
}

/// The revisions of every event delivered until one at `last` arrives.
async fn revisions_through(rx: &mut mpsc::Receiver<Delivery>, last: i64) -> Vec<i64> {
    let mut revs = Vec::new();
    while revs.last() != Some(&last) {
        for b in next(rx).await {
            revs.extend(summary(&b).into_iter().map(|(_, r, _)| r));
        }
    }
    revs
}

#[tokio::test]
async fn live_delivery_to_matching_watchers() {
    let store = Store::new(HubConfig::default());
    let (mut stream, mut rx) = store.hub.open_stream();
    let a = stream.create(0, spec("a", "", 0)).unwrap();
    let range = stream.create(0, spec("a", "c", 0)).unwrap();
    assert_eq!((a.watch_id, range.watch_id), (0, 1));
    assert_eq!(a.revision, 1);

    store.put("b", "1"); // rev 2: the range only
    let got = next(&mut rx).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].watch_id, 1);
    assert_eq!(summary(&got[0]), [("b".into(), 2, false)]);
    assert_eq!(got[0].revision, 2);

    // One batch with two revisions: both watchers, each in one item.
    store.apply(vec![put("a", "1"), delete("a")]);
    let mut got = next(&mut rx).await;
    got.sort_by_key(|b| b.watch_id);
    assert_eq!(got.len(), 2);
    for b in &got {
        assert_eq!(
            summary(b),
            [("a".into(), 3, false), ("a".into(), 4, true)],
            "{b:?}"
        );
        assert_eq!(b.revision, 4);
        assert!(b.events.iter().all(|e| e.prev_kv.is_none()));
    }
    store.put("z", "1");
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn prev_kv_and_filters() {
    let store = Store::new(HubConfig::default());
    let (mut stream, mut rx) = store.hub.open_stream();
    let mut with_prev = spec("k", "", 0);
    with_prev.prev_kv = true;
    let mut no_put = spec("k", "", 0);
    no_put.filters.no_put = true;
    let mut no_delete = spec("k", "", 0);
    no_delete.filters.no_delete = true;
    stream.create(1, with_prev).unwrap();
    stream.create(2, no_put).unwrap();
    stream.create(3, no_delete).unwrap();

    store.put("k", "v1");
    store.put("k", "v2");
    store.apply(vec![delete("k")]);
    let mut by_id: std::collections::BTreeMap<i64, Vec<WatchBatch>> = Default::default();
    for _ in 0..3 {
        for b in next(&mut rx).await {
            by_id.entry(b.watch_id).or_default().push(b);
        }
    }
    let prev: Vec<Option<Vec<u8>>> = by_id[&1]
        .iter()
        .flat_map(|b| b.events.iter())
        .map(|e| e.prev_kv.as_ref().map(|p| p.value.clone()))
        .collect();
    assert_eq!(prev, [None, Some(b"v1".to_vec()), Some(b"v2".to_vec())]);
    let deletes: Vec<_> = by_id[&2].iter().flat_map(summary).collect();
    assert_eq!(deletes, [("k".into(), 4, true)]);
    let puts: Vec<_> = by_id[&3].iter().flat_map(summary).collect();
    assert_eq!(puts, [("k".into(), 2, false), ("k".into(), 3, false)]);
    assert!(by_id[&2][0].events[0].prev_kv.is_none());
}

#[tokio::test]
async fn ids_are_allocated_around_chosen_ones() {
    let store = Store::new(HubConfig::default());
    let (mut stream, _rx) = store.hub.open_stream();
    assert_eq!(stream.create(1, spec("a", "", 0)).unwrap().watch_id, 1);
    assert_eq!(stream.create(0, spec("a", "", 0)).unwrap().watch_id, 0);
    assert_eq!(stream.create(0, spec("a", "", 0)).unwrap().watch_id, 2);
    assert_eq!(
        stream.create(2, spec("a", "", 0)).unwrap_err(),
        WatchError::DuplicateId
    );
    assert!(stream.cancel(2).is_some());
    assert!(stream.cancel(2).is_none());
    assert_eq!(stream.create(2, spec("a", "", 0)).unwrap().watch_id, 2);
}

#[tokio::test]
async fn past_start_replays_then_goes_live() {
    let store = Store::new(HubConfig::default());
    for i in 0..5 {
        store.put(&format!("k{i}"), "v"); // revs 2..=6
    }
    let _task = store.catch_up();
    let (mut stream, mut rx) = store.hub.open_stream();
    let created = stream.create(0, spec("k", "l", 4)).unwrap();
    assert_eq!(created.revision, 6);
    let got = next(&mut rx).await;
    assert_eq!(
        summary(&got[0]),
        [
            ("k2".into(), 4, false),
            ("k3".into(), 5, false),
            ("k4".into(), 6, false)
        ]
    );
    // Live again: later writes arrive on their own.
    store.put("k9", "v");
    let got = next(&mut rx).await;
    assert_eq!(summary(&got[0]), [("k9".into(), 7, false)]);
}

#[tokio::test]
async fn compacted_start_gets_a_compaction_notice() {
    let store = Store::new(HubConfig::default());
    for i in 0..4 {
        store.put(&format!("k{i}"), "v"); // revs 2..=5
    }
    store.apply(vec![Request::Compaction(CompactionRequest {
        revision: 4,
        physical: false,
    })]);
    let _task = store.catch_up();
    let (mut stream, mut rx) = store.hub.open_stream();
    stream.create(7, spec("k", "l", 3)).unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got[0].watch_id, 7);
    assert_eq!(got[0].compact_revision, 4);
    assert!(got[0].events.is_empty());
    // At the compacted revision itself: what compaction kept of it.
    stream.create(8, spec("k", "l", 4)).unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got[0].compact_revision, 0);
    assert_eq!(
        summary(&got[0]),
        [("k2".into(), 4, false), ("k3".into(), 5, false)]
    );
}

#[tokio::test]
async fn a_full_channel_falls_back_to_catch_up_without_loss() {
    let store = Store::new(HubConfig {
        stream_capacity: 2,
        ..HubConfig::default()
    });
    let _task = store.catch_up();
    let (mut stream, mut rx) = store.hub.open_stream();
    stream.create(0, spec("k", "", 0)).unwrap();
    for i in 0..50 {
        store.put("k", &i.to_string()); // revs 2..=51, nobody reading
    }
    let revs = revisions_through(&mut rx, 51).await;
    assert_eq!(revs, (2..=51).collect::<Vec<_>>());
    // Back in sync: live delivery again.
    store.put("k", "x");
    let got = next(&mut rx).await;
    assert_eq!(summary(&got[0]), [("k".into(), 52, false)]);
}

#[tokio::test]
async fn progress_only_when_synced() {
    let store = Store::new(HubConfig::default());
    store.put("a", "1");
    let (mut stream, mut rx) = store.hub.open_stream();
    // A stream with no watchers is trivially synced.
    assert!(stream.request_progress_all());
    let got = next(&mut rx).await;
    assert_eq!((got[0].watch_id, got[0].revision), (-1, 2));

    // A watcher replaying history (no catch-up task running) is behind.
    let behind = stream.create(0, spec("a", "", 2)).unwrap();
    assert!(!stream.request_progress_all());
    stream.request_progress(behind.key);
    assert!(rx.try_recv().is_err());
    let _task = store.catch_up();
    let got = next(&mut rx).await;
    assert_eq!(summary(&got[0]), [("a".into(), 2, false)]);
    // Catch-up marks the watcher synced just after handing over the
    // events: ask until the answer comes.
    let got = loop {
        stream.request_progress(behind.key);
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
            break got.batches;
        }
    };
    assert_eq!((got[0].watch_id, got[0].revision), (0, 2));
    assert!(got[0].events.is_empty());
    assert!(stream.request_progress_all());
    assert_eq!(next(&mut rx).await[0].watch_id, -1);
}

#[tokio::test]
async fn internal_watch_api() {
    let store = Store::new(HubConfig::default());
    let _task = store.catch_up();
    store.put("lock/a", "1");
    let mut watch = store.hub.watch(b"lock/", b"lock0", 2).unwrap();
    assert_eq!(watch.created_revision(), 2);
    let b = watch.recv().await.unwrap();
    assert_eq!(summary(&b), [("lock/a".into(), 2, false)]);
    store.apply(vec![delete("lock/a")]);
    let b = watch.recv().await.unwrap();
    assert_eq!(summary(&b), [("lock/a".into(), 3, true)]);
    assert!(matches!(
        store.hub.watch(b"b", b"a", 0),
        Err(WatchError::EmptyRange)
    ));
    drop(watch);
    assert_eq!(store.hub.shared.lock().watchers.len(), 0);
}

/// Many watchers over random spans, readers of random speed, writes racing
/// with creation, catch-up and reading: each watcher must see exactly the
/// events of its span from its start revision, in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomised_exactly_once_in_order() {
    let store = Arc::new(Store::new(HubConfig {
        stream_capacity: 3,
        catch_up_watchers: 4,
        catch_up_revisions: 7,
    }));
    let _task = store.catch_up();
    let keys = ["a", "ab", "b", "ba", "c", "d"];
    const WRITES: usize = 400;

    let writer = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let mut x: u64 = 12345;
            for i in 0..WRITES {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                let k = keys[(x >> 33) as usize % keys.len()];
                match (x >> 40) % 5 {
                    0 => {
                        store.apply(vec![delete(k)]);
                    }
                    1 => {
                        // Two writes in one batch (two revisions).
                        let k2 = keys[(x >> 20) as usize % keys.len()];
                        store.apply(vec![put(k, &i.to_string()), put(k2, "t")]);
                    }
                    _ => {
                        store.put(k, &i.to_string());
                    }
                }
            }
        })
    };

    let spans = [
        ("a", "b"),
        ("a", ""),
        ("b", "\0"),
        ("", "\0"),
        ("ab", "c"),
        ("d", ""),
    ];
    let mut readers = Vec::new();
    for (n, (k, e)) in spans.iter().enumerate() {
        let store = store.clone();
        let (k, e) = (k.to_string(), e.to_string());
        readers.push(tokio::spawn(async move {
            // Start at various points: now, or a past revision.
            tokio::time::sleep(Duration::from_millis(3 * n as u64)).await;
            let (mut stream, mut rx) = store.hub.open_stream();
            let start = if n % 2 == 0 {
                0
            } else {
                (store.hub.revision() - 5).max(1)
            };
            let created = stream.create(0, spec(&k, &e, start)).unwrap();
            let from = if start == 0 {
                created.revision + 1
            } else {
                start
            };
            let mut seen: Vec<(String, i64, bool)> = Vec::new();
            let mut last_rev = 0;
            loop {
                if n % 3 == 0 {
                    // A slow reader.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let got = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
                let Ok(Some(batches)) = got else { break };
                for b in batches.batches {
                    let s = summary(&b);
                    if let Some(first) = s.first() {
                        assert!(first.1 > last_rev, "revision split or repeated: {s:?}");
                        last_rev = s.last().unwrap().1;
                    }
                    seen.extend(s);
                }
            }
            (k, e, from, seen, stream)
        }));
    }
    writer.await.unwrap();
    for r in readers {
        let (k, e, from, seen, _stream) = r.await.unwrap();
        let span = Span::new(k.as_bytes(), e.as_bytes()).unwrap();
        let txn = store.backend.read().unwrap();
        let (rk, re) = span.as_request();
        let want: Vec<(String, i64, bool)> = txn
            .events(from, rk, re, false, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| {
                let kv = e.kv.as_ref().unwrap();
                (
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    kv.mod_revision,
                    e.r#type == EventType::Delete as i32,
                )
            })
            .collect();
        assert_eq!(seen, want, "watcher {k:?}..{e:?} from {from}");
    }
}

#[tokio::test]
async fn large_live_batches_go_out_one_revision_per_batch() {
    let store = Store::new(HubConfig::default());
    let (mut stream, mut rx) = store.hub.open_stream();
    stream.create(0, spec("k", "l", 0)).unwrap();
    // Small: one batch for both revisions.
    store.apply(vec![put("k1", "a"), put("k2", "b")]);
    let got = next(&mut rx).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].revision, 3);
    // Large: one batch per revision, each with its own revision.
    let big = "x".repeat(700 * 1024);
    store.apply(vec![put("k1", &big), put("k2", &big), put("k3", "c")]);
    let got = next(&mut rx).await;
    let revs: Vec<(i64, usize)> = got.iter().map(|b| (b.revision, b.events.len())).collect();
    assert_eq!(revs, [(4, 1), (5, 1), (6, 1)]);
}

/// A store that skipped ahead by installing a snapshot of `leader`, which
/// saw the same first writes (revs 2..=3) and then `more` requests.
async fn installed_from_leader(
    more: Vec<Request>,
) -> (Store, WatchStream, mpsc::Receiver<Delivery>) {
    let store = Store::new(HubConfig::default());
    let leader_dir = tempfile::tempdir().unwrap();
    let leader = Backend::open(&leader_dir.path().join("db")).unwrap();
    let mut requests = vec![put("k0", "v"), put("k1", "v")];
    for r in &requests {
        store.apply(vec![r.clone()]);
    }
    let (mut stream, rx) = store.hub.open_stream();
    stream.create(0, spec("k", "l", 0)).unwrap();
    requests.extend(more);
    for r in requests {
        let mut batch = leader.begin_apply().unwrap();
        batch
            .apply(&RaftRequest {
                caller: None,
                id: 0,
                request: Some(r),
            })
            .unwrap();
        batch.commit(false).unwrap();
    }
    let snap = leader_dir.path().join("snap.db");
    leader
        .write_snapshot(&leader.read().unwrap(), &snap)
        .unwrap();
    store
        .backend
        .install(&snap, &[], &|_| Ok(()), Duration::from_secs(5))
        .unwrap();
    let revision = store.backend.read().unwrap().current_revision().unwrap();
    store.hub.on_install(revision);
    (store, stream, rx)
}

#[tokio::test]
async fn an_installed_snapshot_reaches_watchers_once() {
    let more = (2..7).map(|i| put(&format!("k{i}"), "v")).collect(); // revs 4..=8
    let (store, _stream, mut rx) = installed_from_leader(more).await;
    assert_eq!(store.hub.revision(), 8);
    let _task = store.catch_up();
    let revs = revisions_through(&mut rx, 8).await;
    assert_eq!(revs, (4..=8).collect::<Vec<_>>());
    // Live again from the installed store on.
    store.put("k9", "v");
    let got = next(&mut rx).await;
    assert_eq!(summary(&got[0]), [("k9".into(), 9, false)]);
}

#[tokio::test]
async fn an_installed_snapshot_past_compaction_cancels_watchers() {
    let mut more: Vec<Request> = (2..7).map(|i| put(&format!("k{i}"), "v")).collect();
    more.push(Request::Compaction(CompactionRequest {
        revision: 6,
        physical: false,
    }));
    let (store, _stream, mut rx) = installed_from_leader(more).await;
    let _task = store.catch_up();
    let got = next(&mut rx).await;
    assert_eq!(got[0].compact_revision, 6);
    assert!(got[0].events.is_empty());
}
