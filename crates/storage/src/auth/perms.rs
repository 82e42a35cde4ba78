//! A user's key permissions, merged as etcd merges them
//! (`auth/range_perm_cache.go`): every permission of every role the user
//! holds, READWRITE counting as both READ and WRITE. A permission names a
//! key (`range_end` empty), a range `[key, range_end)`, or every key from
//! `key` on (`range_end` = `"\0"`).
//!
//! A request for one key is allowed when some permission covers that key;
//! a request for a range only when the permissions together cover all of
//! it without a gap (an empty or inverted range is never covered, as in
//! etcd). The root role allows everything.

use super::ROOT_ROLE;
use etcd_proto::authpb::permission::Type;
use etcd_proto::authpb::{Permission, Role};

/// Half-open key intervals `[start, end)`; `end == None`: no upper bound.
/// Sorted by start and merged: no two overlap or touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Intervals(Vec<(Vec<u8>, Option<Vec<u8>>)>);

/// The interval a single key occupies: `[key, key + "\0")`.
fn point(key: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut next = key.to_vec();
    next.push(0);
    (key.to_vec(), Some(next))
}

/// A permission's (or a request's) `key` / `range_end` as an interval.
fn interval(key: &[u8], range_end: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    match range_end {
        [] => point(key),
        [0] => (key.to_vec(), None),
        end => (key.to_vec(), Some(end.to_vec())),
    }
}

/// `a <= b` for interval ends, `None` being +infinity.
fn end_le(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

impl Intervals {
    fn from_unsorted(mut all: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Intervals {
        // Inverted or empty intervals cover nothing.
        all.retain(|(start, end)| end.as_ref().is_none_or(|end| end > start));
        all.sort();
        let mut merged: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(all.len());
        for (start, end) in all {
            match merged.last_mut() {
                // Overlapping or adjacent: extend.
                Some(last) if last.1.as_ref().is_none_or(|last_end| *last_end >= start) => {
                    if !end_le(&end, &last.1) {
                        last.1 = end;
                    }
                }
                _ => merged.push((start, end)),
            }
        }
        Intervals(merged)
    }

    /// Whether `[start, end)` lies within one merged interval (merged ones
    /// never touch, so a range covered without a gap lies in one).
    fn covers(&self, start: &[u8], end: &Option<Vec<u8>>) -> bool {
        if end.as_ref().is_some_and(|end| end.as_slice() <= start) {
            return false;
        }
        self.0
            .iter()
            .any(|(s, e)| s.as_slice() <= start && end_le(end, e))
    }
}

/// What one user may read and write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPerms {
    /// The user holds the root role: everything is allowed.
    root: bool,
    read: Intervals,
    write: Intervals,
}

/// The kind of access a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl UserPerms {
    /// Merges the permissions of `roles` (those of the user's roles that
    /// exist); `holds_root` when the user holds the root role.
    pub fn new<'a>(holds_root: bool, roles: impl IntoIterator<Item = &'a Role>) -> UserPerms {
        let mut read = Vec::new();
        let mut write = Vec::new();
        for role in roles {
            for Permission {
                perm_type,
                key,
                range_end,
            } in &role.key_permission
            {
                let ivl = interval(key, range_end);
                match Type::try_from(*perm_type) {
                    Ok(Type::Read) => read.push(ivl),
                    Ok(Type::Write) => write.push(ivl),
                    Ok(Type::Readwrite) => {
                        read.push(ivl.clone());
                        write.push(ivl);
                    }
                    Err(_) => {}
                }
            }
        }
        UserPerms {
            root: holds_root,
            read: Intervals::from_unsorted(read),
            write: Intervals::from_unsorted(write),
        }
    }

    /// Whether the user holds the root role.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Whether `access` to `key` / `range_end` (as a request gives them) is
    /// allowed.
    pub fn allows(&self, access: Access, key: &[u8], range_end: &[u8]) -> bool {
        if self.root {
            return true;
        }
        let granted = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        let (start, end) = interval(key, range_end);
        granted.covers(&start, &end)
    }
}

/// Whether a user's role list gives it the root role.
pub fn holds_root(roles: &[String]) -> bool {
    roles.iter().any(|r| r == ROOT_ROLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(perms: &[(Type, &str, &str)]) -> Role {
        Role {
            name: b"r".to_vec(),
            key_permission: perms
                .iter()
                .map(|(t, k, e)| Permission {
                    perm_type: *t as i32,
                    key: k.as_bytes().to_vec(),
                    range_end: e.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn single_keys_and_prefixes() {
        let r = role(&[(Type::Read, "/a/", "/a0"), (Type::Readwrite, "/k", "")]);
        let p = UserPerms::new(false, [&r]);
        assert!(p.allows(Access::Read, b"/a/x", b""));
        assert!(p.allows(Access::Read, b"/a/", b"/a0"));
        assert!(p.allows(Access::Read, b"/a/b/", b"/a/b0"));
        assert!(!p.allows(Access::Read, b"/a", b""));
        assert!(!p.allows(Access::Write, b"/a/x", b""));
        assert!(p.allows(Access::Write, b"/k", b""));
        assert!(p.allows(Access::Read, b"/k", b""));
        assert!(!p.allows(Access::Read, b"/k0", b""));
        // A single-key permission covers the range of just that key.
        assert!(p.allows(Access::Read, b"/k", b"/k\0"));
        assert!(!p.allows(Access::Read, b"/k", b"/l"));
    }

    #[test]
    fn ranges_must_be_covered_without_a_gap() {
        let r1 = role(&[(Type::Read, "a", "c")]);
        let r2 = role(&[(Type::Read, "c", "e"), (Type::Read, "f", "g")]);
        let p = UserPerms::new(false, [&r1, &r2]);
        // Adjacent permissions from two roles join.
        assert!(p.allows(Access::Read, b"a", b"e"));
        assert!(p.allows(Access::Read, b"b", b"d"));
        // A gap between e and f.
        assert!(!p.allows(Access::Read, b"a", b"g"));
        assert!(p.allows(Access::Read, b"f", b"g"));
        // Empty and inverted ranges are never covered.
        assert!(!p.allows(Access::Read, b"b", b"b"));
        assert!(!p.allows(Access::Read, b"d", b"b"));
    }

    #[test]
    fn from_key_permissions_and_requests() {
        let r = role(&[(Type::Write, "m", "\0")]);
        let p = UserPerms::new(false, [&r]);
        assert!(p.allows(Access::Write, b"m", b"\0"));
        assert!(p.allows(Access::Write, b"z", b"\0"));
        assert!(p.allows(Access::Write, b"zzz", b""));
        assert!(!p.allows(Access::Write, b"a", b"\0"));
        assert!(!p.allows(Access::Write, b"l", b"n"));
        // A bounded permission never covers an unbounded request.
        let bounded = UserPerms::new(false, [&role(&[(Type::Write, "m", "zz")])]);
        assert!(!bounded.allows(Access::Write, b"m", b"\0"));
    }

    #[test]
    fn root_allows_everything_and_nothing_allows_nothing() {
        let root = UserPerms::new(true, std::iter::empty());
        assert!(root.allows(Access::Write, b"\0", b"\0"));
        let none = UserPerms::new(false, std::iter::empty());
        assert!(!none.allows(Access::Read, b"a", b""));
        assert!(holds_root(&["x".to_string(), "root".to_string()]));
        assert!(!holds_root(&[]));
    }

    #[test]
    fn overlapping_permissions_merge() {
        let r = role(&[
            (Type::Read, "a", "d"),
            (Type::Read, "b", "c"),
            (Type::Read, "c", "f"),
            (Type::Readwrite, "x", ""),
        ]);
        let p = UserPerms::new(false, [&r]);
        assert_eq!(
            p.read.0,
            vec![
                (b"a".to_vec(), Some(b"f".to_vec())),
                (b"x".to_vec(), Some(b"x\0".to_vec())),
            ]
        );
        assert!(p.allows(Access::Read, b"a", b"f"));
    }
}
