//! The key layout Lock and Election share with etcd's clientv3
//! `concurrency` package, and the requests built on it. Pure: no I/O.
//!
//! A lock or election `name` owns the keys under `name/`. Each contender
//! writes one key, `name/<lease id in lowercase hex>`, attached to its lease;
//! the key with the lowest create revision under the prefix is the holder
//! (the leader). Go clients (`concurrency.Mutex`, `concurrency.Election`,
//! `etcdctl lock` / `elect`) use the same layout, so they and the gRPC
//! services contend for the same names.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// `name/`: the prefix every contender's key lives under.
pub fn prefix(name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(name.len() + 1);
    p.extend_from_slice(name);
    p.push(b'/');
    p
}

/// A contender's key: the prefix and the lease id as Go's `%x` prints an
/// int64 (lowercase hex, a minus sign for negative ids).
pub fn contender_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let hex = if lease < 0 {
        format!("-{:x}", lease.unsigned_abs())
    } else {
        format!("{lease:x}")
    };
    let mut key = prefix.to_vec();
    key.extend_from_slice(hex.as_bytes());
    key
}

/// The range end selecting every key that starts with `prefix`: the prefix
/// with its last byte below 0xff incremented and what follows dropped;
/// `"\0"` (every key from `prefix` on) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|b| *b < 0xff) {
        Some(i) => {
            let mut end = prefix[..=i].to_vec();
            end[i] += 1;
            end
        }
        None => vec![0],
    }
}

/// The one key under `prefix` with the lowest create revision: the holder
/// (etcd's `WithFirstCreate`).
pub fn first_created(prefix: &[u8]) -> RangeRequest {
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Create as i32,
        ..RangeRequest::default()
    }
}

/// The key under `prefix` created last at or before `max_create_revision`:
/// the contender just ahead of one whose key was created after it (etcd's
/// `WithLastCreate` + `WithMaxCreateRev`).
pub fn last_created_up_to(prefix: &[u8], max_create_revision: i64) -> RangeRequest {
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: SortOrder::Descend as i32,
        sort_target: SortTarget::Create as i32,
        max_create_revision,
        ..RangeRequest::default()
    }
}

/// Exactly `key`.
pub fn get(key: &[u8]) -> RangeRequest {
    RangeRequest {
        key: key.to_vec(),
        ..RangeRequest::default()
    }
}

/// `create_revision(key) == revision` (0: the key does not exist).
pub fn created_at(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(TargetUnion::CreateRevision(revision)),
    }
}

pub fn put_op(key: &[u8], value: &[u8], lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..PutRequest::default()
        })),
    }
}

pub fn range_op(range: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(range)),
    }
}

pub fn delete_op(key: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
            key: key.to_vec(),
            ..DeleteRangeRequest::default()
        })),
    }
}

/// Joins the contenders: if `key` does not exist, create it with `value`
/// on `lease`; else read it back (a second acquisition with the same lease
/// reuses the key). Either way, `also` runs after (the mutex reads the
/// holder in the same round trip).
pub fn join(key: &[u8], value: &[u8], lease: i64, also: Option<RangeRequest>) -> TxnRequest {
    let mut success = vec![put_op(key, value, lease)];
    let mut failure = vec![range_op(get(key))];
    if let Some(also) = also {
        success.push(range_op(also.clone()));
        failure.push(range_op(also));
    }
    TxnRequest {
        compare: vec![created_at(key, 0)],
        success,
        failure,
    }
}

/// Runs `then` only while `key` is still the one created at `revision`
/// (the same contender, not a later one with the same lease id).
pub fn if_still(key: &[u8], revision: i64, then: RequestOp) -> TxnRequest {
    TxnRequest {
        compare: vec![created_at(key, revision)],
        success: vec![then],
        failure: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_go_hex() {
        let p = prefix(b"mylock");
        assert_eq!(p, b"mylock/");
        assert_eq!(
            contender_key(&p, 0x694d_7a3b_1c2d_0e0f),
            b"mylock/694d7a3b1c2d0e0f"
        );
        assert_eq!(contender_key(&p, 255), b"mylock/ff");
        assert_eq!(contender_key(&p, -255), b"mylock/-ff");
        assert_eq!(contender_key(&p, i64::MIN), b"mylock/-8000000000000000");
        assert_eq!(contender_key(&prefix(b""), 1), b"/1");
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    #[test]
    fn holder_and_predecessor_queries() {
        let first = first_created(b"l/");
        assert_eq!(
            (first.key.as_slice(), first.range_end.as_slice()),
            (&b"l/"[..], &b"l0"[..])
        );
        assert_eq!(
            (first.limit, first.sort_order, first.sort_target),
            (1, 1, 2)
        );
        let last = last_created_up_to(b"l/", 7);
        assert_eq!((last.limit, last.sort_order, last.sort_target), (1, 2, 2));
        assert_eq!(last.max_create_revision, 7);
    }

    #[test]
    fn join_creates_or_reads_back() {
        let txn = join(b"l/1", b"v", 1, Some(first_created(b"l/")));
        assert_eq!(txn.compare, vec![created_at(b"l/1", 0)]);
        assert_eq!(txn.success.len(), 2);
        assert_eq!(txn.failure.len(), 2);
        assert!(
            matches!(&txn.success[0].request, Some(Op::RequestPut(p)) if p.lease == 1 && p.value == b"v")
        );
        assert!(
            matches!(&txn.failure[0].request, Some(Op::RequestRange(r)) if r.key == b"l/1" && r.range_end.is_empty())
        );
        let alone = join(b"e/1", b"v", 1, None);
        assert_eq!((alone.success.len(), alone.failure.len()), (1, 1));
    }
}
