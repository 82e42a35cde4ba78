//! Lock and Election as the server runs them (etcd's v3lock and v3election,
//! which run clientv3's `concurrency` recipes inside the server): the
//! recipes themselves, on top of the request pipeline (`EtcdServer`) and
//! the watch hub.
//!
//! Owns: the key layout (`keys`: `name/<lease hex>`, oldest create revision
//! holds), the waiting for one's turn (`wait`), the mutex (`mutex`), the
//! election (`election`, `observe`), undoing an abandoned call (`cleanup`)
//! and the errors the two services return (`error`). Does not own: the gRPC
//! services (`crate::api::lock`, `crate::api::election`, which add
//! headers), leases and their expiry (`crate::lease`), watching
//! (`crate::watch`).
//!
//! Everything here goes through the same pipeline as a client's requests,
//! so Go clients using `concurrency.Mutex` / `Election` directly, `etcdctl
//! lock` / `elect` and these services all contend fairly for the same names.

mod cleanup;
pub mod client;
pub mod election;
pub mod error;
pub mod keys;
pub mod mutex;
pub mod observe;
mod wait;

pub use client::{Concurrency, SESSION_TTL};
pub use election::Elected;
pub use error::ConcurrencyError;
pub use mutex::Locked;
pub use observe::Observed;
