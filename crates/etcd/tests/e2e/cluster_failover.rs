//! Fail-over of a three-member cluster, against ours and Debian's etcd:
//! the leader is killed with SIGKILL while several clients write.
//!
//! What must hold (issue 4): a new leader is elected within a few election
//! timeouts; writes resume; once the killed member is back, every write that
//! was acknowledged is on every member with the revision it was
//! acknowledged with, and all members' HashKV at the same revision agree.
//! The fail-over time (kill → the two survivors agree on a new leader) and
//! the write gap (kill → first acknowledged write sent after the kill) are
//! printed, with `--heartbeat-interval=50 --election-timeout=500`.
//!
//! The body is `common::cluster::kill_leader_under_writes`, shared with the
//! TLS cluster's test. Its writers are `Writers`: each sends through one
//! member and moves on to the next when a write fails, so most writes reach
//! the leader through a follower (forwarded).

use crate::common;

use common::cluster::{self, Cluster};

both!(kill_leader_under_writes, |target| async move {
    let cluster = Cluster::start(target, 3, &[]).await;
    cluster::kill_leader_under_writes(target, cluster).await;
});
