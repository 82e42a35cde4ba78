//! What the server's parts may ask of Raft through [`EtcdServer`]: who
//! leads, whether this member is a learner, and a call to the leader's peer
//! listener (for what only the leader answers, such as lease renewals).

use std::future::Future;

use etcd_raft::leader_client::CallError;
use etcd_raft::{MemberId, RaftStatus};
use tonic::transport::Channel;

use super::EtcdServer;

impl EtcdServer {
    /// Whether this member leads now.
    pub fn is_leader(&self) -> bool {
        self.node.is_leader()
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<MemberId> {
        self.node.status().leader
    }

    /// Whether this member is a learner in the committed membership.
    pub fn is_learner(&self) -> bool {
        self.node.membership().is_learner()
    }

    /// Raft's view of this member: term, leader, indexes.
    pub fn raft_status(&self) -> RaftStatus {
        self.node.status()
    }

    /// Calls `call` with a channel to the leader's peer listener until it
    /// gives a final answer, within etcd's request timeout (retried while
    /// leadership moves; see `etcd_raft::leader_client`).
    pub async fn call_leader<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: FnMut(MemberId, Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = tokio::time::Instant::now() + self.limits.request_timeout;
        self.node
            .leader_client()
            .call(deadline, call)
            .await
            .map(tonic::Response::into_inner)
    }
}
