//! The lease requests on [`EtcdServer`]: grants and revokes from clients
//! (a revoke needs write on every key attached, judged at apply), the
//! member's own expiries and checkpoints, and the stored records the
//! Lease service and the lessor read. Timers and keep-alives are the
//! lessor's (`crate::lease`).

use etcd_proto::etcdserverpb::{
    LeaseCheckpointRequest, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse,
};
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::Caller;
use etcd_storage::{ApplyResponse, LeaseRecord};

use super::kv::unexpected;
use super::{Consistency, EtcdServer};
use crate::errors::EtcdError;

/// A lease as stored, with its attached keys (when asked for) and the
/// store revision of the read.
pub struct StoredLease {
    pub record: Option<LeaseRecord>,
    pub keys: Vec<Vec<u8>>,
    pub revision: i64,
}

impl EtcdServer {
    /// Grants lease `id` (chosen already) with `ttl` (checked already).
    pub async fn lease_grant(
        &self,
        caller: &Caller,
        id: i64,
        ttl: i64,
    ) -> Result<LeaseGrantResponse, EtcdError> {
        match self
            .write(caller, Request::LeaseGrant(LeaseGrantRequest { ttl, id }))
            .await?
        {
            ApplyResponse::LeaseGrant(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("lease grant")),
        }
    }

    pub async fn lease_revoke(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<LeaseRevokeResponse, EtcdError> {
        match self
            .write(caller, Request::LeaseRevoke(LeaseRevokeRequest { id }))
            .await?
        {
            ApplyResponse::LeaseRevoke(mut resp) => {
                self.fill_header(&mut resp.header);
                Ok(resp)
            }
            _ => Err(unexpected("lease revoke")),
        }
    }

    /// Records remaining TTLs: the member's own request.
    pub async fn lease_checkpoint(&self, req: LeaseCheckpointRequest) -> Result<(), EtcdError> {
        self.write(&crate::auth::member(), Request::LeaseCheckpoint(req))
            .await
            .map(drop)
    }

    /// Lease `id` as stored (linearizable), with its keys if `with_keys`.
    /// Open to every caller, as in etcd 3.4.
    pub async fn stored_lease(
        &self,
        _caller: &Caller,
        id: i64,
        with_keys: bool,
    ) -> Result<StoredLease, EtcdError> {
        self.read(Consistency::Linearizable, move |txn| {
            let record = txn.lease(id)?;
            let keys = match (&record, with_keys) {
                (Some(_), true) => txn.lease_keys(id)?,
                _ => Vec::new(),
            };
            Ok(StoredLease {
                record,
                keys,
                revision: txn.current_revision()?,
            })
        })
        .await
    }

    /// Every stored lease (as this member applied them), with the store
    /// revision.
    pub async fn stored_leases(&self) -> Result<(Vec<LeaseRecord>, i64), EtcdError> {
        self.read(Consistency::Serializable, |txn| {
            Ok((txn.leases()?, txn.current_revision()?))
        })
        .await
    }
}
