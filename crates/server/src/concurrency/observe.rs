//! Observe (etcd's `Election.Observe`): a stream of the election's leader,
//! as etcd produces it — the current leader's key-value (or, when nobody
//! leads, the first key then put under the prefix), then every later value
//! of that key (each Proclaim), and once it is deleted the next leader, and
//! so on. The stream ends when the client leaves, the member stops, or a
//! read or watch fails (etcd ends it the same way, with no error).

use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::KeyValue;
use tokio::sync::mpsc;

use super::client::{revision, Concurrency};
use super::keys;

/// Updates buffered for a slow observer before the observing task waits.
const OBSERVE_BUFFER: usize = 16;

/// One update of an observed election.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The revision the response reports.
    pub revision: i64,
    /// The leader key, with its current value.
    pub kv: KeyValue,
}

impl Concurrency {
    /// Starts observing election `name`; updates arrive on the receiver,
    /// which closes when the observation ends. Dropping it stops the task.
    pub fn observe(&self, name: &[u8]) -> mpsc::Receiver<Observed> {
        let (tx, rx) = mpsc::channel(OBSERVE_BUFFER);
        let this = self.clone();
        let prefix = keys::prefix(name);
        tokio::spawn(async move {
            tokio::select! {
                _ = this.observe_into(&prefix, &tx) => {}
                () = tx.closed() => {}
                () = this.stopping() => {}
            }
        });
        rx
    }

    /// Sends leader updates until something fails (`None`).
    async fn observe_into(&self, prefix: &[u8], tx: &mpsc::Sender<Observed>) -> Option<()> {
        loop {
            let resp = self.range(keys::first_created(prefix)).await.ok()?;
            let first = match resp.kvs.into_iter().next() {
                Some(kv) => Observed {
                    revision: revision(&resp.header),
                    kv,
                },
                None => self.first_put(prefix, revision(&resp.header)).await?,
            };
            let key = first.kv.key.clone();
            let mut watch = self.watch(&key, b"", first.revision + 1).ok()?;
            tx.send(first).await.ok()?;
            'leading: loop {
                let batch = watch.recv().await?;
                if batch.compact_revision != 0 {
                    return None;
                }
                for ev in &batch.events {
                    if ev.r#type == EventType::Delete as i32 {
                        break 'leading;
                    }
                    let Some(kv) = ev.kv.clone() else { continue };
                    tx.send(Observed {
                        revision: batch.revision,
                        kv,
                    })
                    .await
                    .ok()?;
                }
            }
        }
    }

    /// With nobody leading at `read_at`: the first key put under `prefix`
    /// from then on (the revision reported is its mod revision).
    async fn first_put(&self, prefix: &[u8], read_at: i64) -> Option<Observed> {
        let mut watch = self
            .watch(prefix, &keys::prefix_end(prefix), read_at)
            .ok()?;
        loop {
            let batch = watch.recv().await?;
            if batch.compact_revision != 0 {
                return None;
            }
            let put = batch
                .events
                .iter()
                .find(|ev| ev.r#type == EventType::Put as i32)
                .and_then(|ev| ev.kv.clone());
            if let Some(kv) = put {
                return Some(Observed {
                    revision: kv.mod_revision,
                    kv,
                });
            }
        }
    }
}
