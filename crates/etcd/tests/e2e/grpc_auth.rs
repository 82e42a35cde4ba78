//! Auth enforcement over gRPC, with the etcd-client crate and, where a test
//! needs a token of its own choosing, the generated stubs of `etcd-proto`
//! sending a `token` metadata value by hand: Authenticate and its errors, the
//! exact codes and messages of anonymous and unpermitted requests (nested
//! txns included), what a token is worth after the auth store changed, a
//! watch on a range the user cannot read, simple tokens expiring
//! (`--auth-token-ttl`), JWT tokens (`--auth-token jwt,...`, RS256 and
//! ES256: their claims, and their refusal once the auth store moved on), and
//! users named by their client certificate (`--client-cert-auth`).
//!
//! Every store here is set up by `common::auth::enable_auth`: `root` (role
//! `root`) and `alice`, whose role `app` may read and write the prefix
//! `/app/`.
//!
//! The users and roles themselves (etcdctl's `user`/`role` commands) are in
//! `etcdctl_auth.rs`; the Go and Python clients logging in are in
//! `auth_clients.rs`.

use crate::common;

use std::time::{Duration, Instant};

use common::auth::{client_as, enable_auth, with_token, ALICE_PASSWORD, ROOT_PASSWORD};
use common::certs::{self, Certs, SigningAlgorithm};
use common::{assert_status, connect_options, Node, NodeOptions, Target};
use etcd_client::{
    Client, Compare, CompareOp, GetOptions, Permission, Txn, TxnOp, TxnOpResponse, WatchOptions,
    WatchResponse, WatchStream,
};
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{AuthStatusRequest, PutRequest, RangeRequest};
use serde_json::Value;
use tonic::transport::Channel;
use tonic::Code;

const INVALID_TOKEN: &str = "etcdserver: invalid auth token";
const NOT_ENABLED: &str = "etcdserver: authentication is not enabled";
const AUTH_FAILED: &str = "etcdserver: authentication failed, invalid user ID or password";
const USER_EMPTY: &str = "etcdserver: user name is empty";
const DENIED: &str = "etcdserver: permission denied";
const OLD_REVISION: &str = "etcdserver: revision of auth store is old";

/// A token for `user`, from Authenticate.
async fn token(node: &Node, user: &str, password: &str) -> String {
    node.client()
        .await
        .auth_client()
        .authenticate(user.to_string(), password.to_string())
        .await
        .unwrap_or_else(|e| panic!("authenticate {user}: {e}"))
        .token()
        .to_string()
}

/// The generated KV stub over a plain channel to `node`, for requests with a
/// token given by hand ([`with_token`]).
async fn raw_kv(node: &Node) -> KvClient<Channel> {
    let channel = Channel::from_shared(node.client_url())
        .expect("valid URL")
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect");
    KvClient::new(channel)
}

fn range(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.as_bytes().to_vec(),
        ..RangeRequest::default()
    }
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..PutRequest::default()
    }
}

/// The next response of a watch stream, within 10 s.
async fn next(stream: &mut WatchStream) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no watch response within 10 s")
        .expect("watch stream failed")
        .expect("watch stream ended")
}

/// Asserts a raw call failed with exactly this code and message.
fn assert_raw_status<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    message: &str,
) {
    match result {
        Ok(response) => panic!("expected {code:?} {message:?}, got {response:?}"),
        Err(status) => assert_eq!(
            (status.code(), status.message()),
            (code, message),
            "unexpected status {status:?}"
        ),
    }
}

// ---------------------------------------------------------------- tokens

both!(authenticate_returns_a_token, |target| async move {
    let node = Node::start(target, &[]).await;
    enable_auth(&mut node.client().await).await;
    let token = token(&node, "root", ROOT_PASSWORD).await;
    // etcd's simple token: 16 letters, a dot, the raft index of the login.
    let (prefix, index) = token
        .split_once('.')
        .unwrap_or_else(|| panic!("no dot in {token}"));
    assert!(
        prefix.len() == 16 && prefix.bytes().all(|b| b.is_ascii_alphabetic()),
        "{token}"
    );
    assert!(index.parse::<u64>().is_ok(), "{token}");

    let mut kv = raw_kv(&node).await;
    kv.put(with_token(put("k", "v"), &token))
        .await
        .expect("put with root's token");
    let got = kv
        .range(with_token(range("k"), &token))
        .await
        .expect("range with root's token")
        .into_inner();
    assert_eq!(got.count, 1);

    // Not a simple token; a suffix that is no index; an unknown prefix at a
    // past index. (etcd 3.4 makes a request whose token names a future
    // raft index wait until that index is applied.)
    for bogus in [
        "bogus",
        &format!("{token}x"),
        &format!("abcdefghijklmnop.{index}"),
    ] {
        assert_raw_status(
            kv.range(with_token(range("k"), bogus)).await,
            Code::Unauthenticated,
            INVALID_TOKEN,
        );
        assert_raw_status(
            kv.put(with_token(put("k", "w"), bogus)).await,
            Code::Unauthenticated,
            INVALID_TOKEN,
        );
    }
    // An empty token is a token too, and not a valid one.
    assert_raw_status(
        kv.range(with_token(range("k"), "")).await,
        Code::Unauthenticated,
        INVALID_TOKEN,
    );
});

both!(authenticate_errors, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client
        .user_add("root", ROOT_PASSWORD, None)
        .await
        .expect("add root");
    let mut auth = client.auth_client();
    assert_status(
        auth.authenticate("root".into(), ROOT_PASSWORD.into()).await,
        Code::FailedPrecondition,
        NOT_ENABLED,
    );
    client.user_delete("root").await.expect("delete root");
    enable_auth(&mut client).await;
    for (user, password) in [("root", "wrong"), ("alice", ""), ("nobody", "x")] {
        assert_status(
            auth.authenticate(user.into(), password.into()).await,
            Code::InvalidArgument,
            AUTH_FAILED,
        );
    }
    // etcd-client logs in while connecting, so the refusal ends the connect.
    let options = node
        .connect_options(Duration::from_secs(5), Duration::from_secs(10))
        .with_user("alice", "wrong");
    assert_status(
        Client::connect([node.endpoint()], Some(options))
            .await
            .map(|_| "connected"),
        Code::InvalidArgument,
        AUTH_FAILED,
    );
});

// ---------------------------------------------------------------- permissions

both!(anonymous_and_unpermitted_requests, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut anonymous = node.client().await;
    enable_auth(&mut anonymous).await;
    assert_status(
        anonymous.get("/app/x", None).await,
        Code::InvalidArgument,
        USER_EMPTY,
    );
    assert_status(
        anonymous.put("/app/x", "1", None).await,
        Code::InvalidArgument,
        USER_EMPTY,
    );

    let mut alice = client_as(&node, "alice", ALICE_PASSWORD).await;
    alice
        .put("/app/x", "1", None)
        .await
        .expect("alice writes /app/");
    let got = alice.get("/app/x", None).await.expect("alice reads /app/");
    assert_eq!(got.kvs()[0].value(), b"1");
    assert_status(
        alice.put("/other", "x", None).await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        alice.get("/other", None).await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        alice
            .get("/app/", Some(GetOptions::new().with_from_key()))
            .await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        alice.delete("/other", None).await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        alice
            .txn(Txn::new().and_then(vec![TxnOp::put("/other", "flat", None)]))
            .await,
        Code::PermissionDenied,
        DENIED,
    );
    // Both branches are judged, whichever the compare takes.
    assert_status(
        alice
            .txn(
                Txn::new()
                    .when(vec![Compare::version("/app/x", CompareOp::Greater, 0)])
                    .and_then(vec![TxnOp::put("/app/y", "1", None)])
                    .or_else(vec![TxnOp::put("/other", "else", None)]),
            )
            .await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        alice
            .txn(
                Txn::new()
                    .when(vec![Compare::version("/other", CompareOp::Equal, 0)])
                    .and_then(vec![TxnOp::put("/app/y", "1", None)]),
            )
            .await,
        Code::PermissionDenied,
        DENIED,
    );

    // etcd 3.4.23 does not look into a nested txn: its ops run unchecked,
    // so alice writes and reads a key outside her prefix through one. Later
    // etcd releases treat this as an RBAC bypass and check nested txns
    // (etcd-io/etcd#21689); etcd-rs does, deliberately, as they do.
    let nested = alice
        .txn(
            Txn::new().and_then(vec![TxnOp::txn(Txn::new().and_then(vec![
                TxnOp::put("/other", "nested", None),
                TxnOp::get("/other", None),
            ]))]),
        )
        .await;
    let mut root = client_as(&node, "root", ROOT_PASSWORD).await;
    let got = root.get("/other", None).await.expect("root reads /other");
    match target {
        Target::Reference => {
            let nested = nested.expect("etcd 3.4 lets a nested txn through");
            match &nested.op_responses()[0] {
                TxnOpResponse::Txn(inner) => match &inner.op_responses()[1] {
                    TxnOpResponse::Get(got) => assert_eq!(got.kvs()[0].value(), b"nested"),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
            assert_eq!(got.kvs()[0].value(), b"nested");
        }
        Target::EtcdRs => {
            assert_status(nested, Code::PermissionDenied, DENIED);
            assert!(got.kvs().is_empty(), "the nested put must not apply");
        }
    }
});

// AuthStatus came with etcd 3.5: the reference 3.4.23 has no such RPC.
// etcd-rs answers it as etcd 3.5.1 does (checked by hand against its
// binary and etcdctl 3.5.1): root only, with the auth revision (1 at the
// start, plus one per change: 8 after `enable_auth`'s seven).
both!(auth_status_is_root_only, |target| async move {
    let node = Node::start(target, &[]).await;
    enable_auth(&mut node.client().await).await;
    let root = token(&node, "root", ROOT_PASSWORD).await;
    let alice = token(&node, "alice", ALICE_PASSWORD).await;
    let channel = Channel::from_shared(node.client_url())
        .expect("valid URL")
        .connect()
        .await
        .expect("connect");
    let auth = AuthClient::new(channel);
    let status = |token: Option<&str>| {
        let mut auth = auth.clone();
        let request = match token {
            Some(token) => with_token(AuthStatusRequest {}, token),
            None => tonic::Request::new(AuthStatusRequest {}),
        };
        async move { auth.auth_status(request).await }
    };
    match target {
        Target::Reference => {
            let refused = status(Some(&root)).await.expect_err("no AuthStatus in 3.4");
            assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");
        }
        Target::EtcdRs => {
            let answer = status(Some(&root))
                .await
                .expect("root reads it")
                .into_inner();
            assert_eq!((answer.enabled, answer.auth_revision), (true, 8));
            assert_raw_status(status(Some(&alice)).await, Code::PermissionDenied, DENIED);
            assert_raw_status(status(None).await, Code::InvalidArgument, USER_EMPTY);
        }
    }
});

both!(tokens_after_an_auth_change, |target| async move {
    let node = Node::start(target, &[]).await;
    enable_auth(&mut node.client().await).await;
    let mut root = client_as(&node, "root", ROOT_PASSWORD).await;
    root.put("/extra", "e", None).await.expect("root writes");
    let alice_token = token(&node, "alice", ALICE_PASSWORD).await;
    let mut kv = raw_kv(&node).await;
    assert_raw_status(
        kv.range(with_token(range("/extra"), &alice_token)).await,
        Code::PermissionDenied,
        DENIED,
    );

    // A role change raises the auth revision; a simple token carries none,
    // so it is judged at the current one, with the new permission.
    root.role_grant_permission("app", Permission::read("/extra"))
        .await
        .expect("grant /extra to app");
    let got = kv
        .range(with_token(range("/extra"), &alice_token))
        .await
        .expect("the old simple token reads the newly granted key")
        .into_inner();
    assert_eq!(got.kvs[0].value, b"e");
    kv.put(with_token(put("/app/a", "1"), &alice_token))
        .await
        .expect("the old simple token still writes");

    // A new password ends the user's tokens.
    root.user_change_password("alice", "newpw")
        .await
        .expect("change alice's password");
    assert_raw_status(
        kv.range(with_token(range("/app/a"), &alice_token)).await,
        Code::Unauthenticated,
        INVALID_TOKEN,
    );
});

both!(
    watch_on_an_unreadable_range_is_canceled,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut anonymous = node.client().await;
        enable_auth(&mut anonymous).await;
        let mut alice = client_as(&node, "alice", ALICE_PASSWORD).await;
        let revision = common::rev(alice.put("/app/x", "1", None).await.unwrap().header());

        let mut stream = alice.watch("/other", None).await.expect("open a watch");
        let refused = next(&mut stream).await;
        assert_eq!(
            (
                refused.watch_id(),
                refused.created(),
                refused.canceled(),
                refused.cancel_reason(),
                refused.events().len(),
            ),
            (
                -1,
                true,
                true,
                "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
                0
            )
        );
        assert_eq!(common::rev(refused.header()), revision);
        // The stream serves the next, permitted watch, which gets the first id.
        stream
            .watch("/app/", Some(WatchOptions::new().with_prefix()))
            .await
            .expect("ask for a second watch");
        let created = next(&mut stream).await;
        assert_eq!(
            (created.watch_id(), created.created(), created.canceled()),
            (0, true, false)
        );
        alice.put("/app/y", "2", None).await.unwrap();
        let event = next(&mut stream).await;
        assert_eq!(event.events()[0].kv().unwrap().key(), b"/app/y");

        let mut stream = anonymous.watch("/app/", None).await.expect("open a watch");
        let refused = next(&mut stream).await;
        assert_eq!(
            (
                refused.watch_id(),
                refused.created(),
                refused.canceled(),
                refused.cancel_reason()
            ),
            (
                -1,
                true,
                true,
                "rpc error: code = InvalidArgument desc = etcdserver: user name is empty"
            )
        );
    }
);

// ---------------------------------------------------------------- expiry

/// `--auth-token-ttl` of the expiry test.
const EXPIRY_TTL: Duration = Duration::from_secs(2);
/// How many tokens it takes, one tried per [`EXPIRY_POLL`]: etcd drops an
/// expired simple token within a second of its TTL, so 6 s of polls cover
/// it.
const EXPIRY_TOKENS: u32 = 24;
const EXPIRY_POLL: Duration = Duration::from_millis(250);

both!(simple_token_expires, |target| async move {
    let ttl_flag = format!("--auth-token-ttl={}", EXPIRY_TTL.as_secs());
    let node = Node::start(target, &[&ttl_flag]).await;
    enable_auth(&mut node.client().await).await;
    // A simple token's TTL restarts whenever it is used, so polling one
    // token would keep it alive: each token is tried once, in the order
    // they were issued, until one is refused.
    let mut auth = node.client().await.auth_client();
    let mut kv = raw_kv(&node).await;
    let first_login = Instant::now();
    let mut tokens = Vec::new();
    for _ in 0..EXPIRY_TOKENS {
        let login = auth.authenticate("root".into(), ROOT_PASSWORD.into());
        tokens.push(login.await.expect("authenticate root").token().to_string());
        if tokens.len() == 1 {
            kv.range(with_token(range("k"), &tokens[0]))
                .await
                .expect("a new token is accepted");
        }
    }
    let issued = Instant::now();
    for (i, token) in (0..).zip(&tokens) {
        tokio::time::sleep_until((issued + EXPIRY_POLL * i).into()).await;
        let Err(status) = kv.range(with_token(range("k"), token)).await else {
            continue;
        };
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unauthenticated, INVALID_TOKEN),
            "{status:?}"
        );
        assert!(
            first_login.elapsed() >= EXPIRY_TTL,
            "a token expired {:?} after the first login",
            first_login.elapsed()
        );
        return;
    }
    panic!("no token expired within {:?}", first_login.elapsed());
});

// ---------------------------------------------------------------- JWT

/// A base64url (unpadded) JWT part, decoded.
fn base64url_decode(part: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("{:?} is not base64url in {part:?}", c as char),
        }
    };
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0);
    for c in part.bytes() {
        bits = (bits << 6) | value(c);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// A JWT's header and claims.
fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    assert!(!parts[2].is_empty(), "{token}");
    let json = |part: &str| {
        serde_json::from_slice::<Value>(&base64url_decode(part))
            .unwrap_or_else(|e| panic!("JWT part {part} is no JSON: {e}"))
    };
    (json(parts[0]), json(parts[1]))
}

/// The JWT flow for one signing algorithm: the token's header and claims,
/// its use, and its refusal once the auth store moved on.
async fn jwt_tokens(target: Target, algorithm: SigningAlgorithm) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = certs::signing_keys(dir.path(), "jwt", algorithm);
    let flag = format!(
        "--auth-token=jwt,pub-key={},priv-key={},sign-method={},ttl=10m",
        keys.public.display(),
        keys.private.display(),
        algorithm.name()
    );
    let node = Node::start(target, &[&flag]).await;
    enable_auth(&mut node.client().await).await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let alice_token = token(&node, "alice", ALICE_PASSWORD).await;
    let (header, claims) = jwt_parts(&alice_token);
    assert_eq!(
        header,
        serde_json::json!({"alg": algorithm.name(), "typ": "JWT"})
    );
    let mut names: Vec<&str> = claims
        .as_object()
        .expect("claims are an object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["exp", "revision", "username"], "{claims}");
    assert_eq!(claims["username"], "alice");
    let exp = claims["exp"].as_i64().expect("a numeric exp");
    assert!(
        (now + 600 - 5..=now + 600 + 5).contains(&exp),
        "exp {exp}, now {now}"
    );
    // The auth store's revision after `enable_auth` (see there).
    assert_eq!(claims["revision"], 8, "{claims}");

    let mut kv = raw_kv(&node).await;
    kv.put(with_token(put("/app/j", "1"), &alice_token))
        .await
        .expect("put with alice's JWT");
    kv.range(with_token(range("/app/j"), &alice_token))
        .await
        .expect("range with alice's JWT");
    assert_raw_status(
        kv.range(with_token(range("/other"), &alice_token)).await,
        Code::PermissionDenied,
        DENIED,
    );

    let mut root = client_as(&node, "root", ROOT_PASSWORD).await;
    root.role_grant_permission("app", Permission::read("/extra"))
        .await
        .expect("grant /extra to app");
    assert_raw_status(
        kv.range(with_token(range("/app/j"), &alice_token)).await,
        Code::InvalidArgument,
        OLD_REVISION,
    );
    assert_raw_status(
        kv.put(with_token(put("/app/j", "2"), &alice_token)).await,
        Code::InvalidArgument,
        OLD_REVISION,
    );
    // A token whose signature does not verify is no token of etcd's.
    let mut forged: Vec<&str> = alice_token.split('.').collect();
    forged[2] = "AAAA";
    assert_raw_status(
        kv.range(with_token(range("/app/j"), &forged.join(".")))
            .await,
        Code::Unauthenticated,
        INVALID_TOKEN,
    );

    let fresh = token(&node, "alice", ALICE_PASSWORD).await;
    let (_, claims) = jwt_parts(&fresh);
    assert_eq!(claims["revision"], 9, "{claims}");
    kv.range(with_token(range("/extra"), &fresh))
        .await
        .expect("a fresh JWT reads the newly granted key");
}

both!(jwt_rs256_tokens, |target| async move {
    jwt_tokens(target, SigningAlgorithm::Rs256).await;
});

both!(jwt_es256_tokens, |target| async move {
    jwt_tokens(target, SigningAlgorithm::Es256).await;
});

// ---------------------------------------------------------------- certificates

both!(client_certificate_names_the_user, |target| async move {
    let certs = Certs::new();
    let alice = certs.client("alice");
    let options = NodeOptions::https(certs.client_tls(&alice))
        .args(&certs.server_flags())
        .args(&["--client-cert-auth"]);
    let node = Node::start_with(target, options).await;
    // The harness's client presents alice's certificate and no token.
    let mut as_cert = node.client().await;
    enable_auth(&mut as_cert).await;
    as_cert
        .put("/app/cert", "1", None)
        .await
        .expect("alice's certificate writes /app/");
    let got = as_cert.get("/app/cert", None).await.expect("and reads it");
    assert_eq!(got.kvs()[0].value(), b"1");
    assert_status(
        as_cert.put("/other", "x", None).await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_status(
        as_cert.get("/other", None).await,
        Code::PermissionDenied,
        DENIED,
    );

    // A token, when given, wins over the certificate's name: root's token
    // over alice's certificate writes outside her prefix.
    let mut root = client_as(&node, "root", ROOT_PASSWORD).await;
    root.put("/other", "x", None)
        .await
        .expect("root's token writes anywhere");

    // A certificate naming no user is refused.
    let mallory = certs.client("mallory");
    let options = connect_options(
        Some(&certs.client_tls(&mallory)),
        Duration::from_secs(5),
        Duration::from_secs(10),
    );
    let mut unknown = Client::connect([node.endpoint()], Some(options))
        .await
        .expect("connect with mallory's certificate");
    assert_status(
        unknown.get("/app/cert", None).await,
        Code::PermissionDenied,
        DENIED,
    );
});
