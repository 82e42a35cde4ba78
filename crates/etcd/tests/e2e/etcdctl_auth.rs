//! Users, roles and permissions driven through the real `etcdctl` (API
//! v3): `user add/get/list/passwd/grant-role/revoke-role/delete`, `role
//! add/get/list/grant-permission/revoke-permission/delete`, the outputs
//! etcdctl prints for each and the errors for what does not exist, is
//! already there or is not granted; the data survives a restart (it is
//! replicated state, not memory); and AuthEnable refuses a store without
//! a `root` user, or with one lacking the `root` role, as etcd does (what
//! auth enforces once on is `etcdctl_auth_enforced.rs`'s).

use crate::common;

use common::cluster::Cluster;
use common::{etcdctl_ok, etcdctl_stdin, Node};

/// etcdctl's last stderr line for a failed command.
async fn fails(node: &Node, args: &[&str]) -> String {
    common::etcdctl_fails(node, args).await
}

both!(users_and_roles_round_trip, |target| async move {
    let mut node = Node::start(target, &[]).await;
    assert_eq!(
        etcdctl_ok(&node, &["user", "add", "alice:secret"]).await,
        "User alice created\n"
    );
    assert_eq!(
        fails(&node, &["user", "add", "alice:other"]).await,
        "Error: etcdserver: user name already exists"
    );
    assert_eq!(
        etcdctl_ok(&node, &["role", "add", "reader"]).await,
        "Role reader created\n"
    );
    assert_eq!(
        fails(&node, &["role", "add", "reader"]).await,
        "Error: etcdserver: role name already exists"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &[
                "role",
                "grant-permission",
                "reader",
                "read",
                "/app/",
                "--prefix"
            ]
        )
        .await,
        "Role reader updated\n"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &["role", "grant-permission", "reader", "readwrite", "/one"]
        )
        .await,
        "Role reader updated\n"
    );
    // A second grant over the same key changes the permission's type.
    assert_eq!(
        etcdctl_ok(
            &node,
            &["role", "grant-permission", "reader", "write", "/one"]
        )
        .await,
        "Role reader updated\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["role", "get", "reader"]).await,
        "Role reader\nKV Read:\n\t[/app/, /app0) (prefix /app/)\nKV Write:\n\t/one\n"
    );
    assert_eq!(
        fails(&node, &["user", "grant-role", "alice", "nobody"]).await,
        "Error: etcdserver: role name not found"
    );
    assert_eq!(
        fails(&node, &["user", "grant-role", "bob", "reader"]).await,
        "Error: etcdserver: user name not found"
    );
    assert_eq!(
        etcdctl_ok(&node, &["user", "grant-role", "alice", "reader"]).await,
        "Role reader is granted to user alice\n"
    );
    // Granted twice: etcd answers success and changes nothing.
    assert_eq!(
        etcdctl_ok(&node, &["user", "grant-role", "alice", "reader"]).await,
        "Role reader is granted to user alice\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["user", "get", "alice"]).await,
        "User: alice\nRoles: reader\n"
    );
    etcdctl_ok(&node, &["user", "add", "bob:pw"]).await;
    etcdctl_ok(&node, &["role", "add", "writer"]).await;
    assert_eq!(etcdctl_ok(&node, &["user", "list"]).await, "alice\nbob\n");
    assert_eq!(
        etcdctl_ok(&node, &["role", "list"]).await,
        "reader\nwriter\n"
    );

    // Replicated state: all of it is there after a restart.
    node.restart().await;
    assert_eq!(
        etcdctl_ok(&node, &["user", "get", "alice"]).await,
        "User: alice\nRoles: reader\n"
    );
    assert_eq!(etcdctl_ok(&node, &["user", "list"]).await, "alice\nbob\n");

    assert_eq!(
        fails(&node, &["role", "revoke-permission", "reader", "/nope"]).await,
        "Error: etcdserver: permission is not granted to the role"
    );
    assert_eq!(
        etcdctl_ok(
            &node,
            &["role", "revoke-permission", "reader", "/app/", "--prefix"]
        )
        .await,
        "Permission of range [/app/, /app0) is revoked from role reader\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["role", "revoke-permission", "reader", "/one"]).await,
        "Permission of key /one is revoked from role reader\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["role", "get", "reader"]).await,
        "Role reader\nKV Read:\nKV Write:\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["user", "revoke-role", "alice", "reader"]).await,
        "Role reader is revoked from user alice\n"
    );
    assert_eq!(
        fails(&node, &["user", "revoke-role", "alice", "reader"]).await,
        "Error: etcdserver: role is not granted to the user"
    );
    // Deleting a role takes it from every user holding it.
    etcdctl_ok(&node, &["user", "grant-role", "bob", "writer"]).await;
    assert_eq!(
        etcdctl_ok(&node, &["role", "delete", "writer"]).await,
        "Role writer deleted\n"
    );
    assert_eq!(
        etcdctl_ok(&node, &["user", "get", "bob"]).await,
        "User: bob\nRoles:\n"
    );
    assert_eq!(
        fails(&node, &["role", "get", "writer"]).await,
        "Error: etcdserver: role name not found"
    );
    assert_eq!(
        etcdctl_ok(&node, &["user", "delete", "alice"]).await,
        "User alice deleted\n"
    );
    assert_eq!(
        fails(&node, &["user", "get", "alice"]).await,
        "Error: etcdserver: user name not found"
    );
    assert_eq!(
        fails(&node, &["user", "delete", "alice"]).await,
        "Error: etcdserver: user name not found"
    );
});

both!(auth_enable_needs_root_with_root_role, |target| async move {
    let node = Node::start(target, &[]).await;
    assert_eq!(
        fails(&node, &["auth", "enable"]).await,
        "Error: etcdserver: root user does not exist"
    );
    etcdctl_ok(&node, &["user", "add", "root:rootpw"]).await;
    // etcdctl answers this refusal itself (it adds the root role, grants it
    // and enables again), so the bare RPC shows it.
    let mut client = node.client().await;
    match client.auth_enable().await {
        Err(etcd_client::Error::GRpcStatus(status)) => {
            assert_eq!(status.code(), tonic::Code::FailedPrecondition);
            assert_eq!(
                status.message(),
                "etcdserver: root user does not have root role"
            );
        }
        other => panic!("AuthEnable without the root role: {other:?}"),
    }
    // Auth stays off, so requests need no credentials.
    assert_eq!(etcdctl_ok(&node, &["put", "k", "v"]).await, "OK\n");
});

both!(
    passwd_reads_the_new_password_from_stdin,
    |target| async move {
        let node = Node::start(target, &[]).await;
        etcdctl_ok(&node, &["user", "add", "carol:first"]).await;
        let output = etcdctl_stdin(
            &node,
            &["user", "passwd", "carol", "--interactive=false"],
            "second\n",
        )
        .await;
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "Password updated\n"
        );
    }
);

both!(auth_changes_reach_every_member, |target| async move {
    let cluster = Cluster::start(target, 3, &[]).await;
    etcdctl_ok(cluster.member(0), &["user", "add", "dave:pw"]).await;
    etcdctl_ok(cluster.member(1), &["role", "add", "ops"]).await;
    etcdctl_ok(cluster.member(2), &["user", "grant-role", "dave", "ops"]).await;
    // Lookups are linearizable: each member answers with every change.
    for i in 0..3 {
        assert_eq!(
            etcdctl_ok(cluster.member(i), &["user", "get", "dave"]).await,
            "User: dave\nRoles: ops\n",
            "member {i}"
        );
    }
});
