//! The Watch service over gRPC: keys, ranges, prefixes and "from key";
//! replay from a past revision and a compacted start; prev_kv; the NOPUT and
//! NODELETE filters; client-chosen ids and duplicates; cancel; progress
//! requests and periodic progress notifications; many watchers on one
//! stream; a transaction's events in one response; a slow reader that still
//! gets every event once and in order; fragmenting (over raw gRPC, since
//! etcd-client hides the `fragment` flag); the `hasleader` metadata.
//!
//! Where a test must show that something does *not* arrive, it writes a
//! "fence" key another watcher of the same stream sees: events reach a
//! stream in revision order, so the fence's event arriving first proves
//! nothing else was sent before it.

use crate::common;

use std::time::Duration;

use common::raw_codec::RawCodec;
use common::{rev, Node};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, PutOptions, Txn, TxnOp, WatchFilterType,
    WatchOptions, WatchResponse, WatchStream,
};
use tonic::codegen::http::uri::PathAndQuery;

/// How long any single expected response may take.
const WAIT: Duration = Duration::from_secs(10);

/// An event as plain data: (type, key, value, mod_revision).
type Ev = (&'static str, String, String, i64);

fn events(resp: &WatchResponse) -> Vec<Ev> {
    resp.events()
        .iter()
        .map(|e| {
            let kv = e.kv().expect("event has a kv");
            let kind = match e.event_type() {
                EventType::Put => "PUT",
                EventType::Delete => "DELETE",
            };
            (
                kind,
                kv.key_str().unwrap().to_string(),
                kv.value_str().unwrap().to_string(),
                kv.mod_revision(),
            )
        })
        .collect()
}

fn put(key: &str, value: &str, rev: i64) -> Ev {
    ("PUT", key.to_string(), value.to_string(), rev)
}

fn del(key: &str, rev: i64) -> Ev {
    ("DELETE", key.to_string(), String::new(), rev)
}

/// The next response on the stream; panics if none comes within [`WAIT`].
async fn next(stream: &mut WatchStream) -> WatchResponse {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("no watch response within the timeout")
        .expect("watch stream failed")
        .expect("watch stream ended")
}

/// Reads the "created" answer of a watch; returns its id.
async fn created(stream: &mut WatchStream) -> i64 {
    let resp = next(stream).await;
    assert!(resp.created(), "expected a created response, got {resp:?}");
    assert!(!resp.canceled(), "watch was refused: {resp:?}");
    resp.watch_id()
}

/// Opens a stream with one watcher; returns it and the watcher's id.
async fn watch(client: &mut Client, key: &str, options: WatchOptions) -> (WatchStream, i64) {
    let mut stream = client.watch(key, Some(options)).await.unwrap();
    let id = created(&mut stream).await;
    (stream, id)
}

/// Reads responses until `n` events have arrived for watcher `id`, checking
/// that responses never split or repeat a revision.
async fn collect(stream: &mut WatchStream, id: i64, n: usize) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    while out.len() < n {
        let resp = next(stream).await;
        assert_eq!(resp.watch_id(), id, "unexpected response {resp:?}");
        let evs = events(&resp);
        if let (Some(last), Some(first)) = (out.last(), evs.first()) {
            assert!(
                first.3 > last.3,
                "revision {} split or repeated across responses",
                first.3
            );
        }
        out.extend(evs);
    }
    assert_eq!(out.len(), n, "more events than expected: {out:?}");
    out
}

both!(key_watch_sees_puts_and_deletes, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("other", "x", None).await.unwrap(); // rev 2
    let mut stream = client.watch("foo", None).await.unwrap();
    let resp = next(&mut stream).await;
    assert!(resp.created() && !resp.canceled());
    assert_eq!(resp.watch_id(), 0);
    // The created answer carries the store's revision.
    assert_eq!(rev(resp.header()), 2);
    assert!(resp.events().is_empty());

    client.put("foo", "1", None).await.unwrap(); // 3
    client.put("foo1", "not watched", None).await.unwrap(); // 4
    client.put("foo", "2", None).await.unwrap(); // 5
    client.delete("foo", None).await.unwrap(); // 6
    let mut got = Vec::new();
    let mut headers = Vec::new();
    while got.len() < 3 {
        let resp = next(&mut stream).await;
        headers.push((rev(resp.header()), events(&resp).last().unwrap().3));
        got.extend(events(&resp));
    }
    assert_eq!(got, [put("foo", "1", 3), put("foo", "2", 5), del("foo", 6)]);
    // A response's header revision is that of its last event (or later).
    assert!(headers.iter().all(|(h, last)| h >= last), "{headers:?}");

    // Versions and create revisions are those of the key-values.
    client.put("foo", "3", None).await.unwrap(); // 7: recreated
    let resp = next(&mut stream).await;
    let kv = resp.events()[0].kv().unwrap();
    assert_eq!(
        (kv.create_revision(), kv.mod_revision(), kv.version()),
        (7, 7, 1)
    );
    assert_eq!(rev(resp.header()), 7);
});

both!(
    ranges_prefixes_and_from_key_on_one_stream,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (mut stream, prefix) =
            watch(&mut client, "a/", WatchOptions::new().with_prefix()).await;
        stream
            .watch("b", Some(WatchOptions::new().with_range("d")))
            .await
            .unwrap();
        let range = created(&mut stream).await;
        stream
            .watch("c", Some(WatchOptions::new().with_from_key()))
            .await
            .unwrap();
        let from_key = created(&mut stream).await;
        stream
            .watch("", Some(WatchOptions::new().with_all_keys()))
            .await
            .unwrap();
        let all = created(&mut stream).await;
        assert_eq!([prefix, range, from_key, all], [0, 1, 2, 3]);

        for key in ["a", "a/1", "b", "c", "d", "zz"] {
            client.put(key, "v", None).await.unwrap(); // revs 2..=7
        }
        let mut by_watcher: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        let mut seen = 0;
        // 1 (a/1) + 2 (b, c) + 3 (c, d, zz) + 6 (all) events.
        while seen < 12 {
            let resp = next(&mut stream).await;
            for ev in events(&resp) {
                by_watcher.entry(resp.watch_id()).or_default().push(ev.1);
                seen += 1;
            }
        }
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(by_watcher[&prefix], names(&["a/1"]));
        assert_eq!(by_watcher[&range], names(&["b", "c"]));
        assert_eq!(by_watcher[&from_key], names(&["c", "d", "zz"]));
        assert_eq!(by_watcher[&all], names(&["a", "a/1", "b", "c", "d", "zz"]));
    }
);

both!(past_start_revision_replays_history, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "1", None).await.unwrap(); // 2
    client.put("x", "1", None).await.unwrap(); // 3
    client.put("k", "2", None).await.unwrap(); // 4
    client.delete("k", None).await.unwrap(); // 5
    client.put("k", "3", None).await.unwrap(); // 6

    let (mut stream, id) =
        watch(&mut client, "k", WatchOptions::new().with_start_revision(3)).await;
    let got = collect(&mut stream, id, 3).await;
    assert_eq!(got, [put("k", "2", 4), del("k", 5), put("k", "3", 6)]);

    // After the replay, live events follow without a gap or repeat.
    client.put("k", "4", None).await.unwrap(); // 7
    assert_eq!(collect(&mut stream, id, 1).await, [put("k", "4", 7)]);

    // From revision 1: the whole history.
    let (mut stream, id) = watch(
        &mut client,
        "k",
        WatchOptions::new().with_start_revision(1).with_prev_key(),
    )
    .await;
    let got = collect(&mut stream, id, 5).await;
    let revs: Vec<i64> = got.iter().map(|e| e.3).collect();
    assert_eq!(revs, [2, 4, 5, 6, 7]);
});

both!(future_start_revision_waits_for_it, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (mut stream, id) =
        watch(&mut client, "k", WatchOptions::new().with_start_revision(4)).await;
    client.put("k", "2", None).await.unwrap(); // 2: before the start
    client.put("k", "3", None).await.unwrap(); // 3: before the start
    client.put("k", "4", None).await.unwrap(); // 4
    assert_eq!(collect(&mut stream, id, 1).await, [put("k", "4", 4)]);
});

both!(compacted_start_revision_is_canceled, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for i in 0..5 {
        client.put(format!("k{i}"), "v", None).await.unwrap(); // 2..=6
    }
    client.compact(4, None).await.unwrap();

    // Below the compacted revision: created, then canceled with the
    // compacted revision (and a header without a revision, as etcd sends).
    let mut stream = client
        .watch(
            "k",
            Some(WatchOptions::new().with_prefix().with_start_revision(3)),
        )
        .await
        .unwrap();
    let resp = next(&mut stream).await;
    assert!(resp.created() && !resp.canceled());
    assert_eq!(rev(resp.header()), 6);
    let id = resp.watch_id();
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), id);
    assert!(resp.canceled() && !resp.created());
    assert_eq!(resp.compact_revision(), 4);
    assert!(resp.events().is_empty());
    assert_eq!(rev(resp.header()), 0);

    // At the compacted revision itself: allowed, from what compaction kept.
    stream
        .watch(
            "k",
            Some(WatchOptions::new().with_prefix().with_start_revision(4)),
        )
        .await
        .unwrap();
    let id = created(&mut stream).await;
    let got = collect(&mut stream, id, 3).await;
    assert_eq!(
        got,
        [put("k2", "v", 4), put("k3", "v", 5), put("k4", "v", 6)]
    );
});

both!(prev_kv_on_puts_and_deletes, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (mut stream, id) = watch(&mut client, "k", WatchOptions::new().with_prev_key()).await;
    client.put("k", "1", None).await.unwrap(); // 2
    client.put("k", "2", None).await.unwrap(); // 3
    client.delete("k", None).await.unwrap(); // 4
    let mut prevs = Vec::new();
    while prevs.len() < 3 {
        let resp = next(&mut stream).await;
        assert_eq!(resp.watch_id(), id);
        for e in resp.events() {
            prevs.push(e.prev_kv().map(|p| {
                (
                    p.value_str().unwrap().to_string(),
                    p.mod_revision(),
                    p.version(),
                )
            }));
        }
    }
    assert_eq!(
        prevs,
        [
            None,
            Some(("1".to_string(), 2, 1)),
            Some(("2".to_string(), 3, 2))
        ]
    );

    // Without the option, no previous key-values.
    let (mut plain, id) = watch(&mut client, "k", WatchOptions::new()).await;
    client.put("k", "3", None).await.unwrap(); // 5
    client.put("k", "4", None).await.unwrap(); // 6
    let mut n = 0;
    while n < 2 {
        let resp = next(&mut plain).await;
        assert_eq!(resp.watch_id(), id);
        assert!(resp.events().iter().all(|e| e.prev_kv().is_none()));
        n += resp.events().len();
    }
});

both!(filters_noput_and_nodelete, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (mut stream, no_put) = watch(
        &mut client,
        "k",
        WatchOptions::new().with_filters([WatchFilterType::NoPut]),
    )
    .await;
    stream
        .watch(
            "k",
            Some(WatchOptions::new().with_filters([WatchFilterType::NoDelete])),
        )
        .await
        .unwrap();
    let no_delete = created(&mut stream).await;
    client.put("k", "1", None).await.unwrap(); // 2
    client.delete("k", None).await.unwrap(); // 3
    client.put("k", "2", None).await.unwrap(); // 4
    let mut got: std::collections::BTreeMap<i64, Vec<Ev>> = Default::default();
    let mut n = 0;
    while n < 3 {
        let resp = next(&mut stream).await;
        n += resp.events().len();
        got.entry(resp.watch_id())
            .or_default()
            .extend(events(&resp));
    }
    assert_eq!(got[&no_put], [del("k", 3)]);
    assert_eq!(got[&no_delete], [put("k", "1", 2), put("k", "2", 4)]);
});

both!(client_chosen_ids_and_duplicates, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (mut stream, id) = watch(&mut client, "a", WatchOptions::new().with_watch_id(7)).await;
    assert_eq!(id, 7);
    client.put("x", "1", None).await.unwrap(); // 2

    // The same id again: refused as created-and-canceled under id -1.
    stream
        .watch("b", Some(WatchOptions::new().with_watch_id(7)))
        .await
        .unwrap();
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), -1);
    assert!(resp.created() && resp.canceled());
    assert_eq!(
        resp.cancel_reason(),
        "mvcc: duplicate watch ID provided on the WatchStream"
    );
    assert_eq!(rev(resp.header()), 2);

    // Automatic ids start at 0 and skip ids in use.
    stream
        .watch("c", Some(WatchOptions::new().with_watch_id(1)))
        .await
        .unwrap();
    assert_eq!(created(&mut stream).await, 1);
    stream.watch("d", None).await.unwrap();
    assert_eq!(created(&mut stream).await, 0);
    stream.watch("e", None).await.unwrap();
    assert_eq!(created(&mut stream).await, 2);

    // Events go out under the chosen id.
    client.put("a", "1", None).await.unwrap();
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), 7);
    assert_eq!(events(&resp), [put("a", "1", 3)]);
});

both!(empty_ranges_are_refused, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for (key, end) in [("b", "a"), ("b", "b")] {
        let mut stream = client
            .watch(key, Some(WatchOptions::new().with_range(end)))
            .await
            .unwrap();
        let resp = next(&mut stream).await;
        assert_eq!(resp.watch_id(), -1);
        assert!(resp.created() && resp.canceled());
        assert_eq!(resp.cancel_reason(), "mvcc: watcher range is empty");
        assert_eq!(rev(resp.header()), 1);
    }
});

both!(cancel_stops_a_watcher, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (mut stream, id) = watch(&mut client, "k", WatchOptions::new()).await;
    stream.watch("fence", None).await.unwrap();
    let fence = created(&mut stream).await;
    client.put("k", "1", None).await.unwrap(); // 2
    assert_eq!(collect(&mut stream, id, 1).await, [put("k", "1", 2)]);

    stream.cancel(id).await.unwrap();
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), id);
    assert!(resp.canceled() && !resp.created());
    assert_eq!(rev(resp.header()), 2);
    assert_eq!(resp.compact_revision(), 0);

    // Canceling an unknown (or already canceled) id is ignored silently.
    stream.cancel(id).await.unwrap();
    stream.cancel(99).await.unwrap();

    client.put("k", "2", None).await.unwrap(); // 3: nobody watches it now
    client.put("fence", "x", None).await.unwrap(); // 4
    let resp = next(&mut stream).await;
    assert_eq!(
        resp.watch_id(),
        fence,
        "canceled watcher still got {resp:?}"
    );
    assert_eq!(events(&resp), [put("fence", "x", 4)]);
});

both!(progress_request_reports_the_revision, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("a", "1", None).await.unwrap(); // 2
    let (mut stream, id) = watch(&mut client, "k", WatchOptions::new()).await;
    client.put("b", "1", None).await.unwrap(); // 3
    stream.request_progress().await.unwrap();
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), -1);
    assert!(!resp.created() && !resp.canceled());
    assert!(resp.events().is_empty());
    assert_eq!(rev(resp.header()), 3);

    // After events: the answer comes after them, with their revision.
    client.put("k", "1", None).await.unwrap(); // 4
    assert_eq!(collect(&mut stream, id, 1).await, [put("k", "1", 4)]);
    stream.request_progress().await.unwrap();
    let resp = next(&mut stream).await;
    assert_eq!((resp.watch_id(), rev(resp.header())), (-1, 4));
});

both!(progress_notify_on_idle_watchers, |target| async move {
    let node = Node::start(
        target,
        &["--experimental-watch-progress-notify-interval=200ms"],
    )
    .await;
    let mut client = node.client().await;
    client.put("a", "1", None).await.unwrap(); // 2
    let (mut stream, id) =
        watch(&mut client, "k", WatchOptions::new().with_progress_notify()).await;
    let (mut quiet, _) = watch(&mut client, "k", WatchOptions::new()).await;
    // An idle watcher that asked for it hears the current revision.
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), id);
    assert!(resp.events().is_empty() && !resp.canceled() && !resp.created());
    assert_eq!(rev(resp.header()), 2);
    // Notifications follow the store's revision.
    client.put("b", "1", None).await.unwrap(); // 3
    loop {
        let resp = next(&mut stream).await;
        assert!(resp.events().is_empty());
        if rev(resp.header()) == 3 {
            break;
        }
    }
    // The watcher without the option got nothing: its first response is
    // the event written now.
    client.put("k", "1", None).await.unwrap(); // 4
    let resp = next(&mut quiet).await;
    assert_eq!(events(&resp), [put("k", "1", 4)]);
});

both!(txn_events_arrive_in_one_response, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("t/0", "old", None).await.unwrap(); // 2
    let (mut stream, id) = watch(&mut client, "t/", WatchOptions::new().with_prefix()).await;
    let txn = Txn::new()
        .when([Compare::value("t/0", CompareOp::Equal, "old")])
        .and_then([
            TxnOp::put("t/1", "a", None),
            TxnOp::put("t/2", "b", None),
            TxnOp::delete("t/0", None),
            TxnOp::put("t/3", "c", None),
        ]);
    let resp = client.txn(txn).await.unwrap();
    assert!(resp.succeeded());
    let resp = next(&mut stream).await;
    assert_eq!(resp.watch_id(), id);
    assert_eq!(
        events(&resp),
        [
            put("t/1", "a", 3),
            put("t/2", "b", 3),
            del("t/0", 3),
            put("t/3", "c", 3)
        ]
    );
    assert_eq!(rev(resp.header()), 3);

    // A range delete is one revision too.
    client
        .delete("t/", Some(etcd_client::DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
    let resp = next(&mut stream).await;
    assert_eq!(events(&resp), [del("t/1", 4), del("t/2", 4), del("t/3", 4)]);
});

both!(many_watchers_on_one_stream, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    const N: usize = 200;
    let mut stream = client.watch("key/000", None).await.unwrap();
    assert_eq!(created(&mut stream).await, 0);
    for i in 1..N {
        stream.watch(format!("key/{i:03}"), None).await.unwrap();
    }
    // And N watchers on one shared key.
    for _ in 0..N {
        stream.watch("shared", None).await.unwrap();
    }
    for i in 1..2 * N {
        assert_eq!(created(&mut stream).await, i as i64);
    }
    for i in (0..N).rev() {
        client
            .put(format!("key/{i:03}"), i.to_string(), None)
            .await
            .unwrap();
    }
    client.put("shared", "s", None).await.unwrap();
    let shared_rev = N as i64 + 2;
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 * N {
        let resp = next(&mut stream).await;
        for ev in events(&resp) {
            assert!(
                seen.insert(resp.watch_id(), ev.clone()).is_none(),
                "watcher {} got a second event {ev:?}",
                resp.watch_id()
            );
        }
    }
    for i in 0..N {
        // Puts went in reverse order: key/i was written at N - i + 1.
        let want = put(&format!("key/{i:03}"), &i.to_string(), (N - i + 1) as i64);
        assert_eq!(seen[&(i as i64)], want);
        assert_eq!(seen[&((N + i) as i64)], put("shared", "s", shared_rev));
    }
});

both!(
    slow_watcher_gets_every_event_once_in_order,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        // Not read while the writes happen: far more than any buffer holds.
        let (mut stream, id) = watch(&mut client, "slow/", WatchOptions::new().with_prefix()).await;
        // A reader that keeps up, on another connection.
        let mut other = node.client().await;
        let (mut fast, fast_id) =
            watch(&mut other, "slow/", WatchOptions::new().with_prefix()).await;
        let fast_reader = tokio::spawn(async move {
            let mut revs = Vec::new();
            while revs.len() < WRITES {
                let resp = next(&mut fast).await;
                assert_eq!(resp.watch_id(), fast_id);
                revs.extend(resp.events().iter().map(|e| e.kv().unwrap().mod_revision()));
            }
            revs
        });

        const WRITES: usize = 1200;
        const WRITERS: usize = 8;
        let value = "v".repeat(4096);
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let mut c = client.clone();
            let value = value.clone();
            writers.push(tokio::spawn(async move {
                let mut revs = Vec::new();
                for i in 0..WRITES / WRITERS {
                    let resp = c
                        .put(format!("slow/{w}/{i}"), value.as_str(), None)
                        .await
                        .unwrap();
                    revs.push(rev(resp.header()));
                }
                revs
            }));
        }
        let mut written = Vec::new();
        for w in writers {
            written.extend(w.await.unwrap());
        }
        written.sort_unstable();

        // Now read everything the slow watcher was sent.
        let got = collect(&mut stream, id, WRITES).await;
        let revs: Vec<i64> = got.iter().map(|e| e.3).collect();
        assert_eq!(revs, written, "every write once, in revision order");
        assert!(got.iter().all(|e| e.2.len() == 4096));
        assert_eq!(fast_reader.await.unwrap(), written);
    }
);

both!(
    require_leader_streams_work_with_a_leader,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_require_leader(true);
        let mut client = Client::connect([node.endpoint()], Some(options))
            .await
            .unwrap();
        let (mut stream, id) = watch(&mut client, "k", WatchOptions::new()).await;
        client.put("k", "1", Some(PutOptions::new())).await.unwrap();
        assert_eq!(collect(&mut stream, id, 1).await, [put("k", "1", 2)]);
    }
);

// ------------------------------------------------------------------ raw gRPC

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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

/// A WatchRequest with a create_request for `key`/`range_end` from
/// `start_revision`, with `fragment` set as given.
fn create_request(key: &[u8], range_end: &[u8], start_revision: i64, fragment: bool) -> Vec<u8> {
    let mut create = Vec::new();
    for (field, bytes) in [(1u64, key), (2, range_end)] {
        varint(&mut create, field << 3 | 2);
        varint(&mut create, bytes.len() as u64);
        create.extend_from_slice(bytes);
    }
    varint(&mut create, 3 << 3);
    varint(&mut create, start_revision as u64);
    if fragment {
        varint(&mut create, 8 << 3);
        varint(&mut create, 1);
    }
    let mut req = Vec::new();
    varint(&mut req, 1 << 3 | 2);
    varint(&mut req, create.len() as u64);
    req.extend(create);
    req
}

/// The fields of a WatchResponse these tests look at.
#[derive(Debug, Default, PartialEq)]
struct RawResponse {
    watch_id: i64,
    created: bool,
    fragment: bool,
    events: usize,
}

fn decode_response(bytes: &[u8]) -> RawResponse {
    let mut out = RawResponse::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let tag = read_varint(bytes, &mut pos);
        match tag & 7 {
            0 => {
                let v = read_varint(bytes, &mut pos);
                match tag >> 3 {
                    2 => out.watch_id = v as i64,
                    3 => out.created = v != 0,
                    7 => out.fragment = v != 0,
                    _ => {}
                }
            }
            2 => {
                let len = read_varint(bytes, &mut pos) as usize;
                if tag >> 3 == 11 {
                    out.events += 1;
                }
                pos += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    out
}

/// Opens a Watch stream sending only `request`; returns the responses as
/// they arrive.
async fn raw_watch(node: &Node, request: Vec<u8>) -> tonic::Streaming<Vec<u8>> {
    let channel = tonic::transport::Channel::from_shared(node.client_url())
        .expect("valid URL")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
    grpc.ready().await.expect("channel ready");
    let requests = tonic::codegen::tokio_stream::iter(vec![request]);
    grpc.streaming(
        tonic::Request::new(requests),
        PathAndQuery::from_static("/etcdserverpb.Watch/Watch"),
        RawCodec,
    )
    .await
    .expect("watch call")
    .into_inner()
}

async fn raw_next(stream: &mut tonic::Streaming<Vec<u8>>) -> RawResponse {
    let body = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("no watch response within the timeout")
        .expect("watch stream failed")
        .expect("watch stream ended");
    decode_response(&body)
}

both!(fragment_splits_large_responses, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    // Three revisions of ~1 MB: replayed together they make one ~3 MB
    // response, above etcd's split size (--max-request-bytes + 512 KiB, so
    // 2 MiB by default).
    let value = "x".repeat(1_000_000);
    for i in 0..3 {
        client
            .put(format!("big/{i}"), value.as_str(), None)
            .await
            .unwrap();
    }

    let mut stream = raw_watch(&node, create_request(b"big/", b"big0", 2, true)).await;
    let created = raw_next(&mut stream).await;
    assert!(created.created);
    let first = raw_next(&mut stream).await;
    let second = raw_next(&mut stream).await;
    assert_eq!(
        (first.fragment, first.events, second.fragment, second.events),
        (true, 2, false, 1),
        "{first:?} {second:?}"
    );

    // Without `fragment`, one response holds all three.
    let mut stream = raw_watch(&node, create_request(b"big/", b"big0", 2, false)).await;
    assert!(raw_next(&mut stream).await.created);
    let whole = raw_next(&mut stream).await;
    assert_eq!((whole.fragment, whole.events), (false, 3));

    // A small response of a fragmenting watcher is not marked.
    let mut stream = raw_watch(&node, create_request(b"small", b"", 0, true)).await;
    assert!(raw_next(&mut stream).await.created);
    client.put("small", "v", None).await.unwrap();
    let small = raw_next(&mut stream).await;
    assert_eq!((small.fragment, small.events), (false, 1));
});
