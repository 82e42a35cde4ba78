//! The distributed mutex (etcd's `concurrency.Mutex`, served by v3lock):
//! Lock joins the contenders under `name/` with one key on the caller's
//! lease and returns once that key is the oldest; Unlock deletes the key.
//!
//! Lock, step by step: one txn creates our key (or finds it, when the same
//! lease locks again) and reads the holder; if the holder is us, done.
//! Otherwise wait for every older key to go (`wait`), then make sure our own
//! key — and so our lease — is still there: a lease that expired while we
//! waited took our key with it, and we must not report a lock we do not
//! hold (etcd 3.4 did; 3.5 checks, and so do we). A call abandoned while
//! waiting deletes its key.

use etcd_proto::etcdserverpb::{response_op, RangeResponse, TxnResponse};
use etcd_proto::raftpb::raft_request::Request;

use super::cleanup::Cleanup;
use super::client::{revision, unexpected, Concurrency};
use super::{keys, ConcurrencyError};
use crate::errors::EtcdError;
use crate::server::Consistency;
use etcd_storage::request::Needs;

/// A lock now held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locked {
    /// Our key, `name/<lease hex>`: it exists as long as we hold the lock.
    pub key: Vec<u8>,
    /// The store revision the response reports.
    pub revision: i64,
}

impl Concurrency {
    /// Waits until `name` is ours on `lease` (0: a fresh session lease).
    pub async fn lock(&self, name: &[u8], lease: i64) -> Result<Locked, ConcurrencyError> {
        let lease = self.session_lease(lease).await?;
        let prefix = keys::prefix(name);
        let key = keys::contender_key(&prefix, lease);
        let joined = self
            .txn(keys::join(
                &key,
                b"",
                lease,
                Some(keys::first_created(&prefix)),
            ))
            .await?;
        let joined_at = revision(&joined.header);
        let my_rev = if joined.succeeded {
            joined_at
        } else {
            range_at(&joined, 0)?
                .kvs
                .first()
                .map(|kv| kv.create_revision)
                .ok_or_else(|| unexpected("a lock txn: our key vanished inside it"))?
        };
        let holder = range_at(&joined, 1)?
            .kvs
            .first()
            .map(|kv| kv.create_revision);
        if holder.is_none_or(|rev| rev == my_rev) {
            return Ok(Locked {
                key,
                revision: joined_at,
            });
        }

        let undo = Cleanup::new(self.clone(), delete(&key));
        self.wait_deletes(&prefix, my_rev - 1).await?;
        match self.still_held(&key, my_rev, lease).await {
            Ok(revision) => {
                undo.disarm();
                Ok(Locked { key, revision })
            }
            // Our key is gone already; a new one with this lease may be
            // another call's.
            Err(ConcurrencyError::SessionExpired) => {
                undo.disarm();
                Err(ConcurrencyError::SessionExpired)
            }
            Err(e) => Err(e),
        }
    }

    /// Releases a lock by deleting its key; the revision after.
    pub async fn unlock(&self, key: Vec<u8>) -> Result<i64, ConcurrencyError> {
        Ok(self.delete(key).await?)
    }

    /// The read revision if our key (created at `my_rev`) and its lease
    /// both still exist; `SessionExpired` if not.
    async fn still_held(
        &self,
        key: &[u8],
        my_rev: i64,
        lease: i64,
    ) -> Result<i64, ConcurrencyError> {
        let get = keys::get(key);
        let caller = self.caller.clone();
        let (resp, lease_alive) = self
            .server
            .read(Consistency::Linearizable, move |txn| {
                txn.authorize(Some(&caller), || Needs::range(&get))?;
                Ok((txn.range(&get)?, txn.lease(lease)?.is_some()))
            })
            .await?;
        let ours = resp
            .kvs
            .first()
            .is_some_and(|kv| kv.create_revision == my_rev);
        if ours && lease_alive {
            Ok(revision(&resp.header))
        } else {
            Err(ConcurrencyError::SessionExpired)
        }
    }
}

/// The `i`th response of a txn, which the recipe built as a range.
pub(super) fn range_at(resp: &TxnResponse, i: usize) -> Result<&RangeResponse, EtcdError> {
    match resp.responses.get(i).and_then(|r| r.response.as_ref()) {
        Some(response_op::Response::ResponseRange(range)) => Ok(range),
        _ => Err(unexpected("a recipe txn: missing range")),
    }
}

pub(super) fn delete(key: &[u8]) -> Request {
    Request::DeleteRange(etcd_proto::etcdserverpb::DeleteRangeRequest {
        key: key.to_vec(),
        ..Default::default()
    })
}
