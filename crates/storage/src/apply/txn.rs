//! Txn: compare evaluation, pre-checks and branch execution (etcd's apply.go
//! `Txn`, `compareToPath`, `applyCompare`, `checkRequests`, `applyTxn`).
//! Shared by the apply batch and the read-only path.
//!
//! The order of work is etcd's and is visible to clients:
//! 1. Every compare on the path — the outer txn's, then those of the nested
//!    txns in the chosen branch, recursively — is evaluated against the
//!    state *before* the txn, so a nested compare does not see the outer
//!    branch's puts.
//! 2. Pre-checks over the path: first every Put (ignore_value/ignore_lease
//!    on a key missing before the txn → "key not found", then an unknown
//!    lease → "requested lease not found"), then every Range's revision
//!    (future / below the compacted revision; a negative revision below it
//!    counts, an etcd quirk). A refused txn changes nothing.
//! 3. The ops run in order; reads see the txn's earlier writes. Put and
//!    DeleteRange responses carry the revision as a standalone request would;
//!    nested TxnResponses carry an empty header; the outer header is the
//!    store revision after the txn (raised once if anything changed).
//!
//! One deliberate deviation: a Put with ignore_value/ignore_lease on a key
//! that an earlier op of the same txn deleted makes etcd crash at apply time
//! (its pre-check passes, the execution fails). The server refuses such txns
//! as "duplicate key" before they reach raft; should one arrive anyway, we
//! refuse it with "key not found" in step 2 instead.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    Compare, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use super::ops;
use crate::error::{ApplyError, StorageError};
use crate::mvcc::key_range::KeyRange;
use crate::mvcc::{KvTxn, RangeOptions};

/// Whether `req` only reads, in every branch, recursively. Such a txn can be
/// served from a read snapshot and never raises the revision.
///
/// etcd's own test (v3_server.go `isTxnReadonly`) is shallower: any nested
/// txn counts as a write and goes through raft. The result is the same
/// either way (a txn that changes nothing keeps the revision); the server
/// may prefer etcd's routing.
pub fn is_read_only(req: &TxnRequest) -> bool {
    req.success
        .iter()
        .chain(&req.failure)
        .all(|op| match &op.request {
            Some(Request::RequestRange(_)) | None => true,
            Some(Request::RequestTxn(nested)) => is_read_only(nested),
            Some(Request::RequestPut(_)) | Some(Request::RequestDeleteRange(_)) => false,
        })
}

/// Runs `req` on `t`: all or nothing, unless the storage fails.
pub(crate) fn execute<T: KvTxn>(t: &mut T, req: &TxnRequest) -> Result<TxnResponse, ApplyError> {
    let path = compare_to_path(t, req)?;
    let mut effects = Vec::new();
    check_puts(t, req, &path, &mut effects)?;
    check_ranges(t, req, &path)?;
    let mut resp = apply_txn(t, req, &path)?;
    let revision = if t.changed() { t.rev() + 1 } else { t.rev() };
    resp.header = ops::header(revision);
    Ok(resp)
}

/// The outcome of the compares of one txn and, in op order, of the nested
/// txns of its chosen branch (etcd's flattened `txnPath`, as a tree).
#[derive(Debug, PartialEq)]
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

fn branch<'a>(req: &'a TxnRequest, path: &Path) -> &'a [RequestOp] {
    if path.succeeded {
        &req.success
    } else {
        &req.failure
    }
}

/// Evaluates every compare of the path against the current state.
fn compare_to_path<T: KvTxn>(t: &T, req: &TxnRequest) -> Result<Path, ApplyError> {
    let mut succeeded = true;
    for c in &req.compare {
        if !apply_compare(t, c)? {
            succeeded = false;
            break;
        }
    }
    let ops = if succeeded {
        &req.success
    } else {
        &req.failure
    };
    let mut nested = Vec::new();
    for op in ops {
        if let Some(Request::RequestTxn(n)) = &op.request {
            nested.push(compare_to_path(t, n)?);
        }
    }
    Ok(Path { succeeded, nested })
}

/// One compare over its key or range: every key must satisfy it; with no
/// key, a VALUE compare is false and the others compare a zero KeyValue
/// (version/create/mod/lease 0).
fn apply_compare<T: KvTxn>(t: &T, c: &Compare) -> Result<bool, StorageError> {
    let rr = match t.range(
        &KeyRange::new(&c.key, &c.range_end),
        &RangeOptions::default(),
    ) {
        Ok(rr) => rr,
        Err(ApplyError::Storage(e)) => return Err(e),
        // etcd treats a failed read as a failed compare (cannot happen at the
        // current revision).
        Err(_) => return Ok(false),
    };
    if rr.kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(rr.kvs.iter().all(|kv| compare_kv(c, kv)))
}

/// etcd's `compareKV`. A target_union that does not match the target counts
/// as zero / empty; an unknown result passes, an unknown target compares
/// equal — all as etcd does.
pub(crate) fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ord = if c.target == CompareTarget::Value as i32 {
        let want: &[u8] = match &c.target_union {
            Some(TargetUnion::Value(v)) => v,
            _ => &[],
        };
        kv.value.as_slice().cmp(want)
    } else {
        let (have, want) = match CompareTarget::try_from(c.target) {
            Ok(CompareTarget::Create) => (
                kv.create_revision,
                match c.target_union {
                    Some(TargetUnion::CreateRevision(v)) => v,
                    _ => 0,
                },
            ),
            Ok(CompareTarget::Mod) => (
                kv.mod_revision,
                match c.target_union {
                    Some(TargetUnion::ModRevision(v)) => v,
                    _ => 0,
                },
            ),
            Ok(CompareTarget::Version) => (
                kv.version,
                match c.target_union {
                    Some(TargetUnion::Version(v)) => v,
                    _ => 0,
                },
            ),
            Ok(CompareTarget::Lease) => (
                kv.lease,
                match c.target_union {
                    Some(TargetUnion::Lease(v)) => v,
                    _ => 0,
                },
            ),
            Ok(CompareTarget::Value) | Err(_) => (0, 0),
        };
        have.cmp(&want)
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord.is_eq(),
        Ok(CompareResult::NotEqual) => ord.is_ne(),
        Ok(CompareResult::Greater) => ord.is_gt(),
        Ok(CompareResult::Less) => ord.is_lt(),
        Err(_) => true,
    }
}

/// A change made by an earlier op of the txn, in execution order.
enum Effect<'a> {
    Put(&'a [u8]),
    Delete(KeyRange<'a>),
}

/// etcd's `checkRequestPut` over the path, in execution order.
fn check_puts<'a, T: KvTxn>(
    t: &T,
    req: &'a TxnRequest,
    path: &Path,
    effects: &mut Vec<Effect<'a>>,
) -> Result<(), ApplyError> {
    let mut nested = path.nested.iter();
    for op in branch(req, path) {
        match &op.request {
            Some(Request::RequestTxn(n)) => {
                check_puts(t, n, next_path(&mut nested)?, effects)?;
            }
            Some(Request::RequestPut(p)) => {
                if p.ignore_value || p.ignore_lease {
                    let existed = !t
                        .range(&KeyRange::Single(&p.key), &RangeOptions::default())?
                        .kvs
                        .is_empty();
                    let deleted_since = matches!(
                        effects.iter().rev().find(|e| touches(e, &p.key)),
                        Some(Effect::Delete(_))
                    );
                    if !existed || deleted_since {
                        return Err(ApplyError::KeyNotFound);
                    }
                }
                if p.lease != 0 && !t.lease_exists(p.lease)? {
                    return Err(ApplyError::LeaseNotFound);
                }
                effects.push(Effect::Put(&p.key));
            }
            Some(Request::RequestDeleteRange(d)) => {
                effects.push(Effect::Delete(KeyRange::new(&d.key, &d.range_end)));
            }
            Some(Request::RequestRange(_)) | None => {}
        }
    }
    Ok(())
}

fn touches(e: &Effect<'_>, key: &[u8]) -> bool {
    match e {
        Effect::Put(k) => *k == key,
        Effect::Delete(r) => r.contains(key),
    }
}

/// etcd's `checkRequestRange` over the path.
fn check_ranges<T: KvTxn>(t: &T, req: &TxnRequest, path: &Path) -> Result<(), ApplyError> {
    let mut nested = path.nested.iter();
    for op in branch(req, path) {
        match &op.request {
            Some(Request::RequestTxn(n)) => check_ranges(t, n, next_path(&mut nested)?)?,
            Some(Request::RequestRange(r)) => {
                if r.revision == 0 {
                    continue;
                }
                if r.revision > t.rev() {
                    return Err(ApplyError::FutureRevision);
                }
                if r.revision < t.first_rev() {
                    return Err(ApplyError::Compacted);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// etcd's `applyTxn`: runs the chosen branch.
fn apply_txn<T: KvTxn>(
    t: &mut T,
    req: &TxnRequest,
    path: &Path,
) -> Result<TxnResponse, ApplyError> {
    let ops = branch(req, path);
    let mut nested = path.nested.iter();
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => Some(Response::ResponseRange(ops::range(t, r)?)),
            Some(Request::RequestPut(p)) => Some(Response::ResponsePut(ops::put(t, p)?)),
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(ops::delete_range(t, d)?))
            }
            Some(Request::RequestTxn(n)) => {
                let mut resp = apply_txn(t, n, next_path(&mut nested)?)?;
                resp.header = Some(ResponseHeader::default());
                Some(Response::ResponseTxn(resp))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        header: None,
        succeeded: path.succeeded,
        responses,
    })
}

/// The path of the next nested txn; built from the same request, so it is
/// always there.
fn next_path<'p>(nested: &mut std::slice::Iter<'p, Path>) -> Result<&'p Path, ApplyError> {
    nested.next().ok_or(ApplyError::Unsupported(
        "a txn path out of step with its request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use crate::ApplyResponse;
    use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};
    use etcd_proto::raftpb::raft_request::Request as Raft;

    fn cmp(target: CompareTarget, result: CompareResult, tu: Option<TargetUnion>) -> Compare {
        Compare {
            result: result as i32,
            target: target as i32,
            key: b"k".to_vec(),
            range_end: vec![],
            target_union: tu,
        }
    }

    fn kv() -> KeyValue {
        KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version: 3,
            value: b"m".to_vec(),
            lease: 7,
        }
    }

    #[test]
    fn compare_each_target_and_result() {
        use CompareResult::*;
        use CompareTarget as T;
        let kv = kv();
        let cases = [
            (
                T::Version,
                TargetUnion::Version(3),
                [true, false, false, false],
            ),
            (
                T::Version,
                TargetUnion::Version(2),
                [false, true, false, true],
            ),
            (
                T::Create,
                TargetUnion::CreateRevision(9),
                [false, false, true, true],
            ),
            (
                T::Mod,
                TargetUnion::ModRevision(5),
                [true, false, false, false],
            ),
            (T::Lease, TargetUnion::Lease(8), [false, false, true, true]),
            (
                T::Value,
                TargetUnion::Value(b"a".to_vec()),
                [false, true, false, true],
            ),
            (
                T::Value,
                TargetUnion::Value(b"m".to_vec()),
                [true, false, false, false],
            ),
            (
                T::Value,
                TargetUnion::Value(b"mm".to_vec()),
                [false, false, true, true],
            ),
        ];
        for (target, tu, want) in cases {
            for (result, w) in [Equal, Greater, Less, NotEqual].into_iter().zip(want) {
                assert_eq!(
                    compare_kv(&cmp(target, result, Some(tu.clone())), &kv),
                    w,
                    "{target:?} {result:?} {tu:?}"
                );
            }
        }
    }

    #[test]
    fn mismatched_union_counts_as_zero() {
        let kv = kv();
        // MOD target with a Version union: compares mod_revision with 0.
        let c = cmp(
            CompareTarget::Mod,
            CompareResult::Greater,
            Some(TargetUnion::Version(100)),
        );
        assert!(compare_kv(&c, &kv));
        // VALUE with no union compares against the empty value.
        let c = cmp(CompareTarget::Value, CompareResult::Greater, None);
        assert!(compare_kv(&c, &kv));
        // Unknown result passes.
        let mut c = cmp(CompareTarget::Version, CompareResult::Equal, None);
        c.result = 99;
        assert!(compare_kv(&c, &kv));
        // Unknown target compares equal.
        let mut c = cmp(CompareTarget::Version, CompareResult::Equal, None);
        c.target = 99;
        assert!(compare_kv(&c, &kv));
    }

    #[test]
    fn read_only_is_recursive() {
        let range = RequestOp {
            request: Some(Request::RequestRange(RangeRequest::default())),
        };
        let put = RequestOp {
            request: Some(Request::RequestPut(PutRequest::default())),
        };
        let nested = |inner: TxnRequest| RequestOp {
            request: Some(Request::RequestTxn(inner)),
        };
        let ro = TxnRequest {
            success: vec![range.clone()],
            failure: vec![range.clone()],
            ..Default::default()
        };
        assert!(is_read_only(&ro));
        assert!(is_read_only(&TxnRequest::default()));
        let w = TxnRequest {
            failure: vec![put.clone()],
            ..Default::default()
        };
        assert!(!is_read_only(&w));
        assert!(is_read_only(&TxnRequest {
            success: vec![nested(ro)],
            ..Default::default()
        }));
        assert!(!is_read_only(&TxnRequest {
            success: vec![range, nested(w)],
            ..Default::default()
        }));
    }

    fn run(s: &Store, txn: TxnRequest) -> Result<TxnResponse, ApplyError> {
        match s.apply(Raft::Txn(txn))? {
            ApplyResponse::Txn(r) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    fn version_is(key: &str, v: i64) -> Compare {
        compare(
            key,
            CompareTarget::Version,
            CompareResult::Equal,
            TargetUnion::Version(v),
        )
    }

    fn range_resp(op: &ResponseOp) -> &etcd_proto::etcdserverpb::RangeResponse {
        match &op.response {
            Some(Response::ResponseRange(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn rev_of(op: &ResponseOp) -> i64 {
        match &op.response {
            Some(Response::ResponsePut(r)) => r.header.unwrap().revision,
            Some(Response::ResponseDeleteRange(r)) => r.header.unwrap().revision,
            Some(Response::ResponseRange(r)) => r.header.unwrap().revision,
            Some(Response::ResponseTxn(r)) => r.header.unwrap().revision,
            None => panic!("empty response"),
        }
    }

    #[test]
    fn branches_follow_compares() {
        let s = Store::new();
        s.put("k", "v");
        let txn = |v| TxnRequest {
            compare: vec![version_is("k", v)],
            success: vec![op_put("r", "success")],
            failure: vec![op_put("r", "failure")],
        };
        let r = run(&s, txn(1)).unwrap();
        assert!(r.succeeded);
        assert_eq!(r.header.unwrap().revision, 3);
        assert_eq!(s.get("r", ""), [("r".into(), "success".into())]);
        let r = run(&s, txn(5)).unwrap();
        assert!(!r.succeeded);
        assert_eq!(s.get("r", ""), [("r".into(), "failure".into())]);
        // No compares: success.
        assert!(run(&s, TxnRequest::default()).unwrap().succeeded);
    }

    #[test]
    fn missing_key_compares() {
        let s = Store::new();
        let ok = |c: Compare| {
            s.backend
                .read()
                .unwrap()
                .txn(&TxnRequest {
                    compare: vec![c],
                    ..Default::default()
                })
                .unwrap()
                .succeeded
        };
        use CompareResult::*;
        use CompareTarget as T;
        assert!(ok(compare("m", T::Version, Equal, TargetUnion::Version(0))));
        assert!(ok(compare(
            "m",
            T::Create,
            Equal,
            TargetUnion::CreateRevision(0)
        )));
        assert!(ok(compare("m", T::Mod, Less, TargetUnion::ModRevision(1))));
        assert!(ok(compare("m", T::Lease, Equal, TargetUnion::Lease(0))));
        // VALUE on a missing key is false whatever the result.
        for r in [Equal, NotEqual, Greater, Less] {
            assert!(!ok(compare(
                "m",
                T::Value,
                r,
                TargetUnion::Value(b"x".to_vec())
            )));
        }
    }

    #[test]
    fn range_compares_need_every_key() {
        let s = Store::new();
        s.put("a1", "x");
        s.put("a2", "x");
        s.put("a3", "y");
        let ok = |end: &str, value: &str| {
            let mut c = compare(
                "a",
                CompareTarget::Value,
                CompareResult::Equal,
                TargetUnion::Value(value.into()),
            );
            c.range_end = end.into();
            s.backend
                .read()
                .unwrap()
                .txn(&TxnRequest {
                    compare: vec![c],
                    ..Default::default()
                })
                .unwrap()
                .succeeded
        };
        assert!(ok("a3", "x"));
        assert!(!ok("b", "x"));
        assert!(!ok("\0", "x"));
        // An empty range behaves like a missing key.
        assert!(!ok("a0", "x"));
    }

    #[test]
    fn ops_share_one_revision_and_see_earlier_writes() {
        let s = Store::new();
        s.put("x", "0");
        let r = run(
            &s,
            TxnRequest {
                success: vec![
                    op_range("a", ""),
                    op_put("a", "1"),
                    op_range("a", ""),
                    op_put("b", "2"),
                    op_delete("x", ""),
                ],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.header.unwrap().revision, 3);
        // Before any change, reads are at the old revision; after, at the new.
        assert_eq!(rev_of(&r.responses[0]), 2);
        assert!(range_resp(&r.responses[0]).kvs.is_empty());
        assert_eq!(rev_of(&r.responses[1]), 3);
        assert_eq!(rev_of(&r.responses[2]), 3);
        assert_eq!(
            pairs(&range_resp(&r.responses[2]).kvs),
            [("a".into(), "1".into())]
        );
        assert_eq!(rev_of(&r.responses[4]), 3);
        assert_eq!(s.rev(), 3);
        let a = s.get_kv("a").unwrap();
        let b = s.get_kv("b").unwrap();
        assert_eq!((a.mod_revision, b.mod_revision), (3, 3));
        assert!(s.get_kv("x").is_none());
    }

    #[test]
    fn events_carry_sub_revision_order() {
        let s = Store::new();
        let mut batch = s.backend.begin_apply().unwrap();
        batch
            .apply(&etcd_proto::raftpb::RaftRequest {
                caller: None,
                id: 0,
                request: Some(Raft::Txn(TxnRequest {
                    success: vec![op_put("b", "1"), op_put("a", "1"), op_delete("b", "")],
                    ..Default::default()
                })),
            })
            .unwrap();
        let events = batch.commit(false).unwrap().events;
        let summary: Vec<(i32, String, i64)> = events
            .iter()
            .map(|e| {
                let kv = e.kv.as_ref().unwrap();
                (
                    e.r#type,
                    String::from_utf8(kv.key.clone()).unwrap(),
                    kv.mod_revision,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [(0, "b".into(), 2), (0, "a".into(), 2), (1, "b".into(), 2)]
        );
        assert_eq!(events[2].prev_kv.as_ref().unwrap().value, b"1");
    }

    #[test]
    fn txns_that_change_nothing_keep_the_revision() {
        let s = Store::new();
        s.put("a", "1");
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_range("a", ""), op_delete("missing", "")],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.header.unwrap().revision, 2);
        assert_eq!(rev_of(&r.responses[1]), 2);
        assert_eq!(s.rev(), 2);
        // A delete of a missing key after a change reports the new revision.
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_put("b", "1"), op_delete("missing", "")],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rev_of(&r.responses[1]), 3);
        assert_eq!(s.rev(), 3);
    }

    #[test]
    fn nested_txns() {
        let s = Store::new();
        s.put("k", "old");
        let inner = TxnRequest {
            // Evaluated before the outer put: sees "old".
            compare: vec![compare(
                "k",
                CompareTarget::Value,
                CompareResult::Equal,
                TargetUnion::Value(b"old".to_vec()),
            )],
            success: vec![op_put("inner", "saw-old"), op_range("k", "")],
            failure: vec![op_put("inner", "saw-new")],
        };
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_put("k", "new"), op_txn(inner)],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.header.unwrap().revision, 3);
        let Some(Response::ResponseTxn(nested)) = &r.responses[1].response else {
            panic!()
        };
        assert!(nested.succeeded);
        assert_eq!(nested.header, Some(ResponseHeader::default()));
        assert_eq!(rev_of(&nested.responses[0]), 3);
        assert_eq!(
            pairs(&range_resp(&nested.responses[1]).kvs),
            [("k".into(), "new".into())]
        );
        assert_eq!(s.get("inner", ""), [("inner".into(), "saw-old".into())]);
    }

    #[test]
    fn refused_txns_change_nothing() {
        let s = Store::new();
        s.put("k", "v");
        let before = s.rev();
        let lease_put = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                lease: 99,
                ..put_req("l", "v")
            })),
        };
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_put("a", "1"), op_delete("k", ""), lease_put],
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(ApplyError::LeaseNotFound)), "{r:?}");
        // ignore_value on a key missing before the txn, even if an earlier op
        // creates it (etcd checks against the state before the txn).
        let ignore = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                ignore_value: true,
                ..put_req("new", "")
            })),
        };
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_put("new", "1"), ignore],
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(ApplyError::KeyNotFound)), "{r:?}");
        // ignore_value on a key an earlier op deleted (etcd would crash).
        let ignore = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                ignore_value: true,
                ..put_req("k", "")
            })),
        };
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_delete("a", "z"), ignore.clone()],
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(ApplyError::KeyNotFound)), "{r:?}");
        // ... but fine when the key exists throughout.
        let r = run(
            &s,
            TxnRequest {
                success: vec![op_range("k", ""), ignore],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.header.unwrap().revision, before + 1);
        assert_eq!(s.get("\0", "\0"), [("k".into(), "v".into())]);
        // The failed branch's checks do not matter.
        let bad = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                lease: 5,
                ..put_req("x", "")
            })),
        };
        let r = run(
            &s,
            TxnRequest {
                compare: vec![version_is("k", 100)],
                success: vec![bad],
                failure: vec![],
            },
        )
        .unwrap();
        assert!(!r.succeeded);
    }

    #[test]
    fn range_revision_checks() {
        let s = Store::new();
        s.put("a", "1"); // 2
        s.put("a", "2"); // 3
        let with_rev = |rev: i64| {
            let op = RequestOp {
                request: Some(Request::RequestRange(RangeRequest {
                    revision: rev,
                    ..range_req("a", "")
                })),
            };
            run(
                &s,
                TxnRequest {
                    success: vec![op_put("b", "1"), op],
                    ..Default::default()
                },
            )
        };
        // The future check is against the revision before the txn, so a read
        // at the txn's own new revision is refused.
        let now = s.rev();
        assert!(matches!(with_rev(now + 1), Err(ApplyError::FutureRevision)));
        assert_eq!(s.rev(), now);
        let r = with_rev(2).unwrap();
        let resp = range_resp(&r.responses[1]);
        assert_eq!(pairs(&resp.kvs), [("a".into(), "1".into())]);
        assert_eq!(resp.header.unwrap().revision, now + 1);
        // Never compacted (-1): -1 is allowed and reads the latest.
        assert!(with_rev(-1).is_ok());
        assert!(matches!(with_rev(-2), Err(ApplyError::Compacted)));
        s.compact(3).unwrap();
        assert!(matches!(with_rev(2), Err(ApplyError::Compacted)));
        assert!(matches!(with_rev(-1), Err(ApplyError::Compacted)));
        assert!(with_rev(3).is_ok());
    }

    #[test]
    fn read_only_path() {
        let s = Store::new();
        s.put("a", "1");
        let read = s.backend.read().unwrap();
        let r = read
            .txn(&TxnRequest {
                compare: vec![version_is("a", 1)],
                success: vec![op_range("a", "")],
                failure: vec![],
            })
            .unwrap();
        assert!(r.succeeded);
        assert_eq!(r.header.unwrap().revision, 2);
        assert_eq!(range_resp(&r.responses[0]).header.unwrap().revision, 2);
        assert!(matches!(
            read.txn(&TxnRequest {
                success: vec![op_put("a", "2")],
                ..Default::default()
            }),
            Err(ApplyError::Unsupported(_))
        ));
        assert_eq!(s.get("a", ""), [("a".into(), "1".into())]);
    }
}
