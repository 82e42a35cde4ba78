//! The `put` workload: `--total` Put requests of a `--key-size`-byte key and
//! a `--val-size`-byte value, optionally compacting as it goes.
//!
//! Keys are made as etcd's tool makes them, so both tools load a server the
//! same way: a zeroed `key-size` buffer whose first bytes hold the request's
//! key number as a Go zigzag varint; the number is `i % key-space-size` with
//! `--sequential-keys`, else uniformly random below `key-space-size`. With
//! the default key space of 1 every put rewrites the same key. The value is
//! one random buffer, drawn once and sent with every request.
//!
//! Owns key/value generation, flag checks and the compaction side task.
//! Concurrency and timing belong to the shared driver in `workload`.

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::{CompactionRequest, PutRequest, RangeRequest};

use super::{drive, KvConn, Worker};
use crate::cli::PutArgs;
use crate::connect::Conn;
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::{status_text, Recording};

/// Flags that cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutError {
    /// etcd's tool words this one the same way.
    #[error("expected positive --key-space-size, got ({0})")]
    KeySpace(u64),
    #[error("--key-size {key_size} cannot hold key numbers up to {max_key}: it needs at least {needed} bytes")]
    KeyTooSmall {
        key_size: usize,
        max_key: u64,
        needed: usize,
    },
}

/// Writes `n` into `buf` as Go's `binary.PutVarint` does (zigzag, then 7
/// bits per byte, low bits first) and returns how many bytes it used, or
/// `None` if `buf` is too short.
pub fn put_varint(buf: &mut [u8], n: i64) -> Option<usize> {
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    let mut i = 0;
    loop {
        let byte = buf.get_mut(i)?;
        if zigzag < 0x80 {
            *byte = zigzag as u8;
            return Some(i + 1);
        }
        *byte = (zigzag as u8 & 0x7f) | 0x80;
        zigzag >>= 7;
        i += 1;
    }
}

/// Bytes Go's varint needs for `n`.
pub fn varint_len(n: i64) -> usize {
    let mut scratch = [0u8; 10];
    // Ten bytes hold any i64.
    put_varint(&mut scratch, n).unwrap_or(10)
}

/// The key for key number `n`: `key_size` bytes, zero past the varint.
/// The caller has checked with [`check`] that the varint fits.
pub fn key_for(n: u64, key_size: usize) -> Vec<u8> {
    let mut key = vec![0u8; key_size];
    let _ = put_varint(&mut key, n as i64);
    key
}

/// Refuses flag combinations that would fail mid-run.
pub fn check(args: &PutArgs) -> Result<(), PutError> {
    check_keys(args.key_size, args.key_space_size)
}

/// Refuses an empty key space, or keys too short for its largest number;
/// shared by every workload that makes keys with [`key_for`].
pub fn check_keys(key_size: usize, key_space_size: u64) -> Result<(), PutError> {
    if key_space_size == 0 {
        return Err(PutError::KeySpace(0));
    }
    let max_key = key_space_size - 1;
    let needed = varint_len(max_key as i64);
    if key_size < needed {
        return Err(PutError::KeyTooSmall {
            key_size,
            max_key,
            needed,
        });
    }
    Ok(())
}

/// One put client.
struct PutWorker {
    kv: KvConn,
    /// The value every put carries; shared, not copied per client.
    value: Arc<Vec<u8>>,
    key_size: usize,
    key_space_size: u64,
    sequential: bool,
    /// This client's own generator, so clients never contend on one.
    rng: fastrand::Rng,
}

impl Worker for PutWorker {
    async fn request(&mut self, index: u64) -> Result<(), tonic::Status> {
        let n = if self.sequential {
            index % self.key_space_size
        } else {
            self.rng.u64(0..self.key_space_size)
        };
        let request = PutRequest {
            key: key_for(n, self.key_size),
            value: self.value.as_ref().clone(),
            ..PutRequest::default()
        };
        self.kv.put(request).await
    }
}

/// Runs the workload, one client per entry of `kvs`; `compact_over` is the
/// connection the `--compact-interval` compactions go over.
pub async fn run(
    args: &PutArgs,
    kvs: Vec<KvConn>,
    compact_over: Option<&Conn>,
    progress: &Progress,
) -> Result<Recording, PutError> {
    check(args)?;
    let mut rng = fastrand::Rng::new();
    let mut value = vec![0u8; args.val_size];
    rng.fill(&mut value);
    let value = Arc::new(value);
    let workers: Vec<PutWorker> = kvs
        .into_iter()
        .map(|kv| PutWorker {
            kv,
            value: Arc::clone(&value),
            key_size: args.key_size,
            key_space_size: args.key_space_size,
            sequential: args.sequential_keys,
            rng: rng.fork(),
        })
        .collect();

    let compactor = (!args.compact_interval.is_zero())
        .then_some(compact_over)
        .flatten()
        .map(|channel| {
            tokio::spawn(compact_periodically(
                KvClient::new(channel.clone()),
                args.compact_interval,
                args.compact_index_delta,
            ))
        });
    progress.start(args.total);
    let pacer = Arc::new(Pacer::new(args.rate));
    let recording = drive(workers, args.total, pacer, progress).await;
    if let Some(task) = compactor {
        task.abort();
    }
    Ok(recording)
}

/// Every `interval`, compacts the store to `delta` revisions behind the
/// current one. Failures are reported on stderr and do not stop the run:
/// the benchmark measures puts, and a failed compaction is news, not a
/// reason to throw the measurement away.
async fn compact_periodically(mut kv: KvClient<Conn>, interval: Duration, delta: i64) {
    loop {
        tokio::time::sleep(interval).await;
        // Any read returns the current revision in its header.
        let probe = RangeRequest {
            key: b"foo".to_vec(),
            ..RangeRequest::default()
        };
        let revision = match kv.range(probe).await {
            Ok(resp) => resp.into_inner().header.map_or(0, |h| h.revision),
            Err(status) => {
                eprintln!("compaction: reading the revision: {}", status_text(&status));
                continue;
            }
        };
        let target = revision - delta;
        if target <= 0 {
            continue;
        }
        let compact = CompactionRequest {
            revision: target,
            physical: false,
        };
        if let Err(status) = kv.compact(compact).await {
            eprintln!("compaction at {target}: {}", status_text(&status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn put_args(flags: &[&str]) -> PutArgs {
        let argv = ["etcd-benchmark", "put"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Put(args) => args,
            other => panic!("not put: {other:?}"),
        }
    }

    #[test]
    fn varint_matches_go_encoding() {
        // Values checked against Go's binary.PutVarint.
        let mut buf = [0u8; 10];
        assert_eq!(put_varint(&mut buf, 0), Some(1));
        assert_eq!(buf[0], 0);
        assert_eq!(put_varint(&mut buf, 1), Some(1));
        assert_eq!(buf[0], 2);
        assert_eq!(put_varint(&mut buf, -1), Some(1));
        assert_eq!(buf[0], 1);
        assert_eq!(put_varint(&mut buf, 64), Some(2));
        assert_eq!(&buf[..2], &[0x80, 0x01]);
        assert_eq!(put_varint(&mut buf, 300), Some(2));
        assert_eq!(&buf[..2], &[0xd8, 0x04]);
        assert_eq!(varint_len(i64::MAX), 10);
        assert_eq!(put_varint(&mut [0u8; 1], 64), None);
    }

    #[test]
    fn keys_are_zero_padded_varints() {
        assert_eq!(key_for(0, 8), vec![0; 8]);
        assert_eq!(key_for(300, 4), vec![0xd8, 0x04, 0, 0]);
    }

    #[test]
    fn check_refuses_empty_key_space_and_short_keys() {
        assert_eq!(
            check(&put_args(&["--key-space-size=0"])),
            Err(PutError::KeySpace(0))
        );
        assert_eq!(
            check(&put_args(&["--key-size=1", "--key-space-size=65"])),
            Err(PutError::KeyTooSmall {
                key_size: 1,
                max_key: 64,
                needed: 2
            })
        );
        assert_eq!(
            check(&put_args(&["--key-size=1", "--key-space-size=64"])),
            Ok(())
        );
        assert_eq!(check(&put_args(&[])), Ok(()));
    }

    #[test]
    fn key_space_error_reads_like_etcd() {
        assert_eq!(
            PutError::KeySpace(0).to_string(),
            "expected positive --key-space-size, got (0)"
        );
    }
}
