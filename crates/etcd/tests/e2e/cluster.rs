//! A three-member cluster bootstrapped statically from `--initial-cluster`
//! (the shared launcher in `common/cluster.rs`), against ours and Debian's
//! etcd. What is checked: every member becomes ready; all agree on exactly
//! one leader; a write on the leader is readable with a serializable read on
//! every member; `member list` shows the three members with the ids etcd
//! derives from peer URLs and the cluster token.

use crate::common;

use std::time::Duration;

use common::cluster::{Cluster, TOKEN};
use common::{etcdctl_command, eventually};
use serde_json::Value;

async fn member_list(endpoint: &str) -> Value {
    let output = etcdctl_command(endpoint)
        .args(["--command-timeout=5s", "member", "list", "-w", "json"])
        .output()
        .await
        .expect("run etcdctl");
    assert!(
        output.status.success(),
        "member list on {endpoint}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("member list JSON")
}

both!(
    three_members_elect_one_leader_and_replicate,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        let leader = cluster.wait_leader(Duration::from_secs(10)).await;

        // The ids are etcd's: derived from each member's peer URL and the token.
        let ids: Vec<u64> = (0..3).map(|i| cluster.member_id(i)).collect();
        for (i, id) in ids.iter().enumerate() {
            let member = cluster.member(i);
            let expected = etcd_server::ids::member_id(&[member.peer_url()], TOKEN);
            assert_eq!(*id, expected, "member id of {}", member.name());
        }

        // A write on the leader reaches every member's state machine.
        let mut client = cluster.member(leader).client().await;
        let put = client
            .put("cluster-key", "replicated", None)
            .await
            .expect("put on the leader");
        let revision = common::rev(put.header());
        cluster
            .wait_revision(&[0, 1, 2], revision, Duration::from_secs(10))
            .await;
        for i in 0..3 {
            let what = format!("the write on member {i}");
            eventually(Duration::from_secs(10), &what, || async {
                let mut client = cluster.probe_client(i).await?;
                let options = etcd_client::GetOptions::new().with_serializable();
                let got = client.get("cluster-key", Some(options)).await.ok()?;
                (got.kvs().first()?.value() == b"replicated").then_some(())
            })
            .await;
        }

        // Every member lists the same three members, by name, peer URL and id.
        let mut expected: Vec<(u64, String, String)> = (0..3)
            .map(|i| {
                let m = cluster.member(i);
                (ids[i], m.name().to_string(), m.peer_url())
            })
            .collect();
        expected.sort();
        let mut cluster_ids = Vec::new();
        for i in 0..3 {
            let list = member_list(&cluster.member(i).client_url()).await;
            cluster_ids.push(list["header"]["cluster_id"].as_u64().unwrap_or(0));
            let mut listed: Vec<(u64, String, String)> = list["members"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    (
                        m["ID"].as_u64().unwrap_or(0),
                        m["name"].as_str().unwrap_or_default().to_string(),
                        m["peerURLs"][0].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            listed.sort();
            assert_eq!(listed, expected, "member list on member {i}");
        }
        let expected_cluster = etcd_server::ids::cluster_id(&ids);
        assert!(
            cluster_ids.iter().all(|c| *c == expected_cluster),
            "cluster ids {cluster_ids:?}, etcd derives {expected_cluster}"
        );
    }
);
