//! Per-thread table of the buffers this isolate uses, so that scratch calls
//! can name a buffer by a small integer (its slot) instead of passing an
//! object through napi; and of the writer counts this thread holds on them.
//!
//! A writer count belongs to the thread (environment) that acquired it,
//! through the object (slot) it acquired it with: `releaseWriter()` and
//! `lane.close()` on that thread release it (the most recent one first),
//! and whatever is still held when the object is disposed or collected, or
//! when the environment goes away (a worker exits or is terminated), is
//! given up with [`WriteBuffer::abandon_writer`]: the records it covers
//! become tombstones, then the count is released, so the buffer becomes
//! flushable for the other threads. A thread cannot release a count it does
//! not hold (`NoWriter`): it would make the buffer flushable under another
//! thread's unfinished record.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use photon_wb_core::{Error as CoreError, ReleaseState, Result as CoreResult, WriteBuffer};

/// One writer count held by this thread: the range it reserved (a page, a
/// batch, a lane; empty for a bare `acquire()`), and the records reserved
/// without a count of their own while it was the most recent one.
#[derive(Debug)]
pub struct Hold {
    start: u32,
    end: u32,
    extra: Vec<u32>,
}

impl Hold {
    /// A count that covers `[start, end)`.
    pub fn new(start: u32, end: u32) -> Self {
        Hold {
            start,
            end,
            extra: Vec::new(),
        }
    }

    /// Whether this is the count of the lane `[.., end)` whose cursor is
    /// `cursor` (a lane's range starts where it was reserved).
    pub fn covers(&self, cursor: u32, end: u32) -> bool {
        self.end == end && self.start <= cursor
    }
}

struct Entry {
    buffer: Arc<WriteBuffer>,
    holds: Vec<Hold>,
}

impl Entry {
    /// Gives up every count still held (records tombstoned first).
    fn abandon(&mut self) {
        while let Some(h) = self.holds.pop() {
            // An error means the count is already gone (cannot happen while
            // the table is right); nothing else is left to do then.
            let _ = self.buffer.abandon_writer(h.start, h.end, &h.extra);
        }
    }
}

#[derive(Default)]
struct Slots {
    list: Vec<Option<Entry>>,
    free: Vec<u32>,
}

thread_local! {
    static SLOTS: RefCell<Slots> = RefCell::default();
    /// Whether this thread's environment cleanup hook is installed.
    static HOOKED: Cell<bool> = const { Cell::new(false) };
}

/// Environment cleanup hook: the environment (a worker, or the main thread
/// at exit) is going away with whatever writer counts it still holds:
/// give them up. It runs before napi finalizes the environment's objects
/// (hooks run last-added first, and this one is added after the addon's
/// environment was made), so every `NativeBuffer` — and in the `'js'` arena
/// mode the reference to its arena — is still alive. A safe function (it
/// only touches this thread's table), coerced to napi's pointer type.
extern "C" fn abandon_all(_arg: *mut std::ffi::c_void) {
    let _ = SLOTS.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            for entry in s.list.iter_mut().flatten() {
                entry.abandon();
            }
        }
    });
}

/// Installs [`abandon_all`] for this thread's environment, once.
fn hook(env: &Env) -> Result<()> {
    if HOOKED.with(Cell::get) {
        return Ok(());
    }
    // SAFETY: a cleanup hook with a static function and no argument; napi
    // runs it on this thread when the environment is torn down.
    let status = unsafe {
        sys::napi_add_env_cleanup_hook(
            env.raw(),
            Some(abandon_all as unsafe extern "C" fn(*mut std::ffi::c_void)),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            Status::GenericFailure,
            format!("could not add a cleanup hook (napi status {status})"),
        ));
    }
    HOOKED.with(|h| h.set(true));
    Ok(())
}

/// Registers a buffer for this thread; returns its slot.
pub fn insert(env: &Env, buffer: Arc<WriteBuffer>) -> Result<u32> {
    hook(env)?;
    let entry = Entry {
        buffer,
        holds: Vec::new(),
    };
    Ok(SLOTS.with_borrow_mut(|s| match s.free.pop() {
        Some(slot) => {
            s.list[slot as usize] = Some(entry);
            slot
        }
        None => {
            s.list.push(Some(entry));
            (s.list.len() - 1) as u32
        }
    }))
}

/// Forgets a slot (its owner object was disposed or collected), giving up
/// the writer counts acquired through it: no call can release them any
/// more. The caller still holds whatever keeps a borrowed arena alive.
/// Quietly does nothing while the thread is being torn down.
pub fn remove(slot: u32) {
    let entry = SLOTS
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let entry = s.list.get_mut(slot as usize)?.take()?;
            s.free.push(slot);
            Some(entry)
        })
        .ok()
        .flatten();
    if let Some(mut entry) = entry {
        // Outside the table's borrow: nothing here calls back into it, but
        // the table is free again either way.
        entry.abandon();
    }
}

/// Runs `f` on the buffer in `slot`; `None` if the slot is empty.
/// `f` must not register or remove slots.
#[inline]
pub fn with<R>(slot: u32, f: impl FnOnce(&WriteBuffer) -> R) -> Option<R> {
    SLOTS.with_borrow(|s| {
        s.list
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|e| f(&e.buffer))
    })
}

/// Runs `f` on the buffer in `slot` and this thread's counts on it through
/// that slot (most recent last); `None` if the slot is empty. `f` must not
/// register or remove slots.
#[inline]
pub fn with_holds<R>(slot: u32, f: impl FnOnce(&WriteBuffer, &mut Vec<Hold>) -> R) -> Option<R> {
    SLOTS.with_borrow_mut(|s| {
        s.list
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .map(|e| f(&e.buffer, &mut e.holds))
    })
}

/// Records `record` (reserved without a count of its own) under the most
/// recent count this thread holds through `slot`, if any: it is part of
/// that writer's work.
#[inline]
pub fn note_uncounted(holds: &mut [Hold], record: u32) {
    if let Some(h) = holds.last_mut() {
        h.extra.push(record);
    }
}

/// Releases a count this thread holds on the buffer in `slot`: the first
/// one (most recent first) that `pick` accepts, through `slot` or else
/// through another slot of this thread over the same buffer; `NoWriter`
/// when it holds none. `None` if the slot is empty.
pub fn release(
    slot: u32,
    pick: impl Fn(&Hold) -> bool,
    then: impl FnOnce(&WriteBuffer) -> CoreResult<ReleaseState>,
) -> Option<CoreResult<ReleaseState>> {
    SLOTS.with_borrow_mut(|s| {
        let own = s.list.get_mut(slot as usize)?.as_mut()?;
        // The usual case: the most recent count held through this slot.
        if own.holds.last().is_some_and(&pick) {
            let r = then(&own.buffer);
            if r.is_ok() {
                own.holds.pop();
            }
            return Some(r);
        }
        // Else an older one through this slot, or (rare) one held through
        // another slot of this thread over the same buffer.
        let buffer = Arc::as_ptr(&own.buffer);
        let at = s.list.iter().enumerate().find_map(|(i, e)| {
            let e = e
                .as_ref()
                .filter(|e| ptr::eq(Arc::as_ptr(&e.buffer), buffer))?;
            Some((i, e.holds.iter().rposition(&pick)?))
        });
        let Some((i, k)) = at else {
            return Some(Err(CoreError::NoWriter));
        };
        let entry = s.list[i].as_mut().expect("found above");
        // Release first: if it fails (it cannot while the table is right)
        // the count is still recorded.
        let r = then(&entry.buffer);
        if r.is_ok() {
            entry.holds.remove(k);
        }
        Some(r)
    })
}

/// A new strong reference to the buffer in `slot`.
pub fn get(slot: u32) -> Option<Arc<WriteBuffer>> {
    SLOTS.with_borrow(|s| {
        s.list
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|e| e.buffer.clone())
    })
}
