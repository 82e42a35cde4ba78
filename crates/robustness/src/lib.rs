//! The robustness harness: it starts 1- and 3-member clusters of real
//! server binaries (etcd-rs, or etcd 3.4 with the same code), drives them
//! with concurrent clients ([`traffic`]), injects faults ([`faults`],
//! through the peer [`proxy`] and process signals), records every operation
//! and watch response ([`history`]), and checks the record afterwards:
//! per-key linearizability by a Wing–Gong/Lowe search ([`linearizability`]
//! over the key model of [`kv_model`]), reads and watch events against the
//! replay of the write log ([`watch_check`]), and convergence of the members
//! after healing ([`scenario`]).
//!
//! Entry point: [`run::main`], which the `robustness` test target of the
//! `etcd` crate calls with the path of the binary under test.

pub mod cluster;
pub mod faults;
pub mod history;
pub mod kv_model;
pub mod linearizability;
pub mod proxy;
pub mod run;
pub mod scenario;
pub mod traffic;
pub mod watch_check;
