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
//! Every record checksum is computed from the bytes the output holds, after
//! they were copied there from the arena (copy and checksum in one pass, a
//! piece at a time), never from the arena itself: what is checksummed is
//! exactly what is written. Page views are read-only once their writer is
//! released (the contract); a view written anyway while the flush runs
//! changes, at most, what that one page holds in the file (its checksum
//! then matches whatever was copied), never whether the file validates.

use std::collections::HashSet;

use super::format::{
    encode_index_entry, padded, seal_record, FileHeader, RecordHead, Trailer, HEADER_LEN,
    RECORD_HEAD_LEN,
};
use crate::error::{Error, Result};
use crate::record::{RecordKind, DEALLOC_PAGES, NORMAL_PAGE};
use crate::write_buffer::WriteBuffer;

/// The high 32 bits of an address: its group id.
#[inline]
pub(crate) const fn group_of(addr: u64) -> u32 {
    (addr >> 32) as u32
}

/// Where encoded bytes go.
pub(crate) trait Out {
    /// File position of the next byte.
    fn pos(&self) -> u64;
    /// Appends bytes the encoder owns (copied before returning).
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
    /// Appends one record: `head` (its checksum field still zero), `body`,
    /// then the zero padding `pad`; computes the record checksum from the
    /// bytes as copied into the output (not from `body`, which a caller
    /// racing the flush may still be changing) and stores it in the head.
    fn put_record(&mut self, head: &[u8; RECORD_HEAD_LEN], body: &[u8], pad: &[u8]) -> Result<()>;
    /// Writes the final header over the first [`HEADER_LEN`] bytes.
    fn patch_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<()>;
}

impl Out for Vec<u8> {
    fn pos(&self) -> u64 {
        self.len() as u64
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn put_record(&mut self, head: &[u8; RECORD_HEAD_LEN], body: &[u8], pad: &[u8]) -> Result<()> {
        let start = self.len();
        self.extend_from_slice(head);
        self.extend_from_slice(body);
        self.extend_from_slice(pad);
        seal_record(&mut self[start..]);
        Ok(())
    }

    fn patch_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<()> {
        self[..HEADER_LEN].copy_from_slice(header);
        Ok(())
    }
}

/// Zero padding (records pad their bodies to 8 bytes).
const ZEROS: [u8; 8] = [0; 8];

/// Appends one record (head with its checksum, body, zero padding).
/// Returns its file position.
fn push_record(out: &mut impl Out, head: RecordHead, body: &[u8]) -> Result<u64> {
    let pos = out.pos();
    debug_assert_eq!(body.len(), head.page_size as usize);
    let pad = &ZEROS[..(padded(head.page_size) - head.page_size as u64) as usize];
    out.put_record(&head.encode(), body, pad)?;
    Ok(pos)
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
    let allocated = buffer.state().allocated.min(buffer.capacity());
    let mut out = Vec::with_capacity(HEADER_LEN + allocated as usize + 64);
    encode_to(buffer, &mut out)?;
    Ok(out)
}

/// Encodes a flushable buffer into `out` (see [`encode_page_file`]).
/// Returns the file length and the record count.
pub(crate) fn encode_to(buffer: &WriteBuffer, out: &mut impl Out) -> Result<(u64, u32)> {
    let state = buffer.state();
    if !state.is_flushable() {
        return Err(Error::NotFlushable);
    }
    let group = buffer.group_id();
    let allocated = state.allocated.min(buffer.capacity());
    let freed = freed_offsets(buffer)?;

    // The header is patched in at the end, once the record count is known.
    out.put(&[0u8; HEADER_LEN])?;
    let mut index: Vec<(u32, u64)> = Vec::new();
    let mut kept: Vec<u64> = Vec::new();
    let mut built: Vec<u8> = Vec::new();
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
                push_record(out, head, body)?
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
                built.clear();
                kept.iter()
                    .for_each(|a| built.extend_from_slice(&a.to_le_bytes()));
                push_record(out, head, &built)?
            }
        };
        index.push((r.offset, pos));
    }

    let record_count = u32::try_from(index.len())
        .map_err(|_| Error::Corrupt(format!("{} records do not fit a u32", index.len())))?;
    let index_offset = out.pos();
    let mut index_crc = 0;
    for &(offset, pos) in &index {
        let entry = encode_index_entry(offset, pos);
        index_crc = crc32c::crc32c_append(index_crc, &entry);
        out.put(&entry)?;
    }

    let header = FileHeader {
        group_id: group,
        capacity: buffer.capacity(),
        allocated,
        record_count,
    }
    .encode();
    let header_crc = super::format::le_u32(&header, 36)?;
    let file_len = out.pos() + super::format::TRAILER_LEN as u64;
    let trailer = Trailer {
        index_offset,
        file_len,
        record_count,
        index_crc,
    };
    out.put(&trailer.encode(header_crc))?;
    out.patch_header(&header)?;
    Ok((file_len, record_count))
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
