//! Constants and codecs of the segment format (format version 2; see
//! `docs/page-file-format.md`, "Format v2: segments").

use crate::error::{Error, Result};
use crate::record::{record_size, Header, DEALLOC_PAGES, HEADER_SIZE, NORMAL_PAGE};

/// First 8 bytes of a segment.
pub const MAGIC: [u8; 8] = *b"\x89PWS\r\n\x1a\n";
/// Format version of segments.
pub const VERSION: u32 = 2;
/// Bytes of the segment header; records start here.
pub const HEADER_LEN: u64 = 64;
/// Bytes of a record head in the file (the buffer's 16-byte header, then
/// the record's buffer offset and its checksum).
pub const HEAD_LEN: u64 = 24;
/// Bytes of one index entry.
pub const ENTRY_LEN: u64 = 32;
/// Bytes of the trailer.
pub const TRAILER_LEN: u64 = 48;
/// The trailer starts at a multiple of this (zero padding before it).
pub const TRAILER_ALIGN: u64 = 64;
/// Last 4 bytes of a sealed segment.
pub const END_MAGIC: [u8; 4] = *b"PWSE";

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The buffer's group id.
    pub group_id: u32,
    /// The buffer's capacity.
    pub capacity: u32,
    /// Random, drawn at preparation: seeds every checksum through `crc`.
    pub salt: u64,
    /// The size the file was prepared to.
    pub prepared_len: u64,
}

impl SegmentHeader {
    /// Encodes the header; bytes 60..64 are its checksum.
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.group_id.to_le_bytes());
        b[20..24].copy_from_slice(&self.capacity.to_le_bytes());
        b[24..32].copy_from_slice(&self.salt.to_le_bytes());
        b[32..40].copy_from_slice(&self.prepared_len.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The checksum seed of this segment's records, index and trailer:
    /// the header's own checksum (covers group id and salt).
    pub fn seed(&self) -> u32 {
        u32_at(&self.encode(), 60)
    }

    /// Decodes and checks a header (`what` names the file in errors).
    pub fn decode(b: &[u8], what: &str) -> Result<Self> {
        let bad = |why: &str| Error::Corrupt(format!("{what}: segment header: {why}"));
        if b.len() < HEADER_LEN as usize {
            return Err(bad("file shorter than the header"));
        }
        if b[0..8] != MAGIC {
            return Err(bad("bad magic"));
        }
        if u32_at(b, 8) != VERSION {
            return Err(bad(&format!("unknown version {}", u32_at(b, 8))));
        }
        if u32_at(b, 12) != HEADER_LEN as u32 {
            return Err(bad("bad header length"));
        }
        if crc32c::crc32c(&b[..60]) != u32_at(b, 60) {
            return Err(bad("checksum mismatch"));
        }
        if b[40..60].iter().any(|&x| x != 0) {
            return Err(bad("reserved bytes are not zero"));
        }
        let capacity = u32_at(b, 20);
        if !capacity.is_power_of_two() || !(16..=1u32 << 31).contains(&capacity) {
            return Err(bad(&format!("invalid capacity {capacity}")));
        }
        Ok(SegmentHeader {
            group_id: u32_at(b, 16),
            capacity,
            salt: u64_at(b, 24),
            prepared_len: u64_at(b, 32),
        })
    }
}

/// The file head of a record: the buffer's header, its buffer offset and
/// its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// The buffer's header (`data`, `flags`, `page_size`).
    pub header: Header,
    /// The record's offset in the buffer.
    pub offset: u32,
    /// `crc32c_append(seed, head[0..20] ‖ body ‖ padding)`.
    pub crc: u32,
}

impl RecordHead {
    /// Encodes the head.
    pub fn encode(&self) -> [u8; HEAD_LEN as usize] {
        let mut b = [0u8; HEAD_LEN as usize];
        b[..16].copy_from_slice(&self.header.to_bytes());
        b[16..20].copy_from_slice(&self.offset.to_le_bytes());
        b[20..24].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    /// Decodes a head (no check).
    pub fn decode(b: &[u8]) -> Self {
        let h: &[u8; 16] = b[..16].try_into().expect("16 bytes");
        RecordHead {
            header: Header::from_bytes(h),
            offset: u32_at(b, 16),
            crc: u32_at(b, 20),
        }
    }

    /// Bytes of the padded body.
    pub fn padded(&self) -> u64 {
        record_size(self.header.page_size) - HEADER_SIZE as u64
    }

    /// Bytes of the whole record in the file.
    pub fn file_size(&self) -> u64 {
        HEAD_LEN + self.padded()
    }

    /// Structural checks against the segment's capacity and the end of the
    /// previous record in the buffer. `None` if the head is acceptable,
    /// else why not.
    pub fn check(&self, capacity: u32, prev_end: u64) -> Option<&'static str> {
        let h = &self.header;
        if h.flags != NORMAL_PAGE && h.flags != DEALLOC_PAGES {
            return Some("unknown flags");
        }
        if !self.offset.is_multiple_of(8) {
            return Some("misaligned offset");
        }
        if (self.offset as u64) < prev_end {
            return Some("offset out of order");
        }
        if self.offset as u64 + h.record_size() > capacity as u64 {
            return Some("record past the capacity");
        }
        if h.flags == DEALLOC_PAGES && (h.data != 0 || !h.page_size.is_multiple_of(8)) {
            return Some("malformed dealloc record");
        }
        None
    }
}

/// The checksum of a record whose head (first 20 bytes) and padded body
/// are `head20` and `padded_body`, in a segment of seed `seed`.
pub fn record_crc(seed: u32, head20: &[u8], padded_body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c_append(seed, head20), padded_body)
}

/// One index entry: where a committed record lies and what it checks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Page id (0 for a dealloc record).
    pub page_id: u64,
    /// The record's buffer offset.
    pub offset: u32,
    /// Body bytes.
    pub page_size: u32,
    /// File offset of the record's head.
    pub file_pos: u64,
    /// `NORMAL_PAGE` or `DEALLOC_PAGES`.
    pub flags: u32,
    /// The record's checksum.
    pub crc: u32,
}

impl IndexEntry {
    /// The address of the record's body in group `group_id`.
    pub fn addr(&self, group_id: u32) -> u64 {
        ((group_id as u64) << 32) | (self.offset + HEADER_SIZE) as u64
    }

    /// The record's head as the file holds it.
    pub fn head(&self) -> RecordHead {
        RecordHead {
            header: Header {
                data: self.page_id,
                flags: self.flags,
                page_size: self.page_size,
            },
            offset: self.offset,
            crc: self.crc,
        }
    }

    /// An entry for a record head found at `file_pos`.
    pub fn of_head(head: &RecordHead, file_pos: u64) -> Self {
        IndexEntry {
            page_id: head.header.data,
            offset: head.offset,
            page_size: head.header.page_size,
            file_pos,
            flags: head.header.flags,
            crc: head.crc,
        }
    }

    /// Encodes the entry.
    pub fn encode(&self) -> [u8; ENTRY_LEN as usize] {
        let mut b = [0u8; ENTRY_LEN as usize];
        b[0..8].copy_from_slice(&self.page_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.page_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.file_pos.to_le_bytes());
        b[24..28].copy_from_slice(&self.flags.to_le_bytes());
        b[28..32].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    /// Decodes an entry (no check).
    pub fn decode(b: &[u8]) -> Self {
        IndexEntry {
            page_id: u64_at(b, 0),
            offset: u32_at(b, 8),
            page_size: u32_at(b, 12),
            file_pos: u64_at(b, 16),
            flags: u32_at(b, 24),
            crc: u32_at(b, 28),
        }
    }
}

/// The trailer of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// File offset of the index (end of the last record).
    pub index_offset: u64,
    /// Length of the file, trailer included.
    pub file_len: u64,
    /// Index entries.
    pub record_count: u32,
    /// Dealloc addresses after the entries.
    pub dealloc_count: u32,
    /// The buffer's allocated bytes when sealed.
    pub allocated: u32,
    /// Checksum of the entries and dealloc addresses, seeded.
    pub index_crc: u32,
}

impl Trailer {
    /// Encodes the trailer, checksummed with `seed`.
    pub fn encode(&self, seed: u32) -> [u8; TRAILER_LEN as usize] {
        let mut b = [0u8; TRAILER_LEN as usize];
        b[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.file_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.record_count.to_le_bytes());
        b[20..24].copy_from_slice(&self.dealloc_count.to_le_bytes());
        b[24..28].copy_from_slice(&self.allocated.to_le_bytes());
        b[28..32].copy_from_slice(&self.index_crc.to_le_bytes());
        let crc = crc32c::crc32c_append(seed, &b[..40]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
        b[44..48].copy_from_slice(&END_MAGIC);
        b
    }

    /// Whether `b` ends with the end magic (a trailer was written there).
    pub fn has_magic(b: &[u8]) -> bool {
        b.len() == TRAILER_LEN as usize && b[44..48] == END_MAGIC
    }

    /// Decodes a trailer if its magic and seeded checksum hold; `None`
    /// otherwise.
    pub fn decode(b: &[u8], seed: u32) -> Option<Self> {
        if !Self::has_magic(b) {
            return None;
        }
        if crc32c::crc32c_append(seed, &b[..40]) != u32_at(b, 40) || u64_at(b, 32) != 0 {
            return None;
        }
        Some(Trailer {
            index_offset: u64_at(b, 0),
            file_len: u64_at(b, 8),
            record_count: u32_at(b, 16),
            dealloc_count: u32_at(b, 20),
            allocated: u32_at(b, 24),
            index_crc: u32_at(b, 28),
        })
    }
}

/// The file name of group `group_id`'s segment.
pub fn segment_name(group_id: u32) -> String {
    format!("seg-{group_id:08x}.pws")
}

/// The group id of a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".pws")?;
    if hex.len() != 8 || !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// The temporary name a segment is prepared under.
pub fn temp_name(group_id: u32) -> String {
    format!(".seg-{group_id:08x}.pws.tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip() {
        let h = SegmentHeader {
            group_id: 7,
            capacity: 1 << 20,
            salt: 0x1234_5678_9abc_def0,
            prepared_len: 1 << 21,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b, "x").unwrap(), h);
        let mut bad = b;
        bad[25] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&bad, "x"),
            Err(Error::Corrupt(_))
        ));
        let e = IndexEntry {
            page_id: 9,
            offset: 64,
            page_size: 100,
            file_pos: 4096,
            flags: NORMAL_PAGE,
            crc: 5,
        };
        assert_eq!(IndexEntry::decode(&e.encode()), e);
        assert_eq!(e.addr(7), 7 << 32 | 80);
        let t = Trailer {
            index_offset: 1000,
            file_len: 2000,
            record_count: 3,
            dealloc_count: 1,
            allocated: 512,
            index_crc: 77,
        };
        assert_eq!(Trailer::decode(&t.encode(h.seed()), h.seed()), Some(t));
        assert_eq!(Trailer::decode(&t.encode(h.seed()), h.seed() ^ 1), None);
        assert_eq!(
            parse_segment_name(&segment_name(0xdead_beef)),
            Some(0xdead_beef)
        );
        assert_eq!(parse_segment_name("seg-DEADBEEF.pws"), None);
        assert_eq!(parse_segment_name(&temp_name(1)), None);
    }
}
