//! [`Span`]: the keys one watcher selects, and etcd's rules for turning a
//! create request's `key` / `range_end` into it.
//!
//! etcd's watch service rewrites the pair before it reaches the store: an
//! empty key becomes `"\0"` (the smallest key), an empty `range_end` means
//! exactly `key`, `range_end == "\0"` means every key `>= key`, and any other
//! `range_end <= key` is refused as an empty range. Owns only that; matching
//! many spans at once is `group`'s job.

use std::cmp::Ordering;

/// What a watcher selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    /// Exactly this key.
    Key(Vec<u8>),
    /// Keys `>= start`, below `end` when it is set (`None`: no upper bound).
    Range {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
    },
}

/// etcd's refusal of a create request whose range selects nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mvcc: watcher range is empty")]
pub struct EmptyRange;

impl Span {
    /// Interprets a create request's `key` and `range_end` as etcd does.
    pub fn new(key: &[u8], range_end: &[u8]) -> Result<Span, EmptyRange> {
        let start = if key.is_empty() {
            vec![0]
        } else {
            key.to_vec()
        };
        match range_end {
            [] => Ok(Span::Key(start)),
            [0] => Ok(Span::Range { start, end: None }),
            end if end <= start.as_slice() => Err(EmptyRange),
            end => Ok(Span::Range {
                start,
                end: Some(end.to_vec()),
            }),
        }
    }

    /// Whether `key` is selected.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            Span::Key(k) => k.as_slice() == key,
            Span::Range { start, end } => {
                key >= start.as_slice() && end.as_deref().is_none_or(|end| key < end)
            }
        }
    }

    /// The smallest selected key.
    pub fn start(&self) -> &[u8] {
        match self {
            Span::Key(k) | Span::Range { start: k, .. } => k,
        }
    }

    /// The `(key, range_end)` pair for a storage read of exactly this span.
    pub fn as_request(&self) -> (&[u8], &[u8]) {
        match self {
            Span::Key(k) => (k, &[]),
            Span::Range { start, end: None } => (start, &[0]),
            Span::Range {
                start,
                end: Some(end),
            } => (start, end),
        }
    }

    /// The smallest span covering both (for one storage read serving many
    /// watchers).
    pub fn cover(&self, other: &Span) -> Span {
        if self == other {
            return self.clone();
        }
        let start = self.start().min(other.start()).to_vec();
        let end = match (self.upper(), other.upper()) {
            (Upper::Unbounded, _) | (_, Upper::Unbounded) => None,
            (a, b) => {
                let pick = if cmp_upper(&a, &b) == Ordering::Less {
                    b
                } else {
                    a
                };
                Some(pick.exclusive_end())
            }
        };
        Span::Range { start, end }
    }

    fn upper(&self) -> Upper<'_> {
        match self {
            Span::Key(k) => Upper::Through(k),
            Span::Range { end: None, .. } => Upper::Unbounded,
            Span::Range { end: Some(e), .. } => Upper::Before(e),
        }
    }
}

/// The top of a span, to compare spans of both kinds.
enum Upper<'a> {
    /// Up to and including this key.
    Through(&'a [u8]),
    /// Up to but excluding this key.
    Before(&'a [u8]),
    Unbounded,
}

impl Upper<'_> {
    /// The exclusive end this top amounts to: a key's successor is the key
    /// followed by a zero byte.
    fn exclusive_end(&self) -> Vec<u8> {
        match self {
            Upper::Through(k) => {
                let mut end = k.to_vec();
                end.push(0);
                end
            }
            Upper::Before(e) => e.to_vec(),
            Upper::Unbounded => Vec::new(),
        }
    }
}

fn cmp_upper(a: &Upper<'_>, b: &Upper<'_>) -> Ordering {
    match (a, b) {
        (Upper::Unbounded, Upper::Unbounded) => Ordering::Equal,
        (Upper::Unbounded, _) => Ordering::Greater,
        (_, Upper::Unbounded) => Ordering::Less,
        _ => a.exclusive_end().cmp(&b.exclusive_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_normalisation() {
        assert_eq!(Span::new(b"a", b"").unwrap(), Span::Key(b"a".to_vec()));
        assert_eq!(Span::new(b"", b"").unwrap(), Span::Key(vec![0]));
        assert_eq!(
            Span::new(b"a", b"\0").unwrap(),
            Span::Range {
                start: b"a".to_vec(),
                end: None
            }
        );
        // "" .. "\0" is every key.
        let all = Span::new(b"", b"\0").unwrap();
        assert!(all.contains(b"\0") && all.contains(b"zzz"));
        assert_eq!(Span::new(b"b", b"a"), Err(EmptyRange));
        assert_eq!(Span::new(b"b", b"b"), Err(EmptyRange));
        assert_eq!(Span::new(b"", b"\0\0").unwrap().start(), b"\0");
        assert_eq!(EmptyRange.to_string(), "mvcc: watcher range is empty");
    }

    #[test]
    fn contains() {
        let r = Span::new(b"a", b"c").unwrap();
        assert!(r.contains(b"a") && r.contains(b"b\xff"));
        assert!(!r.contains(b"c") && !r.contains(b"\0"));
        let k = Span::new(b"a", b"").unwrap();
        assert!(k.contains(b"a") && !k.contains(b"a\0"));
    }

    #[test]
    fn request_round_trip() {
        for (k, e) in [(&b"a"[..], &b""[..]), (b"a", b"\0"), (b"a", b"q")] {
            let s = Span::new(k, e).unwrap();
            let (k2, e2) = s.as_request();
            assert_eq!(Span::new(k2, e2).unwrap(), s);
        }
    }

    #[test]
    fn cover_holds_both() {
        let spans = [
            Span::new(b"a", b"").unwrap(),
            Span::new(b"m", b"").unwrap(),
            Span::new(b"b", b"d").unwrap(),
            Span::new(b"x", b"\0").unwrap(),
            Span::new(b"c", b"z").unwrap(),
        ];
        let probes: [&[u8]; 9] = [b"\0", b"a", b"a\0", b"b", b"c", b"m", b"m\0", b"y", b"zz"];
        for a in &spans {
            for b in &spans {
                let c = a.cover(b);
                for p in probes {
                    if a.contains(p) || b.contains(p) {
                        assert!(c.contains(p), "{c:?} misses {p:?} of {a:?} / {b:?}");
                    }
                }
            }
        }
        assert_eq!(
            spans[0].cover(&spans[1]),
            Span::Range {
                start: b"a".to_vec(),
                end: Some(b"m\0".to_vec())
            }
        );
        assert_eq!(spans[0].cover(&spans[0]), spans[0]);
        assert_eq!(
            spans[2].cover(&spans[3]),
            Span::Range {
                start: b"b".to_vec(),
                end: None
            }
        );
    }
}
