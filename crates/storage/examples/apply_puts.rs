//! Measures the apply path alone: puts applied in batches, as the state
//! machine applies committed entries, on a fresh store in a temp dir.
//!
//! `cargo run --release -p etcd-storage --example apply_puts -- [puts] [key space] [batch]`
//! (defaults 200000, 100000, 64). Prints microseconds of CPU per put and the
//! file's size, so a change to the apply path lands with its figures.

use std::time::Instant;

use etcd_proto::etcdserverpb::PutRequest;
use etcd_proto::raftpb::{raft_request::Request, RaftRequest};
use etcd_storage::Backend;

fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (puts, key_space, batch) = (arg(1, 200_000), arg(2, 100_000), arg(3, 64));
    let dir = tempfile::tempdir().expect("a temp dir");
    let backend = Backend::open(&dir.path().join("db")).expect("a store");
    let value = vec![b'v'; 256];
    // A fixed pseudo-random walk over the key space (xorshift), so runs
    // compare.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut applied = 0;
    let mut batches = 0u64;
    while applied < puts {
        let mut txn = backend.begin_apply().expect("a batch");
        for _ in 0..batch.min(puts - applied) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = format!("{:08x}", state % key_space).into_bytes();
            let request = RaftRequest {
                caller: None,
                id: 0,
                request: Some(Request::Put(PutRequest {
                    key,
                    value: value.clone(),
                    ..Default::default()
                })),
            };
            txn.apply(&request).expect("a put");
            applied += 1;
        }
        batches += 1;
        // Durable now and then, as the state machine commits (every 100 ms).
        txn.commit(batches.is_multiple_of(50)).expect("a commit");
    }
    let cpu = cpu_seconds() - cpu;
    let wall = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.path().join("db")).map_or(0, |m| m.len());
    println!(
        "{puts} puts over {key_space} keys, batches of {batch}: {:.2} us CPU per put, {:.2} us wall, {:.0} puts/s, file {:.1} MiB",
        cpu * 1e6 / puts as f64,
        wall * 1e6 / puts as f64,
        puts as f64 / wall,
        size as f64 / (1024.0 * 1024.0)
    );
}

/// This process's user + system CPU time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after
    // the command name.
    (ticks(11) + ticks(12)) / 100.0
}
