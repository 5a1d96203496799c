//! The raw, zeroed, aligned allocation behind a write buffer, and the
//! record-start map beside it.
//!
//! Large arenas ([`MAP_MIN`] bytes and up, on Unix) are anonymous mappings
//! straight from the kernel: page-aligned, zeroed lazily on first touch, and
//! returned with `munmap` when freed, so RSS falls by exactly what was freed
//! (a `calloc`ed chunk may stay in malloc's heap once glibc's dynamic mmap
//! threshold has risen). Smaller ones come from the global allocator.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::record::{ALIGN, HEADER_SIZE};

/// Alignment of every arena: 16 bytes, the allocator's natural alignment on
/// 64-bit targets, so `alloc_zeroed` is a `calloc` that maps large arenas
/// lazily instead of touching every page up front. Records need only 8.
/// (A mapped arena is page-aligned, which is more.)
pub const ARENA_ALIGN: usize = 16;

/// Arenas of this many bytes and more are anonymous mappings on Unix.
pub const MAP_MIN: usize = 1 << 20;

const _: () = assert!(ARENA_ALIGN.is_multiple_of(ALIGN as usize));

/// Arenas of write buffers held by buffers and pools, process-wide (a
/// leak check for tests: see [`live_arenas`]). An arena leaves the count
/// when its buffer lets it go (it is then freed, or kept scrubbed in the
/// process-wide cache: `crate::reclaim`).
static LIVE_ARENAS: AtomicUsize = AtomicUsize::new(0);

/// Write-buffer arenas held by buffers and pools in this process (idle
/// pooled ones included; cached and being-freed ones not: see
/// [`crate::reclaim::stats`]).
// Ordering: Relaxed: a statistic; it publishes no memory.
pub fn live_arenas() -> usize {
    LIVE_ARENAS.load(Ordering::Relaxed)
}

/// Where an arena's memory comes from, hence how it is freed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backing {
    /// `alloc_zeroed` with this layout; `dealloc` frees it.
    Heap(Layout),
    /// An anonymous mapping of `len` bytes; `munmap` frees it.
    #[cfg(unix)]
    Mapped,
    /// Someone else's memory ([`Arena::borrowed`]): never freed here.
    Borrowed,
}

/// A zeroed allocation of `len` bytes, freed exactly once on drop; or
/// (see [`Arena::borrowed`]) memory that someone else owns and frees.
pub(crate) struct Arena {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
    counted: bool,
}

// SAFETY: `Arena` is a plain owned allocation; it hands out raw pointers only,
// and every access through them is synchronised by its owner (`WriteBuffer`
// reserves disjoint ranges with one CAS and publishes them with
// Release/Acquire), so moving it between threads is sound (the reclaim
// thread frees or scrubs arenas that no buffer holds any more).
unsafe impl Send for Arena {}
// SAFETY: shared access only yields raw pointers (see `Send` above); the
// owner's protocol keeps concurrent accesses disjoint or atomic.
unsafe impl Sync for Arena {}

/// Whether mapped arenas of 4 MiB and more get `MADV_HUGEPAGE`: on unless
/// `PHOTON_WB_HUGEPAGE=0`. Measured (docs/BENCHMARKS.md, "Arena memory"):
/// filling fresh 64 MiB arenas took ~26× fewer page faults and 2–3× less
/// time; the cost is residency in 2 MiB steps. Read once.
#[cfg(target_os = "linux")]
fn huge_pages() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("PHOTON_WB_HUGEPAGE").map_or(true, |v| v != "0"))
}

/// Replaces `len` bytes of private anonymous mapping at `ptr` by pages
/// that read as zero and are not resident; whether it could. Linux:
/// `MADV_DONTNEED` (guaranteed to zero private anonymous pages). Other
/// Unixes, where `MADV_DONTNEED` may keep the contents: a fresh anonymous
/// mapping over the range (`MAP_FIXED`).
///
/// # Safety
///
/// `ptr` is page-aligned and `ptr..ptr + len` is inside a private
/// anonymous read-write mapping that nothing else accesses meanwhile.
#[cfg(unix)]
unsafe fn release_pages(ptr: *mut u8, len: usize) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: the caller's contract; the advice drops the pages' contents.
        unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) == 0 }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: the caller's contract: the range is ours, and replacing it
        // with a fresh mapping of the same protection keeps it valid.
        let raw = unsafe {
            libc::mmap(
                ptr.cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        raw == ptr.cast()
    }
}

/// The kernel's page size (read once).
#[cfg(unix)]
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: `sysconf` only reads a system constant.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 1 << 16,
    })
}

impl Arena {
    /// Allocates `len` zeroed bytes (`len > 0`) aligned to `align`: mapped
    /// from the kernel when `len >= MAP_MIN` (on Unix; a mapping is
    /// page-aligned), from the global allocator otherwise.
    pub(crate) fn zeroed(len: usize, align: usize) -> Result<Self> {
        let layout = Layout::from_size_align(len.max(1), align)
            .map_err(|_| Error::OutOfMemory(len as u64))?;
        #[cfg(unix)]
        if len >= MAP_MIN && align <= 4096 {
            return Self::mapped(len);
        }
        // SAFETY: the layout has a non-zero size (`max(1)`).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(Error::OutOfMemory(len as u64))?;
        Ok(Arena {
            ptr,
            len: layout.size(),
            backing: Backing::Heap(layout),
            counted: false,
        })
    }

    /// An anonymous private mapping of `len > 0` bytes: zero pages that the
    /// kernel materialises on first touch.
    #[cfg(unix)]
    fn mapped(len: usize) -> Result<Self> {
        // SAFETY: a fresh anonymous mapping at an address the kernel
        // chooses; it aliases nothing. `len > 0`.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(Error::OutOfMemory(len as u64));
        }
        #[cfg(target_os = "linux")]
        if huge_pages() && len >= 4 << 20 {
            // SAFETY: `raw..raw + len` is the mapping just made; the advice
            // changes no contents. A failure only means no huge pages.
            unsafe { libc::madvise(raw, len, libc::MADV_HUGEPAGE) };
        }
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(Error::OutOfMemory(len as u64))?;
        Ok(Arena {
            ptr,
            len,
            backing: Backing::Mapped,
            counted: false,
        })
    }

    /// As [`Arena::zeroed`], counted in [`live_arenas`] until dropped.
    pub(crate) fn counted(len: usize, align: usize) -> Result<Self> {
        let mut a = Self::zeroed(len, align)?;
        a.count(true);
        Ok(a)
    }

    /// Enters (`true`) or leaves (`false`) the [`live_arenas`] count; a
    /// no-op when already there.
    pub(crate) fn count(&mut self, counted: bool) {
        if self.counted == counted {
            return;
        }
        self.counted = counted;
        // Ordering: Relaxed: a statistic.
        if counted {
            LIVE_ARENAS.fetch_add(1, Ordering::Relaxed);
        } else {
            LIVE_ARENAS.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The first byte.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Bytes allocated.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The prefix [`Arena::zero_head`] zeroes: `dirty` rounded up to a
    /// page for a mapping; the whole arena for a heap one.
    fn head(&self, dirty: usize) -> usize {
        #[cfg(unix)]
        if self.backing == Backing::Mapped {
            return dirty
                .min(self.len)
                .next_multiple_of(page_size())
                .min(self.len);
        }
        let _ = dirty;
        self.len
    }

    /// For a mapping, gives every page past the [`Arena::head`] of `dirty`
    /// back to the kernel (`release_pages`: they read as zero afterwards,
    /// and stop being resident), so bytes that JS wrote
    /// past the allocated prefix through an arena view never reach the
    /// next buffer. Nothing for a heap arena ([`Arena::zero_head`] zeroes
    /// it whole).
    pub(crate) fn release_tail(&mut self, dirty: usize) {
        debug_assert!(!self.is_borrowed());
        #[cfg(unix)]
        if self.backing == Backing::Mapped {
            let head = self.head(dirty);
            if head < self.len {
                // SAFETY: `head..len` is inside the mapping, which `&mut
                // self` keeps to us, and `ptr + head` is page-aligned (the
                // mapping is, and `head` is a multiple of the page size).
                let tail = unsafe { self.ptr.as_ptr().add(head) };
                // SAFETY: as above.
                if !unsafe { release_pages(tail, self.len - head) } {
                    // SAFETY: as above; the fallback zeroes the rest by hand.
                    unsafe { std::ptr::write_bytes(tail, 0, self.len - head) };
                }
            }
        }
        #[cfg(not(unix))]
        let _ = dirty;
    }

    /// Zeroes the [`Arena::head`] of `dirty`: with [`Arena::release_tail`]
    /// done before, every byte then reads zero.
    pub(crate) fn zero_head(&mut self, dirty: usize) {
        debug_assert!(!self.is_borrowed());
        let head = self.head(dirty);
        // SAFETY: `&mut self`: nothing else accesses the arena; `head <=
        // len` bytes from the start are inside the allocation.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0, head) };
    }

    /// Whether the memory is an anonymous mapping (tests).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        #[cfg(unix)]
        return self.backing == Backing::Mapped;
        #[cfg(not(unix))]
        return false;
    }
}

/// Borrowed arenas: memory owned outside Rust (the binding's `'js'` arena
/// mode: a JS `SharedArrayBuffer`). Rust never frees, reuses or pools it.
impl Arena {
    /// An arena over `len` bytes at `ptr` that Rust does not own: dropping it
    /// frees nothing, and it is not counted in [`live_arenas`]. It must never
    /// be pooled or reused for another buffer (see [`Arena::is_borrowed`]).
    ///
    /// Fails with [`Error::OutOfMemory`] when `len` is not a valid size for
    /// `ARENA_ALIGN` (over `isize::MAX`).
    ///
    /// # Safety
    ///
    /// `ptr` is aligned to [`ARENA_ALIGN`] and valid for reads and writes of
    /// `len` bytes, does not move, and stays valid for every access made
    /// through this arena (its owner keeps it alive while anything may use
    /// it; dropping the arena does not access it).
    pub(crate) unsafe fn borrowed(ptr: NonNull<u8>, len: usize) -> Result<Self> {
        debug_assert!((ptr.as_ptr() as usize).is_multiple_of(ARENA_ALIGN));
        let layout = Layout::from_size_align(len.max(1), ARENA_ALIGN)
            .map_err(|_| Error::OutOfMemory(len as u64))?;
        Ok(Arena {
            ptr,
            len: layout.size(),
            backing: Backing::Borrowed,
            counted: false,
        })
    }

    /// Whether the memory is borrowed ([`Arena::borrowed`]): then it must not
    /// be pooled or reused.
    #[inline]
    pub(crate) fn is_borrowed(&self) -> bool {
        self.backing == Backing::Borrowed
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        match self.backing {
            // Not ours: the owner frees it (see `Arena::borrowed`).
            Backing::Borrowed => return,
            // SAFETY: `ptr` came from `alloc_zeroed` with exactly `layout`,
            // and `drop` runs once.
            Backing::Heap(layout) => unsafe { dealloc(self.ptr.as_ptr(), layout) },
            #[cfg(unix)]
            Backing::Mapped => {
                // SAFETY: `ptr..ptr + len` is exactly the mapping made in
                // `mapped`, unmapped once, here; nothing uses it any more
                // (`drop` has the only reference).
                let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
                debug_assert_eq!(rc, 0, "munmap of an arena failed");
            }
        }
        self.count(false);
    }
}

/// Arena bytes per byte of the record-start map: one byte per 16-byte
/// window. A record is at least [`HEADER_SIZE`] (16) bytes, so no two
/// records start in the same window, and the window's byte belongs to the
/// one record that may start there.
pub const START_WINDOW: u32 = HEADER_SIZE;

const _: () = assert!(START_WINDOW == 2 * ALIGN);

/// Bytes of the record-start map of an arena of `capacity` bytes
/// (capacity / 16: Rust memory beside the arena, zeroed lazily like it).
#[inline]
pub const fn start_map_bytes(capacity: u32) -> usize {
    capacity.div_ceil(START_WINDOW) as usize
}

/// Where records start: one byte per 16-byte window of an arena, 0 when no
/// record starts in the window, else a tag saying which of its two 8-byte
/// units the record starts at (1: the first, 2: the second). A record's
/// "start bit", as the rest of the crate calls it, is that tag.
///
/// `page(addr)` needs to know that an address is the body of a record and
/// not the middle of one; reading the arena cannot tell (a page body may
/// hold any bytes, and JS can reach every byte through a view's `.buffer`),
/// so the starts live here, out of JS's reach. Cost: capacity / 16 bytes,
/// zeroed lazily like the arena.
///
/// A byte, not a bit: marking a start is then a plain store instead of an
/// atomic read-modify-write (a bit shares its word with the starts of the
/// neighbouring records, written concurrently by other writers, so setting
/// it took a locked `fetch_or`: measured, it was most of the core's
/// overhead over the seed on `alloc_page`, docs/BENCHMARKS.md). The byte of
/// a window is only ever set to a tag by the writer of the record that
/// starts there, the one record that can; [`StartBits::unmark`] clears it
/// only if it holds the tag of the offset being cleared, so clearing the
/// units of a range never erases the start of a record of another range
/// that shares the range's last window.
pub(crate) struct StartBits {
    bytes: Arena,
}

impl StartBits {
    /// Starts for an arena of `capacity` bytes.
    pub(crate) fn new(capacity: u32) -> Result<Self> {
        Ok(StartBits {
            bytes: Arena::zeroed(start_map_bytes(capacity), std::mem::align_of::<AtomicU8>())?,
        })
    }

    /// The byte of the window holding `offset` (a multiple of 8) and the
    /// tag of a record starting at `offset`.
    #[inline]
    fn slot(&self, offset: u32) -> (&AtomicU8, u8) {
        debug_assert!(offset.is_multiple_of(ALIGN), "record offset {offset}");
        let index = (offset / START_WINDOW) as usize;
        assert!(
            index < self.bytes.len(),
            "record offset {offset} outside the start map"
        );
        // SAFETY: `index` is in bounds (asserted), `AtomicU8` needs no
        // alignment beyond a byte and zero is a valid `AtomicU8`; these bytes
        // are only ever accessed atomically (or through `&mut self`).
        let byte = unsafe { AtomicU8::from_ptr(self.bytes.as_ptr().add(index)) };
        (byte, 1 + ((offset / ALIGN) & 1) as u8)
    }

    /// Marks a record start, after its header is written.
    // Ordering: Release, pairs with the Acquire in `is_start`: whoever sees
    // the tag also sees the header written before it. A plain store (not a
    // read-modify-write): only this record's writer writes a tag into its
    // window (see the type's docs).
    #[inline]
    pub(crate) fn mark(&self, offset: u32) {
        let (byte, tag) = self.slot(offset);
        byte.store(tag, Ordering::Release);
    }

    /// Clears a record start (a record overwritten by a filler that covers
    /// it), so no address inside the filler passes for a record. A window
    /// whose byte holds another offset's tag (the start of a record of the
    /// next range, sharing the window) is left as it is.
    // Ordering: the load is Relaxed: it only decides whether the tag is
    // `offset`'s, a value written by the owner of the record at `offset`
    // (the caller's range: written on this thread, or published to it with
    // the range) or by nobody; no other thread ever writes that tag there.
    // The store is Release, as `mark`: whoever sees the tag cleared sees the
    // filler written before it.
    #[inline]
    pub(crate) fn unmark(&self, offset: u32) {
        let (byte, tag) = self.slot(offset);
        if byte.load(Ordering::Relaxed) == tag {
            byte.store(0, Ordering::Release);
        }
    }

    /// Clears the starts of the first `bytes` arena bytes (rounded up to
    /// whole windows), for an arena being reused.
    pub(crate) fn clear_prefix(&mut self, bytes: u32) {
        let len = start_map_bytes(bytes).min(self.bytes.len());
        // SAFETY: `&mut self` excludes every other access (atomic or not) to
        // these bytes, and `len` bytes from the start are inside the
        // allocation.
        unsafe { std::ptr::write_bytes(self.bytes.as_ptr(), 0, len) };
    }

    /// Whether a record starts at `offset` (a multiple of 8 inside the arena).
    // Ordering: Acquire, pairs with the Release in `mark`.
    #[inline]
    pub(crate) fn is_start(&self, offset: u32) -> bool {
        let (byte, tag) = self.slot(offset);
        byte.load(Ordering::Acquire) == tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_is_zeroed_and_aligned() {
        for len in [16usize, 512, 1 << 20, 3 << 20] {
            let a = Arena::zeroed(len, ARENA_ALIGN).unwrap();
            assert_eq!(a.as_ptr() as usize % ARENA_ALIGN, 0);
            assert_eq!(a.len(), len);
            // SAFETY: `a` owns `len` initialised (zeroed) bytes.
            let s = unsafe { std::slice::from_raw_parts(a.as_ptr(), len) };
            assert!(s.iter().all(|&b| b == 0));
            assert_eq!(a.is_mapped(), cfg!(unix) && len >= MAP_MIN);
        }
    }

    #[test]
    fn borrowed_arena_is_used_in_place_and_never_freed() {
        // Memory owned outside the arena, 16-aligned.
        let owner = Arena::zeroed(256, ARENA_ALIGN).unwrap();
        {
            // SAFETY: `owner` is 16-aligned, 256 bytes, and outlives `b`.
            let b = unsafe { Arena::borrowed(NonNull::new(owner.as_ptr()).unwrap(), 256) }.unwrap();
            assert!(b.is_borrowed() && !owner.is_borrowed());
            assert_eq!(b.as_ptr(), owner.as_ptr());
            assert_eq!(b.len(), 256);
            // SAFETY: in bounds of the owner's allocation; nothing else uses it.
            unsafe { b.as_ptr().add(255).write(7) };
        } // `b` dropped: must not free the owner's memory
          // SAFETY: `owner` still owns 256 initialised bytes.
        let s = unsafe { std::slice::from_raw_parts(owner.as_ptr(), 256) };
        assert_eq!(s[255], 7, "the write went to the owner's memory");
        assert!(s[..255].iter().all(|&x| x == 0));
        drop(owner); // freed once, by its owner (a double free would abort)
    }

    #[test]
    fn start_bits_mark_and_query() {
        let bits = StartBits::new(1024).unwrap();
        assert!(!bits.is_start(0));
        // Records are at least 16 bytes apart (a header): 0, 24, 1016.
        bits.mark(0);
        bits.mark(24);
        bits.mark(1016);
        assert!(bits.is_start(0) && bits.is_start(24) && bits.is_start(1016));
        assert!(!bits.is_start(8) && !bits.is_start(16) && !bits.is_start(512));
    }

    #[test]
    fn start_bits_clear_prefix_clears_only_the_prefix() {
        let mut bits = StartBits::new(1 << 16).unwrap();
        for offset in [0, 8, 504, 512, 4096, 65528] {
            bits.mark(offset);
        }
        bits.clear_prefix(520); // windows 0..33: offsets 0..528
        assert!(!bits.is_start(0) && !bits.is_start(8) && !bits.is_start(504));
        assert!(!bits.is_start(512), "window 32 covers offsets 512..528");
        assert!(bits.is_start(4096) && bits.is_start(65528));
        bits.clear_prefix(1 << 16);
        assert!(!bits.is_start(4096) && !bits.is_start(65528));
    }

    #[test]
    fn start_map_has_one_byte_per_16_arena_bytes() {
        assert_eq!(start_map_bytes(16), 1);
        assert_eq!(start_map_bytes(1 << 20), 1 << 16);
        assert_eq!(start_map_bytes(1 << 31), 1 << 27);
        for capacity in [16u32, 1024, 1 << 20] {
            let bits = StartBits::new(capacity).unwrap();
            assert!(bits.bytes.len() >= start_map_bytes(capacity));
            // The last 8-byte unit of the arena has a slot.
            bits.mark(capacity - 8);
            assert!(bits.is_start(capacity - 8) && !bits.is_start(capacity - 16));
        }
    }

    #[test]
    fn start_bits_tell_the_two_units_of_a_window_apart() {
        let bits = StartBits::new(1024).unwrap();
        bits.mark(24); // the second unit of window 16..32
        assert!(bits.is_start(24) && !bits.is_start(16));
        bits.mark(32); // the first unit of window 32..48
        assert!(bits.is_start(32) && !bits.is_start(40));
        // A record's start moved within its window (a filler over a
        // record, restarting at the last good one): the tag follows.
        bits.mark(16);
        assert!(bits.is_start(16) && !bits.is_start(24));
    }

    #[test]
    fn unmark_clears_only_the_offsets_own_start() {
        let bits = StartBits::new(1024).unwrap();
        // A range ends at 40 (its last unit 32..40); the next range's
        // first record starts at 40, in the same window 32..48.
        bits.mark(40);
        bits.unmark(32); // clearing the units of the ending range
        assert!(bits.is_start(40), "the next range's start survives");
        bits.mark(0);
        bits.unmark(8);
        assert!(bits.is_start(0), "another unit's start survives");
        bits.unmark(40);
        bits.unmark(0);
        assert!(!bits.is_start(40) && !bits.is_start(0));
    }

    #[test]
    #[should_panic]
    fn start_bits_out_of_range_offset_panics() {
        let bits = StartBits::new(16).unwrap();
        bits.is_start(1 << 20);
    }
}
