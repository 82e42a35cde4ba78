//! [`Cleanup`]: the write that undoes a contender's key when its call does
//! not complete — etcd's Lock deletes its key, and Campaign resigns, when the
//! client cancels while waiting. A gRPC handler's future is simply dropped
//! when its client goes away, so the undo runs from `Drop`, on a task of
//! its own.

use etcd_proto::raftpb::raft_request::Request;

use super::client::Concurrency;

pub(super) struct Cleanup {
    concurrency: Concurrency,
    /// The undo; `None` once disarmed.
    undo: Option<Request>,
}

impl Cleanup {
    pub fn new(concurrency: Concurrency, undo: Request) -> Cleanup {
        Cleanup {
            concurrency,
            undo: Some(undo),
        }
    }

    /// The call completed (or ended in a way that must leave the key): no
    /// undo.
    pub fn disarm(mut self) {
        self.undo = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let server = self.concurrency.server.clone();
        runtime.spawn(async move {
            // Best effort, as in etcd: if it fails (the member is stopping,
            // no leader), the key goes when its lease does.
            // With the member's rights: it undoes the caller's own write,
            // which was allowed, after the caller has gone.
            if let Err(e) = server.write(&crate::auth::member(), undo).await {
                tracing::debug!(error = %e, "could not remove an abandoned lock or election key");
            }
        });
    }
}
