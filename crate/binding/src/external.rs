//! External `ArrayBuffer`s over memory that an `Arc` keeps alive: the
//! arena of a write buffer, the bytes of a page file. The `ArrayBuffer`
//! holds its own clone of the `Arc` (in a [`Keep`]), dropped by V8's
//! finalizer, so the memory outlives every view made from it, on every
//! thread — or dropped at once by [`detach`], which first cuts the
//! `ArrayBuffer` (and so every view) off the memory.
//!
//! A runtime that refuses external buffers (`napi_no_external_buffers_allowed`,
//! Electron's V8 sandbox) switches the process to the `'js'` arena mode
//! (`arena_mode`); [`copy`] is the JS-owned alternative for page files.

use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::sys;

use photon_wb_core::Code;

use crate::arena_mode::{self, Exposed, NO_EXTERNAL};
use crate::error::ErrorCode;

/// The reference an external `ArrayBuffer` holds on its owner: taken by the
/// finalizer, or earlier by [`detach`].
pub struct Keep<T>(Mutex<Option<Arc<T>>>);

impl<T> Keep<T> {
    /// Drops the reference now (idempotent).
    fn release(&self) {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(taken);
    }
}

/// V8's finalizer of an `ArrayBuffer` made by [`array_buffer`].
///
/// # Safety
///
/// Called by V8 once, with the `hint` given to
/// `napi_create_external_arraybuffer`: a leaked `Box<Arc<Keep<T>>>`.
unsafe extern "C" fn finalize<T>(
    _env: sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Box<Arc<Keep<T>>>` leaked in `array_buffer::<T>`;
    // V8 calls this finalizer once, after the ArrayBuffer is unreachable.
    let keep = unsafe { Box::from_raw(hint.cast::<Arc<Keep<T>>>()) };
    // Release the owner itself, not just this handle on the `Keep`: the
    // object that made the ArrayBuffer may hold the `Keep` longer.
    keep.release();
}

/// A tag that marks one `ArrayBuffer` as made by this addon for one owner,
/// so that [`detach`] only ever cuts the `ArrayBuffer` it was given for.
fn new_tag() -> sys::napi_type_tag {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Ordering: Relaxed: only distinct values are needed.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    sys::napi_type_tag {
        lower: n,
        upper: 0x7068_6f74_6f6e_7762, // "photonwb"
    }
}

/// An external `ArrayBuffer` over `len` bytes at `data`, owned by `owner`,
/// with the tag that [`detach`] checks and the [`Keep`] it releases.
///
/// When the runtime refuses external buffers (or the test-only switch
/// `PHOTON_WB_SIMULATE_NO_EXTERNAL` says to act as if it did), the process
/// switches to the `'js'` arena mode and this fails with code
/// `ERR_NO_EXTERNAL_BUFFERS`, which callers turn into their JS-owned path.
///
/// # Safety
///
/// `data` is valid for reads and writes of `len > 0` bytes for as long as
/// `owner` (any clone of it) lives, and does not move meanwhile.
pub unsafe fn array_buffer<'env, T: Send + Sync + 'static>(
    env: &'env Env,
    owner: &Arc<T>,
    data: *mut u8,
    len: usize,
    kind: Exposed,
    what: &str,
) -> Result<(Unknown<'env>, Tagged<T>), ErrorCode> {
    let keep = Arc::new(Keep(Mutex::new(Some(owner.clone()))));
    let mut value = ptr::null_mut();
    let status = if crate::test_hooks::simulate_refusal(kind) {
        sys::Status::napi_no_external_buffers_allowed
    } else {
        let hint = Box::into_raw(Box::new(keep.clone()));
        // SAFETY: the caller guarantees `data`/`len` stay valid while the
        // `Arc` in `hint` lives; `finalize::<T>` drops it only once V8 no
        // longer references the ArrayBuffer (and `detach` only after
        // cutting it off).
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                env.raw(),
                data.cast(),
                len,
                Some(finalize::<T>),
                hint.cast(),
                &mut value,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: V8 did not take `hint`; reclaim it.
            drop(unsafe { Box::from_raw(hint) });
        }
        status
    };
    if status == sys::Status::napi_no_external_buffers_allowed {
        arena_mode::switch_to_js();
        return Err(Error::new(
            ErrorCode(NO_EXTERNAL),
            format!("this runtime refuses external ArrayBuffers (napi status {status}) for {what}: switched to the 'js' arena mode"),
        ));
    }
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            ErrorCode(Code::Napi.as_str()),
            format!("could not expose {what} as an external ArrayBuffer (napi status {status})"),
        ));
    }
    let tag = new_tag();
    // SAFETY: `value` is the live ArrayBuffer just made in this env and
    // `tag` outlives the call (napi copies it).
    let status = unsafe { sys::napi_type_tag_object(env.raw(), value, &tag) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            ErrorCode(Code::Napi.as_str()),
            format!("could not tag the ArrayBuffer of {what} (napi status {status})"),
        ));
    }
    // SAFETY: `value` is a live napi value of this env.
    let value = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
    Ok((value, Tagged { tag, keep }))
}

/// What [`detach`] needs to know about an `ArrayBuffer` made by
/// [`array_buffer`]: its tag and the reference it holds.
pub struct Tagged<T> {
    tag: sys::napi_type_tag,
    keep: Arc<Keep<T>>,
}

/// Detaches `value` if it is the `ArrayBuffer` that `tagged` describes, then
/// drops its reference to the owner at once: every view of it is empty from
/// now on, so nothing in JS reaches the memory through it any more. Returns
/// whether it did; anything else is left alone (its finalizer will drop
/// its reference).
///
/// # Safety
///
/// `value` is a live napi value of `env`.
pub unsafe fn detach<T>(env: &Env, value: Unknown, tagged: &Tagged<T>) -> Result<bool> {
    let raw = value.raw();
    let mut ours = false;
    // SAFETY: `raw` is a live value of `env` (caller's contract); a
    // non-object simply fails the check.
    let status = unsafe { sys::napi_check_object_type_tag(env.raw(), raw, &tagged.tag, &mut ours) };
    if status != sys::Status::napi_ok || !ours {
        return Ok(false);
    }
    // SAFETY: `raw` is our external ArrayBuffer (its tag says so);
    // detaching only drops V8's reference to the backing store.
    let status = unsafe { sys::napi_detach_arraybuffer(env.raw(), raw) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            Status::GenericFailure,
            format!("could not detach the arena's ArrayBuffer (napi status {status})"),
        ));
    }
    // The ArrayBuffer no longer points at the memory and views of it are
    // empty: its reference is no longer needed.
    tagged.keep.release();
    Ok(true)
}

/// A JS-owned `ArrayBuffer` holding a copy of `bytes` (`len > 0`): what the
/// `'js'` arena mode hands out instead of an external buffer over Rust
/// memory (page files).
pub fn copy<'env>(env: &'env Env, bytes: &[u8]) -> Result<Unknown<'env>> {
    let mut data = ptr::null_mut();
    let mut value = ptr::null_mut();
    // SAFETY: out pointers are valid locals; V8 allocates and owns the memory.
    check_status!(unsafe {
        sys::napi_create_arraybuffer(env.raw(), bytes.len(), &mut data, &mut value)
    })?;
    if !bytes.is_empty() {
        // SAFETY: `data` is the new ArrayBuffer's `bytes.len()` bytes, which
        // no JS can see yet; `bytes` is a distinct Rust allocation.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), bytes.len()) };
    }
    // SAFETY: `value` is a live napi value of this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// Bytes reported to one isolate's GC as external memory
/// (`napi_adjust_external_memory`) for as long as this value lives, and
/// given back, on the same env, when it drops — unless that env is gone.
///
/// Why only some bytes, and per isolate (docs/ARCHITECTURE.md, "Arena
/// memory"): Node already reports every external `ArrayBuffer` to the
/// isolate that made it, for its whole life (`napi_create_external_arraybuffer`
/// adjusts by its length and gives it back when it is freed; measured with
/// the counter this call reads), and each `NativeBuffer` makes one over
/// its arena on its own thread: charging that arena again would count it
/// twice. What V8 does not see is the record-start map (capacity / 16
/// bytes, in both modes) and, in the `'js'` mode, the arena itself: a
/// `SharedArrayBuffer`'s memory is charged to no isolate's counter
/// (measured: creating a 16 MiB `'js'` buffer moved it by the start map only).
/// Each `NativeBuffer` charges those here to its own isolate: every isolate
/// that holds a buffer keeps it alive, so each one's GC should feel its
/// weight.
///
/// The adjustment must be undone on the env that made it: a charge records
/// its env and thread, and drops (from a finalizer or `dispose`, both on
/// that thread) undo it there. A worker's env may be torn down first: an
/// env cleanup hook marks it gone, and later drops skip the undo (the
/// isolate and its counter are going away with it).
pub struct ExternalCharge {
    env: sys::napi_env,
    /// Which registration of `env` this charge belongs to (an env pointer
    /// could in principle be reused after teardown).
    generation: u64,
    bytes: i64,
    thread: std::thread::ThreadId,
}

// SAFETY: the env handle is used only on the thread that made the charge
// (`drop` checks it and otherwise only forgets the bytes).
unsafe impl Send for ExternalCharge {}

thread_local! {
    /// The envs of this thread with a live registration: env → (generation,
    /// bytes charged and not given back).
    static CHARGED: std::cell::RefCell<std::collections::HashMap<usize, (u64, i64)>> =
        std::cell::RefCell::default();
}

/// Env cleanup hook: the env is being torn down; forget it.
///
/// # Safety
///
/// Called by Node once, on the env's thread, with the env pointer as `arg`.
unsafe extern "C" fn env_gone(arg: *mut std::ffi::c_void) {
    let _ = CHARGED.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.remove(&(arg as usize));
        }
    });
}

impl ExternalCharge {
    /// Reports `bytes` to the isolate of `env` (on this, its thread).
    pub fn new(env: &Env, bytes: usize) -> Self {
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        let raw = env.raw();
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let generation = CHARGED.with_borrow_mut(|c| {
            if let Some((generation, total)) = c.get_mut(&(raw as usize)) {
                *total += bytes;
                return Some(*generation);
            }
            // Ordering: Relaxed: only distinct values are needed.
            let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `raw` is the live env of this call; Node calls the
            // hook once at its teardown, with `raw` as the argument.
            let status = unsafe { sys::napi_add_env_cleanup_hook(raw, Some(env_gone), raw.cast()) };
            if status != sys::Status::napi_ok {
                return None;
            }
            c.insert(raw as usize, (generation, bytes));
            Some(generation)
        });
        let Some(generation) = generation else {
            // Without a hook the undo could outlive the env: charge nothing.
            return ExternalCharge {
                env: raw,
                generation: 0,
                bytes: 0,
                thread: std::thread::current().id(),
            };
        };
        let mut total = 0i64;
        // SAFETY: `raw` is the live env of this call, on its thread; `total`
        // is a valid out pointer (Node 20 requires one).
        unsafe { sys::napi_adjust_external_memory(raw, bytes, &mut total) };
        ExternalCharge {
            env: raw,
            generation,
            bytes,
            thread: std::thread::current().id(),
        }
    }
}

impl Drop for ExternalCharge {
    fn drop(&mut self) {
        if self.bytes == 0 || std::thread::current().id() != self.thread {
            return;
        }
        let live = CHARGED
            .try_with(|c| {
                let Ok(mut c) = c.try_borrow_mut() else {
                    return false;
                };
                match c.get_mut(&(self.env as usize)) {
                    Some((generation, total)) if *generation == self.generation => {
                        *total -= self.bytes;
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false);
        if live {
            let mut total = 0i64;
            // SAFETY: the env is registered under this charge's generation,
            // so its cleanup hook has not run: it is alive, and this is its
            // thread (checked above).
            unsafe { sys::napi_adjust_external_memory(self.env, -self.bytes, &mut total) };
        }
    }
}
