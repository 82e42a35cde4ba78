//! Serving from any member, against ours and Debian's etcd: a FOLLOWER
//! takes writes (forwarded to the leader, answered from its own apply),
//! serves linearizable reads that see a write made on another member at
//! once, serves leases (grant, keep-alive, time-to-live, list, revoke),
//! lists every member with its client URLs, answers `endpoint status
//! --cluster`, and MoveLeader behaves as etcd's (only on the leader, a bad
//! transferee refused, the transfer complete when it answers).

use crate::common;

use std::time::Duration;

use common::cluster::Cluster;
use common::{assert_output_ok, etcdctl_command, eventually, Target};
use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use serde_json::Value;

const LEADER_WAIT: Duration = Duration::from_secs(15);

/// A started 3-member cluster, its leader and one follower.
async fn three(target: Target) -> (Cluster, usize, usize) {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(LEADER_WAIT).await;
    let follower = (leader + 1) % 3;
    (cluster, leader, follower)
}

async fn etcdctl_at(endpoint: &str, args: &[&str]) -> std::process::Output {
    etcdctl_command(endpoint)
        .arg("--command-timeout=10s")
        .args(args)
        .output()
        .await
        .expect("run etcdctl")
}

both!(follower_serves_kv, |target| async move {
    let (cluster, _leader, follower) = three(target).await;
    let other = (follower + 1) % 3;
    let mut on_follower = cluster.member(follower).client().await;
    let mut on_other = cluster.member(other).client().await;

    // A write taken by a follower: answered by that member, with the
    // revision its own apply produced.
    let put = on_follower.put("fwd/a", "1", None).await.expect("put");
    let header = put.header().expect("header");
    assert_eq!(header.member_id(), cluster.member_id(follower));
    let revision = header.revision();
    assert!(revision > 1);

    // A linearizable read on another member sees it at once.
    let got = on_other.get("fwd/a", None).await.expect("get");
    assert_eq!(got.kvs().first().map(|kv| kv.value()), Some(&b"1"[..]));
    assert!(common::rev(got.header()) >= revision);

    // A write on that member is seen by the first at once, too.
    on_other.put("fwd/b", "2", None).await.expect("put b");
    let got = on_follower
        .get("fwd/", Some(GetOptions::new().with_prefix()))
        .await;
    assert_eq!(
        common::keys(got.expect("get prefix").kvs()),
        ["fwd/a", "fwd/b"]
    );

    // Txn and delete through the follower, with their applied answers.
    let txn = Txn::new()
        .when([Compare::value("fwd/a", CompareOp::Equal, "1")])
        .and_then([TxnOp::put("fwd/a", "3", None)])
        .or_else([TxnOp::put("fwd/a", "never", None)]);
    let resp = on_follower.txn(txn).await.expect("txn");
    assert!(resp.succeeded());
    let resp = on_follower.delete("fwd/b", None).await.expect("delete");
    assert_eq!(resp.deleted(), 1);
    let got = on_other
        .get("fwd/", Some(GetOptions::new().with_prefix()))
        .await;
    let got = got.expect("get after txn");
    assert_eq!(common::kvs(got.kvs()).len(), 1);
    assert_eq!(got.kvs()[0].value(), b"3");

    // A refusal comes from the follower's own apply, as etcd's does.
    let err = on_follower
        .put(
            "fwd/c",
            "x",
            Some(etcd_client::PutOptions::new().with_lease(12345)),
        )
        .await;
    let status = common::grpc_status(err);
    assert_eq!(status.message(), "etcdserver: requested lease not found");

    // etcdctl against the follower only.
    let endpoint = cluster.member(follower).client_url();
    let out = etcdctl_at(&endpoint, &["put", "fwd/ctl", "v"]).await;
    assert_output_ok(&["put"], &out);
    let out = etcdctl_at(
        &cluster.member(other).client_url(),
        &["get", "fwd/ctl", "--print-value-only"],
    )
    .await;
    assert_output_ok(&["get"], &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
});

both!(follower_serves_leases, |target| async move {
    let (cluster, leader, follower) = three(target).await;
    let mut on_follower = cluster.member(follower).client().await;
    let mut on_leader = cluster.member(leader).client().await;

    let grant = on_follower.lease_grant(60, None).await.expect("grant");
    let id = grant.id();
    assert_eq!(grant.ttl(), 60);
    on_follower
        .put(
            "lease/k",
            "v",
            Some(etcd_client::PutOptions::new().with_lease(id)),
        )
        .await
        .expect("put with lease");

    // Keep-alive through the follower: the leader restarts the TTL.
    let (mut keeper, mut responses) = on_follower.lease_keep_alive(id).await.expect("keep-alive");
    keeper.keep_alive().await.expect("send keep-alive");
    let resp = responses
        .message()
        .await
        .expect("keep-alive answer")
        .expect("a response");
    assert_eq!(resp.id(), id);
    assert_eq!(resp.ttl(), 60);

    // TimeToLive on the follower: the leader's clock, the stored keys.
    let options = etcd_client::LeaseTimeToLiveOptions::new().with_keys();
    let ttl = on_follower
        .lease_time_to_live(id, Some(options))
        .await
        .expect("time to live");
    assert_eq!(ttl.granted_ttl(), 60);
    assert!(ttl.ttl() > 50 && ttl.ttl() <= 60, "ttl {}", ttl.ttl());
    assert_eq!(ttl.keys(), [b"lease/k".to_vec()]);
    let leases = on_follower.leases().await.expect("leases");
    assert!(leases.leases().iter().any(|l| l.id() == id));

    // Unknown leases answer as etcd's do, from a follower too.
    let missing = on_follower
        .lease_time_to_live(id + 1, None)
        .await
        .expect("unknown ttl");
    assert_eq!(missing.ttl(), -1);
    // etcd-client sends the first keep-alive itself; TTL 0 is "not found".
    let unknown = on_follower.lease_keep_alive(id + 1).await;
    assert!(
        matches!(&unknown, Err(etcd_client::Error::LeaseKeepAliveError(m)) if m == "lease not found"),
        "{unknown:?}"
    );

    // Revoke through the follower deletes the key everywhere.
    on_follower.lease_revoke(id).await.expect("revoke");
    let got = on_leader.get("lease/k", None).await.expect("get");
    assert!(got.kvs().is_empty());

    // etcdctl's lease commands against the follower.
    let endpoint = cluster.member(follower).client_url();
    let out = etcdctl_at(&endpoint, &["lease", "grant", "30"]).await;
    assert_output_ok(&["lease", "grant"], &out);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let hex = text
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    let out = etcdctl_at(&endpoint, &["lease", "keep-alive", "--once", &hex]).await;
    assert_output_ok(&["lease", "keep-alive"], &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("TTL(30)"));
    let out = etcdctl_at(&endpoint, &["lease", "timetolive", &hex]).await;
    assert_output_ok(&["lease", "timetolive"], &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("granted with TTL(30s)"));
});

both!(every_member_is_listed_and_reachable, |target| async move {
    let (cluster, _leader, follower) = three(target).await;
    let endpoint = cluster.member(follower).client_url();

    // Every member published its client URL, followers too.
    let what = "member list on a follower shows every client URL";
    eventually(Duration::from_secs(20), what, || async {
        let out = etcdctl_at(&endpoint, &["member", "list", "-w", "json"]).await;
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        let mut urls: Vec<String> = list["members"]
            .as_array()?
            .iter()
            .filter_map(|m| {
                m["clientURLs"]
                    .as_array()?
                    .first()?
                    .as_str()
                    .map(String::from)
            })
            .collect();
        urls.sort();
        let mut expected: Vec<String> = (0..3).map(|i| cluster.member(i).client_url()).collect();
        expected.sort();
        (urls == expected).then_some(())
    })
    .await;

    // `endpoint status --cluster` reaches all three through those URLs.
    let out = etcdctl_at(
        &endpoint,
        &["endpoint", "status", "--cluster", "-w", "json"],
    )
    .await;
    assert_output_ok(&["endpoint", "status", "--cluster"], &out);
    let statuses: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let statuses = statuses.as_array().expect("a list");
    assert_eq!(statuses.len(), 3);
    let leaders: Vec<u64> = statuses
        .iter()
        .map(|s| s["Status"]["leader"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        leaders.iter().all(|l| *l != 0 && *l == leaders[0]),
        "{leaders:?}"
    );
    let out = etcdctl_at(&endpoint, &["endpoint", "health", "--cluster"]).await;
    assert_output_ok(&["endpoint", "health", "--cluster"], &out);
});

both!(move_leader_as_etcd, |target| async move {
    let (mut cluster, leader, follower) = three(target).await;
    let follower_url = cluster.member(follower).client_url();
    let leader_url = cluster.member(leader).client_url();
    let target_hex = format!("{:x}", cluster.member_id(follower));

    // Only the leader moves the leadership (etcdctl itself refuses to ask
    // a follower: "no leader endpoint given").
    let mut on_follower = cluster.member(follower).client().await;
    let target_id = cluster.member_id(follower);
    let status = common::grpc_status(on_follower.move_leader(target_id).await);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(status.message(), "etcdserver: not leader");
    let out = etcdctl_at(&follower_url, &["move-leader", &target_hex]).await;
    assert!(!out.status.success());

    // An unknown member cannot lead.
    let mut on_leader = cluster.member(leader).client().await;
    let status = common::grpc_status(on_leader.move_leader(0x1234).await);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(status.message(), "etcdserver: bad leader transferee");

    // etcdctl finds the leader among the endpoints and moves it; when it
    // answers, the follower leads.
    let endpoints = format!("{leader_url},{follower_url}");
    let out = etcdctl_at(&endpoints, &["move-leader", &target_hex]).await;
    assert_output_ok(&["move-leader"], &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Leadership transferred"));
    let (_, now) = cluster.status(follower).await.expect("status");
    assert_eq!(now, cluster.member_id(follower));
    assert_eq!(cluster.wait_leader(LEADER_WAIT).await, follower);

    // The old leader is a follower now and forwards writes.
    let mut on_old = cluster.member(leader).client().await;
    on_old
        .put("after-move", "x", None)
        .await
        .expect("put on the old leader");
});
