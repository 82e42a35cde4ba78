//! A Range request's semantics on top of an MVCC range (etcd's
//! etcdserver/apply.go `Range`), as pure functions.
//!
//! The facts reproduced here, including etcd's quirks:
//! - With a sort order other than NONE, or any min/max mod/create revision
//!   filter, every key of the range is fetched and `limit` applies after
//!   filtering and sorting. Otherwise `limit + 1` keys are fetched in key
//!   order, so `more` is known without fetching the rest.
//! - A sort target other than KEY with order NONE sorts ascending, but only
//!   the `limit + 1` keys fetched in key order (the limit was not lifted,
//!   since the order is NONE).
//! - `count` is the number of keys in the range at the revision: it ignores
//!   `limit` and the min/max filters.
//! - `more` is true when more key-values remained after `limit` (after
//!   filtering); never with `count_only`.
//! - Sorting is stable: ties keep key order. (etcd uses Go's unstable sort,
//!   which is an insertion sort, hence stable, up to 12 elements; beyond that
//!   etcd's tie order is unspecified and ours is a valid instance of it.)
//! - The header revision is the store's current revision, also when reading
//!   an older one.

use std::cmp::Ordering;

use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use etcd_proto::mvccpb::KeyValue;

use super::{RangeOptions, RangeResult};

/// The MVCC-level options for `req`.
pub(crate) fn mvcc_options(req: &RangeRequest) -> RangeOptions {
    let mut limit = req.limit;
    if req.sort_order != SortOrder::None as i32
        || req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0
    {
        limit = 0;
    }
    if limit > 0 {
        limit = limit.saturating_add(1);
    }
    RangeOptions {
        limit,
        rev: req.revision,
        count_only: req.count_only,
    }
}

/// Turns the MVCC result into the response: filters, sort, limit, keys_only.
pub(crate) fn finish(req: &RangeRequest, rr: RangeResult) -> RangeResponse {
    let mut kvs = rr.kvs;
    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }

    let mut order = req.sort_order;
    if req.sort_target != SortTarget::Key as i32 && order == SortOrder::None as i32 {
        order = SortOrder::Ascend as i32;
    }
    if let Some(cmp) = comparator(req.sort_target) {
        if order == SortOrder::Ascend as i32 {
            kvs.sort_by(cmp);
        } else if order == SortOrder::Descend as i32 {
            kvs.sort_by(|a, b| cmp(b, a));
        }
    }

    let mut more = false;
    if req.limit > 0 {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        if kvs.len() > limit {
            kvs.truncate(limit);
            more = true;
        }
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    RangeResponse {
        header: Some(ResponseHeader {
            revision: rr.rev,
            ..Default::default()
        }),
        kvs,
        more,
        count: rr.count,
    }
}

type Comparator = fn(&KeyValue, &KeyValue) -> Ordering;

/// The ordering of a sort target; `None` for a value etcd does not define
/// (etcd would crash on it; we leave the key order).
fn comparator(target: i32) -> Option<Comparator> {
    let cmp: Comparator = match SortTarget::try_from(target).ok()? {
        SortTarget::Key => |a, b| a.key.cmp(&b.key),
        SortTarget::Version => |a, b| a.version.cmp(&b.version),
        SortTarget::Create => |a, b| a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => |a, b| a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => |a, b| a.value.cmp(&b.value),
    };
    Some(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, create: i64, modr: i64, ver: i64, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            create_revision: create,
            mod_revision: modr,
            version: ver,
            value: value.into(),
            lease: 0,
        }
    }

    fn sample() -> Vec<KeyValue> {
        vec![
            kv("a", 2, 5, 2, "z"),
            kv("b", 3, 3, 1, "y"),
            kv("c", 4, 6, 2, "x"),
            kv("d", 7, 7, 1, "x"),
        ]
    }

    fn result(kvs: Vec<KeyValue>) -> RangeResult {
        let count = kvs.len() as i64;
        RangeResult { kvs, count, rev: 9 }
    }

    fn keys(resp: &RangeResponse) -> Vec<String> {
        resp.kvs
            .iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect()
    }

    #[test]
    fn limit_fetches_one_extra_only_without_sort_or_filters() {
        let req = RangeRequest {
            limit: 2,
            ..Default::default()
        };
        assert_eq!(mvcc_options(&req).limit, 3);
        for lifted in [
            RangeRequest {
                limit: 2,
                sort_order: SortOrder::Ascend as i32,
                ..Default::default()
            },
            RangeRequest {
                limit: 2,
                min_mod_revision: 1,
                ..Default::default()
            },
            RangeRequest {
                limit: 2,
                max_create_revision: 1,
                ..Default::default()
            },
        ] {
            assert_eq!(mvcc_options(&lifted).limit, 0);
        }
        // Target without order: the limit is NOT lifted (etcd's quirk).
        let req = RangeRequest {
            limit: 2,
            sort_target: SortTarget::Mod as i32,
            ..Default::default()
        };
        assert_eq!(mvcc_options(&req).limit, 3);
        assert_eq!(
            mvcc_options(&RangeRequest {
                limit: i64::MAX,
                ..Default::default()
            })
            .limit,
            i64::MAX
        );
    }

    #[test]
    fn limit_sets_more_and_keeps_count() {
        let req = RangeRequest {
            limit: 2,
            ..Default::default()
        };
        let mut rr = result(sample()[..3].to_vec());
        rr.count = 4;
        let resp = finish(&req, rr);
        assert_eq!(keys(&resp), ["a", "b"]);
        assert!(resp.more);
        assert_eq!(resp.count, 4);
        assert_eq!(resp.header.unwrap().revision, 9);

        let req = RangeRequest {
            limit: 4,
            ..Default::default()
        };
        assert!(!finish(&req, result(sample())).more);
    }

    #[test]
    fn filters_prune_but_do_not_change_count() {
        let req = RangeRequest {
            min_mod_revision: 4,
            max_mod_revision: 6,
            ..Default::default()
        };
        let resp = finish(&req, result(sample()));
        assert_eq!(keys(&resp), ["a", "c"]);
        assert_eq!(resp.count, 4);

        let req = RangeRequest {
            min_create_revision: 3,
            max_create_revision: 4,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&req, result(sample()))), ["b", "c"]);
    }

    #[test]
    fn more_counts_after_filtering() {
        let req = RangeRequest {
            limit: 1,
            min_mod_revision: 6,
            ..Default::default()
        };
        let resp = finish(&req, result(sample()));
        assert_eq!(keys(&resp), ["c"]);
        assert!(resp.more, "d also passes the filter");
        let req = RangeRequest {
            limit: 1,
            min_mod_revision: 7,
            ..Default::default()
        };
        assert!(!finish(&req, result(sample())).more);
    }

    #[test]
    fn sorting() {
        let sorted = |target: SortTarget, order: SortOrder| {
            let req = RangeRequest {
                sort_target: target as i32,
                sort_order: order as i32,
                ..Default::default()
            };
            keys(&finish(&req, result(sample())))
        };
        assert_eq!(
            sorted(SortTarget::Key, SortOrder::None),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            sorted(SortTarget::Key, SortOrder::Descend),
            ["d", "c", "b", "a"]
        );
        assert_eq!(
            sorted(SortTarget::Mod, SortOrder::Ascend),
            ["b", "a", "c", "d"]
        );
        // Target without order means ascending.
        assert_eq!(
            sorted(SortTarget::Mod, SortOrder::None),
            ["b", "a", "c", "d"]
        );
        assert_eq!(
            sorted(SortTarget::Create, SortOrder::Descend),
            ["d", "c", "b", "a"]
        );
        // Ties keep key order, in both directions.
        assert_eq!(
            sorted(SortTarget::Version, SortOrder::Ascend),
            ["b", "d", "a", "c"]
        );
        assert_eq!(
            sorted(SortTarget::Version, SortOrder::Descend),
            ["a", "c", "b", "d"]
        );
        assert_eq!(
            sorted(SortTarget::Value, SortOrder::Ascend),
            ["c", "d", "b", "a"]
        );
    }

    #[test]
    fn sort_then_limit() {
        let req = RangeRequest {
            limit: 2,
            sort_target: SortTarget::Mod as i32,
            sort_order: SortOrder::Descend as i32,
            ..Default::default()
        };
        let resp = finish(&req, result(sample()));
        assert_eq!(keys(&resp), ["d", "c"]);
        assert!(resp.more);
    }

    #[test]
    fn unknown_sort_values_leave_key_order() {
        let req = RangeRequest {
            sort_target: 42,
            sort_order: SortOrder::Descend as i32,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&req, result(sample()))), ["a", "b", "c", "d"]);
        let req = RangeRequest {
            sort_target: SortTarget::Mod as i32,
            sort_order: 42,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&req, result(sample()))), ["a", "b", "c", "d"]);
    }

    #[test]
    fn keys_only_drops_values() {
        let req = RangeRequest {
            keys_only: true,
            ..Default::default()
        };
        let resp = finish(&req, result(sample()));
        assert!(resp.kvs.iter().all(|kv| kv.value.is_empty()));
        assert_eq!(resp.kvs[0].mod_revision, 5);
    }
}
