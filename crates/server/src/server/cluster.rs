//! Membership requests on [`EtcdServer`]: changes go to the leader through
//! `etcd_raft::membership` within etcd's request timeout; the member list
//! is the membership this member knows to be committed, after a ReadIndex
//! when the caller asks for a linearizable list.

use etcd_proto::raftpb::Caller;
use etcd_raft::membership::{MemberChange, MemberInfo};

use super::EtcdServer;
use crate::errors::EtcdError;

impl EtcdServer {
    /// Makes `change` (add, remove, update, promote) and returns the
    /// members after it. Root only, as in etcd.
    pub async fn member_change(
        &self,
        caller: &Caller,
        change: MemberChange,
    ) -> Result<Vec<MemberInfo>, EtcdError> {
        self.check_admin(caller).await?;
        let deadline = tokio::time::Instant::now() + self.limits.request_timeout;
        let promote = matches!(change, MemberChange::Promote { .. });
        let changed = self.node.membership().change(change, deadline).await;
        changed.map_err(|e| {
            let e = EtcdError::from(e);
            // etcd counts each refused promotion by its error's text.
            if promote && !matches!(e, EtcdError::NotLeader) {
                crate::metrics::learner_promote_failed(&e.to_string());
            }
            e
        })
    }

    /// Open to every caller, as in etcd.
    pub async fn member_list(&self, linearizable: bool) -> Result<Vec<MemberInfo>, EtcdError> {
        if linearizable {
            self.node.read_index().await?;
        }
        Ok(self.node.membership().members())
    }
}
