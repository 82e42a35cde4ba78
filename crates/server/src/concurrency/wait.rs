//! Waiting for one's turn (etcd's `waitDeletes`): a contender whose key was
//! created at revision R holds the lock (or leads) once no key under the
//! prefix was created before R. It waits on one predecessor at a time — the
//! latest created before it — for that key's deletion, then looks again, so
//! a release wakes only the next contender in line, not all of them.

use etcd_proto::mvccpb::event::EventType;

use super::client::{revision, Concurrency};
use super::{keys, ConcurrencyError};
use crate::errors::EtcdError;

impl Concurrency {
    /// Returns once no key under `prefix` has a create revision at or below
    /// `max_create_revision`; the revision of the read that found none.
    /// Ends with `Stopped` when the member stops.
    pub(super) async fn wait_deletes(
        &self,
        prefix: &[u8],
        max_create_revision: i64,
    ) -> Result<i64, ConcurrencyError> {
        loop {
            let resp = self
                .range(keys::last_created_up_to(prefix, max_create_revision))
                .await?;
            let read_at = revision(&resp.header);
            let Some(ahead) = resp.kvs.first() else {
                return Ok(read_at);
            };
            let waited = async { self.wait_delete(&ahead.key, read_at).await };
            tokio::select! {
                result = waited => result?,
                () = self.stopping() => return Err(EtcdError::Stopped.into()),
            }
        }
    }

    /// Returns at the first deletion of `key` from `start_revision` on.
    async fn wait_delete(&self, key: &[u8], start_revision: i64) -> Result<(), ConcurrencyError> {
        let mut watch = self.watch(key, b"", start_revision)?;
        loop {
            let batch = watch.recv().await.ok_or(ConcurrencyError::LostWatcher)?;
            // History from the read's revision on was compacted away: the
            // client would see its watch fail with this error.
            if batch.compact_revision != 0 {
                return Err(EtcdError::Compacted.into());
            }
            if batch
                .events
                .iter()
                .any(|ev| ev.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
    }
}
