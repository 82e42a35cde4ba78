//! The bytes of openraft's peer RPCs (AppendEntries, Vote/PreVote, the
//! header and answer of a snapshot transfer) inside our peer messages.
//!
//! Log ids, votes and entry payloads use exactly the WAL's encodings
//! ([`crate::wal_codec`]), so an entry crosses the wire as it lies on disk.
//! This module owns only how those pieces are put together per message; it
//! does not own the transport (`network`, `peer_service`). Decoding input
//! from the network never panics: bad bytes are an `io::Error`.

use std::io::{self, Read};

use codeq::{Decode, Encode};
use openraft::alias::{EntryOf, LogIdOf, SnapshotMetaOf, VoteOf};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::raft::{TransferLeaderError, TransferLeaderRequest, TransferLeaderResponse};
use openraft::{Entry, StoredMembership};

use crate::types::TypeConfig;
use crate::wal_codec::{
    decode_membership, encode_membership, invalid, put_u64, read_len, read_u64, read_u8, WalLogId,
    WalPayload, WalVote,
};

type AppendRequest = AppendEntriesRequest<TypeConfig>;
type AppendResponse = AppendEntriesResponse<TypeConfig>;
type VoteReq = VoteRequest<TypeConfig>;
type VoteResp = VoteResponse<TypeConfig>;

pub fn encode_append_request(req: &AppendRequest) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, &req.vote);
    put_opt_log_id(&mut buf, req.prev_log_id.as_ref());
    put_opt_log_id(&mut buf, req.leader_commit.as_ref());
    put_u64(&mut buf, req.entries.len() as u64);
    for entry in &req.entries {
        put_entry(&mut buf, entry);
    }
    buf
}

pub fn decode_append_request(bytes: &[u8]) -> io::Result<AppendRequest> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    let prev_log_id = read_opt_log_id(&mut r)?;
    let leader_commit = read_opt_log_id(&mut r)?;
    let count = read_len(&mut r)?;
    // The count is bounded by the bytes present, not trusted for allocation.
    let mut entries = Vec::with_capacity(count.min(r.len() / 17 + 1));
    for _ in 0..count {
        entries.push(read_entry(&mut r)?);
    }
    finish(r)?;
    Ok(AppendRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

const APPEND_SUCCESS: u8 = 0;
const APPEND_PARTIAL: u8 = 1;
const APPEND_CONFLICT: u8 = 2;
const APPEND_HIGHER_VOTE: u8 = 3;

pub fn encode_append_response(resp: &AppendResponse) -> Vec<u8> {
    let mut buf = Vec::new();
    match resp {
        AppendEntriesResponse::Success => buf.push(APPEND_SUCCESS),
        AppendEntriesResponse::PartialSuccess(log_id) => {
            buf.push(APPEND_PARTIAL);
            put_opt_log_id(&mut buf, log_id.as_ref());
        }
        AppendEntriesResponse::Conflict => buf.push(APPEND_CONFLICT),
        AppendEntriesResponse::HigherVote(vote) => {
            buf.push(APPEND_HIGHER_VOTE);
            put_vote(&mut buf, vote);
        }
    }
    buf
}

pub fn decode_append_response(bytes: &[u8]) -> io::Result<AppendResponse> {
    let mut r = bytes;
    let resp = match read_u8(&mut r)? {
        APPEND_SUCCESS => AppendEntriesResponse::Success,
        APPEND_PARTIAL => AppendEntriesResponse::PartialSuccess(read_opt_log_id(&mut r)?),
        APPEND_CONFLICT => AppendEntriesResponse::Conflict,
        APPEND_HIGHER_VOTE => AppendEntriesResponse::HigherVote(read_vote(&mut r)?),
        other => return Err(invalid(format!("unknown append response tag {other}"))),
    };
    finish(r)?;
    Ok(resp)
}

/// Vote and PreVote requests share one encoding.
pub fn encode_vote_request(req: &VoteReq) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, &req.vote);
    put_opt_log_id(&mut buf, req.last_log_id.as_ref());
    buf.push(u8::from(req.leadership_transfer));
    buf
}

pub fn decode_vote_request(bytes: &[u8]) -> io::Result<VoteReq> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    let last_log_id = read_opt_log_id(&mut r)?;
    let leadership_transfer = read_bool(&mut r)?;
    finish(r)?;
    Ok(VoteReq {
        vote,
        last_log_id,
        leadership_transfer,
    })
}

/// Vote and PreVote responses share one encoding.
pub fn encode_vote_response(resp: &VoteResp) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, &resp.vote);
    buf.push(u8::from(resp.vote_granted));
    put_opt_log_id(&mut buf, resp.last_log_id.as_ref());
    buf
}

pub fn decode_vote_response(bytes: &[u8]) -> io::Result<VoteResp> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    let vote_granted = read_bool(&mut r)?;
    let last_log_id = read_opt_log_id(&mut r)?;
    finish(r)?;
    Ok(VoteResp {
        vote,
        vote_granted,
        last_log_id,
    })
}

/// The first message of a snapshot transfer: the sending leader's vote,
/// what the snapshot holds, and how many bytes of file follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub vote: VoteOf<TypeConfig>,
    pub meta: SnapshotMetaOf<TypeConfig>,
    pub size: u64,
}

pub fn encode_snapshot_header(header: &SnapshotHeader) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, &header.vote);
    put_opt_log_id(&mut buf, header.meta.last_log_id.as_ref());
    let membership = &header.meta.last_membership;
    put_opt_log_id(&mut buf, membership.log_id().as_ref());
    encode_membership(&mut buf, membership.membership());
    put_u64(&mut buf, header.size);
    buf
}

pub fn decode_snapshot_header(bytes: &[u8]) -> io::Result<SnapshotHeader> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    let last_log_id = read_opt_log_id(&mut r)?;
    let membership_log_id = read_opt_log_id(&mut r)?;
    let membership = decode_membership(&mut r)?;
    let size = read_u64(&mut r)?;
    finish(r)?;
    Ok(SnapshotHeader {
        vote,
        meta: SnapshotMetaOf::<TypeConfig> {
            last_log_id,
            last_membership: StoredMembership::new(membership_log_id, membership),
        },
        size,
    })
}

pub fn encode_snapshot_response(resp: &SnapshotResponse<TypeConfig>) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, &resp.vote);
    buf
}

pub fn decode_snapshot_response(bytes: &[u8]) -> io::Result<SnapshotResponse<TypeConfig>> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    finish(r)?;
    Ok(SnapshotResponse::new(vote))
}

// Writing into a Vec cannot fail; the codeq encoders return io::Result only
// because they are generic over writers.
/// MoveLeader's hand-over: the leader's vote, the target, the leader's
/// last log id.
pub fn encode_transfer_leader_request(req: &TransferLeaderRequest<TypeConfig>) -> Vec<u8> {
    let mut buf = Vec::new();
    put_vote(&mut buf, req.from_leader());
    put_u64(&mut buf, *req.to_node_id());
    put_opt_log_id(&mut buf, req.last_log_id());
    buf
}

pub fn decode_transfer_leader_request(
    bytes: &[u8],
) -> io::Result<TransferLeaderRequest<TypeConfig>> {
    let mut r = bytes;
    let vote = read_vote(&mut r)?;
    let to = read_u64(&mut r)?;
    let last_log_id = read_opt_log_id(&mut r)?;
    finish(r)?;
    Ok(TransferLeaderRequest::new(vote, to, last_log_id))
}

/// 0: accepted; 1: the vote changed (expected, actual); 2: the target's log
/// is behind (expected, actual).
pub fn encode_transfer_leader_response(resp: &TransferLeaderResponse<TypeConfig>) -> Vec<u8> {
    let mut buf = Vec::new();
    match resp {
        Ok(()) => buf.push(0),
        Err(TransferLeaderError::VoteChanged { expected, actual }) => {
            buf.push(1);
            put_vote(&mut buf, expected);
            put_vote(&mut buf, actual);
        }
        Err(TransferLeaderError::LogNotFlushed { expected, actual }) => {
            buf.push(2);
            put_opt_log_id(&mut buf, expected.as_ref());
            put_opt_log_id(&mut buf, actual.as_ref());
        }
    }
    buf
}

pub fn decode_transfer_leader_response(
    bytes: &[u8],
) -> io::Result<TransferLeaderResponse<TypeConfig>> {
    let mut r = bytes;
    let resp = match read_u8(&mut r)? {
        0 => Ok(()),
        1 => Err(TransferLeaderError::VoteChanged {
            expected: read_vote(&mut r)?,
            actual: read_vote(&mut r)?,
        }),
        2 => Err(TransferLeaderError::LogNotFlushed {
            expected: read_opt_log_id(&mut r)?,
            actual: read_opt_log_id(&mut r)?,
        }),
        other => return Err(invalid(format!("unknown transfer-leader answer {other}"))),
    };
    finish(r)?;
    Ok(resp)
}

fn put_vote(buf: &mut Vec<u8>, vote: &VoteOf<TypeConfig>) {
    let _ = WalVote::from_raft(vote).encode(&mut *buf);
}

fn put_opt_log_id(buf: &mut Vec<u8>, log_id: Option<&LogIdOf<TypeConfig>>) {
    match log_id {
        None => buf.push(0),
        Some(id) => {
            buf.push(1);
            let _ = WalLogId::from_raft(id).encode(&mut *buf);
        }
    }
}

fn put_entry(buf: &mut Vec<u8>, entry: &EntryOf<TypeConfig>) {
    let _ = WalLogId::from_raft(&entry.log_id).encode(&mut *buf);
    let _ = WalPayload(entry.payload.clone()).encode(&mut *buf);
}

fn read_vote(r: &mut &[u8]) -> io::Result<VoteOf<TypeConfig>> {
    Ok(WalVote::decode(&mut *r)?.to_raft())
}

fn read_opt_log_id(r: &mut &[u8]) -> io::Result<Option<LogIdOf<TypeConfig>>> {
    if read_bool(r)? {
        Ok(Some(WalLogId::decode(&mut *r)?.to_raft()))
    } else {
        Ok(None)
    }
}

fn read_entry(r: &mut &[u8]) -> io::Result<EntryOf<TypeConfig>> {
    let log_id = WalLogId::decode(&mut *r)?.to_raft();
    let payload = WalPayload::decode(&mut *r)?.0;
    Ok(Entry { log_id, payload })
}

fn read_bool<R: Read>(r: &mut R) -> io::Result<bool> {
    match read_u8(r)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(invalid(format!("bad boolean {other}"))),
    }
}

fn finish(rest: &[u8]) -> io::Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(invalid("trailing bytes after a peer message"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{MemberNode, Proposal};
    use etcd_proto::etcdserverpb::PutRequest;
    use etcd_proto::raftpb::raft_request::Request;
    use etcd_proto::raftpb::RaftRequest;
    use openraft::{EntryPayload, Membership, Vote};
    use std::collections::{BTreeMap, BTreeSet};

    fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
        WalLogId { term, index }.to_raft()
    }

    #[test]
    fn transfer_leader_roundtrip() {
        let req = TransferLeaderRequest::new(Vote::new_committed(4, 2), 3, Some(log_id(4, 17)));
        let back = decode_transfer_leader_request(&encode_transfer_leader_request(&req)).unwrap();
        assert_eq!(back.to_string(), req.to_string());
        let answers: [TransferLeaderResponse<TypeConfig>; 3] = [
            Ok(()),
            Err(TransferLeaderError::VoteChanged {
                expected: Vote::new_committed(4, 2),
                actual: Vote::new(5, 3),
            }),
            Err(TransferLeaderError::LogNotFlushed {
                expected: Some(log_id(4, 17)),
                actual: None,
            }),
        ];
        for answer in answers {
            let bytes = encode_transfer_leader_response(&answer);
            assert_eq!(decode_transfer_leader_response(&bytes).unwrap(), answer);
        }
        assert!(decode_transfer_leader_response(&[9]).is_err());
    }

    #[test]
    fn append_requests_roundtrip() {
        let put = RaftRequest {
            caller: None,
            id: 0,
            request: Some(Request::Put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        };
        let membership = Membership::new(
            vec![BTreeSet::from([1u64, 2, 3])],
            (1u64..=3)
                .map(|id| (id, MemberNode::default()))
                .collect::<BTreeMap<_, _>>(),
        )
        .unwrap();
        let req = AppendRequest {
            vote: Vote::new_committed(4, 2),
            prev_log_id: Some(log_id(3, 10)),
            leader_commit: None,
            entries: vec![
                Entry {
                    log_id: log_id(4, 11),
                    payload: EntryPayload::Blank,
                },
                Entry {
                    log_id: log_id(4, 12),
                    payload: EntryPayload::Normal(Proposal(put)),
                },
                Entry {
                    log_id: log_id(4, 13),
                    payload: EntryPayload::Membership(membership),
                },
            ],
        };
        let got = decode_append_request(&encode_append_request(&req)).unwrap();
        assert_eq!(format!("{got:?}"), format!("{req:?}"));

        let heartbeat = AppendRequest {
            vote: Vote::new(1, 1),
            prev_log_id: None,
            leader_commit: Some(log_id(1, 1)),
            entries: vec![],
        };
        let got = decode_append_request(&encode_append_request(&heartbeat)).unwrap();
        assert_eq!(format!("{got:?}"), format!("{heartbeat:?}"));
    }

    #[test]
    fn append_responses_roundtrip() {
        for resp in [
            AppendEntriesResponse::Success,
            AppendEntriesResponse::PartialSuccess(None),
            AppendEntriesResponse::PartialSuccess(Some(log_id(2, 5))),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(9, 3)),
        ] {
            assert_eq!(
                decode_append_response(&encode_append_response(&resp)).unwrap(),
                resp
            );
        }
    }

    #[test]
    fn votes_roundtrip() {
        let req = VoteReq {
            vote: Vote::new(5, 7),
            last_log_id: Some(log_id(4, 40)),
            leadership_transfer: true,
        };
        assert_eq!(
            decode_vote_request(&encode_vote_request(&req)).unwrap(),
            req
        );
        let resp = VoteResp::new(Vote::new_committed(5, 7), None, true);
        assert_eq!(
            decode_vote_response(&encode_vote_response(&resp)).unwrap(),
            resp
        );
    }

    #[test]
    fn snapshot_headers_roundtrip() {
        let membership = Membership::new(
            vec![BTreeSet::from([1u64, 2, 3])],
            (1u64..=3)
                .map(|id| {
                    let node = MemberNode {
                        name: format!("m{id}"),
                        peer_urls: vec![format!("http://127.0.0.1:{id}")],
                        client_urls: vec![],
                        voter_pending: false,
                    };
                    (id, node)
                })
                .collect::<BTreeMap<_, _>>(),
        )
        .unwrap();
        let header = SnapshotHeader {
            vote: Vote::new_committed(7, 2),
            meta: SnapshotMetaOf::<TypeConfig> {
                last_log_id: Some(log_id(7, 6100)),
                last_membership: StoredMembership::new(Some(log_id(1, 3)), membership),
            },
            size: 123_456_789,
        };
        let bytes = encode_snapshot_header(&header);
        assert_eq!(decode_snapshot_header(&bytes).unwrap(), header);
        assert!(decode_snapshot_header(&bytes[..bytes.len() - 1]).is_err());

        let empty = SnapshotHeader {
            vote: Vote::new(1, 1),
            meta: SnapshotMetaOf::<TypeConfig>::default(),
            size: 0,
        };
        assert_eq!(
            decode_snapshot_header(&encode_snapshot_header(&empty)).unwrap(),
            empty
        );

        let resp = SnapshotResponse::new(Vote::new_committed(8, 3));
        assert_eq!(
            decode_snapshot_response(&encode_snapshot_response(&resp)).unwrap(),
            resp
        );
        assert!(decode_snapshot_response(&[1]).is_err());
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert!(decode_append_response(&[9]).is_err());
        assert!(decode_append_response(&[APPEND_SUCCESS, 0]).is_err());
        assert!(decode_vote_request(&[1, 2]).is_err());
        let mut huge = encode_append_request(&AppendRequest {
            vote: Vote::new(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: vec![],
        });
        let n = huge.len();
        huge[n - 8..].copy_from_slice(&1000u64.to_be_bytes());
        assert!(decode_append_request(&huge).is_err());
    }
}
