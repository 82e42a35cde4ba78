//! bbolt's file format, the database etcd keeps its state in and ships as a
//! snapshot: enough of it to write a database etcd's tools open
//! ([`write::BoltWriter`]) and to read one etcd wrote ([`read::BoltFile`]).
//! What goes in which bucket is `crate::etcd_snapshot`'s business; this
//! module only knows pages.
//!
//! # The format (bbolt 1.3, as etcd 3.4 and 3.5 use it)
//! A file is a sequence of pages of one size (4096 here, the page size etcd
//! writes on Linux/amd64), numbered from 0; all integers little-endian.
//! Every page starts with a 16-byte header: `id u64, flags u16, count u16,
//! overflow u32`. A node bigger than a page takes `overflow` more pages
//! right after it.
//! - Pages 0 and 1 are **meta** pages (flag 0x04): magic `0xED0CDAED`,
//!   version 2, page size, flags, the root bucket (`root pgid u64,
//!   sequence u64`), the freelist page, the high-water page id (`pgid`: the
//!   file holds pages `0..pgid`), a transaction id and an FNV-1a 64 checksum
//!   of the preceding 56 bytes. A reader takes the valid meta with the
//!   higher transaction id.
//! - A **freelist** page (0x10) lists free page ids (`count` of them).
//! - A **leaf** page (0x02) holds `count` 16-byte elements `flags u32, pos
//!   u32, ksize u32, vsize u32`, then the keys and values; `pos` counts
//!   from the element itself to its key. Keys are sorted bytewise.
//! - A **branch** page (0x01) holds elements `pos u32, ksize u32, pgid u64`:
//!   the first key of each child page, in order.
//! - A **bucket** is a B+tree of such pages. The root bucket's leaf elements
//!   (flag 0x01, "bucket") map each bucket name to a 16-byte bucket header
//!   `root pgid u64, sequence u64`; a root of 0 means an *inline* bucket,
//!   whose leaf page follows the header inside the value itself.

pub mod read;
pub mod write;

/// The page size of every file written here (and of etcd's on amd64).
pub const PAGE_SIZE: usize = 4096;
/// bbolt's magic number, in every meta page.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The file format version bbolt writes.
pub const VERSION: u32 = 2;

/// Page header size (`id, flags, count, overflow`).
pub(crate) const PAGE_HEADER: usize = 16;
/// Size of a leaf or branch element.
pub(crate) const ELEMENT: usize = 16;
/// Size of a bucket header (`root pgid, sequence`).
pub(crate) const BUCKET_HEADER: usize = 16;

pub(crate) const BRANCH_PAGE: u16 = 0x01;
pub(crate) const LEAF_PAGE: u16 = 0x02;
pub(crate) const META_PAGE: u16 = 0x04;
pub(crate) const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a bucket header.
pub(crate) const BUCKET_LEAF: u32 = 0x01;

/// Bytes of the meta struct covered by its checksum.
pub(crate) const META_CHECKSUMMED: usize = 56;

/// FNV-1a, 64 bits: bbolt's meta checksum.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
