//! The errors that end a run before it reports: bad flags, unusable TLS
//! files and failed dials.
//! Failed requests during a run are not errors here; they are counted in the
//! report.

use crate::connect::ConnectError;
use crate::tls::TlsError;
use crate::workload::lease::LeaseError;
use crate::workload::put::PutError;
use crate::workload::txn_put::TxnPutError;
use crate::workload::watch::WatchError;

/// Why `etcd-benchmark` could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--{flag} must be positive")]
    NotPositive { flag: &'static str },
    #[error("--gateway: only put and range run over the JSON gateway")]
    NotOverGateway,
    #[error(transparent)]
    Tls(#[from] TlsError),
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
    #[error("encoding the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}
