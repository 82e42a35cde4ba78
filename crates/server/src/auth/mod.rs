//! Authorization: what a user may do, decided from the auth store's users
//! and roles (kept by `etcd_storage::auth`, changed through the Auth
//! service).
//!
//! Layout:
//! - [`perms`]: a user's key permissions merged per kind (read, write), and
//!   whether a key or a range is covered: etcd's rules as plain functions.
//!
//! Not here yet: tokens (Authenticate), the caller's identity on each
//! request, and the checks in `EtcdServer`'s methods; until they exist,
//! AuthEnable is refused, so no request is ever judged by an incomplete
//! set of checks.

pub mod perms;
