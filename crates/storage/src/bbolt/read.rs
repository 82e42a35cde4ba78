//! Reading a bbolt database etcd wrote (a snapshot, or a member's
//! `member/snap/db`): the meta pages, then each bucket's entries in key
//! order, page by page from the file (nothing is mapped or loaded whole).
//! Inline buckets and overflow pages are followed; any page that does not
//! fit the file is reported as corruption instead of trusted.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::{
    fnv1a64, BRANCH_PAGE, BUCKET_HEADER, BUCKET_LEAF, ELEMENT, LEAF_PAGE, MAGIC, META_CHECKSUMMED,
    PAGE_HEADER, VERSION,
};

/// Why a file could not be read as bbolt; the first three are bbolt's own
/// errors, worded as etcd's tools print them.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error("invalid database")]
    Invalid,
    #[error("version mismatch")]
    VersionMismatch,
    #[error("checksum error")]
    Checksum,
    #[error("corrupt database: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Receives a bucket's entries: key, value. Its error (any type a
/// [`BoltError`] converts into) stops the walk and is returned as it is.
pub type EntryVisitor<'a, E> = dyn FnMut(&[u8], &[u8]) -> Result<(), E> + 'a;
/// Receives a node's leaf elements: flags, key, value.
type ElementVisitor<'a, E> = dyn FnMut(u32, &[u8], &[u8]) -> Result<(), E> + 'a;

/// The meta page fields a reader needs.
#[derive(Debug, Clone, Copy)]
struct Meta {
    page_size: usize,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// Whether the file at `path` starts with a bbolt meta page (the magic at
/// its place); says nothing of the rest of the file.
pub fn is_bbolt(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; PAGE_HEADER + 4];
    match File::open(path)?.read_exact(&mut head) {
        Ok(()) => Ok(head[PAGE_HEADER..] == MAGIC.to_le_bytes()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// An open bbolt file.
pub struct BoltFile {
    file: std::cell::RefCell<File>,
    meta: Meta,
}

impl BoltFile {
    /// Opens `path`, checking the meta pages as bbolt does.
    pub fn open(path: &Path) -> Result<BoltFile, BoltError> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        // The first meta page says the page size; read it at the smallest
        // size bbolt allows, then both metas at the real one.
        let mut first = vec![0u8; 4096.min(len as usize)];
        file.read_exact(&mut first)?;
        let first_meta = parse_meta(&first);
        let page_size = match &first_meta {
            Ok(m) => m.page_size,
            Err(_) => 4096,
        };
        let mut second = vec![0u8; page_size];
        let second_meta = match file
            .seek(SeekFrom::Start(page_size as u64))
            .and_then(|_| file.read_exact(&mut second))
        {
            Ok(()) => parse_meta(&second),
            Err(_) => Err(BoltError::Invalid),
        };
        let meta = match (first_meta, second_meta) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(e), Err(_)) => return Err(e),
        };
        if meta.high_water.saturating_mul(meta.page_size as u64) > len {
            return Err(BoltError::Corrupt(format!(
                "file size {len} is smaller than its {} pages",
                meta.high_water
            )));
        }
        Ok(BoltFile {
            file: std::cell::RefCell::new(file),
            meta,
        })
    }

    /// The size bbolt reports for the database (`tx.Size()`).
    pub fn size(&self) -> u64 {
        self.meta.high_water * self.meta.page_size as u64
    }

    /// The names of the top-level buckets, in order.
    pub fn buckets(&self) -> Result<Vec<Vec<u8>>, BoltError> {
        let mut names = Vec::new();
        self.walk_page(self.meta.root, &mut |flags, k, _| {
            if flags & BUCKET_LEAF != 0 {
                names.push(k.to_vec());
            }
            Ok::<(), BoltError>(())
        })?;
        Ok(names)
    }

    /// Calls `f` with every entry of bucket `name` in key order; `false`
    /// when there is no such bucket.
    pub fn for_each<E: From<BoltError>>(
        &self,
        name: &[u8],
        f: &mut EntryVisitor<'_, E>,
    ) -> Result<bool, E> {
        let mut header = None;
        self.walk_page(self.meta.root, &mut |flags, k, v| {
            if flags & BUCKET_LEAF != 0 && k == name {
                header = Some(v.to_vec());
            }
            Ok::<(), E>(())
        })?;
        let Some(header) = header else {
            return Ok(false);
        };
        if header.len() < BUCKET_HEADER {
            return Err(BoltError::Corrupt("short bucket header".into()).into());
        }
        let root = u64::from_le_bytes(header[0..8].try_into().unwrap_or_default());
        let mut visit = |flags: u32, k: &[u8], v: &[u8]| {
            // Nested buckets are not part of etcd's layout: skipped, as
            // etcd's own readers skip them.
            if flags & BUCKET_LEAF == 0 {
                f(k, v)?;
            }
            Ok::<(), E>(())
        };
        if root == 0 {
            if !walk_node(&header[BUCKET_HEADER..], &mut visit)?.is_empty() {
                return Err(BoltError::Corrupt("inline bucket with a branch".into()).into());
            }
        } else {
            self.walk_page(root, &mut visit)?;
        }
        Ok(true)
    }

    fn walk_page<E: From<BoltError>>(
        &self,
        id: u64,
        visit: &mut ElementVisitor<'_, E>,
    ) -> Result<(), E> {
        let node = self.node(id)?;
        for child in walk_node(&node, visit)? {
            self.walk_page(child, visit)?;
        }
        Ok(())
    }

    /// The bytes of node `id`, overflow pages included.
    fn node(&self, id: u64) -> Result<Vec<u8>, BoltError> {
        let size = self.meta.page_size;
        if id < 2 || id >= self.meta.high_water {
            return Err(BoltError::Corrupt(format!("page {id} out of range")));
        }
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(id * size as u64))?;
        let mut page = vec![0u8; size];
        file.read_exact(&mut page)?;
        let overflow = u32::from_le_bytes(page[12..16].try_into().unwrap_or_default()) as u64;
        if id + overflow >= self.meta.high_water {
            return Err(BoltError::Corrupt(format!("page {id} overflows the file")));
        }
        if overflow > 0 {
            let mut rest = vec![0u8; overflow as usize * size];
            file.read_exact(&mut rest)?;
            page.extend_from_slice(&rest);
        }
        Ok(page)
    }
}

/// Visits a leaf node's elements; for a branch node, returns its children
/// (in order) for the caller to walk.
fn walk_node<E: From<BoltError>>(
    node: &[u8],
    visit: &mut ElementVisitor<'_, E>,
) -> Result<Vec<u64>, E> {
    let corrupt = || E::from(BoltError::Corrupt("element outside its page".into()));
    if node.len() < PAGE_HEADER {
        return Err(corrupt());
    }
    let flags = u16::from_le_bytes([node[8], node[9]]);
    let count = u16::from_le_bytes([node[10], node[11]]) as usize;
    let u32_at = |at: usize| -> Result<u32, E> {
        node.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
            .ok_or_else(corrupt)
    };
    let mut children = Vec::new();
    for i in 0..count {
        let slot = PAGE_HEADER + i * ELEMENT;
        match flags {
            LEAF_PAGE => {
                let elem_flags = u32_at(slot)?;
                let key_at = slot + u32_at(slot + 4)? as usize;
                let ksize = u32_at(slot + 8)? as usize;
                let vsize = u32_at(slot + 12)? as usize;
                let key = node.get(key_at..key_at + ksize).ok_or_else(corrupt)?;
                let value = node
                    .get(key_at + ksize..key_at + ksize + vsize)
                    .ok_or_else(corrupt)?;
                visit(elem_flags, key, value)?;
            }
            BRANCH_PAGE => {
                let id = node
                    .get(slot + 8..slot + 16)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                    .ok_or_else(corrupt)?;
                children.push(id);
            }
            other => {
                return Err(
                    BoltError::Corrupt(format!("page of kind {other:#x} inside a bucket")).into(),
                )
            }
        }
    }
    Ok(children)
}

fn parse_meta(page: &[u8]) -> Result<Meta, BoltError> {
    let m = PAGE_HEADER;
    if page.len() < m + 64 {
        return Err(BoltError::Invalid);
    }
    let u32_at =
        |at: usize| u32::from_le_bytes(page[m + at..m + at + 4].try_into().unwrap_or_default());
    let u64_at =
        |at: usize| u64::from_le_bytes(page[m + at..m + at + 8].try_into().unwrap_or_default());
    if u32_at(0) != MAGIC {
        return Err(BoltError::Invalid);
    }
    if u32_at(4) != VERSION {
        return Err(BoltError::VersionMismatch);
    }
    if u64_at(56) != fnv1a64(&page[m..m + META_CHECKSUMMED]) {
        return Err(BoltError::Checksum);
    }
    let page_size = u32_at(8) as usize;
    if !(512..=65536).contains(&page_size) {
        return Err(BoltError::Invalid);
    }
    Ok(Meta {
        page_size,
        root: u64_at(16),
        high_water: u64_at(40),
        txid: u64_at(48),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbolt::write::BoltWriter;

    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    fn write(buckets: &[(&str, Entries)]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = BoltWriter::new(file.reopen().unwrap()).unwrap();
        for (name, entries) in buckets {
            w.bucket(name.as_bytes(), entries.clone()).unwrap();
        }
        let (_, size) = w.finish().unwrap();
        assert_eq!(file.as_file().metadata().unwrap().len(), size);
        file
    }

    fn entries(bolt: &BoltFile, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        assert!(bolt
            .for_each(name.as_bytes(), &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                Ok::<(), BoltError>(())
            })
            .unwrap());
        out
    }

    #[test]
    fn round_trip_small_large_and_empty_buckets() {
        let many: Vec<_> = (0..20_000u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![b'v'; (i % 300) as usize]))
            .collect();
        let big = vec![
            (b"big".to_vec(), vec![7u8; 1_500_000]),
            (b"small".to_vec(), b"x".to_vec()),
        ];
        let file = write(&[
            ("a", vec![]),
            ("key", many.clone()),
            ("values", big.clone()),
        ]);
        let bolt = BoltFile::open(file.path()).unwrap();
        assert_eq!(
            bolt.buckets().unwrap(),
            vec![b"a".to_vec(), b"key".to_vec(), b"values".to_vec()]
        );
        assert!(entries(&bolt, "a").is_empty());
        assert_eq!(entries(&bolt, "key"), many);
        assert_eq!(entries(&bolt, "values"), big);
        assert!(!bolt
            .for_each(b"missing", &mut |_, _| Ok::<(), BoltError>(()))
            .unwrap());
    }

    #[test]
    fn order_is_enforced() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = BoltWriter::new(file.reopen().unwrap()).unwrap();
        assert!(w
            .bucket(b"k", vec![(b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])])
            .is_err());
        let mut w = BoltWriter::new(file.reopen().unwrap()).unwrap();
        w.bucket(b"b", vec![]).unwrap();
        assert!(w.bucket(b"a", vec![]).is_err());
    }

    #[test]
    fn bad_files_get_bbolts_errors() {
        let garbage = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(garbage.path(), vec![1u8; 8192]).unwrap();
        assert_eq!(
            BoltFile::open(garbage.path()).err().unwrap().to_string(),
            "invalid database"
        );

        let file = write(&[("k", vec![(b"a".to_vec(), b"1".to_vec())])]);
        let mut bytes = std::fs::read(file.path()).unwrap();
        // Both metas' checksums broken.
        bytes[PAGE_HEADER + 48] ^= 1;
        bytes[4096 + PAGE_HEADER + 48] ^= 1;
        std::fs::write(file.path(), &bytes).unwrap();
        assert_eq!(
            BoltFile::open(file.path()).err().unwrap().to_string(),
            "checksum error"
        );

        let file = write(&[("k", vec![(b"a".to_vec(), b"1".to_vec())])]);
        let bytes = std::fs::read(file.path()).unwrap();
        std::fs::write(file.path(), &bytes[..bytes.len() - 4096]).unwrap();
        assert!(BoltFile::open(file.path()).is_err(), "truncated");
    }
}
