//! The gateway's paths: every gRPC call etcd's gateway serves, at the path
//! its `.proto` files give it (`POST /v3/kv/range`, ...), under both the
//! `/v3/` prefix and 3.4's `/v3beta/`, with the call's kind and how its
//! messages turn between JSON and protobuf.
//!
//! The conversions are two generic functions over the generated types (prost
//! for protobuf, pbjson's serde impls for JSON), instantiated once per call
//! in the table, so no message has code of its own here.

use etcd_proto::etcdserverpb as pb;
use etcd_proto::v3electionpb as election;
use etcd_proto::v3lockpb as lock;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::json_error;

/// How a call's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses (Snapshot, Observe).
    ServerStream,
    /// A stream each way (Watch, LeaseKeepAlive): the HTTP body holds one
    /// JSON request after another.
    Bidi,
}

/// One gateway path.
#[derive(Clone, Copy)]
pub struct Call {
    /// The gRPC method the path calls, e.g. `/etcdserverpb.KV/Range`.
    pub grpc_path: &'static str,
    pub kind: Kind,
    /// A JSON request to its protobuf encoding; the error is Go's wording.
    pub request: fn(&[u8]) -> Result<Vec<u8>, String>,
    /// A protobuf response to its JSON form.
    pub response: fn(&[u8]) -> Result<Vec<u8>, String>,
}

/// Decodes `json` as `T` (the gateway's reading of a request) and encodes it
/// as protobuf.
fn json_to_protobuf<T: DeserializeOwned + Message>(json: &[u8]) -> Result<Vec<u8>, String> {
    let request: T = json_error::decode(json)?;
    Ok(request.encode_to_vec())
}

/// Decodes `protobuf` as `T` and writes it as JSON.
fn protobuf_to_json<T: Serialize + Message + Default>(protobuf: &[u8]) -> Result<Vec<u8>, String> {
    let response = T::decode(protobuf).map_err(|e| e.to_string())?;
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}

macro_rules! call {
    ($kind:ident, $grpc:literal, $req:ty, $resp:ty) => {
        Call {
            grpc_path: $grpc,
            kind: Kind::$kind,
            request: json_to_protobuf::<$req>,
            response: protobuf_to_json::<$resp>,
        }
    };
}

/// The call at `path` (the whole URL path), if the gateway serves one there.
pub fn lookup(path: &str) -> Option<Call> {
    let rest = path
        .strip_prefix("/v3/")
        .or_else(|| path.strip_prefix("/v3beta/"))?;
    Some(match rest {
        "kv/range" => call!(
            Unary,
            "/etcdserverpb.KV/Range",
            pb::RangeRequest,
            pb::RangeResponse
        ),
        "kv/put" => call!(
            Unary,
            "/etcdserverpb.KV/Put",
            pb::PutRequest,
            pb::PutResponse
        ),
        "kv/deleterange" => call!(
            Unary,
            "/etcdserverpb.KV/DeleteRange",
            pb::DeleteRangeRequest,
            pb::DeleteRangeResponse
        ),
        "kv/txn" => call!(
            Unary,
            "/etcdserverpb.KV/Txn",
            pb::TxnRequest,
            pb::TxnResponse
        ),
        "kv/compaction" => call!(
            Unary,
            "/etcdserverpb.KV/Compact",
            pb::CompactionRequest,
            pb::CompactionResponse
        ),
        "watch" => call!(
            Bidi,
            "/etcdserverpb.Watch/Watch",
            pb::WatchRequest,
            pb::WatchResponse
        ),
        "lease/grant" => call!(
            Unary,
            "/etcdserverpb.Lease/LeaseGrant",
            pb::LeaseGrantRequest,
            pb::LeaseGrantResponse
        ),
        "lease/revoke" | "kv/lease/revoke" => call!(
            Unary,
            "/etcdserverpb.Lease/LeaseRevoke",
            pb::LeaseRevokeRequest,
            pb::LeaseRevokeResponse
        ),
        "lease/keepalive" => call!(
            Bidi,
            "/etcdserverpb.Lease/LeaseKeepAlive",
            pb::LeaseKeepAliveRequest,
            pb::LeaseKeepAliveResponse
        ),
        "lease/timetolive" | "kv/lease/timetolive" => call!(
            Unary,
            "/etcdserverpb.Lease/LeaseTimeToLive",
            pb::LeaseTimeToLiveRequest,
            pb::LeaseTimeToLiveResponse
        ),
        "lease/leases" | "kv/lease/leases" => call!(
            Unary,
            "/etcdserverpb.Lease/LeaseLeases",
            pb::LeaseLeasesRequest,
            pb::LeaseLeasesResponse
        ),
        "cluster/member/add" => call!(
            Unary,
            "/etcdserverpb.Cluster/MemberAdd",
            pb::MemberAddRequest,
            pb::MemberAddResponse
        ),
        "cluster/member/remove" => call!(
            Unary,
            "/etcdserverpb.Cluster/MemberRemove",
            pb::MemberRemoveRequest,
            pb::MemberRemoveResponse
        ),
        "cluster/member/update" => call!(
            Unary,
            "/etcdserverpb.Cluster/MemberUpdate",
            pb::MemberUpdateRequest,
            pb::MemberUpdateResponse
        ),
        "cluster/member/list" => call!(
            Unary,
            "/etcdserverpb.Cluster/MemberList",
            pb::MemberListRequest,
            pb::MemberListResponse
        ),
        "cluster/member/promote" => call!(
            Unary,
            "/etcdserverpb.Cluster/MemberPromote",
            pb::MemberPromoteRequest,
            pb::MemberPromoteResponse
        ),
        "maintenance/alarm" => call!(
            Unary,
            "/etcdserverpb.Maintenance/Alarm",
            pb::AlarmRequest,
            pb::AlarmResponse
        ),
        "maintenance/status" => call!(
            Unary,
            "/etcdserverpb.Maintenance/Status",
            pb::StatusRequest,
            pb::StatusResponse
        ),
        "maintenance/defragment" => call!(
            Unary,
            "/etcdserverpb.Maintenance/Defragment",
            pb::DefragmentRequest,
            pb::DefragmentResponse
        ),
        // etcd (3.4 and 3.5) gives HashKV this path too, and serves Hash
        // there: HashKV has no gateway path.
        "maintenance/hash" => call!(
            Unary,
            "/etcdserverpb.Maintenance/Hash",
            pb::HashRequest,
            pb::HashResponse
        ),
        "maintenance/snapshot" => call!(
            ServerStream,
            "/etcdserverpb.Maintenance/Snapshot",
            pb::SnapshotRequest,
            pb::SnapshotResponse
        ),
        "maintenance/transfer-leadership" => call!(
            Unary,
            "/etcdserverpb.Maintenance/MoveLeader",
            pb::MoveLeaderRequest,
            pb::MoveLeaderResponse
        ),
        "auth/enable" => call!(
            Unary,
            "/etcdserverpb.Auth/AuthEnable",
            pb::AuthEnableRequest,
            pb::AuthEnableResponse
        ),
        "auth/disable" => call!(
            Unary,
            "/etcdserverpb.Auth/AuthDisable",
            pb::AuthDisableRequest,
            pb::AuthDisableResponse
        ),
        // etcd 3.5's.
        "auth/status" => call!(
            Unary,
            "/etcdserverpb.Auth/AuthStatus",
            pb::AuthStatusRequest,
            pb::AuthStatusResponse
        ),
        "auth/authenticate" => call!(
            Unary,
            "/etcdserverpb.Auth/Authenticate",
            pb::AuthenticateRequest,
            pb::AuthenticateResponse
        ),
        "auth/user/add" => call!(
            Unary,
            "/etcdserverpb.Auth/UserAdd",
            pb::AuthUserAddRequest,
            pb::AuthUserAddResponse
        ),
        "auth/user/get" => call!(
            Unary,
            "/etcdserverpb.Auth/UserGet",
            pb::AuthUserGetRequest,
            pb::AuthUserGetResponse
        ),
        "auth/user/list" => call!(
            Unary,
            "/etcdserverpb.Auth/UserList",
            pb::AuthUserListRequest,
            pb::AuthUserListResponse
        ),
        "auth/user/delete" => call!(
            Unary,
            "/etcdserverpb.Auth/UserDelete",
            pb::AuthUserDeleteRequest,
            pb::AuthUserDeleteResponse
        ),
        "auth/user/changepw" => call!(
            Unary,
            "/etcdserverpb.Auth/UserChangePassword",
            pb::AuthUserChangePasswordRequest,
            pb::AuthUserChangePasswordResponse
        ),
        "auth/user/grant" => call!(
            Unary,
            "/etcdserverpb.Auth/UserGrantRole",
            pb::AuthUserGrantRoleRequest,
            pb::AuthUserGrantRoleResponse
        ),
        "auth/user/revoke" => call!(
            Unary,
            "/etcdserverpb.Auth/UserRevokeRole",
            pb::AuthUserRevokeRoleRequest,
            pb::AuthUserRevokeRoleResponse
        ),
        "auth/role/add" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleAdd",
            pb::AuthRoleAddRequest,
            pb::AuthRoleAddResponse
        ),
        "auth/role/get" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleGet",
            pb::AuthRoleGetRequest,
            pb::AuthRoleGetResponse
        ),
        "auth/role/list" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleList",
            pb::AuthRoleListRequest,
            pb::AuthRoleListResponse
        ),
        "auth/role/delete" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleDelete",
            pb::AuthRoleDeleteRequest,
            pb::AuthRoleDeleteResponse
        ),
        "auth/role/grant" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleGrantPermission",
            pb::AuthRoleGrantPermissionRequest,
            pb::AuthRoleGrantPermissionResponse
        ),
        "auth/role/revoke" => call!(
            Unary,
            "/etcdserverpb.Auth/RoleRevokePermission",
            pb::AuthRoleRevokePermissionRequest,
            pb::AuthRoleRevokePermissionResponse
        ),
        "lock/lock" => call!(
            Unary,
            "/v3lockpb.Lock/Lock",
            lock::LockRequest,
            lock::LockResponse
        ),
        "lock/unlock" => call!(
            Unary,
            "/v3lockpb.Lock/Unlock",
            lock::UnlockRequest,
            lock::UnlockResponse
        ),
        "election/campaign" => call!(
            Unary,
            "/v3electionpb.Election/Campaign",
            election::CampaignRequest,
            election::CampaignResponse
        ),
        "election/proclaim" => call!(
            Unary,
            "/v3electionpb.Election/Proclaim",
            election::ProclaimRequest,
            election::ProclaimResponse
        ),
        "election/leader" => call!(
            Unary,
            "/v3electionpb.Election/Leader",
            election::LeaderRequest,
            election::LeaderResponse
        ),
        "election/observe" => call!(
            ServerStream,
            "/v3electionpb.Election/Observe",
            election::LeaderRequest,
            election::LeaderResponse
        ),
        "election/resign" => call!(
            Unary,
            "/v3electionpb.Election/Resign",
            election::ResignRequest,
            election::ResignResponse
        ),
        _ => return None,
    })
}

/// Whether `path` lies under the gateway's prefixes, where an unknown call
/// gets the gateway's own 404 rather than Go's mux's.
pub fn is_under_gateway(path: &str) -> bool {
    path.starts_with("/v3/") || path.starts_with("/v3beta/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_prefixes_and_the_aliases_reach_the_same_calls() {
        for path in ["/v3/kv/range", "/v3beta/kv/range"] {
            assert_eq!(lookup(path).unwrap().grpc_path, "/etcdserverpb.KV/Range");
        }
        for path in ["/v3/lease/revoke", "/v3/kv/lease/revoke"] {
            assert_eq!(
                lookup(path).unwrap().grpc_path,
                "/etcdserverpb.Lease/LeaseRevoke"
            );
        }
        assert_eq!(lookup("/v3/watch").unwrap().kind, Kind::Bidi);
        assert_eq!(
            lookup("/v3/maintenance/snapshot").unwrap().kind,
            Kind::ServerStream
        );
        assert_eq!(
            lookup("/v3/maintenance/hash").unwrap().grpc_path,
            "/etcdserverpb.Maintenance/Hash"
        );
        for path in ["/v3alpha/kv/range", "/v3/kv/range/", "/v3/kv", "/kv/range"] {
            assert!(lookup(path).is_none(), "{path}");
        }
        assert!(is_under_gateway("/v3/nope") && !is_under_gateway("/v3alpha/kv/range"));
    }

    #[test]
    fn messages_turn_between_json_and_protobuf() {
        let call = lookup("/v3/kv/put").unwrap();
        let protobuf = (call.request)(br#"{"key":"Zm9v","value":"YmFy"}"#).unwrap();
        let put = pb::PutRequest::decode(protobuf.as_slice()).unwrap();
        assert_eq!(
            (put.key.as_slice(), put.value.as_slice()),
            (&b"foo"[..], &b"bar"[..])
        );
        let response = pb::PutResponse {
            header: Some(pb::ResponseHeader {
                revision: 2,
                ..Default::default()
            }),
            prev_kv: None,
        };
        let json = (call.response)(&response.encode_to_vec()).unwrap();
        assert_eq!(json, br#"{"header":{"revision":"2"}}"#);
    }
}
