//! The lessor's background work, on the leader only: every half second,
//! follow Raft's leadership (promote/demote), revoke expired leases through
//! Raft, and propose the periodic checkpoints that are due. Also the final
//! checkpoint a leader proposes when it shuts down.
//!
//! Rates are etcd's: at most `REVOKE_RATE / 2` revokes per half-second tick
//! (1000/s), 16 in flight at a time; checkpoints in batches of
//! `CHECKPOINT_BATCH` per proposal.

use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::LeaseCheckpointRequest;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::lessor::{Lessor, CHECKPOINT_BATCH, REVOKE_RATE};
use crate::errors::EtcdError;
use crate::server::EtcdServer;

/// How often expiries and checkpoints are looked at, as in etcd.
const TICK: Duration = Duration::from_millis(500);
/// Revokes in flight at once, as etcd's `maxPendingRevokes`.
const MAX_PENDING_REVOKES: usize = 16;
/// Checkpoint proposals per tick at most (etcd: half its checkpoint rate).
const MAX_CHECKPOINT_PROPOSALS_PER_TICK: usize = 500;

/// Starts the loop; it runs until aborted.
pub fn spawn(lessor: Arc<Lessor>, server: Arc<EtcdServer>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = lessor.follow_role(&server).await {
                tracing::debug!(error = %e, "lessor could not follow the raft role");
                continue;
            }
            revoke_expired(&lessor, &server).await;
            propose_due_checkpoints(&lessor, &server).await;
        }
    })
}

async fn revoke_expired(lessor: &Lessor, server: &EtcdServer) {
    let expired = lessor.take_expired(REVOKE_RATE / 2);
    if expired.is_empty() {
        return;
    }
    futures::stream::iter(expired)
        .map(|id| async move {
            // As etcd, with root's rights: the member's own housekeeping.
            (id, server.lease_revoke(&crate::auth::member(), id).await)
        })
        .buffer_unordered(MAX_PENDING_REVOKES)
        .for_each(|(id, result)| async move {
            match result {
                // Revoked by a client meanwhile.
                Ok(_) | Err(EtcdError::LeaseNotFound) => {}
                Err(e) => tracing::warn!(
                    "lease-id" = %format!("{id:016x}"),
                    error = %e,
                    "failed to revoke lease"
                ),
            }
        })
        .await;
}

async fn propose_due_checkpoints(lessor: &Lessor, server: &EtcdServer) {
    for _ in 0..MAX_CHECKPOINT_PROPOSALS_PER_TICK {
        let batch = lessor.take_due_checkpoints(CHECKPOINT_BATCH);
        let full = batch.len() == CHECKPOINT_BATCH;
        if batch.is_empty() {
            return;
        }
        let req = LeaseCheckpointRequest { checkpoints: batch };
        if let Err(e) = server.lease_checkpoint(req).await {
            tracing::warn!(error = %e, "failed to checkpoint leases");
            return;
        }
        if !full {
            return;
        }
    }
}

/// Records every lease's remaining TTL before a leader stops, so a restart
/// resumes each lease where it was instead of from a stale checkpoint or
/// its full TTL. Best effort: a failure is logged and the stop goes on.
pub async fn checkpoint_all(lessor: &Lessor, server: &EtcdServer) {
    let all = lessor.all_checkpoints();
    let count = all.len();
    for chunk in all.chunks(CHECKPOINT_BATCH) {
        let req = LeaseCheckpointRequest {
            checkpoints: chunk.to_vec(),
        };
        if let Err(e) = server.lease_checkpoint(req).await {
            tracing::warn!(error = %e, "failed to checkpoint leases at shutdown");
            return;
        }
    }
    if count > 0 {
        tracing::info!(leases = count, "checkpointed lease remaining TTLs");
    }
}
