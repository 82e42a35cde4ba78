//! The gRPC services, one file each, and the request checks they share.
//! Services that are not implemented yet (Watch, Lease, Auth, Lock, Election)
//! are not registered, so clients get `Unimplemented` for them.

pub mod cluster;
pub mod kv;
pub mod maintenance;
pub mod validate;
