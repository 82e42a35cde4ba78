//! The faults a scenario injects, each undone by [`Cluster::heal`]: process
//! faults (SIGKILL, SIGSTOP beyond the election timeout), network faults
//! through the peer proxies (partitions, one-way loss, delay), a leader
//! move, and a member left far behind.

use std::fmt;
use std::time::Duration;

use crate::cluster::{connect, Cluster, Flavor, ELECTION_MS};
use crate::proxy::Rule;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL a random member; it is restarted on heal.
    KillMember,
    /// SIGKILL whoever leads.
    KillLeader,
    /// SIGSTOP a random member for longer than the election timeout.
    PauseMember,
    /// SIGSTOP the leader.
    PauseLeader,
    /// Cut the leader off from the others, both ways.
    PartitionLeader,
    /// Cut one follower off, both ways.
    PartitionFollower,
    /// The leader's messages to one follower are lost; the follower's
    /// still arrive.
    DropLeaderToFollower,
    /// Every message between members is delayed.
    DelayPeers,
    /// MoveLeader to a random follower.
    MoveLeader,
    /// Restart a follower with almost no room left for its files, so its
    /// writes fail (EFBIG, as on a full disk) and it stops; on heal it is
    /// restarted with room. etcd-rs only: etcd preallocates 64 MiB WAL
    /// files and cannot start under such a limit.
    FullDisk,
    /// Remove a follower, wipe it, and add it back as a new member.
    ReplaceMember,
    /// Kill a follower and keep it down while the others write on, so it
    /// returns far behind (from a snapshot, when the log was compacted).
    FollowerBehind,
}

impl Fault {
    /// Every fault a cluster of `members` can take.
    pub fn all(members: usize, flavor: Flavor) -> Vec<Fault> {
        let mut faults = if members == 1 {
            vec![Fault::KillMember, Fault::PauseMember]
        } else {
            vec![
                Fault::KillMember,
                Fault::KillLeader,
                Fault::PauseMember,
                Fault::PauseLeader,
                Fault::PartitionLeader,
                Fault::PartitionFollower,
                Fault::DropLeaderToFollower,
                Fault::DelayPeers,
                Fault::MoveLeader,
                Fault::FollowerBehind,
                Fault::ReplaceMember,
            ]
        };
        if flavor == Flavor::EtcdRs {
            faults.push(Fault::FullDisk);
        }
        faults
    }

    /// How long the fault lasts before it is healed.
    pub fn hold(self, rng: &mut fastrand::Rng) -> Duration {
        let election = ELECTION_MS;
        let ms = match self {
            Fault::FollowerBehind | Fault::FullDisk => 3000 + rng.u64(..1500),
            Fault::MoveLeader | Fault::ReplaceMember => 200,
            Fault::DelayPeers => 1000 + rng.u64(..1000),
            // Longer than an election timeout, so the rest of the cluster
            // reacts (elects, or finds the member gone).
            _ => election * 2 + rng.u64(..election * 3),
        };
        Duration::from_millis(ms)
    }

    /// Injects the fault; returns what it did, for the report.
    pub async fn inject(self, cluster: &mut Cluster, rng: &mut fastrand::Rng) -> String {
        let members = cluster.indexes();
        let leader = cluster.leader().await;
        let any = members[rng.usize(..members.len())];
        let follower = {
            let others: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&m| Some(m) != leader)
                .collect();
            if others.is_empty() {
                any
            } else {
                others[rng.usize(..others.len())]
            }
        };
        let leader = leader.unwrap_or(any);
        match self {
            Fault::KillMember => {
                cluster.kill(any);
                format!("killed m{any}")
            }
            Fault::KillLeader => {
                cluster.kill(leader);
                format!("killed leader m{leader}")
            }
            Fault::PauseMember => {
                cluster.pause(any);
                format!("paused m{any}")
            }
            Fault::PauseLeader => {
                cluster.pause(leader);
                format!("paused leader m{leader}")
            }
            Fault::PartitionLeader => {
                cluster.network.partition(&[leader], &members);
                format!("partitioned leader m{leader}")
            }
            Fault::PartitionFollower => {
                cluster.network.partition(&[follower], &members);
                format!("partitioned m{follower}")
            }
            Fault::DropLeaderToFollower => {
                cluster.network.set(leader, follower, Rule::Drop);
                format!("dropping m{leader} -> m{follower}")
            }
            Fault::DelayPeers => {
                let delay = Duration::from_millis(20 + rng.u64(..80));
                for &a in &members {
                    for &b in &members {
                        if a != b {
                            cluster.network.set(a, b, Rule::Delay(delay));
                        }
                    }
                }
                format!("delaying peer traffic by {delay:?}")
            }
            Fault::MoveLeader => move_leader(cluster, leader, follower).await,
            Fault::FollowerBehind => {
                cluster.kill(follower);
                format!("killed m{follower} to leave it behind")
            }
            Fault::ReplaceMember => cluster
                .replace(follower)
                .await
                .unwrap_or_else(|e| format!("replace m{follower} failed: {e}")),
            Fault::FullDisk => {
                let room = 256 * 1024;
                let limit = cluster.largest_file(follower) + room;
                cluster.kill(follower);
                cluster.spawn_limited(follower, Some(limit));
                format!("restarted m{follower} with {room} bytes of room")
            }
        }
    }
}

async fn move_leader(cluster: &Cluster, leader: usize, target: usize) -> String {
    let Some(ids) = cluster.member_ids().await else {
        return "move leader: no member list".to_string();
    };
    let endpoint = cluster.members[leader].endpoint();
    let Ok(mut client) = connect(&[endpoint]).await else {
        return "move leader: leader unreachable".to_string();
    };
    match client.move_leader(ids[target]).await {
        Ok(_) => format!("moved leader m{leader} -> m{target}"),
        Err(e) => format!("move leader m{leader} -> m{target} failed: {e}"),
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
