//! The auth fixture of the auth tests (`grpc_auth.rs`, `auth_clients.rs`):
//! a store with `root` (role `root`) and `alice`, whose role `app` may read
//! and write the prefix `/app/`, and auth enabled; and clients logged in as
//! a user, or requests carrying a token given by hand ([`with_token`]).
//! The users and roles commands themselves are tested in
//! `etcdctl_auth.rs`, not here.

use std::time::Duration;

use etcd_client::{Client, Permission};

use super::Node;

pub const ROOT_PASSWORD: &str = "rootpw";
/// The restricted user, limited to [`ALICE_PREFIX`].
pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "alicepw";
/// What role `app` (alice's) may read and write, as a prefix.
pub const ALICE_PREFIX: &str = "/app/";

/// Adds `root` (with role `root`) and `alice` (role `app`: readwrite on the
/// prefix `/app/`) through `client`, then enables auth. The auth store's
/// revision goes from 1 to 8: each of the seven changes adds one, enabling
/// auth adds none. No key is written.
pub async fn enable_auth(client: &mut Client) {
    client
        .user_add("root", ROOT_PASSWORD, None)
        .await
        .expect("add root");
    client.role_add("root").await.expect("add role root");
    client
        .user_grant_role("root", "root")
        .await
        .expect("grant root");
    client
        .user_add(ALICE, ALICE_PASSWORD, None)
        .await
        .expect("add alice");
    client.role_add("app").await.expect("add role app");
    client
        .role_grant_permission("app", Permission::read_write(ALICE_PREFIX).with_prefix())
        .await
        .expect("grant /app/ to app");
    client
        .user_grant_role(ALICE, "app")
        .await
        .expect("grant app to alice");
    client.auth_enable().await.expect("enable auth");
}

/// A client of `node` logged in as `user` (etcd-client authenticates while
/// connecting and sends the token with every call), over the node's TLS
/// when its first listener is `https`.
pub async fn client_as(node: &Node, user: &str, password: &str) -> Client {
    let options = node
        .connect_options(Duration::from_secs(5), Duration::from_secs(10))
        .with_user(user, password);
    Client::connect([node.endpoint()], Some(options))
        .await
        .unwrap_or_else(|e| panic!("connect to {} as {user}: {e}", node.endpoint()))
}

/// `message` with `token` as its `token` metadata, as etcd's clients send
/// it: for the generated stubs of `etcd-proto`, which etcd-client's own
/// login does not drive.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("token", token.parse().expect("a token is ASCII"));
    request
}
