//! etcd's JSON gateway on the client port (grpc-gateway v1 in etcd 3.4 and
//! 3.5): every gRPC call as `POST /v3/<service>/<call>` with the request as
//! JSON, asked with curl as the etcd docs do, and with Python's stdlib HTTP
//! client as etcd3gw-style libraries do (`tests/python/gateway_check.py`).
//!
//! What the bodies look like (every value below was first read from Debian's
//! etcd 3.4.23):
//! - proto3 JSON with the proto field names (`create_revision`, `prev_kv`,
//!   but `ID`, `TTL`, `peerURLs`, `isLearner`, `dbSize`, `grantedTTL`, as
//!   the .proto spells them); bytes in standard base64; 64-bit integers as
//!   decimal strings (the header's ids too), `uint32` (Hash's `hash`) as a
//!   number; fields at their zero value are left out (a watch's `watch_id`
//!   0, a PUT event's `type`, a header `revision` 0 in member calls).
//! - an error is `{"error":M,"message":M,"code":C}` (gRPC code as a number)
//!   with the HTTP status grpc-gateway maps the code to: 3→400, 5→404,
//!   7→403, 9→412, 11→400, 14→503, 16→401, 2→500. A body that does not
//!   decode is code 3 (400) on unary calls but code 2 (500) on `/v3/watch`.
//! - server streams (`watch`, `lease/keepalive`, `election/observe`,
//!   `maintenance/snapshot`) answer chunked, one `{"result":...}` per line.
//! - unknown `/v3/...` paths answer the gateway's `404 Not Found\n`; paths
//!   outside its prefixes Go's `404 page not found\n`; another method than
//!   POST `405 Method Not Allowed\n`.
//! - `/v3beta/...` serves the same calls (3.4 and 3.5 both), `/v3alpha` is
//!   gone; 3.4 routes `/v3/maintenance/hash` to Hash (HashKV has no path of
//!   its own).
//!
//! Where 3.4 and 3.5 differ: only in the version strings (`status`).

use std::time::Duration;

use crate::common;

use common::certs::Certs;
use common::http::{self, post, strip_header, Answer, Stream};
use common::{eventually, python, Node, NodeOptions, Target};
use serde_json::{json, Value};

/// What `status` reports as `version`.
fn server_version(target: Target) -> &'static str {
    match target {
        Target::Reference => "3.4.23",
        Target::EtcdRs => "3.5.0",
    }
}

/// The gateway's content type on every JSON answer.
const JSON: &str = "application/json";

/// POSTs `body` to `path`, asserts a 200 JSON answer and returns its body
/// with the header's identity fields checked and removed; the header's
/// revision (if any) stays as `header.revision`.
async fn call(node: &Node, path: &str, body: Value) -> Value {
    call_with(node, path, body, &[]).await
}

async fn call_with(node: &Node, path: &str, body: Value, extra: &[&str]) -> Value {
    let answer = http::post_json(&format!("{}{path}", node.client_url()), &body, extra).await;
    ok_json(path, &answer)
}

/// The body of a successful answer, its header normalised by [`normalise`].
fn ok_json(path: &str, answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    assert_eq!(answer.header("content-type"), Some(JSON), "{path}");
    assert_eq!(
        answer.header("grpc-metadata-content-type"),
        Some("application/grpc"),
        "{path}"
    );
    normalise(answer.json())
}

/// Checks the header's ids and puts back only its revision, so a whole body
/// compares with `json!`.
fn normalise(mut value: Value) -> Value {
    if value.get("header").is_some() {
        let revision = strip_header(&mut value);
        if let Some(revision) = revision {
            value["header"] = json!({ "revision": revision });
        } else {
            value["header"] = json!({});
        }
    }
    if let Some(result) = value.get_mut("result") {
        *result = normalise(result.take());
    }
    value
}

/// POSTs `body` to `path` and asserts grpc-gateway's error answer.
async fn fails(node: &Node, path: &str, body: &str, status: u16, code: u64, message: &str) {
    fails_with(node, path, body, &[], status, code, message).await
}

async fn fails_with(
    node: &Node,
    path: &str,
    body: &str,
    extra: &[&str],
    status: u16,
    code: u64,
    message: &str,
) {
    let answer = post(&format!("{}{path}", node.client_url()), body, extra).await;
    assert_error(path, &answer, status, code, message);
}

fn assert_error(path: &str, answer: &Answer, status: u16, code: u64, message: &str) {
    assert_eq!(
        (answer.status, answer.json()),
        (
            status,
            json!({ "error": message, "message": message, "code": code })
        ),
        "{path} {:?}",
        answer.body
    );
    assert_eq!(answer.header("content-type"), Some(JSON), "{path}");
}

/// Plain-text answers of the HTTP layer (not the gateway's JSON).
fn assert_text(answer: &Answer, status: u16, body: &str) {
    assert_eq!(answer.pair(), (status, body));
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
}

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "etcdserver: mvcc: required revision is a future revision";

both!(readme_put_then_range, |target| async move {
    let node = Node::start(target, &[]).await;
    let port = node
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    // Literally the README's example (with this node's port).
    let command = format!(
        r#"curl -L http://127.0.0.1:{port}/v3/kv/put -X POST -d '{{"key":"Zm9v","value":"YmFy"}}'"#
    );
    let out = tokio::process::Command::new("bash")
        .args(["-c", &command])
        .output()
        .await
        .expect("run bash");
    assert!(out.status.success(), "{command}");
    let put: Value = serde_json::from_slice(&out.stdout).expect("a JSON answer");
    assert_eq!(normalise(put), json!({"header": {"revision": "2"}}));

    let range = call(&node, "/v3/kv/range", json!({"key": "Zm9v"})).await;
    assert_eq!(
        range,
        json!({
            "header": {"revision": "2"},
            "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                     "version": "1", "value": "YmFy"}],
            "count": "1"
        })
    );
    // The same call under the beta prefix; 3.4 dropped v3alpha.
    let beta = call(&node, "/v3beta/kv/range", json!({"key": "Zm9v"})).await;
    assert_eq!(beta, range);
    for path in [
        "/v3beta/maintenance/status",
        "/v3beta/lease/leases",
        "/v3beta/cluster/member/list",
        "/v3beta/auth/user/list",
    ] {
        let v3 = path.replace("/v3beta/", "/v3/");
        assert_eq!(
            call(&node, path, json!({})).await,
            call(&node, &v3, json!({})).await
        );
    }
    let watch = format!("{}/v3beta/watch", node.client_url());
    let mut stream = Stream::post(&watch, r#"{"create_request":{"key":"Zm9v"}}"#, &[]).await;
    assert_eq!(
        normalise(stream.next_json().await),
        json!({"result": {"header": {"revision": "2"}, "created": true}})
    );
    let alpha = post(
        &format!("{}/v3alpha/kv/range", node.client_url()),
        "{}",
        &[],
    )
    .await;
    assert_text(&alpha, 404, "404 page not found\n");
});

both!(kv_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    let put = call(&node, "/v3/kv/put", json!({"key": "Zm9v", "value": "YmFy"})).await;
    assert_eq!(put, json!({"header": {"revision": "2"}}));
    let put = call(
        &node,
        "/v3/kv/put",
        json!({"key": "Zm9v", "value": "YmF6", "prev_kv": true}),
    )
    .await;
    assert_eq!(
        put,
        json!({"header": {"revision": "3"},
               "prev_kv": {"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                           "version": "1", "value": "YmFy"}})
    );
    // A missing key: no kvs, no count.
    let none = call(&node, "/v3/kv/range", json!({"key": "bm9uZQ=="})).await;
    assert_eq!(none, json!({"header": {"revision": "3"}}));
    // All keys, counted; numbers are accepted as numbers or strings.
    let all = json!({"key": "AA==", "range_end": "AA==", "count_only": true});
    let counted = call(&node, "/v3/kv/range", all).await;
    assert_eq!(counted, json!({"header": {"revision": "3"}, "count": "1"}));
    for limit in [json!(5), json!("5")] {
        let keys_only = json!({"key": "Zm9v", "limit": limit, "keys_only": true});
        assert_eq!(
            call(&node, "/v3/kv/range", keys_only).await,
            json!({"header": {"revision": "3"},
                   "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "3",
                            "version": "2"}],
                   "count": "1"})
        );
    }

    let deleted = call(
        &node,
        "/v3/kv/deleterange",
        json!({"key": "Zm9v", "prev_kv": true}),
    )
    .await;
    assert_eq!(
        deleted,
        json!({"header": {"revision": "4"}, "deleted": "1",
               "prev_kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "3",
                             "version": "2", "value": "YmF6"}]})
    );
    let nothing = call(&node, "/v3/kv/deleterange", json!({"key": "Zm9v"})).await;
    assert_eq!(nothing, json!({"header": {"revision": "4"}}));

    let txn = json!({
        "compare": [{"target": "VERSION", "key": "Zm9v", "version": "0", "result": "EQUAL"}],
        "success": [{"request_put": {"key": "Zm9v", "value": "YmFy"}}],
        "failure": [{"request_range": {"key": "Zm9v"}}]
    });
    assert_eq!(
        call(&node, "/v3/kv/txn", txn.clone()).await,
        json!({"header": {"revision": "5"}, "succeeded": true,
               "responses": [{"response_put": {"header": {"revision": "5"}}}]})
    );
    // `succeeded: false` is left out.
    assert_eq!(
        call(&node, "/v3/kv/txn", txn).await,
        json!({"header": {"revision": "5"},
               "responses": [{"response_range": {
                   "header": {"revision": "5"},
                   "kvs": [{"key": "Zm9v", "create_revision": "5", "mod_revision": "5",
                            "version": "1", "value": "YmFy"}],
                   "count": "1"}}]})
    );

    let compacted = call(&node, "/v3/kv/compaction", json!({"revision": "3"})).await;
    assert_eq!(compacted, json!({"header": {"revision": "5"}}));
    let again = r#"{"revision":"3"}"#;
    fails(&node, "/v3/kv/compaction", again, 400, 11, COMPACTED).await;
    let future = r#"{"revision":"100"}"#;
    fails(&node, "/v3/kv/compaction", future, 400, 11, FUTURE).await;
    let old = r#"{"key":"Zm9v","revision":"2"}"#;
    fails(&node, "/v3/kv/range", old, 400, 11, COMPACTED).await;
    let ahead = r#"{"key":"Zm9v","revision":"100"}"#;
    fails(&node, "/v3/kv/range", ahead, 400, 11, FUTURE).await;
    let no_key = r#"{"value":"YmFy"}"#;
    fails(
        &node,
        "/v3/kv/put",
        no_key,
        400,
        3,
        "etcdserver: key is not provided",
    )
    .await;
});

both!(lease_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    let granted = call(&node, "/v3/lease/grant", json!({"TTL": "60", "ID": "1000"})).await;
    assert_eq!(
        granted,
        json!({"header": {"revision": "1"}, "ID": "1000", "TTL": "60"})
    );
    let exists = r#"{"TTL":"60","ID":"1000"}"#;
    let message = "etcdserver: lease already exists";
    fails(&node, "/v3/lease/grant", exists, 412, 9, message).await;
    // An ID chosen by the server, as a decimal string.
    let mut chosen = call(&node, "/v3/lease/grant", json!({"TTL": 60})).await;
    let id = chosen["ID"].take();
    let id = id.as_str().expect("a string ID").to_string();
    assert!(id.parse::<i64>().is_ok_and(|n| n > 0), "{id}");
    assert_eq!(
        chosen,
        json!({"header": {"revision": "1"}, "ID": null, "TTL": "60"})
    );

    let put = json!({"key": "bA==", "value": "dg==", "lease": "1000"});
    assert_eq!(
        call(&node, "/v3/kv/put", put).await,
        json!({"header": {"revision": "2"}})
    );
    let mut ttl = call(
        &node,
        "/v3/lease/timetolive",
        json!({"ID": "1000", "keys": true}),
    )
    .await;
    let left: i64 = ttl["TTL"]
        .take()
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("TTL");
    assert!((55..=60).contains(&left), "TTL {left}");
    assert_eq!(
        ttl,
        json!({"header": {"revision": "2"}, "ID": "1000", "TTL": null,
               "grantedTTL": "60", "keys": ["bA=="]})
    );
    let mut leases = call(&node, "/v3/lease/leases", json!({})).await;
    let mut ids: Vec<String> = leases["leases"]
        .take()
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["ID"].as_str().expect("an ID string").to_string())
        .collect();
    ids.sort();
    let mut expected = vec!["1000".to_string(), id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(leases, json!({"header": {"revision": "2"}, "leases": null}));

    // A stream: one answer per request line, here one.
    let url = format!("{}/v3/lease/keepalive", node.client_url());
    let lines = Stream::post(&url, r#"{"ID":"1000"}"#, &[])
        .await
        .rest()
        .await;
    let answers: Vec<Value> = lines
        .iter()
        .map(|l| normalise(serde_json::from_str(l).expect("a JSON line")))
        .collect();
    assert_eq!(
        answers,
        vec![json!({"result": {"header": {"revision": "2"}, "ID": "1000", "TTL": "60"}})]
    );

    let revoked = call(&node, "/v3/lease/revoke", json!({"ID": "1000"})).await;
    assert_eq!(revoked, json!({"header": {"revision": "3"}}));
    let not_found = "etcdserver: requested lease not found";
    let gone = r#"{"ID":"1000"}"#;
    fails(&node, "/v3/lease/revoke", gone, 404, 5, not_found).await;
    // An unknown lease lives -1 seconds; keeping it alive answers no TTL.
    let expired = call(&node, "/v3/lease/timetolive", json!({"ID": "1000"})).await;
    assert_eq!(
        expired,
        json!({"header": {"revision": "3"}, "ID": "1000", "TTL": "-1"})
    );
    let lines = Stream::post(&url, gone, &[]).await.rest().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        normalise(serde_json::from_str(&lines[0]).expect("JSON")),
        json!({"result": {"header": {"revision": "3"}, "ID": "1000"}})
    );
    // The older aliases under /v3/kv/lease/ serve the same calls.
    let alias = call(&node, "/v3/kv/lease/timetolive", json!({"ID": "1000"})).await;
    assert_eq!(alias, expired);
    fails(&node, "/v3/kv/lease/revoke", gone, 404, 5, not_found).await;
    let listed = call(&node, "/v3/kv/lease/leases", json!({})).await;
    assert_eq!(
        listed,
        json!({"header": {"revision": "3"}, "leases": [{"ID": id}]})
    );
});

both!(watch_stream, |target| async move {
    let node = Node::start(target, &[]).await;
    let url = format!("{}/v3/watch", node.client_url());
    let mut watch = Stream::post(&url, r#"{"create_request":{"key":"dw=="}}"#, &[]).await;
    assert_eq!(
        normalise(watch.next_json().await),
        json!({"result": {"header": {"revision": "1"}, "created": true}})
    );
    call(&node, "/v3/kv/put", json!({"key": "dw==", "value": "MQ=="})).await;
    assert_eq!(
        normalise(watch.next_json().await),
        json!({"result": {"header": {"revision": "2"},
               "events": [{"kv": {"key": "dw==", "create_revision": "2",
                                  "mod_revision": "2", "version": "1", "value": "MQ=="}}]}})
    );
    call(&node, "/v3/kv/deleterange", json!({"key": "dw=="})).await;
    assert_eq!(
        normalise(watch.next_json().await),
        json!({"result": {"header": {"revision": "3"},
               "events": [{"type": "DELETE", "kv": {"key": "dw==", "mod_revision": "3"}}]}})
    );
    drop(watch);

    // From a compacted revision: created, then canceled with the compact
    // revision (and a header without revision).
    call(&node, "/v3/kv/put", json!({"key": "dw==", "value": "Mg=="})).await;
    call(&node, "/v3/kv/compaction", json!({"revision": "3"})).await;
    let body = r#"{"create_request":{"key":"dw==","start_revision":"1"}}"#;
    let mut old = Stream::post(&url, body, &[]).await;
    assert_eq!(
        normalise(old.next_json().await),
        json!({"result": {"header": {"revision": "4"}, "created": true}})
    );
    assert_eq!(
        normalise(old.next_json().await),
        json!({"result": {"header": {}, "canceled": true, "compact_revision": "3"}})
    );
    drop(old);

    // With prev_kv, from a revision still kept: the history replays.
    let body = r#"{"create_request":{"key":"dw==","start_revision":"4","prev_kv":true}}"#;
    let mut replay = Stream::post(&url, body, &[]).await;
    assert_eq!(
        normalise(replay.next_json().await),
        json!({"result": {"header": {"revision": "4"}, "created": true}})
    );
    assert_eq!(
        normalise(replay.next_json().await),
        json!({"result": {"header": {"revision": "4"},
               "events": [{"kv": {"key": "dw==", "create_revision": "4",
                                  "mod_revision": "4", "version": "1", "value": "Mg=="}}]}})
    );
    drop(replay);

    // A body that is no JSON: 500 with code 2 (not 400 as on unary calls).
    let garbage = post(&url, "garbage", &[]).await;
    let message = "invalid character 'g' looking for beginning of value";
    assert_error("/v3/watch", &garbage, 500, 2, message);
});

both!(cluster_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    let own = node.client_url();
    let listed = call(&node, "/v3/cluster/member/list", json!({})).await;
    let members = listed["members"].as_array().expect("members").clone();
    assert_eq!(members.len(), 1);
    let me = members[0]["ID"].as_str().expect("an ID string").to_string();
    assert_eq!(
        listed,
        json!({"header": {}, "members": [{"ID": me, "name": node.name(),
               "peerURLs": [node.peer_url()], "clientURLs": [own]}]})
    );
    let me_json = listed["members"][0].clone();

    // A learner does not count for quorum: the member keeps serving.
    let port = common::free_port();
    let learner_url = format!("http://127.0.0.1:{port}");
    let added = call(
        &node,
        "/v3/cluster/member/add",
        json!({"peerURLs": [learner_url], "isLearner": true}),
    )
    .await;
    let learner = added["member"]["ID"].as_str().expect("an ID").to_string();
    let learner_json = json!({"ID": learner, "peerURLs": [learner_url], "isLearner": true});
    let mut both_members = [me_json.clone(), learner_json.clone()];
    both_members.sort_by_key(|m| m["ID"].as_str().map(str::to_string));
    let mut members = added["members"].as_array().expect("members").clone();
    members.sort_by_key(|m| m["ID"].as_str().map(str::to_string));
    assert_eq!(members, both_members);
    assert_eq!(added["header"], json!({}));
    assert_eq!(added["member"], learner_json);

    let in_use = json!({"peerURLs": [node.peer_url()]}).to_string();
    let exists = "etcdserver: Peer URLs already exists";
    fails(&node, "/v3/cluster/member/add", &in_use, 412, 9, exists).await;
    let bad = "etcdserver: given member URLs are invalid";
    let no_url = r#"{"peerURLs":["bad"]}"#;
    fails(&node, "/v3/cluster/member/add", no_url, 400, 3, bad).await;
    fails(&node, "/v3/cluster/member/add", "{}", 400, 3, bad).await;

    // Promote exists in 3.4: a learner that never started is not in sync.
    let promote = json!({"ID": learner}).to_string();
    let unsynced = "etcdserver: can only promote a learner member which is in sync with leader";
    fails(
        &node,
        "/v3/cluster/member/promote",
        &promote,
        412,
        9,
        unsynced,
    )
    .await;
    let voter = json!({"ID": me}).to_string();
    let only_learner = "etcdserver: can only promote a learner member";
    fails(
        &node,
        "/v3/cluster/member/promote",
        &voter,
        412,
        9,
        only_learner,
    )
    .await;
    let nobody = r#"{"ID":"1"}"#;
    let not_found = "etcdserver: member not found";
    fails(
        &node,
        "/v3/cluster/member/promote",
        nobody,
        404,
        5,
        not_found,
    )
    .await;

    // Updating the member with its own URL changes nothing and lists all.
    let same = json!({"ID": me, "peerURLs": [node.peer_url()]});
    let updated = call(&node, "/v3/cluster/member/update", same).await;
    let mut members = updated["members"].as_array().expect("members").clone();
    members.sort_by_key(|m| m["ID"].as_str().map(str::to_string));
    assert_eq!(members, both_members);
    let taken = json!({"ID": learner, "peerURLs": [node.peer_url()]}).to_string();
    fails(&node, "/v3/cluster/member/update", &taken, 412, 9, exists).await;
    let elsewhere = r#"{"ID":"1","peerURLs":["http://127.0.0.1:1"]}"#;
    fails(
        &node,
        "/v3/cluster/member/update",
        elsewhere,
        404,
        5,
        not_found,
    )
    .await;

    let removed = call(&node, "/v3/cluster/member/remove", json!({"ID": learner})).await;
    assert_eq!(removed, json!({"header": {}, "members": [me_json]}));
    let again = json!({"ID": learner}).to_string();
    fails(
        &node,
        "/v3/cluster/member/remove",
        &again,
        404,
        5,
        not_found,
    )
    .await;
});

both!(maintenance_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut status = call(&node, "/v3/maintenance/status", json!({})).await;
    let me = call(&node, "/v3/cluster/member/list", json!({})).await["members"][0]["ID"].clone();
    let obj = status.as_object_mut().expect("an object");
    for field in [
        "dbSize",
        "dbSizeInUse",
        "raftIndex",
        "raftAppliedIndex",
        "raftTerm",
    ] {
        let v = obj
            .remove(field)
            .unwrap_or_else(|| panic!("status has no {field}"));
        let n: u64 = v.as_str().and_then(|s| s.parse().ok()).expect(field);
        assert!(n > 0, "{field} is 0");
    }
    assert_eq!(
        status,
        json!({"header": {"revision": "1"}, "version": server_version(target), "leader": me})
    );

    // Alarm answers carry no header; a deactivation lists what it cleared.
    let alarm = "/v3/maintenance/alarm";
    assert_eq!(call(&node, alarm, json!({})).await, json!({}));
    assert_eq!(
        call(&node, alarm, json!({"action": "GET"})).await,
        json!({})
    );
    let nospace = json!({"memberID": me, "alarm": "NOSPACE"});
    let raised = json!({"alarms": [nospace]});
    let activate = json!({"action": "ACTIVATE", "memberID": me, "alarm": "NOSPACE"});
    assert_eq!(call(&node, alarm, activate).await, raised);
    assert_eq!(call(&node, alarm, json!({"action": "GET"})).await, raised);
    let deactivate = json!({"action": "DEACTIVATE", "memberID": me, "alarm": "NOSPACE"});
    assert_eq!(call(&node, alarm, deactivate).await, raised);
    assert_eq!(call(&node, alarm, json!({})).await, json!({}));

    assert_eq!(
        call(&node, "/v3/maintenance/defragment", json!({})).await,
        json!({})
    );
    // Hash's uint32 is a JSON number, not a string.
    let mut hash = call(&node, "/v3/maintenance/hash", json!({})).await;
    assert!(hash["hash"].take().is_u64(), "hash is a number");
    assert_eq!(hash, json!({"header": {"revision": "1"}, "hash": null}));
    let hashkv = post(
        &format!("{}/v3/maintenance/hashkv", node.client_url()),
        "{}",
        &[],
    )
    .await;
    assert_text(&hashkv, 404, "Not Found\n");

    // The snapshot streams the database then its sha256, each chunk a line
    // `{"result":{"blob":...}}` with the bytes still to come after it as
    // `remaining_bytes` (left out once 0: etcd 3.4's small database fits
    // one chunk; etcd-rs's redb file takes several); no header.
    call(&node, "/v3/kv/put", json!({"key": "Zm9v", "value": "YmFy"})).await;
    let url = format!("{}/v3/maintenance/snapshot", node.client_url());
    let lines = Stream::post(&url, "{}", &[]).await.rest().await;
    assert!(lines.len() >= 2, "{} snapshot lines", lines.len());
    let mut size = 0;
    for (i, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).expect("a JSON line");
        let result = value["result"].as_object().expect("a result");
        let mut keys: Vec<_> = result.keys().map(String::as_str).collect();
        keys.retain(|k| !(*k == "remaining_bytes" && i + 2 < lines.len()));
        assert_eq!(keys, ["blob"], "line {i}: {}", &line[..line.len().min(200)]);
        let blob = result["blob"].as_str().expect("base64");
        let bytes = blob.len() / 4 * 3 - blob.bytes().rev().take_while(|b| *b == b'=').count();
        if i + 1 == lines.len() {
            assert_eq!(bytes, 32, "the last chunk is the sha256");
        } else {
            size += bytes;
        }
    }
    assert!(size >= 16 * 1024, "a database of {size} bytes");
});

/// Authenticate's token for `name`, after checking the rest of the answer.
async fn authenticate(node: &Node, name: &str, password: &str) -> String {
    let body = json!({"name": name, "password": password});
    let mut answer = call(node, "/v3/auth/authenticate", body).await;
    let token = answer["token"].take();
    let token = token.as_str().expect("a token").to_string();
    assert!(!token.is_empty());
    assert_eq!(answer, json!({"header": {"revision": "1"}, "token": null}));
    token
}

both!(auth_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    let rev1 = json!({"header": {"revision": "1"}});
    let no_root = r#"{}"#;
    let message = "etcdserver: root user does not exist";
    fails(&node, "/v3/auth/enable", no_root, 412, 9, message).await;
    for (path, body) in [
        (
            "/v3/auth/user/add",
            json!({"name": "root", "password": "rootpw"}),
        ),
        ("/v3/auth/role/add", json!({"name": "root"})),
        (
            "/v3/auth/user/grant",
            json!({"user": "root", "role": "root"}),
        ),
        (
            "/v3/auth/user/add",
            json!({"name": "alice", "password": "alicepw"}),
        ),
        ("/v3/auth/role/add", json!({"name": "app"})),
        (
            "/v3/auth/role/grant",
            json!({"name": "app", "perm": {"permType": "READWRITE",
                   "key": "L2FwcC8=", "range_end": "L2FwcDA="}}),
        ),
        (
            "/v3/auth/user/grant",
            json!({"user": "alice", "role": "app"}),
        ),
    ] {
        assert_eq!(call(&node, path, body).await, rev1, "{path}");
    }
    let dup = r#"{"name":"root","password":"x"}"#;
    let exists = "etcdserver: user name already exists";
    fails(&node, "/v3/auth/user/add", dup, 412, 9, exists).await;
    assert_eq!(
        call(&node, "/v3/auth/user/get", json!({"name": "alice"})).await,
        json!({"header": {"revision": "1"}, "roles": ["app"]})
    );
    let unknown = r#"{"name":"nobody"}"#;
    let no_user = "etcdserver: user name not found";
    fails(&node, "/v3/auth/user/get", unknown, 412, 9, no_user).await;
    assert_eq!(
        call(&node, "/v3/auth/user/list", json!({})).await,
        json!({"header": {"revision": "1"}, "users": ["alice", "root"]})
    );
    assert_eq!(
        call(&node, "/v3/auth/role/get", json!({"role": "app"})).await,
        json!({"header": {"revision": "1"},
               "perm": [{"permType": "READWRITE", "key": "L2FwcC8=", "range_end": "L2FwcDA="}]})
    );
    assert_eq!(
        call(&node, "/v3/auth/role/list", json!({})).await,
        json!({"header": {"revision": "1"}, "roles": ["app", "root"]})
    );
    assert_eq!(call(&node, "/v3/auth/enable", json!({})).await, rev1);

    let root = authenticate(&node, "root", "rootpw").await;
    let alice = authenticate(&node, "alice", "alicepw").await;
    let wrong = r#"{"name":"root","password":"bad"}"#;
    let failed = "etcdserver: authentication failed, invalid user ID or password";
    fails(&node, "/v3/auth/authenticate", wrong, 400, 3, failed).await;

    // The token goes in the Authorization header, as it is (no "Bearer").
    let as_root = format!("Authorization: {root}");
    let as_alice = format!("Authorization: {alice}");
    let root_h = ["-H", as_root.as_str()];
    let alice_h = ["-H", as_alice.as_str()];
    let put = json!({"key": "Zm9v", "value": "YmFy"});
    let done = call_with(&node, "/v3/kv/put", put, &root_h).await;
    assert_eq!(done, json!({"header": {"revision": "2"}}));
    let range = call_with(&node, "/v3/kv/range", json!({"key": "Zm9v"}), &root_h).await;
    assert_eq!(
        range,
        json!({"header": {"revision": "2"},
               "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                        "version": "1", "value": "YmFy"}],
               "count": "1"})
    );
    let read = r#"{"key":"Zm9v"}"#;
    let empty = "etcdserver: user name is empty";
    fails(&node, "/v3/kv/range", read, 400, 3, empty).await;
    let invalid = "etcdserver: invalid auth token";
    let bogus = ["-H", "Authorization: bogus"];
    fails_with(&node, "/v3/kv/range", read, &bogus, 401, 16, invalid).await;
    let bearer = format!("Authorization: Bearer {root}");
    let bearer = ["-H", bearer.as_str()];
    fails_with(&node, "/v3/kv/range", read, &bearer, 401, 16, invalid).await;
    let denied = "etcdserver: permission denied";
    fails_with(&node, "/v3/kv/range", read, &alice_h, 403, 7, denied).await;
    let own = json!({"key": "L2FwcC94", "value": "YmFy"});
    let mine = call_with(&node, "/v3/kv/put", own, &alice_h).await;
    assert_eq!(mine, json!({"header": {"revision": "3"}}));
    fails_with(&node, "/v3/auth/user/list", "{}", &alice_h, 403, 7, denied).await;

    let rev3 = json!({"header": {"revision": "3"}});
    let revoke = json!({"name": "alice", "role": "app"});
    let revoked = call_with(&node, "/v3/auth/user/revoke", revoke.clone(), &root_h).await;
    assert_eq!(revoked, rev3);
    let not_granted = "etcdserver: role is not granted to the user";
    let again = revoke.to_string();
    fails_with(
        &node,
        "/v3/auth/user/revoke",
        &again,
        &root_h,
        412,
        9,
        not_granted,
    )
    .await;
    let perm = json!({"role": "app", "key": "L2FwcC8=", "range_end": "L2FwcDA="});
    let taken = call_with(&node, "/v3/auth/role/revoke", perm, &root_h).await;
    assert_eq!(taken, rev3);
    let role = json!({"role": "app"});
    let deleted = call_with(&node, "/v3/auth/role/delete", role.clone(), &root_h).await;
    assert_eq!(deleted, rev3);
    let no_role = "etcdserver: role name not found";
    let role = role.to_string();
    fails_with(
        &node,
        "/v3/auth/role/delete",
        &role,
        &root_h,
        412,
        9,
        no_role,
    )
    .await;
    let changepw = json!({"name": "alice", "password": "x"});
    let changed = call_with(&node, "/v3/auth/user/changepw", changepw, &root_h).await;
    assert_eq!(changed, rev3);
    let user = json!({"name": "alice"});
    let gone = call_with(&node, "/v3/auth/user/delete", user.clone(), &root_h).await;
    assert_eq!(gone, rev3);
    let user = user.to_string();
    fails_with(
        &node,
        "/v3/auth/user/delete",
        &user,
        &root_h,
        412,
        9,
        no_user,
    )
    .await;
    let disabled = call_with(&node, "/v3/auth/disable", json!({}), &root_h).await;
    assert_eq!(disabled, rev3);
    // Open again: no token needed.
    let open = call(
        &node,
        "/v3/kv/range",
        json!({"key": "Zm9v", "count_only": true}),
    )
    .await;
    assert_eq!(open, json!({"header": {"revision": "3"}, "count": "1"}));
});

both!(lock_and_election_paths, |target| async move {
    let node = Node::start(target, &[]).await;
    call(&node, "/v3/lease/grant", json!({"TTL": "60", "ID": "8"})).await;
    // The lock key is NAME/LEASE-IN-HEX.
    let locked = call(
        &node,
        "/v3/lock/lock",
        json!({"name": "bXlsb2Nr", "lease": "8"}),
    )
    .await;
    let key = common::b64("mylock/8");
    assert_eq!(locked, json!({"header": {"revision": "2"}, "key": key}));
    let held = call(
        &node,
        "/v3/lease/timetolive",
        json!({"ID": "8", "keys": true}),
    )
    .await;
    assert_eq!(held["keys"], json!([key]));
    // Unlocking deletes the key; an unknown key is no error.
    let unlocked = call(&node, "/v3/lock/unlock", json!({"key": key})).await;
    assert_eq!(unlocked, json!({"header": {"revision": "3"}}));
    let again = call(&node, "/v3/lock/unlock", json!({"key": key})).await;
    assert_eq!(again, json!({"header": {"revision": "3"}}));
    let not_found = "etcdserver: requested lease not found";
    let no_lease = r#"{"name":"bXlsb2Nr","lease":"99"}"#;
    fails(&node, "/v3/lock/lock", no_lease, 500, 2, not_found).await;

    let no_leader = "election: no leader";
    let e2 = r#"{"name":"ZTI="}"#;
    fails(&node, "/v3/election/leader", e2, 500, 2, no_leader).await;
    let campaign = json!({"name": "ZTI=", "lease": "8", "value": "djE="});
    let elected = call(&node, "/v3/election/campaign", campaign).await;
    let leader = json!({"name": "ZTI=", "key": common::b64("e2/8"), "rev": "4", "lease": "8"});
    assert_eq!(
        elected,
        json!({"header": {"revision": "4"}, "leader": leader})
    );
    let url = format!("{}/v3/election/observe", node.client_url());
    let mut observe = Stream::post(&url, e2, &[]).await;
    let first = json!({"result": {"header": {"revision": "4"},
        "kv": {"key": common::b64("e2/8"), "create_revision": "4", "mod_revision": "4",
               "version": "1", "value": "djE=", "lease": "8"}}});
    assert_eq!(normalise(observe.next_json().await), first);

    let proclaim = json!({"leader": leader, "value": "djI="});
    let proclaimed = call(&node, "/v3/election/proclaim", proclaim).await;
    assert_eq!(proclaimed, json!({"header": {"revision": "5"}}));
    let current = json!({"key": common::b64("e2/8"), "create_revision": "4",
                         "mod_revision": "5", "version": "2", "value": "djI=", "lease": "8"});
    assert_eq!(
        normalise(observe.next_json().await),
        json!({"result": {"header": {"revision": "5"}, "kv": current}})
    );
    assert_eq!(
        call(&node, "/v3/election/leader", json!({"name": "ZTI="})).await,
        json!({"header": {"revision": "5"}, "kv": current})
    );
    drop(observe);
    let mut stale = leader.clone();
    stale["rev"] = json!("1");
    let stale = json!({"leader": stale, "value": "djI="}).to_string();
    fails(
        &node,
        "/v3/election/proclaim",
        &stale,
        500,
        2,
        "election: not leader",
    )
    .await;

    let resigned = call(&node, "/v3/election/resign", json!({"leader": leader})).await;
    assert_eq!(resigned, json!({"header": {"revision": "6"}}));
    // Resigning twice is no error.
    let twice = call(&node, "/v3/election/resign", json!({"leader": leader})).await;
    assert_eq!(twice, json!({"header": {"revision": "6"}}));
    fails(&node, "/v3/election/leader", e2, 500, 2, no_leader).await;
    let bad_lease = r#"{"name":"ZTI=","lease":"99","value":"djE="}"#;
    fails(&node, "/v3/election/campaign", bad_lease, 500, 2, not_found).await;
});

both!(bad_input, |target| async move {
    let node = Node::start(target, &[]).await;
    let url = |path: &str| format!("{}{path}", node.client_url());
    let put = url("/v3/kv/put");
    let garbage = post(&put, "garbage", &[]).await;
    let message = "invalid character 'g' looking for beginning of value";
    assert_error("garbage", &garbage, 400, 3, message);
    let wrong_type = post(&put, r#"{"key":5}"#, &[]).await;
    let message = "json: cannot unmarshal number into Go value of type []uint8";
    assert_error("a number for bytes", &wrong_type, 400, 3, message);
    let not_base64 = post(&put, r#"{"key":"!!"}"#, &[]).await;
    let message = "illegal base64 data at input byte 0";
    assert_error("bad base64", &not_base64, 400, 3, message);
    let range = url("/v3/kv/range");
    let bad_number = post(&range, r#"{"key":"Zm9v","limit":"abc"}"#, &[]).await;
    let message = "invalid character 'a' looking for beginning of value";
    assert_error("a non-numeric string", &bad_number, 400, 3, message);
    // An empty body is an empty request, which Put refuses.
    let empty = post(&put, "", &[]).await;
    assert_error("empty", &empty, 400, 3, "etcdserver: key is not provided");
    // Unknown fields are ignored.
    let extra = post(&put, r#"{"key":"Zm9v","nope":1}"#, &[]).await;
    assert_eq!(
        ok_json("unknown field", &extra),
        json!({"header": {"revision": "2"}})
    );

    for path in [
        "/v3/nope",
        "/v3/kv/nope",
        "/v3/kv/range/",
        "/v3/maintenance/nope",
    ] {
        assert_text(&post(&url(path), "{}", &[]).await, 404, "Not Found\n");
    }
    for path in ["/v3alpha/kv/range", "/v2/keys/foo", "/v4/kv/range"] {
        let answer = post(&url(path), "{}", &[]).await;
        assert_text(&answer, 404, "404 page not found\n");
    }
    for method in ["GET", "PUT", "DELETE"] {
        for path in ["/v3/kv/range", "/v3/watch", "/v3beta/kv/put"] {
            let answer = http::curl(&url(path), &["-X", method]).await;
            assert_text(&answer, 405, "Method Not Allowed\n");
        }
    }
});

both!(python_http_client, |target| async move {
    let node = Node::start(target, &[]).await;
    let python = python::venv_python_async().await;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        python::script_command(python, "gateway_check.py")
            .arg(node.client_url())
            .output(),
    )
    .await
    .expect("gateway_check.py finished in 60 s")
    .expect("run gateway_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gateway_check.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        steps,
        vec![
            json!({"step": "put", "status": 200, "revision": "2"}),
            json!({"step": "range", "status": 200, "kvs": [["foo", "bar", "2"]]}),
            json!({"step": "watch created", "created": true}),
            json!({"step": "watch event", "type": "PUT", "key": "foo", "value": "baz",
                   "mod_revision": "3"}),
            json!({"step": "range missing", "status": 200, "count": null}),
            json!({"step": "compacted", "status": 400, "code": 11,
                   "error": COMPACTED}),
        ]
    );
});

both!(gateway_over_tls, |target| async move {
    let certs = Certs::new();
    let root = certs.client("root");
    let tls = certs.client_tls(&root);
    let options = NodeOptions::https(tls.clone())
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"]);
    let node = Node::start_with(target, options).await;
    assert!(node.client_url().starts_with("https://"));
    let args = http::tls_args(Some(&tls));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let put = json!({"key": "Zm9v", "value": "YmFy"});
    assert_eq!(
        call_with(&node, "/v3/kv/put", put, &args).await,
        json!({"header": {"revision": "2"}})
    );
    let range = call_with(&node, "/v3/kv/range", json!({"key": "Zm9v"}), &args).await;
    assert_eq!(range["kvs"][0]["value"], "YmFy");
    let url = format!("{}/v3/watch", node.client_url());
    let mut watch = Stream::post(&url, r#"{"create_request":{"key":"Zm9v"}}"#, &args).await;
    assert_eq!(
        normalise(watch.next_json().await),
        json!({"result": {"header": {"revision": "2"}, "created": true}})
    );
    // Without a client certificate the handshake is refused: curl fails.
    let refused = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-X",
            "POST",
            "-d",
            "{}",
            "--cacert",
        ])
        .arg(&certs.ca)
        .arg(format!("{}/v3/kv/range", node.client_url()))
        .output()
        .await
        .expect("run curl");
    assert!(
        !refused.status.success(),
        "a client without certificate got in"
    );
    eventually(Duration::from_secs(10), "the refusal is logged", || async {
        (!node.log_entries(common::REJECTED_MSG).is_empty()).then_some(())
    })
    .await;
});

// `--enable-grpc-gateway=false`: the gateway's paths are Go's 404 like any
// other unknown path; the rest of the HTTP side stays.
both!(gateway_off, |target| async move {
    let node = Node::start(target, &["--enable-grpc-gateway=false"]).await;
    let url = |path: &str| format!("{}{path}", node.client_url());
    for path in ["/v3/kv/put", "/v3beta/kv/range", "/v3/nope"] {
        let answer = post(&url(path), r#"{"key":"Zm9v"}"#, &[]).await;
        assert_text(&answer, 404, "404 page not found\n");
    }
    let health = http::curl(&url("/health"), &[]).await;
    assert_eq!(health.status, 200, "{}", health.body);
});

/// `--listen-client-http-urls` (etcd 3.5; Debian's 3.4.23 has no such
/// flag, so this runs on etcd-rs only): HTTP — the gateway, health — moves
/// to those listeners, and the client URLs serve gRPC only (an HTTP request
/// there gets Go's 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_http_listeners_etcd_rs() {
    let port = common::free_port();
    let http_url = format!("http://127.0.0.1:{port}");
    let options = NodeOptions::new().args(&[format!("--listen-client-http-urls={http_url}")]);
    let node = Node::start_with(Target::EtcdRs, options).await;
    let put = eventually(
        Duration::from_secs(10),
        "the HTTP listener serves",
        || async {
            let answer = http::post_json(
                &format!("{http_url}/v3/kv/put"),
                &json!({"key": "Zm9v", "value": "YmFy"}),
                &[],
            )
            .await;
            (answer.status == 200).then_some(answer)
        },
    )
    .await;
    assert_eq!(ok_json("put", &put), json!({"header": {"revision": "2"}}));
    let health = http::curl(&format!("{http_url}/health"), &[]).await;
    assert_eq!(health.status, 200, "{}", health.body);
    // The client URL: gRPC (etcdctl) yes, HTTP no.
    let on_client = post(&format!("{}/v3/kv/range", node.client_url()), "{}", &[]).await;
    assert_text(&on_client, 404, "404 page not found\n");
    let got = common::etcdctl(&node, &["get", "foo", "--print-value-only"]).await;
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "bar");
}
