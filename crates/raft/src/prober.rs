//! etcd's peer prober: every member times a round trip to each other
//! member every few seconds, whoever leads, and that time is
//! `etcd_network_peer_round_trip_time_seconds{To}` (etcd's rafthttp probes
//! each peer every 4 s). Raft's own traffic cannot stand in for it: only the
//! leader talks to every member, and followers never talk to each other.
//!
//! Owns the probe loop and the probe's payload; the answer is the peer
//! service's (`peer_service::probe`). The bytes both ways count as peer
//! traffic, as etcd counts its probes' and link heartbeats'.
//!
//! It is also where a peer going away or coming back is logged, once per
//! change, with etcd's lines ("peer became inactive (message send to peer
//! failed)", "peer became active"): Raft's own retries to a stopped member
//! are not logged at all (see `logging.rs` in the server), so an operator
//! reads one line per event rather than ten per second.

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
    // Whether each peer answered its last probe; unknown until probed.
    let mut active: HashMap<u64, bool> = HashMap::new();
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
        active.retain(|id, _| peers.iter().any(|(peer, _)| peer == id));
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
            let failure = match tokio::time::timeout(TIMEOUT, client.probe(request)).await {
                Ok(Ok(answer)) => {
                    metrics.rtt.observe(started.elapsed().as_secs_f64());
                    metrics.sent.inc_by(sent as u64);
                    metrics
                        .received
                        .inc_by(answer.into_inner().payload.len() as u64);
                    None
                }
                Ok(Err(status)) => Some(status.message().to_string()),
                Err(_) => Some(format!("no answer within {TIMEOUT:?}")),
            };
            let was = active.insert(id, failure.is_none());
            log_change(id, was, failure.as_deref());
        }
    }
}

/// One line when a peer starts or stops answering (not for a peer that was
/// never reached: its first answer is its "became active").
fn log_change(id: u64, was_active: Option<bool>, failure: Option<&str>) {
    let peer = format!("{id:x}");
    match (was_active, failure) {
        (Some(false) | None, None) => tracing::info!("peer-id" = %peer, "peer became active"),
        (Some(true), Some(error)) => tracing::warn!(
            "peer-id" = %peer,
            error,
            "peer became inactive (message send to peer failed)"
        ),
        _ => {}
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
