//! The per-thread scratch block through which hot calls pass arguments and
//! results (JS writes `Uint32Array` words, calls a no-argument function,
//! reads words back). One block per thread (isolate), owned by Rust and seen
//! by JS as one external `ArrayBuffer`.

use std::cell::Cell;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

/// `u32` words in the block (4 KiB).
#[napi]
pub const SCRATCH_WORDS: u32 = 1024;
/// Word: the buffer's slot.
#[napi]
pub const S_SLOT: u32 = 0;
/// Words: call-specific `u32` arguments.
#[napi]
pub const S_ARG: u32 = 1;
/// Words 4 and 5: a `u64` argument (low, high), also readable as
/// `BigUint64Array` element 2.
#[napi]
pub const S_U64: u32 = 4;
/// Word: status of the call (`>= 0` success, `< 0` an error code index).
#[napi]
pub const S_STATUS: u32 = 8;
/// Words 9..=11: `u32` results.
#[napi]
pub const S_OUT: u32 = 9;
/// Words 12 and 13: a `u64` result, also `BigUint64Array` element 6.
#[napi]
pub const S_OUT_U64: u32 = 12;

const WORDS: usize = SCRATCH_WORDS as usize;
type Block = [u32; WORDS];

thread_local! {
    static BLOCK: Cell<*mut Block> = const { Cell::new(ptr::null_mut()) };
    static HANDLE: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Runs `f` on this thread's block; `None` before `scratch()` was called.
#[inline]
pub fn with<R>(f: impl FnOnce(&mut Block) -> R) -> Option<R> {
    let p = BLOCK.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is this thread's live block (`scratch` set it; the
    // finalizer clears it before freeing). Only this thread touches it, and
    // no JS runs during a native call, so nothing else accesses it while
    // this `&mut` lives.
    Some(f(unsafe { &mut *p }))
}

/// A `u64` from two scratch words.
#[inline]
pub fn u64_at(s: &Block, at: u32) -> u64 {
    s[at as usize] as u64 | (s[at as usize + 1] as u64) << 32
}

/// Stores a `u64` as two scratch words.
#[inline]
pub fn set_u64(s: &mut Block, at: u32, v: u64) {
    s[at as usize] = v as u32;
    s[at as usize + 1] = (v >> 32) as u32;
}

/// V8's finalizer of the scratch `ArrayBuffer`.
///
/// # Safety
///
/// Called by V8 once, on the thread that made the block, with `data` the
/// `Box<Block>` leaked in [`scratch`].
unsafe extern "C" fn finalize_block(
    _env: sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    let block = data.cast::<Block>();
    let _ = BLOCK.try_with(|b| {
        if b.get() == block {
            b.set(ptr::null_mut());
        }
    });
    // SAFETY: `data` is the `Box<Block>` leaked in `scratch`, and V8 calls
    // this finalizer once, after the ArrayBuffer is unreachable.
    drop(unsafe { Box::from_raw(block) });
}

/// This thread's scratch block as an `ArrayBuffer` (the same one on every
/// call).
#[napi(ts_return_type = "ArrayBuffer")]
pub fn scratch(env: &Env) -> Result<Unknown<'_>> {
    let raw_env = env.raw();
    let existing = HANDLE.with(Cell::get);
    if !existing.is_null() {
        let mut value = ptr::null_mut();
        // SAFETY: `existing` is a strong reference created below in this
        // env (one env per thread for this addon).
        check_status!(unsafe { sys::napi_get_reference_value(raw_env, existing, &mut value) })?;
        if !value.is_null() {
            // SAFETY: `value` is a live napi value of this env.
            return Ok(unsafe { Unknown::from_raw_unchecked(raw_env, value) });
        }
    }
    let block = Box::into_raw(Box::new([0u32; WORDS]));
    let mut value = ptr::null_mut();
    // SAFETY: `block` is a valid allocation of `WORDS * 4` bytes that only
    // the finalizer frees; V8 calls the finalizer once.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            raw_env,
            block.cast(),
            WORDS * 4,
            Some(finalize_block),
            ptr::null_mut(),
            &mut value,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: V8 did not take the block; it is still ours to free.
        drop(unsafe { Box::from_raw(block) });
        return Err(Error::new(
            Status::GenericFailure,
            "this runtime refuses external ArrayBuffers (napi status {status}); photon-write-buffer needs them",
        ));
    }
    let mut handle = ptr::null_mut();
    // SAFETY: `value` was just created in this env.
    check_status!(unsafe { sys::napi_create_reference(raw_env, value, 1, &mut handle) })?;
    HANDLE.with(|h| h.set(handle));
    BLOCK.with(|b| b.set(block));
    // SAFETY: `value` is a live napi value of this env.
    Ok(unsafe { Unknown::from_raw_unchecked(raw_env, value) })
}
