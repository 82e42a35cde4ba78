//! How Raft state is encoded in the WAL records that `raft-log` frames and
//! checksums: log ids, votes and entry payloads.
//!
//! `raft-log` owns the file format (chunk files, record framing, CRC32); this
//! module only decides the bytes of each value. Everything is big-endian and
//! length-prefixed so a record never depends on the reader guessing sizes.
//! Client requests are stored as their protobuf encoding, the same bytes a
//! follower will receive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use codeq::{Decode, Encode};
use etcd_proto::raftpb::RaftRequest;
use openraft::{EntryPayload, Membership, Vote};
use prost::Message;

use crate::types::{MemberNode, Proposal, TypeConfig};

/// A log id as the WAL stores it. Ordered by term, then index, as openraft
/// orders log ids under standard (one leader per term) leader ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalLogId {
    pub term: u64,
    pub index: u64,
}

/// A vote as the WAL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalVote {
    pub term: u64,
    pub voted_for: u64,
    pub committed: bool,
}

/// An entry's payload as the WAL stores it.
#[derive(Debug, Clone)]
pub struct WalPayload(pub EntryPayload<Proposal, u64, MemberNode>);

/// The WAL keeps no user data beside the Raft state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoUserData;

impl WalLogId {
    pub fn from_raft(log_id: &openraft::alias::LogIdOf<TypeConfig>) -> Self {
        WalLogId {
            term: log_id.leader_id.term,
            index: log_id.index,
        }
    }

    pub fn to_raft(self) -> openraft::alias::LogIdOf<TypeConfig> {
        openraft::LogId::new(
            openraft::alias::CommittedLeaderIdOf::<TypeConfig>::new(self.term),
            self.index,
        )
    }

    /// The 16-byte form used to record the applied log id in the state machine.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.term.to_be_bytes());
        out[8..].copy_from_slice(&self.index.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        let mut r = bytes;
        let log_id = Self::decode(&mut r)?;
        if !r.is_empty() {
            return Err(invalid("trailing bytes after a log id"));
        }
        Ok(log_id)
    }
}

impl WalVote {
    pub fn from_raft(vote: &openraft::alias::VoteOf<TypeConfig>) -> Self {
        WalVote {
            term: vote.leader_id.term,
            voted_for: vote.leader_id.voted_for,
            committed: vote.committed,
        }
    }

    pub fn to_raft(self) -> openraft::alias::VoteOf<TypeConfig> {
        if self.committed {
            Vote::new_committed(self.term, self.voted_for)
        } else {
            Vote::new(self.term, self.voted_for)
        }
    }
}

/// Votes compare as openraft compares them, so the WAL's own check that a vote
/// never goes backwards agrees with Raft's.
impl PartialOrd for WalVote {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.to_raft().partial_cmp(&other.to_raft())
    }
}

impl Encode for WalLogId {
    fn encode<W: Write>(&self, mut w: W) -> io::Result<usize> {
        w.write_all(&self.term.to_be_bytes())?;
        w.write_all(&self.index.to_be_bytes())?;
        Ok(16)
    }
}

impl Decode for WalLogId {
    fn decode<R: Read>(mut r: R) -> io::Result<Self> {
        Ok(WalLogId {
            term: read_u64(&mut r)?,
            index: read_u64(&mut r)?,
        })
    }
}

impl Encode for WalVote {
    fn encode<W: Write>(&self, mut w: W) -> io::Result<usize> {
        w.write_all(&self.term.to_be_bytes())?;
        w.write_all(&self.voted_for.to_be_bytes())?;
        w.write_all(&[u8::from(self.committed)])?;
        Ok(17)
    }
}

impl Decode for WalVote {
    fn decode<R: Read>(mut r: R) -> io::Result<Self> {
        let term = read_u64(&mut r)?;
        let voted_for = read_u64(&mut r)?;
        let committed = match read_u8(&mut r)? {
            0 => false,
            1 => true,
            other => return Err(invalid(format!("bad vote committed flag {other}"))),
        };
        Ok(WalVote {
            term,
            voted_for,
            committed,
        })
    }
}

impl Encode for NoUserData {
    fn encode<W: Write>(&self, _w: W) -> io::Result<usize> {
        Ok(0)
    }
}

impl Decode for NoUserData {
    fn decode<R: Read>(_r: R) -> io::Result<Self> {
        Ok(NoUserData)
    }
}

const TAG_BLANK: u8 = 0;
const TAG_NORMAL: u8 = 1;
const TAG_MEMBERSHIP: u8 = 2;

impl Encode for WalPayload {
    fn encode<W: Write>(&self, mut w: W) -> io::Result<usize> {
        let mut buf = Vec::new();
        match &self.0 {
            EntryPayload::Blank => buf.push(TAG_BLANK),
            EntryPayload::Normal(Proposal(request)) => {
                buf.push(TAG_NORMAL);
                put_bytes(&mut buf, &request.encode_to_vec());
            }
            EntryPayload::Membership(membership) => {
                buf.push(TAG_MEMBERSHIP);
                encode_membership(&mut buf, membership);
            }
        }
        w.write_all(&buf)?;
        Ok(buf.len())
    }
}

impl Decode for WalPayload {
    fn decode<R: Read>(mut r: R) -> io::Result<Self> {
        let payload = match read_u8(&mut r)? {
            TAG_BLANK => EntryPayload::Blank,
            TAG_NORMAL => {
                let bytes = read_bytes(&mut r)?;
                let request = RaftRequest::decode(bytes.as_slice())
                    .map_err(|e| invalid(format!("bad request in log entry: {e}")))?;
                EntryPayload::Normal(Proposal(request))
            }
            TAG_MEMBERSHIP => EntryPayload::Membership(decode_membership(&mut r)?),
            other => return Err(invalid(format!("unknown log entry tag {other}"))),
        };
        Ok(WalPayload(payload))
    }
}

/// Encodes a membership config; also used to store the applied membership in
/// the state machine.
///
/// A membership with a pending voter (`MemberNode::voter_pending`) is
/// written with [`NODE_FLAGS`] set in its config count and one flags word
/// after each node; any other is written as before that flag existed, so
/// both kinds of bytes read back.
pub fn encode_membership(buf: &mut Vec<u8>, membership: &Membership<u64, MemberNode>) {
    let configs = membership.get_joint_config();
    let with_flags = membership.nodes().any(|(_, n)| n.voter_pending);
    let marker = if with_flags { NODE_FLAGS } else { 0 };
    put_u64(buf, configs.len() as u64 | marker);
    for config in configs {
        put_u64(buf, config.len() as u64);
        for id in config {
            put_u64(buf, *id);
        }
    }
    let nodes: Vec<_> = membership.nodes().collect();
    put_u64(buf, nodes.len() as u64);
    for (id, node) in nodes {
        put_u64(buf, *id);
        put_bytes(buf, node.name.as_bytes());
        put_strings(buf, &node.peer_urls);
        put_strings(buf, &node.client_urls);
        if with_flags {
            put_u64(
                buf,
                if node.voter_pending {
                    FLAG_VOTER_PENDING
                } else {
                    0
                },
            );
        }
    }
}

/// Set in a membership's config count when each node carries a flags word
/// (a count never comes near this bit).
const NODE_FLAGS: u64 = 1 << 63;
/// A node's flag: `MemberNode::voter_pending`.
const FLAG_VOTER_PENDING: u64 = 1;

pub fn decode_membership<R: Read>(r: &mut R) -> io::Result<Membership<u64, MemberNode>> {
    let count = read_u64(r)?;
    let with_flags = count & NODE_FLAGS != 0;
    let mut configs = Vec::new();
    for _ in 0..checked_len(count & !NODE_FLAGS)? {
        let mut config = BTreeSet::new();
        for _ in 0..read_len(r)? {
            config.insert(read_u64(r)?);
        }
        configs.push(config);
    }
    let mut nodes = BTreeMap::new();
    for _ in 0..read_len(r)? {
        let id = read_u64(r)?;
        let name = read_string(r)?;
        let peer_urls = read_strings(r)?;
        let client_urls = read_strings(r)?;
        let flags = if with_flags { read_u64(r)? } else { 0 };
        nodes.insert(
            id,
            MemberNode {
                name,
                peer_urls,
                client_urls,
                voter_pending: flags & FLAG_VOTER_PENDING != 0,
            },
        );
    }
    Membership::new(configs, nodes).map_err(|e| invalid(format!("bad membership in log: {e}")))
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_strings(buf: &mut Vec<u8>, strings: &[String]) {
    put_u64(buf, strings.len() as u64);
    for s in strings {
        put_bytes(buf, s.as_bytes());
    }
}

pub(crate) fn read_u8<R: Read>(r: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

pub(crate) fn read_u64<R: Read>(r: &mut R) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

/// A length read from disk; bounded so a corrupt length cannot make us allocate
/// without limit (records are CRC-checked, so this is a second line of defence).
pub(crate) fn read_len<R: Read>(r: &mut R) -> io::Result<usize> {
    checked_len(read_u64(r)?)
}

fn checked_len(len: u64) -> io::Result<usize> {
    const MAX: u64 = 1 << 30;
    if len > MAX {
        return Err(invalid(format!("length {len} in log record is too large")));
    }
    Ok(len as usize)
}

fn read_bytes<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let len = read_len(r)?;
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_string<R: Read>(r: &mut R) -> io::Result<String> {
    String::from_utf8(read_bytes(r)?).map_err(|e| invalid(format!("bad string in log: {e}")))
}

fn read_strings<R: Read>(r: &mut R) -> io::Result<Vec<String>> {
    (0..read_len(r)?).map(|_| read_string(r)).collect()
}

pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::PutRequest;
    use etcd_proto::raftpb::raft_request::Request;

    fn roundtrip<T: Encode + Decode>(v: &T) -> T {
        let mut buf = Vec::new();
        let n = v.encode(&mut buf).unwrap();
        assert_eq!(n, buf.len());
        let mut r = buf.as_slice();
        let out = T::decode(&mut r).unwrap();
        assert!(r.is_empty(), "decode left bytes behind");
        out
    }

    #[test]
    fn log_ids_and_votes_roundtrip() {
        let id = WalLogId { term: 3, index: 99 };
        assert_eq!(roundtrip(&id), id);
        assert_eq!(WalLogId::from_bytes(&id.to_bytes()).unwrap(), id);
        let vote = WalVote {
            term: 7,
            voted_for: 0xdead_beef,
            committed: true,
        };
        assert_eq!(roundtrip(&vote), vote);
    }

    #[test]
    fn payloads_roundtrip() {
        let put = RaftRequest {
            caller: None,
            id: 0,
            request: Some(Request::Put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        };
        match roundtrip(&WalPayload(EntryPayload::Normal(Proposal(put.clone())))).0 {
            EntryPayload::Normal(Proposal(got)) => assert_eq!(got, put),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            roundtrip(&WalPayload(EntryPayload::Blank)).0,
            EntryPayload::Blank
        ));

        let node = MemberNode {
            name: "infra0".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            voter_pending: false,
        };
        let membership =
            Membership::new(vec![BTreeSet::from([1u64])], BTreeMap::from([(1u64, node)])).unwrap();
        match roundtrip(&WalPayload(EntryPayload::Membership(membership.clone()))).0 {
            EntryPayload::Membership(got) => assert_eq!(got, membership),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pending_voters_roundtrip_and_older_memberships_still_read() {
        let node = |name: &str, pending: bool| MemberNode {
            name: name.into(),
            peer_urls: vec![format!("http://{name}:2380")],
            client_urls: Vec::new(),
            voter_pending: pending,
        };
        let membership = Membership::new(
            vec![BTreeSet::from([1u64])],
            BTreeMap::from([(1u64, node("a", false)), (2u64, node("b", true))]),
        )
        .unwrap();
        match roundtrip(&WalPayload(EntryPayload::Membership(membership.clone()))).0 {
            EntryPayload::Membership(got) => assert_eq!(got, membership),
            other => panic!("unexpected {other:?}"),
        }

        // A membership as written before the flag existed: one config {1},
        // one node 1 named "a" with one peer URL and no client URLs.
        let mut old = Vec::new();
        put_u64(&mut old, 1); // configs
        put_u64(&mut old, 1); // voters in config 0
        put_u64(&mut old, 1); // voter 1
        put_u64(&mut old, 1); // nodes
        put_u64(&mut old, 1); // node id
        put_bytes(&mut old, b"a");
        put_strings(&mut old, &["http://a:2380".to_string()]);
        put_strings(&mut old, &[]);
        let mut r = old.as_slice();
        let got = decode_membership(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            got,
            Membership::new(
                vec![BTreeSet::from([1u64])],
                BTreeMap::from([(1u64, node("a", false))])
            )
            .unwrap()
        );
        // Without a pending voter the bytes are still the old ones.
        let mut again = Vec::new();
        encode_membership(&mut again, &got);
        assert_eq!(again, old);
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut r: &[u8] = &[9];
        assert!(WalPayload::decode(&mut r).is_err());
        let mut huge = vec![TAG_NORMAL];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(WalPayload::decode(huge.as_slice()).is_err());
        assert!(WalLogId::from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn votes_order_like_openraft() {
        let a = WalVote {
            term: 1,
            voted_for: 1,
            committed: false,
        };
        let b = WalVote {
            term: 2,
            voted_for: 2,
            committed: false,
        };
        assert!(a < b);
    }
}
