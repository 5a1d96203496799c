//! Completion marks: one bit per 8 arena bytes, set on a record's offset
//! once its writer has filled it. A segment commit writes the longest prefix
//! of marked records (see `docs/page-file-format.md`, "Format v2").
//!
//! The words are `crate::sync::AtomicU64`, so under `cfg(loom)` the model
//! in `tests/loom.rs` explores the mark against the commit's scan.
//!
//! The bitmap (capacity / 64 bytes: 64 KiB for a 4 MiB arena) is allocated
//! at the first mark, not with the buffer: only segment commits (the
//! PageLog) mark records, and a buffer that never marks one then costs no
//! allocation when it is made and no `free` when it is dropped — which is
//! often a GC finalizer on the JS thread, where freeing a 64 KiB chunk made
//! glibc consolidate its heap (docs/BENCHMARKS.md, "Arena memory").

use crate::record::ALIGN;
use crate::sync::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

/// The completion bitmap of one arena.
pub(crate) struct CompleteBits {
    /// Words of the bitmap: `capacity / ALIGN / 64`, rounded up.
    len: usize,
    /// The bitmap, from the first mark on; none yet reads as all clear.
    words: OnceLock<Box<[AtomicU64]>>,
}

impl CompleteBits {
    /// Bits for an arena of `capacity` bytes, all clear.
    pub(crate) fn new(capacity: u32) -> Self {
        let len = ((capacity / ALIGN) as usize).div_ceil(64);
        let words = OnceLock::new();
        // Loom models the words' atomics, not `OnceLock`: allocate up front
        // there, so the model explores the mark against the scan as before.
        #[cfg(loom)]
        let _ = words.set(zeroed(len));
        CompleteBits { len, words }
    }

    /// The word and bit of `offset` in `words`.
    #[inline]
    fn locate(words: &[AtomicU64], offset: u32) -> (&AtomicU64, u64) {
        let unit = (offset / ALIGN) as usize;
        // Indexing panics on an offset outside the arena: every caller has
        // checked it against the capacity (an internal bug otherwise).
        (&words[unit / 64], 1u64 << (unit % 64))
    }

    /// Marks the record at `offset` complete.
    // Ordering: Release, pairs with the Acquire in `is_marked`: a commit
    // that sees the bit also sees the header and every body byte the
    // marking thread wrote (or saw written, e.g. through a writer it
    // acquired) before marking. `fetch_or` because other bits of the word
    // belong to other records, marked concurrently.
    // The bitmap itself is published by `OnceLock` (its initialisation
    // happens-before every `get` that sees it), so a thread that finds it
    // also finds its words zeroed or marked, never uninitialised.
    #[inline]
    pub(crate) fn mark(&self, offset: u32) {
        let words = self.words.get_or_init(|| zeroed(self.len));
        let (word, bit) = Self::locate(words, offset);
        word.fetch_or(bit, Ordering::Release);
    }

    /// Whether the record at `offset` was marked complete (never, before
    /// the first mark: there is no bitmap yet).
    // Ordering: Acquire, pairs with the Release in `mark`.
    #[inline]
    pub(crate) fn is_marked(&self, offset: u32) -> bool {
        let Some(words) = self.words.get() else {
            return false;
        };
        let (word, bit) = Self::locate(words, offset);
        word.load(Ordering::Acquire) & bit != 0
    }

    /// Whether the bitmap was allocated (tests).
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.words.get().is_some()
    }
}

/// `n` zeroed words. Through `alloc_zeroed`, so the pages of a large
/// bitmap are only touched when marked (the allocator hands out fresh zero
/// pages), and creating a buffer costs no memset of `capacity / 64` bytes.
#[cfg(not(loom))]
fn zeroed(n: usize) -> Box<[AtomicU64]> {
    if n == 0 {
        return Box::new([]);
    }
    let layout = std::alloc::Layout::array::<AtomicU64>(n).expect("bitmap size fits isize");
    // SAFETY: `layout` has a non-zero size (n > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` is a live allocation of exactly `Layout::array::<
    // AtomicU64>(n)`, the layout `Box<[AtomicU64]>` frees with; all-zero
    // bytes are a valid `AtomicU64` (0), so all `n` elements are
    // initialized; nothing else owns the allocation.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }
}

/// Loom's atomics are not plain memory: build them one by one.
#[cfg(loom)]
fn zeroed(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_bitmap_is_allocated_at_the_first_mark() {
        let bits = CompleteBits::new(1 << 22);
        assert!(!bits.is_allocated());
        assert!(!bits.is_marked(4096), "no bitmap reads as all clear");
        assert!(!bits.is_allocated(), "reading does not allocate");
        bits.mark(4096);
        assert!(bits.is_allocated());
        assert!(bits.is_marked(4096) && !bits.is_marked(4104));
    }

    #[test]
    fn marks_are_per_record_and_sticky() {
        let bits = CompleteBits::new(1024);
        assert!(!bits.is_marked(0));
        bits.mark(8);
        bits.mark(1016);
        assert!(bits.is_marked(8) && bits.is_marked(1016));
        assert!(!bits.is_marked(0) && !bits.is_marked(16));
        bits.mark(8);
        assert!(bits.is_marked(8));
    }
}
