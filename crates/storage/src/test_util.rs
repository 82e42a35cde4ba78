//! Test helpers: a store in a temp dir and one-line requests.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
};
use etcd_proto::mvccpb::KeyValue;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::RaftRequest;

use crate::{ApplyError, ApplyResponse, Backend, Committed};

/// A backend in a temp dir (kept alive by the returned guard).
pub struct Store {
    pub backend: Backend,
    _dir: tempfile::TempDir,
}

impl Store {
    pub fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("db")).unwrap();
        Store { backend, _dir: dir }
    }

    /// Applies one request in its own batch.
    pub fn apply(&self, req: Request) -> Result<ApplyResponse, ApplyError> {
        self.apply_committed(req).0
    }

    /// Applies one request in its own batch; also returns what the commit
    /// reported.
    pub fn apply_committed(&self, req: Request) -> (Result<ApplyResponse, ApplyError>, Committed) {
        let mut batch = self.backend.begin_apply().unwrap();
        let r = batch.apply(&RaftRequest {
            caller: None,
            id: 0,
            request: Some(req),
        });
        (r, batch.commit(false).unwrap())
    }

    pub fn grant(&self, id: i64, ttl: i64) {
        self.apply(Request::LeaseGrant(LeaseGrantRequest { ttl, id }))
            .unwrap();
    }

    pub fn revoke(&self, id: i64) -> Result<ApplyResponse, ApplyError> {
        self.apply(Request::LeaseRevoke(LeaseRevokeRequest { id }))
    }

    /// Puts `key` attached to `lease`; returns the revision.
    pub fn put_lease(&self, key: &str, value: &str, lease: i64) -> i64 {
        match self
            .apply(Request::Put(PutRequest {
                lease,
                ..put_req(key, value)
            }))
            .unwrap()
        {
            ApplyResponse::Put(r) => r.header.unwrap().revision,
            other => panic!("{other:?}"),
        }
    }

    pub fn put(&self, key: &str, value: &str) -> i64 {
        match self.apply(Request::Put(put_req(key, value))).unwrap() {
            ApplyResponse::Put(r) => r.header.unwrap().revision,
            other => panic!("{other:?}"),
        }
    }

    pub fn delete(&self, key: &str, range_end: &str) -> (i64, i64) {
        match self
            .apply(Request::DeleteRange(DeleteRangeRequest {
                key: key.into(),
                range_end: range_end.into(),
                prev_kv: false,
            }))
            .unwrap()
        {
            ApplyResponse::DeleteRange(r) => (r.deleted, r.header.unwrap().revision),
            other => panic!("{other:?}"),
        }
    }

    pub fn compact(&self, revision: i64) -> Result<ApplyResponse, ApplyError> {
        self.apply(Request::Compaction(CompactionRequest {
            revision,
            physical: true,
        }))
    }

    pub fn range(&self, req: RangeRequest) -> Result<RangeResponse, ApplyError> {
        self.backend.read().unwrap().range(&req)
    }

    /// Key -> value of a latest-revision range.
    pub fn get(&self, key: &str, range_end: &str) -> Vec<(String, String)> {
        pairs(&self.range(range_req(key, range_end)).unwrap().kvs)
    }

    pub fn get_kv(&self, key: &str) -> Option<KeyValue> {
        self.range(range_req(key, "")).unwrap().kvs.pop()
    }

    pub fn rev(&self) -> i64 {
        self.backend.read().unwrap().current_revision().unwrap()
    }
}

pub fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

pub fn range_req(key: &str, range_end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        ..Default::default()
    }
}

pub fn pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            (
                String::from_utf8(kv.key.clone()).unwrap(),
                String::from_utf8(kv.value.clone()).unwrap(),
            )
        })
        .collect()
}

pub fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(put_req(key, value))),
    }
}

pub fn op_range(key: &str, range_end: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(range_req(key, range_end))),
    }
}

pub fn op_delete(key: &str, range_end: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            prev_kv: false,
        })),
    }
}

pub fn op_txn(txn: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestTxn(txn)),
    }
}

pub fn compare(
    key: &str,
    target: CompareTarget,
    result: CompareResult,
    tu: TargetUnion,
) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.into(),
        range_end: vec![],
        target_union: Some(tu),
    }
}
