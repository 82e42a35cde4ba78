//! Membership edge cases, against ours and Debian's etcd 3.4: a member
//! removed while it was down and started again exits as removed and never
//! comes back in `member list`; a member started without a quorum waits for
//! one as long as it takes and still stops promptly on SIGTERM; a learner
//! serves only Status and serializable reads, refusing everything else with
//! etcd's "rpc not supported for learner".

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::cluster::{Cluster, TOKEN};
use common::{assert_status, etcdctl, eventually, free_port, Target};
use etcd_client::GetOptions;
use serde_json::Value;
use tokio::process::{Child, Command};
use tonic::Code;

const LONG: Duration = Duration::from_secs(30);
const LEARNER_REFUSAL: &str = "etcdserver: rpc not supported for learner";

/// The flags of one cluster member, started outside the harness (which
/// waits until a member serves, and these may never).
struct MemberArgs<'a> {
    name: &'a str,
    data_dir: &'a Path,
    peer_url: String,
    initial_cluster: String,
    state: &'a str,
    heartbeat_ms: u64,
    election_ms: u64,
}

/// Spawns a member process with its output in `log`.
fn spawn_member(target: Target, args: &MemberArgs<'_>, log: &Path) -> Child {
    let client_url = format!("http://127.0.0.1:{}", free_port());
    let log = std::fs::File::create(log).expect("create log");
    let mut command = Command::new(target.binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCD_") {
            command.env_remove(name);
        }
    }
    command
        .args([
            format!("--name={}", args.name),
            format!("--data-dir={}", args.data_dir.display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={}", args.peer_url),
            format!("--initial-advertise-peer-urls={}", args.peer_url),
            format!("--initial-cluster={}", args.initial_cluster),
            format!("--initial-cluster-token={TOKEN}"),
            format!("--initial-cluster-state={}", args.state),
            format!("--heartbeat-interval={}", args.heartbeat_ms),
            format!("--election-timeout={}", args.election_ms),
            "--logger=zap".to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a member")
}

/// The member ids `member list` on member `i` names.
async fn listed_ids(cluster: &Cluster, i: usize) -> Option<Vec<u64>> {
    let output = etcdctl(cluster.member(i), &["member", "list", "-w", "json"]).await;
    if !output.status.success() {
        return None;
    }
    let list: Value = serde_json::from_slice(&output.stdout).ok()?;
    let mut ids: Vec<u64> = list["members"]
        .as_array()?
        .iter()
        .filter_map(|m| m["ID"].as_u64())
        .collect();
    ids.sort();
    Some(ids)
}

both!(removed_while_down_stays_removed, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(LONG).await;
    let removed = 2;
    let removed_id = cluster.member_id(removed);
    let initial_cluster = cluster.initial_cluster(&[0, 1, 2]);
    cluster.member_mut(removed).terminate().await;

    // Removed while it is down (a down member is no part of the quorum,
    // so the strict reconfiguration check allows it).
    let hex = format!("{removed_id:x}");
    let output = eventually(LONG, "member remove is accepted", || async {
        let output = etcdctl(cluster.member(0), &["member", "remove", &hex]).await;
        output.status.success().then_some(output)
    })
    .await;
    common::assert_output_ok(&["member", "remove"], &output);
    let mut expected: Vec<u64> = (0..2).map(|i| cluster.member_id(i)).collect();
    expected.sort();
    for i in 0..2 {
        let what = format!("member {i} no longer lists the removed member");
        eventually(LONG, &what, || async {
            (listed_ids(&cluster, i).await? == expected).then_some(())
        })
        .await;
    }

    // Started again on its data dir, as it was: it learns it was removed
    // and exits; it must not publish itself back into the membership.
    let member = cluster.member(removed);
    let log = member.data_dir().with_extension("restart.log");
    let mut child = spawn_member(
        target,
        &MemberArgs {
            name: member.name(),
            data_dir: &member.data_dir(),
            peer_url: member.peer_url(),
            initial_cluster,
            state: "new",
            heartbeat_ms: common::cluster::HEARTBEAT_MS,
            election_ms: common::cluster::ELECTION_MS,
        },
        &log,
    );
    let exit = match tokio::time::timeout(LONG, child.wait()).await {
        Ok(exit) => exit.expect("wait"),
        Err(_) => {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the restarted removed member did not exit: {log}");
        }
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    if target == Target::EtcdRs {
        assert!(exit.success(), "exit {exit}: {log}");
        assert!(
            log.contains("the member has been permanently removed from the cluster"),
            "{log}"
        );
        assert!(!log.contains("published local member to cluster"), "{log}");
    }
    cluster.forget(removed);
    // Whatever it sent before it stopped has reached the others by now.
    for i in 0..2 {
        assert_eq!(
            listed_ids(&cluster, i).await,
            Some(expected.clone()),
            "member {i} lists the removed member again; its log:\n{log}"
        );
    }
    let mut client = cluster.client().await;
    client.put("after", "v", None).await.expect("put");
});

both!(
    waits_for_a_quorum_and_stops_on_sigterm,
    |target| async move {
        let dir = tempfile::Builder::new()
            .prefix("etcd-lone-member-")
            .tempdir()
            .expect("temp dir");
        let peers: Vec<(String, String)> = (1..=3)
            .map(|i| (format!("m{i}"), format!("http://127.0.0.1:{}", free_port())))
            .collect();
        let initial_cluster = peers
            .iter()
            .map(|(name, url)| format!("{name}={url}"))
            .collect::<Vec<_>>()
            .join(",");
        let data_dir = dir.path().join("data");
        let log = dir.path().join("server.log");
        let election_ms = 100;
        let mut child = spawn_member(
            target,
            &MemberArgs {
                name: &peers[0].0,
                data_dir: &data_dir,
                peer_url: peers[0].1.clone(),
                initial_cluster,
                state: "new",
                heartbeat_ms: 20,
                election_ms,
            },
            &log,
        );
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

        // Well past 30 election timeouts without a quorum, it still runs.
        let patience = Duration::from_millis(election_ms * 40);
        if let Ok(exit) = tokio::time::timeout(patience, child.wait()).await {
            panic!(
                "a member without a quorum exited ({exit:?}): {}",
                read_log()
            );
        }

        let pid = child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(exit) => exit.expect("wait"),
            Err(_) => panic!("no exit within 10 s of SIGTERM: {}", read_log()),
        };
        // etcd re-raises the signal once it has stopped; ours exits 0.
        if target == Target::EtcdRs {
            let log = read_log();
            assert!(exit.success(), "exit {exit}: {log}");
            assert!(log.contains("closed etcd server"), "{log}");
        }
    }
);

/// Adds a learner at `peer_url` through member `via`; its id.
async fn add_learner(cluster: &Cluster, via: usize, name: &str, peer_url: &str) -> u64 {
    let added = cluster.member_add(via, name, peer_url, true).await;
    added["member"]["ID"].as_u64().expect("new member id")
}

both!(
    a_learner_serves_only_status_and_serializable_reads,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        cluster.wait_leader(LONG).await;
        let mut client = cluster.client().await;
        client.put("k", "v", None).await.expect("put");

        let pending = cluster.pending_member();
        let learner_id = add_learner(&cluster, 0, &pending.name, &pending.peer_url()).await;
        let learner = cluster.join(&pending).await;
        assert_eq!(cluster.member_id(learner), learner_id);

        let mut c = cluster.probe_client(learner).await.expect("learner client");
        let status = c.status().await.expect("Status on a learner");
        assert!(status.is_learner());
        eventually(LONG, "the learner has the put", || async {
            let mut c = cluster.probe_client(learner).await?;
            let options = GetOptions::new().with_serializable();
            let got = c.get("k", Some(options)).await.ok()?;
            (got.count() == 1).then_some(())
        })
        .await;

        assert_status(
            c.put("k", "w", None).await,
            Code::Unavailable,
            LEARNER_REFUSAL,
        );
        assert_status(c.get("k", None).await, Code::Unavailable, LEARNER_REFUSAL);
        assert_status(
            c.delete("k", None).await,
            Code::Unavailable,
            LEARNER_REFUSAL,
        );
        assert_status(c.member_list().await, Code::Unavailable, LEARNER_REFUSAL);
        assert_status(
            c.lease_grant(10, None).await,
            Code::Unavailable,
            LEARNER_REFUSAL,
        );
        assert_status(
            c.watch("k", None).await.map(|_| ()),
            Code::Unavailable,
            LEARNER_REFUSAL,
        );

        // etcdctl says the same.
        let node = cluster.member(learner);
        let put = etcdctl(node, &["put", "k", "w"]).await;
        assert!(!put.status.success());
        let stderr = String::from_utf8_lossy(&put.stderr);
        assert!(stderr.contains(LEARNER_REFUSAL), "{stderr}");
        let get = etcdctl(node, &["get", "k", "--print-value-only"]).await;
        assert!(!get.status.success());
        let stderr = String::from_utf8_lossy(&get.stderr);
        assert!(stderr.contains(LEARNER_REFUSAL), "{stderr}");
        let output = etcdctl(node, &["get", "k", "--print-value-only", "--consistency=s"]).await;
        common::assert_output_ok(&["get", "--consistency=s"], &output);
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "v");
        let output = etcdctl(node, &["endpoint", "status", "-w", "json"]).await;
        common::assert_output_ok(&["endpoint", "status"], &output);

        // Promoted, it serves everything.
        eventually(LONG, "the learner is promoted", || async {
            let mut leader = cluster.probe_client(0).await?;
            leader.member_promote(learner_id).await.ok().map(|_| ())
        })
        .await;
        eventually(LONG, "the promoted member takes writes", || async {
            let mut c = cluster.probe_client(learner).await?;
            c.put("k", "promoted", None).await.ok()?;
            c.get("k", None).await.ok().map(|_| ())
        })
        .await;
    }
);
