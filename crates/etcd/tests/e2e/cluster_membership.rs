//! Membership changes on a running 3-member cluster, against ours and
//! Debian's etcd 3.4 (so every expectation is etcd's): `etcdctl member add
//! --learner` of a 4th member, which joins with `--initial-cluster-state
//! existing`, catches up and is promoted (refused before it caught up);
//! removal of an old member, which exits cleanly; `member update` of peer
//! URLs; `member list` on every member; etcd's errors (unknown id, a peer
//! URL in use, promoting a voter, too many learners, bad URLs); and the same
//! changes under a writer, with no acknowledged write lost.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cluster::Cluster;
use common::{assert_status, etcdctl, etcdctl_json, eventually};
use etcd_client::{GetOptions, MemberAddOptions};
use serde_json::Value;
use tonic::Code;

const LONG: Duration = Duration::from_secs(30);

/// `member list -w json` on member `i`, as (id, name, peer URLs, has client
/// URLs, is learner), sorted by id.
async fn listed(cluster: &Cluster, i: usize) -> Vec<(u64, String, Vec<String>, bool, bool)> {
    let list = etcdctl_json(cluster.member(i), &["member", "list"]).await;
    let mut members: Vec<_> = list["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            (
                m["ID"].as_u64().unwrap_or(0),
                m["name"].as_str().unwrap_or("").to_string(),
                strings(&m["peerURLs"]),
                !strings(&m["clientURLs"]).is_empty(),
                m["isLearner"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    members.sort();
    members
}

/// Whether etcd refused a change because it has not heard from every peer
/// for long enough (etcd's 5 s health interval, right after a start).
fn is_unhealthy<T>(answer: &Result<T, etcd_client::Error>) -> bool {
    matches!(answer, Err(etcd_client::Error::GRpcStatus(s)) if s.message() == "etcdserver: unhealthy cluster")
}

/// Adds a learner at `peer_url` through member `via` with etcdctl; its id.
async fn add_learner(cluster: &Cluster, via: usize, name: &str, peer_url: &str) -> u64 {
    let added = cluster.member_add(via, name, peer_url, true).await;
    let member = &added["member"];
    assert_eq!(member["peerURLs"][0].as_str(), Some(peer_url), "{added}");
    assert_eq!(member["isLearner"].as_bool(), Some(true), "{added}");
    let id = member["ID"].as_u64().expect("new member id");
    // The response lists the whole cluster, the new member included.
    let members = added["members"].as_array().expect("members");
    assert_eq!(members.len(), 4, "{added}");
    assert!(members.iter().any(|m| m["ID"].as_u64() == Some(id)));
    id
}

/// Promotes `id` through member `via` once the leader deems it caught up.
async fn promote_when_ready(cluster: &Cluster, via: usize, id: u64) {
    eventually(LONG, "the learner is promoted", || async {
        let mut client = cluster.probe_client(via).await?;
        match client.member_promote(id).await {
            Ok(_) => Some(()),
            Err(etcd_client::Error::GRpcStatus(s))
                if s.message()
                    == "etcdserver: can only promote a learner member which is in sync with leader" =>
            {
                None
            }
            Err(e) => panic!("promote failed: {e}"),
        }
    })
    .await;
}

both!(
    learner_joins_is_promoted_and_an_old_member_leaves,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        cluster.wait_leader(LONG).await;
        let mut client = cluster.client().await;
        for i in 0..20 {
            client
                .put(format!("before-{i}"), "v", None)
                .await
                .expect("put before the change");
        }

        // Add a learner through a member that may not lead.
        let pending = cluster.pending_member();
        let learner_id = add_learner(&cluster, 1, &pending.name, &pending.peer_url()).await;

        // Every member lists it, unstarted: no name, no client URLs.
        for i in 0..3 {
            let members = eventually(LONG, "member list shows the learner", || async {
                let members = listed(&cluster, i).await;
                (members.len() == 4).then_some(members)
            })
            .await;
            let new = members
                .iter()
                .find(|m| m.0 == learner_id)
                .expect("the learner is listed");
            assert_eq!(new.1, "", "an unstarted member has no name");
            assert_eq!(new.2, [pending.peer_url()]);
            assert!(!new.3, "an unstarted member has no client URLs");
            assert!(new.4, "it is a learner");
        }

        // Not started, it has nothing of the leader's log: promotion is refused.
        let status = cluster
            .probe_client(0)
            .await
            .expect("client")
            .member_promote(learner_id)
            .await;
        assert_status(
            status,
            Code::FailedPrecondition,
            "etcdserver: can only promote a learner member which is in sync with leader",
        );

        // It joins, learns its id from the cluster, and catches up.
        let joined = cluster.join(&pending).await;
        assert_eq!(cluster.member_id(joined), learner_id);
        let mut learner = cluster.probe_client(joined).await.expect("learner client");
        let status = learner.status().await.expect("learner status");
        assert!(status.is_learner(), "Status.isLearner on the learner");
        let mut leader_client = cluster.probe_client(0).await.expect("client");
        let status = leader_client.status().await.expect("status");
        assert!(!status.is_learner());

        promote_when_ready(&cluster, 2, learner_id).await;
        for i in [0, 1, 2, joined] {
            let members = eventually(LONG, "every member lists 4 voters", || async {
                let members = listed(&cluster, i).await;
                (members.len() == 4 && members.iter().all(|m| !m.4)).then_some(members)
            })
            .await;
            assert_eq!(members.len(), 4);
        }
        eventually(
            LONG,
            "the promoted member reports itself a voter",
            || async {
                let mut c = cluster.probe_client(joined).await?;
                (!c.status().await.ok()?.is_learner()).then_some(())
            },
        )
        .await;
        // The new member has everything written before it joined.
        eventually(LONG, "the joined member has the old writes", || async {
            let mut c = cluster.probe_client(joined).await?;
            let options = GetOptions::new().with_prefix().with_serializable();
            let got = c.get("before-", Some(options)).await.ok()?;
            (got.count() == 20).then_some(())
        })
        .await;

        // Remove an original member: it stops and exits cleanly.
        let removed_id = cluster.member_id(0);
        let removed_hex = format!("{removed_id:x}");
        let out = etcdctl(cluster.member(1), &["member", "remove", &removed_hex]).await;
        common::assert_output_ok(&["member", "remove"], &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            // etcdctl prints ids with Go's %16x: space-padded to 16.
            stdout.contains(&format!("Member {removed_id:16x} removed from cluster")),
            "{stdout}"
        );
        let exit = cluster
            .member_mut(0)
            .wait_exit(LONG)
            .await
            .expect("the removed member exits");
        assert!(exit.success(), "the removed member exits cleanly: {exit}");
        if target == common::Target::EtcdRs {
            let log = cluster.member(0).log();
            assert!(
                log.contains("the member has been permanently removed from the cluster"),
                "{}",
                cluster.member(0).log_tail()
            );
        }
        cluster.forget(0);

        // The others go on, three of them.
        cluster.wait_leader(LONG).await;
        for i in [1, 2, joined] {
            let members = eventually(LONG, "the removed member is gone", || async {
                let members = listed(&cluster, i).await;
                (members.len() == 3).then_some(members)
            })
            .await;
            assert!(members.iter().all(|m| m.0 != removed_id));
        }
        let mut client = cluster.client().await;
        client
            .put("after", "v", None)
            .await
            .expect("put after removal");

        // Update a member's peer URLs, and back.
        let id = cluster.member_id(1);
        let original = cluster.member(1).peer_url();
        let extra = format!("http://127.0.0.1:{}", common::free_port());
        let both_urls = format!("{original},{extra}");
        let hex = format!("{id:x}");
        let peer_urls = format!("--peer-urls={both_urls}");
        etcdctl_json(cluster.member(2), &["member", "update", &hex, &peer_urls]).await;
        for i in [1, 2, joined] {
            eventually(LONG, "the update is listed", || async {
                let members = listed(&cluster, i).await;
                let m = members.iter().find(|m| m.0 == id)?;
                let mut urls = m.2.clone();
                urls.sort();
                let mut want = vec![original.clone(), extra.clone()];
                want.sort();
                (urls == want).then_some(())
            })
            .await;
        }
        let peer_urls = format!("--peer-urls={original}");
        etcdctl_json(cluster.member(2), &["member", "update", &hex, &peer_urls]).await;
        eventually(LONG, "the update back is listed", || async {
            let members = listed(&cluster, 1).await;
            let m = members.iter().find(|m| m.0 == id)?;
            (m.2 == [original.clone()]).then_some(())
        })
        .await;
        client
            .put("after-update", "v", None)
            .await
            .expect("put after update");

        if target == common::Target::EtcdRs {
            restarted_removed_member_stops(&cluster, 0).await;
        }
    }
);

/// Starts removed member `i` again on its data dir: it never gets a leader,
/// learns from its peers that it was removed, and exits cleanly (ours).
async fn restarted_removed_member_stops(cluster: &Cluster, i: usize) {
    let member = cluster.member(i);
    let peer_url = member.peer_url();
    let log_path = member.data_dir().join("restart-after-removal.log");
    let log = std::fs::File::create(&log_path).expect("create log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_etcd"))
        .args([
            format!("--name={}", member.name()),
            format!("--data-dir={}", member.data_dir().display()),
            "--listen-client-urls=http://127.0.0.1:0".to_string(),
            "--advertise-client-urls=http://127.0.0.1:0".to_string(),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={}={peer_url}", member.name()),
            "--heartbeat-interval=50".to_string(),
            "--election-timeout=500".to_string(),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the removed member");
    let Ok(exit) = tokio::time::timeout(LONG, child.wait()).await else {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("the restarted removed member did not exit: {log}");
    };
    let exit = exit.expect("wait");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(exit.success(), "exit {exit}: {log}");
    assert!(
        log.contains("the member has been permanently removed from the cluster"),
        "{log}"
    );
}

both!(membership_errors_are_etcds, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(LONG).await;
    let mut client = cluster.probe_client(1).await.expect("client");

    assert_status(
        client.member_remove(0x1234).await,
        Code::NotFound,
        "etcdserver: member not found",
    );
    assert_status(
        client.member_promote(0x1234).await,
        Code::NotFound,
        "etcdserver: member not found",
    );
    assert_status(
        client
            .member_update(0x1234, vec!["http://127.0.0.1:1".to_string()])
            .await,
        Code::NotFound,
        "etcdserver: member not found",
    );
    let voter = cluster.member_id(2);
    assert_status(
        client.member_promote(voter).await,
        Code::FailedPrecondition,
        "etcdserver: can only promote a learner member",
    );
    // A peer URL a member already has. Right after the cluster started,
    // etcd may first answer that it has not heard from every peer long
    // enough.
    let taken = cluster.member(0).peer_url();
    let answer = eventually(LONG, "member add is checked", || async {
        let options = MemberAddOptions::new().with_is_learner();
        let answer = client
            .clone()
            .member_add([taken.as_str()], Some(options))
            .await;
        (!is_unhealthy(&answer)).then_some(answer)
    })
    .await;
    assert_status(
        answer,
        Code::FailedPrecondition,
        "etcdserver: Peer URLs already exists",
    );
    assert_status(
        client
            .member_add(
                ["http://127.0.0.1"],
                Some(MemberAddOptions::new().with_is_learner()),
            )
            .await,
        Code::InvalidArgument,
        "etcdserver: given member URLs are invalid",
    );
    // One learner at a time.
    let first = format!("http://127.0.0.1:{}", common::free_port());
    let added = client
        .member_add(
            [first.as_str()],
            Some(MemberAddOptions::new().with_is_learner()),
        )
        .await
        .expect("add a learner");
    let learner = added.member().expect("the new member").id();
    let second = format!("http://127.0.0.1:{}", common::free_port());
    assert_status(
        client
            .member_add(
                [second.as_str()],
                Some(MemberAddOptions::new().with_is_learner()),
            )
            .await,
        Code::FailedPrecondition,
        "etcdserver: too many learner members in cluster",
    );
    // Header of a membership answer: this member, no revision.
    let removed = client
        .member_remove(learner)
        .await
        .expect("remove the learner");
    let header = removed.header().expect("header");
    assert_eq!(header.member_id(), cluster.member_id(1));
    assert_eq!(header.revision(), 0);
    assert_eq!(removed.members().len(), 3);
});

// A writer runs while a learner is added, joins, is promoted and the
// leader is removed; every write it saw acknowledged is there afterwards.
both!(changes_under_load_lose_no_write, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(LONG).await;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let endpoints: Vec<String> = survivors
        .iter()
        .map(|i| cluster.member(*i).endpoint())
        .collect();
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let acked = acked.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let options = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(5));
            let mut client = etcd_client::Client::connect(endpoints, Some(options))
                .await
                .expect("writer client");
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = format!("load-{n:06}");
                if client.put(key.as_str(), n.to_string(), None).await.is_ok() {
                    acked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, n.to_string());
                }
            }
        })
    };
    let writes = |n: usize| {
        let acked = acked.clone();
        async move {
            eventually(LONG, "the writer makes progress", || async {
                (acked.lock().unwrap_or_else(|p| p.into_inner()).len() >= n).then_some(())
            })
            .await
        }
    };
    writes(20).await;

    let pending = cluster.pending_member();
    let learner_id = add_learner(&cluster, survivors[0], &pending.name, &pending.peer_url()).await;
    writes(60).await;
    let joined = cluster.join(&pending).await;
    assert_eq!(cluster.member_id(joined), learner_id);
    promote_when_ready(&cluster, survivors[1], learner_id).await;
    writes(120).await;

    // Remove the leader itself: it hands over and exits.
    let leader_hex = format!("{:x}", cluster.member_id(leader));
    let out = etcdctl(
        cluster.member(survivors[0]),
        &["member", "remove", &leader_hex],
    )
    .await;
    common::assert_output_ok(&["member", "remove"], &out);
    let exit = cluster
        .member_mut(leader)
        .wait_exit(LONG)
        .await
        .expect("the removed leader exits");
    assert!(exit.success(), "the removed leader exits cleanly: {exit}");
    cluster.forget(leader);
    let count = acked.lock().unwrap_or_else(|p| p.into_inner()).len();
    writes(count + 40).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.expect("writer");

    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut remaining: Vec<usize> = survivors.clone();
    remaining.push(joined);
    let mut client = cluster.client().await;
    let last = client.put("load-done", "", None).await.expect("final put");
    let revision = common::rev(last.header());
    cluster.wait_revision(&remaining, revision, LONG).await;
    for i in remaining {
        let mut c = cluster.probe_client(i).await.expect("client");
        let options = GetOptions::new().with_prefix().with_serializable();
        let got = c.get("load-", Some(options)).await.expect("read back");
        let stored: BTreeMap<String, String> = got
            .kvs()
            .iter()
            .map(|kv| {
                (
                    kv.key_str().unwrap_or_default().to_string(),
                    kv.value_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (key, value) in &acked {
            assert_eq!(
                stored.get(key),
                Some(value),
                "acknowledged write {key} on member {i}"
            );
        }
    }
});
