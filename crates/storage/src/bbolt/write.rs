//! Writing a bbolt database in one pass: buckets are given in name order,
//! each with its entries in key order, and their leaf pages are written as
//! the entries arrive, so a store of any size streams to the file with only
//! one page and each tree's index of pages in memory. The branch levels,
//! the root bucket, an empty freelist and the two meta pages follow.
//!
//! Pages are filled as far as they go (bbolt fills to half when it splits,
//! but any fill is valid for a reader); an entry larger than a page gets a
//! node of its own with overflow pages. Every bucket is a page tree, never
//! inline: bbolt reads both, and one shape keeps this small.

use std::io::{self, Seek, SeekFrom, Write};

use super::{
    fnv1a64, BRANCH_PAGE, BUCKET_HEADER, BUCKET_LEAF, ELEMENT, FREELIST_PAGE, LEAF_PAGE, MAGIC,
    META_CHECKSUMMED, META_PAGE, PAGE_HEADER, PAGE_SIZE, VERSION,
};

/// The transaction ids of the two meta pages; a reader takes the higher.
const META_TXIDS: [u64; 2] = [2, 3];

/// One element of a node being filled.
enum Element {
    /// A leaf entry: its flags (0, or [`BUCKET_LEAF`]), key and value.
    Leaf(u32, Vec<u8>, Vec<u8>),
    /// A branch entry: the first key of a child and its page.
    Branch(Vec<u8>, u64),
}

impl Element {
    fn key(&self) -> &[u8] {
        match self {
            Element::Leaf(_, k, _) | Element::Branch(k, _) => k,
        }
    }

    /// What the element adds to its node: the element and its data.
    fn size(&self) -> usize {
        match self {
            Element::Leaf(_, k, v) => ELEMENT + k.len() + v.len(),
            Element::Branch(k, _) => ELEMENT + k.len(),
        }
    }
}

/// Writes a bbolt file to `out` (which must start empty).
pub struct BoltWriter<W: Write + Seek> {
    out: W,
    /// The next page id to write; 0 and 1 are the meta pages.
    next_page: u64,
    /// (bucket name, root page) of every bucket written so far.
    buckets: Vec<(Vec<u8>, u64)>,
}

impl<W: Write + Seek> BoltWriter<W> {
    pub fn new(mut out: W) -> io::Result<BoltWriter<W>> {
        // The meta pages are written last, once the root is known.
        out.seek(SeekFrom::Start(2 * PAGE_SIZE as u64))?;
        Ok(BoltWriter {
            out,
            next_page: 2,
            buckets: Vec::new(),
        })
    }

    /// Writes one bucket. Names must come in increasing order, and each
    /// bucket's keys in strictly increasing order (bbolt's lookups rely on
    /// it); anything else is refused as invalid input.
    pub fn bucket<I>(&mut self, name: &[u8], entries: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    {
        if self
            .buckets
            .last()
            .is_some_and(|(last, _)| last.as_slice() >= name)
        {
            return Err(invalid(format!(
                "bucket {:?} out of order",
                String::from_utf8_lossy(name)
            )));
        }
        let mut last: Option<Vec<u8>> = None;
        let elements = entries.into_iter().map(|(k, v)| {
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(invalid(format!(
                    "keys out of order in bucket {:?}",
                    String::from_utf8_lossy(name)
                )));
            }
            last = Some(k.clone());
            Ok(Element::Leaf(0, k, v))
        });
        let root = self.tree(elements)?;
        self.buckets.push((name.to_vec(), root));
        Ok(())
    }

    /// Writes the root bucket, the freelist and the meta pages; returns the
    /// output and the file's size in bytes.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let buckets = std::mem::take(&mut self.buckets);
        let root = self.tree(buckets.into_iter().map(|(name, root)| {
            let mut header = Vec::with_capacity(BUCKET_HEADER);
            header.extend_from_slice(&root.to_le_bytes());
            header.extend_from_slice(&0u64.to_le_bytes());
            Ok(Element::Leaf(BUCKET_LEAF, name, header))
        }))?;
        let freelist = self.page(FREELIST_PAGE, &[])?;
        let high_water = self.next_page;
        for (id, txid) in META_TXIDS.iter().enumerate() {
            let page = meta_page(id as u64, root, freelist, high_water, *txid);
            self.out
                .seek(SeekFrom::Start(id as u64 * PAGE_SIZE as u64))?;
            self.out.write_all(&page)?;
        }
        self.out.flush()?;
        Ok((self.out, high_water * PAGE_SIZE as u64))
    }

    /// Writes the tree of `elements` (sorted) and returns its root page.
    fn tree<I>(&mut self, elements: I) -> io::Result<u64>
    where
        I: IntoIterator<Item = io::Result<Element>>,
    {
        let mut level = self.level(LEAF_PAGE, elements.into_iter())?;
        while level.len() > 1 {
            let children = std::mem::take(&mut level);
            level = self.level(
                BRANCH_PAGE,
                children
                    .into_iter()
                    .map(|(k, id)| Ok(Element::Branch(k, id))),
            )?;
        }
        Ok(level[0].1)
    }

    /// Packs `elements` into pages of kind `flags`; the first key and page
    /// of each, in order (one empty page when there are no elements).
    fn level(
        &mut self,
        flags: u16,
        elements: impl Iterator<Item = io::Result<Element>>,
    ) -> io::Result<Vec<(Vec<u8>, u64)>> {
        let mut pages = Vec::new();
        let mut node: Vec<Element> = Vec::new();
        let mut used = PAGE_HEADER;
        for element in elements {
            let element = element?;
            if !node.is_empty() && used + element.size() > PAGE_SIZE {
                pages.push(self.flush(flags, &mut node)?);
                used = PAGE_HEADER;
            }
            used += element.size();
            node.push(element);
        }
        if !node.is_empty() || pages.is_empty() {
            pages.push(self.flush(flags, &mut node)?);
        }
        Ok(pages)
    }

    fn flush(&mut self, flags: u16, node: &mut Vec<Element>) -> io::Result<(Vec<u8>, u64)> {
        let first = node.first().map(|e| e.key().to_vec()).unwrap_or_default();
        let id = self.page(flags, node)?;
        node.clear();
        Ok((first, id))
    }

    /// Writes one node (with overflow pages if it needs them); its page id.
    fn page(&mut self, flags: u16, elements: &[Element]) -> io::Result<u64> {
        let data: usize = elements.iter().map(Element::size).sum();
        let size = PAGE_HEADER + data;
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        let mut buf = vec![0u8; pages * PAGE_SIZE];
        let id = self.next_page;
        let count = u16::try_from(elements.len())
            .map_err(|_| invalid("too many elements in one page".to_string()))?;
        put_header(&mut buf, id, flags, count, (pages - 1) as u32);
        let mut at = PAGE_HEADER + elements.len() * ELEMENT;
        for (i, element) in elements.iter().enumerate() {
            let slot = PAGE_HEADER + i * ELEMENT;
            let pos = (at - slot) as u32;
            match element {
                Element::Leaf(flags, k, v) => {
                    put_u32(&mut buf, slot, *flags);
                    put_u32(&mut buf, slot + 4, pos);
                    put_u32(&mut buf, slot + 8, k.len() as u32);
                    put_u32(&mut buf, slot + 12, v.len() as u32);
                    buf[at..at + k.len()].copy_from_slice(k);
                    at += k.len();
                    buf[at..at + v.len()].copy_from_slice(v);
                    at += v.len();
                }
                Element::Branch(k, child) => {
                    put_u32(&mut buf, slot, pos);
                    put_u32(&mut buf, slot + 4, k.len() as u32);
                    buf[slot + 8..slot + 16].copy_from_slice(&child.to_le_bytes());
                    buf[at..at + k.len()].copy_from_slice(k);
                    at += k.len();
                }
            }
        }
        self.out.write_all(&buf)?;
        self.next_page += pages as u64;
        Ok(id)
    }
}

fn meta_page(id: u64, root: u64, freelist: u64, high_water: u64, txid: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    put_header(&mut page, id, META_PAGE, 0, 0);
    let m = PAGE_HEADER;
    put_u32(&mut page, m, MAGIC);
    put_u32(&mut page, m + 4, VERSION);
    put_u32(&mut page, m + 8, PAGE_SIZE as u32);
    put_u32(&mut page, m + 12, 0);
    page[m + 16..m + 24].copy_from_slice(&root.to_le_bytes());
    page[m + 24..m + 32].copy_from_slice(&0u64.to_le_bytes());
    page[m + 32..m + 40].copy_from_slice(&freelist.to_le_bytes());
    page[m + 40..m + 48].copy_from_slice(&high_water.to_le_bytes());
    page[m + 48..m + 56].copy_from_slice(&txid.to_le_bytes());
    let checksum = fnv1a64(&page[m..m + META_CHECKSUMMED]);
    page[m + 56..m + 64].copy_from_slice(&checksum.to_le_bytes());
    page
}

fn put_header(buf: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    buf[0..8].copy_from_slice(&id.to_le_bytes());
    buf[8..10].copy_from_slice(&flags.to_le_bytes());
    buf[10..12].copy_from_slice(&count.to_le_bytes());
    buf[12..16].copy_from_slice(&overflow.to_le_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
