//! External `ArrayBuffer`s over memory that an `Arc` keeps alive: the
//! arena of a write buffer, the bytes of a page file. The `ArrayBuffer`
//! holds its own clone of the `Arc`, dropped by V8's finalizer, so the
//! memory outlives every view made from it, on every thread.

use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;

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
/// # Safety
///
/// `data` is valid for reads and writes of `len > 0` bytes for as long as
/// `owner` (any clone of it) lives, and does not move meanwhile.
pub unsafe fn array_buffer<'env, T: Send + Sync + 'static>(
    env: &'env Env,
    owner: &Arc<T>,
    data: *mut u8,
    len: usize,
    what: &str,
) -> Result<Unknown<'env>> {
    let hint = Box::into_raw(Box::new(owner.clone()));
    let mut value = ptr::null_mut();
    // SAFETY: the caller guarantees `data`/`len` stay valid while the `Arc`
    // in `hint` lives; `finalize::<T>` drops it only once V8 no longer
    // references the ArrayBuffer.
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
        return Err(Error::new(
            Status::GenericFailure,
            format!("could not expose {what} as an external ArrayBuffer (napi status {status}): this runtime may forbid external buffers"),
        ));
    }
    // SAFETY: `value` is a live napi value of this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}
