//! Where an arena goes when its buffer lets it go: to a background thread
//! that either frees it (`munmap` / `free`) or scrubs it and keeps it in a
//! process-wide, bounded cache, from which the next buffer of the same
//! capacity takes it, already faulted in and zeroed.
//!
//! Why a thread: a buffer is dropped where its last reference goes, in
//! Node usually a GC finalizer on the JS thread, and a GC may release
//! hundreds of arenas at once; unmapping or zeroing gigabytes there stalls
//! the event loop (measured 195 ms on one `flushTo`). [`retire`] only
//! queues the arena (a lock, a push, a wake-up) and returns.
//!
//! Why a cache: a fresh arena costs one page fault per 4 KiB page on first
//! touch (64 MiB: ~16k faults), so a loop that creates and drops buffers
//! without [`crate::ArenaPool`] pays for every page twice over the cost of
//! writing into warm memory. The cache keeps, per arena size, at least
//! [`CacheConfig::min_arenas_per_size`] arenas or up to
//! [`CacheConfig::max_bytes_per_size`] bytes (whichever allows more), and
//! never more than [`CacheConfig::max_bytes`] in all. A kept mapped arena
//! hands every page past the prefix its buffer allocated back to the kernel
//! (`MADV_DONTNEED`, in case JS wrote there through a view); the prefix is
//! re-zeroed (with the bytes of its record-start map that cover it) here
//! when it is over [`ZERO_ON_TAKE_MAX`], else by the thread that takes the
//! arena, right before it writes it (so the memory is in its caches: zeroed
//! by the other core, it was at best half as warm on this machine, and
//! zeroing ahead did not pay; docs/BENCHMARKS.md, "Arena memory"). Either
//! way a cached arena reads exactly like a fresh one, and only that prefix
//! is resident: an arena whose buffer wrote 1 MiB of 16 costs 1 MiB of RSS
//! while cached.
//!
//! A taker also takes an arena the thread has not come to yet (still
//! queued: a buffer made right after another was dropped), and does to it
//! what the thread would have done, rather than map a fresh one: the thread
//! may be off its CPU on a busy host, and a fresh arena costs a page fault
//! per page (docs/BENCHMARKS.md, "fresh4: where the time goes").
//!
//! The escape hatch: `PHOTON_WB_ARENA_CACHE_MIB=0` in the environment (read
//! once, at the first use), or [`configure`] with `max_bytes: 0`, turns the
//! cache off; arenas are then only freed (still off the caller's thread).

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use crate::pool::Slab;

const MIB: usize = 1 << 20;

/// A cached arena whose buffer used at most this many bytes is zeroed by
/// the thread that takes it (at most ~1 ms of `memset`), not by the
/// reclaim thread: see `run`.
const ZERO_ON_TAKE_MAX: usize = 4 * MIB;

/// Arenas the queue holds without growing (see `State::new`).
const PENDING_ROOM: usize = 512;

/// The bounds of the arena cache (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of arenas the cache holds at most, all sizes together; 0 turns
    /// it off. Default 256 MiB, or `PHOTON_WB_ARENA_CACHE_MIB` MiB.
    pub max_bytes: usize,
    /// Bytes of arenas of one size kept at most (default 64 MiB) ...
    pub max_bytes_per_size: usize,
    /// ... unless fewer than this many arenas of that size are kept
    /// (default 2).
    pub min_arenas_per_size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        let max_mib = std::env::var("PHOTON_WB_ARENA_CACHE_MIB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(256);
        CacheConfig {
            max_bytes: max_mib.saturating_mul(MIB),
            max_bytes_per_size: 64 * MIB,
            min_arenas_per_size: 2,
        }
    }
}

/// Counters of the arena cache and its thread (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Arenas kept (scrubbed, or being scrubbed) for the next buffers.
    pub cached_arenas: usize,
    /// Their bytes (capacity, not residency).
    pub cached_bytes: usize,
    /// Arenas queued for the thread (to free or to scrub), and the one it
    /// is working on.
    pub pending_arenas: usize,
    /// Their bytes.
    pub pending_bytes: usize,
    /// Buffers that got a cached arena (or one queued for the thread, that
    /// it would have cached).
    pub hits: u64,
    /// Buffers that found none of their size and got a fresh one.
    pub misses: u64,
    /// Arenas the thread freed.
    pub freed: u64,
}

#[derive(Default)]
struct Class {
    /// Scrubbed arenas, ready.
    ready: Vec<Slab>,
    /// `ready.len()` plus arenas being scrubbed for this class.
    held: usize,
}

struct State {
    config: CacheConfig,
    /// Arenas to process; `false`: free without considering the cache.
    pending: VecDeque<(Slab, bool)>,
    pending_bytes: usize,
    /// The arena the thread is working on, if any (its bytes).
    busy: Option<usize>,
    classes: HashMap<usize, Class>,
    /// Bytes of the arenas in `classes` (`held`, not only `ready`).
    cached_bytes: usize,
    /// Bumped when the cache is emptied: an arena reserved under an older
    /// epoch is not kept.
    epoch: u64,
    started: bool,
    hits: u64,
    misses: u64,
    freed: u64,
}

struct Reclaimer {
    state: Mutex<State>,
    /// Signalled when `pending` gets an arena.
    work: Condvar,
    /// Signalled when the thread runs out of work.
    idle: Condvar,
}

fn reclaimer() -> &'static Reclaimer {
    static R: OnceLock<Reclaimer> = OnceLock::new();
    R.get_or_init(|| Reclaimer {
        state: Mutex::new(State::new(CacheConfig::default())),
        work: Condvar::new(),
        idle: Condvar::new(),
    })
}

fn lock() -> MutexGuard<'static, State> {
    // Every update under the lock is a few field writes that a panic cannot
    // leave half-done (scrubbing and freeing run outside it), so a poisoned
    // lock is still consistent.
    reclaimer().state.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// An empty state (nothing pending, nothing cached) with these bounds.
    fn new(config: CacheConfig) -> Self {
        State {
            config,
            // Room for the arenas one GC typically releases at once, so
            // that `retire` (a GC finalizer on the JS thread) does not
            // reallocate the queue while the thread unmaps others (both
            // want the process's memory-map lock).
            pending: VecDeque::with_capacity(PENDING_ROOM),
            pending_bytes: 0,
            busy: None,
            classes: HashMap::new(),
            cached_bytes: 0,
            epoch: 0,
            started: false,
            hits: 0,
            misses: 0,
            freed: 0,
        }
    }

    /// Reserves room for an arena of `len` bytes in the cache if the bounds
    /// allow it.
    fn reserve(&mut self, len: usize) -> bool {
        let c = self.config;
        if len == 0 || self.cached_bytes.saturating_add(len) > c.max_bytes {
            return false;
        }
        let class = self.classes.entry(len).or_default();
        let after = class.held + 1;
        if after > c.min_arenas_per_size && after.saturating_mul(len) > c.max_bytes_per_size {
            return false;
        }
        class.held = after;
        self.cached_bytes += len;
        true
    }

    /// Gives back a reservation made by [`State::reserve`].
    fn unreserve(&mut self, len: usize) {
        if let Some(class) = self.classes.get_mut(&len) {
            class.held -= 1;
        }
        self.cached_bytes -= len;
    }

    /// The index of the most recently queued arena of `len` bytes that the
    /// cache could keep (the thread would, given room) and that a taker may
    /// zero itself (at most [`ZERO_ON_TAKE_MAX`] bytes used).
    fn queued(&self, len: usize) -> Option<usize> {
        let c = self.config;
        let keeps =
            len <= c.max_bytes && (c.min_arenas_per_size > 0 || len <= c.max_bytes_per_size);
        if !keeps {
            return None;
        }
        self.pending.iter().rposition(|(s, keepable)| {
            *keepable && s.arena.len() == len && s.dirty as usize <= ZERO_ON_TAKE_MAX
        })
    }

    /// An arena of `len` bytes for a new buffer (`take`), out of the cache's
    /// accounts: a cached one, else the most recently queued one that
    /// [`State::queued`] allows (`true`: its tail is not released yet).
    fn pop(&mut self, len: usize) -> Option<(Slab, bool)> {
        if let Some(c) = self.classes.get_mut(&len) {
            if let Some(slab) = c.ready.pop() {
                c.held -= 1;
                self.cached_bytes -= len;
                return Some((slab, false));
            }
        }
        let i = self.queued(len)?;
        let (slab, _) = self.pending.remove(i)?;
        self.pending_bytes -= len;
        Some((slab, true))
    }

    /// Empties the cache: its arenas go to the queue, to be freed.
    fn evict_all(&mut self) {
        self.epoch += 1;
        for class in self.classes.values_mut() {
            for slab in class.ready.drain(..) {
                let len = slab.arena.len();
                class.held -= 1;
                self.cached_bytes -= len;
                self.pending_bytes += len;
                self.pending.push_back((slab, false));
            }
        }
    }
}

/// Hands the arena of a buffer that is gone to the reclaim thread, which
/// frees it or scrubs and caches it (module docs); returns at once. The
/// arena leaves [`crate::live_arenas`] now. `slab.dirty` must cover every
/// byte its buffer may have written.
pub(crate) fn retire(mut slab: Slab) {
    debug_assert!(
        !slab.arena.is_borrowed(),
        "borrowed memory is never retired"
    );
    slab.arena.count(false);
    if cfg!(loom) {
        // Model-checking builds run no helper thread.
        drop(slab);
        return;
    }
    let len = slab.arena.len();
    let mut st = lock();
    if !st.started {
        let spawned = std::thread::Builder::new()
            .name("photon-wb-reclaim".into())
            .spawn(run);
        if spawned.is_err() {
            // No thread (resource limits): free here, as before.
            drop(st);
            drop(slab);
            return;
        }
        st.started = true;
    }
    // Wake the thread only if it may be asleep: when it is busy or has a
    // queue, it takes this arena without waiting (a GC that releases
    // hundreds of buffers then costs one wake-up, not hundreds).
    let asleep = st.pending.is_empty() && st.busy.is_none();
    st.pending_bytes += len;
    st.pending.push_back((slab, true));
    drop(st);
    if asleep {
        reclaimer().work.notify_one();
    }
}

/// A cached arena of exactly `len` bytes, scrubbed, counted in
/// [`crate::live_arenas`] again; `None` when the cache has none (nor the
/// queue: module docs).
pub(crate) fn take(len: usize) -> Option<Slab> {
    let mut st = lock();
    let Some((slab, queued)) = st.pop(len) else {
        st.misses += 1;
        return None;
    };
    st.hits += 1;
    drop(st);
    let mut slab = scrub_taken(slab, queued);
    slab.arena.count(true);
    Some(slab)
}

/// Makes an arena that [`State::pop`] gave a taker read as fresh: what the
/// thread does to an arena it keeps (`run`) if it was still `queued`, then
/// the prefix zeroed unless it is already (at most `ZERO_ON_TAKE_MAX`
/// bytes: see `run` and [`State::queued`]).
fn scrub_taken(mut slab: Slab, queued: bool) -> Slab {
    if queued {
        slab.release_tail();
    }
    if slab.dirty != 0 {
        slab.zero_head();
    }
    slab
}

/// The reclaim thread: takes queued arenas one at a time and frees them or
/// scrubs them into the cache; never exits (it sleeps when there is no work).
fn run() {
    let r = reclaimer();
    let mut st = lock();
    loop {
        let Some((mut slab, keepable)) = st.pending.pop_front() else {
            st.busy = None;
            r.idle.notify_all();
            st = r.work.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let len = slab.arena.len();
        st.pending_bytes -= len;
        st.busy = Some(len);
        let keep = keepable && st.reserve(len);
        let epoch = st.epoch;
        drop(st);
        if keep {
            // The slab is ours alone (no buffer holds it); this happens
            // outside the lock, so `take` never waits for it. A small dirty
            // prefix is zeroed by whoever takes the arena, right before
            // writing it (`take`): zeroed here, it would have left the
            // taker's caches by then, and writing it again costs more than
            // zeroing it there (docs/BENCHMARKS.md, "Arena memory").
            slab.release_tail();
            if slab.dirty as usize > ZERO_ON_TAKE_MAX {
                slab.zero_head();
            }
        }
        st = lock();
        if keep && st.epoch == epoch {
            st.classes.entry(len).or_default().ready.push(slab);
        } else {
            if keep {
                st.unreserve(len);
            }
            drop(st);
            // Freed outside the lock (munmap of a large arena takes a while).
            drop(slab);
            st = lock();
            st.freed += 1;
        }
    }
}

/// Counters (a snapshot).
pub fn stats() -> CacheStats {
    let st = lock();
    let cached_arenas = st.classes.values().map(|c| c.held).sum();
    CacheStats {
        cached_arenas,
        cached_bytes: st.cached_bytes,
        pending_arenas: st.pending.len() + usize::from(st.busy.is_some()),
        pending_bytes: st.pending_bytes + st.busy.unwrap_or(0),
        hits: st.hits,
        misses: st.misses,
        freed: st.freed,
    }
}

/// The bounds in force.
pub fn config() -> CacheConfig {
    lock().config
}

/// Sets new bounds; the arenas cached so far are freed (in the background).
pub fn configure(config: CacheConfig) {
    let mut st = lock();
    st.config = config;
    st.evict_all();
    drop(st);
    reclaimer().work.notify_one();
}

/// Frees every cached arena (in the background); the bounds stay.
pub fn trim() {
    let mut st = lock();
    st.evict_all();
    drop(st);
    reclaimer().work.notify_one();
}

/// Blocks until the reclaim thread has processed every arena queued so far
/// (tests and benchmarks: then RSS and the counters are settled).
pub fn wait_idle() {
    let r = reclaimer();
    let mut st = lock();
    while (!st.pending.is_empty() || st.busy.is_some()) && st.started {
        st = r.idle.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{live_arenas, WriteBuffer};

    // The cache is process-wide and tests run in parallel: each test uses
    // capacities no other test of this crate uses, and checks only its own
    // size classes (or counters that only grow).

    fn bytes(wb: &WriteBuffer) -> &[u8] {
        // SAFETY: the arena holds `capacity` initialised bytes and nothing
        // writes to it while this test reads.
        unsafe { std::slice::from_raw_parts(wb.arena_ptr(), wb.capacity() as usize) }
    }

    fn fill(wb: &WriteBuffer, byte: u8) -> Vec<u64> {
        let mut addrs = Vec::new();
        while let Ok(a) = wb.alloc_page(addrs.len() as u64, 4000, false) {
            // SAFETY: the body is ours (just reserved) and inside the arena.
            unsafe { std::ptr::write_bytes(wb.arena_ptr().add(a.body() as usize), byte, 4000) };
            addrs.push(a.addr);
        }
        addrs
    }

    #[test]
    fn a_dropped_buffer_is_freed_off_thread_and_its_arena_comes_back_zeroed() {
        const CAP: u32 = 1 << 21; // 2 MiB: a mapped arena
        let wb = WriteBuffer::with_capacity(1, CAP).unwrap();
        let old = fill(&wb, 0xA5);
        assert!(wb.state().allocated > CAP - 8192);
        let first = wb.arena_ptr();
        // Dropped on another thread, as a finalizer of another isolate would.
        std::thread::spawn(move || drop(wb)).join().unwrap();
        wait_idle();
        let wb = WriteBuffer::with_capacity(2, CAP).unwrap();
        if wb.arena_ptr() == first {
            assert!(stats().hits >= 1);
        }
        assert!(
            bytes(&wb).iter().all(|&b| b == 0),
            "no byte of the old buffer"
        );
        assert!(wb.is_empty());
        for a in old.iter().take(3) {
            assert!(
                wb.locate_page(*a & 0xffff_ffff | 2 << 32).is_err(),
                "start bits cleared"
            );
        }
        let again = fill(&wb, 0x11);
        assert_eq!(again.len(), old.len());
    }

    #[test]
    fn bytes_written_past_the_allocated_prefix_do_not_come_back() {
        const CAP: u32 = 1 << 22; // 4 MiB, mapped
        for round in 0..4u32 {
            let wb = WriteBuffer::with_capacity(round, CAP).unwrap();
            assert!(bytes(&wb).iter().all(|&b| b == 0), "round {round}");
            wb.alloc_page(1, 100, false).unwrap();
            // What JS can do through a view's `.buffer`: write anywhere.
            // SAFETY: inside the arena; no other access meanwhile.
            unsafe {
                std::ptr::write_bytes(wb.arena_ptr().add(CAP as usize / 2), 0xEE, 100);
                wb.arena_ptr().add(CAP as usize - 1).write(0xEE);
            }
            drop(wb);
            wait_idle();
        }
    }

    #[test]
    fn a_large_dirty_prefix_is_zeroed_in_the_background() {
        const CAP: u32 = 1 << 23; // 8 MiB: more than ZERO_ON_TAKE_MAX used
        for round in 0..3u32 {
            let wb = WriteBuffer::with_capacity(round, CAP).unwrap();
            assert!(bytes(&wb).iter().all(|&b| b == 0), "round {round}");
            fill(&wb, 0x3C);
            assert!(wb.state().allocated as usize > ZERO_ON_TAKE_MAX);
            drop(wb);
            wait_idle();
        }
    }

    #[test]
    fn the_cache_hands_back_a_used_arena_all_zero() {
        const CAP: u32 = 1 << 17; // heap-allocated size class
        let mut seen = 0;
        for round in 0..8 {
            let wb = WriteBuffer::with_capacity(round, CAP).unwrap();
            assert!(bytes(&wb).iter().all(|&b| b == 0), "round {round}");
            fill(&wb, 0xFF);
            if round > 0 && stats().hits > 0 {
                seen += 1;
            }
            drop(wb);
            wait_idle();
        }
        assert!(seen > 0 && stats().hits > 0, "the cache served some buffer");
    }

    #[test]
    fn live_arenas_excludes_cached_ones() {
        const CAP: u32 = 1 << 15;
        // Other tests change the global count concurrently: compare the
        // count of this test's own arenas through a pool-free loop a few
        // times and accept any consistent observation.
        let wb = WriteBuffer::with_capacity(1, CAP).unwrap();
        let ok = (0..20).any(|_| {
            let before = live_arenas();
            let other = WriteBuffer::with_capacity(2, CAP).unwrap();
            let with = live_arenas();
            drop(other);
            let after = live_arenas();
            with == before + 1 && after == before
        });
        assert!(ok, "live_arenas() follows buffers, not the cache");
        drop(wb);
    }

    #[test]
    fn many_arenas_dropped_from_many_threads() {
        const CAP: u32 = 1 << 20; // 1 MiB: mapped, 64 per class fit 64 MiB
        let handles: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..40 {
                        let wb = WriteBuffer::with_capacity(t * 100 + i, CAP).unwrap();
                        assert!(bytes(&wb)[..65536].iter().all(|&b| b == 0));
                        let a = wb.alloc_page(i as u64, 60000, false).unwrap();
                        // SAFETY: the body is ours and inside the arena.
                        unsafe {
                            std::ptr::write_bytes(wb.arena_ptr().add(a.body() as usize), 7, 60000)
                        };
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        wait_idle();
        let s = stats();
        assert_eq!(s.pending_arenas, 0);
        assert!(s.cached_bytes <= config().max_bytes);
    }

    /// A slab of `cap` bytes whose previous buffer used `dirty` bytes (with
    /// record starts there) and that JS wrote all over (through `.buffer`).
    fn used_slab(cap: u32, dirty: u32) -> Slab {
        let mut slab = Slab::fresh(cap).unwrap();
        // SAFETY: the slab is ours alone and `cap` bytes long.
        unsafe { std::ptr::write_bytes(slab.arena.as_ptr(), 0xC3, cap as usize) };
        for offset in (0..dirty).step_by(4096) {
            slab.starts.mark(offset);
        }
        slab.dirty = dirty;
        slab
    }

    /// Whether `slab` reads as a fresh one: every byte and every start bit.
    fn reads_fresh(slab: &Slab) -> bool {
        let len = slab.arena.len();
        // SAFETY: the slab is ours alone and `len` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(slab.arena.as_ptr(), len) };
        bytes.iter().all(|&b| b == 0)
            && (0..len as u32)
                .step_by(4096)
                .all(|o| !slab.starts.is_start(o))
    }

    /// Queues `slab` as `retire` (or `evict_all`, `keepable` false) does.
    fn queue(st: &mut State, slab: Slab, keepable: bool) {
        st.pending_bytes += slab.arena.len();
        st.pending.push_back((slab, keepable));
    }

    fn bounds() -> CacheConfig {
        CacheConfig {
            max_bytes: 64 * MIB,
            max_bytes_per_size: 64 * MIB,
            min_arenas_per_size: 2,
        }
    }

    #[test]
    fn an_arena_taken_before_the_thread_came_to_it_is_scrubbed_by_the_taker() {
        // Queued (its buffer just dropped), not yet processed: the taker
        // releases the tail and zeroes the prefix itself.
        const CAP: u32 = 1 << 21; // mapped
        let mut st = State::new(bounds());
        queue(&mut st, used_slab(CAP, 1 << 20), true);
        let (slab, queued) = st.pop(CAP as usize).expect("the queued arena");
        assert!(queued && st.pending.is_empty() && st.pending_bytes == 0);
        let slab = scrub_taken(slab, queued);
        assert_eq!(slab.dirty, 0);
        assert!(
            reads_fresh(&slab),
            "no byte of the previous buffer, in or past its prefix"
        );
    }

    #[test]
    fn a_taker_prefers_a_cached_arena_then_the_newest_queued_one() {
        const CAP: u32 = 1 << 16;
        let mut st = State::new(bounds());
        let len = CAP as usize;
        assert!(st.reserve(len));
        let mut cached = used_slab(CAP, 64);
        cached.release_tail();
        st.classes.get_mut(&len).unwrap().ready.push(cached);
        let older = used_slab(CAP, 8);
        let newer = used_slab(CAP, 16);
        let newer_ptr = newer.arena.as_ptr();
        queue(&mut st, older, true);
        queue(&mut st, newer, true);
        queue(&mut st, used_slab(CAP, 24), false); // evicted: to be freed
        queue(&mut st, used_slab(CAP * 2, 8), true); // another size
        let (a, q) = st.pop(len).unwrap();
        assert!(!q && a.dirty == 64, "the cached one first");
        assert_eq!((st.cached_bytes, st.classes[&len].held), (0, 0));
        assert!(
            reads_fresh(&scrub_taken(a, q)),
            "a cached arena is zeroed by its taker"
        );
        let (b, q) = st.pop(len).unwrap();
        assert!(
            q && b.arena.as_ptr() == newer_ptr,
            "then the newest queued one"
        );
        let (c, q) = st.pop(len).unwrap();
        assert!(q && c.dirty == 8);
        assert!(st.pop(len).is_none(), "never an evicted one");
        assert_eq!(st.pending.len(), 2);
        // With the cache off, nothing queued is taken either.
        st.config.max_bytes = 0;
        queue(&mut st, used_slab(CAP, 8), true);
        assert!(st.pop(len).is_none());
    }

    #[test]
    fn buffers_made_right_after_others_are_dropped_read_all_zero() {
        // No wait for the thread: the arena may still be queued, or cached,
        // when the next buffer takes it.
        const CAP: u32 = 1 << 24; // mapped; at most 2.4 MiB used (ZERO_ON_TAKE_MAX)
        for round in 0..12u32 {
            let wb = WriteBuffer::with_capacity(round, CAP).unwrap();
            assert!(bytes(&wb).iter().all(|&b| b == 0), "round {round}");
            for p in 0..(round as u64 % 3 + 1) * 200 {
                wb.alloc_page(p, 4000, false).unwrap();
            }
            // SAFETY: inside the arena; no other access meanwhile.
            unsafe { std::ptr::write_bytes(wb.arena_ptr(), 0x77, CAP as usize) };
            drop(wb);
        }
    }

    #[test]
    fn reserve_follows_the_bounds() {
        let mut st = State::new(CacheConfig {
            max_bytes: 10 * MIB,
            max_bytes_per_size: 4 * MIB,
            min_arenas_per_size: 2,
        });
        // 1 MiB arenas: up to 4 MiB of them.
        assert!((0..4).all(|_| st.reserve(MIB)));
        assert!(!st.reserve(MIB));
        // 3 MiB arenas: 2 (the minimum) although 6 MiB > 4 MiB ...
        assert!(st.reserve(3 * MIB) && st.reserve(3 * MIB));
        // ... and the total (4 + 6 = 10 MiB) is full.
        assert!(!st.reserve(16));
        st.unreserve(MIB);
        assert_eq!(st.cached_bytes, 9 * MIB);
        assert!(!st.reserve(2 * MIB), "over the total");
        assert!(st.reserve(MIB));
        st.config.max_bytes = 0;
        assert!(!st.reserve(16), "0 turns it off");
    }
}
