//! Revisions and how they are encoded on disk.
//!
//! A [`Revision`] is etcd's (main, sub) pair: `main` is the store revision a
//! write request produced, `sub` orders the changes inside that request (the
//! ops of one Txn). They are signed in etcd's API but never negative once
//! stored, so tables key them as `(u64, u64)` tuples, which redb orders
//! numerically, i.e. in revision order. Scalars in the meta table (current and
//! compacted revision) are 8-byte big-endian `i64`s.
//!
//! This module owns only the representation; which revisions exist is the
//! business of `key_index` and `write`.

use crate::error::StorageError;

/// One change's position in the history: (main, sub), ordered main first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The store revision of the write request that made the change.
    pub main: i64,
    /// The change's index among the changes of that request.
    pub sub: i64,
}

impl Revision {
    pub fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }

    /// The table key. Only called for revisions this crate assigned, which
    /// are >= 0 by construction (main starts at 2, sub at 0).
    pub(crate) fn to_key(self) -> (u64, u64) {
        (self.main.max(0) as u64, self.sub.max(0) as u64)
    }

    /// Reads a table key back; a component above `i64::MAX` can only come
    /// from a corrupt file.
    pub(crate) fn from_key(key: (u64, u64)) -> Result<Revision, StorageError> {
        let main = i64::try_from(key.0)
            .map_err(|_| StorageError::Corrupt(format!("revision main {} out of range", key.0)))?;
        let sub = i64::try_from(key.1)
            .map_err(|_| StorageError::Corrupt(format!("revision sub {} out of range", key.1)))?;
        Ok(Revision { main, sub })
    }
}

/// Encodes a meta scalar.
pub(crate) fn encode_i64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Decodes a meta scalar written by [`encode_i64`].
pub(crate) fn decode_i64(bytes: &[u8]) -> Result<i64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("meta integer of {} bytes", bytes.len())))?;
    Ok(i64::from_be_bytes(arr))
}

/// The table-key bound "every revision with main <= `rev`", for range scans.
/// `rev` below 0 maps to 0, which no stored revision reaches (main >= 2).
pub(crate) fn max_key_at(rev: i64) -> (u64, u64) {
    (rev.max(0) as u64, u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_order() {
        let a = Revision::new(2, 0);
        let b = Revision::new(2, 1);
        let c = Revision::new(3, 0);
        assert!(a < b && b < c);
        assert!(a.to_key() < b.to_key() && b.to_key() < c.to_key());
        for r in [a, b, c, Revision::new(i64::MAX, i64::MAX)] {
            assert_eq!(Revision::from_key(r.to_key()).unwrap(), r);
        }
    }

    #[test]
    fn corrupt_key_is_an_error() {
        assert!(Revision::from_key((u64::MAX, 0)).is_err());
        assert!(Revision::from_key((1, u64::MAX)).is_err());
    }

    #[test]
    fn meta_integers() {
        for v in [-1i64, 0, 1, 42, i64::MAX, i64::MIN] {
            assert_eq!(decode_i64(&encode_i64(v)).unwrap(), v);
        }
        assert!(decode_i64(&[1, 2, 3]).is_err());
    }

    #[test]
    fn max_key_covers_all_subs() {
        assert!(Revision::new(5, 9).to_key() <= max_key_at(5));
        assert!(Revision::new(6, 0).to_key() > max_key_at(5));
        assert_eq!(max_key_at(-1), (0, u64::MAX));
    }
}
