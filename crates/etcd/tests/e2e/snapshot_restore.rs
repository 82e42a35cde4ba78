//! `etcdctl snapshot save` on one cluster, then restore into a NEW cluster
//! and start it: same keys, values, revisions, leases and HashKV; a new
//! cluster id; the flags the restore was given name the members. Ours
//! restores with our `etcdutl snapshot restore`, the reference with Debian
//! etcdctl 3.4's `snapshot restore` (the same command and flags), so the
//! expectations are etcd's. Also a three-member cluster restored from one
//! file, each member with its own `--name`.

use crate::common;

use common::cluster::{Cluster, TOKEN};

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{etcdctl_command, etcdctl_json, etcdctl_ok, kvs, Node, Target};
use etcd_client::{GetOptions, LeaseGrantOptions, PutOptions};

/// Runs the target's restore command; returns its output.
pub(crate) async fn restore(target: Target, snapshot: &Path, args: &[String]) -> Output {
    let mut command = match target {
        Target::EtcdRs => tokio::process::Command::new(env!("CARGO_BIN_EXE_etcdutl")),
        // etcdctl only reads files here; the endpoint is unused.
        Target::Reference => etcdctl_command("127.0.0.1:1"),
    };
    command
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .args(args)
        .output()
        .await
        .expect("run snapshot restore")
}

/// The restore flags that make `node` (stopped, data dir gone) the only
/// member of a new cluster.
pub(crate) fn restore_flags(node: &Node, token: &str) -> Vec<String> {
    vec![
        format!("--name={}", node.name()),
        format!("--data-dir={}", node.data_dir().display()),
        format!("--initial-cluster={}={}", node.name(), node.peer_url()),
        format!("--initial-advertise-peer-urls={}", node.peer_url()),
        format!("--initial-cluster-token={token}"),
    ]
}

async fn hashkv(node: &Node, revision: i64) -> u32 {
    let c = node.client().await;
    let resp = c
        .maintenance_client()
        .hash_kv(revision)
        .await
        .expect("HashKV");
    resp.hash()
}

both!(
    a_restored_cluster_has_the_same_data_and_a_new_identity,
    |target| async move {
        let source = Node::start(target, &[]).await;
        let mut c = source.client().await;
        for i in 0..50 {
            c.put(format!("key/{i:02}"), format!("value-{i}"), None)
                .await
                .unwrap();
        }
        c.put("key/07", "overwritten", None).await.unwrap();
        c.delete("key/13", None).await.unwrap();
        let lease = 0x2a;
        c.lease_grant(600, Some(LeaseGrantOptions::new().with_id(lease)))
            .await
            .unwrap();
        c.put("leased", "v", Some(PutOptions::new().with_lease(lease)))
            .await
            .unwrap();
        let before = c
            .get("key/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        let revision = before.header().unwrap().revision();
        let source_hash = hashkv(&source, revision).await;
        let source_cluster = etcdctl_json(&source, &["endpoint", "status"]).await[0]["Status"]
            ["header"]["cluster_id"]
            .as_u64()
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.db");
        etcdctl_ok(&source, &["snapshot", "save", file.to_str().unwrap()]).await;

        // A second member of its own cluster, wiped and restored from the file.
        let mut restored = Node::start(target, &[]).await;
        restored.terminate().await;
        std::fs::remove_dir_all(restored.data_dir()).unwrap();
        let out = restore(target, &file, &restore_flags(&restored, "restored-cluster")).await;
        assert!(
            out.status.success(),
            "restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        restored.restart().await;

        let mut r = restored.client().await;
        let after = r
            .get("key/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        assert_eq!(kvs(after.kvs()), kvs(before.kvs()));
        assert_eq!(after.header().unwrap().revision(), revision);
        assert_eq!(hashkv(&restored, revision).await, source_hash);
        let leased = r.get("leased", None).await.unwrap();
        assert_eq!(leased.kvs()[0].lease(), lease);
        let ttl = r.lease_time_to_live(lease, None).await.unwrap();
        assert!(ttl.ttl() > 0, "lease {lease:x} lost: {ttl:?}");

        // A new cluster, named by the restore flags.
        let status = etcdctl_json(&restored, &["endpoint", "status"]).await;
        let cluster = status[0]["Status"]["header"]["cluster_id"]
            .as_u64()
            .unwrap();
        assert_ne!(cluster, source_cluster);
        let members = etcdctl_json(&restored, &["member", "list"]).await;
        let members = members["members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "{members:?}");
        assert_eq!(members[0]["name"], restored.name());
        assert_eq!(members[0]["peerURLs"][0], restored.peer_url().as_str());

        // It takes writes from where the snapshot left off.
        let put = r.put("new", "write", None).await.unwrap();
        assert_eq!(put.header().unwrap().revision(), revision + 1);
    }
);

both!(
    restore_refuses_an_existing_data_dir_and_a_damaged_file,
    |target| async move {
        let source = Node::start(target, &[]).await;
        let mut c = source.client().await;
        c.put("k", "v", None).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.db");
        etcdctl_ok(&source, &["snapshot", "save", file.to_str().unwrap()]).await;

        // The source's own data dir exists: refused, and left alone.
        let out = restore(target, &file, &restore_flags(&source, "t")).await;
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "data-dir {:?} exists",
            source.data_dir().display().to_string()
        );
        assert!(stderr.contains(&expected), "{stderr}");
        assert_eq!(c.get("k", None).await.unwrap().kvs().len(), 1);

        // A flipped byte in the trailing hash.
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let damaged = dir.path().join("damaged.db");
        std::fs::write(&damaged, bytes).unwrap();
        let target_dir = dir.path().join("restored.etcd");
        let out = restore(
            target,
            &damaged,
            &[
                "--name=default".to_string(),
                format!("--data-dir={}", target_dir.display()),
            ],
        )
        .await;
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        // etcd tells a bad hash by bbolt's page size; both refuse the file.
        let refused = stderr.contains("expected sha256")
            || stderr.contains("snapshot missing hash but --skip-hash-check=false");
        assert!(refused, "{stderr}");
    }
);

both!(
    a_three_member_cluster_is_restored_from_one_file,
    |target| async move {
        let mut cluster = Cluster::start(target, 3, &[]).await;
        let mut c = cluster.client().await;
        for i in 0..30 {
            c.put(format!("k{i:02}"), format!("v{i}"), None)
                .await
                .unwrap();
        }
        let before = c
            .get("k", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        let revision = before.header().unwrap().revision();
        cluster
            .wait_revision(&[0, 1, 2], revision, Duration::from_secs(10))
            .await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.db");
        etcdctl_ok(
            cluster.member(1),
            &["snapshot", "save", file.to_str().unwrap()],
        )
        .await;

        // Every member wiped and restored from the same file, then started
        // together as the new cluster those flags describe.
        let initial_cluster = cluster.initial_cluster(&[0, 1, 2]);
        for i in 0..3 {
            cluster.member_mut(i).terminate().await;
        }
        for i in 0..3 {
            let member = cluster.member(i);
            std::fs::remove_dir_all(member.data_dir()).unwrap();
            let args = vec![
                format!("--name={}", member.name()),
                format!("--data-dir={}", member.data_dir().display()),
                format!("--initial-cluster={initial_cluster}"),
                format!("--initial-advertise-peer-urls={}", member.peer_url()),
                format!("--initial-cluster-token={TOKEN}"),
            ];
            let out = restore(target, &file, &args).await;
            assert!(
                out.status.success(),
                "restore of member {i} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.restart_all(false).await;
        cluster.wait_leader(Duration::from_secs(15)).await;

        for i in 0..3 {
            let mut m = cluster.member(i).client().await;
            let after = m
                .get(
                    "k",
                    Some(GetOptions::new().with_prefix().with_serializable()),
                )
                .await
                .unwrap();
            assert_eq!(kvs(after.kvs()), kvs(before.kvs()), "member {i}");
        }
        let hashes = cluster.hash_kvs(&[0, 1, 2], revision).await;
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
        let members = etcdctl_json(cluster.member(0), &["member", "list"]).await;
        assert_eq!(members["members"].as_array().unwrap().len(), 3);

        // The restored cluster takes writes from where the snapshot left off.
        let mut c = cluster.client().await;
        let put = c.put("after", "restore", None).await.unwrap();
        assert_eq!(put.header().unwrap().revision(), revision + 1);
    }
);
