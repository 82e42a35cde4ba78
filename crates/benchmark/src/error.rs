//! The errors that end a run before it reports: bad flags and failed dials.
//! Failed requests during a run are not errors here; they are counted in the
//! report.

use crate::connect::ConnectError;
use crate::workload::lease::LeaseError;
use crate::workload::put::PutError;
use crate::workload::txn_put::TxnPutError;
use crate::workload::watch::WatchError;

/// Why `etcd-benchmark` could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--{flag} must be positive")]
    NotPositive { flag: &'static str },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Put(#[from] PutError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    TxnPut(#[from] TxnPutError),
    /// A flag etcd's tool has that this one cannot honour yet; refused so
    /// a run never silently differs from what was asked.
    #[error("--{flag} is not supported yet: {why}")]
    Unsupported {
        flag: &'static str,
        why: &'static str,
    },
    #[error("encoding the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}
