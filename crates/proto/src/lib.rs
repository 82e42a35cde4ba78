//! etcd's gRPC wire types and service stubs, generated at build time from our
//! own .proto files under `proto/` (wire-identical to etcd 3.5's; see
//! `tests/wire_compat.rs`, which checks them against etcd's own files).
//!
//! Layout, one module per protobuf package:
//! - [`mvccpb`]: stored key-values and watch events.
//! - [`authpb`]: users, roles, permissions.
//! - [`etcdserverpb`]: the client API: KV, Watch, Lease, Cluster, Maintenance
//!   and Auth messages, with a `*_client` and `*_server` module per service
//!   (e.g. [`etcdserverpb::kv_server::KvServer`]).
//! - [`v3lockpb`], [`v3electionpb`]: the Lock and Election services.
//! - [`raftpb`]: etcd-rs's own Raft entry payload (package `etcdrs.raftpb`),
//!   not part of etcd's API.
//!
//! - [`go_status`]: a gRPC status as grpc-go renders it in text, which etcd
//!   puts on the wire and prints.
//!
//! This crate owns only the wire format. It holds no behaviour: validation,
//! defaults and error mapping belong to the server.

/// The encoded `FileDescriptorSet` of every file above, with source info; for
/// gRPC reflection and for tests that inspect the schema.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/etcd_file_descriptor_set.bin"));

/// Package `mvccpb`: `KeyValue` and watch `Event`.
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}

/// Package `authpb`: stored users, roles and permissions.
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}

/// Package `etcdserverpb`: the etcd v3 client API.
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
    pub use crate::watch_response::{encode_event, WatchResponse};
}

mod watch_response;

pub mod go_status;

/// Package `v3lockpb`: the Lock service.
pub mod v3lockpb {
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.rs"));
}

/// Package `v3electionpb`: the Election service.
pub mod v3electionpb {
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.rs"));
}

/// Package `etcdrs`: holds `raftpb`. Kept private because the generated code
/// of a two-segment package reaches sibling packages through
/// `super::super::`, so it must sit two levels deep; users see it as
/// [`raftpb`].
mod etcdrs {
    /// Package `etcdrs.raftpb`: what one Raft log entry carries.
    pub mod raftpb {
        include!(concat!(env!("OUT_DIR"), "/etcdrs.raftpb.rs"));
    }
}
pub use etcdrs::raftpb;
