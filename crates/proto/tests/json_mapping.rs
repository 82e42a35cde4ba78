//! protobuf's JSON mapping of the client API, as etcd's gateway writes and
//! reads it (grpc-gateway v1's marshaler; every expected text below was read
//! from etcd 3.4.23's gateway): the .proto field names, 64-bit integers as
//! strings, bytes as standard base64, enum value names, fields at their
//! default left out; on input, numbers or strings for integers, the
//! lowerCamelCase names too, unknown fields ignored.

use etcd_proto::etcdserverpb::{
    compare, Compare, PutRequest, RangeRequest, ResponseHeader, StatusResponse, WatchResponse,
};
use etcd_proto::mvccpb::{event::EventType, Event, KeyValue};
use serde_json::json;

#[test]
fn a_put_request_reads_as_the_gateway_reads_it() {
    let put: PutRequest = serde_json::from_str(
        r#"{"key":"Zm9v","value":"YmFy","lease":"7","prev_kv":true,"nope":1}"#,
    )
    .unwrap();
    assert_eq!(
        put,
        PutRequest {
            key: b"foo".to_vec(),
            value: b"bar".to_vec(),
            lease: 7,
            prev_kv: true,
            ..PutRequest::default()
        }
    );
    let range: RangeRequest =
        serde_json::from_str(r#"{"key":"Zm9v","rangeEnd":"Zm9w","limit":2}"#).unwrap();
    assert_eq!((range.range_end, range.limit), (b"fop".to_vec(), 2));
    let empty: PutRequest = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, PutRequest::default());
}

#[test]
fn responses_write_as_the_gateway_writes_them() {
    let header = ResponseHeader {
        cluster_id: 14841639068965178418,
        member_id: 10276657743932975437,
        revision: 2,
        raft_term: 3,
    };
    let status = StatusResponse {
        header: Some(header),
        version: "3.5.0".to_string(),
        db_size: 20480,
        leader: 1,
        raft_index: 4,
        raft_term: 3,
        ..StatusResponse::default()
    };
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({
            "header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
                       "revision": "2", "raft_term": "3"},
            "version": "3.5.0", "dbSize": "20480", "leader": "1", "raftIndex": "4", "raftTerm": "3",
        })
    );
    let compare = Compare {
        result: compare::CompareResult::Greater as i32,
        target: compare::CompareTarget::Mod as i32,
        key: b"k".to_vec(),
        ..Compare::default()
    };
    assert_eq!(
        serde_json::to_value(&compare).unwrap(),
        json!({"result": "GREATER", "target": "MOD", "key": "aw=="})
    );
}

#[test]
fn a_watch_response_writes_its_events() {
    let put = Event {
        kv: Some(KeyValue {
            key: b"foo".to_vec(),
            value: b"bar".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            lease: 0,
        }),
        ..Event::default()
    };
    let delete = Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue {
            key: b"foo".to_vec(),
            mod_revision: 3,
            ..KeyValue::default()
        }),
        ..Event::default()
    };
    let response = WatchResponse {
        header: Some(ResponseHeader {
            revision: 3,
            ..ResponseHeader::default()
        }),
        events: vec![put, delete],
        ..WatchResponse::default()
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({
            "header": {"revision": "3"},
            "events": [
                {"kv": {"key": "Zm9v", "create_revision": "2", "mod_revision": "2", "version": "1", "value": "YmFy"}},
                {"type": "DELETE", "kv": {"key": "Zm9v", "mod_revision": "3"}},
            ],
        })
    );
    let created = WatchResponse {
        created: true,
        watch_id: 0,
        ..WatchResponse::default()
    };
    assert_eq!(
        serde_json::to_value(&created).unwrap(),
        json!({"created": true})
    );
}
