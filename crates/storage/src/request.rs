//! What each kind of committed request is, in one place: its name (for
//! logs), what etcd charges it against the space quota, whether it may
//! grow the store (what the NOSPACE alarm refuses, etcd's capped applier),
//! and the permissions its sender needs ([`Needs`], etcd's
//! `authApplierV3`). The server's quota and permission checks, this
//! crate's apply and the raft layer's logs all ask here.

use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_proto::raftpb::auth_change::Change;
use etcd_proto::raftpb::raft_request::Request;

pub use crate::auth::perms::Access;

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

/// Access to one key (`range_end` empty) or range, as a request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAccess<'a> {
    pub access: Access,
    pub key: &'a [u8],
    pub range_end: &'a [u8],
}

/// What a request's sender must be allowed, with auth on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs<'a> {
    /// The root role (auth management, maintenance, membership).
    pub admin: bool,
    /// Each key or range the request reads or writes.
    pub keys: Vec<KeyAccess<'a>>,
    /// Write on every key attached to this lease, as applied (a Put that
    /// attaches a lease, a LeaseRevoke).
    pub lease_keys: Option<i64>,
}

impl<'a> Needs<'a> {
    /// Nothing: anyone may send it.
    pub fn is_empty(&self) -> bool {
        !self.admin && self.keys.is_empty() && self.lease_keys.is_none()
    }

    /// The root role and nothing else.
    pub fn admin() -> Needs<'static> {
        Needs {
            admin: true,
            ..Needs::default()
        }
    }

    pub fn range(r: &'a RangeRequest) -> Needs<'a> {
        Needs::read_of(&r.key, &r.range_end)
    }

    /// Read on `key` / `range_end` (as a request gives them): a Range, a
    /// watch.
    pub fn read_of(key: &'a [u8], range_end: &'a [u8]) -> Needs<'a> {
        let mut needs = Needs::default();
        needs.read(key, range_end);
        needs
    }

    /// Read on every compare, and each op's needs in both branches, nested
    /// txns included (etcd 3.5).
    pub fn txn(t: &'a TxnRequest) -> Needs<'a> {
        let mut needs = Needs::default();
        needs.add_txn(t);
        needs
    }

    /// What a committed request needs. Auth changes need root but for
    /// Authenticate (checked by its password); compaction, lease grants,
    /// checkpoints and alarms need nothing, as in etcd.
    pub fn of(request: &'a Request) -> Needs<'a> {
        let mut needs = Needs::default();
        match request {
            Request::Put(p) => needs.add_put(p),
            Request::DeleteRange(d) => needs.add_delete(d),
            Request::Txn(t) => needs.add_txn(t),
            Request::LeaseRevoke(r) => needs.lease_keys = Some(r.id),
            Request::Auth(a) => {
                needs.admin = !matches!(a.change, Some(Change::Authenticate(_)) | None)
            }
            Request::Compaction(_)
            | Request::LeaseGrant(_)
            | Request::LeaseCheckpoint(_)
            | Request::Alarm(_) => {}
        }
        needs
    }

    fn read(&mut self, key: &'a [u8], range_end: &'a [u8]) {
        self.keys.push(KeyAccess {
            access: Access::Read,
            key,
            range_end,
        });
    }

    fn write(&mut self, key: &'a [u8], range_end: &'a [u8]) {
        self.keys.push(KeyAccess {
            access: Access::Write,
            key,
            range_end,
        });
    }

    /// Write on the key; write on the lease's keys when it attaches one;
    /// read on the key for `prev_kv`.
    fn add_put(&mut self, p: &'a PutRequest) {
        self.write(&p.key, b"");
        if p.lease != 0 {
            self.lease_keys = Some(p.lease);
        }
        if p.prev_kv {
            self.read(&p.key, b"");
        }
    }

    fn add_delete(&mut self, d: &'a DeleteRangeRequest) {
        self.write(&d.key, &d.range_end);
        if d.prev_kv {
            self.read(&d.key, &d.range_end);
        }
    }

    fn add_txn(&mut self, t: &'a TxnRequest) {
        for compare in &t.compare {
            self.read(&compare.key, &compare.range_end);
        }
        for op in t.success.iter().chain(&t.failure) {
            match &op.request {
                Some(Op::RequestRange(r)) => self.read(&r.key, &r.range_end),
                // A txn's puts are checked for their keys only: etcd does
                // not look at the lease of a put inside a txn.
                Some(Op::RequestPut(p)) => self.write(&p.key, b""),
                Some(Op::RequestDeleteRange(d)) => self.add_delete(d),
                Some(Op::RequestTxn(nested)) => self.add_txn(nested),
                None => {}
            }
        }
    }
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
