//! The gRPC services, one file each, and the request checks they share.
//! RPCs a later issue implements answer `Unimplemented` ([`not_yet`]).

pub mod auth;
pub mod cluster;
pub mod election;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod validate;
pub mod watch;

/// The answer of an RPC whose service exists but which a later issue
/// implements.
pub(crate) fn not_yet(service: &str, rpc: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("etcd-rs: {service}.{rpc} is not implemented yet"))
}
