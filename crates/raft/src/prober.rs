//! etcd's peer prober: every member times a round trip to each other
//! member every few seconds, whoever leads, and that time is
//! `etcd_network_peer_round_trip_time_seconds{To}` (etcd's rafthttp probes
//! each peer every 4 s). Raft's own traffic cannot stand in for it: only the
//! leader talks to every member, and followers never talk to each other.
//!
//! Owns the probe loop and the probe's payload; the answer is the peer
//! service's (`peer_service::probe`). The bytes both ways count as peer
//! traffic, as etcd counts its probes' and link heartbeats'.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd_proto::raftpb::raft_peer_client::RaftPeerClient;
use etcd_proto::raftpb::PeerMessage;
use etcd_transport::PeerDialer;
use tonic::transport::Channel;

use crate::membership::Membership;
use crate::metrics::PeerMetrics;

/// etcd's `proberInterval`.
const INTERVAL: Duration = Duration::from_secs(4);
/// How long one probe may take; a peer slower than this is not timed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A probe's payload: the sender's member id.
pub(crate) fn payload(member_id: u64) -> Vec<u8> {
    member_id.to_be_bytes().to_vec()
}

/// The member id a probe's payload names.
pub(crate) fn sender(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.try_into().ok()?))
}

/// Probes every other member of `membership` until the task is dropped.
pub(crate) async fn run(membership: Membership, dialer: PeerDialer, member_id: u64) {
    let mut clients: HashMap<u64, (String, RaftPeerClient<Channel>, PeerMetrics)> = HashMap::new();
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let peers: Vec<(u64, String)> = membership
            .members()
            .into_iter()
            .filter(|m| m.id != member_id)
            .filter_map(|m| Some((m.id, m.node.peer_urls.first()?.clone())))
            .collect();
        clients.retain(|id, _| peers.iter().any(|(peer, _)| peer == id));
        for (id, url) in peers {
            let stale = clients.get(&id).is_none_or(|(known, _, _)| *known != url);
            if stale {
                let Ok(channel) = dialer.channel(&url) else {
                    continue;
                };
                clients.insert(id, (url, RaftPeerClient::new(channel), PeerMetrics::of(id)));
            }
            let Some((_, client, metrics)) = clients.get_mut(&id) else {
                continue;
            };
            let request = PeerMessage {
                payload: payload(member_id),
            };
            let sent = request.payload.len();
            let started = Instant::now();
            if let Ok(Ok(answer)) = tokio::time::timeout(TIMEOUT, client.probe(request)).await {
                metrics.rtt.observe(started.elapsed().as_secs_f64());
                metrics.sent.inc_by(sent as u64);
                metrics
                    .received
                    .inc_by(answer.into_inner().payload.len() as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_names_the_prober() {
        assert_eq!(sender(&payload(0xabc)), Some(0xabc));
        assert_eq!(sender(b"short"), None);
    }
}
