//! The space quota (`--quota-backend-bytes`) and the NOSPACE alarm: writes
//! that would take the backend past the quota are refused with etcd's
//! ResourceExhausted "etcdserver: mvcc: database space exceeded" and raise
//! NOSPACE; while it is active, puts, put-carrying txns and lease grants are
//! refused but reads, deletes, read-only txns and compaction still work;
//! `etcdctl alarm list/disarm` and Status.errors show and clear it.
//!
//! The quota differs per target because the fresh files differ: etcd's bbolt
//! file starts at ~24 KiB, ours (redb) at ~1 MiB (redb preallocates its
//! regions) and grows in steps of megabytes. Each quota sits well above the
//! fresh size so the first writes pass, and low enough to be reached in a
//! few hundred 8 KiB puts.
//!
//! Recovery: neither server's file shrinks from deletes and compaction
//! alone, so a disarm before a defragmentation only lets the next write
//! raise the alarm again (checked on both). After `Defragment` the file is
//! small again (bbolt's is rewritten, redb's compacted in place) and writes
//! work after a disarm.

use crate::common;

use common::{assert_status, etcdctl_json, etcdctl_ok, grpc_status, Node, Target};
use etcd_client::{AlarmAction, AlarmType, Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use serde_json::json;
use tonic::Code;

const NO_SPACE: &str = "etcdserver: mvcc: database space exceeded";

/// The quota for each target (see the module doc).
pub(crate) fn quota(target: Target) -> &'static str {
    match target {
        Target::Reference => "100000",
        Target::EtcdRs => "2000000",
    }
}

/// Puts 8 KiB values under `k<n>` until the server refuses; returns how many
/// were accepted. Panics if the quota is never reached.
pub(crate) async fn fill(client: &mut Client) -> usize {
    let value = vec![b'x'; 8 * 1024];
    for i in 0..2000 {
        match client.put(format!("k{i:04}"), value.clone(), None).await {
            Ok(_) => {}
            Err(e) => {
                let status = grpc_status::<()>(Err(e));
                assert_eq!(
                    (status.code(), status.message()),
                    (Code::ResourceExhausted, NO_SPACE)
                );
                return i;
            }
        }
    }
    panic!("the quota was never reached");
}

async fn nospace_members(client: &mut Client) -> Vec<u64> {
    let resp = client
        .alarm(AlarmAction::Get, AlarmType::None, None)
        .await
        .unwrap();
    // etcd 3.4 answers Alarm from its apply, without a header.
    assert!(resp.header().is_none());
    resp.alarms()
        .iter()
        .map(|a| {
            assert_eq!(a.alarm(), AlarmType::Nospace);
            a.member_id()
        })
        .collect()
}

both!(nospace_refuses_growth_and_disarms, |target| async move {
    let node = Node::start(target, &["--quota-backend-bytes", quota(target)]).await;
    let mut client = node.client().await;
    let member_id = client.status().await.unwrap().header().unwrap().member_id();
    assert_eq!(nospace_members(&mut client).await, Vec::<u64>::new());

    let accepted = fill(&mut client).await;
    assert!(accepted > 0, "the first write was already refused");

    // The alarm is raised for this member, visible to etcdctl and Status.
    assert_eq!(nospace_members(&mut client).await, [member_id]);
    let listed = etcdctl_ok(&node, &["alarm", "list"]).await;
    assert_eq!(listed, format!("memberID:{member_id} alarm:NOSPACE \n"));
    let listed = etcdctl_json(&node, &["alarm", "list"]).await;
    assert_eq!(
        listed,
        json!({"alarms": [{"memberID": member_id, "alarm": 1}]})
    );
    let status = client.status().await.unwrap();
    assert_eq!(
        status.errors(),
        [format!("memberID:{member_id} alarm:NOSPACE ")]
    );

    // Growth is refused, even tiny: a put, a txn with a put in either
    // branch, a lease grant.
    assert_status(
        client.put("small", "v", None).await,
        Code::ResourceExhausted,
        NO_SPACE,
    );
    let txn = Txn::new()
        .when([Compare::version("k0000", CompareOp::Equal, 0)])
        .and_then([TxnOp::get("k0000", None)])
        .or_else([TxnOp::put("small", "v", None)]);
    assert_status(client.txn(txn).await, Code::ResourceExhausted, NO_SPACE);
    assert_status(
        client.lease_grant(60, None).await,
        Code::ResourceExhausted,
        NO_SPACE,
    );

    // Reads, read-only txns, deletes and compaction still work.
    let got = client.get("k0000", None).await.unwrap();
    assert_eq!(got.kvs()[0].value().len(), 8 * 1024);
    let txn = Txn::new().and_then([TxnOp::get("k0001", None)]);
    assert!(client.txn(txn).await.unwrap().succeeded());
    // etcd checks the quota twice, before proposing and again at apply; a
    // put that passed the first check but not the second is still applied
    // and answered NOSPACE. So the refused put that raised the alarm may
    // be stored.
    let stored = client
        .get("k", Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .unwrap()
        .count();
    assert!(
        [accepted as i64, accepted as i64 + 1].contains(&stored),
        "{stored} keys stored, {accepted} puts accepted"
    );
    let deleted = client
        .delete("k", Some(etcd_client::DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), stored);
    let revision = deleted.header().unwrap().revision();
    client.compact(revision, None).await.unwrap();
    let left = client
        .get("k", Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .unwrap();
    assert_eq!(left.count(), 0);

    // Disarm clears the list; the file did not shrink, so the next write
    // raises the alarm again.
    etcdctl_ok(&node, &["alarm", "disarm"]).await;
    assert_eq!(nospace_members(&mut client).await, Vec::<u64>::new());
    assert_status(
        client.put("small", "v", None).await,
        Code::ResourceExhausted,
        NO_SPACE,
    );
    assert_eq!(nospace_members(&mut client).await, [member_id]);

    client.defragment().await.unwrap();
    // Small again: after a disarm, writes work.
    etcdctl_ok(&node, &["alarm", "disarm"]).await;
    assert_eq!(nospace_members(&mut client).await, Vec::<u64>::new());
    client.put("small", "v", None).await.unwrap();
    assert_eq!(
        client.get("small", None).await.unwrap().kvs()[0].value(),
        b"v"
    );
});

both!(
    alarm_activate_and_deactivate_over_grpc,
    |target| async move {
        // Raising NOSPACE by hand caps the store just as the quota does, and it
        // stays raised across a restart.
        let mut node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        let member_id = client.status().await.unwrap().header().unwrap().member_id();
        let mut opts = etcd_client::AlarmOptions::new();
        opts.with_member(member_id);
        let resp = client
            .alarm(
                AlarmAction::Activate,
                AlarmType::Nospace,
                Some(opts.clone()),
            )
            .await
            .unwrap();
        assert!(resp.header().is_none());
        assert_eq!(resp.alarms().len(), 1);
        assert_eq!(resp.alarms()[0].member_id(), member_id);
        assert_eq!(nospace_members(&mut client).await, [member_id]);
        assert_status(
            client.put("a", "1", None).await,
            Code::ResourceExhausted,
            NO_SPACE,
        );
        client.delete("a", None).await.unwrap();
        // The alarm is stored: it survives a restart.
        node.restart().await;
        let mut client = node.client().await;
        assert_eq!(nospace_members(&mut client).await, [member_id]);
        assert_status(
            client.put("a", "1", None).await,
            Code::ResourceExhausted,
            NO_SPACE,
        );

        let resp = client
            .alarm(
                AlarmAction::Deactivate,
                AlarmType::Nospace,
                Some(opts.clone()),
            )
            .await
            .unwrap();
        assert_eq!(resp.alarms().len(), 1);
        // Deactivating what is not active answers no alarm.
        let resp = client
            .alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(opts))
            .await
            .unwrap();
        assert!(resp.alarms().is_empty());
        assert_eq!(nospace_members(&mut client).await, Vec::<u64>::new());
        client.put("a", "1", None).await.unwrap();
    }
);
