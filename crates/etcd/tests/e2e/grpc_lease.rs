//! The Lease service over gRPC (etcd-client): grants (server-chosen and
//! client-chosen ids, the minimum and maximum TTL), keys attached with Put,
//! revoke (keys deleted in one revision, and seen so by watchers),
//! keep-alive streams, TimeToLive, Leases, expiry by the leader, and (ours
//! only) a restart that resumes a lease's remaining TTL instead of renewing
//! it.
//!
//! The two servers run with different election timeouts (the harness starts
//! the reference with `--election-timeout=100`), so their minimum TTLs
//! differ: see [`min_ttl`].

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{assert_status, eventually, keys, min_ttl, rev, Node, Target};
use etcd_client::{
    Client, EventType, GetOptions, LeaseGrantOptions, LeaseTimeToLiveOptions, PutOptions,
    WatchOptions, WatchStream,
};
use tonic::Code;

async fn lease_ids(client: &mut Client) -> BTreeSet<i64> {
    let resp = client.leases().await.unwrap();
    resp.leases().iter().map(|l| l.id()).collect()
}

async fn all_keys(client: &mut Client) -> Vec<String> {
    let resp = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    keys(resp.kvs())
}

fn with_lease(id: i64) -> Option<PutOptions> {
    Some(PutOptions::new().with_lease(id))
}

fn with_keys() -> Option<LeaseTimeToLiveOptions> {
    Some(LeaseTimeToLiveOptions::new().with_keys())
}

both!(grant_with_server_chosen_ids, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "v", None).await.unwrap();
    let first = client.lease_grant(10, None).await.unwrap();
    assert!(first.id() > 0, "ids are positive: {}", first.id());
    assert_eq!(first.ttl(), 10);
    assert_eq!(first.error(), "");
    // A grant does not move the revision; the header shows the current one.
    assert_eq!(rev(first.header()), 2);
    let second = client.lease_grant(20, None).await.unwrap();
    assert!(second.id() > 0);
    assert_ne!(second.id(), first.id());
    assert_eq!(
        lease_ids(&mut client).await,
        BTreeSet::from([first.id(), second.id()])
    );
});

both!(grant_with_client_chosen_id, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let id = 0x1234_5678;
    let resp = client
        .lease_grant(100, Some(LeaseGrantOptions::new().with_id(id)))
        .await
        .unwrap();
    assert_eq!((resp.id(), resp.ttl()), (id, 100));
    assert_status(
        client
            .lease_grant(50, Some(LeaseGrantOptions::new().with_id(id)))
            .await,
        Code::FailedPrecondition,
        "etcdserver: lease already exists",
    );
    // The refused grant changed nothing.
    let ttl = client.lease_time_to_live(id, None).await.unwrap();
    assert_eq!(ttl.granted_ttl(), 100);
});

both!(
    grant_raises_short_ttls_to_the_minimum,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let min = min_ttl(target);
        for asked in [-10, 0, 1, min] {
            let resp = client.lease_grant(asked, None).await.unwrap();
            assert_eq!(resp.ttl(), min, "asked for {asked}");
            let ttl = client.lease_time_to_live(resp.id(), None).await.unwrap();
            assert_eq!(ttl.granted_ttl(), min);
        }
        let resp = client.lease_grant(min + 1, None).await.unwrap();
        assert_eq!(resp.ttl(), min + 1);
    }
);

both!(grant_refuses_too_large_ttls, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert_status(
        client.lease_grant(9_000_000_001, None).await,
        Code::OutOfRange,
        "etcdserver: too large lease TTL",
    );
    // Also for a client-chosen id, before the id is looked at.
    let taken = client.lease_grant(10, None).await.unwrap().id();
    assert_status(
        client
            .lease_grant(9_000_000_001, Some(LeaseGrantOptions::new().with_id(taken)))
            .await,
        Code::OutOfRange,
        "etcdserver: too large lease TTL",
    );
    let max = client.lease_grant(9_000_000_000, None).await.unwrap();
    assert_eq!(max.ttl(), 9_000_000_000);
    assert_eq!(lease_ids(&mut client).await.len(), 2);
});

both!(
    revoke_deletes_attached_keys_in_one_revision,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let id = client.lease_grant(100, None).await.unwrap().id();
        for key in ["a", "b", "c"] {
            client.put(key, "v", with_lease(id)).await.unwrap();
        }
        let resp = client.put("d", "v", None).await.unwrap();
        assert_eq!(rev(resp.header()), 5);
        let a = client.get("a", None).await.unwrap();
        assert_eq!(a.kvs()[0].lease(), id);
        assert_status(
            client.put("e", "v", with_lease(id + 1)).await,
            Code::NotFound,
            "etcdserver: requested lease not found",
        );

        let revoked = client.lease_revoke(id).await.unwrap();
        assert_eq!(rev(revoked.header()), 6);
        assert_eq!(all_keys(&mut client).await, ["d"]);
        // All three deletes are revision 6: the keys are all there at 5.
        let before = client
            .get("", Some(GetOptions::new().with_all_keys().with_revision(5)))
            .await
            .unwrap();
        assert_eq!(keys(before.kvs()), ["a", "b", "c", "d"]);
        assert_eq!(rev(before.header()), 6);

        assert_status(
            client.lease_revoke(id).await,
            Code::NotFound,
            "etcdserver: requested lease not found",
        );
        let ttl = client.lease_time_to_live(id, None).await.unwrap();
        assert_eq!(ttl.ttl(), -1);
        // Revoking a lease without keys writes no revision.
        let empty = client.lease_grant(100, None).await.unwrap().id();
        let revoked = client.lease_revoke(empty).await.unwrap();
        assert_eq!(rev(revoked.header()), 6);
        assert!(lease_ids(&mut client).await.is_empty());
    }
);

/// The events of the next non-empty watch response: (type, key, mod
/// revision).
async fn next_events(stream: &mut WatchStream) -> Vec<(EventType, String, i64)> {
    loop {
        let resp = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a watch response within 10 s")
            .expect("watch stream failed")
            .expect("watch stream ended");
        if resp.events().is_empty() {
            continue;
        }
        return resp
            .events()
            .iter()
            .map(|e| {
                let kv = e.kv().expect("an event carries its key");
                (
                    e.event_type(),
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.mod_revision(),
                )
            })
            .collect();
    }
}

both!(
    watchers_see_a_revoke_as_deletes_of_one_revision,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let mut stream = client
            .watch("w/", Some(WatchOptions::new().with_prefix()))
            .await
            .unwrap();
        let revoked = client.lease_grant(100, None).await.unwrap().id();
        let expiring = client.lease_grant(2, None).await.unwrap().id();
        for key in ["w/b", "w/a"] {
            client.put(key, "v", with_lease(revoked)).await.unwrap();
        }
        for key in ["w/d", "w/c"] {
            client.put(key, "v", with_lease(expiring)).await.unwrap();
        }
        for _ in 0..4 {
            assert_eq!(next_events(&mut stream).await[0].0, EventType::Put);
        }
        // A client's revoke: both deletes in one response, at one revision, in
        // key order.
        let rev6 = rev(client.lease_revoke(revoked).await.unwrap().header());
        assert_eq!(rev6, 6);
        assert_eq!(
            next_events(&mut stream).await,
            [
                (EventType::Delete, "w/a".to_string(), 6),
                (EventType::Delete, "w/b".to_string(), 6),
            ]
        );
        // Expiry is a revoke through the log too.
        assert_eq!(
            next_events(&mut stream).await,
            [
                (EventType::Delete, "w/c".to_string(), 7),
                (EventType::Delete, "w/d".to_string(), 7),
            ]
        );
    }
);

both!(keep_alive_keeps_a_lease_past_its_ttl, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let ttl = 2;
    let id = client.lease_grant(ttl, None).await.unwrap().id();
    client.put("live", "v", with_lease(id)).await.unwrap();
    let (mut keeper, mut stream) = client.lease_keep_alive(id).await.unwrap();
    assert_eq!(keeper.id(), id);
    // Renew every half second for twice the TTL.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2 * ttl as u64) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        keeper.keep_alive().await.unwrap();
        let resp = stream
            .message()
            .await
            .unwrap()
            .expect("a keep-alive answer");
        assert_eq!((resp.id(), resp.ttl()), (id, ttl));
        assert_eq!(rev(resp.header()), 2);
    }
    assert_eq!(all_keys(&mut client).await, ["live"]);
    let left = client.lease_time_to_live(id, None).await.unwrap();
    assert!((1..=ttl).contains(&left.ttl()), "{}", left.ttl());
    // Once the keep-alives stop, the lease expires.
    drop((keeper, stream));
    eventually(
        Duration::from_secs(ttl as u64 + 2),
        "the lease expires",
        || {
            let mut client = client.clone();
            async move { all_keys(&mut client).await.is_empty().then_some(()) }
        },
    )
    .await;
});

both!(
    keep_alive_of_an_unknown_lease_answers_ttl_0,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        // etcd-client turns a first answer with TTL <= 0 into this error; a
        // gRPC error status would arrive as `GRpcStatus` instead.
        match client.lease_keep_alive(0x7777).await {
            Err(etcd_client::Error::LeaseKeepAliveError(_)) => {}
            other => panic!("expected a TTL-0 answer, got {other:?}"),
        }
        // On an open stream: the lease goes away, the stream stays usable.
        let id = client.lease_grant(60, None).await.unwrap().id();
        let (mut keeper, mut stream) = client.lease_keep_alive(id).await.unwrap();
        client.lease_revoke(id).await.unwrap();
        for _ in 0..2 {
            keeper.keep_alive().await.unwrap();
            let resp = stream
                .message()
                .await
                .unwrap()
                .expect("a keep-alive answer");
            assert_eq!((resp.id(), resp.ttl()), (id, 0));
        }
    }
);

both!(time_to_live_with_and_without_keys, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let id = client.lease_grant(60, None).await.unwrap().id();
    for key in ["k2", "k1", "k3"] {
        client.put(key, "v", with_lease(id)).await.unwrap();
    }
    client.put("other", "v", None).await.unwrap();
    let resp = client.lease_time_to_live(id, with_keys()).await.unwrap();
    assert_eq!(resp.id(), id);
    assert_eq!(resp.granted_ttl(), 60);
    assert!((58..=60).contains(&resp.ttl()), "{}", resp.ttl());
    assert_eq!(rev(resp.header()), 5);
    // etcd lists the keys in no particular order.
    let mut attached = resp.keys().to_vec();
    attached.sort();
    assert_eq!(attached, [b"k1".to_vec(), b"k2".to_vec(), b"k3".to_vec()]);
    let resp = client.lease_time_to_live(id, None).await.unwrap();
    assert!(resp.keys().is_empty());
    // Detaching a key (a put without the lease) removes it from the list.
    client.put("k2", "v", None).await.unwrap();
    let resp = client.lease_time_to_live(id, with_keys()).await.unwrap();
    let mut attached = resp.keys().to_vec();
    attached.sort();
    assert_eq!(attached, [b"k1".to_vec(), b"k3".to_vec()]);

    let unknown = client
        .lease_time_to_live(id + 1, with_keys())
        .await
        .unwrap();
    assert_eq!(
        (unknown.id(), unknown.ttl(), unknown.granted_ttl()),
        (id + 1, -1, 0)
    );
    assert!(unknown.keys().is_empty());
    assert_eq!(rev(unknown.header()), 6);
});

both!(leases_lists_every_lease, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert!(lease_ids(&mut client).await.is_empty());
    let mut ids = BTreeSet::new();
    for ttl in [30, 10, 20] {
        ids.insert(client.lease_grant(ttl, None).await.unwrap().id());
    }
    assert_eq!(lease_ids(&mut client).await, ids);
    let gone = *ids.iter().next().unwrap();
    client.lease_revoke(gone).await.unwrap();
    ids.remove(&gone);
    assert_eq!(lease_ids(&mut client).await, ids);
    let resp = client.leases().await.unwrap();
    assert_eq!(rev(resp.header()), 1);
});

both!(
    an_expired_lease_is_revoked_with_its_keys,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let ttl = 2;
        let granted = Instant::now();
        let resp = client.lease_grant(ttl, None).await.unwrap();
        assert_eq!(resp.ttl(), ttl, "2 s is not below either server's minimum");
        let id = resp.id();
        client.put("x1", "v", with_lease(id)).await.unwrap();
        client.put("x2", "v", with_lease(id)).await.unwrap();
        let resp = client.put("y", "v", None).await.unwrap();
        assert_eq!(rev(resp.header()), 4);
        let left = eventually(
            Duration::from_secs(ttl as u64 + 2),
            "the lease's keys are deleted",
            || {
                let mut client = client.clone();
                async move { (all_keys(&mut client).await == ["y"]).then_some(()) }
            },
        )
        .await;
        let _: () = left;
        let elapsed = granted.elapsed();
        assert!(
            elapsed >= Duration::from_millis(ttl as u64 * 1000 - 100),
            "expired early, after {elapsed:?}"
        );
        assert!(
            elapsed <= Duration::from_millis(ttl as u64 * 1000 + 1500),
            "expired late, after {elapsed:?}"
        );
        // Both keys went in one revision, and the lease is gone.
        let now = client.get("y", None).await.unwrap();
        assert_eq!(rev(now.header()), 5);
        let ttl = client.lease_time_to_live(id, None).await.unwrap();
        assert_eq!(ttl.ttl(), -1);
        assert!(lease_ids(&mut client).await.is_empty());
        match client.lease_keep_alive(id).await {
            Err(etcd_client::Error::LeaseKeepAliveError(_)) => {}
            other => panic!("expected a TTL-0 answer, got {other:?}"),
        }
    }
);

/// Ours only: etcd 3.4 (without its experimental checkpoint flags) gives
/// every lease its full TTL again after a restart; we resume from the
/// remaining TTL the leader recorded before stopping.
mod restart_resumes_the_remaining_ttl {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn etcd_rs() {
        let mut node = Node::start(Target::EtcdRs, &[]).await;
        let mut client = node.client().await;
        let id = client.lease_grant(60, None).await.unwrap().id();
        client.put("held", "v", with_lease(id)).await.unwrap();
        // Let the lease run down a few seconds (the time passing is the
        // point, there is no condition to wait for).
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = client.lease_time_to_live(id, None).await.unwrap().ttl();
        assert!((53..=55).contains(&before), "{before}");

        node.restart().await;
        let mut client = node.client().await;
        let after = client.lease_time_to_live(id, with_keys()).await.unwrap();
        assert_eq!(after.granted_ttl(), 60);
        assert_eq!(after.keys(), [b"held".to_vec()]);
        // Not renewed to the full 60 s, and not shorter than what was left
        // (resuming adds back at most a second of rounding and an election
        // timeout, 1 s).
        assert!(
            after.ttl() >= before - 1 && after.ttl() <= before + 2,
            "{before} s left before the restart, {} s after",
            after.ttl()
        );
        // A crash cannot record anything: the lease resumes from the last
        // checkpoint, which is never shorter than what is left.
        let left = after.ttl();
        node.kill9();
        node.restart().await;
        let mut client = node.client().await;
        let crashed = client.lease_time_to_live(id, None).await.unwrap().ttl();
        assert!(
            crashed >= left - 1 && crashed < 60,
            "{left} s left before the crash, {crashed} s after"
        );
        // The lease still works: a keep-alive renews it in full.
        let (_keeper, _stream) = client.lease_keep_alive(id).await.unwrap();
        let renewed = client.lease_time_to_live(id, None).await.unwrap();
        assert!(renewed.ttl() >= 59, "{}", renewed.ttl());
    }
}
