//! The `txn-put` workload: `--total` transactions, each an unconditional
//! Txn whose success branch holds `--txn-ops` puts, as etcd's `benchmark
//! txn-put` sends them.
//!
//! Transaction `i` writes key numbers `(i * txn-ops + j) % key-space-size`
//! for `j` in `0..txn-ops`, each key made as `put` makes its keys (a zeroed
//! `--key-size` buffer starting with the number as a Go varint), so the ops
//! of one transaction are distinct keys as long as `--txn-ops` is at most
//! `--key-space-size` (a server refuses a transaction that puts one key
//! twice). The value is one random `--val-size` buffer for every put.
//!
//! Owns key numbering, the transaction and the flag checks. Concurrency and
//! timing belong to the shared driver in `workload`.

use std::sync::Arc;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{PutRequest, RequestOp, TxnRequest};

use super::put::{check_keys, key_for, PutError};
use super::{drive, Worker};
use crate::cli::TxnPutArgs;
use crate::connect::Conn;
use crate::progress::Progress;
use crate::rate::Pacer;
use crate::report::Recording;

/// Flags that cannot work together; worded as etcd's tool words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnPutError {
    #[error(transparent)]
    Keys(#[from] PutError),
    #[error("expected positive --txn-ops, got ({0})")]
    TxnOps(u64),
    #[error("expected --txn-ops no larger than --key-space-size, got txn-ops({txn_ops}) key-space-size({key_space_size})")]
    TxnOpsOverKeySpace { txn_ops: u64, key_space_size: u64 },
}

/// Refuses flag combinations that would fail mid-run.
pub fn check(args: &TxnPutArgs) -> Result<(), TxnPutError> {
    check_keys(args.key_size, args.key_space_size)?;
    if args.txn_ops == 0 {
        return Err(TxnPutError::TxnOps(0));
    }
    if args.txn_ops > args.key_space_size {
        return Err(TxnPutError::TxnOpsOverKeySpace {
            txn_ops: args.txn_ops,
            key_space_size: args.key_space_size,
        });
    }
    Ok(())
}

/// The key numbers transaction `index` writes.
pub fn key_numbers(index: u64, txn_ops: u64, key_space_size: u64) -> impl Iterator<Item = u64> {
    let space = key_space_size.max(1);
    let first = index.wrapping_mul(txn_ops);
    (0..txn_ops).map(move |j| first.wrapping_add(j) % space)
}

/// Transaction `index`: no compare, one put per op in its success branch.
pub fn txn_request(index: u64, args: &TxnPutArgs, value: &[u8]) -> TxnRequest {
    let success = key_numbers(index, args.txn_ops, args.key_space_size)
        .map(|n| RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key_for(n, args.key_size),
                value: value.to_vec(),
                ..PutRequest::default()
            })),
        })
        .collect();
    TxnRequest {
        success,
        ..TxnRequest::default()
    }
}

/// One txn client.
struct TxnWorker {
    kv: KvClient<Conn>,
    args: Arc<TxnPutArgs>,
    value: Arc<Vec<u8>>,
}

impl Worker for TxnWorker {
    async fn request(&mut self, index: u64) -> Result<(), tonic::Status> {
        let request = txn_request(index, &self.args, &self.value);
        self.kv.txn(request).await.map(drop)
    }
}

/// Runs the workload: client `i` sends over `channels[assignment[i]]`.
pub async fn run(
    args: &TxnPutArgs,
    channels: &[Conn],
    assignment: &[usize],
    progress: &Progress,
) -> Result<Recording, TxnPutError> {
    check(args)?;
    let mut value = vec![0u8; args.val_size];
    fastrand::fill(&mut value);
    let value = Arc::new(value);
    let shared = Arc::new(args.clone());
    let workers: Vec<TxnWorker> = assignment
        .iter()
        .filter_map(|&conn| channels.get(conn))
        .map(|channel| TxnWorker {
            kv: KvClient::new(channel.clone()),
            args: Arc::clone(&shared),
            value: Arc::clone(&value),
        })
        .collect();
    progress.start(args.total);
    let pacer = Arc::new(Pacer::new(args.rate));
    Ok(drive(workers, args.total, pacer, progress).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn txn_args(flags: &[&str]) -> TxnPutArgs {
        let argv = ["etcd-benchmark", "txn-put"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::TxnPut(args) => args,
            other => panic!("not txn-put: {other:?}"),
        }
    }

    fn put_keys(txn: &TxnRequest) -> Vec<Vec<u8>> {
        txn.success
            .iter()
            .map(|op| match &op.request {
                Some(Request::RequestPut(put)) => put.key.clone(),
                other => panic!("not a put: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn check_refuses_what_etcd_refuses() {
        assert_eq!(check(&txn_args(&[])), Ok(()));
        assert_eq!(
            check(&txn_args(&["--txn-ops=0"])).unwrap_err().to_string(),
            "expected positive --txn-ops, got (0)"
        );
        assert_eq!(
            check(&txn_args(&["--txn-ops=3", "--key-space-size=2"]))
                .unwrap_err()
                .to_string(),
            "expected --txn-ops no larger than --key-space-size, got txn-ops(3) key-space-size(2)"
        );
        assert_eq!(
            check(&txn_args(&["--key-space-size=0"]))
                .unwrap_err()
                .to_string(),
            "expected positive --key-space-size, got (0)"
        );
        assert!(matches!(
            check(&txn_args(&["--key-size=1", "--key-space-size=1000"])),
            Err(TxnPutError::Keys(PutError::KeyTooSmall { .. }))
        ));
    }

    #[test]
    fn transactions_walk_the_key_space_in_runs_of_txn_ops() {
        let numbers = |i| key_numbers(i, 3, 7).collect::<Vec<_>>();
        assert_eq!(numbers(0), vec![0, 1, 2]);
        assert_eq!(numbers(1), vec![3, 4, 5]);
        assert_eq!(numbers(2), vec![6, 0, 1]);
        assert_eq!(key_numbers(5, 1, 1).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn keys_of_one_transaction_are_distinct() {
        let args = txn_args(&["--txn-ops=4", "--key-space-size=5"]);
        for index in 0..20 {
            let mut keys = put_keys(&txn_request(index, &args, b"v"));
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 4, "txn {index}");
        }
    }

    #[test]
    fn a_transaction_is_unconditional_puts() {
        let args = txn_args(&["--txn-ops=2", "--key-space-size=10", "--key-size=4"]);
        let txn = txn_request(3, &args, b"val");
        assert!(txn.compare.is_empty() && txn.failure.is_empty());
        assert_eq!(put_keys(&txn), vec![key_for(6, 4), key_for(7, 4)]);
        for op in &txn.success {
            let Some(Request::RequestPut(put)) = &op.request else {
                panic!("not a put")
            };
            assert_eq!(put.value, b"val");
        }
    }
}
