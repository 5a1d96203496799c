//! The per-thread scratch block through which hot calls pass arguments and
//! results (JS writes `Uint32Array` words, calls a no-argument function,
//! reads words back). One block per thread (isolate), owned by Rust and seen
//! by JS as one external `ArrayBuffer`; in the `'js'` arena mode, a
//! `SharedArrayBuffer` that JS allocates and Rust borrows for the rest of
//! the thread's life (a strong reference, dropped by an environment cleanup
//! hook that also forgets the pointer). Its words are named in `layout`.

use std::cell::{Cell, RefCell};
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::arena_mode::{self, Borrow, Exposed, NO_EXTERNAL};
use photon_wb_core::Code;

use crate::error::ErrorCode;
use crate::layout::SCRATCH_WORDS;

const WORDS: usize = SCRATCH_WORDS as usize;
type Block = [u32; WORDS];

thread_local! {
    static BLOCK: Cell<*mut Block> = const { Cell::new(ptr::null_mut()) };
    static HANDLE: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
    /// `'js'` mode: the borrowed block (its reference is also `HANDLE`).
    static BORROWED: RefCell<Option<Borrow>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's block; `None` before `scratch()` was called.
#[inline]
pub fn with<R>(f: impl FnOnce(&mut Block) -> R) -> Option<R> {
    let p = BLOCK.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is this thread's live block (`scratch` set it; the
    // finalizer clears it before freeing; a borrowed 'js' block is kept
    // alive by a strong reference until the cleanup hook, which clears it
    // first, and a SharedArrayBuffer cannot be detached meanwhile). Only this thread touches it, and
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

/// Environment cleanup hook of a borrowed block: forgets the pointer, then
/// deletes the reference (the `SharedArrayBuffer` may go after this). A safe
/// function (it only touches this thread's cells), coerced to the unsafe
/// function pointer napi asks for.
extern "C" fn forget_borrowed(_arg: *mut std::ffi::c_void) {
    let _ = BLOCK.try_with(|b| b.set(ptr::null_mut()));
    let _ = HANDLE.try_with(|h| h.set(ptr::null_mut()));
    let _ = BORROWED.try_with(|b| b.borrow_mut().take());
}

/// This thread's scratch block (the same one on every call): an external
/// `ArrayBuffer`, or in the `'js'` arena mode `fallback` itself, a
/// `Uint8Array` of `SCRATCH_WORDS * 4` bytes over a `SharedArrayBuffer`,
/// which Rust then borrows. Without `fallback` in `'js'` mode (also when
/// this call is the first to meet a runtime that refuses external buffers)
/// it fails with `ERR_NO_EXTERNAL_BUFFERS`: call again with one.
#[napi(ts_return_type = "ArrayBuffer | Uint8Array")]
pub fn scratch<'env>(
    env: &'env Env,
    fallback: Option<Unknown<'env>>,
) -> Result<Unknown<'env>, ErrorCode> {
    let raw_env = env.raw();
    let existing = HANDLE.with(Cell::get);
    if !existing.is_null() {
        let mut value = ptr::null_mut();
        // SAFETY: `existing` is a strong reference created below in this
        // env (one env per thread for this addon).
        let status = unsafe { sys::napi_get_reference_value(raw_env, existing, &mut value) };
        if status == sys::Status::napi_ok && !value.is_null() {
            // SAFETY: `value` is a live napi value of this env.
            return Ok(unsafe { Unknown::from_raw_unchecked(raw_env, value) });
        }
    }
    if !arena_mode::is_js() {
        match external_block(env) {
            Err(e) if e.status.0 == NO_EXTERNAL => {} // now in 'js' mode
            other => return other,
        }
    }
    let Some(fallback) = fallback else {
        return Err(Error::new(
            ErrorCode(NO_EXTERNAL),
            "the 'js' arena mode needs a JS-owned scratch block",
        ));
    };
    let keep = Borrow::new(
        env,
        &fallback,
        std::mem::align_of::<Block>(),
        "the scratch block",
    )?;
    if keep.len() != WORDS * 4 {
        return Err(Error::new(
            ErrorCode(Code::InvalidArgValue.as_str()),
            format!("the scratch block must be {} bytes", WORDS * 4),
        ));
    }
    // SAFETY: a cleanup hook with a static function and no argument; it
    // runs on this thread when the environment is torn down.
    let status = unsafe {
        sys::napi_add_env_cleanup_hook(
            raw_env,
            Some(forget_borrowed as unsafe extern "C" fn(*mut std::ffi::c_void)),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            ErrorCode(Code::Napi.as_str()),
            format!("could not add a cleanup hook (napi status {status})"),
        ));
    }
    // The block is a `[u32; WORDS]` at a 4-aligned pointer (checked by
    // `Borrow::new`), valid while `keep` lives: until the cleanup hook,
    // which clears `BLOCK` first. Every word pattern is a valid `u32`.
    BLOCK.with(|b| b.set(keep.ptr().as_ptr().cast::<Block>()));
    HANDLE.with(|h| h.set(keep.reference()));
    BORROWED.with(|b| *b.borrow_mut() = Some(keep));
    Ok(fallback)
}

/// A new external scratch block, or `ERR_NO_EXTERNAL_BUFFERS` (and the
/// process in `'js'` mode) if the runtime refuses it.
fn external_block(env: &Env) -> Result<Unknown<'_>, ErrorCode> {
    let raw_env = env.raw();
    let block = Box::into_raw(Box::new([0u32; WORDS]));
    let mut value = ptr::null_mut();
    let status = if crate::test_hooks::simulate_refusal(Exposed::Scratch) {
        sys::Status::napi_no_external_buffers_allowed
    } else {
        // SAFETY: `block` is a valid allocation of `WORDS * 4` bytes that
        // only the finalizer frees; V8 calls the finalizer once.
        unsafe {
            sys::napi_create_external_arraybuffer(
                raw_env,
                block.cast(),
                WORDS * 4,
                Some(finalize_block),
                ptr::null_mut(),
                &mut value,
            )
        }
    };
    if status != sys::Status::napi_ok {
        // SAFETY: V8 did not take the block; it is still ours to free.
        drop(unsafe { Box::from_raw(block) });
        if status == sys::Status::napi_no_external_buffers_allowed {
            arena_mode::switch_to_js();
            return Err(Error::new(
                ErrorCode(NO_EXTERNAL),
                "this runtime refuses external ArrayBuffers",
            ));
        }
        return Err(Error::new(
            ErrorCode(Code::Napi.as_str()),
            format!("could not create the scratch block (napi status {status})"),
        ));
    }
    let mut handle = ptr::null_mut();
    // SAFETY: `value` was just created in this env.
    let status = unsafe { sys::napi_create_reference(raw_env, value, 1, &mut handle) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            ErrorCode(Code::Napi.as_str()),
            format!("could not reference the scratch block (napi status {status})"),
        ));
    }
    HANDLE.with(|h| h.set(handle));
    BLOCK.with(|b| b.set(block));
    // SAFETY: `value` is a live napi value of this env.
    Ok(unsafe { Unknown::from_raw_unchecked(raw_env, value) })
}
