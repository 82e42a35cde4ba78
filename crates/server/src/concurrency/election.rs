//! Leader election (etcd's `concurrency.Election`, served by v3election):
//! Campaign joins under `name/` like the mutex, with the proposal as the
//! key's value, and returns once it leads; Proclaim rewrites the leader's
//! value while it still leads; Resign deletes the leader key; Leader reads
//! the oldest key under the prefix. Observe is in `observe`.
//!
//! A leader is identified by its [`LeaderKey`]: the key and its create
//! revision, so a later campaign that happens to reuse the same lease (and
//! so the same key) is not mistaken for the old leadership.

use etcd_proto::etcdserverpb::TxnRequest;
use etcd_proto::mvccpb::KeyValue;
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::v3electionpb::LeaderKey;

use super::cleanup::Cleanup;
use super::client::{revision, unexpected, Concurrency};
use super::mutex::range_at;
use super::{keys, ConcurrencyError};
use crate::errors::EtcdError;

/// A campaign that won.
#[derive(Clone, Debug, PartialEq)]
pub struct Elected {
    pub leader: LeaderKey,
    /// The revision the response reports: that of the txn that joined the
    /// election, as in etcd.
    pub revision: i64,
}

impl Concurrency {
    /// Waits until `name` is led by us with `value`, on `lease` (0: a fresh
    /// session lease). Campaigning again on a lease that already campaigns
    /// reuses its key, proclaiming `value` if it differs.
    pub async fn campaign(
        &self,
        name: &[u8],
        lease: i64,
        value: &[u8],
    ) -> Result<Elected, ConcurrencyError> {
        let lease = self.session_lease(lease).await?;
        let prefix = keys::prefix(name);
        let key = keys::contender_key(&prefix, lease);
        let joined = self.txn(keys::join(&key, value, lease, None)).await?;
        let joined_at = revision(&joined.header);
        let mut leader = LeaderKey {
            name: name.to_vec(),
            key: key.clone(),
            rev: joined_at,
            lease,
        };
        if !joined.succeeded {
            let kv = range_at(&joined, 0)?
                .kvs
                .first()
                .ok_or_else(|| unexpected("a campaign txn: our key vanished inside it"))?;
            leader.rev = kv.create_revision;
            if kv.value != value {
                if let Err(e) = self.proclaim_as(&leader, value).await {
                    let _ = self.resign_as(&leader).await;
                    return Err(e);
                }
            }
        }

        let undo = Cleanup::new(self.clone(), Request::Txn(resign_txn(&leader)));
        match self.wait_deletes(&prefix, leader.rev - 1).await {
            Ok(_) => {}
            // Only a call that is abandoned (or a member that stops) gives
            // up its candidacy; other failures leave the key, as in etcd.
            Err(ConcurrencyError::Etcd(EtcdError::Stopped)) => {
                return Err(EtcdError::Stopped.into())
            }
            Err(e) => {
                undo.disarm();
                return Err(e);
            }
        }
        undo.disarm();
        // As for the mutex: a lease that expired while we waited took our
        // key, and we do not lead.
        let still = self.range(keys::get(&key)).await?;
        let ours = still.kvs.first().map(|kv| kv.create_revision) == Some(leader.rev);
        if !ours {
            return Err(ConcurrencyError::NotLeader);
        }
        Ok(Elected {
            leader,
            revision: joined_at,
        })
    }

    /// Sets the leader's value if `leader` still leads; the revision after.
    /// Runs on the leader's lease (0: a fresh session lease, as in etcd).
    pub async fn proclaim(
        &self,
        leader: Option<LeaderKey>,
        value: &[u8],
    ) -> Result<i64, ConcurrencyError> {
        let mut leader = leader.ok_or(ConcurrencyError::MissingLeaderKey)?;
        leader.lease = self.session_lease(leader.lease).await?;
        self.proclaim_as(&leader, value).await
    }

    /// Gives up leadership (deletes the leader key if it is still the one
    /// `leader` created); the revision after. Not leading is no error.
    pub async fn resign(&self, leader: Option<LeaderKey>) -> Result<i64, ConcurrencyError> {
        let leader = leader.ok_or(ConcurrencyError::MissingLeaderKey)?;
        // etcd opens a session on the leader's lease here too, granting one
        // for lease 0 although resigning does not use it.
        self.session_lease(leader.lease).await?;
        self.resign_as(&leader).await
    }

    /// The current leader's key-value and the read revision.
    pub async fn leader(&self, name: &[u8]) -> Result<(i64, KeyValue), ConcurrencyError> {
        let mut resp = self.range(keys::first_created(&keys::prefix(name))).await?;
        let read_at = revision(&resp.header);
        if resp.kvs.is_empty() {
            return Err(ConcurrencyError::NoLeader);
        }
        Ok((read_at, resp.kvs.swap_remove(0)))
    }

    async fn proclaim_as(&self, leader: &LeaderKey, value: &[u8]) -> Result<i64, ConcurrencyError> {
        let put = keys::put_op(&leader.key, value, leader.lease);
        let resp = self
            .txn(keys::if_still(&leader.key, leader.rev, put))
            .await?;
        if !resp.succeeded {
            return Err(ConcurrencyError::NotLeader);
        }
        Ok(revision(&resp.header))
    }

    async fn resign_as(&self, leader: &LeaderKey) -> Result<i64, ConcurrencyError> {
        Ok(revision(&self.txn(resign_txn(leader)).await?.header))
    }
}

/// Deletes the leader key if it is still the one created at `leader.rev`.
fn resign_txn(leader: &LeaderKey) -> TxnRequest {
    keys::if_still(&leader.key, leader.rev, keys::delete_op(&leader.key))
}
