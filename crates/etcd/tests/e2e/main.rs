//! The end-to-end suite: every test here starts the real `etcd` binary (and,
//! for comparison, Debian's etcd 3.4.23) on loopback and drives it with real
//! clients. One test binary rather than one per file, so a clean build links
//! the server and its clients once instead of forty times.
//!
//! Run one area with a name filter, e.g. `cargo test -p etcd --test e2e tls::`.

#[macro_use]
mod common;

mod auth_clients;
mod auto_compaction;
mod cluster;
mod cluster_auth;
mod cluster_failover;
mod cluster_forwarding;
mod cluster_grow;
mod cluster_leader_change;
mod cluster_membership;
mod cluster_membership_edges;
mod cluster_partition;
mod cluster_restart;
mod cluster_snapshot;
mod crash;
mod disk_full;
mod etcd36_flags;
mod etcdctl_auth;
mod etcdctl_auth_enforced;
mod etcdctl_cluster;
mod etcdctl_kv;
mod etcdctl_lease;
mod etcdctl_lock;
mod etcdctl_ours;
mod etcdctl_watch;
mod etcdutl_offline;
mod go_clientv3;
mod go_coordination;
mod grpc_auth;
mod grpc_bad_input;
mod grpc_errors;
mod grpc_kv;
mod grpc_lease;
mod grpc_lock;
mod grpc_txn;
mod grpc_watch;
mod http2_streams;
mod http_gateway;
mod http_health;
mod http_metrics;
mod maintenance;
mod python_etcd3;
mod quota;
mod restart;
mod snapshot_interop;
mod snapshot_restore;
mod tls;
mod tls_clients;
mod tls_cluster;
