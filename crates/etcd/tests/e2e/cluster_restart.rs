//! Restarting members of a three-member cluster, against ours and Debian's
//! etcd: the leader with SIGTERM, the leader with SIGKILL, and all members
//! at once (both ways).
//!
//! A restarted member's saved vote still names the leader of its last term
//! — itself, for a former leader — while it follows or campaigns. What must
//! hold: every member becomes ready behind a real leader; writes and
//! linearizable reads work through every member; `member list` shows every
//! member's (possibly new) client URL; and a restarted member's log has no
//! warning repeated as a tight retry loop would repeat it.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::cluster::Cluster;
use common::{eventually, rev};

/// How often one warning may appear in a restarted member's latest launch:
/// a retry per request timeout gives a few, a tight loop hundreds.
const MAX_REPEATS: usize = 10;

both!(restart_leader_sigterm, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    put_through_all(&mut cluster, "before").await;
    cluster.member_mut(leader).restart().await;
    check_serving(&mut cluster, &[leader], "after").await;
});

both!(restart_leader_sigkill, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    let leader = cluster.wait_leader(Duration::from_secs(10)).await;
    put_through_all(&mut cluster, "before").await;
    cluster.member_mut(leader).kill9();
    cluster.member_mut(leader).restart().await;
    check_serving(&mut cluster, &[leader], "after").await;
});

both!(restart_all_sigterm, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(Duration::from_secs(10)).await;
    put_through_all(&mut cluster, "before").await;
    cluster.restart_all(false).await;
    check_serving(&mut cluster, &[0, 1, 2], "after").await;
});

both!(restart_all_sigkill, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(Duration::from_secs(10)).await;
    put_through_all(&mut cluster, "before").await;
    cluster.restart_all(true).await;
    check_serving(&mut cluster, &[0, 1, 2], "after").await;
});

/// One put through each member; the highest revision acknowledged.
async fn put_through_all(cluster: &mut Cluster, phase: &str) -> i64 {
    let mut last = 0;
    for i in cluster.active() {
        let mut client = cluster.member(i).client().await;
        let put = client
            .put(format!("{phase}/{i}"), format!("from {i}"), None)
            .await
            .unwrap_or_else(|e| panic!("put through member {i} ({phase}): {e}"));
        last = last.max(rev(put.header()));
    }
    last
}

/// After restarting `restarted`: a leader all agree on, writes through every
/// member, linearizable reads on every member that see all of them (and the
/// writes from before), every client URL in `member list`, and no warning
/// repeated in a tight loop in the restarted members' logs.
async fn check_serving(cluster: &mut Cluster, restarted: &[usize], phase: &str) {
    cluster.wait_leader(Duration::from_secs(15)).await;
    let revision = put_through_all(cluster, phase).await;
    for i in cluster.active() {
        let mut client = cluster.member(i).client().await;
        for key_phase in ["before", phase] {
            let got = client
                .get(
                    key_phase,
                    Some(etcd_client::GetOptions::new().with_prefix()),
                )
                .await
                .unwrap_or_else(|e| panic!("linearizable get on member {i}: {e}"));
            assert_eq!(
                got.kvs().len(),
                3,
                "member {i} sees every {key_phase:?} write"
            );
            assert!(rev(got.header()) >= revision, "member {i} is behind");
        }
    }
    let expected: HashMap<String, String> = cluster
        .active()
        .into_iter()
        .map(|i| {
            let m = cluster.member(i);
            (m.name().to_string(), m.client_url())
        })
        .collect();
    for i in cluster.active() {
        let what = format!("member {i} lists every member's client URL");
        let expected = &expected;
        eventually(Duration::from_secs(10), &what, || async {
            let mut client = cluster.probe_client(i).await?;
            let list = client.member_list().await.ok()?;
            let listed: HashMap<String, String> = list
                .members()
                .iter()
                .map(|m| {
                    let url = m.client_urls().first().cloned().unwrap_or_default();
                    (m.name().to_string(), url)
                })
                .collect();
            (&listed == expected).then_some(())
        })
        .await;
    }
    for &i in restarted {
        assert_no_tight_loop(&cluster.member(i).log(), i);
    }
}

/// Fails when one warning or error of the latest launch repeats more than
/// [`MAX_REPEATS`] times.
fn assert_no_tight_loop(log: &str, member: usize) {
    let latest = log.rsplit("===== launch ").next().unwrap_or_default();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in latest.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let level = entry["level"].as_str().unwrap_or_default();
        if matches!(level, "warn" | "error" | "WARN" | "ERROR") {
            let msg = entry["msg"].as_str().unwrap_or_default().to_string();
            *counts.entry(msg).or_default() += 1;
        }
    }
    for (msg, count) in counts {
        assert!(
            count <= MAX_REPEATS,
            "member {member} logged {msg:?} {count} times since its restart"
        );
    }
}
