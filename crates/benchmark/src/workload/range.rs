//! The `range` workload: `--total` Range requests for `KEY` (or the range
//! `KEY`..`END`), linearizable or serializable, optionally with `--limit`
//! and `--count-only`, as etcd's `benchmark range` sends them. Every request
//! is the same; the server's answer is not checked beyond its status.
//!
//! Owns the request. Concurrency and timing belong to the shared driver in
//! `workload`.

use std::sync::Arc;

use etcd_proto::etcdserverpb::RangeRequest;

use super::{drive, KvConn, Worker};
use crate::cli::{Consistency, RangeArgs};
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::Recording;

/// The one request every client sends over and over.
pub fn range_request(args: &RangeArgs) -> RangeRequest {
    RangeRequest {
        key: args.key.as_bytes().to_vec(),
        range_end: args
            .end
            .as_deref()
            .map(|end| end.as_bytes().to_vec())
            .unwrap_or_default(),
        limit: args.limit,
        serializable: args.consistency == Consistency::Serializable,
        count_only: args.count_only,
        ..RangeRequest::default()
    }
}

/// The line etcd's tool prints before a range run, naming the consistency.
pub fn banner(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Linearizable => "bench with linearizable range",
        Consistency::Serializable => "bench with serializable range",
    }
}

/// One range client.
struct RangeWorker {
    kv: KvConn,
    request: Arc<RangeRequest>,
}

impl Worker for RangeWorker {
    async fn request(&mut self, _index: u64) -> Result<(), tonic::Status> {
        self.kv.range(&self.request).await
    }
}

/// Runs the workload, one client per entry of `kvs`.
pub async fn run(args: &RangeArgs, kvs: Vec<KvConn>, progress: &Progress) -> Recording {
    let request = Arc::new(range_request(args));
    let workers: Vec<RangeWorker> = kvs
        .into_iter()
        .map(|kv| RangeWorker {
            kv,
            request: Arc::clone(&request),
        })
        .collect();
    progress.start(args.total);
    let pacer = Arc::new(Pacer::new(args.rate));
    drive(workers, args.total, pacer, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn range_args(args: &[&str]) -> RangeArgs {
        let argv = ["etcd-benchmark", "range"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Range(args) => args,
            other => panic!("not range: {other:?}"),
        }
    }

    #[test]
    fn a_single_key_read_is_linearizable_by_default() {
        let request = range_request(&range_args(&["foo"]));
        assert_eq!(request.key, b"foo");
        assert!(request.range_end.is_empty());
        assert!(!request.serializable && !request.count_only);
        assert_eq!(request.limit, 0);
    }

    #[test]
    fn flags_reach_the_request() {
        let request = range_request(&range_args(&[
            "a",
            "b",
            "--consistency=s",
            "--limit=3",
            "--count-only",
        ]));
        assert_eq!(
            (request.key.as_slice(), request.range_end.as_slice()),
            (&b"a"[..], &b"b"[..])
        );
        assert!(request.serializable && request.count_only);
        assert_eq!(request.limit, 3);
    }

    #[test]
    fn banner_names_the_consistency_as_etcd_does() {
        assert_eq!(
            banner(Consistency::Linearizable),
            "bench with linearizable range"
        );
        assert_eq!(
            banner(Consistency::Serializable),
            "bench with serializable range"
        );
    }
}
