//! What permission checks keep between requests: whether auth may be on,
//! the auth revision, and each user's merged permissions at that revision.
//! Shared by the backend's read views and its apply batch, so that with
//! auth off a check costs one atomic load, and with auth on a lookup of a
//! user's intervals rather than a walk of the roles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::perms::UserPerms;

/// Users' permissions at one auth revision (`None`: no such user).
type PermsAt = (u64, HashMap<String, Option<Arc<UserPerms>>>);

#[derive(Default)]
pub(crate) struct AuthCache {
    /// True whenever some view may see auth enabled: raised as soon as an
    /// AuthEnable applies (before its batch commits), lowered only after a
    /// disabling batch committed. False means: no check is needed.
    maybe_enabled: AtomicBool,
    /// The committed auth revision (what a new request is judged at).
    revision: AtomicU64,
    /// Users' permissions, valid at the auth revision kept beside them.
    perms: Mutex<PermsAt>,
}

impl AuthCache {
    pub(crate) fn maybe_enabled(&self) -> bool {
        self.maybe_enabled.load(Ordering::Acquire)
    }

    pub(crate) fn set_maybe_enabled(&self, enabled: bool) {
        self.maybe_enabled.store(enabled, Ordering::Release);
    }

    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    pub(crate) fn set_revision(&self, revision: u64) {
        self.revision.store(revision, Ordering::Release);
    }

    /// `user`'s permissions at auth `revision` (`None`: no such user),
    /// built by `build` when not cached. Entries of an older revision are
    /// dropped when a newer one is asked for; an older revision's answer
    /// (a read view from before a change) is built but not kept.
    pub(crate) fn perms<E>(
        &self,
        revision: u64,
        user: &str,
        build: impl FnOnce() -> Result<Option<UserPerms>, E>,
    ) -> Result<Option<Arc<UserPerms>>, E> {
        {
            let mut cached = self.perms.lock().unwrap_or_else(PoisonError::into_inner);
            if cached.0 < revision {
                *cached = (revision, HashMap::new());
            }
            if cached.0 == revision {
                if let Some(found) = cached.1.get(user) {
                    return Ok(found.clone());
                }
            }
        }
        let built = build()?.map(Arc::new);
        let mut cached = self.perms.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.0 == revision {
            cached.1.insert(user.to_string(), built.clone());
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_belong_to_one_revision() {
        let cache = AuthCache::default();
        let built = |root| move || Ok::<_, ()>(Some(UserPerms::new(root, [])));
        assert!(!cache
            .perms(3, "a", built(false))
            .unwrap()
            .unwrap()
            .is_root());
        // Cached: the builder is not asked again at the same revision.
        let again = cache.perms(3, "a", || Err(())).unwrap().unwrap();
        assert!(!again.is_root());
        // An older revision is built but does not replace the cache.
        assert!(cache.perms(2, "a", built(true)).unwrap().unwrap().is_root());
        assert!(cache.perms(3, "a", || Err(())).is_ok());
        // A newer one does.
        assert!(cache.perms(4, "a", built(true)).unwrap().unwrap().is_root());
        assert!(cache.perms(3, "a", built(false)).unwrap().is_some());
        assert!(cache.perms(4, "a", || Err(())).unwrap().unwrap().is_root());
    }
}
