//! What each kind of committed request is, in one place: its name (for
//! logs), what etcd charges it against the space quota, and so whether it
//! may grow the store (what the NOSPACE alarm refuses, etcd's capped
//! applier). The server's quota check, this crate's apply and the raft
//! layer's logs all ask here. Who may send a request (its permission)
//! joins these facts once auth checks permissions.

use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{PutRequest, RequestOp};
use etcd_proto::raftpb::raft_request::Request;

/// etcd's estimate of a key's metadata in the backend.
const KV_OVERHEAD: u64 = 256;
/// etcd's estimate of a lease record in the backend.
const LEASE_OVERHEAD: u64 = 64;

/// The request kind's name.
pub fn kind(request: &Request) -> &'static str {
    match request {
        Request::Put(_) => "put",
        Request::DeleteRange(_) => "delete_range",
        Request::Txn(_) => "txn",
        Request::Compaction(_) => "compaction",
        Request::LeaseGrant(_) => "lease_grant",
        Request::LeaseRevoke(_) => "lease_revoke",
        Request::Alarm(_) => "alarm",
        Request::LeaseCheckpoint(_) => "lease_checkpoint",
        Request::Auth(_) => "auth",
    }
}

/// What `request` is charged against the quota, as etcd estimates it: a put
/// costs its key and value plus metadata, a Txn its costlier branch (puts at
/// its top level only), a lease grant a fixed record; anything else is free
/// (it cannot grow the store, or is needed to shrink it).
pub fn quota_cost(request: &Request) -> u64 {
    fn put(p: &PutRequest) -> u64 {
        KV_OVERHEAD + p.key.len() as u64 + p.value.len() as u64
    }
    fn branch(ops: &[RequestOp]) -> u64 {
        ops.iter()
            .map(|op| match &op.request {
                Some(Op::RequestPut(p)) => put(p),
                _ => 0,
            })
            .sum()
    }
    match request {
        Request::Put(p) => put(p),
        Request::Txn(t) => branch(&t.success).max(branch(&t.failure)),
        Request::LeaseGrant(_) => LEASE_OVERHEAD,
        Request::DeleteRange(_)
        | Request::Compaction(_)
        | Request::LeaseRevoke(_)
        | Request::LeaseCheckpoint(_)
        | Request::Alarm(_)
        | Request::Auth(_) => 0,
    }
}

/// Whether `request` may grow the store: exactly what the quota charges.
/// Under NOSPACE these are refused; Range, DeleteRange, Compaction,
/// LeaseRevoke, checkpoints, alarms and auth changes pass, as in etcd.
pub fn may_grow_store(request: &Request) -> bool {
    quota_cost(request) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{
        AlarmRequest, CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
        RangeRequest, TxnRequest,
    };

    fn put(k: &str, v: &str) -> PutRequest {
        PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        }
    }

    fn op(r: Op) -> RequestOp {
        RequestOp { request: Some(r) }
    }

    #[test]
    fn costs_are_etcds_estimates() {
        assert_eq!(quota_cost(&Request::Put(put("ab", "cde"))), 256 + 5);
        assert_eq!(
            quota_cost(&Request::LeaseGrant(LeaseGrantRequest::default())),
            64
        );
        assert_eq!(
            quota_cost(&Request::DeleteRange(DeleteRangeRequest::default())),
            0
        );
        let txn = TxnRequest {
            success: vec![
                op(Op::RequestPut(put("a", "1"))),
                op(Op::RequestRange(RangeRequest::default())),
            ],
            failure: vec![
                op(Op::RequestPut(put("b", "22"))),
                op(Op::RequestPut(put("c", ""))),
            ],
            ..Default::default()
        };
        assert_eq!(quota_cost(&Request::Txn(txn)), (256 + 3) + (256 + 1));
        let nested = TxnRequest {
            success: vec![op(Op::RequestTxn(TxnRequest {
                success: vec![op(Op::RequestPut(put("a", "1")))],
                ..Default::default()
            }))],
            ..Default::default()
        };
        assert_eq!(quota_cost(&Request::Txn(nested)), 0);
    }

    #[test]
    fn what_nospace_refuses_matches_etcd() {
        assert!(may_grow_store(&Request::Put(PutRequest::default())));
        assert!(may_grow_store(&Request::LeaseGrant(
            LeaseGrantRequest::default()
        )));
        for r in [
            Request::DeleteRange(DeleteRangeRequest::default()),
            Request::Compaction(CompactionRequest::default()),
            Request::LeaseRevoke(LeaseRevokeRequest::default()),
            Request::Alarm(AlarmRequest::default()),
        ] {
            assert!(!may_grow_store(&r), "{r:?}");
        }
        let read_only = TxnRequest {
            success: vec![op(Op::RequestRange(RangeRequest::default()))],
            failure: vec![op(Op::RequestDeleteRange(DeleteRangeRequest::default()))],
            ..Default::default()
        };
        assert!(!may_grow_store(&Request::Txn(read_only)));
        let put_on_failure = TxnRequest {
            failure: vec![op(Op::RequestPut(PutRequest::default()))],
            ..Default::default()
        };
        assert!(may_grow_store(&Request::Txn(put_on_failure)));
    }
}
