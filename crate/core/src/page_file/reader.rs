//! Reading a page file: the header and trailer first (two small positioned
//! reads), then, only if they describe a file of this length, one read of
//! the whole file into one `Vec`, then a full validation; lookups afterwards
//! are plain slicing of checked bytes.
//!
//! Only a regular file is a page file: a FIFO, socket, device or directory
//! under a page file's name is [`Error::Corrupt`], found without blocking
//! (its type is checked before it is opened, the file is opened with
//! `O_NONBLOCK` so a FIFO cannot wait for a writer, and checked again once
//! open). A symbolic link is followed; a loop is [`Error::Io`] `ELOOP`.
//!
//! Validation never trusts a length: every offset and size read from the
//! file is checked (in `u64`, so nothing wraps) against the file's real
//! length and the header's own bounds before it is used, and nothing is
//! allocated from a field's value: the only allocation is the file itself,
//! made fallibly ([`Error::OutOfMemory`], never an abort) once its header
//! and trailer agree with its length. The record walk advances by at least
//! 24 bytes per record, so it ends after at most `len / 24` steps whatever
//! the fields say.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use super::encode::group_of;
use super::format::{
    decode_index_entry, max_len_for, padded, record_crc, FileHeader, RecordHead, Trailer,
    HEADER_LEN, INDEX_ENTRY_LEN, MAX_FILE_LEN, RECORD_HEAD_LEN, TRAILER_LEN,
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
    /// [`Error::Io`]; anything but a regular file, or a file that fails any
    /// check, is an [`Error::Corrupt`] naming the path, what failed and
    /// where; a valid file too large for this process's memory is
    /// [`Error::OutOfMemory`].
    pub fn open(path: &Path) -> Result<PageFile> {
        let shown = path.display();
        let named = |e: Error| match e {
            Error::Corrupt(what) => Error::Corrupt(format!("'{shown}': {what}")),
            other => other,
        };
        let (mut file, len) = open_regular(path)?;
        let cap = check_ends(&file, path, len).map_err(named)?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(cap)
            .map_err(|_| Error::OutOfMemory(len))?;
        // Exactly the length seen: a file that grows meanwhile reads short
        // of its new end and one that shrinks reads short of `len`; both
        // fail validation.
        rewind(&mut file).map_err(|e| Error::io(format!("read '{shown}'"), &e))?;
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("read '{shown}'"), &e))?;
        PageFile::from_bytes(bytes).map_err(named)
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
        check_layout(&header, &trailer, len)?;
        let index_offset = check_index_crc(&trailer, &bytes)?;
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

/// Opens `path` for reading if it is a regular file (following symbolic
/// links), without blocking on anything else; returns it with its length.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    open_regular_meta(path).map(|(file, meta)| (file, meta.len()))
}

/// [`open_regular`], returning the opened file's own metadata (`fstat`):
/// what was read is the file it describes, whatever the name points to.
pub(crate) fn open_regular_meta(path: &Path) -> Result<(File, Metadata)> {
    let shown = path.display();
    // Type first: a socket cannot even be opened (ENXIO), and a directory
    // cannot be opened on Windows.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("stat '{shown}'"), &e))?;
    check_regular(path, &meta)?;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO put under the name since the check would block `open`
        // until a writer comes (for ever, holding a libuv thread): with
        // O_NONBLOCK it opens at once, and the check below refuses it.
        // Regular files ignore the flag.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts
        .open(path)
        .map_err(|e| Error::io(format!("open '{shown}'"), &e))?;
    // The type of what was opened, in case the name changed hands.
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("stat '{shown}'"), &e))?;
    check_regular(path, &meta)?;
    Ok((file, meta))
}

/// [`Error::Corrupt`] unless `meta` is a regular file's.
fn check_regular(path: &Path, meta: &Metadata) -> Result<()> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    corrupt(format!(
        "'{}': {}, not a regular file (only regular files are page files)",
        path.display(),
        type_name(&t)
    ))
}

/// What a non-regular file is, for messages.
fn type_name(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// Reads `buf.len()` bytes at `at`; a file shorter than that (it shrank)
/// is [`Error::Corrupt`].
pub(super) fn read_at(file: &File, path: &Path, buf: &mut [u8], at: u64) -> Result<()> {
    #[cfg(unix)]
    let r = std::os::unix::fs::FileExt::read_exact_at(file, buf, at);
    #[cfg(not(unix))]
    let r = {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(at)).and_then(|_| f.read_exact(buf))
    };
    r.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Corrupt(format!(
            "no {} bytes at offset {at}: the file shrank while read",
            buf.len()
        )),
        _ => Error::io(format!("read '{}' at {at}", path.display()), &e),
    })
}

/// Seeks back to the start (the positioned reads of Windows move it).
fn rewind(file: &mut File) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0)).map(drop)
}

/// Checks the header and trailer of an open file of `len` bytes, read on
/// their own, against each other and the length; returns the length as a
/// `usize` to allocate. Nothing else of the file is read.
fn check_ends(file: &File, path: &Path, len: u64) -> Result<usize> {
    if len < (HEADER_LEN + TRAILER_LEN) as u64 {
        return corrupt(format!(
            "{len} bytes, shorter than a header and a trailer ({})",
            HEADER_LEN + TRAILER_LEN
        ));
    }
    if len > MAX_FILE_LEN {
        return corrupt(format!(
            "{len} bytes, more than any page file ({MAX_FILE_LEN})"
        ));
    }
    let mut head = [0u8; HEADER_LEN];
    read_at(file, path, &mut head, 0)?;
    let (header, header_crc) = FileHeader::decode(&head)?;
    let at = len - TRAILER_LEN as u64;
    let mut tail = [0u8; TRAILER_LEN];
    read_at(file, path, &mut tail, at)?;
    let trailer = Trailer::decode_at(&tail, at, header_crc)?;
    check_layout(&header, &trailer, len)?;
    usize::try_from(len)
        .map_err(|_| Error::Corrupt(format!("{len} bytes do not fit this platform's memory")))
}

/// The trailer agrees with the header and the file length `len`, and the
/// length with what the header's buffer could have produced.
fn check_layout(h: &FileHeader, t: &Trailer, len: u64) -> Result<()> {
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
    // Records take their buffer bytes plus 8 (a file head is 24 bytes, a
    // buffer header 16), and kept records are disjoint within `allocated`;
    // no record, no bytes.
    let records_most = match h.record_count {
        0 => 0,
        n => h.allocated as u64 + 8 * n as u64,
    };
    if t.index_offset - HEADER_LEN as u64 > records_most {
        return corrupt(format!(
            "trailer: {} bytes of records before the index at {}, more than {} records of \
             {} allocated buffer bytes can take ({records_most})",
            t.index_offset - HEADER_LEN as u64,
            t.index_offset,
            h.record_count,
            h.allocated
        ));
    }
    let most = max_len_for(h.allocated);
    if len > most || h.record_count as u64 > h.allocated as u64 / HEADER_SIZE as u64 {
        return corrupt(format!(
            "{len} bytes and {} records, more than {} allocated buffer bytes can give \
             ({most} bytes, {} records)",
            h.record_count,
            h.allocated,
            h.allocated / HEADER_SIZE
        ));
    }
    Ok(())
}

/// The index checksum of a file whose layout [`check_layout`] accepted;
/// returns the index offset.
fn check_index_crc(t: &Trailer, bytes: &[u8]) -> Result<usize> {
    let expected = bytes.len() - TRAILER_LEN;
    let index = &bytes[t.index_offset as usize..expected];
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
pub(super) fn check_record(
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

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static SEQ: AtomicU32 = AtomicU32::new(0);
            // Ordering: Relaxed: only uniqueness matters, which the RMW gives.
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("pwb-reader-{}-{n}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn corrupt_message(path: &Path) -> String {
        match PageFile::open(path) {
            Err(Error::Corrupt(m)) => m,
            other => panic!("{}: {other:?}", path.display()),
        }
    }

    #[test]
    #[cfg(unix)]
    fn page_file_open_fifo_is_corrupt_without_blocking() {
        use std::os::unix::ffi::OsStrExt;
        let dir = TempDir::new("fifo");
        let path = dir.0.join("1.page");
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || tx.send(PageFile::open(&p)).unwrap());
        // Liveness, not speed: a blocked open never answers at all.
        let Ok(got) = rx.recv_timeout(std::time::Duration::from_secs(30)) else {
            // Release the blocked reader before failing.
            let _ = std::fs::OpenOptions::new().write(true).open(&path);
            panic!("PageFile::open of a FIFO blocked");
        };
        match got {
            Err(Error::Corrupt(m)) => {
                assert!(m.contains("1.page") && m.contains("a FIFO"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn page_file_open_directory_is_corrupt() {
        let dir = TempDir::new("dir");
        let path = dir.0.join("2.page");
        std::fs::create_dir(&path).unwrap();
        let m = corrupt_message(&path);
        assert!(m.contains("2.page") && m.contains("a directory"), "{m}");
    }

    #[test]
    #[cfg(unix)]
    fn page_file_open_follows_symlinks_and_reports_loops() {
        let dir = TempDir::new("links");
        let real = dir.0.join("real");
        std::fs::write(&real, small_file()).unwrap();
        let link = dir.0.join("3.page");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(PageFile::open(&link).unwrap().len(), 4);
        let looped = dir.0.join("4.page");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let err = PageFile::open(&looped).unwrap_err();
        assert_eq!(err.code(), "ELOOP", "{err}");
        assert!(err.to_string().contains("4.page"), "{err}");
    }

    /// Peak resident set of this process, in bytes.
    #[cfg(target_os = "linux")]
    fn peak_rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn page_file_open_huge_sparse_files_reads_only_their_ends() {
        use std::os::unix::fs::FileExt;
        const HUGE: u64 = 3 << 30;
        let dir = TempDir::new("huge");
        // All zeros (sparse: no disk used): the header's magic fails.
        let zeros = dir.0.join("1.page");
        std::fs::File::create(&zeros)
            .unwrap()
            .set_len(HUGE)
            .unwrap();
        // A valid header and a valid trailer claiming the whole length: only
        // the header's `allocated` bound gives it away.
        let forged = dir.0.join("2.page");
        let header = FileHeader {
            group_id: 2,
            capacity: 1 << 16,
            allocated: 1 << 16,
            record_count: 0,
        }
        .encode();
        let header_crc = crate::page_file::format::le_u32(&header, 36).unwrap();
        let trailer = Trailer {
            index_offset: HUGE - TRAILER_LEN as u64,
            file_len: HUGE,
            record_count: 0,
            index_crc: crc32c::crc32c(&[]),
        }
        .encode(header_crc);
        let f = std::fs::File::create(&forged).unwrap();
        f.set_len(HUGE).unwrap();
        f.write_all_at(&header, 0).unwrap();
        f.write_all_at(&trailer, HUGE - TRAILER_LEN as u64).unwrap();
        drop(f);

        let before = peak_rss();
        let m = corrupt_message(&zeros);
        assert!(m.contains("1.page") && m.contains("magic"), "{m}");
        let m = corrupt_message(&forged);
        assert!(m.contains("2.page") && m.contains("allocated"), "{m}");
        let grew = peak_rss().saturating_sub(before);
        // Reading either file whole would take 3 GiB; other tests running
        // meanwhile take a few MiB.
        assert!(grew < 256 << 20, "peak RSS grew by {grew} bytes");
    }

    /// Writes a sparse file of `len` bytes with a valid header and trailer
    /// for `record_count` records of a 2 GiB buffer, nothing in between.
    #[cfg(unix)]
    fn forged_big_file(path: &Path, len: u64, record_count: u32) {
        use std::os::unix::fs::FileExt;
        let header = FileHeader {
            group_id: 9,
            capacity: 1 << 31,
            allocated: 1 << 31,
            record_count,
        }
        .encode();
        let header_crc = crate::page_file::format::le_u32(&header, 36).unwrap();
        let trailer = Trailer {
            index_offset: len - TRAILER_LEN as u64 - INDEX_ENTRY_LEN as u64 * record_count as u64,
            file_len: len,
            record_count,
            index_crc: 0,
        }
        .encode(header_crc);
        let f = std::fs::File::create(path).unwrap();
        f.set_len(len).unwrap();
        f.write_all_at(&header, 0).unwrap();
        f.write_all_at(&trailer, len - TRAILER_LEN as u64).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn page_file_no_records_before_an_index_far_away() {
        // 0 records, yet the index starts 1 GiB in: refused from the ends.
        let dir = TempDir::new("far");
        let path = dir.0.join("9.page");
        forged_big_file(&path, 1 << 30, 0);
        let m = corrupt_message(&path);
        assert!(m.contains("bytes of records before the index"), "{m}");
    }

    /// The child of `page_file_too_big_for_memory_is_out_of_memory`.
    const OOM_CHILD: &str = "PHOTON_WB_TEST_OOM_CHILD";

    #[test]
    #[cfg(target_os = "linux")]
    #[cfg_attr(
        photon_wb_asan,
        ignore = "AddressSanitizer reserves terabytes of shadow address space: the child's 2 GiB RLIMIT_AS makes it abort at start-up, before the test runs"
    )]
    fn page_file_too_big_for_memory_is_out_of_memory() {
        // A file whose two ends describe a valid 3 GiB file (2^26 records,
        // 1 GiB of index), opened by a process limited to 2 GiB of address
        // space: an error, not an abort. In a child process (this test
        // binary again), since the limit is process-wide.
        const NAME: &str =
            "page_file::reader::tests::page_file_too_big_for_memory_is_out_of_memory";
        if let Some(path) = std::env::var_os(OOM_CHILD) {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            // SAFETY: a plain struct passed by pointer for the call only.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
            let err = PageFile::open(Path::new(&path)).unwrap_err();
            assert_eq!(err, Error::OutOfMemory(3 << 30));
            assert_eq!(err.code(), "ERR_OUT_OF_MEMORY");
            return;
        }
        let dir = TempDir::new("oom");
        let path = dir.0.join("9.page");
        forged_big_file(&path, 3 << 30, 1 << 26);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--test-threads=1"])
            .env(OOM_CHILD, &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn page_file_more_than_allocated_can_give_is_corrupt() {
        // Checksums all valid, the file walks cleanly, but the header says
        // fewer bytes were allocated than its records take.
        let mut b = small_file();
        let n = b.len();
        b[24..28].copy_from_slice(&16u32.to_le_bytes()); // allocated
        let crc = crc32c::crc32c(&b[..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        let t = crc32c::crc32c_append(crc, &b[n - 32..n - 8]);
        b[n - 8..n - 4].copy_from_slice(&t.to_le_bytes());
        let err = PageFile::from_bytes(b).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("allocated buffer bytes can")),
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
