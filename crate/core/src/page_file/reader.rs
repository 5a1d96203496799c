//! Reading a page file: one read into one `Vec`, then a full validation;
//! lookups afterwards are plain slicing of checked bytes.
//!
//! Validation never trusts a length: every offset and size read from the
//! file is checked (in `u64`, so nothing wraps) against the file's real
//! length before it is used, and nothing is allocated from a field's value.
//! The record walk advances by at least 24 bytes per record, so it ends
//! after at most `len / 24` steps whatever the fields say.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::encode::group_of;
use super::format::{
    decode_index_entry, padded, record_crc, FileHeader, RecordHead, Trailer, HEADER_LEN,
    INDEX_ENTRY_LEN, MAX_FILE_LEN, RECORD_HEAD_LEN, TRAILER_LEN,
};
use crate::error::{Error, Result};
use crate::record::{Header, RecordKind, ALIGN, HEADER_SIZE};
use crate::write_buffer::Record;

/// A validated page file, held in memory.
#[derive(Debug, Clone)]
pub struct PageFile {
    bytes: Vec<u8>,
    header: FileHeader,
    index_offset: usize,
}

/// One record of a page file: the same type as the buffer's
/// [`Record`](crate::Record) it came from (`offset` is its offset in that
/// buffer; for a dealloc record, `header.page_size` counts only the
/// addresses kept: those of other groups).
pub type FileRecord<'a> = Record<'a>;

fn corrupt<T>(what: String) -> Result<T> {
    Err(Error::Corrupt(what))
}

impl PageFile {
    /// Reads and validates the page file at `path`. An unreadable file is an
    /// [`Error::Io`]; a file that fails any check is an [`Error::Corrupt`]
    /// naming the path, what failed and where.
    pub fn open(path: &Path) -> Result<PageFile> {
        let shown = path.display();
        let file = File::open(path).map_err(|e| Error::io(format!("open '{shown}'"), &e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat '{shown}'"), &e))?
            .len();
        if len > MAX_FILE_LEN {
            return corrupt(format!(
                "'{shown}': {len} bytes, more than any page file ({MAX_FILE_LEN})"
            ));
        }
        let cap = usize::try_from(len).map_err(|_| {
            Error::Corrupt(format!(
                "'{shown}': {len} bytes do not fit this platform's memory"
            ))
        })?;
        let mut bytes = Vec::with_capacity(cap);
        // Exactly the length seen: a file that grows meanwhile, or a device
        // that reports 0 and never ends, reads short and fails validation.
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("read '{shown}'"), &e))?;
        PageFile::from_bytes(bytes).map_err(|e| match e {
            Error::Corrupt(what) => Error::Corrupt(format!("'{shown}': {what}")),
            other => other,
        })
    }

    /// Validates `bytes` as a page file (see the module docs).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<PageFile> {
        let len = bytes.len() as u64;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return corrupt(format!(
                "{len} bytes, shorter than a header and a trailer ({})",
                HEADER_LEN + TRAILER_LEN
            ));
        }
        if len > MAX_FILE_LEN {
            return corrupt(format!("{len} bytes, more than any page file"));
        }
        let (header, header_crc) = FileHeader::decode(&bytes)?;
        let trailer = Trailer::decode(&bytes, header_crc)?;
        let index_offset = check_trailer(&header, &trailer, &bytes)?;
        let file = PageFile {
            bytes,
            header,
            index_offset,
        };
        file.check_records()?;
        Ok(file)
    }

    /// The buffer's group id: the high 32 bits of every address in the file.
    pub fn group_id(&self) -> u32 {
        self.header.group_id
    }

    /// The capacity of the buffer the file was flushed from.
    pub fn capacity(&self) -> u32 {
        self.header.capacity
    }

    /// Records in the file (pages and dealloc records).
    pub fn len(&self) -> usize {
        self.header.record_count as usize
    }

    /// No record at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole file, as read and validated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The records in their original (buffer) order.
    pub fn records(&self) -> FileRecordIter<'_> {
        FileRecordIter {
            file: self,
            next: 0,
        }
    }

    /// The body of the page at `addr` (the address the buffer handed out).
    /// [`Error::InvalidAddr`] for any address that is not a page in this
    /// file: another group, the middle of a record, a dealloc record, a
    /// page that was dropped (tombstoned or freed), or anything absent.
    pub fn page(&self, addr: u64) -> Result<&[u8]> {
        let r = self.record_at(addr)?;
        if r.kind != RecordKind::Page {
            return Err(Error::InvalidAddr);
        }
        Ok(r.body())
    }

    /// The record (page or dealloc) whose body is at `addr`.
    pub fn record_at(&self, addr: u64) -> Result<FileRecord<'_>> {
        if group_of(addr) != self.header.group_id {
            return Err(Error::InvalidAddr);
        }
        let offset = (addr as u32)
            .checked_sub(HEADER_SIZE)
            .ok_or(Error::InvalidAddr)?;
        // Binary search of the index, sorted by buffer offset (validated).
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (at, _) = self.entry(mid);
            match at.cmp(&offset) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(self.record(mid)),
            }
        }
        Err(Error::InvalidAddr)
    }

    /// Index entry `i` of a validated file: `(buffer offset, file pos)`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`, or on a file `from_bytes` did not validate (a bug).
    fn entry(&self, i: usize) -> (u32, usize) {
        let at = self.index_offset + i * INDEX_ENTRY_LEN;
        let (offset, _, pos) = decode_index_entry(&self.bytes, at).expect("validated index entry");
        (offset, pos as usize)
    }

    /// Record `i` of a validated file.
    ///
    /// # Panics
    ///
    /// As [`PageFile::entry`].
    fn record(&self, i: usize) -> FileRecord<'_> {
        let (_, pos) = self.entry(i);
        let (head, _) = RecordHead::decode(&self.bytes, pos).expect("validated record");
        let start = pos + RECORD_HEAD_LEN;
        Record::new(
            ((self.header.group_id as u64) << 32) | (head.offset + HEADER_SIZE) as u64,
            head.offset,
            RecordKind::from_flags(head.flags).expect("validated kind"),
            Header {
                data: head.data,
                flags: head.flags,
                page_size: head.page_size,
            },
            &self.bytes[start..start + head.page_size as usize],
        )
    }

    /// Walks every record in file order against its index entry.
    fn check_records(&self) -> Result<()> {
        let b = &self.bytes;
        let h = &self.header;
        let index_end = self.index_offset as u64;
        let mut pos = HEADER_LEN as u64;
        // End (in buffer bytes) of the previous record: the next must start
        // at or after it, so offsets are sorted and records disjoint.
        let mut prev_end = 0u64;
        for i in 0..self.len() {
            let (offset, reserved, at) =
                decode_index_entry(b, self.index_offset + i * INDEX_ENTRY_LEN)?;
            if reserved != 0 || at != pos {
                return corrupt(format!(
                    "index entry {i}: points at {at} (reserved {reserved}), record {i} is at {pos}"
                ));
            }
            if pos + RECORD_HEAD_LEN as u64 > index_end {
                return corrupt(format!("record {i} at {pos}: head runs into the index"));
            }
            let (head, stored) = RecordHead::decode(b, pos as usize)?;
            let end = pos + head.file_len();
            if end > index_end {
                return corrupt(format!(
                    "record {i} at {pos}: {} body bytes run past the index at {index_end}",
                    head.page_size
                ));
            }
            let record = &b[pos as usize..end as usize];
            let crc = record_crc(record);
            if stored != crc {
                return corrupt(format!(
                    "record {i} at {pos}: checksum mismatch (stored {stored:#010x}, computed {crc:#010x})"
                ));
            }
            check_record(i, pos, &head, record, offset, prev_end, h)?;
            prev_end = head.offset as u64 + HEADER_SIZE as u64 + padded(head.page_size);
            pos = end;
        }
        if pos != index_end {
            return corrupt(format!(
                "{} stray bytes between the last record and the index at {index_end}",
                index_end - pos
            ));
        }
        Ok(())
    }
}

/// The trailer agrees with the header and the file length; returns the
/// index offset.
fn check_trailer(h: &FileHeader, t: &Trailer, bytes: &[u8]) -> Result<usize> {
    let len = bytes.len() as u64;
    if t.file_len != len {
        return corrupt(format!(
            "trailer: file length {} but the file has {len} bytes (truncated or extended)",
            t.file_len
        ));
    }
    if t.record_count != h.record_count {
        return corrupt(format!(
            "trailer: {} records but the header says {}",
            t.record_count, h.record_count
        ));
    }
    let index_len = h.record_count as u64 * INDEX_ENTRY_LEN as u64;
    let records_len = h.record_count as u64 * RECORD_HEAD_LEN as u64;
    let expected = len - TRAILER_LEN as u64;
    if t.index_offset.checked_add(index_len) != Some(expected)
        || t.index_offset < HEADER_LEN as u64 + records_len
        || !t.index_offset.is_multiple_of(ALIGN as u64)
    {
        return corrupt(format!(
            "trailer: index at {} with {} entries does not fit a {len}-byte file",
            t.index_offset, h.record_count
        ));
    }
    let index = &bytes[t.index_offset as usize..expected as usize];
    let crc = crc32c::crc32c(index);
    if crc != t.index_crc {
        return corrupt(format!(
            "index at {}: checksum mismatch (stored {:#010x}, computed {crc:#010x})",
            t.index_offset, t.index_crc
        ));
    }
    Ok(t.index_offset as usize)
}

/// The checks of one checksummed record against its index entry and its
/// predecessor.
fn check_record(
    i: usize,
    pos: u64,
    head: &RecordHead,
    record: &[u8],
    index_offset: u32,
    prev_end: u64,
    h: &FileHeader,
) -> Result<()> {
    let at = |what: String| corrupt(format!("record {i} at {pos}: {what}"));
    if head.offset != index_offset {
        return at(format!(
            "buffer offset {} but its index entry says {index_offset}",
            head.offset
        ));
    }
    if !head.has_known_kind() {
        return at(format!("unknown flags {:#x}", head.flags));
    }
    let buffer_end = head.offset as u64 + HEADER_SIZE as u64 + padded(head.page_size);
    if !head.offset.is_multiple_of(ALIGN)
        || (head.offset as u64) < prev_end
        || buffer_end > h.allocated as u64
    {
        return at(format!(
            "buffer range {}..{buffer_end} is misaligned, overlaps the previous record \
             (ending at {prev_end}) or passes the {} bytes allocated",
            head.offset, h.allocated
        ));
    }
    let body = &record[RECORD_HEAD_LEN..];
    if body[head.page_size as usize..].iter().any(|&p| p != 0) {
        return at("non-zero padding".into());
    }
    if head.flags == crate::record::DEALLOC_PAGES {
        if head.data != 0 || head.page_size == 0 || !head.page_size.is_multiple_of(8) {
            return at(format!(
                "dealloc record with data {} and {} body bytes",
                head.data, head.page_size
            ));
        }
        let same = body[..head.page_size as usize]
            .chunks_exact(8)
            .any(|c| c[4..8] == h.group_id.to_le_bytes());
        if same {
            return at("dealloc record lists an address of its own group".into());
        }
    }
    Ok(())
}

/// Iterator of [`PageFile::records`].
pub struct FileRecordIter<'a> {
    file: &'a PageFile,
    next: usize,
}

impl<'a> Iterator for FileRecordIter<'a> {
    type Item = FileRecord<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.file.len() {
            return None;
        }
        let r = self.file.record(self.next);
        self.next += 1;
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.file.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for FileRecordIter<'_> {}

#[cfg(test)]
mod tests {
    use super::super::encode::encode_page_file;
    use super::super::sample::{sample, small_sample, XorShift};
    use super::*;
    use crate::write_buffer::WriteBuffer;

    fn is_corrupt(bytes: &[u8]) -> bool {
        matches!(PageFile::from_bytes(bytes.to_vec()), Err(Error::Corrupt(_)))
    }

    /// A small file with pages, a kept dealloc record and padding.
    fn small_file() -> Vec<u8> {
        let buf = WriteBuffer::with_capacity(4, 512).unwrap();
        for (id, size) in [(1u64, 5u32), (2, 0), (3, 16)] {
            let p = buf.alloc_page(id, size, false).unwrap();
            // SAFETY: just reserved; no other view of the body exists.
            unsafe { buf.page_mut(&p) }.fill(id as u8);
        }
        buf.dealloc_pages(&[(9u64 << 32) | 64], false).unwrap();
        buf.seal().unwrap();
        encode_page_file(&buf).unwrap()
    }

    #[test]
    fn page_file_round_trip_random_pages() {
        let mut rng = XorShift::new(0x0123_4567);
        for round in 0..4 {
            let group = rng.next_u64() as u32;
            let s = sample(&mut rng, group, 1 << 21, 64 * 1024);
            assert!(s.pages.len() > 10, "round {round}: {} pages", s.pages.len());
            let file = PageFile::from_bytes(encode_page_file(&s.buffer).unwrap()).unwrap();
            s.check(&file).unwrap();
        }
    }

    #[test]
    fn page_file_round_trip_size_boundaries() {
        let buf = WriteBuffer::with_capacity(77, 1 << 18).unwrap();
        let mut pages = Vec::new();
        for (i, size) in [0u32, 1, 7, 8, 9, 64 * 1024].into_iter().enumerate() {
            let p = buf.alloc_page(i as u64, size, false).unwrap();
            let bytes: Vec<u8> = (0..size).map(|j| (j * 31 + i as u32) as u8).collect();
            // SAFETY: just reserved; no other view of the body exists.
            unsafe { buf.page_mut(&p) }.copy_from_slice(&bytes);
            pages.push((p.addr, bytes));
        }
        buf.seal().unwrap();
        let file = PageFile::from_bytes(encode_page_file(&buf).unwrap()).unwrap();
        assert_eq!((file.group_id(), file.len()), (77, pages.len()));
        for (addr, bytes) in &pages {
            assert_eq!(file.page(*addr).unwrap(), bytes.as_slice());
        }
        let ids: Vec<u64> = file.records().map(|r| r.page_id()).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn page_file_page_invalid_addrs() {
        let file = PageFile::from_bytes(small_file()).unwrap();
        let g = 4u64 << 32;
        assert_eq!(file.page(g | 16), Ok(&[1u8; 5][..]));
        assert_eq!(file.page(g | 40), Ok(&[][..]));
        assert_eq!(file.page(g | 56), Ok(&[3u8; 16][..]));
        let dealloc = g | (24 + 16 + 32 + 16); // records of 24, 16, 32 bytes, then a header
        assert_eq!(file.record_at(dealloc).unwrap().kind, RecordKind::Dealloc);
        let cases = [
            dealloc,           // a dealloc record
            (5u64 << 32) | 16, // another group
            g | 20,            // the middle of a record
            g | 8,             // before the first body
            g,                 // offset 0 (no header before it)
            g | 1000,          // past the end
            u64::MAX,
        ];
        for addr in cases {
            assert_eq!(file.page(addr), Err(Error::InvalidAddr), "{addr:#x}");
        }
        let addrs: Vec<u64> = file.records().flat_map(|r| r.dealloc_addrs()).collect();
        assert_eq!(addrs, [(9u64 << 32) | 64]);
    }

    #[test]
    fn page_file_empty_is_valid() {
        let buf = WriteBuffer::with_capacity(1, 64).unwrap();
        buf.seal().unwrap();
        let file = PageFile::from_bytes(encode_page_file(&buf).unwrap()).unwrap();
        assert!(file.is_empty());
        assert_eq!(file.records().count(), 0);
        assert_eq!(file.page(1 << 32 | 16), Err(Error::InvalidAddr));
    }

    #[test]
    fn page_file_truncated_at_every_offset_is_corrupt() {
        let b = small_file();
        for len in 0..b.len() {
            assert!(is_corrupt(&b[..len]), "truncated to {len}");
        }
    }

    #[test]
    fn page_file_truncated_big_file_is_corrupt() {
        let mut rng = XorShift::new(99);
        let s = sample(&mut rng, 3, 1 << 20, 64 * 1024);
        let b = encode_page_file(&s.buffer).unwrap();
        assert!(b.len() > 256 * 1024, "{}", b.len());
        for len in b.len() - 3 * 4096..b.len() {
            assert!(is_corrupt(&b[..len]), "truncated to {len}");
        }
        for _ in 0..200 {
            let len = rng.below(b.len() as u64) as usize;
            assert!(is_corrupt(&b[..len]), "truncated to {len}");
        }
    }

    #[test]
    fn page_file_every_byte_flip_is_corrupt() {
        let b = small_file();
        for i in 0..b.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut m = b.clone();
                m[i] ^= x;
                assert!(is_corrupt(&m), "byte {i} ^ {x:#x}");
            }
        }
    }

    #[test]
    fn page_file_extended_is_corrupt() {
        let mut b = small_file();
        b.push(0);
        assert!(is_corrupt(&b));
        let mut b = small_file();
        b.extend_from_slice(&small_file());
        assert!(is_corrupt(&b));
    }

    #[test]
    fn page_file_lying_count_with_good_checksums_is_corrupt() {
        // Header and trailer both claim 2^32 - 1 records, checksums redone:
        // the index cannot fit the file, so nothing is walked or allocated.
        let mut b = small_file();
        let n = b.len();
        b[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32c::crc32c(&b[..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b[n - 16..n - 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let t = crc32c::crc32c_append(crc, &b[n - 32..n - 8]);
        b[n - 8..n - 4].copy_from_slice(&t.to_le_bytes());
        let err = PageFile::from_bytes(b).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("index")),
            "{err}"
        );
    }

    #[test]
    fn page_file_open_missing_is_enoent() {
        let path = std::env::temp_dir().join(format!("pwb-missing-{}", std::process::id()));
        assert_eq!(PageFile::open(&path).unwrap_err().code(), "ENOENT");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn page_file_open_endless_device_is_corrupt() {
        // Reports 0 bytes and never ends: read exactly the 0 bytes seen.
        let err = PageFile::open(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("/dev/zero")),
            "{err}"
        );
    }

    #[test]
    fn page_file_records_match_small_samples() {
        let mut rng = XorShift::new(5);
        for _ in 0..200 {
            let s = small_sample(&mut rng);
            let file = PageFile::from_bytes(encode_page_file(&s.buffer).unwrap()).unwrap();
            s.check(&file).unwrap();
            assert_eq!(file.records().len(), file.len());
        }
    }
}
