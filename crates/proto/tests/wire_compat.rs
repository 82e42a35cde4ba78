//! Wire compatibility with etcd. Parses etcd's own .proto files (Debian's
//! etcd 3.4.23 source, package `golang-etcd-server-dev`) and checks that our
//! `FILE_DESCRIPTOR_SET` declares every one of their messages, fields, enum
//! values and service methods identically. Ours may declare more only where
//! etcd 3.5 added to the API; those additions are listed in
//! [`ETCD_3_5_ADDITIONS`], so any other difference fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use protox::prost_reflect::{DescriptorPool, EnumDescriptor, FieldDescriptor, Kind};

/// etcd's protos import each other as `etcd/...`, relative to this folder.
const ETCD_IMPORT_ROOT: &str = "/usr/share/gocode/src/go.etcd.io";

/// etcd's files that define the client-facing packages.
const ETCD_FILES: &[&str] = &[
    "etcd/mvcc/mvccpb/kv.proto",
    "etcd/auth/authpb/auth.proto",
    "etcd/etcdserver/etcdserverpb/rpc.proto",
    "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
    "etcd/etcdserver/api/v3election/v3electionpb/v3election.proto",
];

/// The packages compared; anything else (gogoproto, google.*, our own
/// `etcdrs.raftpb`) is not part of etcd's client API.
const ETCD_PACKAGES: &[&str] = &[
    "mvccpb",
    "authpb",
    "etcdserverpb",
    "v3lockpb",
    "v3electionpb",
];

/// Folders where Debian installs the option-only files etcd's protos import
/// (`gogoproto/gogo.proto`, `google/api/annotations.proto`).
const SYSTEM_OPTION_ROOTS: &[&str] = &[
    "/usr/share/gocode/src/github.com/gogo/protobuf",
    "/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis",
    "/usr/include",
];

/// What our protos declare beyond etcd 3.4.23: the etcd 3.5 API additions,
/// nothing else. Each entry is in the form the comparison reports extras in.
const ETCD_3_5_ADDITIONS: &[&str] = &[
    "field etcdserverpb.AuthUserAddRequest.hashedPassword",
    "field etcdserverpb.AuthUserChangePasswordRequest.hashedPassword",
    "field etcdserverpb.MemberListRequest.linearizable",
    "message etcdserverpb.AuthStatusRequest",
    "message etcdserverpb.AuthStatusResponse",
    "message etcdserverpb.DowngradeRequest",
    "message etcdserverpb.DowngradeResponse",
    "enum etcdserverpb.DowngradeRequest.DowngradeAction",
    "method etcdserverpb.Auth/AuthStatus",
    "method etcdserverpb.Maintenance/Downgrade",
];

/// Minimal stand-ins for the imported option files: just the options etcd's
/// files set, so they parse when Debian's copies are missing. Options never
/// change the wire, so their exact shape does not matter here.
const STAND_IN_GOGO: &str = r#"
syntax = "proto2";
package gogoproto;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FileOptions {
  optional bool goproto_getters_all = 63001;
  optional bool goproto_enum_prefix_all = 63002;
  optional bool marshaler_all = 63017;
  optional bool unmarshaler_all = 63018;
  optional bool sizer_all = 63020;
}
"#;

const STAND_IN_ANNOTATIONS: &str = r#"
syntax = "proto3";
package google.api;
import "google/protobuf/descriptor.proto";
message HttpRule {
  oneof pattern {
    string get = 2;
    string put = 3;
    string post = 4;
    string delete = 5;
    string patch = 6;
  }
  string body = 7;
  repeated HttpRule additional_bindings = 11;
}
extend google.protobuf.MethodOptions {
  HttpRule http = 72295728;
}
"#;

/// Which copies of the option files to parse etcd's protos with.
#[derive(Clone, Copy)]
enum OptionFiles {
    /// Debian's copies where installed, stand-ins for any that are not.
    SystemFirst,
    /// Stand-ins only, so the fallback is known to work.
    StandInsOnly,
}

fn ours() -> DescriptorPool {
    DescriptorPool::decode(etcd_proto::FILE_DESCRIPTOR_SET).unwrap()
}

/// Parses etcd's own protos; panics with install advice if they are absent.
fn etcd(option_files: OptionFiles) -> (DescriptorPool, tempfile::TempDir) {
    let root = Path::new(ETCD_IMPORT_ROOT);
    let missing: Vec<&str> = ETCD_FILES
        .iter()
        .copied()
        .filter(|f| !root.join(f).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "etcd's .proto files are not installed (missing under {ETCD_IMPORT_ROOT}: {missing:?}). \
         This test compares our protos with etcd's own and cannot pass without them: \
         install Debian's golang-etcd-server-dev (`apt-get install -y golang-etcd-server-dev`; \
         the project's test command installs it)."
    );

    let stand_ins = write_stand_ins();
    let mut includes: Vec<PathBuf> = vec![root.to_path_buf()];
    if let OptionFiles::SystemFirst = option_files {
        includes.extend(
            SYSTEM_OPTION_ROOTS
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_dir()),
        );
    }
    // Last, so Debian's copies win wherever they exist.
    includes.push(stand_ins.path().to_path_buf());

    let mut compiler = protox::Compiler::new(includes).unwrap();
    compiler.include_imports(true);
    compiler
        .open_files(ETCD_FILES)
        .unwrap_or_else(|e| panic!("cannot parse etcd's protos: {e:?}"));
    (compiler.descriptor_pool(), stand_ins)
}

fn write_stand_ins() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("gogoproto/gogo.proto", STAND_IN_GOGO),
        ("google/api/annotations.proto", STAND_IN_ANNOTATIONS),
    ] {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn is_etcd_package(package: &str) -> bool {
    ETCD_PACKAGES.contains(&package)
}

/// Everything about a field that the wire or the generated API depends on.
fn field_signature(f: &FieldDescriptor) -> String {
    let kind = match f.kind() {
        Kind::Message(m) => format!("message {}", m.full_name()),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
        scalar => format!("{scalar:?}"),
    };
    format!(
        "#{} {} {:?} {} oneof={:?} packed={} presence={}",
        f.number(),
        f.name(),
        f.cardinality(),
        kind,
        f.containing_oneof().map(|o| o.name().to_owned()),
        f.is_packed(),
        f.supports_presence(),
    )
}

fn enum_values(e: &EnumDescriptor) -> BTreeMap<i32, String> {
    e.values()
        .map(|v| (v.number(), v.name().to_owned()))
        .collect()
}

/// What a comparison found.
#[derive(Default)]
struct Report {
    /// Declarations of etcd's that ours lacks or declares differently.
    mismatches: Vec<String>,
    /// Declarations only ours has, in `ETCD_3_5_ADDITIONS` form.
    extras: BTreeSet<String>,
    /// How much of etcd's schema was compared, as a guard against a
    /// comparison that passes because it looked at nothing.
    compared: usize,
}

fn compare(etcd: &DescriptorPool, ours: &DescriptorPool) -> Report {
    let mut r = Report::default();

    for theirs in etcd
        .all_messages()
        .filter(|m| is_etcd_package(m.package_name()))
    {
        let name = theirs.full_name();
        r.compared += 1;
        let Some(mine) = ours.get_message_by_name(name) else {
            r.mismatches.push(format!("message {name} is missing"));
            continue;
        };
        for tf in theirs.fields() {
            r.compared += 1;
            match mine.get_field(tf.number()) {
                None => r
                    .mismatches
                    .push(format!("field {name}.{} is missing", tf.name())),
                Some(mf) if field_signature(&mf) != field_signature(&tf) => {
                    r.mismatches.push(format!(
                        "field {name}.{}: etcd has `{}`, ours has `{}`",
                        tf.name(),
                        field_signature(&tf),
                        field_signature(&mf)
                    ))
                }
                Some(_) => {}
            }
        }
        for mf in mine.fields() {
            if theirs.get_field(mf.number()).is_none() {
                r.extras.insert(format!("field {name}.{}", mf.name()));
            }
        }
    }
    for mine in ours
        .all_messages()
        .filter(|m| is_etcd_package(m.package_name()))
    {
        if etcd.get_message_by_name(mine.full_name()).is_none() {
            r.extras.insert(format!("message {}", mine.full_name()));
        }
    }

    for theirs in etcd
        .all_enums()
        .filter(|e| is_etcd_package(e.package_name()))
    {
        let name = theirs.full_name();
        r.compared += 1;
        let Some(mine) = ours.get_enum_by_name(name) else {
            r.mismatches.push(format!("enum {name} is missing"));
            continue;
        };
        let (tv, mv) = (enum_values(&theirs), enum_values(&mine));
        for (number, value) in &tv {
            r.compared += 1;
            if mv.get(number) != Some(value) {
                r.mismatches.push(format!(
                    "enum {name}: etcd has {value} = {number}, ours has {:?}",
                    mv.get(number)
                ));
            }
        }
        for (number, value) in &mv {
            if !tv.contains_key(number) {
                r.extras.insert(format!("enum value {name}.{value}"));
            }
        }
    }
    for mine in ours
        .all_enums()
        .filter(|e| is_etcd_package(e.package_name()))
    {
        if etcd.get_enum_by_name(mine.full_name()).is_none() {
            r.extras.insert(format!("enum {}", mine.full_name()));
        }
    }

    for theirs in etcd
        .services()
        .filter(|s| is_etcd_package(s.package_name()))
    {
        let name = theirs.full_name();
        r.compared += 1;
        let Some(mine) = ours.get_service_by_name(name) else {
            r.mismatches.push(format!("service {name} is missing"));
            continue;
        };
        let signature = |m: &protox::prost_reflect::MethodDescriptor| {
            format!(
                "({}{}) returns ({}{})",
                if m.is_client_streaming() {
                    "stream "
                } else {
                    ""
                },
                m.input().full_name(),
                if m.is_server_streaming() {
                    "stream "
                } else {
                    ""
                },
                m.output().full_name(),
            )
        };
        for tm in theirs.methods() {
            r.compared += 1;
            match mine.methods().find(|m| m.name() == tm.name()) {
                None => r
                    .mismatches
                    .push(format!("method {name}/{} is missing", tm.name())),
                Some(mm) if signature(&mm) != signature(&tm) => r.mismatches.push(format!(
                    "method {name}/{}: etcd has {}, ours has {}",
                    tm.name(),
                    signature(&tm),
                    signature(&mm)
                )),
                Some(_) => {}
            }
        }
        for mm in mine.methods() {
            if !theirs.methods().any(|m| m.name() == mm.name()) {
                r.extras.insert(format!("method {name}/{}", mm.name()));
            }
        }
    }
    for mine in ours
        .services()
        .filter(|s| is_etcd_package(s.package_name()))
    {
        if etcd.get_service_by_name(mine.full_name()).is_none() {
            r.extras.insert(format!("service {}", mine.full_name()));
        }
    }

    r
}

fn assert_wire_compatible(option_files: OptionFiles) {
    let (etcd, _stand_ins) = etcd(option_files);
    let report = compare(&etcd, &ours());

    assert!(
        report.mismatches.is_empty(),
        "our protos differ from etcd's:\n  {}",
        report.mismatches.join("\n  ")
    );
    let allowed: BTreeSet<String> = ETCD_3_5_ADDITIONS.iter().map(|s| s.to_string()).collect();
    let unexpected: Vec<&String> = report.extras.difference(&allowed).collect();
    let absent: Vec<&String> = allowed.difference(&report.extras).collect();
    assert!(
        unexpected.is_empty(),
        "our protos declare things etcd 3.4 lacks that are not listed as etcd 3.5 additions: \
         {unexpected:?}"
    );
    assert!(
        absent.is_empty(),
        "listed etcd 3.5 additions that our protos lack (or that etcd 3.4 already has): {absent:?}"
    );
    // etcd 3.4.23's files hold 445 messages, fields, enums, enum values,
    // services and methods; far fewer means the parse silently lost some.
    assert!(
        report.compared >= 445,
        "compared only {} declarations; etcd's files parsed to almost nothing",
        report.compared
    );
}

#[test]
fn our_protos_match_etcd_3_4_plus_the_listed_3_5_additions() {
    assert_wire_compatible(OptionFiles::SystemFirst);
}

#[test]
fn stand_in_option_files_are_enough_to_parse_etcd_protos() {
    assert_wire_compatible(OptionFiles::StandInsOnly);
}

/// gRPC routes requests by `/<package>.<Service>/<Method>`; the generated
/// servers must carry etcd's service names.
#[test]
fn generated_servers_use_etcds_service_names() {
    use etcd_proto::{etcdserverpb, v3electionpb, v3lockpb};
    assert_eq!(etcdserverpb::kv_server::SERVICE_NAME, "etcdserverpb.KV");
    assert_eq!(
        etcdserverpb::watch_server::SERVICE_NAME,
        "etcdserverpb.Watch"
    );
    assert_eq!(
        etcdserverpb::lease_server::SERVICE_NAME,
        "etcdserverpb.Lease"
    );
    assert_eq!(
        etcdserverpb::cluster_server::SERVICE_NAME,
        "etcdserverpb.Cluster"
    );
    assert_eq!(
        etcdserverpb::maintenance_server::SERVICE_NAME,
        "etcdserverpb.Maintenance"
    );
    assert_eq!(etcdserverpb::auth_server::SERVICE_NAME, "etcdserverpb.Auth");
    assert_eq!(v3lockpb::lock_server::SERVICE_NAME, "v3lockpb.Lock");
    assert_eq!(
        v3electionpb::election_server::SERVICE_NAME,
        "v3electionpb.Election"
    );
}

/// The Raft payload is ours, not etcd's: pin its field numbers, since
/// entries already in a log must keep decoding the same way.
#[test]
fn raft_request_field_numbers_are_stable() {
    let pool = ours();
    let msg = pool
        .get_message_by_name("etcdrs.raftpb.RaftRequest")
        .unwrap();
    // The request id (which member waits for the apply) is a plain field
    // beside the oneof.
    let id = msg.get_field_by_name("id").expect("RaftRequest.id");
    assert_eq!(id.number(), 100);
    assert!(matches!(id.kind(), Kind::Uint64));
    assert!(id.containing_oneof().is_none());
    let fields: Vec<(u32, String, String)> = msg
        .fields()
        .filter(|f| f.name() != "id" && f.name() != "caller")
        .map(|f| {
            let Kind::Message(m) = f.kind() else {
                panic!("{} is not a message field", f.name())
            };
            (f.number(), f.name().to_owned(), m.full_name().to_owned())
        })
        .collect();
    let expected = [
        (1, "put", "etcdserverpb.PutRequest"),
        (2, "delete_range", "etcdserverpb.DeleteRangeRequest"),
        (3, "txn", "etcdserverpb.TxnRequest"),
        (4, "compaction", "etcdserverpb.CompactionRequest"),
        (5, "lease_grant", "etcdserverpb.LeaseGrantRequest"),
        (6, "lease_revoke", "etcdserverpb.LeaseRevokeRequest"),
        (7, "alarm", "etcdserverpb.AlarmRequest"),
        (8, "lease_checkpoint", "etcdserverpb.LeaseCheckpointRequest"),
        (9, "auth", "etcdrs.raftpb.AuthChange"),
    ]
    .map(|(n, name, ty)| (n, name.to_owned(), ty.to_owned()));
    assert_eq!(fields, expected);
    let caller = msg.get_field_by_name("caller").unwrap();
    assert_eq!(caller.number(), 101);
    assert!(caller.containing_oneof().is_none());
    assert!(msg
        .fields()
        .filter(|f| f.name() != "id" && f.name() != "caller")
        .all(|f| f.containing_oneof().is_some_and(|o| o.name() == "request")));

    let auth = pool
        .get_message_by_name("etcdrs.raftpb.AuthChange")
        .unwrap();
    let changes: Vec<(u32, String)> = auth
        .fields()
        .map(|f| (f.number(), f.name().to_owned()))
        .collect();
    let expected = [
        (1, "enable"),
        (2, "disable"),
        (3, "user_add"),
        (4, "user_delete"),
        (5, "user_change_password"),
        (6, "user_grant_role"),
        (7, "user_revoke_role"),
        (8, "role_add"),
        (9, "role_delete"),
        (10, "role_grant_permission"),
        (11, "role_revoke_permission"),
        (12, "authenticate"),
    ]
    .map(|(n, name)| (n, name.to_owned()));
    assert_eq!(changes, expected);

    let caller = pool.get_message_by_name("etcdrs.raftpb.Caller").unwrap();
    let fields: Vec<(u32, String)> = caller
        .fields()
        .map(|f| (f.number(), f.name().to_owned()))
        .collect();
    assert_eq!(
        fields,
        [(1, "username"), (2, "auth_revision"), (3, "member")].map(|(n, s)| (n, s.to_owned()))
    );
}
