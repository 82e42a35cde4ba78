//! Compiles our .proto files with protox (pure Rust, no system `protoc`)
//! and generates prost messages plus tonic clients and servers for them.
//! Also saves the encoded FileDescriptorSet for gRPC reflection and tests.

use std::env;
use std::error::Error;
use std::fs;
use std::path::PathBuf;

use protox::prost::Message;

/// Where our .proto files live, relative to this crate; also the import root.
const PROTO_ROOT: &str = "proto";

/// The files to compile; their imports are pulled in automatically.
const PROTO_FILES: &[&str] = &[
    "etcd/mvccpb/kv.proto",
    "etcd/authpb/auth.proto",
    "etcd/etcdserverpb/rpc.proto",
    "etcd/v3lockpb/v3lock.proto",
    "etcd/v3electionpb/v3election.proto",
    "etcdrs/raftpb/entry.proto",
    "etcdrs/raftpb/peer.proto",
    "etcdrs/raftpb/lease_peer.proto",
];

/// Name of the encoded FileDescriptorSet in OUT_DIR; `src/lib.rs` includes it.
const DESCRIPTOR_FILE: &str = "etcd_file_descriptor_set.bin";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    // A directory here makes cargo watch every file beneath it.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let fds = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    fs::write(out_dir.join(DESCRIPTOR_FILE), fds.encode_to_vec())?;

    // One generated file per package, named after it (`etcdserverpb.rs`,
    // `etcdrs.raftpb.rs`, ...); cross-package references use `super::`.
    tonic_prost_build::configure()
        // Hand-written, to send pre-encoded events (see its module).
        .extern_path(
            ".etcdserverpb.WatchResponse",
            "crate::watch_response::WatchResponse",
        )
        .build_client(true)
        .build_server(true)
        .compile_fds(fds.clone())?;

    // protobuf's JSON mapping for etcd's packages, as the gateway speaks it
    // (grpc-gateway v1's marshaler): the .proto field names, defaults left
    // out, unknown fields ignored. `*.serde.rs` beside each package's file.
    // WatchResponse is hand-written (above); its JSON form is too.
    pbjson_build::Builder::new()
        .register_descriptors(&fds.encode_to_vec())?
        .out_dir(&out_dir)
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .exclude([".etcdserverpb.WatchResponse"])
        .build(&[
            ".mvccpb",
            ".authpb",
            ".etcdserverpb",
            ".v3lockpb",
            ".v3electionpb",
        ])?;
    Ok(())
}
