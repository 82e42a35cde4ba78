//! The etcd "getting started" flow driven through the real `etcdctl` (API v3):
//! put/get/del with their flags, interactive txn and compaction, in both the
//! simple text output and `-w json`. JSON outputs are compared field by field
//! except the header ids (cluster_id, member_id, raft_term), which must be
//! non-zero and stable instead. Cluster-level commands live in
//! `etcdctl_cluster.rs`.

use crate::common;

use common::{b64, etcdctl, etcdctl_json, etcdctl_ok, etcdctl_stdin, IdsSeen, Node};
use serde_json::json;

both!(put_get_text, |target| async move {
    let node = Node::start(target, &[]).await;
    assert_eq!(etcdctl_ok(&node, &["put", "hello", "world"]).await, "OK\n");
    assert_eq!(etcdctl_ok(&node, &["get", "hello"]).await, "hello\nworld\n");
    assert_eq!(etcdctl_ok(&node, &["get", "missing"]).await, "");
    assert_eq!(
        etcdctl_ok(&node, &["put", "/users/user1", "zs"]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["put", "/users/user2", "ls"]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/users/", "--prefix"]).await,
        "/users/user1\nzs\n/users/user2\nls\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/", "--prefix", "--keys-only"]).await,
        "/users/user1\n\n/users/user2\n\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "", "--prefix", "--keys-only"]).await,
        "/users/user1\n\n/users/user2\n\nhello\n\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/users/user2", "--from-key"]).await,
        "/users/user2\nls\nhello\nworld\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "", "--from-key", "--limit=2"]).await,
        "/users/user1\nzs\n/users/user2\nls\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/", "--prefix", "--limit", "1"]).await,
        "/users/user1\nzs\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "/users/user1", "/users/user2"]).await,
        "/users/user1\nzs\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "", "--prefix", "--print-value-only"]).await,
        "zs\nls\nworld\n"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &[
                "get",
                "/",
                "--prefix",
                "--sort-by=modify",
                "--order=descend"
            ]
        )
        .await,
        "/users/user2\nls\n/users/user1\nzs\n"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &["get", "", "--prefix", "--sort-by=value", "--order=ascend"]
        )
        .await,
        "/users/user2\nls\nhello\nworld\n/users/user1\nzs\n"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &["get", "", "--prefix", "--sort-by=key", "--order=descend"]
        )
        .await,
        "hello\nworld\n/users/user2\nls\n/users/user1\nzs\n"
    );
});

both!(get_rev_text, |target| async move {
    let node = Node::start(target, &[]).await;
    etcdctl_ok(&node, &["put", "hello", "world"]).await; // rev 2
    etcdctl_ok(&node, &["put", "hello", "again"]).await; // rev 3
    etcdctl_ok(&node, &["put", "other", "x"]).await; // rev 4
    assert_eq!(etcdctl_ok(&node, &["get", "hello", "--rev=1"]).await, "");
    assert_eq!(
        etcdctl_ok(&node, &["get", "hello", "--rev=2"]).await,
        "hello\nworld\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "hello", "--rev", "3"]).await,
        "hello\nagain\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "", "--prefix", "--rev=3"]).await,
        "hello\nagain\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["get", "", "--prefix", "--rev=0"]).await,
        "hello\nagain\nother\nx\n"
    );
    let future = etcdctl(&node, &["get", "hello", "--rev=5"]).await;
    assert!(!future.status.success());
    let stderr = String::from_utf8_lossy(&future.stderr);
    assert!(
        stderr.contains("Error: etcdserver: mvcc: required revision is a future revision"),
        "{stderr}"
    );
});

both!(del_text, |target| async move {
    let node = Node::start(target, &[]).await;
    for (k, v) in [
        ("hello", "world"),
        ("/users/user1", "zs"),
        ("/users/user2", "ls"),
    ] {
        etcdctl_ok(&node, &["put", k, v]).await;
    }
    assert_eq!(etcdctl_ok(&node, &["del", "hello"]).await, "1\n");
    assert_eq!(etcdctl_ok(&node, &["del", "hello"]).await, "0\n");
    assert_eq!(
        etcdctl_ok(&node, &["del", "nothing", "--prefix"]).await,
        "0\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["del", "/users/", "--prefix", "--prev-kv"]).await,
        "2\n/users/user1\nzs\n/users/user2\nls\n"
    );
    assert_eq!(etcdctl_ok(&node, &["get", "", "--prefix"]).await, "");
    for k in ["a", "b", "c", "d"] {
        etcdctl_ok(&node, &["put", k, k]).await;
    }
    // A range [b, d) and then everything from c.
    assert_eq!(etcdctl_ok(&node, &["del", "b", "d"]).await, "2\n");
    assert_eq!(etcdctl_ok(&node, &["del", "c", "--from-key"]).await, "1\n");
    assert_eq!(etcdctl_ok(&node, &["get", "", "--prefix"]).await, "a\na\n");
});

both!(put_prev_kv_text, |target| async move {
    let node = Node::start(target, &[]).await;
    assert_eq!(
        etcdctl_ok(&node, &["put", "k", "v1", "--prev-kv"]).await,
        "OK\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["put", "k", "v2", "--prev-kv"]).await,
        "OK\nk\nv1\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["put", "k", "--ignore-value"]).await,
        "OK\n"
    );
    assert_eq!(etcdctl_ok(&node, &["get", "k"]).await, "k\nv2\n");
    let missing = etcdctl(&node, &["put", "nokey", "--ignore-value"]).await;
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("Error: etcdserver: key not found"),
        "{stderr}"
    );
});

both!(kv_json, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut ids = IdsSeen::default();

    let mut out = etcdctl_json(&node, &["put", "hello", "world"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 2}}));

    let mut out = etcdctl_json(&node, &["get", "hello"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({
            "header": {"revision": 2},
            "kvs": [{"key": b64("hello"), "create_revision": 2, "mod_revision": 2,
                     "version": 1, "value": b64("world")}],
            "count": 1
        })
    );

    // A missing key: no kvs, and count 0 is omitted.
    let mut out = etcdctl_json(&node, &["get", "missing"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 2}}));

    let mut out = etcdctl_json(&node, &["put", "/users/user1", "zs"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 3}}));
    let mut out = etcdctl_json(&node, &["put", "/users/user2", "ls"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 4}}));
    let mut out = etcdctl_json(&node, &["put", "hello", "again", "--prev-kv"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({
            "header": {"revision": 5},
            "prev_kv": {"key": b64("hello"), "create_revision": 2, "mod_revision": 2,
                        "version": 1, "value": b64("world")}
        })
    );

    let user1 = json!({"key": b64("/users/user1"), "create_revision": 3,
                       "mod_revision": 3, "version": 1, "value": b64("zs")});
    let user2 = json!({"key": b64("/users/user2"), "create_revision": 4,
                       "mod_revision": 4, "version": 1, "value": b64("ls")});
    let hello = json!({"key": b64("hello"), "create_revision": 2,
                       "mod_revision": 5, "version": 2, "value": b64("again")});

    let mut out = etcdctl_json(&node, &["get", "/users/", "--prefix"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [user1, user2], "count": 2})
    );

    let mut out = etcdctl_json(&node, &["get", "", "--prefix", "--limit=2"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [user1, user2], "more": true, "count": 3})
    );

    let mut out = etcdctl_json(&node, &["get", "", "--prefix", "--keys-only"]).await;
    ids.strip(&mut out);
    let keys_only = |kv: &serde_json::Value| {
        let mut kv = kv.clone();
        kv.as_object_mut().unwrap().remove("value");
        kv
    };
    assert_eq!(
        out,
        json!({"header": {"revision": 5},
               "kvs": [keys_only(&user1), keys_only(&user2), keys_only(&hello)],
               "count": 3})
    );

    // etcdctl 3.4 has no --count-only; serializable reads are the same here.
    let mut out = etcdctl_json(&node, &["get", "/users/user1", "--consistency=s"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [user1], "count": 1})
    );

    let mut out = etcdctl_json(&node, &["get", "/users/user2", "--from-key"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [user2, hello], "count": 2})
    );

    // Historical read: the header still carries the current revision.
    let mut out = etcdctl_json(&node, &["get", "hello", "--rev=2"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5},
               "kvs": [{"key": b64("hello"), "create_revision": 2, "mod_revision": 2,
                        "version": 1, "value": b64("world")}],
               "count": 1})
    );

    let mut out = etcdctl_json(
        &node,
        &["get", "", "--prefix", "--sort-by=modify", "--order=descend"],
    )
    .await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [hello, user2, user1], "count": 3})
    );

    let mut out = etcdctl_json(
        &node,
        &[
            "get",
            "",
            "--prefix",
            "--sort-by=version",
            "--order=descend",
            "--limit=1",
        ],
    )
    .await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 5}, "kvs": [hello], "more": true, "count": 3})
    );

    let mut out = etcdctl_json(&node, &["del", "/users/", "--prefix", "--prev-kv"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 6}, "deleted": 2, "prev_kvs": [user1, user2]})
    );

    // Deleting nothing does not raise the revision; deleted 0 is omitted.
    let mut out = etcdctl_json(&node, &["del", "/users/", "--prefix"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 6}}));

    let mut out = etcdctl_json(&node, &["del", "hello"]).await;
    ids.strip(&mut out);
    assert_eq!(out, json!({"header": {"revision": 7}, "deleted": 1}));

    // Recreated keys start at version 1 with a new create revision.
    etcdctl_ok(&node, &["put", "hello", "new"]).await;
    let mut out = etcdctl_json(&node, &["get", "hello"]).await;
    ids.strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 8},
               "kvs": [{"key": b64("hello"), "create_revision": 8, "mod_revision": 8,
                        "version": 1, "value": b64("new")}],
               "count": 1})
    );
});

both!(txn_interactive, |target| async move {
    let node = Node::start(target, &[]).await;
    etcdctl_ok(&node, &["put", "k1", "v1"]).await; // rev 2

    // compares, blank line, success ops, blank line, failure ops, blank line.
    let input = "value(\"k1\") = \"v1\"\n\nput k2 yes\nget k1\n\nput k2 no\n\n";
    let out = etcdctl_stdin(&node, &["txn"], input).await;
    common::assert_output_ok(&["txn"], &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SUCCESS\n\nOK\n\nk1\nv1\n"
    );

    let input = "mod(\"k1\") > \"2\"\n\nput k2 yes\n\nput k2 no\ndel k1\n\n";
    let out = etcdctl_stdin(&node, &["txn"], input).await;
    common::assert_output_ok(&["txn"], &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "FAILURE\n\nOK\n\n1\n");
    assert_eq!(etcdctl_ok(&node, &["get", "k2"]).await, "k2\nno\n");
    assert_eq!(etcdctl_ok(&node, &["get", "k1"]).await, "");

    // JSON form: the inner responses carry only the revision in their header.
    let input = "version(\"k2\") = \"2\"\ncreate(\"k2\") = \"3\"\n\nput k3 a\nget k2\n\n\n";
    let out = etcdctl_stdin(&node, &["txn", "-w", "json"], input).await;
    common::assert_output_ok(&["txn"], &out);
    let mut value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    IdsSeen::default().strip(&mut value);
    assert_eq!(
        value,
        json!({
            "header": {"revision": 5},
            "succeeded": true,
            "responses": [
                {"Response": {"ResponsePut": {"header": {"revision": 5}}}},
                {"Response": {"ResponseRange": {
                    "header": {"revision": 5},
                    "kvs": [{"key": b64("k2"), "create_revision": 3, "mod_revision": 4,
                             "version": 2, "value": b64("no")}],
                    "count": 1}}}
            ]
        })
    );

    // A failed compare with no failure ops writes nothing.
    let input = "value(\"k3\") = \"zzz\"\n\nput k4 x\n\n\n";
    let out = etcdctl_stdin(&node, &["txn", "-w", "json"], input).await;
    common::assert_output_ok(&["txn"], &out);
    let mut value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    IdsSeen::default().strip(&mut value);
    assert_eq!(value, json!({"header": {"revision": 5}}));
});

both!(compaction_text, |target| async move {
    let node = Node::start(target, &[]).await;
    for i in 0..5 {
        etcdctl_ok(&node, &["put", "k", &format!("v{i}")]).await; // revs 2..=6
    }
    assert_eq!(
        etcdctl_ok(&node, &["compaction", "3"]).await,
        "compacted revision 3\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["compaction", "--physical", "5"]).await,
        "compacted revision 5\n"
    );
    // At the compaction revision itself reads still work.
    assert_eq!(etcdctl_ok(&node, &["get", "k", "--rev=5"]).await, "k\nv3\n");
    for args in [
        &["get", "k", "--rev=4"][..],
        &["compaction", "5"][..],
        &["compaction", "2"][..],
    ] {
        let out = etcdctl(&node, args).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Error: etcdserver: mvcc: required revision has been compacted"),
            "{args:?}: {stderr}"
        );
    }
    let out = etcdctl(&node, &["compaction", "100"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error: etcdserver: mvcc: required revision is a future revision"),
        "{stderr}"
    );
    // Compaction keeps the latest version and does not raise the revision.
    let mut out = etcdctl_json(&node, &["get", "k"]).await;
    IdsSeen::default().strip(&mut out);
    assert_eq!(
        out,
        json!({"header": {"revision": 6},
               "kvs": [{"key": b64("k"), "create_revision": 2, "mod_revision": 6,
                        "version": 5, "value": b64("v4")}],
               "count": 1})
    );
});
