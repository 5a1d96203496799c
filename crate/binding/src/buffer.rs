//! `NativeBuffer` (owner of one arena reference and one slot) and the calls
//! that operate on a slot.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{
    record_size, ArenaPool, Lane, ReleaseState, Result as CoreResult, WriteBuffer, ARENA_ALIGN,
};

use crate::arena_mode::{self, Borrow, Exposed};
use crate::error::{to_napi_error, ErrorCode, STATUS_BAD_ARGS, STATUS_NO_SLOT};
use crate::external;
use crate::registry::{self, Hold};
use crate::scratch::{self, set_u64, u64_at, S_ARG, S_OUT, S_OUT_U64, S_SLOT, S_STATUS, S_U64};
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
}

fn disposed() -> Error<ErrorCode> {
    Error::new(
        ErrorCode("ERR_CLOSED"),
        "the WriteBuffer was disposed on this thread",
    )
}

impl NativeBuffer {
    fn register(
        env: &Env,
        inner: Arc<WriteBuffer>,
        keep: Option<Borrow>,
    ) -> Result<Self, ErrorCode> {
        let slot = registry::insert(env, inner.clone())
            .map_err(|e| Error::new(ErrorCode("ERR_NAPI"), e.reason.clone()))?;
        Ok(NativeBuffer {
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
                    ErrorCode("ERR_INVALID_ARG_VALUE"),
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
                    ErrorCode("ERR_INVALID_ARG_VALUE"),
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
                ErrorCode("ERR_INVALID_ARG_VALUE"),
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
                ErrorCode("ERR_INVALID_ARG_VALUE"),
                "a 'js' arena is a SharedArrayBuffer that JS already holds",
            ));
        }
        if self.arena.is_some() {
            return Err(Error::new(
                ErrorCode("ERR_INVALID_ARG_VALUE"),
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

/// Runs `f` on the scratch block and the buffer it names, storing the
/// status (`STATUS_NO_SLOT` when the slot is empty).
#[inline]
fn on_slot(f: impl FnOnce(&mut [u32; 1024], &WriteBuffer) -> CoreResult<()>) {
    scratch::with(|s| {
        let status = registry::with(s[S_SLOT as usize], |wb| match f(s, wb) {
            Ok(()) => 0,
            Err(e) => e.status(),
        });
        s[S_STATUS as usize] = status.unwrap_or(STATUS_NO_SLOT) as u32;
    });
}

/// As [`on_slot`], with this thread's writer counts on the buffer through
/// the slot (to record an acquired one).
#[inline]
fn on_slot_holds(f: impl FnOnce(&mut [u32; 1024], &WriteBuffer, &mut Vec<Hold>) -> CoreResult<()>) {
    scratch::with(|s| {
        let status = registry::with_holds(s[S_SLOT as usize], |wb, holds| match f(s, wb, holds) {
            Ok(()) => 0,
            Err(e) => e.status(),
        });
        s[S_STATUS as usize] = status.unwrap_or(STATUS_NO_SLOT) as u32;
    });
}

/// Stores the outcome of releasing a count this thread holds (`release`
/// picks it and runs `then` on the buffer): out0 = 1 for 'flush'.
#[inline]
fn on_release(
    pick: impl Fn(&Hold) -> bool,
    then: impl FnOnce(&mut [u32; 1024], &WriteBuffer) -> CoreResult<ReleaseState>,
) {
    scratch::with(|s| {
        let slot = s[S_SLOT as usize];
        let status = match registry::release(slot, pick, |wb| then(s, wb)) {
            None => STATUS_NO_SLOT,
            Some(Ok(r)) => {
                s[S_OUT as usize] = release_status(r);
                0
            }
            Some(Err(e)) => e.status(),
        };
        s[S_STATUS as usize] = status as u32;
    });
}

/// The end of a record of `body` bytes at `record` (it fits the arena).
fn record_end(record: u32, body: u32) -> u32 {
    (record as u64 + record_size(body)) as u32
}

fn release_status(r: ReleaseState) -> u32 {
    match r {
        ReleaseState::None => 0,
        ReleaseState::Flush => 1,
    }
}

/// Scratch call: `allocPage`. In: slot, arg0 page size, arg1 acquire,
/// u64 page id. Out: out0 record offset.
#[napi]
pub fn fast_alloc() {
    on_slot_holds(|s, wb, holds| {
        let a = S_ARG as usize;
        let acquire = s[a + 1] != 0;
        let p = wb.alloc_page(u64_at(s, S_U64), s[a], acquire)?;
        if acquire {
            holds.push(Hold::new(p.record, record_end(p.record, p.page_size)));
        } else {
            registry::note_uncounted(holds, p.record);
        }
        s[S_OUT as usize] = p.record;
        Ok(())
    })
}

/// Scratch call: `releaseWriter` (the most recent count this thread
/// holds). Out: out0 = 1 for 'flush', 0 for 'none'.
#[napi]
pub fn fast_release() {
    on_release(|_| true, |_, wb| wb.release_writer())
}

/// Scratch call: `seal`. Out: out0 = 1 for 'flush', 0 for 'none'.
#[napi]
pub fn fast_seal() {
    on_slot(|s, wb| {
        s[S_OUT as usize] = release_status(wb.seal()?);
        Ok(())
    })
}

/// Scratch call: state snapshot. Out: allocated, writers, sealed, flushed.
#[napi]
pub fn fast_state() {
    on_slot(|s, wb| {
        let st = wb.state();
        let o = S_OUT as usize;
        s[o] = st.allocated;
        s[o + 1] = st.writers;
        s[o + 2] = st.sealed as u32 | (wb.is_flushed() as u32) << 1;
        Ok(())
    })
}

/// Scratch call: `page(addr)`. In: u64 address. Out: record offset, size.
#[napi]
pub fn fast_locate() {
    on_slot(|s, wb| {
        let p = wb.locate_page(u64_at(s, S_U64))?;
        s[S_OUT as usize] = p.record;
        s[S_OUT as usize + 1] = p.page_size;
        Ok(())
    })
}

/// Scratch call: read a header. In: arg0 record offset. Out: flags, size,
/// u64 data.
#[napi]
pub fn fast_header() {
    on_slot(|s, wb| {
        let h = wb.header(s[S_ARG as usize])?;
        s[S_OUT as usize] = h.flags;
        s[S_OUT as usize + 1] = h.page_size;
        set_u64(s, S_OUT_U64, h.data);
        Ok(())
    })
}

/// Scratch call: tombstone the record at arg0.
#[napi]
pub fn fast_set_tombstone() {
    on_slot(|s, wb| wb.set_tombstone(s[S_ARG as usize]))
}

/// Scratch call: set the page id (u64) of the page record at arg0.
#[napi]
pub fn fast_set_page_id() {
    on_slot(|s, wb| wb.set_page_id(s[S_ARG as usize], u64_at(s, S_U64)))
}

/// Scratch call: `onFlushed`. Out: out0 = 1 if this call flushed it.
#[napi]
pub fn fast_on_flushed() {
    on_slot(|s, wb| {
        s[S_OUT as usize] = wb.on_flushed() as u32;
        Ok(())
    })
}

/// Scratch call: reserve a lane. In: arg0 bytes. Out: cursor, end.
#[napi]
pub fn fast_lane_reserve() {
    on_slot_holds(|s, wb, holds| {
        let lane = wb.reserve_lane(s[S_ARG as usize])?;
        holds.push(Hold::new(lane.cursor, lane.end));
        s[S_OUT as usize] = lane.cursor;
        s[S_OUT as usize + 1] = lane.end;
        Ok(())
    })
}

/// Scratch call: a page in a lane. In: arg0 cursor, arg1 end, arg2 page
/// size, u64 page id. Out: record offset, new cursor.
#[napi]
pub fn fast_lane_alloc() {
    on_slot(|s, wb| {
        let a = S_ARG as usize;
        let mut lane = Lane {
            cursor: s[a],
            end: s[a + 1],
        };
        let p = wb.lane_alloc_page(&mut lane, u64_at(s, S_U64), s[a + 2])?;
        s[S_OUT as usize] = p.record;
        s[S_OUT as usize + 1] = lane.cursor;
        Ok(())
    })
}

/// Scratch call: close a lane (this thread's, held through the slot or
/// another slot of this thread over the buffer). In: arg0 cursor, arg1 end.
/// Out: out0 = 1 for 'flush'.
#[napi]
pub fn fast_lane_close() {
    let Some((cursor, end)) = scratch::with(|s| (s[S_ARG as usize], s[S_ARG as usize + 1])) else {
        return;
    };
    on_release(
        |h| h.covers(cursor, end),
        |_, wb| wb.close_lane(Lane { cursor, end }),
    )
}

fn slot_result(slot: u32, f: impl FnOnce(&WriteBuffer) -> CoreResult<i64>) -> i64 {
    registry::with(slot, |wb| f(wb).unwrap_or_else(|e| e.status() as i64))
        .unwrap_or(STATUS_NO_SLOT as i64)
}

/// As [`slot_result`], with this thread's writer counts through the slot.
fn slot_result_holds(
    slot: u32,
    f: impl FnOnce(&WriteBuffer, &mut Vec<Hold>) -> CoreResult<i64>,
) -> i64 {
    registry::with_holds(slot, |wb, holds| {
        f(wb, holds).unwrap_or_else(|e| e.status() as i64)
    })
    .unwrap_or(STATUS_NO_SLOT as i64)
}

/// `deallocPages`: returns the record offset, or a negative status.
#[napi]
pub fn dealloc(slot: u32, addrs: &[u64], acquire_writer: bool) -> i64 {
    slot_result_holds(slot, |wb, holds| {
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
        Ok(record as i64)
    })
}

/// `batch`: page ids and sizes (same length), dealloc addresses; writes
/// each page's record offset into `out[i]` and the dealloc record's offset
/// (or `u32::MAX`) into `out[pages]`. Returns 0 or a negative status.
#[napi]
pub fn batch(slot: u32, ids: &[u64], sizes: &[u32], dealloc: &[u64], mut out: Uint32Array) -> i64 {
    // SAFETY: `out` is a live typed array argument; no JS runs during this
    // call, so nothing else reads or writes it meanwhile.
    let out = unsafe { out.as_mut() };
    if ids.len() != sizes.len() || out.len() <= ids.len() {
        return STATUS_BAD_ARGS as i64;
    }
    slot_result_holds(slot, |wb, holds| {
        let mut i = 0;
        // The one reserved range: from the first record to the end of the
        // last (empty for `acquire()`).
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
        Ok(0)
    })
}

/// Words of `records_fill`'s preamble and of each entry.
#[napi]
pub const FILL_STRIDE: u32 = 8;

/// Fills `out` with live records from offset `start` on. Preamble (8
/// words): `out[0]` = the offset to resume at, `out[1]` = count. Then 8
/// words per record: record offset, flags, page size, 0, page id (low,
/// high), 0, 0 (so the id is `BigUint64Array` element `3 + 4 * (i + 1)`).
/// Returns the count, or a negative status.
#[napi]
pub fn records_fill(slot: u32, start: u32, mut out: Uint32Array) -> i64 {
    // SAFETY: as in `batch`.
    let out = unsafe { out.as_mut() };
    let stride = FILL_STRIDE as usize;
    if out.len() < 2 * stride {
        return STATUS_BAD_ARGS as i64;
    }
    slot_result(slot, |wb| {
        let room = (out.len() / stride).saturating_sub(1);
        let mut iter = wb.records_from(start)?;
        let mut n = 0;
        while n < room {
            let Some(r) = iter.next() else { break };
            let r = r?;
            let e = &mut out[(n + 1) * stride..(n + 2) * stride];
            e.copy_from_slice(&[
                r.offset,
                r.header.flags,
                r.header.page_size,
                0,
                r.header.data as u32,
                (r.header.data >> 32) as u32,
                0,
                0,
            ]);
            n += 1;
        }
        out[0] = iter.offset();
        out[1] = n as u32;
        Ok(n as i64)
    })
}

/// Write-buffer arenas allocated and not yet freed in this process, on
/// every thread (a leak check for tests).
#[napi]
pub fn live_arenas() -> u32 {
    photon_wb_core::live_arenas() as u32
}
