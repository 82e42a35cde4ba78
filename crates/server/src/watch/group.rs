//! [`Group`]: a set of watchers indexed by what they watch, answering "which
//! watchers see a change to this key" (etcd's `watcherGroup`).
//!
//! Single-key watchers sit in a hash map by key; range watchers in a
//! [`RangeIndex`]. The hub keeps one group for its synced watchers (matched
//! against every published event) and builds a short-lived one per catch-up
//! round. Pure: ids and spans only; the watchers themselves live in the hub.

use foldhash::{HashMap, HashSet};

use super::interval::{Id, RangeIndex};
use super::span::Span;

#[derive(Default)]
pub struct Group {
    /// Watchers of exactly one key, by key.
    keys: HashMap<Vec<u8>, HashSet<Id>>,
    /// Watchers of a range.
    ranges: RangeIndex,
    len: usize,
}

impl Group {
    pub fn new() -> Group {
        Group::default()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds watcher `id` watching `span`. The caller adds an id once.
    pub fn insert(&mut self, id: Id, span: &Span) {
        match span {
            Span::Key(k) => {
                if self.keys.entry(k.clone()).or_default().insert(id) {
                    self.len += 1;
                }
            }
            Span::Range { start, end } => {
                if !self.ranges.remove(id) {
                    self.len += 1;
                }
                self.ranges.insert(id, start.clone(), end.clone());
            }
        }
    }

    /// Removes watcher `id` (which watches `span`); false if absent.
    pub fn remove(&mut self, id: Id, span: &Span) -> bool {
        let removed = match span {
            Span::Key(k) => match self.keys.get_mut(k.as_slice()) {
                Some(set) => {
                    let removed = set.remove(&id);
                    if set.is_empty() {
                        self.keys.remove(k.as_slice());
                    }
                    removed
                }
                None => false,
            },
            Span::Range { .. } => self.ranges.remove(id),
        };
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Calls `f` with every watcher that sees a change to `key`.
    pub fn matching(&self, key: &[u8], mut f: impl FnMut(Id)) {
        if let Some(set) = self.keys.get(key) {
            set.iter().for_each(|id| f(*id));
        }
        self.ranges.stab(key, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(g: &Group, key: &[u8]) -> Vec<Id> {
        let mut out = Vec::new();
        g.matching(key, |id| out.push(id));
        out.sort_unstable();
        out
    }

    #[test]
    fn keys_and_ranges() {
        let mut g = Group::new();
        let foo = Span::new(b"foo", b"").unwrap();
        let f_range = Span::new(b"f", b"g").unwrap();
        let all = Span::new(b"", b"\0").unwrap();
        g.insert(1, &foo);
        g.insert(2, &foo);
        g.insert(3, &f_range);
        g.insert(4, &all);
        assert_eq!(g.len(), 4);
        assert_eq!(matching(&g, b"foo"), [1, 2, 3, 4]);
        assert_eq!(matching(&g, b"fo"), [3, 4]);
        assert_eq!(matching(&g, b"zz"), [4]);
        assert!(g.remove(1, &foo));
        assert!(!g.remove(1, &foo));
        assert!(g.remove(3, &f_range));
        assert_eq!(matching(&g, b"foo"), [2, 4]);
        assert_eq!(g.len(), 2);
        assert!(g.remove(2, &foo));
        assert!(g.remove(4, &all));
        assert!(g.is_empty());
        assert_eq!(matching(&g, b"foo"), Vec::<Id>::new());
    }

    #[test]
    fn ten_thousand_watchers_on_one_key() {
        let mut g = Group::new();
        let key = Span::new(b"hot", b"").unwrap();
        for id in 0..10_000 {
            g.insert(id, &key);
        }
        assert_eq!(matching(&g, b"hot").len(), 10_000);
        for id in 0..10_000 {
            assert!(g.remove(id, &key));
        }
        assert!(g.is_empty());
    }
}
