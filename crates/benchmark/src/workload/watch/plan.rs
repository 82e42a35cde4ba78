//! Who watches what, and how many events each stream should therefore see:
//! the watched keys, the watcher → key assignment and the expected event
//! counts, all pure functions of the flags.
//!
//! Keys are made as etcd's tool makes them: `watched-key-total` keys of
//! `key-size` bytes, key i holding key number `i % key-space-size` (with
//! `--sequential-keys`, else a random number below `key-space-size`) as a Go
//! varint. With the default key space of 1 every watched key is the same key,
//! so "distinct keys" needs `--key-space-size` ≥ `--watched-key-total` and
//! `--sequential-keys`.
//!
//! Owns no I/O; opening streams and counting deliveries live in `stream`.

use std::collections::HashMap;

use crate::workload::put::key_for;

/// The watched keys: `total` keys drawn from a space of `space` key numbers.
pub fn watched_keys(
    total: usize,
    key_size: usize,
    space: u64,
    sequential: bool,
    rng: &mut fastrand::Rng,
) -> Vec<Vec<u8>> {
    (0..total as u64)
        .map(|i| {
            let n = if sequential {
                i % space
            } else {
                rng.u64(0..space)
            };
            key_for(n, key_size)
        })
        .collect()
}

/// Index into the watched keys of watcher `slot` on stream `stream`: the
/// watchers are numbered stream by stream, watcher j taking key j % keys.
pub fn watcher_key(stream: usize, slot: usize, per_stream: usize, keys: usize) -> usize {
    (stream * per_stream + slot) % keys.max(1)
}

/// How many of the `put_total` puts land on each distinct key; put i writes
/// key i % keys.len(), and equal keys count together.
pub fn puts_per_key(keys: &[Vec<u8>], put_total: u64) -> HashMap<&[u8], u64> {
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    if keys.is_empty() {
        return counts;
    }
    let len = keys.len() as u64;
    // Each key index is hit put_total / len times, the first put_total % len
    // once more; no need to walk every put.
    for (i, key) in keys.iter().enumerate() {
        let hits = put_total / len + u64::from((i as u64) < put_total % len);
        *counts.entry(key.as_slice()).or_default() += hits;
    }
    counts
}

/// Events each stream should receive: for every watcher on it, the puts to
/// its key (a watcher sees every put to the key it watches).
pub fn expected_per_stream(
    keys: &[Vec<u8>],
    put_total: u64,
    streams: usize,
    per_stream: usize,
) -> Vec<u64> {
    let per_key = puts_per_key(keys, put_total);
    (0..streams)
        .map(|s| {
            (0..per_stream)
                .map(|slot| {
                    let key = &keys[watcher_key(s, slot, per_stream, keys.len())];
                    per_key.get(key.as_slice()).copied().unwrap_or(0)
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_key_space_makes_one_key() {
        let keys = watched_keys(5, 8, 1, false, &mut fastrand::Rng::with_seed(1));
        assert!(keys.iter().all(|k| k == &vec![0u8; 8]));
    }

    #[test]
    fn sequential_keys_are_distinct_within_the_space() {
        let keys = watched_keys(4, 2, 3, true, &mut fastrand::Rng::new());
        assert_eq!(
            keys,
            vec![key_for(0, 2), key_for(1, 2), key_for(2, 2), key_for(0, 2)]
        );
    }

    #[test]
    fn watchers_go_round_the_keys_stream_by_stream() {
        assert_eq!(watcher_key(0, 0, 3, 4), 0);
        assert_eq!(watcher_key(1, 0, 3, 4), 3);
        assert_eq!(watcher_key(1, 1, 3, 4), 0);
        assert_eq!(watcher_key(2, 2, 3, 0), 0);
    }

    #[test]
    fn puts_spread_round_robin_and_equal_keys_merge() {
        let keys = vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()];
        let counts = puts_per_key(&keys, 10);
        // Indexes 0,1,2 get 4,3,3 puts; keys 0 and 2 are both "a".
        assert_eq!(counts.get(b"a".as_slice()), Some(&7));
        assert_eq!(counts.get(b"b".as_slice()), Some(&3));
        assert!(puts_per_key(&[], 10).is_empty());
    }

    #[test]
    fn one_key_fans_every_put_out_to_every_watcher() {
        let keys = vec![b"k".to_vec()];
        assert_eq!(expected_per_stream(&keys, 100, 3, 10), vec![1000; 3]);
    }

    #[test]
    fn distinct_keys_give_each_watcher_its_own_puts() {
        // 4 keys, 2 streams of 2 watchers: stream 0 watches keys 0,1 and
        // stream 1 keys 2,3; 6 puts hit keys 0,1 twice and 2,3 once.
        let keys: Vec<Vec<u8>> = (0..4).map(|n| key_for(n, 1)).collect();
        assert_eq!(expected_per_stream(&keys, 6, 2, 2), vec![4, 2]);
    }
}
