//! [`RangeIndex`]: which of many key ranges contain a key (a stabbing query),
//! fast enough to run for every event against thousands of range watchers.
//!
//! etcd keeps range watchers in an interval tree. This is a simpler
//! structure with the same query cost: the ranges sorted by start, with a
//! segment tree over that order holding the largest end of each block.
//! A query binary-searches the ranges that start at or before the key, then
//! descends only into blocks whose largest end lies beyond the key, so it
//! costs O((matches + 1) · log n). Removal marks an entry dead and fixes one
//! tree path; insertion appends to a short unsorted list that is scanned
//! linearly and merged (one sort) once it grows past a fraction of the whole,
//! so changes are amortised O(log n).
//!
//! Pure data structure: knows ids and byte ranges, nothing about watchers.

use std::collections::HashMap;

/// An entry id (a watcher's key in the hub).
pub type Id = u64;

/// A half-open range `[start, end)`; `end == None` has no upper bound.
#[derive(Clone, Debug)]
struct Entry {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    id: Id,
    /// False once removed; the entry keeps its place (and its start, so the
    /// order stays searchable) until the next rebuild.
    alive: bool,
}

impl Entry {
    fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.ends_after(key)
    }

    fn ends_after(&self, key: &[u8]) -> bool {
        self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// Where an id's entry lives.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Sorted(usize),
    Pending(usize),
}

/// No entry (an empty block, or only dead entries).
const NONE: u32 = u32::MAX;

/// Pending inserts tolerated before a rebuild: this many plus a quarter of
/// the sorted part.
const MIN_PENDING: usize = 32;

#[derive(Default)]
pub struct RangeIndex {
    /// Entries sorted by start, removed ones included until the next rebuild.
    sorted: Vec<Entry>,
    /// Segment tree over `sorted` (leaves at `leaves..2*leaves`): each node
    /// holds the index of the live entry with the largest end in its block.
    tree: Vec<u32>,
    /// Number of leaves of `tree` (a power of two >= `sorted.len()`).
    leaves: usize,
    /// Recent inserts, unsorted.
    pending: Vec<Entry>,
    slots: HashMap<Id, Slot>,
    /// Removed entries still occupying `sorted`.
    dead: usize,
}

impl RangeIndex {
    /// Number of live entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds `[start, end)` under `id`, replacing an entry with the same id.
    pub fn insert(&mut self, id: Id, start: Vec<u8>, end: Option<Vec<u8>>) {
        self.remove(id);
        self.slots.insert(id, Slot::Pending(self.pending.len()));
        self.pending.push(Entry {
            start,
            end,
            id,
            alive: true,
        });
        if self.pending.len() > MIN_PENDING + (self.sorted.len() - self.dead) / 4 {
            self.rebuild();
        }
    }

    /// Removes `id`'s entry; false if there was none.
    pub fn remove(&mut self, id: Id) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        match slot {
            Slot::Pending(i) => {
                self.pending.swap_remove(i);
                if let Some(moved) = self.pending.get(i) {
                    self.slots.insert(moved.id, Slot::Pending(i));
                }
            }
            Slot::Sorted(i) => {
                self.sorted[i].alive = false;
                self.dead += 1;
                self.fix_path(i);
                if self.dead > MIN_PENDING && self.dead * 2 > self.sorted.len() {
                    self.rebuild();
                }
            }
        }
        true
    }

    /// Calls `f` with the id of every range containing `key`.
    pub fn stab(&self, key: &[u8], mut f: impl FnMut(Id)) {
        for e in &self.pending {
            if e.contains(key) {
                f(e.id);
            }
        }
        if self.sorted.is_empty() {
            return;
        }
        // Entries that start at or before the key: a prefix of the order.
        let upto = self.sorted.partition_point(|e| e.start.as_slice() <= key);
        if upto > 0 {
            self.descend(1, 0, self.leaves, upto, key, &mut f);
        }
    }

    /// Visits the leaves of node `node` (covering `[lo, hi)`) below `upto`
    /// whose entries end after `key`.
    fn descend(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        upto: usize,
        key: &[u8],
        f: &mut impl FnMut(Id),
    ) {
        if lo >= upto {
            return;
        }
        let best = self.tree[node];
        if best == NONE {
            return;
        }
        if !self.sorted[best as usize].ends_after(key) {
            return;
        }
        if hi - lo == 1 {
            // The node's best is this leaf, live and ending after the key;
            // `lo < upto` means it starts at or before it.
            f(self.sorted[lo].id);
            return;
        }
        let mid = (lo + hi) / 2;
        self.descend(2 * node, lo, mid, upto, key, f);
        self.descend(2 * node + 1, mid, hi, upto, key, f);
    }

    /// Merges the pending entries and drops the dead ones.
    fn rebuild(&mut self) {
        let mut all: Vec<Entry> = self.sorted.drain(..).filter(|e| e.alive).collect();
        all.append(&mut self.pending);
        all.sort_by(|a, b| a.start.cmp(&b.start));
        self.dead = 0;
        self.slots.clear();
        for (i, e) in all.iter().enumerate() {
            self.slots.insert(e.id, Slot::Sorted(i));
        }
        self.sorted = all;
        self.leaves = self.sorted.len().next_power_of_two().max(1);
        self.tree = vec![NONE; 2 * self.leaves];
        for i in 0..self.sorted.len() {
            self.tree[self.leaves + i] = i as u32;
        }
        for node in (1..self.leaves).rev() {
            self.tree[node] = self.better(self.tree[2 * node], self.tree[2 * node + 1]);
        }
    }

    /// Recomputes the tree above leaf `i` after its entry changed.
    fn fix_path(&mut self, i: usize) {
        let mut node = self.leaves + i;
        self.tree[node] = if self.sorted[i].alive { i as u32 } else { NONE };
        while node > 1 {
            node /= 2;
            self.tree[node] = self.better(self.tree[2 * node], self.tree[2 * node + 1]);
        }
    }

    /// Of two entry indexes, the one whose (live) entry ends later.
    fn better(&self, a: u32, b: u32) -> u32 {
        let end = |i: u32| -> Option<&Entry> {
            if i == NONE {
                None
            } else {
                Some(&self.sorted[i as usize]).filter(|e| e.alive)
            }
        };
        match (end(a), end(b)) {
            (None, None) => NONE,
            (Some(_), None) => a,
            (None, Some(_)) => b,
            (Some(x), Some(y)) => match (&x.end, &y.end) {
                (None, _) => a,
                (_, None) => b,
                (Some(ex), Some(ey)) => {
                    if ex >= ey {
                        a
                    } else {
                        b
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stab(index: &RangeIndex, key: &[u8]) -> Vec<Id> {
        let mut out = Vec::new();
        index.stab(key, |id| out.push(id));
        out.sort_unstable();
        out
    }

    #[test]
    fn basic_queries() {
        let mut ix = RangeIndex::default();
        ix.insert(1, b"a".to_vec(), Some(b"c".to_vec()));
        ix.insert(2, b"b".to_vec(), None);
        ix.insert(3, b"x".to_vec(), Some(b"y".to_vec()));
        assert_eq!(stab(&ix, b"a"), [1]);
        assert_eq!(stab(&ix, b"b"), [1, 2]);
        assert_eq!(stab(&ix, b"c"), [2]);
        assert_eq!(stab(&ix, b"x"), [2, 3]);
        assert_eq!(stab(&ix, b"\0"), Vec::<Id>::new());
        assert!(ix.remove(2));
        assert!(!ix.remove(2));
        assert_eq!(stab(&ix, b"b"), [1]);
        assert_eq!(ix.len(), 2);
    }

    /// A small deterministic generator, so failures replay.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn key(&mut self) -> Vec<u8> {
            let len = 1 + self.next() % 3;
            (0..len).map(|_| b'a' + (self.next() % 6) as u8).collect()
        }
    }

    /// Random inserts and removals (enough to cross several rebuilds)
    /// against a brute-force model.
    #[test]
    fn matches_brute_force() {
        let mut rng = Lcg(7);
        let mut ix = RangeIndex::default();
        let mut model: HashMap<Id, Entry> = HashMap::new();
        for step in 0..6000u64 {
            let op = rng.next() % 10;
            if op < 6 || model.is_empty() {
                let id = rng.next() % 700;
                let start = rng.key();
                let end = match rng.next() % 4 {
                    0 => None,
                    _ => {
                        let mut e = rng.key();
                        if e <= start {
                            e = start.clone();
                            e.push(b'z');
                        }
                        Some(e)
                    }
                };
                ix.insert(id, start.clone(), end.clone());
                model.insert(
                    id,
                    Entry {
                        start,
                        end,
                        id,
                        alive: true,
                    },
                );
            } else {
                let id = rng.next() % 700;
                assert_eq!(ix.remove(id), model.remove(&id).is_some());
            }
            if step % 7 == 0 {
                let key = rng.key();
                let mut want: Vec<Id> = model
                    .values()
                    .filter(|e| e.contains(&key))
                    .map(|e| e.id)
                    .collect();
                want.sort_unstable();
                assert_eq!(stab(&ix, &key), want, "step {step} key {key:?}");
            }
        }
        assert_eq!(ix.len(), model.len());
    }

    #[test]
    fn many_entries_stay_fast_to_query() {
        let mut ix = RangeIndex::default();
        for i in 0..10_000u64 {
            let start = format!("/prefix/{i:05}/").into_bytes();
            let mut end = start.clone();
            *end.last_mut().unwrap() += 1;
            ix.insert(i, start, Some(end));
        }
        assert_eq!(stab(&ix, b"/prefix/04242/x"), [4242]);
        assert_eq!(stab(&ix, b"/other"), Vec::<Id>::new());
    }
}
