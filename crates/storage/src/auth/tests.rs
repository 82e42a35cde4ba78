//! The auth store end to end on a real backend: changes applied through
//! batches, then requests judged at apply and on read views, with etcd's
//! refusals; the caches follow commits.

use etcd_proto::authpb::permission::Type;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdserverpb::*;
use etcd_proto::raftpb::auth_change::Change;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::{AuthChange, Authenticate, Caller, RaftRequest};

use crate::auth::AuthEvent;
use crate::request::Needs;
use crate::test_util::*;
use crate::{ApplyError, ApplyResponse};

fn auth(change: Change) -> Request {
    Request::Auth(AuthChange {
        change: Some(change),
    })
}

fn caller(user: &str, revision: u64) -> Caller {
    Caller {
        username: user.into(),
        auth_revision: revision,
        member: false,
    }
}

/// Applies `req` from `caller` in a batch of its own at raft `index`.
fn apply_as(
    s: &Store,
    caller: Option<Caller>,
    index: u64,
    req: Request,
) -> Result<ApplyResponse, ApplyError> {
    let mut batch = s.backend.begin_apply().unwrap();
    let r = batch.apply_at(
        index,
        &RaftRequest {
            request: Some(req),
            id: 0,
            caller,
        },
    );
    batch.commit(false).unwrap();
    r
}

/// root (with the root role), alice with readwrite on `/app/`, auth on.
fn store_with_auth() -> Store {
    let s = Store::new();
    for change in [
        Change::UserAdd(AuthUserAddRequest {
            name: "root".into(),
            hashed_password: "x".into(),
            ..Default::default()
        }),
        Change::UserGrantRole(AuthUserGrantRoleRequest {
            user: "root".into(),
            role: "root".into(),
        }),
        Change::RoleAdd(AuthRoleAddRequest { name: "app".into() }),
        Change::RoleGrantPermission(AuthRoleGrantPermissionRequest {
            name: "app".into(),
            perm: Some(Permission {
                perm_type: Type::Readwrite as i32,
                key: b"/app/".to_vec(),
                range_end: b"/app0".to_vec(),
            }),
        }),
        Change::UserAdd(AuthUserAddRequest {
            name: "alice".into(),
            hashed_password: "x".into(),
            ..Default::default()
        }),
        Change::UserGrantRole(AuthUserGrantRoleRequest {
            user: "alice".into(),
            role: "app".into(),
        }),
    ] {
        s.apply(auth(change)).unwrap();
    }
    assert!(!s.backend.auth_maybe_enabled());
    s.apply(auth(Change::Enable(AuthEnableRequest {}))).unwrap();
    assert!(s.backend.auth_maybe_enabled());
    s
}

#[test]
fn writes_are_judged_by_their_caller_at_apply() {
    let s = store_with_auth();
    let rev = s.backend.auth_revision();
    assert_eq!(rev, 7);
    let put = |key: &str| Request::Put(put_req(key, "v"));
    assert!(apply_as(&s, Some(caller("alice", rev)), 0, put("/app/a")).is_ok());
    assert!(matches!(
        apply_as(&s, Some(caller("alice", rev)), 0, put("/etc")),
        Err(ApplyError::PermissionDenied)
    ));
    assert!(matches!(
        apply_as(&s, None, 0, put("/app/a")),
        Err(ApplyError::UserEmpty)
    ));
    assert!(apply_as(&s, Some(caller("root", rev)), 0, put("/etc")).is_ok());
    // An auth change by a non-root user is refused before it applies.
    assert!(matches!(
        apply_as(
            &s,
            Some(caller("alice", rev)),
            0,
            auth(Change::RoleAdd(AuthRoleAddRequest { name: "x".into() }))
        ),
        Err(ApplyError::PermissionDenied)
    ));
    // A revoke raises the revision: alice's earlier identity is too old.
    apply_as(
        &s,
        Some(caller("root", rev)),
        0,
        auth(Change::RoleRevokePermission(
            AuthRoleRevokePermissionRequest {
                role: "app".into(),
                key: b"/app/".to_vec(),
                range_end: b"/app0".to_vec(),
            },
        )),
    )
    .unwrap();
    assert_eq!(s.backend.auth_revision(), rev + 1);
    assert!(matches!(
        apply_as(&s, Some(caller("alice", rev)), 0, put("/app/a")),
        Err(ApplyError::AuthOldRevision)
    ));
    assert!(matches!(
        apply_as(&s, Some(caller("alice", rev + 1)), 0, put("/app/a")),
        Err(ApplyError::PermissionDenied)
    ));
}

#[test]
fn a_lease_revoke_needs_write_on_its_keys() {
    let s = store_with_auth();
    let rev = s.backend.auth_revision();
    let root = Some(caller("root", rev));
    apply_as(
        &s,
        root.clone(),
        0,
        Request::LeaseGrant(LeaseGrantRequest { ttl: 60, id: 7 }),
    )
    .unwrap();
    let leased = |key: &str| {
        Request::Put(PutRequest {
            lease: 7,
            ..put_req(key, "v")
        })
    };
    apply_as(&s, root.clone(), 0, leased("/app/a")).unwrap();
    let revoke = || Request::LeaseRevoke(LeaseRevokeRequest { id: 7 });
    apply_as(&s, root.clone(), 0, leased("/etc")).unwrap();
    // Attaching to a lease needs write on the lease's keys too.
    assert!(matches!(
        apply_as(&s, Some(caller("alice", rev)), 0, leased("/app/b")),
        Err(ApplyError::PermissionDenied)
    ));
    assert!(matches!(
        apply_as(&s, Some(caller("alice", rev)), 0, revoke()),
        Err(ApplyError::PermissionDenied)
    ));
    // The member's own expiry passes.
    let member = Caller {
        member: true,
        ..Caller::default()
    };
    assert!(apply_as(&s, Some(member), 0, revoke()).is_ok());
}

#[test]
fn reads_are_judged_by_the_view() {
    let s = store_with_auth();
    let rev = s.backend.auth_revision();
    let view = s.backend.read().unwrap();
    let range = range_req("/app/", "/app0");
    assert!(view
        .authorize(Some(&caller("alice", rev)), || Needs::range(&range))
        .is_ok());
    let all = range_req("/", "\0");
    assert!(matches!(
        view.authorize(Some(&caller("alice", rev)), || Needs::range(&all)),
        Err(ApplyError::PermissionDenied)
    ));
    assert!(matches!(
        view.authorize(Some(&caller("alice", rev)), Needs::admin),
        Err(ApplyError::PermissionDenied)
    ));
    assert!(view
        .authorize(Some(&caller("root", 0)), Needs::admin)
        .is_ok());
    // Auth off: nothing is judged, and the hint says so after the commit.
    apply_as(
        &s,
        Some(caller("root", rev)),
        0,
        auth(Change::Disable(AuthDisableRequest {})),
    )
    .unwrap();
    assert!(!s.backend.auth_maybe_enabled());
    let view = s.backend.read().unwrap();
    assert!(view.authorize(None, || Needs::range(&all)).is_ok());
}

#[test]
fn authenticate_assigns_a_token_with_its_index() {
    let s = store_with_auth();
    let login = |name: &str| {
        auth(Change::Authenticate(Authenticate {
            name: name.into(),
            simple_token: "abc".into(),
        }))
    };
    let mut batch = s.backend.begin_apply().unwrap();
    let r = batch.apply_at(
        42,
        &RaftRequest {
            request: Some(login("alice")),
            id: 0,
            caller: None,
        },
    );
    let committed = batch.commit(false).unwrap();
    match r.unwrap() {
        ApplyResponse::Authenticated {
            token,
            auth_revision,
            ..
        } => {
            assert_eq!(token.as_deref(), Some("abc.42"));
            assert_eq!(auth_revision, s.backend.auth_revision());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        committed.auth_events,
        [AuthEvent::Authenticated {
            user: "alice".into(),
            token: Some("abc.42".into())
        }]
    );
    assert!(matches!(
        apply_as(&s, None, 43, login("nobody")),
        Err(ApplyError::AuthFailed)
    ));
}
