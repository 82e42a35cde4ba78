//! What a request's `key` / `range_end` pair selects, decided in one place.
//!
//! etcd's rules (etcdserver/apply.go `mkGteRange`, mvcc/index.go): an empty
//! `range_end` selects exactly `key`; `range_end == "\0"` selects every key
//! `>= key`; otherwise the half-open interval `[key, range_end)`, which is
//! empty when `range_end <= key`. Clients compute prefix range ends; nothing
//! here derives one.
//!
//! Used for table scans (bounds), for txn pre-checks (does a delete cover a
//! key) and by the tests' reference model.

/// The set of keys a `key` / `range_end` pair selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRange<'a> {
    /// Exactly this key (`range_end` empty).
    Single(&'a [u8]),
    /// Every key `>= start` (`range_end == "\0"`).
    From(&'a [u8]),
    /// Keys in `[start, end)`; empty when `end <= start`.
    Between(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    /// Interprets a request's `key` and `range_end`.
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> KeyRange<'a> {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            end => KeyRange::Between(key, end),
        }
    }

    /// Whether `k` is selected.
    pub fn contains(&self, k: &[u8]) -> bool {
        match *self {
            KeyRange::Single(key) => k == key,
            KeyRange::From(start) => k >= start,
            KeyRange::Between(start, end) => k >= start && k < end,
        }
    }

    /// The smallest key that can be selected.
    pub fn start(&self) -> &'a [u8] {
        match *self {
            KeyRange::Single(k) | KeyRange::From(k) | KeyRange::Between(k, _) => k,
        }
    }

    /// The exclusive upper bound of a scan, `None` when unbounded. For
    /// `Single` it is not meaningful (point lookups do not scan): `None`.
    pub fn end(&self) -> Option<&'a [u8]> {
        match *self {
            KeyRange::Between(_, end) => Some(end),
            KeyRange::Single(_) | KeyRange::From(_) => None,
        }
    }

    /// True when nothing can be selected (`[start, end)` with `end <= start`);
    /// scans must check this first, since redb refuses inverted bounds.
    pub fn is_empty(&self) -> bool {
        matches!(*self, KeyRange::Between(start, end) if end <= start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_key() {
        let r = KeyRange::new(b"foo", b"");
        assert_eq!(r, KeyRange::Single(b"foo"));
        assert!(r.contains(b"foo"));
        assert!(!r.contains(b"foo1"));
        assert!(!r.contains(b"fo"));
        assert!(!r.is_empty());
    }

    #[test]
    fn from_key() {
        let r = KeyRange::new(b"b", b"\0");
        assert_eq!(r, KeyRange::From(b"b"));
        assert!(r.contains(b"b"));
        assert!(r.contains(b"zzz"));
        assert!(r.contains(b"\xff\xff"));
        assert!(!r.contains(b"a"));
        assert_eq!(r.end(), None);
    }

    #[test]
    fn all_keys() {
        let r = KeyRange::new(b"\0", b"\0");
        assert!(r.contains(b"\0"));
        assert!(r.contains(b"a"));
        // The empty key cannot be stored (the server refuses it), so "all
        // keys" starting at "\0" loses nothing.
        assert!(!r.contains(b""));
    }

    #[test]
    fn half_open_interval() {
        let r = KeyRange::new(b"a", b"c");
        assert!(r.contains(b"a"));
        assert!(r.contains(b"b\xff"));
        assert!(!r.contains(b"c"));
        assert!(!r.contains(b"\0"));
        assert_eq!(r.end(), Some(&b"c"[..]));
    }

    #[test]
    fn prefix_style_range() {
        // What a client sends for prefix "a\xff": range_end "b".
        let r = KeyRange::new(b"a\xff", b"b");
        assert!(r.contains(b"a\xff"));
        assert!(r.contains(b"a\xff\xff"));
        assert!(!r.contains(b"a\xfe"));
        assert!(!r.contains(b"b"));
    }

    #[test]
    fn inverted_or_equal_bounds_select_nothing() {
        for (k, e) in [(&b"b"[..], &b"a"[..]), (b"b", b"b")] {
            let r = KeyRange::new(k, e);
            assert!(r.is_empty());
            assert!(!r.contains(k));
            assert!(!r.contains(e));
        }
        // "\0" as range_end is "from key", never an empty interval.
        assert!(!KeyRange::new(b"z", b"\0").is_empty());
        // A longer range_end starting with 0 is an ordinary bound.
        assert!(KeyRange::new(b"a", b"\0\0").is_empty());
    }
}
