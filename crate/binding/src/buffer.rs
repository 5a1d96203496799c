//! `NativeBuffer` (owner of one arena reference and one slot) and the calls
//! that operate on a slot.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{
    record_size, ArenaPool, Code, Error as CoreError, Lane, ReleaseState, Result as CoreResult,
    WriteBuffer, ARENA_ALIGN,
};

use crate::arena_mode::{self, Borrow, Exposed};
use crate::error::{coded, to_napi_error, ErrorCode};
use crate::external;
use crate::layout::{
    record_entry, A_ACQUIRE, A_CURSOR, A_END, A_RECORD, A_SIZE, FILL_COUNT, FILL_NEXT, O_ALLOCATED,
    O_CURSOR, O_END, O_FLAGS, O_RECORD, O_RELEASE, O_SIZE, O_STATE, O_U64, O_WRITERS, REC_WORDS,
    RELEASE_FLUSH, STATE_FLUSHED, STATE_SEALED, S_SLOT, S_STATUS, S_U64,
};
use crate::registry::{self, Hold};
use crate::scratch::{self, set_u64, u64_at};
use crate::shared;

/// Owns one strong reference to a core buffer and this thread's slot for it,
/// until it is collected or disposed; in the `'js'` arena mode also a
/// [`Borrow`] of the `Uint8Array` over the arena, so the JS memory outlives
/// every use this object allows.
#[napi]
pub struct NativeBuffer {
    /// `None` once disposed.
    inner: Option<Arc<WriteBuffer>>,
    slot: u32,
    group_id: u32,
    capacity: u32,
    /// The one external `ArrayBuffer` over the arena this object handed out.
    arena: Option<external::Tagged<WriteBuffer>>,
    /// `Some` exactly when `inner`'s arena is borrowed (never read: it is
    /// held). Declared after `inner`, and `Drop`/`dispose` empty the slot
    /// and drop `inner` first: the reference goes last.
    keep: Option<Borrow>,
    /// What this object reports to its isolate's GC beyond the external
    /// `ArrayBuffer` Node already counts (`external::ExternalCharge`);
    /// given back on this env by `dispose` or the finalizer.
    charge: Option<external::ExternalCharge>,
}

fn disposed() -> Error<ErrorCode> {
    crate::error::coded(Code::Closed, Code::Closed.message())
}

impl NativeBuffer {
    fn register(
        env: &Env,
        inner: Arc<WriteBuffer>,
        keep: Option<Borrow>,
    ) -> Result<Self, ErrorCode> {
        let slot = registry::insert(env, inner.clone())
            .map_err(|e| coded(Code::Napi, e.reason.clone()))?;
        // The record-start map: capacity / 16 bytes of Rust memory that
        // no ArrayBuffer covers; and a borrowed ('js') arena, a
        // SharedArrayBuffer that V8 does not charge to any one isolate. An
        // external arena is charged by Node through its ArrayBuffer
        // (`ExternalCharge` docs).
        let capacity = inner.capacity() as usize;
        let arena = if keep.is_some() { capacity } else { 0 };
        let starts = photon_wb_core::start_map_bytes(inner.capacity());
        let charge = external::ExternalCharge::new(env, starts + arena);
        Ok(NativeBuffer {
            charge: Some(charge),
            group_id: inner.group_id(),
            capacity: inner.capacity(),
            inner: Some(inner),
            slot,
            arena: None,
            keep,
        })
    }

    fn inner(&self) -> Result<&Arc<WriteBuffer>, ErrorCode> {
        self.inner.as_ref().ok_or_else(disposed)
    }
}

#[napi]
impl NativeBuffer {
    /// A new zeroed buffer. Its arena comes from `pool` when given (whose
    /// capacity must be `capacity`). With `arena` (the `'js'` arena mode: a
    /// `Uint8Array` of exactly `capacity` zeroed bytes over a
    /// `SharedArrayBuffer`, 16-byte aligned), the buffer borrows that
    /// memory instead (never pooled).
    #[napi(constructor)]
    pub fn new(
        env: &Env,
        group_id: u32,
        capacity: u32,
        pool: Option<&NativeArenaPool>,
        arena: Option<Unknown>,
    ) -> Result<Self, ErrorCode> {
        if let Some(arena) = arena {
            let keep = Borrow::new(env, &arena, ARENA_ALIGN, "the arena")?;
            if keep.len() != capacity as usize {
                return Err(Error::new(
                    ErrorCode(Code::InvalidArgValue.as_str()),
                    format!("the arena must be {capacity} bytes, not {}", keep.len()),
                ));
            }
            // SAFETY: `keep` checked the memory is a live, non-empty
            // SharedArrayBuffer range (never detached, never moved) of
            // `capacity` bytes, 16-aligned, and holds a strong reference to
            // it. The new `Arc` is stored next to `keep` and every other
            // `Arc` made from it is paired with its own `Borrow`
            // (`arena_mode` module docs), so the memory outlives every
            // access the buffer makes.
            let wb = unsafe { WriteBuffer::with_borrowed_arena(group_id, capacity, keep.ptr()) }
                .map_err(to_napi_error)?;
            return Self::register(env, Arc::new(wb), Some(keep));
        }
        let core = match pool {
            None => WriteBuffer::with_capacity(group_id, capacity),
            Some(p) if p.inner.capacity() != capacity => {
                return Err(Error::new(
                    ErrorCode(Code::InvalidArgValue.as_str()),
                    format!(
                        "the pool holds arenas of {} bytes, not {capacity}",
                        p.inner.capacity()
                    ),
                ))
            }
            Some(p) => WriteBuffer::with_pool(group_id, &p.inner),
        };
        Self::register(env, Arc::new(core.map_err(to_napi_error)?), None)
    }

    /// A `NativeBuffer` on this thread over the buffer a `share()` handle
    /// names; fails when no thread holds that buffer any more. A buffer
    /// with a borrowed arena needs `arena`, a `Uint8Array` over exactly that
    /// memory (the handle's `SharedArrayBuffer`), else it throws.
    #[napi(factory)]
    pub fn attach(env: &Env, id: u32, arena: Option<Unknown>) -> Result<Self, ErrorCode> {
        let inner = shared::attach(id).ok_or_else(|| {
            Error::new(
                ErrorCode(Code::InvalidArgValue.as_str()),
                "the handle names no live WriteBuffer: keep the sharing buffer alive until every attach is done",
            )
        })?;
        let keep = arena_mode::keep_for(env, &inner, arena.as_ref(), "attach")?;
        Self::register(env, inner, keep)
    }

    /// Registers the buffer for other threads; returns the handle id.
    #[napi]
    pub fn share(&self) -> Result<u32, ErrorCode> {
        Ok(shared::share(self.inner()?))
    }

    /// The group id.
    #[napi(getter)]
    pub fn group_id(&self) -> u32 {
        self.group_id
    }

    /// The capacity.
    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The slot that names this buffer in scratch calls on this thread.
    #[napi(getter)]
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Whether the arena is borrowed JS memory (the `'js'` arena mode).
    #[napi(getter)]
    pub fn is_borrowed(&self) -> bool {
        self.keep.is_some()
    }

    /// An external `ArrayBuffer` over the whole arena (once per object). It
    /// holds its own reference to the buffer, so the arena outlives every
    /// view of it, until `dispose` detaches it. Fails with
    /// `ERR_NO_EXTERNAL_BUFFERS` when the runtime refuses external buffers
    /// (the process is then in the `'js'` arena mode), and for a borrowed
    /// arena (JS already has it).
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn arena<'env>(&mut self, env: &'env Env) -> Result<Unknown<'env>, ErrorCode> {
        let inner = self.inner()?;
        if inner.is_borrowed() {
            return Err(Error::new(
                ErrorCode(Code::InvalidArgValue.as_str()),
                "a 'js' arena is a SharedArrayBuffer that JS already holds",
            ));
        }
        if self.arena.is_some() {
            return Err(Error::new(
                ErrorCode(Code::InvalidArgValue.as_str()),
                "arena() was already called on this object",
            ));
        }
        // SAFETY: the arena is `capacity` bytes that never move and live as
        // long as any `Arc` of the buffer (it is Rust's own, not borrowed).
        let (value, tagged) = unsafe {
            external::array_buffer(
                env,
                inner,
                inner.arena_ptr(),
                inner.capacity() as usize,
                Exposed::Arena,
                "the arena",
            )?
        };
        self.arena = Some(tagged);
        Ok(value)
    }

    /// Lets go of the buffer on this thread: detaches `arena` if it is the
    /// external `ArrayBuffer` this object handed out (every view made from
    /// it becomes empty, and its reference is dropped at once), frees the
    /// slot (giving up the writer counts acquired through it: their records
    /// become tombstones) and drops this object's reference (and, for a borrowed arena,
    /// its reference to the JS memory: JS views keep that memory alive on
    /// their own). The arena is freed, or given back to its pool, once no
    /// thread holds the buffer. A second call does nothing. Returns whether
    /// an `ArrayBuffer` was detached.
    #[napi]
    pub fn dispose(&mut self, env: &Env, arena: Unknown) -> Result<bool> {
        let Some(inner) = self.inner.take() else {
            return Ok(false);
        };
        // The slot first (its writer counts are given up while the borrow
        // still keeps a 'js' arena alive), then this object's `Arc`, then
        // the borrow: once the slot is empty no call on this thread reaches
        // the arena through this object.
        registry::remove(self.slot);
        drop(inner);
        drop(self.keep.take());
        drop(self.charge.take());
        match self.arena.take() {
            // SAFETY: `arena` is a live napi value of this env (napi hands
            // us one); `detach` checks its tag before touching it.
            Some(tagged) => unsafe { external::detach(env, arena, &tagged) },
            None => Ok(false),
        }
    }
}

impl Drop for NativeBuffer {
    fn drop(&mut self) {
        // The slot first (its writer counts are given up while `keep` still
        // keeps a 'js' arena alive): once it is empty no call on this thread
        // can reach the arena through this object; then the fields drop in order
        // (`inner` before `keep`, on this thread: napi-rs finalizes an
        // object on its own thread).
        if self.inner.is_some() {
            registry::remove(self.slot);
        }
    }
}

/// A bounded pool of arenas of one capacity (see `photon_wb_core::pool`).
#[napi]
pub struct NativeArenaPool {
    inner: Arc<ArenaPool>,
}

#[napi]
impl NativeArenaPool {
    /// A pool of `capacity`-byte arenas keeping at most `limit`.
    #[napi(constructor)]
    pub fn new(capacity: u32, limit: u32) -> Result<Self, ErrorCode> {
        Ok(NativeArenaPool {
            inner: ArenaPool::new(capacity, limit as usize).map_err(to_napi_error)?,
        })
    }

    /// `[idle, inUse, created, reused]`.
    #[napi]
    pub fn stats(&self) -> Vec<f64> {
        let s = self.inner.stats();
        vec![
            s.idle as f64,
            s.in_use as f64,
            s.created as f64,
            s.reused as f64,
        ]
    }

    /// Frees idle arenas; with `close`, also those given back later.
    #[napi]
    pub fn clear(&self, close: bool) {
        self.inner.clear(close);
    }
}

/// The status of a call on a slot that holds no buffer: the `WriteBuffer`
/// was disposed on this thread (`index.ts` never names a slot it does not own).
const STATUS_CLOSED: i32 = Code::Closed.status();

/// The status of a call whose typed-array arguments have the wrong shape
/// (never produced through `index.ts`).
const STATUS_BAD_ARGS: i32 = Code::InvalidArgValue.status();

/// A scratch word index as a `usize`.
#[inline(always)]
const fn w(word: u32) -> usize {
    word as usize
}

/// Runs `f` on the scratch block and the buffer it names, storing the
/// status (`STATUS_CLOSED` when the slot is empty).
#[inline]
fn on_slot(f: impl FnOnce(&mut [u32; 1024], &WriteBuffer) -> CoreResult<()>) {
    scratch::with(|s| {
        let status = registry::with(s[w(S_SLOT)], |wb| match f(s, wb) {
            Ok(()) => 0,
            Err(e) => e.status(),
        });
        s[w(S_STATUS)] = status.unwrap_or(STATUS_CLOSED) as u32;
    });
}

/// Stores the status of a call that took napi arguments (and `out` in the
/// word `O_RECORD`, when given) in the scratch block, once the call is done
/// with its typed-array arguments (the JS layer passes arrays of its own,
/// never views of the block).
#[inline]
fn store_status(status: std::result::Result<Option<u32>, i32>) {
    scratch::with(|s| match status {
        Ok(out) => {
            if let Some(v) = out {
                s[w(O_RECORD)] = v;
            }
            s[w(S_STATUS)] = 0;
        }
        Err(status) => s[w(S_STATUS)] = status as u32,
    });
}

/// Runs `f` on the buffer in `slot`: its result, or its status.
#[inline]
fn on_buffer<R>(
    slot: u32,
    f: impl FnOnce(&WriteBuffer) -> CoreResult<R>,
) -> std::result::Result<R, i32> {
    registry::with(slot, |wb| f(wb).map_err(|e| e.status())).unwrap_or(Err(STATUS_CLOSED))
}

/// As [`on_buffer`], with this thread's writer counts on the buffer through
/// the slot (to record an acquired one).
#[inline]
fn on_buffer_holds<R>(
    slot: u32,
    f: impl FnOnce(&WriteBuffer, &mut Vec<Hold>) -> CoreResult<R>,
) -> std::result::Result<R, i32> {
    registry::with_holds(slot, |wb, holds| f(wb, holds).map_err(|e| e.status()))
        .unwrap_or(Err(STATUS_CLOSED))
}

/// As [`on_slot`], with this thread's writer counts on the buffer through
/// the slot (to record an acquired one).
#[inline]
fn on_slot_holds(f: impl FnOnce(&mut [u32; 1024], &WriteBuffer, &mut Vec<Hold>) -> CoreResult<()>) {
    scratch::with(|s| {
        let status = registry::with_holds(s[w(S_SLOT)], |wb, holds| match f(s, wb, holds) {
            Ok(()) => 0,
            Err(e) => e.status(),
        });
        s[w(S_STATUS)] = status.unwrap_or(STATUS_CLOSED) as u32;
    });
}

/// Stores the outcome of releasing a count this thread holds (`pick`
/// chooses it and `then` runs on the buffer) in `O_RELEASE`.
#[inline]
fn on_release(
    pick: impl Fn(&Hold) -> bool,
    then: impl FnOnce(&mut [u32; 1024], &WriteBuffer) -> CoreResult<ReleaseState>,
) {
    scratch::with(|s| {
        let slot = s[w(S_SLOT)];
        let status = match registry::release(slot, pick, |wb, _| then(s, wb)) {
            None => STATUS_CLOSED,
            Some(Ok(r)) => {
                s[w(O_RELEASE)] = release_status(r);
                0
            }
            Some(Err(e)) => e.status(),
        };
        s[w(S_STATUS)] = status as u32;
    });
}

/// The end of a record of `body` bytes at `record` (it fits the arena).
fn record_end(record: u32, body: u32) -> u32 {
    (record as u64 + record_size(body)) as u32
}

fn release_status(r: ReleaseState) -> u32 {
    match r {
        ReleaseState::None => 0,
        ReleaseState::Flush => RELEASE_FLUSH,
    }
}

/// Scratch call: `allocPage`. In: `A_SIZE` page size, `A_ACQUIRE`, u64 page
/// id. Out: `O_RECORD`.
#[napi]
pub fn fast_alloc() {
    on_slot_holds(|s, wb, holds| {
        let acquire = s[w(A_ACQUIRE)] != 0;
        let p = wb.alloc_page(u64_at(s, S_U64), s[w(A_SIZE)], acquire)?;
        if acquire {
            holds.push(Hold::new(p.record, record_end(p.record, p.page_size)));
        } else {
            registry::note_uncounted(holds, p.record);
        }
        s[w(O_RECORD)] = p.record;
        Ok(())
    })
}

/// Scratch call: `releaseWriter` (the most recent count this thread
/// holds). Out: `O_RELEASE`.
#[napi]
pub fn fast_release() {
    on_release(|_| true, |_, wb| wb.release_writer())
}

/// Scratch call: marks the record at `A_RECORD` complete: its body is
/// filled, so a segment commit may write it before its writer (if any) is
/// released.
#[napi]
pub fn fast_mark() {
    on_slot(|s, wb| wb.mark_complete(s[w(A_RECORD)]))
}

/// Scratch call: marks every record from `A_RECORD` up to `A_END` complete
/// (records one after another: `ERR_INVALID_ADDR`, nothing marked, if they
/// are not).
#[napi]
pub fn fast_mark_range() {
    on_slot(|s, wb| wb.mark_complete_range(s[w(A_RECORD)], s[w(A_END)]))
}

/// Scratch call: `fast_mark` of the record at `A_RECORD`, then
/// `releaseWriter` (this thread's most recent count). Out: `O_RELEASE`.
#[napi]
pub fn fast_mark_release() {
    on_release(
        |_| true,
        |s, wb| {
            // Released even if the mark fails (a bug: no record there), so
            // no writer count is left behind; the error is reported.
            let marked = wb.mark_complete(s[w(A_RECORD)]);
            let released = wb.release_writer();
            marked?;
            released
        },
    )
}

/// Scratch call: `seal`. Out: `O_RELEASE`.
#[napi]
pub fn fast_seal() {
    on_slot(|s, wb| {
        s[w(O_RELEASE)] = release_status(wb.seal()?);
        Ok(())
    })
}

/// Scratch call: state snapshot. Out: `O_ALLOCATED`, `O_WRITERS`,
/// `O_STATE` (`STATE_SEALED | STATE_FLUSHED`).
#[napi]
pub fn fast_state() {
    on_slot(|s, wb| {
        let st = wb.state();
        s[w(O_ALLOCATED)] = st.allocated;
        s[w(O_WRITERS)] = st.writers;
        s[w(O_STATE)] = if st.sealed { STATE_SEALED } else { 0 }
            | if wb.is_flushed() { STATE_FLUSHED } else { 0 };
        Ok(())
    })
}

/// Scratch call: `page(addr)`. In: u64 address. Out: `O_RECORD`, `O_SIZE`.
#[napi]
pub fn fast_locate() {
    on_slot(|s, wb| {
        let p = wb.locate_page(u64_at(s, S_U64))?;
        s[w(O_RECORD)] = p.record;
        s[w(O_SIZE)] = p.page_size;
        Ok(())
    })
}

/// Scratch call: read a header. In: `A_RECORD`. Out: `O_FLAGS`, `O_SIZE`,
/// `O_U64` data.
#[napi]
pub fn fast_header() {
    on_slot(|s, wb| {
        let h = wb.header(s[w(A_RECORD)])?;
        s[w(O_FLAGS)] = h.flags;
        s[w(O_SIZE)] = h.page_size;
        set_u64(s, O_U64, h.data);
        Ok(())
    })
}

/// Scratch call: tombstone the record at `A_RECORD`.
#[napi]
pub fn fast_set_tombstone() {
    on_slot(|s, wb| wb.set_tombstone(s[w(A_RECORD)]))
}

/// Scratch call: set the page id (u64) of the page record at `A_RECORD`.
#[napi]
pub fn fast_set_page_id() {
    on_slot(|s, wb| wb.set_page_id(s[w(A_RECORD)], u64_at(s, S_U64)))
}

/// Scratch call: `onFlushed`. Out: `O_RELEASE` = 1 if this call flushed it.
#[napi]
pub fn fast_on_flushed() {
    on_slot(|s, wb| {
        s[w(O_RELEASE)] = wb.on_flushed() as u32;
        Ok(())
    })
}

/// Scratch call: reserve a lane. In: `A_SIZE` bytes. Out: `O_CURSOR`,
/// `O_END`.
#[napi]
pub fn fast_lane_reserve() {
    on_slot_holds(|s, wb, holds| {
        let lane = wb.reserve_lane(s[w(A_SIZE)])?;
        holds.push(Hold::new(lane.cursor, lane.end));
        s[w(O_CURSOR)] = lane.cursor;
        s[w(O_END)] = lane.end;
        Ok(())
    })
}

/// Scratch call: mark the record starts of pages JS wrote into a lane of
/// this thread (so `page(addr)` and the header calls find them before the
/// lane closes). In: `A_RECORD` first unmarked record, `A_CURSOR` the lane's
/// cursor, `A_END` its end. Out: `O_CURSOR`, where the valid chain stopped
/// (the cursor, unless a header is corrupt).
#[napi]
pub fn fast_lane_mark() {
    on_slot_holds(|s, wb, holds| {
        let (from, to, end) = (s[w(A_RECORD)], s[w(A_CURSOR)], s[w(A_END)]);
        // Only inside a lane this thread holds through the slot: another
        // thread's pages may be half written.
        if !holds.iter().any(|h| h.covers(to, end) && h.start() <= from) {
            return Err(CoreError::NoWriter);
        }
        s[w(O_CURSOR)] = wb.lane_mark(from, to)?;
        Ok(())
    })
}

/// Scratch call: close a lane (this thread's, held through the slot or
/// another slot of this thread over the buffer) whose pages JS wrote:
/// validates their header chain from the lane's start (`close_lane_written`).
/// In: `A_CURSOR`, `A_END`. Out: `O_RELEASE`; a chain that broke is the
/// status `ERR_CORRUPT` (the writer released all the same, `O_RELEASE`
/// set, `O_CURSOR` the offset where it broke).
#[napi]
pub fn fast_lane_close() {
    let Some((cursor, end)) = scratch::with(|s| (s[w(A_CURSOR)], s[w(A_END)])) else {
        return;
    };
    scratch::with(|s| {
        let slot = s[w(S_SLOT)];
        let mut broken = None;
        let r = registry::release(
            slot,
            |h| h.covers(cursor, end),
            |wb, h| {
                let (state, at) = wb.close_lane_written(h.start(), Lane { cursor, end })?;
                broken = at;
                Ok(state)
            },
        );
        let status = match r {
            None => STATUS_CLOSED,
            Some(Ok(r)) => {
                s[w(O_RELEASE)] = release_status(r);
                match broken {
                    None => 0,
                    Some(at) => {
                        s[w(O_CURSOR)] = at;
                        Code::Corrupt.status()
                    }
                }
            }
            Some(Err(e)) => e.status(),
        };
        s[w(S_STATUS)] = status as u32;
    });
}

/// `deallocPages`. Status in `S_STATUS`; out: `O_RECORD`.
#[napi]
pub fn dealloc(slot: u32, addrs: &[u64], acquire_writer: bool) {
    let r = on_buffer_holds(slot, |wb, holds| {
        let record = wb.dealloc_pages(addrs, acquire_writer)?;
        if acquire_writer {
            // The body is `addrs`, 8 bytes each (it fit, so no overflow).
            holds.push(Hold::new(
                record,
                record_end(record, addrs.len() as u32 * 8),
            ));
        } else {
            registry::note_uncounted(holds, record);
        }
        Ok(record)
    });
    store_status(r.map(Some));
}

/// `batch`: page ids and sizes (same length), dealloc addresses; writes
/// each page's record offset into `out[i]` and the dealloc record's offset
/// (or `u32::MAX`) into `out[pages]`. Status in `S_STATUS`.
#[napi]
pub fn batch(slot: u32, ids: &[u64], sizes: &[u32], dealloc: &[u64], mut out: Uint32Array) {
    let status = {
        // SAFETY: `out` is a live typed array argument; no JS runs during
        // this call, so nothing else reads or writes it meanwhile, and the
        // scratch block is not touched while this borrow lives.
        let out = unsafe { out.as_mut() };
        if ids.len() != sizes.len() || out.len() <= ids.len() {
            Err(STATUS_BAD_ARGS)
        } else {
            on_buffer_holds(slot, |wb, holds| {
                let mut i = 0;
                // The one reserved range: from the first record to the end
                // of the last (empty for `acquire()`).
                let mut range: Option<(u32, u32)> = None;
                let mut extend = |record: u32, body: u32| {
                    let end = record_end(record, body);
                    range = Some(range.map_or((record, end), |(start, _)| (start, end)));
                };
                let d = wb.batch_with(
                    ids.len(),
                    |k| (ids[k], sizes[k]),
                    dealloc,
                    |p| {
                        out[i] = p.record;
                        extend(p.record, p.page_size);
                        i += 1;
                    },
                )?;
                if let Some(d) = d {
                    extend(d, dealloc.len() as u32 * 8);
                }
                let (start, end) = range.unwrap_or((0, 0));
                holds.push(Hold::new(start, end));
                out[ids.len()] = d.unwrap_or(u32::MAX);
                Ok(None)
            })
        }
    };
    store_status(status);
}

/// Fills `out` with live records from offset `start` on: a preamble of
/// `REC_WORDS` words (`FILL_NEXT`: the offset to resume at, `FILL_COUNT`:
/// entries that follow), then one entry of `REC_WORDS` words per record
/// (`layout::record_entry`; `REC_POS` is 0). Status in `S_STATUS`.
#[napi]
pub fn records_fill(slot: u32, start: u32, mut out: Uint32Array) {
    let status = {
        // SAFETY: as in `batch`.
        let out = unsafe { out.as_mut() };
        let stride = REC_WORDS as usize;
        if out.len() < 2 * stride {
            Err(STATUS_BAD_ARGS)
        } else {
            on_buffer(slot, |wb| {
                let room = (out.len() / stride).saturating_sub(1);
                let mut iter = wb.records_from(start)?;
                let mut n = 0;
                while n < room {
                    let Some(r) = iter.next() else { break };
                    let r = r?;
                    out[(n + 1) * stride..(n + 2) * stride].copy_from_slice(&record_entry(
                        r.offset,
                        r.header.flags,
                        r.header.page_size,
                        r.header.data,
                        0,
                    ));
                    n += 1;
                }
                out[w(FILL_NEXT)] = iter.offset();
                out[w(FILL_COUNT)] = n as u32;
                Ok(None)
            })
        }
    };
    store_status(status);
}

/// Write-buffer arenas allocated and not yet freed in this process, on
/// every thread (a leak check for tests).
#[napi]
pub fn live_arenas() -> u32 {
    photon_wb_core::live_arenas() as u32
}
