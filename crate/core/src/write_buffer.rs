//! The write buffer: a fixed-capacity arena whose space is reserved with one
//! compare-and-swap on a packed state word.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::arena::{Arena, StartBits, ARENA_ALIGN};
use crate::buffer_state::BufferState;
use crate::complete::CompleteBits;
use crate::error::{Error, Result};
use crate::latch::{Latch, LatchWait, Subscription, Woken};
use crate::pool::{ArenaPool, Slab};
use crate::record::{
    record_size, Header, HeaderCell, RecordKind, ALIGN, DEALLOC_PAGES, HEADER_SIZE, NORMAL_PAGE,
    TOMBSTONE,
};
use crate::sync::AtomicU64;

/// Whether the caller should now flush the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseState {
    /// The buffer is still active, or other writers are in progress.
    None,
    /// Sealed and no writer left: flush it now.
    Flush,
}

/// A reserved page record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAlloc {
    /// The page's address: `group_id << 32 | body offset`.
    pub addr: u64,
    /// Offset of the record (its header) in the arena.
    pub record: u32,
    /// Body bytes.
    pub page_size: u32,
}

impl PageAlloc {
    /// Offset of the page body in the arena.
    #[inline]
    pub const fn body(&self) -> u32 {
        self.record + HEADER_SIZE
    }
}

/// What [`WriteBuffer::batch`] reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAlloc {
    /// The page records, in the order asked.
    pub pages: Vec<PageAlloc>,
    /// The dealloc record's offset, if any address was given.
    pub dealloc: Option<u32>,
}

/// The state word, alone on its cache line(s) so that writers hammering it
/// do not also invalidate the buffer's read-only fields.
#[repr(align(128))]
struct StateWord(AtomicU64);

/// A fixed-capacity write buffer of page records.
pub struct WriteBuffer {
    state: StateWord,
    group_id: u32,
    capacity: u32,
    // Both dropped by hand in `Drop`: freed, or given back to `pool`.
    arena: ManuallyDrop<Arena>,
    starts: ManuallyDrop<StartBits>,
    pool: Option<Arc<ArenaPool>>,
    flushed: Latch,
    /// Completion marks for segment commits (`write_buffer/commit.rs`).
    complete: CompleteBits,
}

impl WriteBuffer {
    /// The smallest capacity (the rule: [`CAPACITY_RULE`](crate::CAPACITY_RULE)).
    pub const MIN_CAPACITY: u32 = 16;
    /// The largest capacity (the allocated field is 32 bits wide).
    pub const MAX_CAPACITY: u32 = 1 << 31;

    /// A zeroed buffer of `capacity` bytes for group `group_id`.
    ///
    /// `capacity` must be a power of two in `16..=2^31`
    /// ([`Error::InvalidCapacity`] otherwise).
    pub fn with_capacity(group_id: u32, capacity: u32) -> Result<Self> {
        Self::check_capacity(capacity)?;
        Ok(Self::from_slab(
            group_id,
            capacity,
            Slab::obtain(capacity)?,
            None,
        ))
    }

    /// A buffer for group `group_id` whose arena comes from `pool` (an idle
    /// one, re-zeroed, or a fresh one) and goes back to it when the buffer
    /// is dropped. The capacity is the pool's.
    pub fn with_pool(group_id: u32, pool: &Arc<ArenaPool>) -> Result<Self> {
        let slab = pool.take()?;
        Ok(Self::from_slab(
            group_id,
            pool.capacity(),
            slab,
            Some(pool.clone()),
        ))
    }

    /// [`Error::InvalidCapacity`] unless `capacity` is a power of two in
    /// `16..=2^31`.
    pub(crate) fn check_capacity(capacity: u32) -> Result<()> {
        if !capacity.is_power_of_two()
            || !(Self::MIN_CAPACITY..=Self::MAX_CAPACITY).contains(&capacity)
        {
            return Err(Error::InvalidCapacity(capacity as u64));
        }
        Ok(())
    }

    fn from_slab(group_id: u32, capacity: u32, slab: Slab, pool: Option<Arc<ArenaPool>>) -> Self {
        debug_assert_eq!(slab.dirty, 0, "a slab is scrubbed before reuse");
        WriteBuffer {
            state: StateWord(AtomicU64::new(BufferState::default().pack())),
            group_id,
            capacity,
            arena: ManuallyDrop::new(slab.arena),
            starts: ManuallyDrop::new(slab.starts),
            pool,
            flushed: Latch::new(),
            complete: CompleteBits::new(capacity),
        }
    }

    /// A buffer over an arena the caller owns (the binding's `'js'` arena
    /// mode: a JS `SharedArrayBuffer`), for group `group_id`. Rust never
    /// frees, reuses or pools that memory; [`WriteBuffer::is_borrowed`] says
    /// so. `capacity` as in [`WriteBuffer::with_capacity`]; the arena must
    /// also be zeroed (only so that no stale byte reaches a view or a page
    /// file; memory safety does not depend on its contents).
    ///
    /// # Safety
    ///
    /// `arena` is aligned to [`ARENA_ALIGN`], valid for reads and writes of
    /// `capacity` bytes, and does not move. It stays valid while any method
    /// that touches the arena may run on this buffer, on any thread (every
    /// method except the getters of the state word, the latch methods and
    /// `drop`, which never touch it): the caller keeps its owner alive for as
    /// long as it can call them.
    ///
    /// # Panics
    ///
    /// If `arena` is not aligned to [`ARENA_ALIGN`] (the caller's contract).
    pub unsafe fn with_borrowed_arena(
        group_id: u32,
        capacity: u32,
        arena: NonNull<u8>,
    ) -> Result<Self> {
        Self::check_capacity(capacity)?;
        assert!(
            (arena.as_ptr() as usize).is_multiple_of(ARENA_ALIGN),
            "a borrowed arena must be {ARENA_ALIGN}-byte aligned"
        );
        let slab = Slab {
            // SAFETY: forwarded from this function's contract (aligned,
            // `capacity` valid bytes, kept alive by the caller).
            arena: unsafe { Arena::borrowed(arena, capacity as usize)? },
            starts: StartBits::new(capacity)?,
            dirty: 0,
        };
        // No pool: a borrowed arena is never reused.
        Ok(Self::from_slab(group_id, capacity, slab, None))
    }

    /// Whether the arena is borrowed ([`WriteBuffer::with_borrowed_arena`]).
    #[inline]
    pub fn is_borrowed(&self) -> bool {
        self.arena.is_borrowed()
    }

    /// The group (file) id: the high 32 bits of every address.
    #[inline]
    pub fn group_id(&self) -> u32 {
        self.group_id
    }

    /// Arena bytes.
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// A snapshot of the state word.
    // Ordering: Acquire, pairs with the Release half of the AcqRel in
    // `release_writer` and `seal`: a thread that sees the buffer flushable
    // also sees every byte its writers wrote.
    #[inline]
    pub fn state(&self) -> BufferState {
        BufferState::unpack(self.state.0.load(Ordering::Acquire))
    }

    /// Sealed: no more reservations.
    pub fn is_sealed(&self) -> bool {
        self.state().sealed
    }

    /// Sealed and no writer in progress.
    pub fn is_flushable(&self) -> bool {
        self.state().is_flushable()
    }

    /// Nothing reserved yet.
    pub fn is_empty(&self) -> bool {
        self.state().allocated == 0
    }

    /// The address of a body at `offset`.
    #[inline]
    pub fn addr_of(&self, body_offset: u32) -> u64 {
        ((self.group_id as u64) << 32) | body_offset as u64
    }

    /// First byte of the arena (for bindings that expose it as memory).
    #[inline]
    pub fn arena_ptr(&self) -> *mut u8 {
        self.arena.as_ptr()
    }

    /// The one CAS loop every transition goes through: computes the next
    /// state from the current one with `step` (an error returns before any
    /// store, so it leaves the word unchanged) and installs it with one
    /// compare-and-swap, `success` ordering on success. Returns the state
    /// that was installed and what `step` returned alongside it.
    #[inline]
    fn transition<T>(
        &self,
        success: Ordering,
        step: impl Fn(BufferState) -> Result<(BufferState, T)>,
    ) -> Result<(BufferState, T)> {
        // Ordering: the initial and failure loads only feed `step` for the
        // next attempt; whatever is published or acquired rides on the
        // successful CAS (`success`), so Relaxed suffices for them.
        let mut current = self.state.0.load(Ordering::Relaxed);
        loop {
            let (next, out) = step(BufferState::unpack(current))?;
            match self.state.0.compare_exchange_weak(
                current,
                next.pack(),
                success,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok((next, out)),
                Err(seen) => current = seen,
            }
        }
    }

    /// Reserves `need` bytes (a multiple of 8), counting a writer if asked;
    /// one CAS. Returns the offset of the range.
    #[inline]
    pub(crate) fn reserve(&self, need: u64, acquire_writer: bool) -> Result<u32> {
        // Ordering: Relaxed. Disjointness needs no ordering: every
        // reservation is a read-modify-write of the one word, and the
        // modification order hands each one a distinct range. A reservation
        // publishes nothing (the bytes are written after it); the writer
        // publishes them later with its Release in `release_writer` (and
        // with the record-start bit).
        let capacity = self.capacity;
        self.transition(Ordering::Relaxed, |s| {
            s.reserve(need, capacity, acquire_writer)
        })
        .map(|(_, offset)| offset)
    }

    /// The header cell of the record at `offset`.
    ///
    /// # Panics
    ///
    /// If `offset` is not a multiple of 8 or the header would not fit the
    /// arena (an internal bug: every caller has validated it).
    #[inline]
    fn cell(&self, offset: u32) -> HeaderCell {
        assert!(
            offset.is_multiple_of(ALIGN)
                && offset as u64 + HEADER_SIZE as u64 <= self.capacity as u64,
            "record offset {offset} outside a {} byte arena",
            self.capacity
        );
        // SAFETY: in bounds (asserted) and 8-aligned (the arena is 16-aligned
        // and `offset` a multiple of 8); header bytes are only accessed
        // through `HeaderCell` atomics on the Rust side.
        unsafe { HeaderCell::new(self.arena.as_ptr().add(offset as usize)) }
    }

    /// Writes a new record's header (and optionally its u64 body), then
    /// marks its start. The range was just reserved, so it is ours alone.
    pub(crate) fn write_record(&self, offset: u32, header: Header, body: &[u64]) {
        self.cell(offset).store(header);
        if !body.is_empty() {
            let start = offset as usize + HEADER_SIZE as usize;
            assert!(start + body.len() * 8 <= self.capacity as usize);
            // SAFETY: in bounds (asserted), 8-aligned, and exclusively ours:
            // the range was reserved by the CAS that returned `offset`.
            let dst = unsafe { self.arena.as_ptr().add(start).cast::<u64>() };
            for (i, v) in body.iter().enumerate() {
                // SAFETY: `dst + i` stays inside the asserted range.
                unsafe { dst.add(i).write(v.to_le()) };
            }
        }
        self.starts.mark(offset);
    }

    /// The record-start bits, for lanes written outside Rust (`lane.rs`).
    pub(crate) fn starts(&self) -> &StartBits {
        &self.starts
    }

    /// The header at `offset` as its bytes are, start bit or not (`lane.rs`
    /// validates records written outside Rust with it).
    pub(crate) fn raw_header(&self, offset: u32) -> Header {
        self.cell(offset).load()
    }

    /// Tombstones the record at `offset` (its start bit is set), for a
    /// writer that still counts (so the buffer is not flushable).
    pub(crate) fn mark_tombstone(&self, offset: u32) {
        self.cell(offset).set_flags(TOMBSTONE);
        // Complete as it stands for segment commits (which skip
        // tombstones): an abandoned record does not hold commits back. The
        // mark's Release orders the flags before it.
        self.complete.mark(offset);
    }

    /// Writes the header of a page record at `record` (just reserved, so
    /// ours alone) and returns its allocation.
    pub(crate) fn write_page(&self, record: u32, page_id: u64, page_size: u32) -> PageAlloc {
        let header = Header {
            data: page_id,
            flags: NORMAL_PAGE,
            page_size,
        };
        self.write_record(record, header, &[]);
        PageAlloc {
            addr: self.addr_of(record + HEADER_SIZE),
            record,
            page_size,
        }
    }

    /// Reserves a page record of `page_size` body bytes with header
    /// `{ page_id, NORMAL_PAGE, page_size }`; with `acquire_writer` the same
    /// CAS counts one more writer. A failed reservation changes nothing.
    // Inline (with `reserve` and `release_writer`): the hot path of every
    // page; as a call it cost ~1 ns of the ~6–9 ns an allocation takes
    // (docs/BENCHMARKS.md, "the seed side by side").
    #[inline]
    pub fn alloc_page(
        &self,
        page_id: u64,
        page_size: u32,
        acquire_writer: bool,
    ) -> Result<PageAlloc> {
        let record = self.reserve(record_size(page_size), acquire_writer)?;
        Ok(self.write_page(record, page_id, page_size))
    }

    /// Body size of a dealloc record of `n` addresses, if it fits a u32.
    fn dealloc_size(n: usize) -> Result<u32> {
        n.checked_mul(8)
            .and_then(|b| u32::try_from(b).ok())
            .ok_or(Error::TooLargeSize)
    }

    /// Reserves one dealloc record whose body is `addrs`. Returns its offset.
    pub fn dealloc_pages(&self, addrs: &[u64], acquire_writer: bool) -> Result<u32> {
        let size = Self::dealloc_size(addrs.len())?;
        let record = self.reserve(record_size(size), acquire_writer)?;
        self.write_record(
            record,
            Header {
                data: 0,
                flags: DEALLOC_PAGES,
                page_size: size,
            },
            addrs,
        );
        // Rust wrote the whole record: complete now.
        self.complete.mark(record);
        Ok(record)
    }

    /// One reservation for all `pages` (`(page id, page size)`) and, if
    /// `dealloc` is not empty, one dealloc record after them. Always
    /// acquires one writer. An empty dealloc list reserves no record.
    pub fn batch(&self, pages: &[(u64, u32)], dealloc: &[u64]) -> Result<BatchAlloc> {
        let mut out = Vec::with_capacity(pages.len());
        let dealloc = self.batch_with(pages.len(), |i| pages[i], dealloc, |p| out.push(p))?;
        Ok(BatchAlloc {
            pages: out,
            dealloc,
        })
    }

    /// [`WriteBuffer::batch`] over any indexed source of pages, reporting
    /// each page through `each` (no allocation of its own).
    pub fn batch_with(
        &self,
        count: usize,
        page: impl Fn(usize) -> (u64, u32),
        dealloc: &[u64],
        mut each: impl FnMut(PageAlloc),
    ) -> Result<Option<u32>> {
        let mut need: u64 = 0;
        for i in 0..count {
            need = need
                .checked_add(record_size(page(i).1))
                .ok_or(Error::TooLargeSize)?;
        }
        let dealloc_size = if dealloc.is_empty() {
            None
        } else {
            Some(Self::dealloc_size(dealloc.len())?)
        };
        if let Some(size) = dealloc_size {
            need = need
                .checked_add(record_size(size))
                .ok_or(Error::TooLargeSize)?;
        }
        let mut offset = self.reserve(need, true)?;
        for i in 0..count {
            let (page_id, page_size) = page(i);
            each(self.write_page(offset, page_id, page_size));
            offset += record_size(page_size) as u32;
        }
        Ok(dealloc_size.map(|size| {
            self.write_record(
                offset,
                Header {
                    data: 0,
                    flags: DEALLOC_PAGES,
                    page_size: size,
                },
                dealloc,
            );
            // Rust wrote the whole record: complete now.
            self.complete.mark(offset);
            offset
        }))
    }

    /// Drops one writer. [`ReleaseState::Flush`] when that leaves the buffer
    /// sealed with no writer. [`Error::NoWriter`] (state unchanged) when no
    /// writer is in progress.
    #[inline]
    pub fn release_writer(&self) -> Result<ReleaseState> {
        // Ordering: AcqRel. Release publishes this writer's bytes to whoever
        // later observes the flushable state (their Acquire reads a later
        // value of this word; all updates are RMWs, so they continue the
        // release sequence). Acquire because when this is the last writer of
        // a sealed buffer, the caller flushes and must see the other
        // writers' bytes.
        let (next, ()) = self.transition(Ordering::AcqRel, |mut s| {
            if s.writers == 0 {
                return Err(Error::NoWriter);
            }
            s.writers -= 1;
            Ok((s, ()))
        })?;
        Ok(if next.is_flushable() {
            ReleaseState::Flush
        } else {
            ReleaseState::None
        })
    }

    /// Seals the buffer. [`ReleaseState::Flush`] when no writer is in
    /// progress. [`Error::Again`] (state unchanged) if already sealed.
    pub fn seal(&self) -> Result<ReleaseState> {
        // Ordering: AcqRel. Acquire: when no writer is left the caller
        // flushes and must see the released writers' bytes. Release: bytes
        // this thread reserved without a writer count before sealing reach
        // whoever later sees the buffer flushable.
        let (next, ()) = self.transition(Ordering::AcqRel, |mut s| {
            if s.sealed {
                return Err(Error::Again);
            }
            s.sealed = true;
            Ok((s, ()))
        })?;
        Ok(if next.has_writer() {
            ReleaseState::None
        } else {
            ReleaseState::Flush
        })
    }

    /// Validates that `record` is the offset of a record of this buffer
    /// and returns its header.
    pub fn header(&self, record: u32) -> Result<Header> {
        if !record.is_multiple_of(ALIGN)
            || record as u64 + HEADER_SIZE as u64 > self.capacity as u64
        {
            return Err(Error::InvalidAddr);
        }
        if !self.starts.is_start(record) {
            return Err(Error::InvalidAddr);
        }
        Ok(self.cell(record).load())
    }

    /// Finds the live page record whose body is at `addr`. Anything else
    /// (another group, misaligned, out of range, the middle of a record, a
    /// dealloc record, a tombstone) is [`Error::InvalidAddr`].
    pub fn locate_page(&self, addr: u64) -> Result<PageAlloc> {
        if (addr >> 32) as u32 != self.group_id {
            return Err(Error::InvalidAddr);
        }
        let body = addr as u32;
        let record = body.checked_sub(HEADER_SIZE).ok_or(Error::InvalidAddr)?;
        let h = self.header(record)?;
        if h.flags != NORMAL_PAGE || record as u64 + h.record_size() > self.capacity as u64 {
            return Err(Error::InvalidAddr);
        }
        Ok(PageAlloc {
            addr,
            record,
            page_size: h.page_size,
        })
    }

    /// Header changes are allowed until the buffer is flushable.
    fn check_writable(&self) -> Result<()> {
        if self.state().is_flushable() {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Tombstones the record at `record`: its flags become `TOMBSTONE`.
    pub fn set_tombstone(&self, record: u32) -> Result<()> {
        self.header(record)?;
        self.check_writable()?;
        self.cell(record).set_flags(TOMBSTONE);
        // A tombstone is never written by a segment commit, so it is
        // complete as it stands: a record abandoned this way (a failed
        // fill) does not hold commits back. The mark's Release orders the
        // flags before it, so a commit that sees the mark skips the record.
        self.complete.mark(record);
        Ok(())
    }

    /// Sets the page id of the live page record at `record`.
    pub fn set_page_id(&self, record: u32, page_id: u64) -> Result<()> {
        if self.header(record)?.flags != NORMAL_PAGE {
            return Err(Error::InvalidAddr);
        }
        self.check_writable()?;
        self.cell(record).set_data(page_id);
        Ok(())
    }

    /// The writable body of a page just reserved.
    ///
    /// # Safety
    ///
    /// No other reference to this page's body exists while the returned
    /// slice lives, and it is dropped before the writer that covers it is
    /// released (after that the buffer may be flushed concurrently).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn page_mut(&self, page: &PageAlloc) -> &mut [u8] {
        let start = page.body() as usize;
        assert!(start + page.page_size as usize <= self.capacity as usize);
        // SAFETY: in bounds (asserted); exclusivity is the caller's duty.
        unsafe {
            std::slice::from_raw_parts_mut(self.arena.as_ptr().add(start), page.page_size as usize)
        }
    }

    /// The body of the live page at `addr`.
    ///
    /// # Safety
    ///
    /// Nobody writes the page while the returned slice lives (its writer
    /// has finished with it).
    pub unsafe fn page(&self, addr: u64) -> Result<&[u8]> {
        let p = self.locate_page(addr)?;
        // SAFETY: `locate_page` checked the record lies inside the arena; the
        // absence of writers is the caller's duty.
        Ok(unsafe {
            std::slice::from_raw_parts(
                self.arena.as_ptr().add(p.body() as usize),
                p.page_size as usize,
            )
        })
    }

    /// Iterates the records in allocation order, skipping tombstones.
    /// [`Error::NotFlushable`] unless sealed with no writer.
    pub fn records(&self) -> Result<RecordIter<'_>> {
        self.records_from(0)
    }

    /// As [`WriteBuffer::records`], starting at the record at `offset` (or at
    /// the end, where the iteration is empty).
    pub fn records_from(&self, offset: u32) -> Result<RecordIter<'_>> {
        let state = self.state();
        if !state.is_flushable() {
            return Err(Error::NotFlushable);
        }
        let end = state.allocated.min(self.capacity);
        if offset != end && self.header(offset).is_err() {
            return Err(Error::InvalidAddr);
        }
        Ok(RecordIter {
            buffer: self,
            offset,
            end,
            failed: false,
        })
    }

    /// Marks the buffer flushed and wakes every waiter; `false` (and a
    /// no-op) when it was already flushed.
    pub fn on_flushed(&self) -> bool {
        self.flushed.set()
    }

    /// Whether `on_flushed` has been called.
    pub fn is_flushed(&self) -> bool {
        self.flushed.is_set()
    }

    /// Resolves once `on_flushed` has been called (before or after).
    pub fn wait_flushed(&self) -> LatchWait<'_> {
        self.flushed.wait()
    }

    /// Calls `cb` once flushed (now, if it already is) with
    /// [`Woken::Set`], or with [`Woken::Abandoned`] when the buffer is
    /// dropped unflushed (nothing can flush it any more). The callback holds
    /// nothing of the buffer, so a wait never keeps the arena alive.
    pub fn subscribe_flushed(&self, cb: impl FnOnce(Woken) + Send + 'static) -> Subscription {
        self.flushed.subscribe(cb)
    }

    /// Drops a waiting callback (see [`Latch::unsubscribe`]).
    pub fn unsubscribe_flushed(&self, id: u64) -> bool {
        self.flushed.unsubscribe(id)
    }
}

impl Drop for WriteBuffer {
    fn drop(&mut self) {
        // Nothing can flush the buffer any more: wake its flush waiters
        // (they hold nothing of the buffer, so they outlive it) with
        // `Abandoned`, unless it was flushed. Before the arena goes; the
        // callbacks never touch it.
        self.flushed.abandon();
        // SAFETY: `drop` runs once and nothing reads `arena`/`starts` after
        // it; each is taken (or dropped) exactly once below.
        let (arena, starts) = unsafe {
            (
                ManuallyDrop::take(&mut self.arena),
                ManuallyDrop::take(&mut self.starts),
            )
        };
        if arena.is_borrowed() {
            // Not ours to reuse: only the start map is freed.
            drop((arena, starts));
            return;
        }
        // Ordering: Relaxed: `&mut self` means no other thread uses the
        // buffer; the `Arc` drop that led here already ordered their
        // accesses before this one.
        let dirty = BufferState::unpack(self.state.0.load(Ordering::Relaxed)).allocated;
        let slab = Slab {
            arena,
            starts,
            dirty,
        };
        match self.pool.take() {
            Some(pool) => pool.give(slab),
            // Freed or cached by the reclaim thread, not here: this may be a
            // GC finalizer on a JS thread.
            None => crate::reclaim::retire(slab),
        }
    }
}

impl fmt::Debug for WriteBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ordering: Relaxed: a diagnostic snapshot that publishes and reads
        // no data.
        let state = BufferState::unpack(self.state.0.load(Ordering::Relaxed));
        f.debug_struct("WriteBuffer")
            .field("group_id", &self.group_id)
            .field("capacity", &self.capacity)
            .field("state", &state)
            .finish()
    }
}

/// One live record of a flushable buffer.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Address of the body: `group_id << 32 | offset + 16`.
    pub addr: u64,
    /// Offset of the record (its header) in the arena.
    pub offset: u32,
    /// Page or dealloc.
    pub kind: RecordKind,
    /// The header as read.
    pub header: Header,
    body: &'a [u8],
}

impl<'a> Record<'a> {
    /// A record over `body` (page files build theirs from file bytes).
    pub(crate) fn new(
        addr: u64,
        offset: u32,
        kind: RecordKind,
        header: Header,
        body: &'a [u8],
    ) -> Self {
        Record {
            addr,
            offset,
            kind,
            header,
            body,
        }
    }

    /// The page id (0 for a dealloc record).
    pub fn page_id(&self) -> u64 {
        self.header.data
    }

    /// The body bytes (the page, or the dealloc addresses in LE).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The addresses a dealloc record frees (empty for a page record).
    pub fn dealloc_addrs(&self) -> impl Iterator<Item = u64> + 'a {
        let body = if self.kind == RecordKind::Dealloc {
            self.body
        } else {
            &[]
        };
        body.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
    }
}

/// Iterator of [`WriteBuffer::records`].
pub struct RecordIter<'a> {
    buffer: &'a WriteBuffer,
    offset: u32,
    end: u32,
    failed: bool,
}

impl RecordIter<'_> {
    /// Offset of the next record to visit.
    pub fn offset(&self) -> u32 {
        self.offset
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && self.offset < self.end {
            let offset = self.offset;
            let Ok(header) = self.buffer.header(offset) else {
                self.failed = true;
                return Some(Err(Error::Corrupt(format!(
                    "no record starts at offset {offset}"
                ))));
            };
            let next = offset as u64 + header.record_size();
            if next > self.end as u64 {
                self.failed = true;
                return Some(Err(Error::Corrupt(format!(
                    "record at offset {offset} claims {} bytes past the {} allocated",
                    header.page_size, self.end
                ))));
            }
            self.offset = next as u32;
            if let Some(kind) = RecordKind::from_flags(header.flags) {
                let start = offset as usize + HEADER_SIZE as usize;
                // SAFETY: `start + page_size <= next <= end <= capacity`
                // (checked above); the buffer is flushable, so no writer
                // holds a mutable view (their contract), and the bytes were
                // published by the writers' Release seen by `records_from`.
                let body = unsafe {
                    std::slice::from_raw_parts(
                        self.buffer.arena.as_ptr().add(start),
                        header.page_size as usize,
                    )
                };
                let addr = self.buffer.addr_of(offset + HEADER_SIZE);
                return Some(Ok(Record {
                    addr,
                    offset,
                    kind,
                    header,
                    body,
                }));
            }
        }
        None
    }
}

mod commit;
pub use commit::CompleteRecords;

#[cfg(test)]
mod tests;
