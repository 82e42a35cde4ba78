//! The robustness harness (crate `etcd-robustness`) against this build's
//! `etcd` and Debian's etcd 3.4: the short suite by default, the soak mode
//! with flags (see `crates/robustness/src/run.rs`). A test binary without
//! libtest's harness, so its flags pass straight through `cargo test --`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let etcd_rs = std::path::PathBuf::from(env!("CARGO_BIN_EXE_etcd"));
    if !runtime.block_on(etcd_robustness::run::main(&args, etcd_rs)) {
        std::process::exit(1);
    }
}
