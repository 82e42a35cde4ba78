//! The lease requests of the log — LeaseGrant, LeaseRevoke, LeaseCheckpoint —
//! executed in the batch (etcd's apply.go `LeaseGrant` / `LeaseRevoke` /
//! `LeaseCheckpoint` and the persisted half of lease/lessor.go).
//!
//! Deterministic: everything here depends on the request and the stored
//! tables only, never on a clock or on configuration. Choosing the id,
//! raising the TTL to the minimum, timers, keep-alives and expiry belong to
//! the server's lessor, which follows what was applied through
//! [`LeaseChange`]s. Every refusal is decided before the first change.

use etcd_proto::etcdserverpb::{
    LeaseCheckpointRequest, LeaseCheckpointResponse, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse,
};

use super::ops::header;
use super::LeaseChange;
use crate::error::ApplyError;
use crate::lease::{self, LeaseRecord, MAX_LEASE_TTL};
use crate::mvcc::key_range::KeyRange;
use crate::mvcc::write::TxnWrite;
use crate::mvcc::KvTxn;

/// Grants lease `req.id` with `req.ttl`. Refusals in etcd's `Grant` order: id
/// 0 (the server picks a non-zero id before proposing, so only a bug sends
/// it), a TTL above `MaxLeaseTTL`, an id already granted. The store
/// revision does not move.
pub(crate) fn grant(
    tw: &mut TxnWrite<'_>,
    req: &LeaseGrantRequest,
) -> Result<(LeaseGrantResponse, LeaseChange), ApplyError> {
    if req.id == 0 {
        return Err(ApplyError::Unsupported("a lease grant without an id"));
    }
    if req.ttl > MAX_LEASE_TTL {
        return Err(ApplyError::LeaseTtlTooLarge);
    }
    if tw.lease_exists(req.id)? {
        return Err(ApplyError::LeaseExists);
    }
    let record = LeaseRecord {
        id: req.id,
        ttl: req.ttl,
        remaining_ttl: 0,
    };
    tw.tables_mut()
        .leases
        .insert(req.id, lease::encode(&record).as_slice())?;
    let resp = LeaseGrantResponse {
        header: header(tw.rev()),
        id: req.id,
        ttl: req.ttl,
        error: String::new(),
    };
    Ok((
        resp,
        LeaseChange::Granted {
            id: req.id,
            ttl: req.ttl,
        },
    ))
}

/// Revokes lease `req.id`: deletes its keys in key order as the changes of
/// one revision (etcd sorts them and deletes them in one txn, so every
/// member writes the same history), then its record and links. A lease
/// without keys leaves the revision unchanged.
pub(crate) fn revoke(
    tw: &mut TxnWrite<'_>,
    req: &LeaseRevokeRequest,
) -> Result<(LeaseRevokeResponse, LeaseChange), ApplyError> {
    if !tw.lease_exists(req.id)? {
        return Err(ApplyError::LeaseNotFound);
    }
    // `lease_keys` is sorted by (lease, key): the keys come in key order.
    let keys = lease::keys(&tw.tables_mut().lease_keys, req.id)?;
    for key in &keys {
        // Each delete also drops the key's link to the lease.
        tw.delete_range(&KeyRange::Single(key))?;
    }
    let tables = tw.tables_mut();
    tables.leases.remove(req.id)?;
    // The deletes removed every link; this only matters if a link outlived
    // its key, which the write path never leaves behind.
    for key in lease::keys(&tables.lease_keys, req.id)? {
        tables.lease_keys.remove((req.id, key.as_slice()))?;
    }
    let revision = if tw.changed() { tw.rev() + 1 } else { tw.rev() };
    Ok((
        LeaseRevokeResponse {
            header: header(revision),
        },
        LeaseChange::Revoked { id: req.id },
    ))
}

/// Records the remaining TTL of each checkpointed lease that still exists;
/// unknown leases are skipped (etcd's `Checkpoint` ignores them). The store
/// revision does not move.
pub(crate) fn checkpoint(
    tw: &mut TxnWrite<'_>,
    req: &LeaseCheckpointRequest,
) -> Result<(LeaseCheckpointResponse, Vec<LeaseChange>), ApplyError> {
    let mut changes = Vec::new();
    let tables = tw.tables_mut();
    for c in &req.checkpoints {
        let Some(mut record) = lease::get(&tables.leases, c.id)? else {
            continue;
        };
        record.remaining_ttl = c.remaining_ttl;
        tables
            .leases
            .insert(c.id, lease::encode(&record).as_slice())?;
        changes.push(LeaseChange::Checkpointed {
            id: c.id,
            remaining_ttl: c.remaining_ttl,
        });
    }
    let resp = LeaseCheckpointResponse {
        header: header(tw.rev()),
    };
    Ok((resp, changes))
}

#[cfg(test)]
mod tests {
    use etcd_proto::etcdserverpb::{
        LeaseCheckpoint, LeaseCheckpointRequest, LeaseGrantRequest, LeaseGrantResponse,
        LeaseRevokeRequest, PutRequest,
    };
    use etcd_proto::mvccpb::{event::EventType, Event, KeyValue};
    use etcd_proto::raftpb::raft_request::Request;
    use etcd_proto::raftpb::RaftRequest;

    use crate::apply::ops::header;
    use crate::test_util::*;
    use crate::{ApplyError, ApplyResponse, Backend, LeaseChange, LeaseRecord, MAX_LEASE_TTL};

    fn grant_req(id: i64, ttl: i64) -> Request {
        Request::LeaseGrant(LeaseGrantRequest { ttl, id })
    }

    fn checkpoint_req(cps: &[(i64, i64)]) -> Request {
        Request::LeaseCheckpoint(LeaseCheckpointRequest {
            checkpoints: cps
                .iter()
                .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                .collect(),
        })
    }

    fn record(id: i64, ttl: i64, remaining_ttl: i64) -> LeaseRecord {
        LeaseRecord {
            id,
            ttl,
            remaining_ttl,
        }
    }

    fn keys(s: &Store, id: i64) -> Vec<String> {
        let r = s.backend.read().unwrap();
        r.lease_keys(id)
            .unwrap()
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    }

    #[test]
    fn grant_stores_the_lease_without_a_revision() {
        let s = Store::new();
        s.put("x", "1");
        let (r, committed) = s.apply_committed(grant_req(7, 10));
        assert_eq!(
            r.unwrap(),
            ApplyResponse::LeaseGrant(LeaseGrantResponse {
                header: header(2),
                id: 7,
                ttl: 10,
                error: String::new(),
            })
        );
        assert_eq!(committed.revision, 2);
        assert!(committed.events.is_empty());
        assert_eq!(
            committed.lease_changes,
            [LeaseChange::Granted { id: 7, ttl: 10 }]
        );
        assert_eq!(s.rev(), 2);
        s.grant(9, 1);
        s.grant(3, MAX_LEASE_TTL);
        let r = s.backend.read().unwrap();
        assert_eq!(r.lease(7).unwrap(), Some(record(7, 10, 0)));
        assert_eq!(r.lease(8).unwrap(), None);
        assert_eq!(
            r.leases().unwrap(),
            [
                record(3, MAX_LEASE_TTL, 0),
                record(7, 10, 0),
                record(9, 1, 0)
            ]
        );
        assert!(r.lease_keys(7).unwrap().is_empty());
    }

    #[test]
    fn grant_refusals_change_nothing() {
        let s = Store::new();
        s.grant(7, 10);
        for (req, want) in [
            (grant_req(0, 10), "etcdserver: lease grant without an id"),
            (grant_req(7, 99), "etcdserver: lease already exists"),
            (
                grant_req(8, MAX_LEASE_TTL + 1),
                "etcdserver: too large lease TTL",
            ),
            // etcd checks the TTL before the id's existence.
            (
                grant_req(7, MAX_LEASE_TTL + 1),
                "etcdserver: too large lease TTL",
            ),
        ] {
            let (r, committed) = s.apply_committed(req);
            let e = r.unwrap_err();
            assert!(!matches!(e, ApplyError::Storage(_)));
            assert!(
                e.to_string()
                    .contains(want.trim_start_matches("etcdserver: ")),
                "{e}"
            );
            assert!(committed.lease_changes.is_empty());
        }
        assert!(matches!(
            s.apply(grant_req(7, 1)),
            Err(ApplyError::LeaseExists)
        ));
        let r = s.backend.read().unwrap();
        assert_eq!(r.leases().unwrap(), [record(7, 10, 0)]);
        assert_eq!(r.current_revision().unwrap(), 1);
    }

    #[test]
    fn revoke_deletes_the_keys_in_one_revision_in_key_order() {
        let s = Store::new();
        s.grant(1, 10);
        s.grant(2, 10);
        s.put_lease("b", "b1", 1); // 2
        s.put_lease("c", "c1", 2); // 3
        s.put_lease("a", "a1", 1); // 4
        s.put("z", "z1"); // 5
        s.put_lease("a", "a2", 1); // 6
        let a2 = s.get_kv("a").unwrap();
        let b1 = s.get_kv("b").unwrap();
        assert_eq!(keys(&s, 1), ["a", "b"]);

        let (r, committed) = s.apply_committed(Request::LeaseRevoke(LeaseRevokeRequest { id: 1 }));
        let ApplyResponse::LeaseRevoke(r) = r.unwrap() else {
            panic!()
        };
        assert_eq!(r.header, header(7));
        assert_eq!(committed.revision, 7);
        assert_eq!(committed.lease_changes, [LeaseChange::Revoked { id: 1 }]);
        let tomb = |k: &str| KeyValue {
            key: k.into(),
            mod_revision: 7,
            ..Default::default()
        };
        let want = vec![
            Event {
                r#type: EventType::Delete as i32,
                kv: Some(tomb("a")),
                prev_kv: Some(a2),
            },
            Event {
                r#type: EventType::Delete as i32,
                kv: Some(tomb("b")),
                prev_kv: Some(b1),
            },
        ];
        assert_eq!(committed.events, want);
        // The history holds them as sub revisions 0 and 1 of revision 7.
        let read = s.backend.read().unwrap();
        assert_eq!(read.events(7, b"\0", b"\0", true, 10).unwrap(), want);
        assert_eq!(read.lease(1).unwrap(), None);
        assert!(read.lease_keys(1).unwrap().is_empty());
        drop(read);
        assert_eq!(
            s.get("\0", "\0"),
            [("c".into(), "c1".into()), ("z".into(), "z1".into())]
        );
        assert_eq!(keys(&s, 2), ["c"]);
        // A revoked lease is unknown: to revoke, to puts, to checkpoints;
        // and it may be granted again.
        assert!(matches!(s.revoke(1), Err(ApplyError::LeaseNotFound)));
        let put = s.apply(Request::Put(PutRequest {
            lease: 1,
            ..put_req("a", "x")
        }));
        assert!(matches!(put, Err(ApplyError::LeaseNotFound)));
        let (_, committed) = s.apply_committed(checkpoint_req(&[(1, 3)]));
        assert!(committed.lease_changes.is_empty());
        s.grant(1, 5);
        assert!(keys(&s, 1).is_empty());
        assert_eq!(s.rev(), 7);
    }

    #[test]
    fn revoke_skips_keys_that_moved_to_another_lease_or_were_deleted() {
        let s = Store::new();
        s.grant(1, 10);
        s.grant(2, 10);
        s.put_lease("a", "1", 1);
        s.put_lease("b", "1", 1);
        s.put_lease("c", "1", 1);
        s.put_lease("a", "2", 2); // moved
        s.put("b", "2"); // detached
        s.delete("c", ""); // gone
        let before = s.rev();
        assert!(keys(&s, 1).is_empty());
        let ApplyResponse::LeaseRevoke(r) = s.revoke(1).unwrap() else {
            panic!()
        };
        // Nothing to delete: no new revision.
        assert_eq!(r.header, header(before));
        assert_eq!(s.rev(), before);
        assert_eq!(s.get("a", "").len(), 1);
        assert_eq!(s.get("b", "").len(), 1);
    }

    #[test]
    fn unknown_or_zero_lease_revoke_is_not_found() {
        let s = Store::new();
        for id in [0, 5, -1] {
            let (r, committed) = s.apply_committed(Request::LeaseRevoke(LeaseRevokeRequest { id }));
            assert!(matches!(r, Err(ApplyError::LeaseNotFound)));
            assert!(committed.lease_changes.is_empty());
        }
    }

    #[test]
    fn lease_requests_share_a_batch_with_writes() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        let mut apply = |req: Request| {
            batch.apply(&RaftRequest {
                caller: None,
                id: 0,
                request: Some(req),
            })
        };
        apply(grant_req(5, 30)).unwrap();
        apply(Request::Put(PutRequest {
            lease: 5,
            ..put_req("k", "v")
        }))
        .unwrap();
        apply(checkpoint_req(&[(5, 20)])).unwrap();
        let ApplyResponse::LeaseRevoke(r) =
            apply(Request::LeaseRevoke(LeaseRevokeRequest { id: 5 })).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.header, header(3));
        assert!(matches!(
            apply(Request::Put(PutRequest {
                lease: 5,
                ..put_req("k", "v")
            })),
            Err(ApplyError::LeaseNotFound)
        ));
        apply(grant_req(6, 1)).unwrap();
        let committed = batch.commit(false).unwrap();
        assert_eq!(committed.revision, 3);
        let kinds: Vec<(i32, i64)> = committed
            .events
            .iter()
            .map(|e| (e.r#type, e.kv.as_ref().unwrap().mod_revision))
            .collect();
        assert_eq!(
            kinds,
            [(EventType::Put as i32, 2), (EventType::Delete as i32, 3)]
        );
        assert_eq!(
            committed.lease_changes,
            [
                LeaseChange::Granted { id: 5, ttl: 30 },
                LeaseChange::Checkpointed {
                    id: 5,
                    remaining_ttl: 20
                },
                LeaseChange::Revoked { id: 5 },
                LeaseChange::Granted { id: 6, ttl: 1 },
            ]
        );
        assert_eq!(
            s.backend.read().unwrap().leases().unwrap(),
            [record(6, 1, 0)]
        );
    }

    #[test]
    fn checkpoint_records_remaining_ttl_of_known_leases() {
        let s = Store::new();
        s.grant(1, 60);
        s.grant(2, 60);
        s.put("x", "1");
        let (r, committed) =
            s.apply_committed(checkpoint_req(&[(1, 42), (99, 7), (2, 0), (1, 41)]));
        let ApplyResponse::LeaseCheckpoint(r) = r.unwrap() else {
            panic!()
        };
        assert_eq!(r.header, header(2));
        assert_eq!(s.rev(), 2);
        assert!(committed.events.is_empty());
        assert_eq!(
            committed.lease_changes,
            [
                LeaseChange::Checkpointed {
                    id: 1,
                    remaining_ttl: 42
                },
                LeaseChange::Checkpointed {
                    id: 2,
                    remaining_ttl: 0
                },
                LeaseChange::Checkpointed {
                    id: 1,
                    remaining_ttl: 41
                },
            ]
        );
        let r = s.backend.read().unwrap();
        assert_eq!(r.leases().unwrap(), [record(1, 60, 41), record(2, 60, 0)]);
        assert_eq!(r.lease(99).unwrap(), None);
        // An empty checkpoint request is fine.
        drop(r);
        assert!(s.apply(checkpoint_req(&[])).is_ok());
    }

    #[test]
    fn leases_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let b = Backend::open(&path).unwrap();
            let mut batch = b.begin_apply().unwrap();
            for req in [
                grant_req(1, 10),
                grant_req(2, 20),
                Request::Put(PutRequest {
                    lease: 2,
                    ..put_req("k", "v")
                }),
                checkpoint_req(&[(2, 15)]),
            ] {
                batch
                    .apply(&RaftRequest {
                        caller: None,
                        id: 0,
                        request: Some(req),
                    })
                    .unwrap();
            }
            batch.commit(true).unwrap();
        }
        let b = Backend::open(&path).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.leases().unwrap(), [record(1, 10, 0), record(2, 20, 15)]);
        assert_eq!(r.lease_keys(2).unwrap(), [b"k".to_vec()]);
    }
}
