//! `etcdctl`: etcd-rs's own etcdctl, a faithful subset of etcdctl 3.5 (see
//! the `etcd-ctl` crate, `crates/etcdctl`, for what it covers). The binary
//! lives in this package so that the end-to-end suite finds it as
//! `CARGO_BIN_EXE_etcdctl`; this file is only the entry point.

fn main() -> std::process::ExitCode {
    etcd_ctl::main()
}
