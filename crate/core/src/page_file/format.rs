//! The page file format, version 1: layout constants and the codecs of its
//! fixed-size parts. `docs/page-file-format.md` is the prose description;
//! this file is the source of truth it describes.
//!
//! ```text
//! offset 0            file header, 40 bytes (own CRC32C)
//! offset 40           records, each 24-byte record header + body + zero
//!                     padding to a multiple of 8 (own CRC32C each)
//! index_offset        index: record_count x 16-byte entries, sorted by
//!                     the record's offset in the buffer
//! file_len - 32       trailer, 32 bytes: index position and CRC32C, file
//!                     length, record count, its own CRC32C, end magic
//! ```
//!
//! Every integer is little-endian. The decoders here never index out of
//! bounds: a short slice is an [`Error::Corrupt`], never a panic.

use crate::error::{Error, Result};
use crate::record::{record_size, ALIGN, DEALLOC_PAGES, NORMAL_PAGE};

/// First 8 bytes of every page file (PNG-style: a high-bit byte, `PWB`,
/// CR LF, ^Z, LF, so text-mode or 7-bit transfers are caught at once).
pub const MAGIC: [u8; 8] = *b"\x89PWB\r\n\x1a\n";
/// Last 4 bytes of every page file.
pub const END_MAGIC: [u8; 4] = *b"PWBE";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;

/// Bytes of the file header.
pub const HEADER_LEN: usize = 40;
/// Bytes of a record header in the file (the buffer's 16-byte header, then
/// the record's buffer offset and its checksum).
pub const RECORD_HEAD_LEN: usize = 24;
/// Bytes of one index entry.
pub const INDEX_ENTRY_LEN: usize = 16;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 32;

/// Bytes of the record header covered by the record checksum (all but the
/// checksum itself).
pub const RECORD_CRC_AT: usize = 20;

const _: () = assert!(HEADER_LEN.is_multiple_of(ALIGN as usize));
const _: () = assert!(RECORD_HEAD_LEN.is_multiple_of(ALIGN as usize));
const _: () = assert!(INDEX_ENTRY_LEN.is_multiple_of(ALIGN as usize));
const _: () = assert!(TRAILER_LEN.is_multiple_of(ALIGN as usize));

/// The largest file a version-1 writer can produce: a 2^31-byte buffer of
/// empty records (16 buffer bytes each) gives 2^27 records of 24 file bytes
/// plus 16 index bytes. Larger files are refused before they are read.
pub const MAX_FILE_LEN: u64 = HEADER_LEN as u64
    + (1u64 << 31) / 16 * (RECORD_HEAD_LEN + INDEX_ENTRY_LEN) as u64
    + TRAILER_LEN as u64;

/// The longest file a buffer with `allocated` reserved bytes can produce:
/// each kept record takes its own buffer bytes (16-byte header, padded
/// body; a dealloc record may keep fewer addresses) plus 8 more for its file
/// head and 16 for its index entry, and records are disjoint within
/// `allocated`, at least 16 bytes each. A longer file is refused before its
/// records are read.
#[inline]
pub const fn max_len_for(allocated: u32) -> u64 {
    (HEADER_LEN + TRAILER_LEN) as u64
        + allocated as u64
        + (allocated as u64 / 16) * (RECORD_HEAD_LEN - 16 + INDEX_ENTRY_LEN) as u64
}

/// Reads a little-endian `u32` at `at`, or names what was cut short.
pub fn le_u32(bytes: &[u8], at: usize) -> Result<u32> {
    at.checked_add(4)
        .and_then(|end| bytes.get(at..end))
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Error::Corrupt(format!("u32 at offset {at} is past the end")))
}

/// Reads a little-endian `u64` at `at`, or names what was cut short.
pub fn le_u64(bytes: &[u8], at: usize) -> Result<u64> {
    let lo = le_u32(bytes, at)?;
    let hi = le_u32(bytes, at.saturating_add(4))?;
    Ok(lo as u64 | (hi as u64) << 32)
}

/// Body bytes rounded up to [`ALIGN`], in `u64` so nothing wraps.
#[inline]
pub const fn padded(body: u32) -> u64 {
    record_size(body) - crate::record::HEADER_SIZE as u64
}

/// The file header's fields (magic, version, length and checksum implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// The buffer's group id: the high 32 bits of every address.
    pub group_id: u32,
    /// The buffer's capacity (a power of two in `16..=2^31`).
    pub capacity: u32,
    /// Bytes the buffer had reserved when flushed (`<= capacity`).
    pub allocated: u32,
    /// Records in the file.
    pub record_count: u32,
}

impl FileHeader {
    /// Encodes the header, checksum included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.group_id.to_le_bytes());
        b[20..24].copy_from_slice(&self.capacity.to_le_bytes());
        b[24..28].copy_from_slice(&self.allocated.to_le_bytes());
        b[28..32].copy_from_slice(&self.record_count.to_le_bytes());
        // 32..36: flags, zero in version 1.
        let crc = crc32c::crc32c(&b[..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates the header at the start of `bytes`; returns it
    /// with its checksum (the trailer's checksum chains on it).
    pub fn decode(bytes: &[u8]) -> Result<(FileHeader, u32)> {
        let bad = |what: String| Err(Error::Corrupt(format!("file header: {what}")));
        if bytes.len() < HEADER_LEN {
            return bad(format!("{} bytes, need {HEADER_LEN}", bytes.len()));
        }
        if bytes[0..8] != MAGIC {
            return bad("bad magic at offset 0 (not a page file)".into());
        }
        let version = le_u32(bytes, 8)?;
        if version != VERSION {
            return bad(format!(
                "unsupported format version {version} at offset 8 (this reader knows {VERSION})"
            ));
        }
        let header_len = le_u32(bytes, 12)?;
        if header_len as usize != HEADER_LEN {
            return bad(format!(
                "length {header_len} at offset 12, expected {HEADER_LEN}"
            ));
        }
        let stored = le_u32(bytes, 36)?;
        let crc = crc32c::crc32c(&bytes[..36]);
        if stored != crc {
            return bad(format!(
                "checksum mismatch at offset 36 (stored {stored:#010x}, computed {crc:#010x})"
            ));
        }
        let h = FileHeader {
            group_id: le_u32(bytes, 16)?,
            capacity: le_u32(bytes, 20)?,
            allocated: le_u32(bytes, 24)?,
            record_count: le_u32(bytes, 28)?,
        };
        let flags = le_u32(bytes, 32)?;
        if flags != 0 {
            return bad(format!("unknown flags {flags:#x} at offset 32"));
        }
        if !h.capacity.is_power_of_two() || !(16..=1u32 << 31).contains(&h.capacity) {
            return bad(format!("capacity {} at offset 20 is invalid", h.capacity));
        }
        if h.allocated > h.capacity || !h.allocated.is_multiple_of(ALIGN) {
            return bad(format!(
                "allocated {} at offset 24 does not fit capacity {}",
                h.allocated, h.capacity
            ));
        }
        Ok((h, crc))
    }
}

/// The trailer's fields (checksum and end magic implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// File offset of the index.
    pub index_offset: u64,
    /// Length of the whole file, trailer included.
    pub file_len: u64,
    /// Records in the file (equals the header's).
    pub record_count: u32,
    /// CRC32C of the index bytes.
    pub index_crc: u32,
}

impl Trailer {
    /// Encodes the trailer; its checksum chains on the header's.
    pub fn encode(&self, header_crc: u32) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.file_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.record_count.to_le_bytes());
        b[20..24].copy_from_slice(&self.index_crc.to_le_bytes());
        let crc = crc32c::crc32c_append(header_crc, &b[..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        b[28..32].copy_from_slice(&END_MAGIC);
        b
    }

    /// Decodes and checks the last [`TRAILER_LEN`] bytes of `file`.
    pub fn decode(file: &[u8], header_crc: u32) -> Result<Trailer> {
        let at = file.len().checked_sub(TRAILER_LEN).ok_or_else(|| {
            Error::Corrupt(format!("file of {} bytes has no trailer", file.len()))
        })?;
        Trailer::decode_at(&file[at..], at as u64, header_crc)
    }

    /// Decodes and checks a trailer `b` read from file offset `at` (for
    /// messages only), without the rest of the file.
    pub fn decode_at(b: &[u8], at: u64, header_crc: u32) -> Result<Trailer> {
        if b.len() != TRAILER_LEN {
            return Err(Error::Corrupt(format!(
                "trailer at offset {at}: {} bytes, need {TRAILER_LEN}",
                b.len()
            )));
        }
        let bad = |what: String| Err(Error::Corrupt(format!("trailer at offset {at}: {what}")));
        if b[28..32] != END_MAGIC {
            return bad("bad end magic (truncated or torn file?)".into());
        }
        let stored = le_u32(b, 24)?;
        let crc = crc32c::crc32c_append(header_crc, &b[..24]);
        if stored != crc {
            return bad(format!(
                "checksum mismatch (stored {stored:#010x}, computed {crc:#010x})"
            ));
        }
        Ok(Trailer {
            index_offset: le_u64(b, 0)?,
            file_len: le_u64(b, 8)?,
            record_count: le_u32(b, 16)?,
            index_crc: le_u32(b, 20)?,
        })
    }
}

/// A record header as stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// Page id, or 0 for a dealloc record.
    pub data: u64,
    /// [`NORMAL_PAGE`] or [`DEALLOC_PAGES`].
    pub flags: u32,
    /// Body bytes before padding.
    pub page_size: u32,
    /// Offset of the record (its 16-byte header) in the buffer it came from.
    pub offset: u32,
}

impl RecordHead {
    /// Encodes the head with a zero checksum (see [`seal_record`]).
    pub fn encode(&self) -> [u8; RECORD_HEAD_LEN] {
        let mut b = [0u8; RECORD_HEAD_LEN];
        b[0..8].copy_from_slice(&self.data.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.page_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    /// Decodes the head at `at`, with its stored checksum.
    pub fn decode(bytes: &[u8], at: usize) -> Result<(RecordHead, u32)> {
        Ok((
            RecordHead {
                data: le_u64(bytes, at)?,
                flags: le_u32(bytes, at.saturating_add(8))?,
                page_size: le_u32(bytes, at.saturating_add(12))?,
                offset: le_u32(bytes, at.saturating_add(16))?,
            },
            le_u32(bytes, at.saturating_add(RECORD_CRC_AT))?,
        ))
    }

    /// File bytes of the whole record: head, body and padding.
    #[inline]
    pub const fn file_len(&self) -> u64 {
        RECORD_HEAD_LEN as u64 + padded(self.page_size)
    }

    /// Whether the flags name a kind a file may hold.
    #[inline]
    pub const fn has_known_kind(&self) -> bool {
        self.flags == NORMAL_PAGE || self.flags == DEALLOC_PAGES
    }
}

/// The checksum of one encoded record: CRC32C of its head's first 20 bytes,
/// then of its body and padding. `record` is the whole encoded record.
#[inline]
pub fn record_crc(record: &[u8]) -> u32 {
    let head = crc32c::crc32c(&record[..RECORD_CRC_AT]);
    crc32c::crc32c_append(head, &record[RECORD_HEAD_LEN..])
}

/// Computes and stores the checksum of the encoded record `record`.
pub fn seal_record(record: &mut [u8]) {
    let crc = record_crc(record);
    record[RECORD_CRC_AT..RECORD_HEAD_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Encodes one index entry.
pub fn encode_index_entry(offset: u32, file_pos: u64) -> [u8; INDEX_ENTRY_LEN] {
    let mut b = [0u8; INDEX_ENTRY_LEN];
    b[0..4].copy_from_slice(&offset.to_le_bytes());
    // 4..8: reserved, zero in version 1.
    b[8..16].copy_from_slice(&file_pos.to_le_bytes());
    b
}

/// Decodes the index entry at `at`: `(buffer offset, reserved, file pos)`.
pub fn decode_index_entry(bytes: &[u8], at: usize) -> Result<(u32, u32, u64)> {
    Ok((
        le_u32(bytes, at)?,
        le_u32(bytes, at.saturating_add(4))?,
        le_u64(bytes, at.saturating_add(8))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_round_trip() {
        let h = FileHeader {
            group_id: 7,
            capacity: 1 << 20,
            allocated: 4096,
            record_count: 3,
        };
        let b = h.encode();
        assert_eq!(b[..8], MAGIC);
        assert_eq!(FileHeader::decode(&b).unwrap().0, h);
        assert_eq!(FileHeader::decode(&b).unwrap().1, le_u32(&b, 36).unwrap());
    }

    #[test]
    fn file_header_rejects_each_bad_field() {
        let h = FileHeader {
            group_id: 1,
            capacity: 64,
            allocated: 64,
            record_count: 0,
        };
        let reseal = |b: &mut [u8; HEADER_LEN]| {
            let crc = crc32c::crc32c(&b[..36]);
            b[36..40].copy_from_slice(&crc.to_le_bytes());
        };
        let cases: [(usize, u32); 6] = [
            (8, 2),   // version
            (12, 48), // header length
            (20, 48), // capacity not a power of two
            (20, 8),  // capacity too small
            (24, 72), // allocated past capacity
            (32, 1),  // flags
        ];
        for (at, v) in cases {
            let mut b = h.encode();
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            reseal(&mut b);
            assert!(
                matches!(FileHeader::decode(&b), Err(Error::Corrupt(_))),
                "field at {at} = {v}"
            );
        }
        assert!(FileHeader::decode(&h.encode()[..39]).is_err());
    }

    #[test]
    fn trailer_round_trip_chains_on_header_crc() {
        let t = Trailer {
            index_offset: 40,
            file_len: 72,
            record_count: 0,
            index_crc: crc32c::crc32c(&[]),
        };
        let mut file = vec![0u8; 40];
        file.extend_from_slice(&t.encode(0x1234));
        assert_eq!(Trailer::decode(&file, 0x1234).unwrap(), t);
        assert!(Trailer::decode(&file, 0x1235).is_err());
        assert!(Trailer::decode(&file[..31], 0x1234).is_err());
    }

    #[test]
    fn record_head_round_trip_and_crc() {
        let head = RecordHead {
            data: u64::MAX - 1,
            flags: NORMAL_PAGE,
            page_size: 3,
            offset: 0x10,
        };
        let mut rec = head.encode().to_vec();
        rec.extend_from_slice(&[1, 2, 3, 0, 0, 0, 0, 0]);
        seal_record(&mut rec);
        let (back, crc) = RecordHead::decode(&rec, 0).unwrap();
        assert_eq!(back, head);
        assert_eq!(crc, record_crc(&rec));
        assert_eq!(head.file_len(), rec.len() as u64);
        rec[RECORD_HEAD_LEN + 5] = 1; // padding is covered too
        assert_ne!(crc, record_crc(&rec));
    }

    #[test]
    fn le_reads_never_panic_past_the_end() {
        let b = [1u8, 2, 3];
        assert!(le_u32(&b, 0).is_err());
        assert!(le_u32(&b, usize::MAX - 1).is_err());
        assert!(le_u64(&[0u8; 8], 1).is_err());
        assert_eq!(le_u64(&[1, 0, 0, 0, 0, 0, 0, 2], 0).unwrap(), 2 << 56 | 1);
    }

    #[test]
    fn max_len_for_is_within_max_file_len() {
        assert_eq!(max_len_for(0), 72);
        // One empty page: 16 buffer bytes give 24 + 16 file bytes.
        assert_eq!(max_len_for(16), 72 + 40);
        // The largest buffer gives the largest file of all.
        assert_eq!(max_len_for(1 << 31), MAX_FILE_LEN);
    }

    #[test]
    fn max_file_len_bounds_the_largest_buffer() {
        // 2^27 empty records of 24 bytes plus 16 index bytes each.
        assert_eq!(MAX_FILE_LEN, 40 + (1 << 27) * 40 + 32);
        const { assert!(MAX_FILE_LEN < 6 << 30) };
    }
}
