//! The single-key-space requests — Range, Put, DeleteRange — executed on a
//! [`KvTxn`] (etcd's apply.go `Range`, `Put`, `DeleteRange` with a txn
//! given). Shared by top-level requests, Txn branches and the read path.
//!
//! Not here: the lease check of a top-level Put (the batch does it first, as
//! etcd does before opening its write) and Txn pre-checks (`txn`).

use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader,
};

use crate::error::ApplyError;
use crate::mvcc::key_range::KeyRange;
use crate::mvcc::{range as range_rules, KvTxn, RangeOptions};

/// A header carrying only the revision; the server fills in the rest.
pub(crate) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

/// Range: MVCC read, then filters, sort, limit (see `mvcc::range`).
pub(crate) fn range<T: KvTxn>(t: &T, req: &RangeRequest) -> Result<RangeResponse, ApplyError> {
    let rr = t.range(
        &KeyRange::new(&req.key, &req.range_end),
        &range_rules::mvcc_options(req),
    )?;
    Ok(range_rules::finish(req, rr))
}

/// Put: `ignore_value` / `ignore_lease` take the value / lease of the
/// existing key and fail with "key not found" before any change when it is
/// missing; `prev_kv` returns the key as it was.
pub(crate) fn put<T: KvTxn>(t: &mut T, req: &PutRequest) -> Result<PutResponse, ApplyError> {
    let mut prev = None;
    if req.ignore_value || req.ignore_lease || req.prev_kv {
        prev = t
            .range(&KeyRange::Single(&req.key), &RangeOptions::default())?
            .kvs
            .into_iter()
            .next();
    }
    let (mut value, mut lease) = (req.value.as_slice(), req.lease);
    if req.ignore_value || req.ignore_lease {
        let Some(p) = &prev else {
            return Err(ApplyError::KeyNotFound);
        };
        if req.ignore_value {
            value = &p.value;
        }
        if req.ignore_lease {
            lease = p.lease;
        }
    }
    let revision = t.put(&req.key, value, lease)?;
    Ok(PutResponse {
        header: header(revision),
        prev_kv: if req.prev_kv { prev } else { None },
    })
}

/// DeleteRange: tombstones the live keys of the range; `prev_kv` returns
/// them as they were.
pub(crate) fn delete_range<T: KvTxn>(
    t: &mut T,
    req: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse, ApplyError> {
    let range = KeyRange::new(&req.key, &req.range_end);
    let prev_kvs = if req.prev_kv {
        t.range(&range, &RangeOptions::default())?.kvs
    } else {
        Vec::new()
    };
    let (deleted, revision) = t.delete_range(&range)?;
    Ok(DeleteRangeResponse {
        header: header(revision),
        deleted,
        prev_kvs,
    })
}

#[cfg(test)]
mod tests {
    use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
    use etcd_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};
    use etcd_proto::raftpb::raft_request::Request;

    use crate::test_util::*;
    use crate::{ApplyError, ApplyResponse};

    #[test]
    fn revisions_start_at_one_and_count_writes() {
        let s = Store::new();
        assert_eq!(s.rev(), 1);
        assert_eq!(s.put("a", "1"), 2);
        assert_eq!(s.put("b", "1"), 3);
        assert_eq!(s.rev(), 3);
        // Deleting a missing key changes nothing and reports the current
        // revision.
        assert_eq!(s.delete("zz", ""), (0, 3));
        assert_eq!(s.rev(), 3);
        assert_eq!(s.delete("a", ""), (1, 4));
        assert_eq!(s.rev(), 4);
    }

    #[test]
    fn key_value_fields_follow_create_modify_delete_recreate() {
        let s = Store::new();
        s.put("k", "v1");
        let kv = s.get_kv("k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
        s.put("other", "x");
        s.put("k", "v2");
        let kv = s.get_kv("k").unwrap();
        assert_eq!(
            (
                kv.create_revision,
                kv.mod_revision,
                kv.version,
                kv.value.as_slice()
            ),
            (2, 4, 2, &b"v2"[..])
        );
        s.delete("k", "");
        assert!(s.get_kv("k").is_none());
        s.put("k", "v3");
        let kv = s.get_kv("k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (6, 6, 1));
    }

    #[test]
    fn range_shapes() {
        let s = Store::new();
        for k in ["a", "ab", "abc", "b", "c"] {
            s.put(k, k);
        }
        let keys =
            |k: &str, e: &str| -> Vec<String> { s.get(k, e).into_iter().map(|(k, _)| k).collect() };
        assert_eq!(keys("ab", ""), ["ab"]);
        assert_eq!(keys("zz", ""), Vec::<String>::new());
        assert_eq!(keys("a", "b"), ["a", "ab", "abc"]);
        assert_eq!(keys("ab", "ac"), ["ab", "abc"]);
        assert_eq!(keys("b", "\0"), ["b", "c"]);
        assert_eq!(keys("\0", "\0"), ["a", "ab", "abc", "b", "c"]);
        assert_eq!(keys("c", "a"), Vec::<String>::new());
    }

    #[test]
    fn range_limit_count_and_more() {
        let s = Store::new();
        for k in ["a", "b", "c", "d"] {
            s.put(k, k);
        }
        let r = s
            .range(RangeRequest {
                limit: 2,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!(pairs(&r.kvs).len(), 2);
        assert!(r.more);
        assert_eq!(r.count, 4);
        let r = s
            .range(RangeRequest {
                limit: 4,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert!(!r.more);
        let r = s
            .range(RangeRequest {
                count_only: true,
                limit: 1,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!((r.kvs.len(), r.count, r.more), (0, 4, false));
        // Filters do not change count.
        let r = s
            .range(RangeRequest {
                min_mod_revision: 4,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!(r.kvs.len(), 2);
        assert_eq!(r.count, 4);
    }

    #[test]
    fn sort_target_without_order_limits_in_key_order_first() {
        let s = Store::new();
        // Mod revisions: d=2, c=3, b=4, a=5.
        for k in ["d", "c", "b", "a"] {
            s.put(k, k);
        }
        // etcd fetches limit+1 = 2 keys in key order (a, b), sorts them by
        // mod ascending (b, a), then keeps 1: "b" — not "d", the smallest
        // mod revision overall.
        let r = s
            .range(RangeRequest {
                limit: 1,
                sort_target: SortTarget::Mod as i32,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!(pairs(&r.kvs), [("b".to_string(), "b".to_string())]);
        assert!(r.more);
        // With an explicit order, all keys are sorted first.
        let r = s
            .range(RangeRequest {
                limit: 1,
                sort_target: SortTarget::Mod as i32,
                sort_order: SortOrder::Ascend as i32,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!(pairs(&r.kvs), [("d".to_string(), "d".to_string())]);
    }

    #[test]
    fn historical_reads_and_header_revision() {
        let s = Store::new();
        s.put("a", "1"); // 2
        s.put("a", "2"); // 3
        s.put("b", "1"); // 4
        s.delete("a", ""); // 5
        let at = |rev: i64| {
            let r = s
                .range(RangeRequest {
                    revision: rev,
                    ..range_req("a", "\0")
                })
                .unwrap();
            assert_eq!(
                r.header.unwrap().revision,
                5,
                "header is the current revision"
            );
            pairs(&r.kvs)
        };
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(at(1), vec![]);
        assert_eq!(at(2), vec![p("a", "1")]);
        assert_eq!(at(3), vec![p("a", "2")]);
        assert_eq!(at(4), vec![p("a", "2"), p("b", "1")]);
        assert_eq!(at(5), vec![p("b", "1")]);
        assert_eq!(at(0), vec![p("b", "1")]);
        assert_eq!(at(-3), vec![p("b", "1")]);
        assert!(matches!(
            s.range(RangeRequest {
                revision: 6,
                ..range_req("a", "")
            }),
            Err(ApplyError::FutureRevision)
        ));
        // Historical single-key read and count at a revision.
        let r = s
            .range(RangeRequest {
                revision: 3,
                count_only: true,
                ..range_req("a", "\0")
            })
            .unwrap();
        assert_eq!(r.count, 1);
    }

    #[test]
    fn put_prev_kv_ignore_value_ignore_lease() {
        let s = Store::new();
        let put = |req: PutRequest| match s.apply(Request::Put(req)) {
            Ok(ApplyResponse::Put(r)) => Ok(r),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let r = put(PutRequest {
            prev_kv: true,
            ..put_req("k", "v1")
        })
        .unwrap();
        assert_eq!(r.prev_kv, None);
        assert_eq!(r.header.unwrap().revision, 2);
        let r = put(PutRequest {
            prev_kv: true,
            ..put_req("k", "v2")
        })
        .unwrap();
        assert_eq!(r.prev_kv.unwrap().value, b"v1");
        // prev_kv not asked: not returned.
        assert_eq!(put(put_req("k", "v3")).unwrap().prev_kv, None);

        let r = put(PutRequest {
            ignore_value: true,
            ..put_req("k", "")
        })
        .unwrap();
        assert_eq!(r.header.unwrap().revision, 5);
        let kv = s.get_kv("k").unwrap();
        assert_eq!((kv.value.as_slice(), kv.version), (&b"v3"[..], 4));

        let before = s.rev();
        for req in [
            PutRequest {
                ignore_value: true,
                ..put_req("missing", "")
            },
            PutRequest {
                ignore_lease: true,
                ..put_req("missing", "x")
            },
        ] {
            assert!(matches!(put(req), Err(ApplyError::KeyNotFound)));
        }
        assert_eq!(s.rev(), before, "refused puts change nothing");
        assert!(s.get_kv("missing").is_none());

        // ignore_lease keeps the key's lease (0 here) and writes the value.
        put(PutRequest {
            ignore_lease: true,
            ..put_req("k", "v4")
        })
        .unwrap();
        let kv = s.get_kv("k").unwrap();
        assert_eq!((kv.value.as_slice(), kv.lease), (&b"v4"[..], 0));
    }

    #[test]
    fn put_with_unknown_lease_is_refused_before_key_checks() {
        let s = Store::new();
        let r = s.apply(Request::Put(PutRequest {
            lease: 7,
            ignore_value: true,
            ..put_req("missing", "")
        }));
        assert!(matches!(r, Err(ApplyError::LeaseNotFound)), "{r:?}");
        assert_eq!(s.rev(), 1);
    }

    #[test]
    fn delete_range_prev_kvs_and_count() {
        let s = Store::new();
        for k in ["a", "b", "c"] {
            s.put(k, k);
        }
        let r = s
            .apply(Request::DeleteRange(DeleteRangeRequest {
                key: b"a".to_vec(),
                range_end: b"c".to_vec(),
                prev_kv: true,
            }))
            .unwrap();
        let ApplyResponse::DeleteRange(r) = r else {
            panic!()
        };
        assert_eq!(r.deleted, 2);
        assert_eq!(r.header.unwrap().revision, 5);
        assert_eq!(pairs(&r.prev_kvs).len(), 2);
        assert_eq!(s.get("\0", "\0"), [("c".to_string(), "c".to_string())]);
        // One revision for the whole range: the two tombstones share it.
        assert_eq!(s.rev(), 5);
    }
}
