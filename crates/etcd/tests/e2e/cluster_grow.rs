//! Growing a one-member cluster to three, the way etcd's docs show it, on
//! ours and Debian's etcd 3.4: `etcdctl member add NAME --peer-urls=URL` (a
//! voter) answers at once, `member list` shows the new member as an
//! unstarted voter, the member started with `--initial-cluster-state
//! existing` joins, and the cluster — now two voters — keeps taking writes
//! through every member; then a third the same way. Also with writers
//! running through the adds: no acknowledged write is lost.
//!
//! Ours adds a voter as a learner its leader promotes once caught up
//! (crates/raft/src/membership.rs); what clients see must be etcd's.

use crate::common;

use std::time::Duration;

use common::cluster::{Cluster, PendingMember, Writers};
use common::{etcdctl, eventually, Target};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

/// `member list -w json` on member `i`: (id, name, is learner) of each.
async fn listed(cluster: &Cluster, i: usize) -> Option<Vec<(u64, String, bool)>> {
    let output = etcdctl(cluster.member(i), &["member", "list", "-w", "json"]).await;
    if !output.status.success() {
        return None;
    }
    let list: Value = serde_json::from_slice(&output.stdout).ok()?;
    let members = list["members"].as_array()?;
    Some(
        members
            .iter()
            .map(|m| {
                (
                    m["ID"].as_u64().unwrap_or(0),
                    m["name"].as_str().unwrap_or("").to_string(),
                    m["isLearner"].as_bool().unwrap_or(false),
                )
            })
            .collect(),
    )
}

/// Adds `pending` as a voter through member `via` and checks etcd's answer:
/// the new member, a voter, among `before + 1` members. Its id.
async fn add_voter(cluster: &Cluster, via: usize, pending: &PendingMember, before: usize) -> u64 {
    let added = cluster
        .member_add(via, &pending.name, &pending.peer_url(), false)
        .await;
    let member = &added["member"];
    assert!(!member["isLearner"].as_bool().unwrap_or(false), "{added}");
    let id = member["ID"].as_u64().expect("new member id");
    let members = added["members"].as_array().expect("members");
    assert_eq!(members.len(), before + 1, "{added}");
    assert!(members.iter().any(|m| m["ID"].as_u64() == Some(id)));
    id
}

/// Adds a voter through member 0 and joins it; its index.
async fn grow(cluster: &mut Cluster, before: usize) -> usize {
    let pending = cluster.pending_member();
    let id = add_voter(cluster, 0, &pending, before).await;

    // Listed at once as a voter that has not started (no name yet).
    let list = listed(cluster, 0).await.expect("member list");
    assert_eq!(list.len(), before + 1, "{list:?}");
    let new = list.iter().find(|m| m.0 == id).expect("new member listed");
    assert_eq!(new.1, "", "an unstarted member has no name: {list:?}");
    assert!(list.iter().all(|m| !m.2), "no learners: {list:?}");

    let joined = cluster.join(&pending).await;
    assert_eq!(cluster.member_id(joined), id);
    joined
}

/// Every member lists the same `count` started voters, names the same
/// leader, reports itself a voter, refuses to promote the newest member
/// (a voter, as etcd says), and takes writes and linearizable reads.
async fn settled(cluster: &mut Cluster, count: usize, newest: usize) {
    let newest = cluster.member_id(newest);
    let members = cluster.active();
    for &i in &members {
        let what = format!("member {i} lists {count} started voters");
        eventually(LONG, &what, || async {
            let list = listed(cluster, i).await?;
            (list.len() == count && list.iter().all(|m| !m.1.is_empty() && !m.2)).then_some(())
        })
        .await;
    }
    cluster.wait_leader(LONG).await;
    for &i in &members {
        let mut client = cluster.member(i).client().await;
        let status = client.status().await.expect("status");
        assert!(!status.is_learner(), "member {i} says it is a learner");
    }
    let hex = format!("{newest:x}");
    let output = etcdctl(cluster.member(0), &["member", "promote", &hex]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("can only promote a learner member"),
        "{stderr}"
    );
    if cluster.target() == Target::EtcdRs {
        // Ours: the new member became a Raft voter too.
        eventually(LONG, "the leader promoted the new voter", || async {
            members
                .iter()
                .any(|&i| {
                    cluster
                        .member(i)
                        .log()
                        .contains("promoted a voter added as a learner")
                })
                .then_some(())
        })
        .await;
    }
    for &i in &members {
        let mut client = cluster.member(i).client().await;
        let key = format!("through-{i}-of-{count}");
        client.put(key.as_str(), "v", None).await.expect("put");
        let got = client.get(key.as_str(), None).await.expect("get");
        assert_eq!(got.kvs().len(), 1);
    }
}

both!(one_member_grows_to_three, |target| async move {
    let mut cluster = Cluster::start(target, 1, &[]).await;
    cluster.wait_leader(LONG).await;
    let mut client = cluster.member(0).client().await;
    for k in 0..20 {
        client
            .put(format!("before/{k}"), "v", None)
            .await
            .expect("put");
    }

    let second = grow(&mut cluster, 1).await;
    settled(&mut cluster, 2, second).await;
    let third = grow(&mut cluster, 2).await;
    settled(&mut cluster, 3, third).await;

    // What was written on the lone member reached the newcomers.
    for i in [second, third] {
        let mut client = cluster.member(i).client().await;
        let options = etcd_client::GetOptions::new()
            .with_prefix()
            .with_serializable();
        let got = client.get("before/", Some(options)).await.expect("get");
        assert_eq!(got.kvs().len(), 20, "member {i}");
    }
});

both!(
    grows_under_load_without_losing_writes,
    |target| async move {
        let mut cluster = Cluster::start(target, 1, &[]).await;
        cluster.wait_leader(LONG).await;
        let writers = Writers::start(cluster.endpoints(), 2).await;
        writers.wait_acked(50, "writes before the adds").await;

        let second = grow(&mut cluster, 1).await;
        let acked = writers.acked();
        writers
            .wait_acked(acked + 50, "writes with two members")
            .await;
        settled(&mut cluster, 2, second).await;
        let third = grow(&mut cluster, 2).await;
        let acked = writers.acked();
        writers
            .wait_acked(acked + 50, "writes with three members")
            .await;
        settled(&mut cluster, 3, third).await;

        let (acks, _failures) = writers.stop().await;
        assert!(!acks.is_empty());
        cluster.assert_acks_everywhere(&acks).await;
    }
);
