//! The Lock and Election services over gRPC (etcd-client's lock and
//! election calls), against both servers: the key layout (`name/<lease
//! hex>`, visible to KV reads), waiting for the holder to unlock, to have
//! its lease revoked or to expire, waiters served in arrival order, an
//! abandoned waiter withdrawing its key, sessions for lease 0; Campaign,
//! Leader, Proclaim, Resign and Observe; and every error (etcd returns them
//! all as `Unknown`, having served these services through its own client).
//!
//! "Still waiting" is checked after the waiter's key is seen in the store
//! (it has joined the queue), with a short bounded wait for a wrong answer.

use crate::common;

use std::time::{Duration, Instant};

use common::{assert_status, eventually, keys, min_ttl, rev, Node, Target};
use etcd_client::{
    Client, GetOptions, LeaderKey, LeaseTimeToLiveOptions, LockOptions, LockResponse,
    ProclaimOptions, ResignOptions,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::Code;

/// How long a call that must keep waiting is given to answer wrongly.
const STILL_WAITING: Duration = Duration::from_millis(400);
/// How long a call that must answer now gets.
const ANSWER: Duration = Duration::from_secs(5);

/// `name/<lease id in lowercase hex>`, etcd's layout.
fn lock_key(name: &str, lease: i64) -> String {
    format!("{name}/{lease:x}")
}

async fn grant(client: &mut Client, ttl: i64) -> i64 {
    client.lease_grant(ttl, None).await.unwrap().id()
}

async fn prefix_keys(client: &mut Client, name: &str) -> Vec<String> {
    let resp = client
        .get(format!("{name}/"), Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    keys(resp.kvs())
}

/// Waits until `key` exists (a waiter has joined the queue).
async fn wait_for_key(client: &Client, key: &str) {
    eventually(ANSWER, &format!("key {key} to appear"), || {
        let mut client = client.clone();
        async move {
            let resp = client.get(key, None).await.unwrap();
            (!resp.kvs().is_empty()).then_some(())
        }
    })
    .await;
}

/// Waits until `key` is gone.
async fn wait_for_no_key(client: &Client, key: &str) {
    eventually(ANSWER, &format!("key {key} to be deleted"), || {
        let mut client = client.clone();
        async move {
            let resp = client.get(key, None).await.unwrap();
            resp.kvs().is_empty().then_some(())
        }
    })
    .await;
}

/// Starts a Lock call on its own task.
fn spawn_lock(
    client: &Client,
    name: &str,
    lease: i64,
) -> JoinHandle<Result<LockResponse, etcd_client::Error>> {
    let mut client = client.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        client
            .lock(name, Some(LockOptions::new().with_lease(lease)))
            .await
    })
}

/// Asserts that a spawned call has not answered (within [`STILL_WAITING`]).
async fn assert_waiting<T: std::fmt::Debug>(call: &mut JoinHandle<T>, what: &str) {
    if let Ok(answer) = tokio::time::timeout(STILL_WAITING, call).await {
        panic!("{what} should still wait, but answered {answer:?}");
    }
}

/// The answer of a spawned call that must answer now.
async fn answer<T>(call: JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(ANSWER, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {ANSWER:?}"))
        .unwrap()
}

both!(lock_key_layout_is_visible_to_kv, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("before", "x", None).await.unwrap();
    let lease = grant(&mut client, 30).await;
    let resp = client
        .lock("mylock", Some(LockOptions::new().with_lease(lease)))
        .await
        .unwrap();
    let key = lock_key("mylock", lease);
    assert_eq!(resp.key(), key.as_bytes());
    // The header is the txn that created the key.
    assert_eq!(rev(resp.header()), 3);
    let got = client.get(key.clone(), None).await.unwrap();
    let kv = &got.kvs()[0];
    assert_eq!(
        (kv.value(), kv.lease(), kv.create_revision(), kv.version()),
        (&b""[..], lease, 3, 1)
    );
    // The lease lists the key.
    let ttl = client
        .lease_time_to_live(lease, Some(LeaseTimeToLiveOptions::new().with_keys()))
        .await
        .unwrap();
    assert_eq!(ttl.keys(), [key.as_bytes().to_vec()]);

    let unlocked = client.unlock(key.clone()).await.unwrap();
    assert_eq!(rev(unlocked.header()), 4);
    assert!(client
        .get(key.clone(), None)
        .await
        .unwrap()
        .kvs()
        .is_empty());
    // Unlocking again deletes nothing: the revision stays.
    let again = client.unlock(key).await.unwrap();
    assert_eq!(rev(again.header()), 4);
});

both!(
    lock_again_with_the_same_lease_is_held_at_once,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let lease = grant(&mut client, 30).await;
        let first = client
            .lock("l", Some(LockOptions::new().with_lease(lease)))
            .await
            .unwrap();
        let second = client
            .lock("l", Some(LockOptions::new().with_lease(lease)))
            .await
            .unwrap();
        assert_eq!(first.key(), second.key());
        // Nothing was written the second time.
        assert_eq!(rev(second.header()), rev(first.header()));
        assert_eq!(prefix_keys(&mut client, "l").await, [lock_key("l", lease)]);
    }
);

both!(
    second_locker_waits_until_the_first_unlocks,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (a, b) = (grant(&mut client, 30).await, grant(&mut client, 30).await);
        let held = client
            .lock("mylock", Some(LockOptions::new().with_lease(a)))
            .await
            .unwrap();
        let mut waiter = spawn_lock(&client, "mylock", b);
        wait_for_key(&client, &lock_key("mylock", b)).await;
        assert_waiting(&mut waiter, "the second Lock").await;

        let unlocked = client.unlock(held.key()).await.unwrap();
        let got = answer(waiter, "the second Lock").await.unwrap();
        assert_eq!(got.key(), lock_key("mylock", b).as_bytes());
        assert!(rev(got.header()) >= rev(unlocked.header()));
        assert_eq!(
            prefix_keys(&mut client, "mylock").await,
            [lock_key("mylock", b)]
        );
    }
);

both!(
    waiter_gets_the_lock_when_the_holders_lease_is_revoked,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (a, b) = (grant(&mut client, 30).await, grant(&mut client, 30).await);
        client
            .lock("l", Some(LockOptions::new().with_lease(a)))
            .await
            .unwrap();
        let mut waiter = spawn_lock(&client, "l", b);
        wait_for_key(&client, &lock_key("l", b)).await;
        assert_waiting(&mut waiter, "the second Lock").await;
        client.lease_revoke(a).await.unwrap();
        let got = answer(waiter, "the second Lock").await.unwrap();
        assert_eq!(got.key(), lock_key("l", b).as_bytes());
    }
);

both!(
    waiter_gets_the_lock_when_the_holders_lease_expires,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let ttl = min_ttl(target);
        let a = grant(&mut client, ttl).await;
        let b = grant(&mut client, 30).await;
        client
            .lock("l", Some(LockOptions::new().with_lease(a)))
            .await
            .unwrap();
        let started = Instant::now();
        let mut waiter = spawn_lock(&client, "l", b);
        wait_for_key(&client, &lock_key("l", b)).await;
        assert_waiting(&mut waiter, "the second Lock").await;
        // Nobody keeps `a` alive: it expires within its TTL (plus the expiry
        // check interval and a revoke through the log).
        let got = tokio::time::timeout(Duration::from_secs(ttl as u64 + 8), waiter)
            .await
            .expect("the lock passes once the holder's lease expires")
            .unwrap()
            .unwrap();
        assert_eq!(got.key(), lock_key("l", b).as_bytes());
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert_eq!(prefix_keys(&mut client, "l").await, [lock_key("l", b)]);
    }
);

both!(waiters_are_served_in_arrival_order, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let holder = grant(&mut client, 30).await;
    let first = client
        .lock("q", Some(LockOptions::new().with_lease(holder)))
        .await
        .unwrap();
    // Three waiters, each joining after the previous one's key exists.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut leases = Vec::new();
    for i in 0..3 {
        let lease = grant(&mut client, 30).await;
        leases.push(lease);
        let call = spawn_lock(&client, "q", lease);
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let resp = call.await.unwrap().unwrap();
            let _ = done_tx.send((i, resp.key().to_vec()));
        });
        wait_for_key(&client, &lock_key("q", lease)).await;
    }
    let mut previous = first.key().to_vec();
    for (i, lease) in leases.iter().enumerate() {
        assert!(
            tokio::time::timeout(STILL_WAITING, done_rx.recv())
                .await
                .is_err(),
            "a waiter got the lock while {} held it",
            String::from_utf8_lossy(&previous)
        );
        client.unlock(previous).await.unwrap();
        let (who, key) = tokio::time::timeout(ANSWER, done_rx.recv())
            .await
            .expect("the next waiter gets the lock")
            .unwrap();
        assert_eq!((who, key.clone()), (i, lock_key("q", *lease).into_bytes()));
        previous = key;
    }
});

both!(an_abandoned_waiter_withdraws_its_key, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let (a, b, c) = (
        grant(&mut client, 30).await,
        grant(&mut client, 30).await,
        grant(&mut client, 30).await,
    );
    let held = client
        .lock("l", Some(LockOptions::new().with_lease(a)))
        .await
        .unwrap();
    let waiter = spawn_lock(&client, "l", b);
    wait_for_key(&client, &lock_key("l", b)).await;
    let mut third = spawn_lock(&client, "l", c);
    wait_for_key(&client, &lock_key("l", c)).await;
    // The client gives up: the call is canceled, and the server removes
    // the waiter's key although its lease lives on.
    waiter.abort();
    wait_for_no_key(&client, &lock_key("l", b)).await;
    assert_waiting(&mut third, "the third Lock").await;
    client.unlock(held.key()).await.unwrap();
    let got = answer(third, "the third Lock").await.unwrap();
    assert_eq!(got.key(), lock_key("l", c).as_bytes());
});

both!(
    lock_with_lease_zero_runs_on_a_fresh_session_lease,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let resp = client.lock("l", None).await.unwrap();
        let got = client.get(resp.key(), None).await.unwrap();
        let lease = got.kvs()[0].lease();
        assert_ne!(lease, 0);
        assert_eq!(resp.key(), lock_key("l", lease).as_bytes());
        // etcd's default session TTL, and nobody keeps it alive.
        let ttl = client.lease_time_to_live(lease, None).await.unwrap();
        assert_eq!(ttl.granted_ttl(), 60);
    }
);

both!(lock_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert_status(
        client
            .lock("l", Some(LockOptions::new().with_lease(0x1234)))
            .await,
        Code::Unknown,
        "etcdserver: requested lease not found",
    );
    assert!(prefix_keys(&mut client, "l").await.is_empty());
    assert_status(
        client.unlock("").await,
        Code::Unknown,
        "etcdserver: key is not provided",
    );
    // An empty name is a name: the key is "/<hex>".
    let lease = grant(&mut client, 30).await;
    let resp = client
        .lock("", Some(LockOptions::new().with_lease(lease)))
        .await
        .unwrap();
    assert_eq!(resp.key(), format!("/{lease:x}").as_bytes());
});

// A waiter whose own lease expires while it waits loses its key. etcd 3.4
// still answers "locked" once the holder leaves (a lock nobody holds); we
// check the key again, as etcd 3.5 does, and refuse.
both!(
    a_waiter_whose_lease_expires_is_not_given_the_lock,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let a = grant(&mut client, 30).await;
        let b = grant(&mut client, min_ttl(target)).await;
        let held = client
            .lock("l", Some(LockOptions::new().with_lease(a)))
            .await
            .unwrap();
        let mut waiter = spawn_lock(&client, "l", b);
        wait_for_key(&client, &lock_key("l", b)).await;
        wait_for_no_key(&client, &lock_key("l", b)).await;
        assert_waiting(&mut waiter, "the expired waiter").await;
        client.unlock(held.key()).await.unwrap();
        let result = answer(waiter, "the expired waiter").await;
        match target {
            Target::Reference => {
                let resp = result.unwrap();
                assert_eq!(resp.key(), lock_key("l", b).as_bytes());
            }
            Target::EtcdRs => {
                assert_status(result, Code::Unknown, "mutex: session is expired");
            }
        }
        assert!(prefix_keys(&mut client, "l").await.is_empty());
    }
);

// ---------------------------------------------------------------- Election

/// Starts a Campaign call on its own task.
fn spawn_campaign(
    client: &Client,
    name: &str,
    value: &str,
    lease: i64,
) -> JoinHandle<Result<etcd_client::CampaignResponse, etcd_client::Error>> {
    let mut client = client.clone();
    let (name, value) = (name.to_string(), value.to_string());
    tokio::spawn(async move { client.campaign(name, value, lease).await })
}

/// Observes `name` on a task, forwarding (key, value, header revision).
/// etcd answers the call only with its first update, so the call itself
/// runs on the task too.
fn spawn_observe(client: &Client, name: &str) -> mpsc::UnboundedReceiver<(String, String, i64)> {
    let mut client = client.clone();
    let name = name.to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = client.observe(name).await.unwrap();
        while let Some(resp) = stream.message().await.unwrap() {
            let kv = resp.kv().unwrap();
            let item = (
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
                rev(resp.header()),
            );
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

async fn next_observed(
    rx: &mut mpsc::UnboundedReceiver<(String, String, i64)>,
) -> (String, String, i64) {
    tokio::time::timeout(ANSWER, rx.recv())
        .await
        .expect("an observed leader update")
        .expect("the observe stream is open")
}

fn leader_of(resp: &etcd_client::CampaignResponse) -> LeaderKey {
    resp.leader().unwrap().clone()
}

both!(campaign_leader_proclaim_resign, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let lease = grant(&mut client, 30).await;
    let won = client.campaign("e", "v1", lease).await.unwrap();
    let leader = leader_of(&won);
    let key = lock_key("e", lease);
    assert_eq!(
        (leader.name(), leader.key(), leader.rev(), leader.lease()),
        (&b"e"[..], key.as_bytes(), 2, lease)
    );
    assert_eq!(rev(won.header()), 2);

    let now = client.leader("e").await.unwrap();
    let kv = now.kv().unwrap();
    assert_eq!(
        (kv.key(), kv.value(), kv.lease()),
        (key.as_bytes(), &b"v1"[..], lease)
    );
    assert_eq!(rev(now.header()), 2);

    let proclaimed = client
        .proclaim(
            "v2",
            Some(ProclaimOptions::new().with_leader(leader.clone())),
        )
        .await
        .unwrap();
    assert_eq!(rev(proclaimed.header()), 3);
    let now = client.leader("e").await.unwrap();
    assert_eq!(now.kv().unwrap().value(), b"v2");
    assert_eq!(now.kv().unwrap().version(), 2);

    // A leader key with another create revision does not lead.
    let stale = leader.clone().with_rev(leader.rev() + 100);
    assert_status(
        client
            .proclaim(
                "v3",
                Some(ProclaimOptions::new().with_leader(stale.clone())),
            )
            .await,
        Code::Unknown,
        "election: not leader",
    );
    // Resigning what does not lead changes nothing and is no error.
    let not_resigned = client
        .resign(Some(ResignOptions::new().with_leader(stale)))
        .await
        .unwrap();
    assert_eq!(rev(not_resigned.header()), 3);
    assert_eq!(
        client.leader("e").await.unwrap().kv().unwrap().value(),
        b"v2"
    );

    let resigned = client
        .resign(Some(ResignOptions::new().with_leader(leader.clone())))
        .await
        .unwrap();
    assert_eq!(rev(resigned.header()), 4);
    assert_status(
        client.leader("e").await,
        Code::Unknown,
        "election: no leader",
    );
    assert_status(
        client
            .proclaim("v3", Some(ProclaimOptions::new().with_leader(leader)))
            .await,
        Code::Unknown,
        "election: not leader",
    );
});

both!(election_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    assert_status(
        client.leader("nobody").await,
        Code::Unknown,
        "election: no leader",
    );
    assert_status(
        client.proclaim("v", None).await,
        Code::Unknown,
        "\"leader\" field must be provided",
    );
    assert_status(
        client.resign(None).await,
        Code::Unknown,
        "\"leader\" field must be provided",
    );
    assert_status(
        client.campaign("e", "v", 0x1234).await,
        Code::Unknown,
        "etcdserver: requested lease not found",
    );
    assert!(prefix_keys(&mut client, "e").await.is_empty());
});

both!(
    campaigning_again_on_a_lease_proclaims_the_new_value,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let lease = grant(&mut client, 30).await;
        let first = client.campaign("e", "v1", lease).await.unwrap();
        let again = client.campaign("e", "v2", lease).await.unwrap();
        assert_eq!(leader_of(&again).key(), leader_of(&first).key());
        assert_eq!(leader_of(&again).rev(), leader_of(&first).rev());
        // The header is the joining txn's (which only read the key), taken
        // before the proclaim that followed it.
        assert_eq!(rev(again.header()), 2);
        let now = client.leader("e").await.unwrap();
        assert_eq!(now.kv().unwrap().value(), b"v2");
        assert_eq!(rev(now.header()), 3);
    }
);

both!(
    a_second_candidate_leads_once_the_first_resigns,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (a, b) = (grant(&mut client, 30).await, grant(&mut client, 30).await);
        let first = client.campaign("e", "a", a).await.unwrap();
        let mut second = spawn_campaign(&client, "e", "b", b);
        wait_for_key(&client, &lock_key("e", b)).await;
        assert_waiting(&mut second, "the second Campaign").await;
        // The leader is still the first, whatever the second wrote.
        assert_eq!(
            client.leader("e").await.unwrap().kv().unwrap().value(),
            b"a"
        );

        client
            .resign(Some(ResignOptions::new().with_leader(leader_of(&first))))
            .await
            .unwrap();
        let won = answer(second, "the second Campaign").await.unwrap();
        let leader = leader_of(&won);
        assert_eq!(
            (leader.key(), leader.lease()),
            (lock_key("e", b).as_bytes(), b)
        );
        // Its create revision, from when it joined (right after the first).
        assert_eq!(leader.rev(), leader_of(&first).rev() + 1);
        assert_eq!(
            client.leader("e").await.unwrap().kv().unwrap().value(),
            b"b"
        );
    }
);

both!(
    a_candidate_leads_once_the_leaders_lease_is_revoked,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (a, b) = (grant(&mut client, 30).await, grant(&mut client, 30).await);
        client.campaign("e", "a", a).await.unwrap();
        let mut second = spawn_campaign(&client, "e", "b", b);
        wait_for_key(&client, &lock_key("e", b)).await;
        assert_waiting(&mut second, "the second Campaign").await;
        client.lease_revoke(a).await.unwrap();
        let won = answer(second, "the second Campaign").await.unwrap();
        assert_eq!(leader_of(&won).key(), lock_key("e", b).as_bytes());
    }
);

both!(
    observe_follows_leaders_and_their_values,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let (a, b) = (grant(&mut client, 30).await, grant(&mut client, 30).await);
        let (key_a, key_b) = (lock_key("e", a), lock_key("e", b));

        // Nobody leads yet: the first update is the first campaign.
        let mut observed = spawn_observe(&client, "e");
        let first = client.campaign("e", "a1", a).await.unwrap();
        let leader_a = leader_of(&first);
        assert_eq!(
            next_observed(&mut observed).await,
            (key_a.clone(), "a1".into(), 2)
        );

        client
            .proclaim(
                "a2",
                Some(ProclaimOptions::new().with_leader(leader_a.clone())),
            )
            .await
            .unwrap();
        assert_eq!(
            next_observed(&mut observed).await,
            (key_a.clone(), "a2".into(), 3)
        );

        // A second candidate is not the leader: nothing is observed.
        let second = spawn_campaign(&client, "e", "b1", b);
        wait_for_key(&client, &key_b).await;
        assert!(
            tokio::time::timeout(STILL_WAITING, observed.recv())
                .await
                .is_err(),
            "a waiting candidate was observed as leader"
        );

        // A late observer starts from the current leader.
        let mut late = spawn_observe(&client, "e");
        assert_eq!(
            next_observed(&mut late).await,
            (key_a.clone(), "a2".into(), 4)
        );

        client
            .resign(Some(ResignOptions::new().with_leader(leader_a)))
            .await
            .unwrap();
        let won = answer(second, "the second Campaign").await.unwrap();
        assert_eq!(leader_of(&won).key(), key_b.as_bytes());
        for rx in [&mut observed, &mut late] {
            let (key, value, _) = next_observed(rx).await;
            assert_eq!((key, value), (key_b.clone(), "b1".to_string()));
        }
        client
            .proclaim(
                "b2",
                Some(ProclaimOptions::new().with_leader(leader_of(&won))),
            )
            .await
            .unwrap();
        assert_eq!(
            next_observed(&mut observed).await,
            (key_b.clone(), "b2".into(), 6)
        );
        assert_eq!(next_observed(&mut late).await, (key_b, "b2".into(), 6));
    }
);
