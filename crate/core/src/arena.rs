//! The raw, zeroed, aligned allocation behind a write buffer, and the
//! record-start bitmap beside it.
//!
//! Large arenas ([`MAP_MIN`] bytes and up, on Unix) are anonymous mappings
//! straight from the kernel: page-aligned, zeroed lazily on first touch, and
//! returned with `munmap` when freed, so RSS falls by exactly what was freed
//! (a `calloc`ed chunk may stay in malloc's heap once glibc's dynamic mmap
//! threshold has risen). Smaller ones come from the global allocator.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::record::ALIGN;

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

/// One bit per 8-byte unit of an arena: set where a record starts.
///
/// `page(addr)` needs to know that an address is the body of a record and
/// not the middle of one; reading the arena cannot tell (a page body may
/// hold any bytes, and JS can reach every byte through a view's `.buffer`),
/// so the starts live here, out of JS's reach. Cost: capacity / 64 bytes,
/// zeroed lazily like the arena.
pub(crate) struct StartBits {
    words: Arena,
}

impl StartBits {
    /// Bits for an arena of `capacity` bytes.
    pub(crate) fn new(capacity: u32) -> Result<Self> {
        let units = (capacity / ALIGN) as usize;
        let words = units.div_ceil(64);
        Ok(StartBits {
            words: Arena::zeroed(words * 8, std::mem::align_of::<AtomicU64>())?,
        })
    }

    #[inline]
    fn word(&self, offset: u32) -> (&AtomicU64, u64) {
        let unit = (offset / ALIGN) as usize;
        let index = unit / 64;
        assert!(
            index * 8 < self.words.len(),
            "record offset {offset} outside the bitmap"
        );
        // SAFETY: `index` is in bounds (asserted), the allocation is aligned
        // for `AtomicU64` and zero is a valid `AtomicU64`; these words are
        // only ever accessed atomically.
        let word = unsafe { AtomicU64::from_ptr(self.words.as_ptr().cast::<u64>().add(index)) };
        (word, 1u64 << (unit % 64))
    }

    /// Marks a record start, after its header is written.
    // Ordering: Release, pairs with the Acquire in `is_start`: whoever sees
    // the bit also sees the header written before it.
    #[inline]
    pub(crate) fn mark(&self, offset: u32) {
        let (word, bit) = self.word(offset);
        word.fetch_or(bit, Ordering::Release);
    }

    /// Starts to mark in ascending order, gathered per bitmap word (see
    /// [`StartMarks`]).
    pub(crate) fn marks(&self) -> StartMarks<'_> {
        StartMarks {
            bits: self,
            word: None,
            mask: 0,
        }
    }

    /// Clears a record start (a record overwritten by a filler that covers
    /// it), so no address inside the filler passes for a record.
    // Ordering: Release, as `mark`: whoever sees the bit cleared sees the
    // filler written before it.
    #[inline]
    pub(crate) fn unmark(&self, offset: u32) {
        let (word, bit) = self.word(offset);
        word.fetch_and(!bit, Ordering::Release);
    }

    /// Clears the bits of the first `bytes` arena bytes (rounded up to
    /// whole words), for an arena being reused.
    pub(crate) fn clear_prefix(&mut self, bytes: u32) {
        let units = bytes.div_ceil(ALIGN) as usize;
        let len = (units.div_ceil(64) * 8).min(self.words.len());
        // SAFETY: `&mut self` excludes every other access (atomic or not) to
        // these words, and `len` bytes from the start are inside the
        // allocation.
        unsafe { std::ptr::write_bytes(self.words.as_ptr(), 0, len) };
    }

    /// Whether a record starts at `offset` (a multiple of 8 inside the arena).
    // Ordering: Acquire, pairs with the Release in `mark`.
    #[inline]
    pub(crate) fn is_start(&self, offset: u32) -> bool {
        let (word, bit) = self.word(offset);
        word.load(Ordering::Acquire) & bit != 0
    }
}

/// Record starts being marked in ascending order (a lane's header chain):
/// [`StartBits::mark`] with one atomic OR per bitmap word instead of one per
/// start. The bits gathered for a word are set when a start in another word
/// comes, at [`StartMarks::flush`], or when this is dropped.
pub(crate) struct StartMarks<'a> {
    bits: &'a StartBits,
    /// An offset in the word being gathered (its first start).
    word: Option<u32>,
    mask: u64,
}

impl StartMarks<'_> {
    /// Adds a record start (its header already written).
    #[inline]
    pub(crate) fn add(&mut self, offset: u32) {
        let same = matches!(self.word, Some(w) if w / (ALIGN * 64) == offset / (ALIGN * 64));
        if !same {
            self.flush();
            self.word = Some(offset);
        }
        self.mask |= 1u64 << ((offset / ALIGN) % 64);
    }

    /// Sets the bits gathered so far.
    // Ordering: Release, as `StartBits::mark`: every header these bits
    // announce was written before this OR, so whoever sees a bit (Acquire,
    // `is_start`) sees its header.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if let Some(w) = self.word.take() {
            let (word, _) = self.bits.word(w);
            word.fetch_or(self.mask, Ordering::Release);
            self.mask = 0;
        }
    }
}

impl Drop for StartMarks<'_> {
    fn drop(&mut self) {
        self.flush();
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
        bits.mark(0);
        bits.mark(8);
        bits.mark(1016);
        assert!(bits.is_start(0) && bits.is_start(8) && bits.is_start(1016));
        assert!(!bits.is_start(16) && !bits.is_start(512));
    }

    #[test]
    fn start_bits_clear_prefix_clears_only_the_prefix() {
        let mut bits = StartBits::new(1 << 16).unwrap();
        for offset in [0, 8, 504, 512, 4096, 65528] {
            bits.mark(offset);
        }
        bits.clear_prefix(520); // units 0..65 → words 0 and 1
        assert!(!bits.is_start(0) && !bits.is_start(8) && !bits.is_start(504));
        assert!(!bits.is_start(512), "word 1 covers offsets 512..1024");
        assert!(bits.is_start(4096) && bits.is_start(65528));
        bits.clear_prefix(1 << 16);
        assert!(!bits.is_start(4096) && !bits.is_start(65528));
    }

    #[test]
    fn start_marks_set_exactly_the_bits_of_one_mark_per_start() {
        // Starts in one word, across word boundaries, a word skipped, the
        // last unit; some bits already set by `mark` stay set.
        let starts = [0u32, 8, 120, 504, 512, 520, 1024, 3000, 3008, 8184];
        let bits = StartBits::new(8192).unwrap();
        bits.mark(4096);
        {
            let mut marks = bits.marks();
            for &s in &starts[..5] {
                marks.add(s);
            }
            // Gathered bits of the current word wait for the flush.
            assert!(bits.is_start(504) && !bits.is_start(512));
            marks.flush();
            assert!(bits.is_start(512));
            for &s in &starts[5..] {
                marks.add(s);
            }
            // Dropped without a flush: the drop sets the rest.
        }
        for unit in 0..8192 / ALIGN {
            let offset = unit * ALIGN;
            let want = starts.contains(&offset) || offset == 4096;
            assert_eq!(bits.is_start(offset), want, "offset {offset}");
        }
    }

    #[test]
    #[should_panic]
    fn start_bits_out_of_range_offset_panics() {
        let bits = StartBits::new(16).unwrap();
        bits.is_start(1 << 20);
    }
}
