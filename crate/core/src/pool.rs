//! A bounded pool of arenas for buffers of one capacity, so that a loop
//! that rotates write buffers (the PageLog) reuses memory it has already
//! faulted in instead of mapping, faulting and freeing a fresh arena for
//! every buffer (a fresh 64 MiB arena costs ~16k page faults: 4 KiB appends
//! measured ~10× slower on fresh memory than on warm memory).
//!
//! A buffer made with [`WriteBuffer::with_pool`](crate::WriteBuffer::with_pool)
//! takes an idle arena (or allocates one) and gives it back when its last
//! reference drops, that is when no thread holds the buffer or a view of it
//! any more. The pool keeps the arena only while the arenas it manages (in
//! use + idle) are at most its limit; others are freed. A reused arena is
//! re-zeroed over the prefix its previous buffer allocated, and so is its
//! record-start map, so a new buffer reads exactly like a fresh one.
//! Arenas a pool does not keep go to the process-wide cache and its
//! background thread (`crate::reclaim`), as do those of pool-less buffers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::arena::{Arena, StartBits, ARENA_ALIGN};
use crate::error::Result;

/// An arena with its record-start map, and how much of both was used.
pub(crate) struct Slab {
    pub(crate) arena: Arena,
    pub(crate) starts: StartBits,
    /// Arena bytes that may be non-zero: the previous buffer's `allocated`.
    pub(crate) dirty: u32,
}

impl Slab {
    /// A zeroed slab for `capacity` bytes: a scrubbed one from the
    /// process-wide cache (`crate::reclaim`) if it has one, else a fresh one.
    pub(crate) fn obtain(capacity: u32) -> Result<Self> {
        match crate::reclaim::take(capacity as usize) {
            Some(slab) => Ok(slab),
            None => Self::fresh(capacity),
        }
    }

    /// A fresh, zeroed slab for `capacity` bytes.
    pub(crate) fn fresh(capacity: u32) -> Result<Self> {
        Ok(Slab {
            arena: Arena::counted(capacity as usize, ARENA_ALIGN)?,
            starts: StartBits::new(capacity)?,
            dirty: 0,
        })
    }

    /// Makes the slab read as fresh for the process-wide cache, in two
    /// steps that may run on different threads: [`Slab::release_tail`]
    /// when it is cached, [`Slab::zero_head`] then or when it is taken
    /// (`crate::reclaim`). JS may have written anywhere in the arena
    /// through a view's `.buffer`, not only in the allocated prefix.
    pub(crate) fn release_tail(&mut self) {
        self.arena.release_tail(self.dirty as usize);
    }

    /// The second step (see [`Slab::release_tail`], which must have run):
    /// zeroes the prefix and the start-map bytes over it.
    pub(crate) fn zero_head(&mut self) {
        self.arena.zero_head(self.dirty as usize);
        self.starts.clear_prefix(self.dirty);
        self.dirty = 0;
    }

    /// Zeroes what the previous buffer used: the arena up to `dirty` and the
    /// start-map bytes that cover it.
    pub(crate) fn scrub(&mut self) {
        let dirty = (self.dirty as usize).min(self.arena.len());
        // SAFETY: `&mut self` is the only reference to this slab (it is in
        // no buffer), and `dirty <= len` bytes from the start are inside
        // the allocation.
        unsafe { std::ptr::write_bytes(self.arena.as_ptr(), 0, dirty) };
        self.starts.clear_prefix(self.dirty);
        self.dirty = 0;
    }
}

#[derive(Default)]
struct Inner {
    idle: Vec<Slab>,
    /// Arenas taken from this pool and not given back yet.
    in_use: usize,
    closed: bool,
}

/// A bounded pool of same-capacity arenas (see the module docs).
pub struct ArenaPool {
    capacity: u32,
    limit: usize,
    inner: Mutex<Inner>,
    created: AtomicU64,
    reused: AtomicU64,
}

/// Counters of an [`ArenaPool`] (a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Arenas waiting for a buffer.
    pub idle: usize,
    /// Arenas in buffers that have not been dropped yet.
    pub in_use: usize,
    /// Arenas allocated fresh for this pool's buffers.
    pub created: u64,
    /// Buffers that got a reused arena.
    pub reused: u64,
}

impl ArenaPool {
    /// A pool for buffers of `capacity` bytes (a valid write-buffer
    /// capacity) that keeps arenas while it manages at most `limit` (0 is
    /// taken as 1).
    pub fn new(capacity: u32, limit: usize) -> Result<Arc<Self>> {
        crate::WriteBuffer::check_capacity(capacity)?;
        Ok(Arc::new(ArenaPool {
            capacity,
            limit: limit.max(1),
            inner: Mutex::default(),
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }))
    }

    /// The capacity of every arena of this pool.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The most arenas (in use + idle) the pool keeps.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` inconsistent
        // (every update is a single push/pop/counter step), so a poisoned
        // lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An arena for a new buffer: an idle one, scrubbed, or a fresh one.
    pub(crate) fn take(&self) -> Result<Slab> {
        let idle = {
            let mut inner = self.lock();
            inner.in_use += 1;
            inner.idle.pop()
        };
        // Ordering (both counters): Relaxed: statistics, they publish nothing.
        match idle {
            Some(mut slab) => {
                // Scrubbed outside the lock: the slab is ours alone now.
                slab.scrub();
                self.reused.fetch_add(1, Ordering::Relaxed);
                Ok(slab)
            }
            None => Slab::obtain(self.capacity)
                .inspect(|_| {
                    self.created.fetch_add(1, Ordering::Relaxed);
                })
                .inspect_err(|_| self.lock().in_use -= 1),
        }
    }

    /// Takes back the arena of a dropped buffer: kept while the pool is
    /// open and manages no more than `limit` arenas, retired otherwise (to
    /// the process-wide cache or freed, off this thread).
    pub(crate) fn give(&self, slab: Slab) {
        let mut inner = self.lock();
        inner.in_use -= 1;
        if !inner.closed && inner.in_use + inner.idle.len() < self.limit {
            inner.idle.push(slab);
            return;
        }
        drop(inner);
        crate::reclaim::retire(slab); // outside the lock
    }

    /// Lets the idle arenas go (to the process-wide cache or freed, off
    /// this thread); with `close`, arenas given back later go too (the
    /// owner is done with the pool).
    pub fn clear(&self, close: bool) {
        let idle = {
            let mut inner = self.lock();
            inner.closed |= close;
            std::mem::take(&mut inner.idle)
        };
        idle.into_iter().for_each(crate::reclaim::retire);
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        let inner = self.lock();
        // Ordering: Relaxed: statistics.
        PoolStats {
            idle: inner.idle.len(),
            in_use: inner.in_use,
            created: self.created.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ArenaPool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        idle.into_iter().for_each(crate::reclaim::retire);
    }
}

impl std::fmt::Debug for ArenaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArenaPool")
            .field("capacity", &self.capacity)
            .field("limit", &self.limit)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ReleaseState, WriteBuffer};

    fn arena_bytes(wb: &WriteBuffer) -> &[u8] {
        // SAFETY: the arena holds `capacity` initialised bytes and nothing
        // writes to it while this test reads.
        unsafe { std::slice::from_raw_parts(wb.arena_ptr(), wb.capacity() as usize) }
    }

    #[test]
    fn a_dropped_buffer_gives_its_arena_back_scrubbed() {
        let pool = ArenaPool::new(4096, 2).unwrap();
        let wb = WriteBuffer::with_pool(1, &pool).unwrap();
        let first = wb.arena_ptr();
        let a = wb.alloc_page(7, 100, true).unwrap();
        // SAFETY: the body is ours (just reserved) and inside the arena.
        unsafe { std::ptr::write_bytes(wb.arena_ptr().add(a.body() as usize), 0xAB, 100) };
        let old = a.addr;
        assert_eq!(pool.stats().in_use, 1);
        drop(wb);
        assert_eq!(
            pool.stats(),
            PoolStats {
                idle: 1,
                in_use: 0,
                created: 1,
                reused: 0
            }
        );

        let wb = WriteBuffer::with_pool(1, &pool).unwrap();
        assert_eq!(wb.arena_ptr(), first, "the idle arena is reused");
        assert_eq!(
            pool.stats(),
            PoolStats {
                idle: 0,
                in_use: 1,
                created: 1,
                reused: 1
            }
        );
        assert!(
            arena_bytes(&wb).iter().all(|&b| b == 0),
            "header and body bytes re-zeroed"
        );
        assert!(wb.is_empty());
        // The old record's start bit is gone: its address is not a page now.
        assert!(matches!(wb.locate_page(old), Err(Error::InvalidAddr)));
        let b = wb.alloc_page(8, 16, true).unwrap();
        assert_eq!(b.record, 0);
        assert_eq!(wb.locate_page(b.addr).unwrap().page_size, 16);
        assert_eq!(wb.seal().unwrap(), ReleaseState::None);
        assert_eq!(wb.release_writer().unwrap(), ReleaseState::Flush);
    }

    #[test]
    fn a_full_buffer_is_scrubbed_over_its_whole_arena() {
        let pool = ArenaPool::new(1024, 1).unwrap();
        let wb = WriteBuffer::with_pool(3, &pool).unwrap();
        while let Ok(a) = wb.alloc_page(1, 40, false) {
            // SAFETY: the body is ours and inside the arena.
            unsafe { std::ptr::write_bytes(wb.arena_ptr().add(a.body() as usize), 0xFF, 40) };
        }
        assert!(wb.state().allocated > 1024 - 64);
        drop(wb);
        let wb = WriteBuffer::with_pool(4, &pool).unwrap();
        assert_eq!(wb.group_id(), 4);
        assert!(arena_bytes(&wb).iter().all(|&b| b == 0));
    }

    #[test]
    fn the_pool_keeps_at_most_limit_arenas() {
        let pool = ArenaPool::new(256, 2).unwrap();
        let bufs: Vec<_> = (0..3)
            .map(|g| WriteBuffer::with_pool(g, &pool).unwrap())
            .collect();
        assert_eq!(
            pool.stats().in_use,
            3,
            "use beyond the limit is allowed (the owner bounds it)"
        );
        drop(bufs);
        let s = pool.stats();
        assert_eq!(
            (s.idle, s.in_use, s.created),
            (2, 0, 3),
            "one of three freed"
        );
        let again: Vec<_> = (0..3)
            .map(|g| WriteBuffer::with_pool(g, &pool).unwrap())
            .collect();
        let s = pool.stats();
        assert_eq!((s.reused, s.created), (2, 4));
        drop(again);
        assert_eq!(pool.stats().idle, 2);
    }

    #[test]
    fn clear_frees_idle_arenas_and_close_frees_later_ones() {
        let pool = ArenaPool::new(256, 4).unwrap();
        let a = WriteBuffer::with_pool(1, &pool).unwrap();
        let b = WriteBuffer::with_pool(2, &pool).unwrap();
        drop(a);
        assert_eq!(pool.stats().idle, 1);
        pool.clear(false);
        assert_eq!(pool.stats().idle, 0);
        let c = WriteBuffer::with_pool(3, &pool).unwrap();
        drop(c);
        assert_eq!(pool.stats().idle, 1, "still open: kept");
        pool.clear(true);
        drop(b);
        assert_eq!(
            pool.stats(),
            PoolStats {
                idle: 0,
                in_use: 0,
                created: 3,
                reused: 0
            }
        );
    }

    #[test]
    fn a_buffer_outlives_its_pool_handle_and_threads_share_it() {
        let pool = ArenaPool::new(1 << 16, 2).unwrap();
        let wb = std::sync::Arc::new(WriteBuffer::with_pool(9, &pool).unwrap());
        let weak_pool = Arc::downgrade(&pool);
        drop(pool); // the buffer keeps the pool alive
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let wb = wb.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        wb.alloc_page(t * 1000 + i, 24, false).unwrap();
                    }
                })
            })
            .collect();
        drop(wb); // the last drop happens on whichever thread ends last
        for h in handles {
            h.join().unwrap();
        }
        let pool = weak_pool.upgrade();
        assert!(pool.is_none(), "the pool dies with its last buffer");
    }

    #[test]
    fn invalid_capacities_are_refused() {
        for bad in [0, 8, 100, (1 << 31) + 1] {
            assert!(matches!(
                ArenaPool::new(bad, 1),
                Err(Error::InvalidCapacity(_))
            ));
        }
        assert_eq!(ArenaPool::new(16, 0).unwrap().limit(), 1);
    }
}
