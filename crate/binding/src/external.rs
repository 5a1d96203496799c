//! External `ArrayBuffer`s over memory that an `Arc` keeps alive: the
//! arena of a write buffer, the bytes of a page file. The `ArrayBuffer`
//! holds its own clone of the `Arc`, dropped by V8's finalizer, so the
//! memory outlives every view made from it, on every thread.
//!
//! A runtime that refuses external buffers (`napi_no_external_buffers_allowed`,
//! Electron's V8 sandbox) switches the process to the `'js'` arena mode
//! (`arena_mode`); [`copy`] is the JS-owned alternative for page files.

use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::arena_mode::{self, Exposed, NO_EXTERNAL};
use crate::error::ErrorCode;

/// V8's finalizer of an `ArrayBuffer` made by [`array_buffer`].
///
/// # Safety
///
/// Called by V8 once, with the `hint` given to
/// `napi_create_external_arraybuffer`: a leaked `Box<Arc<T>>`.
unsafe extern "C" fn finalize<T>(
    _env: sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Box<Arc<T>>` leaked in `array_buffer::<T>`; V8
    // calls this finalizer once, after the ArrayBuffer is unreachable.
    drop(unsafe { Box::from_raw(hint.cast::<Arc<T>>()) });
}

/// An external `ArrayBuffer` over `len` bytes at `data`, owned by `owner`.
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
) -> Result<Unknown<'env>, ErrorCode> {
    let mut value = ptr::null_mut();
    let status = if arena_mode::simulate_refusal(kind) {
        sys::Status::napi_no_external_buffers_allowed
    } else {
        let hint = Box::into_raw(Box::new(owner.clone()));
        // SAFETY: the caller guarantees `data`/`len` stay valid while the
        // `Arc` in `hint` lives; `finalize::<T>` drops it only once V8 no
        // longer references the ArrayBuffer.
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
            ErrorCode("ERR_NAPI"),
            format!("could not expose {what} as an external ArrayBuffer (napi status {status})"),
        ));
    }
    // SAFETY: `value` is a live napi value of this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
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
