//! Transactions over gRPC: every compare target and operator, range
//! compares, missing keys, nested transactions, reads inside a write
//! transaction, revision accounting, and the request checks (op limit,
//! duplicate keys, empty keys).

use crate::common;

use common::{assert_status, kv, kvs, rev, Kv, Node};
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
    TxnResponse,
};
use tonic::Code;

/// Runs a txn whose only effect is telling which branch ran.
async fn branch(client: &mut Client, compares: Vec<Compare>) -> bool {
    let resp = client.txn(Txn::new().when(compares)).await.unwrap();
    resp.succeeded()
}

/// The key-values of the n-th op response, which must be a Range.
fn range_kvs(resp: &TxnResponse, n: usize) -> Vec<Kv> {
    match &resp.op_responses()[n] {
        TxnOpResponse::Get(get) => kvs(get.kvs()),
        other => panic!("op {n} is not a range: {other:?}"),
    }
}

both!(compare_targets_and_operators, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "m", None).await.unwrap(); // 2
    client.put("other", "x", None).await.unwrap(); // 3
    client.put("k", "m", None).await.unwrap(); // 4: k create 2, mod 4, version 2
    use CompareOp::{Equal, Greater, Less, NotEqual};

    // (compare, expected) for each target x operator, both outcomes.
    let cases: Vec<(Compare, bool)> = vec![
        (Compare::version("k", Equal, 2), true),
        (Compare::version("k", Equal, 1), false),
        (Compare::version("k", NotEqual, 1), true),
        (Compare::version("k", NotEqual, 2), false),
        (Compare::version("k", Greater, 1), true),
        (Compare::version("k", Greater, 2), false),
        (Compare::version("k", Less, 3), true),
        (Compare::version("k", Less, 2), false),
        (Compare::create_revision("k", Equal, 2), true),
        (Compare::create_revision("k", Equal, 4), false),
        (Compare::create_revision("k", NotEqual, 3), true),
        (Compare::create_revision("k", Greater, 1), true),
        (Compare::create_revision("k", Greater, 2), false),
        (Compare::create_revision("k", Less, 3), true),
        (Compare::create_revision("k", Less, 2), false),
        (Compare::mod_revision("k", Equal, 4), true),
        (Compare::mod_revision("k", Equal, 2), false),
        (Compare::mod_revision("k", NotEqual, 4), false),
        (Compare::mod_revision("k", Greater, 3), true),
        (Compare::mod_revision("k", Greater, 4), false),
        (Compare::mod_revision("k", Less, 5), true),
        (Compare::mod_revision("k", Less, 4), false),
        (Compare::value("k", Equal, "m"), true),
        (Compare::value("k", Equal, "n"), false),
        (Compare::value("k", NotEqual, "n"), true),
        (Compare::value("k", NotEqual, "m"), false),
        (Compare::value("k", Greater, "l"), true),
        (Compare::value("k", Greater, "m"), false),
        (Compare::value("k", Greater, ""), true),
        (Compare::value("k", Less, "n"), true),
        (Compare::value("k", Less, "ma"), true),
        (Compare::value("k", Less, "m"), false),
        (Compare::lease("k", Equal, 0), true),
        (Compare::lease("k", Equal, 7), false),
        (Compare::lease("k", NotEqual, 7), true),
        (Compare::lease("k", Greater, 0), false),
        (Compare::lease("k", Less, 1), true),
        (Compare::lease("k", Less, 0), false),
    ];
    for (i, (compare, expected)) in cases.into_iter().enumerate() {
        let debug = format!("{compare:?}");
        assert_eq!(
            branch(&mut client, vec![compare]).await,
            expected,
            "case {i}: {debug}"
        );
    }
    // All compares must hold; an empty compare list always succeeds.
    assert!(
        branch(
            &mut client,
            vec![
                Compare::version("k", Equal, 2),
                Compare::value("other", Equal, "x")
            ]
        )
        .await
    );
    assert!(
        !branch(
            &mut client,
            vec![
                Compare::version("k", Equal, 2),
                Compare::value("other", Equal, "y")
            ]
        )
        .await
    );
    assert!(branch(&mut client, vec![]).await);
    // None of these reads raised the revision.
    assert_eq!(rev(client.get("k", None).await.unwrap().header()), 4);
});

both!(compare_missing_key, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    use CompareOp::{Equal, Greater, Less, NotEqual};
    // A missing key compares as all-zero metadata...
    for (compare, expected) in [
        (Compare::version("nope", Equal, 0), true),
        (Compare::create_revision("nope", Equal, 0), true),
        (Compare::mod_revision("nope", Equal, 0), true),
        (Compare::lease("nope", Equal, 0), true),
        (Compare::version("nope", Greater, 0), false),
        (Compare::mod_revision("nope", Less, 1), true),
        // ...but a value compare on a missing key always fails.
        (Compare::value("nope", Equal, ""), false),
        (Compare::value("nope", NotEqual, "x"), false),
        (Compare::value("nope", Less, "z"), false),
        (Compare::value("nope", Greater, ""), false),
    ] {
        let debug = format!("{compare:?}");
        assert_eq!(
            branch(&mut client, vec![compare]).await,
            expected,
            "{debug}"
        );
    }
    // The classic "create if absent".
    let create = Txn::new()
        .when(vec![Compare::create_revision("lock", Equal, 0)])
        .and_then(vec![TxnOp::put("lock", "me", None)])
        .or_else(vec![TxnOp::get("lock", None)]);
    let resp = client.txn(create.clone()).await.unwrap();
    assert!(resp.succeeded());
    assert_eq!(rev(resp.header()), 2);
    let resp = client.txn(create).await.unwrap();
    assert!(!resp.succeeded());
    assert_eq!(rev(resp.header()), 2);
    assert_eq!(range_kvs(&resp, 0), [kv("lock", "me", 2, 2, 1)]);
});

both!(compare_over_ranges, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    for k in ["r/1", "r/2", "r/3"] {
        client.put(k, "same", None).await.unwrap(); // 2, 3, 4
    }
    client.put("r/3", "same", None).await.unwrap(); // 5: r/3 version 2
    use CompareOp::{Equal, Greater, Less};
    for (compare, expected) in [
        // Every key in the range must satisfy the compare.
        (Compare::value("r/", Equal, "same").with_prefix(), true),
        (Compare::version("r/", Greater, 0).with_prefix(), true),
        (Compare::version("r/", Equal, 1).with_prefix(), false),
        (Compare::version("r/1", Equal, 1).with_range("r/3"), true),
        (
            Compare::mod_revision("r/1", Less, 4).with_range("r/3"),
            true,
        ),
        (
            Compare::mod_revision("r/1", Less, 4).with_range("r/4"),
            false,
        ),
        (
            Compare::create_revision("r/", Greater, 1).with_prefix(),
            true,
        ),
        // An empty range compares like a missing key.
        (Compare::version("s/", Equal, 0).with_prefix(), true),
        (Compare::value("s/", Equal, "").with_prefix(), false),
        // From-key compares (range_end "\0").
        (
            Compare::value("r/2", Equal, "same").with_range(vec![0u8]),
            true,
        ),
    ] {
        let debug = format!("{compare:?}");
        assert_eq!(
            branch(&mut client, vec![compare]).await,
            expected,
            "{debug}"
        );
    }
    client.put("r/2", "different", None).await.unwrap();
    assert!(
        !branch(
            &mut client,
            vec![Compare::value("r/", Equal, "same").with_prefix()]
        )
        .await
    );
});

both!(write_txn_revisions_and_reads, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("x", "1", None).await.unwrap(); // 2
    client.put("y", "1", None).await.unwrap(); // 3

    // Every op shares one revision; later reads see earlier writes.
    let resp = client
        .txn(Txn::new().and_then(vec![
            TxnOp::get("x", None),
            TxnOp::put("x", "2", Some(PutOptions::new().with_prev_key())),
            TxnOp::get("x", None),
            TxnOp::delete("y", Some(DeleteOptions::new().with_prev_key())),
            TxnOp::get("y", None),
            TxnOp::put("z", "new", None),
            TxnOp::get("", Some(GetOptions::new().with_all_keys())),
        ]))
        .await
        .unwrap();
    assert!(resp.succeeded());
    assert_eq!(rev(resp.header()), 4);
    let ops = resp.op_responses();
    assert_eq!(ops.len(), 7);
    assert_eq!(range_kvs(&resp, 0), [kv("x", "1", 2, 2, 1)]);
    match &ops[1] {
        TxnOpResponse::Put(put) => {
            assert_eq!(put.prev_key().map(Kv::from), Some(kv("x", "1", 2, 2, 1)));
            assert_eq!(rev(put.header()), 4);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(range_kvs(&resp, 2), [kv("x", "2", 2, 4, 2)]);
    match &ops[3] {
        TxnOpResponse::Delete(del) => {
            assert_eq!(del.deleted(), 1);
            assert_eq!(kvs(del.prev_kvs()), [kv("y", "1", 3, 3, 1)]);
            assert_eq!(rev(del.header()), 4);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(range_kvs(&resp, 4), []);
    assert_eq!(
        range_kvs(&resp, 6),
        [kv("x", "2", 2, 4, 2), kv("z", "new", 4, 4, 1)]
    );
    // Range responses inside a txn: header revision = the txn's revision.
    match &ops[6] {
        TxnOpResponse::Get(get) => {
            assert_eq!(rev(get.header()), 4);
            assert_eq!(get.count(), 2);
        }
        other => panic!("{other:?}"),
    }

    // Two puts to different keys in one txn: one revision, two sub-revisions.
    let resp = client
        .txn(Txn::new().and_then(vec![TxnOp::put("p", "1", None), TxnOp::put("q", "1", None)]))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 5);
    let got = client
        .get("p", Some(GetOptions::new().with_range("r")))
        .await
        .unwrap();
    assert_eq!(
        kvs(got.kvs()),
        [kv("p", "1", 5, 5, 1), kv("q", "1", 5, 5, 1)]
    );

    // A read-only txn (even with a historical read) keeps the revision.
    let resp = client
        .txn(Txn::new().and_then(vec![
            TxnOp::get("x", Some(GetOptions::new().with_revision(2))),
            TxnOp::get("x", None),
        ]))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 5);
    assert_eq!(range_kvs(&resp, 0), [kv("x", "1", 2, 2, 1)]);
    assert_eq!(range_kvs(&resp, 1), [kv("x", "2", 2, 4, 2)]);

    // A write txn that changes nothing (deletes a missing key) keeps it too.
    let resp = client
        .txn(Txn::new().and_then(vec![TxnOp::delete("missing", None)]))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 5);
    // The failure branch runs its ops; the success branch's do not run.
    let resp = client
        .txn(
            Txn::new()
                .when(vec![Compare::value("x", CompareOp::Equal, "nope")])
                .and_then(vec![TxnOp::put("never", "1", None)])
                .or_else(vec![TxnOp::put("else", "1", None)]),
        )
        .await
        .unwrap();
    assert!(!resp.succeeded());
    assert_eq!(rev(resp.header()), 6);
    assert_eq!(client.get("never", None).await.unwrap().count(), 0);
    assert_eq!(client.get("else", None).await.unwrap().count(), 1);
    // An empty txn succeeds and writes nothing.
    let resp = client.txn(Txn::new()).await.unwrap();
    assert!(resp.succeeded());
    assert!(resp.op_responses().is_empty());
    assert_eq!(rev(resp.header()), 6);
});

both!(nested_txn, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("flag", "on", None).await.unwrap(); // 2
    let inner_ok = Txn::new()
        .when(vec![Compare::value("flag", CompareOp::Equal, "on")])
        .and_then(vec![
            TxnOp::put("inner", "then", None),
            TxnOp::get("outer", None),
        ])
        .or_else(vec![TxnOp::put("inner", "else", None)]);
    // Nested compares are evaluated against the store *before* the outer
    // txn's ops run: "x" does not exist yet when the inner compare looks.
    let inner_sees_before = Txn::new()
        .when(vec![Compare::version("x", CompareOp::Equal, 0)])
        .and_then(vec![TxnOp::put("seen", "before", None)])
        .or_else(vec![TxnOp::put("seen", "after", None)]);
    let resp = client
        .txn(
            Txn::new()
                .when(vec![Compare::version("flag", CompareOp::Greater, 0)])
                .and_then(vec![
                    TxnOp::put("outer", "1", None),
                    TxnOp::put("x", "1", None),
                    TxnOp::txn(inner_ok),
                    TxnOp::txn(inner_sees_before),
                ]),
        )
        .await
        .unwrap();
    assert!(resp.succeeded());
    assert_eq!(rev(resp.header()), 3);
    let ops = resp.op_responses();
    assert_eq!(ops.len(), 4);
    match &ops[2] {
        TxnOpResponse::Txn(inner) => {
            assert!(inner.succeeded());
            assert_eq!(inner.op_responses().len(), 2);
            // The inner range sees the outer put of the same txn.
            assert_eq!(range_kvs(inner, 1), [kv("outer", "1", 3, 3, 1)]);
        }
        other => panic!("{other:?}"),
    }
    match &ops[3] {
        TxnOpResponse::Txn(inner) => assert!(inner.succeeded()),
        other => panic!("{other:?}"),
    }
    let got = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .unwrap();
    assert_eq!(
        kvs(got.kvs()),
        [
            kv("flag", "on", 2, 2, 1),
            kv("inner", "then", 3, 3, 1),
            kv("outer", "1", 3, 3, 1),
            kv("seen", "before", 3, 3, 1),
            kv("x", "1", 3, 3, 1),
        ]
    );
    // A nested txn taking its else branch.
    let resp = client
        .txn(Txn::new().and_then(vec![TxnOp::txn(
            Txn::new()
                .when(vec![Compare::value("flag", CompareOp::Equal, "off")])
                .and_then(vec![TxnOp::put("inner", "then2", None)])
                .or_else(vec![TxnOp::put("inner", "else2", None)]),
        )]))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 4);
    match &resp.op_responses()[0] {
        TxnOpResponse::Txn(inner) => assert!(!inner.succeeded()),
        other => panic!("{other:?}"),
    }
    let got = client.get("inner", None).await.unwrap();
    assert_eq!(kvs(got.kvs()), [kv("inner", "else2", 3, 4, 2)]);
    // A nested read-only txn in a read-only outer txn raises nothing.
    let resp = client
        .txn(Txn::new().and_then(vec![TxnOp::txn(
            Txn::new().and_then(vec![TxnOp::get("inner", None)]),
        )]))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 4);
});

both!(txn_op_limit, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let puts = |n: usize, prefix: &str| -> Vec<TxnOp> {
        (0..n)
            .map(|i| TxnOp::put(format!("{prefix}{i:03}"), "v", None))
            .collect()
    };
    // 128 ops is the default maximum (per branch, and for compares).
    let resp = client
        .txn(Txn::new().and_then(puts(128, "s")))
        .await
        .unwrap();
    assert_eq!(rev(resp.header()), 2);
    assert_eq!(resp.op_responses().len(), 128);
    let too_many = "etcdserver: too many operations in txn request";
    assert_status(
        client.txn(Txn::new().and_then(puts(129, "t"))).await,
        Code::InvalidArgument,
        too_many,
    );
    assert_status(
        client
            .txn(Txn::new().and_then(vec![]).or_else(puts(129, "t")))
            .await,
        Code::InvalidArgument,
        too_many,
    );
    let compares: Vec<Compare> = (0..129)
        .map(|i| Compare::version(format!("c{i}"), CompareOp::Equal, 0))
        .collect();
    assert_status(
        client.txn(Txn::new().when(compares)).await,
        Code::InvalidArgument,
        too_many,
    );
    // 128 in each branch and 128 compares at once is fine.
    let compares: Vec<Compare> = (0..128)
        .map(|i| Compare::version(format!("c{i}"), CompareOp::Equal, 0))
        .collect();
    let resp = client
        .txn(
            Txn::new()
                .when(compares)
                .and_then(puts(128, "u"))
                .or_else(puts(128, "w")),
        )
        .await
        .unwrap();
    assert!(resp.succeeded());
    // A nested txn may only use what its parent left: 128 - 100 = 28.
    let nested = |n: usize| {
        let mut ops = puts(99, "n");
        ops.push(TxnOp::txn(Txn::new().and_then(puts(n, "m"))));
        Txn::new().and_then(ops)
    };
    client.txn(nested(28)).await.unwrap();
    assert_status(
        client.txn(nested(29)).await,
        Code::InvalidArgument,
        too_many,
    );
    // Nothing of the rejected txns was written.
    let t = client
        .get("t", Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .unwrap();
    assert_eq!(t.count(), 0);
});

both!(txn_op_limit_flag, |target| async move {
    let node = Node::start(target, &["--max-txn-ops=3"]).await;
    let mut client = node.client().await;
    let ops = |n: usize| -> Vec<TxnOp> {
        (0..n)
            .map(|i| TxnOp::put(format!("k{i}"), "v", None))
            .collect()
    };
    client.txn(Txn::new().and_then(ops(3))).await.unwrap();
    assert_status(
        client.txn(Txn::new().and_then(ops(4))).await,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
});

both!(txn_duplicate_keys, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("a", "0", None).await.unwrap(); // 2
    let duplicate = "etcdserver: duplicate key given in txn request";
    let put = |k: &str| TxnOp::put(k, "v", None);
    let del = |k: &str| TxnOp::delete(k, None);
    let del_range =
        |k: &str, end: &str| TxnOp::delete(k, Some(DeleteOptions::new().with_range(end)));
    let rejected: Vec<(&str, Txn)> = vec![
        ("two puts", Txn::new().and_then(vec![put("a"), put("a")])),
        (
            "put and delete",
            Txn::new().and_then(vec![put("a"), del("a")]),
        ),
        (
            "delete and put",
            Txn::new().and_then(vec![del("a"), put("a")]),
        ),
        (
            "put inside a deleted range",
            Txn::new().and_then(vec![del_range("a", "c"), put("b")]),
        ),
        (
            "in the failure branch",
            Txn::new()
                .and_then(vec![])
                .or_else(vec![put("a"), put("a")]),
        ),
        (
            "outer put and nested put",
            Txn::new().and_then(vec![
                put("a"),
                TxnOp::txn(Txn::new().and_then(vec![put("a")])),
            ]),
        ),
        (
            "outer delete and nested put",
            Txn::new().and_then(vec![
                del("a"),
                TxnOp::txn(Txn::new().and_then(vec![]).or_else(vec![put("a")])),
            ]),
        ),
        (
            "two nested txns",
            Txn::new().and_then(vec![
                TxnOp::txn(Txn::new().and_then(vec![put("a")])),
                TxnOp::txn(Txn::new().and_then(vec![put("a")])),
            ]),
        ),
    ];
    for (what, txn) in rejected {
        let result = client.txn(txn).await;
        let status = common::grpc_status(result);
        assert_eq!(
            (status.code(), status.message()),
            (Code::InvalidArgument, duplicate),
            "{what}"
        );
    }
    let accepted: Vec<(&str, Txn)> = vec![
        (
            "same key in success and failure",
            Txn::new().and_then(vec![put("a")]).or_else(vec![put("a")]),
        ),
        ("two deletes", Txn::new().and_then(vec![del("a"), del("a")])),
        (
            "overlapping delete ranges",
            Txn::new().and_then(vec![del_range("a", "c"), del_range("b", "d")]),
        ),
        (
            "nested then and else",
            Txn::new().and_then(vec![TxnOp::txn(
                Txn::new().and_then(vec![put("a")]).or_else(vec![put("a")]),
            )]),
        ),
        (
            "reads of a written key",
            Txn::new().and_then(vec![TxnOp::get("a", None), put("a"), TxnOp::get("a", None)]),
        ),
        (
            "put outside the deleted range",
            Txn::new().and_then(vec![del_range("a", "c"), put("c")]),
        ),
    ];
    for (what, txn) in accepted {
        if let Err(e) = client.txn(txn).await {
            panic!("{what}: {e}");
        }
    }
});

both!(txn_request_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "v", None).await.unwrap(); // 2
    let empty_key = "etcdserver: key is not provided";
    for (what, txn) in [
        (
            "compare",
            Txn::new().when(vec![Compare::version("", CompareOp::Equal, 0)]),
        ),
        ("put", Txn::new().and_then(vec![TxnOp::put("", "v", None)])),
        ("get", Txn::new().and_then(vec![TxnOp::get("", None)])),
        ("delete", Txn::new().and_then(vec![TxnOp::delete("", None)])),
        (
            "failure branch",
            Txn::new()
                .and_then(vec![])
                .or_else(vec![TxnOp::get("", None)]),
        ),
        (
            "nested",
            Txn::new().and_then(vec![TxnOp::txn(
                Txn::new().and_then(vec![TxnOp::put("", "", None)]),
            )]),
        ),
    ] {
        let status = common::grpc_status(client.txn(txn).await);
        assert_eq!(
            (status.code(), status.message()),
            (Code::InvalidArgument, empty_key),
            "{what}"
        );
    }
    // Put flag checks apply inside a txn, on the branch that runs.
    assert_status(
        client
            .txn(Txn::new().and_then(vec![TxnOp::put(
                "missing",
                "",
                Some(PutOptions::new().with_ignore_value()),
            )]))
            .await,
        Code::InvalidArgument,
        "etcdserver: key not found",
    );
    assert_status(
        client
            .txn(Txn::new().and_then(vec![TxnOp::put(
                "k",
                "v",
                Some(PutOptions::new().with_lease(12345)),
            )]))
            .await,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    // Ranges in a txn are checked against the revision bounds.
    assert_status(
        client
            .txn(Txn::new().and_then(vec![TxnOp::get(
                "k",
                Some(GetOptions::new().with_revision(3)),
            )]))
            .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
    );
    client.put("k", "v2", None).await.unwrap(); // 3
    client.compact(3, None).await.unwrap();
    assert_status(
        client
            .txn(Txn::new().and_then(vec![TxnOp::get(
                "k",
                Some(GetOptions::new().with_revision(2)),
            )]))
            .await,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    );
    // The branch not taken is not checked against the store.
    let resp = client
        .txn(
            Txn::new()
                .when(vec![Compare::value("k", CompareOp::Equal, "v2")])
                .and_then(vec![TxnOp::get("k", None)])
                .or_else(vec![TxnOp::put(
                    "missing",
                    "",
                    Some(PutOptions::new().with_ignore_value()),
                )]),
        )
        .await
        .unwrap();
    assert!(resp.succeeded());
    // Nothing above was written.
    assert_eq!(rev(client.get("k", None).await.unwrap().header()), 3);
});
