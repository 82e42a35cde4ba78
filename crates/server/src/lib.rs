//! The etcd-rs server: one member's configuration, request pipeline and gRPC
//! services.
//!
//! Layout:
//! - [`config`]: etcd's flags, `ETCD_*` environment variables and
//!   `--config-file`; [`logging`]: etcd-style JSON logs.
//! - [`run`]: starting and stopping a member (milestone log lines, signals).
//! - [`member`] and [`ids`]: this member's identity (member and cluster ids);
//!   [`join`]: learning it from a running cluster (`--initial-cluster-state
//!   existing`).
//! - [`restore`]: a new cluster's data dir from a saved snapshot (`etcdutl`).
//! - [`server`]: [`server::EtcdServer`], the pipeline every request goes
//!   through (write: propose via Raft; read: ReadIndex then a backend
//!   snapshot) and the one place response headers are built.
//! - [`api`]: one file per gRPC service, plus request validation.
//! - [`auth`]: authorization rules (a user's merged key permissions).
//! - [`serve`]: the front door — what the client and peer listeners serve,
//!   the middleware (grpc-go's transport error wording, what a learner
//!   refuses), TLS from etcd's flags and the one peer dialer (connections
//!   themselves are `etcd_transport`'s).
//! - [`compactor`]: auto-compaction schedules; [`systemd`]: the readiness
//!   notice a `Type=notify` unit waits for.
//! - [`watch`]: the watch hub (every watcher; live fan-out of committed
//!   events, catch-up from storage for those behind), used by `api::watch`.
//! - [`lease`]: the lessor (expiry on the leader, keep-alives, TTL
//!   checkpoints), used by `api::lease`.
//! - [`concurrency`]: server-side Lock and Election recipes (etcd's key
//!   layout, waiting on deletes through the watch hub), used by `api::lock`
//!   and `api::election`.
//! - [`metrics`]: Prometheus `/metrics` under etcd's names (the server's
//!   own metrics, the gRPC ones, the text rendering).
//! - [`errors`]: etcd's client-visible errors and their gRPC statuses.
//!
//! A Put, end to end: `etcd_transport` accepts the connection (TLS, the
//! client certificate's CN) → `serve::client`'s middleware → `api::kv`
//! validates it → `EtcdServer::write` → `etcd_raft::RaftNode::propose`
//! (WAL append + fsync, commit) →
//! `etcd_storage` applies it in a redb transaction → the applied response
//! comes back with its revision → `EtcdServer::fill_header` → client; on the
//! apply thread the same commit reaches `watch::Hub::publish`, which hands
//! the event to every watcher of that key.

pub mod api;
pub mod auth;
pub mod compactor;
pub mod concurrency;
pub mod config;
pub mod errors;
pub mod ids;
pub mod join;
pub mod lease;
pub mod logging;
pub mod member;
pub mod metrics;
pub mod restore;
pub mod run;
pub mod serve;
pub mod server;
pub mod systemd;
pub mod watch;

/// The etcd server version we report (`Status.version`, `/version`): the etcd
/// API level etcd-rs implements.
pub const VERSION: &str = "3.5.0";

/// The cluster version, logged once the member serves.
pub const CLUSTER_VERSION: &str = "3.5";
