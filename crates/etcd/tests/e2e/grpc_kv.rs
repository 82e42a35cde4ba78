//! The KV service over gRPC (etcd-client): every Range option, Put with its
//! flags, DeleteRange, Compact, and the response header. Error cases that
//! are about validation live in `grpc_errors.rs`, transactions in
//! `grpc_txn.rs`.

use crate::common;

use common::{keys, kv, kvs, rev, Kv, Node};
use etcd_client::{
    Client, CompactionOptions, DeleteOptions, GetOptions, PutOptions, SortOrder, SortTarget,
};

/// Writes a fixed history whose final keys differ in every sortable field:
///
/// | key | value | create | mod | version |
/// |-----|-------|--------|-----|---------|
/// | a   | 30    | 2      | 11  | 4       |
/// | b   | 10    | 3      | 10  | 3       |
/// | c   | 20    | 4      | 4   | 1       |
/// | d   | 00    | 5      | 9   | 2       |
async fn sortable_data(client: &mut Client) {
    let writes = [
        ("a", "a@2"),
        ("b", "b@3"),
        ("c", "20"),
        ("d", "d@5"),
        ("a", "a@6"),
        ("b", "b@7"),
        ("a", "a@8"),
        ("d", "00"),
        ("b", "10"),
        ("a", "30"),
    ];
    for (i, (k, v)) in writes.into_iter().enumerate() {
        let resp = client.put(k, v, None).await.unwrap();
        assert_eq!(rev(resp.header()), i as i64 + 2);
    }
}

fn a() -> Kv {
    kv("a", "30", 2, 11, 4)
}
fn b() -> Kv {
    kv("b", "10", 3, 10, 3)
}
fn c() -> Kv {
    kv("c", "20", 4, 4, 1)
}
fn d() -> Kv {
    kv("d", "00", 5, 9, 2)
}

fn all_keys() -> GetOptions {
    GetOptions::new().with_all_keys()
}

both!(range_sort, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    sortable_data(&mut client).await;
    use SortOrder::{Ascend, Descend, None as Unsorted};
    use SortTarget::{Create, Key, Mod, Value, Version};
    let cases: [(SortTarget, SortOrder, [Kv; 4]); 15] = [
        (Key, Ascend, [a(), b(), c(), d()]),
        (Key, Descend, [d(), c(), b(), a()]),
        (Key, Unsorted, [a(), b(), c(), d()]),
        (Version, Ascend, [c(), d(), b(), a()]),
        (Version, Descend, [a(), b(), d(), c()]),
        (Create, Ascend, [a(), b(), c(), d()]),
        (Create, Descend, [d(), c(), b(), a()]),
        (Mod, Ascend, [c(), d(), b(), a()]),
        (Mod, Descend, [a(), b(), d(), c()]),
        (Value, Ascend, [d(), b(), c(), a()]),
        (Value, Descend, [a(), c(), b(), d()]),
        // A target other than KEY with order NONE sorts ascending.
        (Version, Unsorted, [c(), d(), b(), a()]),
        (Create, Unsorted, [a(), b(), c(), d()]),
        (Mod, Unsorted, [c(), d(), b(), a()]),
        (Value, Unsorted, [d(), b(), c(), a()]),
    ];
    for (sort_target, order, expected) in cases {
        let resp = client
            .get(
                "a",
                Some(
                    GetOptions::new()
                        .with_range("e")
                        .with_sort(sort_target, order),
                ),
            )
            .await
            .unwrap();
        assert_eq!(kvs(resp.kvs()), expected, "sort {sort_target:?} {order:?}");
        assert_eq!((resp.count(), resp.more()), (4, false));
        assert_eq!(rev(resp.header()), 11);
    }
    // Sorting happens before the limit.
    let resp = client
        .get("", Some(all_keys().with_sort(Mod, Descend).with_limit(2)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [a(), b()]);
    assert_eq!((resp.count(), resp.more()), (4, true));
    let resp = client
        .get("", Some(all_keys().with_sort(Value, Ascend).with_limit(3)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [d(), b(), c()]);
    assert_eq!((resp.count(), resp.more()), (4, true));
});

both!(range_limit_count_more, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    sortable_data(&mut client).await;
    for (limit, expected, more) in [
        (0, vec![a(), b(), c(), d()], false),
        (1, vec![a()], true),
        (3, vec![a(), b(), c()], true),
        (4, vec![a(), b(), c(), d()], false),
        (5, vec![a(), b(), c(), d()], false),
    ] {
        let resp = client
            .get("", Some(all_keys().with_limit(limit)))
            .await
            .unwrap();
        assert_eq!(kvs(resp.kvs()), expected, "limit {limit}");
        assert_eq!((resp.count(), resp.more()), (4, more), "limit {limit}");
    }
    // A negative limit means no limit.
    let resp = client
        .get("", Some(all_keys().with_limit(-1)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [a(), b(), c(), d()]);
    assert_eq!((resp.count(), resp.more()), (4, false));

    // count_only: no kvs, just the count (and never `more`).
    let resp = client
        .get("", Some(all_keys().with_count_only()))
        .await
        .unwrap();
    assert!(resp.kvs().is_empty());
    assert_eq!((resp.count(), resp.more()), (4, false));
    let resp = client
        .get("", Some(all_keys().with_count_only().with_limit(1)))
        .await
        .unwrap();
    assert!(resp.kvs().is_empty());
    assert_eq!((resp.count(), resp.more()), (4, false));
    let resp = client
        .get("b", Some(GetOptions::new().with_count_only()))
        .await
        .unwrap();
    assert_eq!((resp.count(), resp.kvs().len()), (1, 0));

    // keys_only: keys and metadata without values.
    let resp = client
        .get("", Some(all_keys().with_keys_only().with_limit(2)))
        .await
        .unwrap();
    let no_value = |mut kv: Kv| {
        kv.value.clear();
        kv
    };
    assert_eq!(kvs(resp.kvs()), [no_value(a()), no_value(b())]);
    assert_eq!((resp.count(), resp.more()), (4, true));

    // serializable reads see the same data.
    let resp = client
        .get("", Some(all_keys().with_serializable()))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [a(), b(), c(), d()]);
    assert_eq!(rev(resp.header()), 11);

    // A missing key: nothing, count 0.
    let resp = client.get("zzz", None).await.unwrap();
    assert!(resp.kvs().is_empty());
    assert_eq!((resp.count(), resp.more()), (0, false));
    assert_eq!(rev(resp.header()), 11);
});

both!(range_revision_filters, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    sortable_data(&mut client).await;

    // min/max mod/create revision filter the result, but `count` still
    // counts every key in the range (etcd counts before filtering).
    let cases = [
        (
            GetOptions::new().with_min_mod_revision(9),
            vec![a(), b(), d()],
        ),
        (GetOptions::new().with_max_mod_revision(9), vec![c(), d()]),
        (
            GetOptions::new()
                .with_min_mod_revision(5)
                .with_max_mod_revision(10),
            vec![b(), d()],
        ),
        (
            GetOptions::new().with_min_create_revision(4),
            vec![c(), d()],
        ),
        (
            GetOptions::new().with_max_create_revision(3),
            vec![a(), b()],
        ),
        (
            GetOptions::new()
                .with_min_create_revision(3)
                .with_max_create_revision(4),
            vec![b(), c()],
        ),
        (GetOptions::new().with_min_mod_revision(12), vec![]),
    ];
    for (i, (options, expected)) in cases.into_iter().enumerate() {
        let resp = client.get("", Some(options.with_all_keys())).await.unwrap();
        assert_eq!(kvs(resp.kvs()), expected, "case {i}");
        assert_eq!((resp.count(), resp.more()), (4, false), "case {i}");
    }
    // Filters apply before the limit; `more` says whether filtered keys remain.
    let resp = client
        .get("", Some(all_keys().with_min_mod_revision(9).with_limit(2)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [a(), b()]);
    assert_eq!((resp.count(), resp.more()), (4, true));
    let resp = client
        .get("", Some(all_keys().with_min_mod_revision(9).with_limit(3)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [a(), b(), d()]);
    assert_eq!((resp.count(), resp.more()), (4, false));
});

both!(range_at_revision, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    sortable_data(&mut client).await;
    let at = |r: i64| all_keys().with_revision(r);

    let resp = client.get("", Some(at(1))).await.unwrap();
    assert!(resp.kvs().is_empty());
    assert_eq!((resp.count(), rev(resp.header())), (0, 11));

    let resp = client.get("", Some(at(5))).await.unwrap();
    assert_eq!(
        kvs(resp.kvs()),
        [
            kv("a", "a@2", 2, 2, 1),
            kv("b", "b@3", 3, 3, 1),
            kv("c", "20", 4, 4, 1),
            kv("d", "d@5", 5, 5, 1),
        ]
    );
    // The header carries the current revision, not the one read.
    assert_eq!((resp.count(), rev(resp.header())), (4, 11));

    let resp = client.get("", Some(at(8))).await.unwrap();
    assert_eq!(
        kvs(resp.kvs()),
        [
            kv("a", "a@8", 2, 8, 3),
            kv("b", "b@7", 3, 7, 2),
            kv("c", "20", 4, 4, 1),
            kv("d", "d@5", 5, 5, 1),
        ]
    );
    let resp = client
        .get("a", Some(GetOptions::new().with_revision(3)))
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [kv("a", "a@2", 2, 2, 1)]);
    // Revision 11 is the current one; 0 and negatives mean "latest".
    for r in [11, 0, -5] {
        let resp = client.get("", Some(at(r))).await.unwrap();
        assert_eq!(kvs(resp.kvs()), [a(), b(), c(), d()], "revision {r}");
    }
    // Options combine with a historical revision.
    let resp = client
        .get(
            "",
            Some(
                at(8)
                    .with_sort(SortTarget::Mod, SortOrder::Descend)
                    .with_limit(1),
            ),
        )
        .await
        .unwrap();
    assert_eq!(kvs(resp.kvs()), [kv("a", "a@8", 2, 8, 3)]);
    assert_eq!((resp.count(), resp.more()), (4, true));
    let resp = client.get("", Some(at(8).with_count_only())).await.unwrap();
    assert_eq!((resp.count(), resp.kvs().len()), (4, 0));
});

both!(range_key_ranges, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let data: [&[u8]; 9] = [
        b"fo",
        b"foo",
        b"foo/1",
        b"foo/2",
        b"foo\xff",
        b"fop",
        b"\x00",
        b"\xff",
        b"\xff\xff",
    ];
    for k in data {
        client.put(k, "v", None).await.unwrap();
    }
    let get_keys = |resp: etcd_client::GetResponse| -> Vec<Vec<u8>> {
        resp.kvs().iter().map(|kv| kv.key().to_vec()).collect()
    };
    let prefix = client
        .get("foo", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(
        get_keys(prefix),
        [
            b"foo".to_vec(),
            b"foo/1".to_vec(),
            b"foo/2".to_vec(),
            b"foo\xff".to_vec()
        ]
    );
    // A prefix of 0xff bytes only has no upper bound: range_end "\0".
    let prefix = client
        .get(b"\xff".to_vec(), Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(get_keys(prefix), [b"\xff".to_vec(), b"\xff\xff".to_vec()]);
    let from = client
        .get("foo/2", Some(GetOptions::new().with_from_key()))
        .await
        .unwrap();
    assert_eq!(
        get_keys(from),
        [
            b"foo/2".to_vec(),
            b"foo\xff".to_vec(),
            b"fop".to_vec(),
            b"\xff".to_vec(),
            b"\xff\xff".to_vec()
        ]
    );
    // key "\0" with range_end "\0" is every key.
    let all = client.get("", Some(all_keys())).await.unwrap();
    assert_eq!(all.count(), 9);
    assert_eq!(get_keys(all)[0], b"\x00".to_vec());
    // [foo/1, fop): end is exclusive.
    let range = client
        .get("foo/1", Some(GetOptions::new().with_range("fop")))
        .await
        .unwrap();
    assert_eq!(
        get_keys(range),
        [b"foo/1".to_vec(), b"foo/2".to_vec(), b"foo\xff".to_vec()]
    );
    // An end before the key is an empty range, not an error.
    let empty = client
        .get("fop", Some(GetOptions::new().with_range("fo")))
        .await
        .unwrap();
    assert_eq!((empty.count(), empty.kvs().len()), (0, 0));
    let empty = client
        .get("fop", Some(GetOptions::new().with_range("fop")))
        .await
        .unwrap();
    assert_eq!((empty.count(), empty.kvs().len()), (0, 0));
});

both!(put_semantics, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;

    let resp = client.put("k", "v1", None).await.unwrap();
    assert_eq!(rev(resp.header()), 2);
    assert!(resp.prev_key().is_none());
    let resp = client
        .put("k", "v2", Some(PutOptions::new().with_prev_key()))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 3);
    assert_eq!(resp.prev_key().map(Kv::from), Some(kv("k", "v1", 2, 2, 1)));
    // prev_kv on a new key: none.
    let resp = client
        .put("new", "x", Some(PutOptions::new().with_prev_key()))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 4);
    assert!(resp.prev_key().is_none());

    // ignore_value keeps the value but still makes a new version.
    let resp = client
        .put(
            "k",
            "",
            Some(PutOptions::new().with_ignore_value().with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 5);
    assert_eq!(resp.prev_key().map(Kv::from), Some(kv("k", "v2", 2, 3, 2)));
    let got = client.get("k", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("k", "v2", 2, 5, 3)]);

    // ignore_lease on a key without a lease keeps lease 0.
    let resp = client
        .put("k", "v3", Some(PutOptions::new().with_ignore_lease()))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 6);
    let got = client.get("k", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("k", "v3", 2, 6, 4)]);

    // Same value again still writes a new revision.
    let resp = client.put("k", "v3", None).await.unwrap();
    assert_eq!(rev(resp.header()), 7);
    let got = client.get("k", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("k", "v3", 2, 7, 5)]);

    // Empty values and arbitrary bytes round-trip.
    client.put("empty", "", None).await.unwrap();
    let got = client.get("empty", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("empty", "", 8, 8, 1)]);
    let key = b"\x00bin\xff\x01".to_vec();
    let value = (0..=255u8).collect::<Vec<u8>>();
    client.put(key.clone(), value.clone(), None).await.unwrap();
    let got = client.get(key.clone(), None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv(key, value, 9, 9, 1)]);

    // A large value (1 MiB) below the request limit is accepted.
    let big = vec![b'x'; 1024 * 1024];
    let resp = client.put("big", big.clone(), None).await.unwrap();
    assert_eq!(rev(resp.header()), 10);
    let got = client.get("big", None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), &big[..]);
});

both!(delete_range_semantics, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for k in ["a", "b", "c", "d", "e", "pre/1", "pre/2", "q"] {
        client.put(k, format!("v-{k}"), None).await.unwrap(); // revs 2..=9
    }

    let resp = client.delete("a", None).await.unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (1, 10));
    assert!(resp.prev_kvs().is_empty());

    // Deleting nothing changes nothing.
    let resp = client.delete("a", None).await.unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (0, 10));
    let resp = client
        .delete(
            "zz",
            Some(DeleteOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (0, 10));
    assert!(resp.prev_kvs().is_empty());

    // [b, d) with prev_kv, in key order; one revision for the whole range.
    let resp = client
        .delete(
            "b",
            Some(DeleteOptions::new().with_range("d").with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (2, 11));
    assert_eq!(
        kvs(resp.prev_kvs()),
        [kv("b", "v-b", 3, 3, 1), kv("c", "v-c", 4, 4, 1)]
    );

    let resp = client
        .delete(
            "pre/",
            Some(DeleteOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (2, 12));
    assert_eq!(
        kvs(resp.prev_kvs()),
        [
            kv("pre/1", "v-pre/1", 7, 7, 1),
            kv("pre/2", "v-pre/2", 8, 8, 1)
        ]
    );

    let resp = client
        .delete("e", Some(DeleteOptions::new().with_from_key()))
        .await
        .unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (2, 13));
    let left = client.get("", Some(all_keys())).await.unwrap();
    assert_eq!(keys(left.kvs()), ["d"]);

    // History still has the deleted keys.
    let old = client
        .get("", Some(all_keys().with_revision(9)))
        .await
        .unwrap();
    assert_eq!(old.count(), 8);
    let old = client
        .get("b", Some(GetOptions::new().with_revision(10)))
        .await
        .unwrap();
    assert_eq!(kvs(old.kvs()), [kv("b", "v-b", 3, 3, 1)]);
    let gone = client
        .get("b", Some(GetOptions::new().with_revision(11)))
        .await
        .unwrap();
    assert!(gone.kvs().is_empty());

    // Recreating starts a new life: version 1, new create revision.
    client.put("b", "again", None).await.unwrap();
    let got = client.get("b", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("b", "again", 14, 14, 1)]);

    let resp = client
        .delete("", Some(DeleteOptions::new().with_all_keys()))
        .await
        .unwrap();
    assert_eq!((resp.deleted(), rev(resp.header())), (2, 15));
    let none = client.get("", Some(all_keys())).await.unwrap();
    assert_eq!(none.count(), 0);
});

both!(compaction, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("gone", "x", None).await.unwrap(); // 2
    for i in 0..5 {
        client.put("k", format!("v{i}"), None).await.unwrap(); // 3..=7
    }
    client.delete("gone", None).await.unwrap(); // 8
    client.put("late", "y", None).await.unwrap(); // 9

    let resp = client.compact(5, None).await.unwrap();
    assert_eq!(
        rev(resp.header()),
        9,
        "compaction header = current revision"
    );

    // At the compaction revision: the newest version of each live key.
    let at5 = client
        .get("", Some(all_keys().with_revision(5)))
        .await
        .unwrap();
    assert_eq!(
        kvs(at5.kvs()),
        [kv("gone", "x", 2, 2, 1), kv("k", "v2", 3, 5, 3)]
    );
    let at7 = client
        .get("", Some(all_keys().with_revision(7)))
        .await
        .unwrap();
    assert_eq!(
        kvs(at7.kvs()),
        [kv("gone", "x", 2, 2, 1), kv("k", "v4", 3, 7, 5)]
    );

    // Physical compaction at 8 drops the tombstoned key's history.
    let resp = client
        .compact(8, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 9);
    let at8 = client
        .get("", Some(all_keys().with_revision(8)))
        .await
        .unwrap();
    assert_eq!(kvs(at8.kvs()), [kv("k", "v4", 3, 7, 5)]);
    let now = client.get("", Some(all_keys())).await.unwrap();
    assert_eq!(
        kvs(now.kvs()),
        [kv("k", "v4", 3, 7, 5), kv("late", "y", 9, 9, 1)]
    );
    // Compaction is not a write: the revision stays, the next put gets 10.
    let resp = client.put("after", "z", None).await.unwrap();
    assert_eq!(rev(resp.header()), 10);
    // Compacting at the current revision is allowed.
    let resp = client.compact(10, None).await.unwrap();
    assert_eq!(rev(resp.header()), 10);
    let after = client.get("after", None).await.unwrap();
    assert_eq!(kvs(after.kvs()), [kv("after", "z", 10, 10, 1)]);
});

both!(response_headers, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let put = client.put("k", "v", None).await.unwrap();
    let header = put.header().unwrap().clone();
    assert_ne!(header.cluster_id(), 0);
    assert_ne!(header.member_id(), 0);
    assert_ne!(header.raft_term(), 0);
    assert_eq!(header.revision(), 2);

    let members = client.member_list().await.unwrap();
    assert_eq!(members.members().len(), 1);
    assert_eq!(members.members()[0].id(), header.member_id());
    assert_eq!(members.header().unwrap().cluster_id(), header.cluster_id());
    let status = client.status().await.unwrap();
    assert_eq!(status.leader(), header.member_id());
    assert_eq!(status.raft_term(), header.raft_term());

    // Every KV response carries the same ids and the current revision.
    let get = client
        .get("k", Some(GetOptions::new().with_revision(1)))
        .await
        .unwrap();
    let del = client.delete("nothing", None).await.unwrap();
    let txn = client.txn(etcd_client::Txn::new()).await.unwrap();
    let compact = client.compact(2, None).await.unwrap();
    for h in [
        get.header().unwrap(),
        del.header().unwrap(),
        txn.header().unwrap(),
        compact.header().unwrap(),
    ] {
        assert_eq!(
            (h.cluster_id(), h.member_id(), h.raft_term(), h.revision()),
            (
                header.cluster_id(),
                header.member_id(),
                header.raft_term(),
                2
            )
        );
    }
});
