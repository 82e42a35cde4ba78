//! Checks a request must pass before it is proposed or read, with etcd's
//! errors: missing keys, `ignore_value`/`ignore_lease` misuse, the txn
//! operation limit, and txns whose writes overlap.
//!
//! These run on the member that receives the request, before anything enters
//! the Raft log, so a bad request costs nothing and changes nothing.

use std::collections::BTreeSet;

use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use crate::errors::EtcdError;

pub fn range(r: &RangeRequest) -> Result<(), EtcdError> {
    non_empty(&r.key)
}

pub fn put(r: &PutRequest) -> Result<(), EtcdError> {
    non_empty(&r.key)?;
    if r.ignore_value && !r.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

pub fn delete_range(r: &DeleteRangeRequest) -> Result<(), EtcdError> {
    non_empty(&r.key)
}

/// Everything etcd checks on a Txn: sizes and keys first, then overlapping
/// writes (after, so an oversized txn never pays the overlap check).
pub fn txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), EtcdError> {
    txn_shape(r, max_txn_ops)?;
    write_sets(&r.success)?;
    write_sets(&r.failure)?;
    Ok(())
}

fn non_empty(key: &[u8]) -> Result<(), EtcdError> {
    if key.is_empty() {
        Err(EtcdError::EmptyKey)
    } else {
        Ok(())
    }
}

/// The op limit counts the longest of compares/success/failure; nested txns get
/// what is left of the budget, as in etcd.
fn txn_shape(r: &TxnRequest, max_txn_ops: usize) -> Result<(), EtcdError> {
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_txn_ops {
        return Err(EtcdError::TooManyOps);
    }
    for c in &r.compare {
        non_empty(&c.key)?;
    }
    for op in r.success.iter().chain(&r.failure) {
        request_op(op, max_txn_ops - ops)?;
    }
    Ok(())
}

fn request_op(op: &RequestOp, max_txn_ops: usize) -> Result<(), EtcdError> {
    match &op.request {
        Some(Request::RequestRange(r)) => range(r),
        Some(Request::RequestPut(r)) => put(r),
        Some(Request::RequestDeleteRange(r)) => delete_range(r),
        Some(Request::RequestTxn(r)) => txn_shape(r, max_txn_ops),
        // etcd answers an empty op this way.
        None => Err(EtcdError::KeyNotFound),
    }
}

/// A half-open key interval, where an empty end means "no upper bound". A
/// single key `k` is `[k, k\0)`.
#[derive(Debug, Clone)]
struct Interval {
    start: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    fn point(key: &[u8]) -> Interval {
        let mut end = key.to_vec();
        end.push(0);
        Interval {
            start: key.to_vec(),
            end,
        }
    }

    /// `[start, end)` exactly as etcd's overlap check builds it: the range end
    /// is compared as a plain string (so a from-key end of "\0" covers nothing
    /// here, as in etcd), and an empty end is unbounded.
    fn span(start: &[u8], end: &[u8]) -> Interval {
        if end.is_empty() {
            return Interval::point(start);
        }
        Interval {
            start: start.to_vec(),
            end: end.to_vec(),
        }
    }

    fn contains_point(&self, key: &[u8]) -> bool {
        let below_end = self.end.is_empty() || key < self.end.as_slice();
        self.start.as_slice() <= key && below_end
    }
}

/// The keys put and the intervals deleted by one list of ops, with nested
/// txns folded in; fails if two writes touch the same key.
fn write_sets(ops: &[RequestOp]) -> Result<(BTreeSet<Vec<u8>>, Vec<Interval>), EtcdError> {
    let mut dels: Vec<Interval> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Interval::span(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[Interval], key: &[u8]| dels.iter().any(|d| d.contains_point(key));

    let mut puts = BTreeSet::new();
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = write_sets(&t.success)?;
        let (puts_else, dels_else) = write_sets(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            // then and else never both run, so the same key in both is fine.
            if (puts.contains(k) && !puts_then.contains(k)) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(EtcdError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_op(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }

    fn del_op(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }

    fn txn_op(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(TxnRequest {
                success,
                failure,
                ..Default::default()
            })),
        }
    }

    fn txn_of(success: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            success,
            ..Default::default()
        }
    }

    #[test]
    fn put_rules() {
        assert_eq!(put(&PutRequest::default()), Err(EtcdError::EmptyKey));
        let p = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(put(&p), Err(EtcdError::ValueProvided));
        let p = PutRequest {
            key: b"k".to_vec(),
            lease: 5,
            ignore_lease: true,
            ..Default::default()
        };
        assert_eq!(put(&p), Err(EtcdError::LeaseProvided));
    }

    #[test]
    fn op_limit_counts_the_longest_list() {
        let t = txn_of((0..129).map(|i| put_op(&format!("k{i}"))).collect());
        assert_eq!(txn(&t, 128), Err(EtcdError::TooManyOps));
        let t = txn_of((0..128).map(|i| put_op(&format!("k{i}"))).collect());
        assert_eq!(txn(&t, 128), Ok(()));
    }

    #[test]
    fn empty_op_is_key_not_found() {
        let t = txn_of(vec![RequestOp { request: None }]);
        assert_eq!(txn(&t, 128), Err(EtcdError::KeyNotFound));
    }

    #[test]
    fn duplicate_puts_and_put_inside_delete_are_rejected() {
        assert_eq!(
            txn(&txn_of(vec![put_op("a"), put_op("a")]), 128),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            txn(&txn_of(vec![del_op("a", "c"), put_op("b")]), 128),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            txn(&txn_of(vec![del_op("a", "c"), put_op("c")]), 128),
            Ok(())
        );
        assert_eq!(
            txn(&txn_of(vec![del_op("a", ""), put_op("a")]), 128),
            Err(EtcdError::DuplicateKey)
        );
        // Two deletes may overlap.
        assert_eq!(
            txn(&txn_of(vec![del_op("a", "c"), del_op("b", "d")]), 128),
            Ok(())
        );
    }

    #[test]
    fn nested_branches() {
        // The same key in then and else of a nested txn is fine.
        let nested = txn_op(vec![put_op("a")], vec![put_op("a")]);
        assert_eq!(txn(&txn_of(vec![nested]), 128), Ok(()));
        // A nested put colliding with an outer put is not.
        let nested = txn_op(vec![put_op("a")], vec![]);
        assert_eq!(
            txn(&txn_of(vec![nested, put_op("a")]), 128),
            Err(EtcdError::DuplicateKey)
        );
        // A nested delete covering an outer put is not either.
        let nested = txn_op(vec![del_op("a", "b")], vec![]);
        assert_eq!(
            txn(&txn_of(vec![nested, put_op("a")]), 128),
            Err(EtcdError::DuplicateKey)
        );
    }

    #[test]
    fn from_key_delete_is_compared_as_a_plain_string() {
        // etcd's overlap check treats range_end "\0" literally: [a, "\0") is empty.
        assert_eq!(
            txn(&txn_of(vec![del_op("a", "\0"), put_op("b")]), 128),
            Ok(())
        );
    }
}
