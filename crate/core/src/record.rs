//! Record layout: a 16-byte little-endian header followed by the body,
//! padded to a multiple of 8.
//!
//! ```text
//! offset 0  data: u64      page id (page record) or 0 (dealloc record)
//! offset 8  flags: u32     NORMAL_PAGE | DEALLOC_PAGES | TOMBSTONE
//! offset 12 page_size: u32 body bytes before padding
//! offset 16 body, then zero padding up to a multiple of 8
//! ```

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Records (and so page bodies) start at multiples of this.
pub const ALIGN: u32 = 8;
/// Size of a record header.
pub const HEADER_SIZE: u32 = 16;
/// Flags of a page record.
pub const NORMAL_PAGE: u32 = 0b1;
/// Flags of a dealloc record (its body is the u64 addresses it frees).
pub const DEALLOC_PAGES: u32 = 0b10;
/// Flags of a tombstoned record (replaces the kind flags).
pub const TOMBSTONE: u32 = 0b1000_0000;

/// Byte offset of `data` in a header.
pub const DATA_OFFSET: usize = 0;
/// Byte offset of `flags` in a header.
pub const FLAGS_OFFSET: usize = 8;
/// Byte offset of `page_size` in a header.
pub const SIZE_OFFSET: usize = 12;

const _: () = assert!(HEADER_SIZE as usize == FLAGS_OFFSET + 4 + 4);
const _: () = assert!(HEADER_SIZE.is_multiple_of(ALIGN));

/// Total bytes of a record whose body has `body` bytes: header plus the body
/// rounded up to [`ALIGN`]. Computed in `u64` so no `u32` size wraps.
#[inline]
pub const fn record_size(body: u32) -> u64 {
    HEADER_SIZE as u64 + (body as u64).div_ceil(ALIGN as u64) * ALIGN as u64
}

/// The kind of a live record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A page record: `data` is the page id.
    Page,
    /// A dealloc record: the body lists the u64 addresses it frees.
    Dealloc,
}

impl RecordKind {
    /// The kind of a header's flags, `None` for a tombstone or unknown flags.
    #[inline]
    pub const fn from_flags(flags: u32) -> Option<Self> {
        match flags {
            NORMAL_PAGE => Some(RecordKind::Page),
            DEALLOC_PAGES => Some(RecordKind::Dealloc),
            _ => None,
        }
    }

    /// The flags a new record of this kind gets.
    #[inline]
    pub const fn flags(self) -> u32 {
        match self {
            RecordKind::Page => NORMAL_PAGE,
            RecordKind::Dealloc => DEALLOC_PAGES,
        }
    }
}

/// A snapshot of one record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Page id, or 0 for a dealloc record.
    pub data: u64,
    /// Flag bits.
    pub flags: u32,
    /// Body bytes before padding.
    pub page_size: u32,
}

impl Header {
    /// The total bytes the record covers.
    #[inline]
    pub const fn record_size(&self) -> u64 {
        record_size(self.page_size)
    }

    /// Tombstoned: its flags were replaced by `TOMBSTONE`.
    #[inline]
    pub const fn is_tombstone(&self) -> bool {
        self.flags == TOMBSTONE
    }

    /// Encodes the header as its 16 little-endian bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE as usize] {
        let mut b = [0u8; HEADER_SIZE as usize];
        b[DATA_OFFSET..FLAGS_OFFSET].copy_from_slice(&self.data.to_le_bytes());
        b[FLAGS_OFFSET..SIZE_OFFSET].copy_from_slice(&self.flags.to_le_bytes());
        b[SIZE_OFFSET..].copy_from_slice(&self.page_size.to_le_bytes());
        b
    }

    /// Decodes 16 little-endian bytes.
    pub fn from_bytes(b: &[u8; HEADER_SIZE as usize]) -> Self {
        let mut d = [0u8; 8];
        d.copy_from_slice(&b[..8]);
        let mut f = [0u8; 4];
        f.copy_from_slice(&b[8..12]);
        let mut s = [0u8; 4];
        s.copy_from_slice(&b[12..16]);
        Header {
            data: u64::from_le_bytes(d),
            flags: u32::from_le_bytes(f),
            page_size: u32::from_le_bytes(s),
        }
    }
}

/// Atomic access to a header that lives in shared arena memory.
///
/// Header words are only ever accessed through these atomics on the Rust
/// side, so a tombstone set on one thread while another reads the flags is a
/// defined (if racy) read, never a data race.
#[derive(Clone, Copy)]
pub(crate) struct HeaderCell {
    ptr: *mut u8,
}

impl HeaderCell {
    /// # Safety
    ///
    /// `ptr` is 8-byte aligned, valid for reads and writes of
    /// [`HEADER_SIZE`] bytes for as long as the cell is used, and those bytes
    /// are only accessed atomically (or exclusively) while the cell is used.
    #[inline]
    pub(crate) unsafe fn new(ptr: *mut u8) -> Self {
        debug_assert_eq!(ptr as usize % ALIGN as usize, 0);
        HeaderCell { ptr }
    }

    #[inline]
    fn data(&self) -> &AtomicU64 {
        // SAFETY: `new`'s contract: the pointer is 8-aligned and valid, and
        // the bytes are only accessed atomically while the cell lives.
        unsafe { AtomicU64::from_ptr(self.ptr.add(DATA_OFFSET).cast()) }
    }

    #[inline]
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as in `data`; offset 8 keeps 4-byte alignment.
        unsafe { AtomicU32::from_ptr(self.ptr.add(FLAGS_OFFSET).cast()) }
    }

    #[inline]
    fn size(&self) -> &AtomicU32 {
        // SAFETY: as in `data`; offset 12 keeps 4-byte alignment.
        unsafe { AtomicU32::from_ptr(self.ptr.add(SIZE_OFFSET).cast()) }
    }

    /// Reads the header.
    // Ordering: Relaxed. Whoever reads a header has already synchronised with
    // its writer through an Acquire elsewhere (the record-start bit, or the
    // state word once the buffer is flushable); these loads only need to be
    // free of tearing.
    #[inline]
    pub(crate) fn load(&self) -> Header {
        Header {
            data: u64::from_le(self.data().load(Ordering::Relaxed)),
            flags: u32::from_le(self.flags().load(Ordering::Relaxed)),
            page_size: u32::from_le(self.size().load(Ordering::Relaxed)),
        }
    }

    /// Writes a whole header.
    // Ordering: Relaxed. The header is published by the Release that follows
    // (the record-start bit, then the writer's release of the buffer).
    #[inline]
    pub(crate) fn store(&self, h: Header) {
        self.data().store(h.data.to_le(), Ordering::Relaxed);
        self.flags().store(h.flags.to_le(), Ordering::Relaxed);
        self.size().store(h.page_size.to_le(), Ordering::Relaxed);
    }

    /// Replaces the flags.
    // Ordering: Relaxed, as `store`: published by the writer's release.
    #[inline]
    pub(crate) fn set_flags(&self, flags: u32) {
        self.flags().store(flags.to_le(), Ordering::Relaxed);
    }

    /// Replaces `data` (the page id).
    // Ordering: Relaxed, as `store`: published by the writer's release.
    #[inline]
    pub(crate) fn set_data(&self, data: u64) {
        self.data().store(data.to_le(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_record_size() {
        // Port of the seed's table: body size -> record size without header.
        let cases = [(1u32, 8u64), (8, 8), (15, 16), (16, 16), (0, 0), (17, 24)];
        for (page_size, body) in cases {
            let h = Header {
                data: 0,
                flags: NORMAL_PAGE,
                page_size,
            };
            assert_eq!(
                h.record_size(),
                HEADER_SIZE as u64 + body,
                "page_size {page_size}"
            );
        }
    }

    #[test]
    fn record_size_never_wraps() {
        assert_eq!(record_size(u32::MAX), 16 + (1u64 << 32));
        assert_eq!(record_size(u32::MAX - 7), 16 + (1u64 << 32) - 8);
    }

    #[test]
    fn header_bytes_are_little_endian_in_field_order() {
        let h = Header {
            data: 0x0102_0304_0506_0708,
            flags: TOMBSTONE,
            page_size: 0x0a0b_0c0d,
        };
        let b = h.to_bytes();
        assert_eq!(
            b,
            [8, 7, 6, 5, 4, 3, 2, 1, 0x80, 0, 0, 0, 0x0d, 0x0c, 0x0b, 0x0a]
        );
        assert_eq!(Header::from_bytes(&b), h);
    }

    #[test]
    fn header_cell_matches_byte_encoding() {
        let mut mem = [0u64; 2];
        // SAFETY: `mem` is 8-aligned, 16 bytes, used only through the cell here.
        let cell = unsafe { HeaderCell::new(mem.as_mut_ptr().cast()) };
        let h = Header {
            data: 42,
            flags: DEALLOC_PAGES,
            page_size: 24,
        };
        cell.store(h);
        assert_eq!(cell.load(), h);
        // SAFETY: the cell is no longer used; plain reads of our own array.
        let bytes: [u8; 16] = unsafe { std::mem::transmute(mem) };
        assert_eq!(bytes, h.to_bytes());
    }

    #[test]
    fn record_kind_from_flags() {
        assert_eq!(RecordKind::from_flags(NORMAL_PAGE), Some(RecordKind::Page));
        assert_eq!(
            RecordKind::from_flags(DEALLOC_PAGES),
            Some(RecordKind::Dealloc)
        );
        assert_eq!(RecordKind::from_flags(TOMBSTONE), None);
        assert_eq!(RecordKind::from_flags(0), None);
        assert_eq!(RecordKind::from_flags(NORMAL_PAGE | TOMBSTONE), None);
    }
}
