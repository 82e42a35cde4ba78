//! Peer TLS of three-member clusters, against ours and Debian's etcd 3.4.23:
//! `https://` peer URLs with `--peer-auto-tls`, and with certificates of the
//! test CA (`--peer-cert-file/--peer-key-file/--peer-trusted-ca-file`,
//! `--peer-client-cert-auth`, `--peer-cert-allowed-cn`).
//!
//! What must hold: a cluster whose members talk over TLS elects a leader and
//! serves writes and reads on every member; a member whose peer certificate
//! has the wrong Common Name is kept out (the others keep serving, log
//! "rejected connection" for its attempts, and it never becomes ready); a
//! member whose peer certificate is revoked in every member's
//! `--peer-crl-file` has the connections it opens refused, the refusal
//! naming the revocation — etcd 3.4 still lets it join through the
//! connections the others open to it (it checks CRLs only when accepting),
//! etcd-rs keeps it out (a known divergence, on purpose); and
//! killing the leader (SIGKILL) of a cluster that uses TLS for peers and
//! clients under concurrent writes loses no acknowledged write (the body of
//! `cluster_failover.rs`, `common::cluster::kill_leader_under_writes`).

use crate::common;

use std::time::{Duration, Instant};

use common::certs::{Certs, KeyPair};
use common::cluster::{Cluster, ClusterOptions, ELECTION_MS};
use common::{etcdctl_json, etcdctl_ok, NodeOptions, Scheme, Target, REJECTED_MSG};
use serde_json::json;

/// The Common Name every good member's peer certificate carries.
const PEER_CN: &str = "etcd-peer";

/// Cluster options for `size` members that use the test CA for both
/// clients (`https`, `--client-cert-auth`, reached as client `root`) and
/// peers (each member its own peer certificate with CN `cn(i)`, and
/// `--peer-cert-allowed-cn=etcd-peer`).
fn tls_everywhere(
    certs: &Certs,
    size: usize,
    cn: impl Fn(usize) -> &'static str,
) -> ClusterOptions {
    let peers: Vec<KeyPair> = (0..size)
        .map(|i| certs.peer(&format!("peer-{i}"), cn(i)))
        .collect();
    tls_everywhere_with(certs, &peers)
}

/// Like [`tls_everywhere`], member `i` presenting `peers[i]`.
fn tls_everywhere_with(certs: &Certs, peers: &[KeyPair]) -> ClusterOptions {
    let root = certs.client("root");
    let node = NodeOptions::https(certs.client_tls(&root))
        .peer_scheme(Scheme::Https)
        .args(&certs.server_flags())
        .args(&[
            "--client-cert-auth".to_string(),
            format!("--peer-trusted-ca-file={}", certs.ca.display()),
            "--peer-client-cert-auth".to_string(),
            format!("--peer-cert-allowed-cn={PEER_CN}"),
        ]);
    let mut options = ClusterOptions::new(node);
    for (i, peer) in peers.iter().enumerate() {
        options = options.member_args(
            i,
            &[
                format!("--peer-cert-file={}", peer.cert.display()),
                format!("--peer-key-file={}", peer.key.display()),
            ],
        );
    }
    options
}

/// Writes one key through each of `members` and reads every key back,
/// linearizably, through each of them.
async fn assert_serves_on(cluster: &Cluster, members: &[usize]) {
    for &i in members {
        let key = format!("written-via-{i}");
        assert_eq!(
            etcdctl_ok(cluster.member(i), &["put", &key, "v"]).await,
            "OK\n"
        );
    }
    for &i in members {
        let got = etcdctl_json(cluster.member(i), &["get", "written-via-", "--prefix"]).await;
        assert_eq!(
            got["count"],
            json!(members.len()),
            "member {i} does not see every write: {got}"
        );
    }
}

both!(
    peer_auto_tls_cluster_serves_everywhere,
    |target| async move {
        let options = ClusterOptions::new(
            NodeOptions::new()
                .peer_scheme(Scheme::Https)
                .args(&["--peer-auto-tls"]),
        );
        let mut cluster = Cluster::start_with(target, 3, options).await;
        cluster.wait_leader(Duration::from_secs(10)).await;
        assert_serves_on(&cluster, &[0, 1, 2]).await;

        for i in 0..3 {
            let member = cluster.member(i);
            assert!(member.peer_url().starts_with("https://"));
            // etcd keeps the generated peer certificate in the data dir.
            let fixtures = member.data_dir().join("fixtures/peer");
            for file in ["cert.pem", "key.pem"] {
                assert!(
                    fixtures.join(file).is_file(),
                    "member {i} has no {}",
                    fixtures.join(file).display()
                );
            }
        }
        let list = etcdctl_json(cluster.member(0), &["member", "list"]).await;
        let mut peer_urls: Vec<String> = list["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| m["peerURLs"][0].as_str().unwrap_or_default().to_string())
            .collect();
        peer_urls.sort();
        let mut expected: Vec<String> = (0..3).map(|i| cluster.member(i).peer_url()).collect();
        expected.sort();
        assert_eq!(peer_urls, expected);
    }
);

both!(peer_certificates_with_allowed_cn, |target| async move {
    let certs = Certs::new();
    let options = tls_everywhere(&certs, 3, |_| PEER_CN);
    let mut cluster = Cluster::start_with(target, 3, options).await;
    cluster.wait_leader(Duration::from_secs(10)).await;
    assert_serves_on(&cluster, &[0, 1, 2]).await;
    // The etcd-client crate over TLS to all members at once.
    let mut client = cluster.client().await;
    let got = client
        .get(
            "written-via-",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("get over TLS");
    assert_eq!(got.kvs().len(), 3);
});

both!(peer_with_wrong_cn_is_kept_out, |target| async move {
    let certs = Certs::new();
    const INTRUDER: usize = 2;
    let options = tls_everywhere(
        &certs,
        3,
        |i| if i == INTRUDER { "intruder" } else { PEER_CN },
    )
    .kept_out(INTRUDER);
    // The two good members are a quorum of three: they elect and serve.
    let mut cluster = Cluster::start_with(target, 3, options).await;
    cluster
        .wait_leader_among(&[0, 1], Duration::from_secs(10))
        .await;
    assert_serves_on(&cluster, &[0, 1]).await;

    // The intruder keeps dialling its peers; they refuse its certificate.
    let rejected = common::eventually(
        Duration::from_secs(15),
        "a good member logs \"rejected connection\" for the intruder",
        || async {
            (0..2)
                .flat_map(|i| cluster.member(i).log_entries(REJECTED_MSG))
                .next()
        },
    )
    .await;
    assert_eq!(rejected["level"], "warn", "{rejected}");

    // It cannot be proven that something never happens; the intruder has
    // ten election timeouts after it was first refused to become ready
    // (joining would take one or two), and it must not.
    let window = Duration::from_millis(10 * ELECTION_MS);
    let until = Instant::now() + window;
    while Instant::now() < until {
        let serving = cluster
            .member(INTRUDER)
            .log_entries("serving client traffic securely");
        assert!(
            serving.is_empty(),
            "the intruder serves clients: {serving:?}"
        );
        // Polls the intruder's log (a condition) for the whole window.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cluster.member_mut(INTRUDER).is_running(),
        "the intruder exited instead of waiting to be let in"
    );
    // Meanwhile the good members still serve.
    let got = etcdctl_json(cluster.member(1), &["get", "written-via-", "--prefix"]).await;
    assert_eq!(got["count"], json!(2), "{got}");
});

both!(revoked_peer_is_refused, |target| async move {
    let certs = Certs::new();
    const REVOKED: usize = 2;
    // Every peer certificate has the allowed CN; the third is revoked in
    // the CRL every member (itself included) is given.
    let peers: Vec<KeyPair> = (0..3)
        .map(|i| certs.peer(&format!("peer-{i}"), PEER_CN))
        .collect();
    let crl = certs.crl_revoking("peer-crl", &[&peers[REVOKED]]);
    let mut options = tls_everywhere_with(&certs, &peers);
    options.node = options
        .node
        .args(&[format!("--peer-crl-file={}", crl.display())]);
    // A known divergence, on purpose. etcd 3.4 checks a CRL only where it
    // accepts a connection, never where it dials one; the good members'
    // connections to the revoked member carry its raft messages both ways
    // (rafthttp's streams), so it publishes itself and serves all the
    // same. etcd-rs refuses the revoked certificate on every connection,
    // and a member's own requests (joining, publishing itself, forwarding)
    // travel on connections it dials: the revoked member never joins, as
    // the revocation means.
    let joins = target == Target::Reference;
    if !joins {
        options = options.kept_out(REVOKED);
    }
    let cluster = Cluster::start_with(target, 3, options).await;
    let quorum: &[usize] = if joins { &[0, 1, 2] } else { &[0, 1] };
    cluster
        .wait_leader_among(quorum, Duration::from_secs(10))
        .await;

    // Both refuse the revoked member's own connections after their
    // handshake, naming the revocation ("transport: certificate serial
    // 1005 revoked").
    let rejected = common::eventually(
        Duration::from_secs(15),
        "a good member logs \"rejected connection\" naming the revocation",
        || async {
            (0..2)
                .flat_map(|i| cluster.member(i).log_entries(REJECTED_MSG))
                .find(|e| e["error"].as_str().unwrap_or_default().contains("revoked"))
        },
    )
    .await;
    assert_eq!(rejected["level"], "warn", "{rejected}");
    assert_serves_on(&cluster, quorum).await;
    if !joins {
        assert!(
            cluster
                .member(REVOKED)
                .log_entries("serving client traffic securely")
                .is_empty(),
            "the revoked member serves clients"
        );
    }
});

both!(kill_leader_under_writes_over_tls, |target| async move {
    let certs = Certs::new();
    let options = tls_everywhere(&certs, 3, |_| PEER_CN);
    let cluster = Cluster::start_with(target, 3, options).await;
    common::cluster::kill_leader_under_writes(target, cluster).await;
});
