//! The stored side of leases: the `leases` record format and the lookups of
//! the `leases` / `lease_keys` tables (etcd's lease bucket).
//!
//! A record is etcd's `leasepb.Lease` message (ID = 1, TTL = 2,
//! RemainingTTL = 3, protobuf), keyed by the lease id. It holds only what
//! every member agrees on through the log; expiry times, keep-alives and
//! timers belong to the server's lessor, which rebuilds them from these
//! records. Grant, revoke and checkpoint are executed in `apply::lease`.

use prost::Message;
use redb::ReadableTable;

use crate::error::StorageError;

/// etcd's `MaxLeaseTTL`: the largest TTL, in seconds, a grant may ask for.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// One granted lease as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaseRecord {
    /// The lease id (never 0).
    pub id: i64,
    /// The granted TTL in seconds (as proposed: the server raises it to the
    /// minimum before proposing).
    pub ttl: i64,
    /// The TTL left at the last checkpoint, in seconds; 0 = never
    /// checkpointed (or checkpointed at 0), so the full `ttl` applies.
    pub remaining_ttl: i64,
}

impl LeaseRecord {
    /// The TTL a restarted or newly elected lessor should count down from:
    /// the checkpointed remainder if any, else the full TTL (etcd's
    /// `Lease.RemainingTTL`).
    pub fn effective_ttl(&self) -> i64 {
        if self.remaining_ttl > 0 {
            self.remaining_ttl
        } else {
            self.ttl
        }
    }
}

/// The on-disk message; field numbers are etcd's `leasepb.Lease`.
#[derive(Clone, PartialEq, Message)]
struct StoredLease {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(int64, tag = "2")]
    ttl: i64,
    #[prost(int64, tag = "3")]
    remaining_ttl: i64,
}

/// Encodes a record for the `leases` table.
pub(crate) fn encode(record: &LeaseRecord) -> Vec<u8> {
    StoredLease {
        id: record.id,
        ttl: record.ttl,
        remaining_ttl: record.remaining_ttl,
    }
    .encode_to_vec()
}

/// Decodes the record stored under `id`; a record naming another id breaks
/// the schema.
pub(crate) fn decode(id: i64, bytes: &[u8]) -> Result<LeaseRecord, StorageError> {
    let s = StoredLease::decode(bytes)?;
    if s.id != id {
        return Err(StorageError::Corrupt(format!(
            "lease record under id {id} names lease {}",
            s.id
        )));
    }
    Ok(LeaseRecord {
        id,
        ttl: s.ttl,
        remaining_ttl: s.remaining_ttl,
    })
}

/// The lease `id`, if granted.
pub(crate) fn get(
    leases: &impl ReadableTable<i64, &'static [u8]>,
    id: i64,
) -> Result<Option<LeaseRecord>, StorageError> {
    match leases.get(id)? {
        Some(v) => Ok(Some(decode(id, v.value())?)),
        None => Ok(None),
    }
}

/// Every lease, by id.
pub(crate) fn all(
    leases: &impl ReadableTable<i64, &'static [u8]>,
) -> Result<Vec<LeaseRecord>, StorageError> {
    let mut out = Vec::new();
    for row in leases.iter()? {
        let (k, v) = row?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

/// The keys attached to lease `id`, in key order.
pub(crate) fn keys(
    lease_keys: &impl ReadableTable<(i64, &'static [u8]), ()>,
    id: i64,
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut out = Vec::new();
    // (id, "") is the smallest entry of `id`; stop at the first other lease
    // (an exclusive upper bound (id + 1, "") would overflow at i64::MAX).
    for row in lease_keys.range((id, &b""[..])..)? {
        let (k, _) = row?;
        let (lease, key) = k.value();
        if lease != id {
            break;
        }
        out.push(key.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        for r in [
            LeaseRecord {
                id: 1,
                ttl: 5,
                remaining_ttl: 0,
            },
            LeaseRecord {
                id: i64::MAX,
                ttl: MAX_LEASE_TTL,
                remaining_ttl: 17,
            },
        ] {
            assert_eq!(decode(r.id, &encode(&r)).unwrap(), r);
        }
    }

    #[test]
    fn record_is_etcds_lease_message() {
        // leasepb.Lease{ID: 1, TTL: 5, RemainingTTL: 3} as etcd marshals it.
        let r = LeaseRecord {
            id: 1,
            ttl: 5,
            remaining_ttl: 3,
        };
        assert_eq!(encode(&r), [0x08, 1, 0x10, 5, 0x18, 3]);
    }

    #[test]
    fn corrupt_records_are_errors() {
        let r = LeaseRecord {
            id: 1,
            ttl: 5,
            remaining_ttl: 0,
        };
        assert!(matches!(
            decode(2, &encode(&r)),
            Err(StorageError::Corrupt(_))
        ));
        assert!(decode(1, &[0xff]).is_err());
    }

    #[test]
    fn effective_ttl_prefers_the_checkpoint() {
        let mut r = LeaseRecord {
            id: 1,
            ttl: 60,
            remaining_ttl: 0,
        };
        assert_eq!(r.effective_ttl(), 60);
        r.remaining_ttl = 12;
        assert_eq!(r.effective_ttl(), 12);
    }
}
