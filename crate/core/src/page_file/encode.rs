//! Encoding a flushable buffer into page file bytes, in memory.
//!
//! What a flush keeps, as the photondb flush job does:
//! - page records that are neither tombstoned (the buffer's iteration
//!   already skips those) nor freed by a dealloc record of the *same*
//!   buffer (an address in a dealloc body whose high 32 bits are this
//!   group id and whose low 32 bits are the page's body offset);
//! - of each live dealloc record, the addresses of *other* groups only; a
//!   dealloc record left with no address is dropped.
//!
//! Everything is copied out of the arena once, and every checksum is
//! computed over the copy, so the checksums cover exactly the bytes that
//! will be written even if someone scribbles on the arena meanwhile.

use std::collections::HashSet;

use super::format::{
    encode_index_entry, padded, seal_record, FileHeader, RecordHead, Trailer, HEADER_LEN,
    INDEX_ENTRY_LEN, RECORD_HEAD_LEN,
};
use crate::error::{Error, Result};
use crate::record::{RecordKind, DEALLOC_PAGES, NORMAL_PAGE};
use crate::write_buffer::WriteBuffer;

/// The high 32 bits of an address: its group id.
#[inline]
pub(crate) const fn group_of(addr: u64) -> u32 {
    (addr >> 32) as u32
}

/// Appends one record (head, body, zero padding) to `out` and seals its
/// checksum. Returns its file position.
fn push_record(out: &mut Vec<u8>, head: RecordHead, body: impl FnOnce(&mut Vec<u8>)) -> u64 {
    let pos = out.len();
    out.extend_from_slice(&head.encode());
    body(out);
    debug_assert_eq!(out.len() - pos - RECORD_HEAD_LEN, head.page_size as usize);
    out.resize(pos + RECORD_HEAD_LEN + padded(head.page_size) as usize, 0);
    seal_record(&mut out[pos..]);
    pos as u64
}

/// The same-group body offsets freed by the buffer's live dealloc records.
fn freed_offsets(buffer: &WriteBuffer) -> Result<HashSet<u32>> {
    let group = buffer.group_id();
    let mut freed = HashSet::new();
    for r in buffer.records()? {
        let r = r?;
        if r.kind == RecordKind::Dealloc {
            freed.extend(
                r.dealloc_addrs()
                    .filter(|&a| group_of(a) == group)
                    .map(|a| a as u32),
            );
        }
    }
    Ok(freed)
}

/// Encodes the live records of a flushable buffer as a complete page file.
/// [`Error::NotFlushable`] unless the buffer is sealed with no writer;
/// [`Error::Corrupt`] if its records do not walk cleanly.
pub fn encode_page_file(buffer: &WriteBuffer) -> Result<Vec<u8>> {
    let state = buffer.state();
    if !state.is_flushable() {
        return Err(Error::NotFlushable);
    }
    let group = buffer.group_id();
    let allocated = state.allocated.min(buffer.capacity());
    let freed = freed_offsets(buffer)?;

    let mut out = Vec::with_capacity(HEADER_LEN + allocated as usize + 64);
    out.resize(HEADER_LEN, 0);
    let mut index: Vec<(u32, u64)> = Vec::new();
    let mut kept: Vec<u64> = Vec::new();
    for r in buffer.records()? {
        let r = r?;
        let pos = match r.kind {
            RecordKind::Page => {
                if freed.contains(&(r.addr as u32)) {
                    continue;
                }
                let body = r.body();
                let head = RecordHead {
                    data: r.page_id(),
                    flags: NORMAL_PAGE,
                    page_size: r.header.page_size,
                    offset: r.offset,
                };
                push_record(&mut out, head, |o| o.extend_from_slice(body))
            }
            RecordKind::Dealloc => {
                kept.clear();
                kept.extend(r.dealloc_addrs().filter(|&a| group_of(a) != group));
                if kept.is_empty() {
                    continue;
                }
                let head = RecordHead {
                    data: 0,
                    flags: DEALLOC_PAGES,
                    // At most the original body size, itself a u32.
                    page_size: (kept.len() * 8) as u32,
                    offset: r.offset,
                };
                push_record(&mut out, head, |o| {
                    kept.iter()
                        .for_each(|a| o.extend_from_slice(&a.to_le_bytes()))
                })
            }
        };
        index.push((r.offset, pos));
    }

    let record_count = u32::try_from(index.len())
        .map_err(|_| Error::Corrupt(format!("{} records do not fit a u32", index.len())))?;
    let index_offset = out.len() as u64;
    out.reserve(index.len() * INDEX_ENTRY_LEN + super::format::TRAILER_LEN);
    for &(offset, pos) in &index {
        out.extend_from_slice(&encode_index_entry(offset, pos));
    }
    let index_crc = crc32c::crc32c(&out[index_offset as usize..]);

    let header = FileHeader {
        group_id: group,
        capacity: buffer.capacity(),
        allocated,
        record_count,
    }
    .encode();
    out[..HEADER_LEN].copy_from_slice(&header);
    let header_crc = super::format::le_u32(&header, 36)?;
    let trailer = Trailer {
        index_offset,
        file_len: (out.len() + super::format::TRAILER_LEN) as u64,
        record_count,
        index_crc,
    };
    out.extend_from_slice(&trailer.encode(header_crc));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::format::{TRAILER_LEN, VERSION};
    use super::*;
    use crate::write_buffer::ReleaseState;

    fn page(buf: &WriteBuffer, id: u64, bytes: &[u8]) -> u64 {
        let p = buf.alloc_page(id, bytes.len() as u32, false).unwrap();
        // SAFETY: the page was just reserved and no other view of it exists.
        unsafe { buf.page_mut(&p) }.copy_from_slice(bytes);
        p.addr
    }

    #[test]
    fn encode_page_file_not_flushable() {
        let buf = WriteBuffer::with_capacity(1, 256).unwrap();
        assert_eq!(encode_page_file(&buf), Err(Error::NotFlushable));
        buf.alloc_page(1, 8, true).unwrap();
        buf.seal().unwrap();
        assert_eq!(encode_page_file(&buf), Err(Error::NotFlushable));
        assert_eq!(buf.release_writer(), Ok(ReleaseState::Flush));
        assert!(encode_page_file(&buf).is_ok());
    }

    #[test]
    fn encode_page_file_empty_buffer_is_header_and_trailer() {
        let buf = WriteBuffer::with_capacity(9, 64).unwrap();
        buf.seal().unwrap();
        let b = encode_page_file(&buf).unwrap();
        assert_eq!(b.len(), HEADER_LEN + TRAILER_LEN);
        assert_eq!(super::super::format::le_u32(&b, 8).unwrap(), VERSION);
    }

    #[test]
    fn encode_page_file_layout_of_one_page() {
        let buf = WriteBuffer::with_capacity(3, 256).unwrap();
        let addr = page(&buf, 42, b"hello");
        buf.seal().unwrap();
        let b = encode_page_file(&buf).unwrap();
        // header, one record (24 + 8), one index entry, trailer
        assert_eq!(b.len(), 40 + 32 + 16 + 32);
        assert_eq!(&b[40..48], &42u64.to_le_bytes());
        assert_eq!(&b[48..52], &NORMAL_PAGE.to_le_bytes());
        assert_eq!(&b[52..56], &5u32.to_le_bytes());
        assert_eq!(&b[56..60], &((addr as u32) - 16).to_le_bytes());
        assert_eq!(&b[64..72], b"hello\0\0\0");
        assert_eq!(&b[72..76], &0u32.to_le_bytes()); // index: buffer offset
        assert_eq!(&b[80..88], &40u64.to_le_bytes()); // index: file position
    }

    #[test]
    fn encode_page_file_drops_same_group_dealloc_keeps_others() {
        let buf = WriteBuffer::with_capacity(5, 1024).unwrap();
        let freed = page(&buf, 1, b"gone");
        let live = page(&buf, 2, b"stays");
        let other = (6u64 << 32) | 16;
        buf.dealloc_pages(&[freed], false).unwrap(); // all same-group: dropped
        buf.dealloc_pages(&[freed, other], false).unwrap(); // mixed: keeps `other`
        buf.dealloc_pages(&[], false).unwrap(); // empty: dropped
        buf.seal().unwrap();
        let b = encode_page_file(&buf).unwrap();
        let count = super::super::format::le_u32(&b, 28).unwrap();
        assert_eq!(count, 2); // `live` and the mixed dealloc
        let (head, _) = RecordHead::decode(&b, HEADER_LEN).unwrap();
        assert_eq!((head.data, head.offset), (2, (live as u32) - 16));
        let at = HEADER_LEN + head.file_len() as usize;
        let (head, _) = RecordHead::decode(&b, at).unwrap();
        assert_eq!((head.flags, head.page_size), (DEALLOC_PAGES, 8));
        assert_eq!(&b[at + 24..at + 32], &other.to_le_bytes());
    }
}
