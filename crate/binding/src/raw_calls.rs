//! The scratch calls as plain N-API callbacks.
//!
//! A `#[napi]` function that takes no argument still runs napi-rs's
//! per-call bookkeeping (a native-borrow barrier pushed and popped on
//! thread-local stacks, the `()` result converted to `undefined`), which
//! costs more than a reservation itself (`allocPage` + copy of 100 B: 77 ns
//! of CPU with it, 59 without). The scratch calls take no argument and
//! return nothing (`scratch`), so once the module's exports are registered
//! each is replaced by a bare callback that calls the very same function
//! and returns null (N-API turns it into `undefined`). The `#[napi]`
//! declarations stay: they give the loader (`binding.js`) and the types
//! (`binding.d.ts`) the names.
//!
//! Panics: like the `#[napi]` wrapper (built without `catch_unwind`), a
//! panic cannot unwind out of an `extern "C"` callback and aborts; the core
//! returns errors as statuses in the scratch block and does not panic on
//! any input.

use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

/// Declares a bare callback per scratch call and [`RAW`], the list of them
/// by export name.
macro_rules! raw_calls {
    ($($js:literal => $f:ident),* $(,)?) => {
        /// The bare callbacks, each calling its `#[napi]` function.
        ///
        /// SAFETY: `unsafe extern "C"` only because that is the type N-API
        /// takes for a callback (`napi_callback`): the bodies dereference
        /// neither pointer and call a safe function (which reads its arguments
        /// from this thread's scratch block), so no caller has a contract to
        /// keep.
        mod callbacks {
            use napi::sys;
            $(
                pub(super) unsafe extern "C" fn $f(
                    _env: sys::napi_env,
                    _info: sys::napi_callback_info,
                ) -> sys::napi_value {
                    crate::buffer::$f();
                    std::ptr::null_mut()
                }
            )*
        }
        /// Every replaced call: its export name and bare callback.
        const RAW: &[(&std::ffi::CStr, sys::napi_callback)] = &[$(($js, Some(callbacks::$f))),*];
    };
}

raw_calls! {
    c"fastAlloc" => fast_alloc,
    c"fastHeader" => fast_header,
    c"fastLaneMark" => fast_lane_mark,
    c"fastLaneClose" => fast_lane_close,
    c"fastLaneReserve" => fast_lane_reserve,
    c"fastLocate" => fast_locate,
    c"fastMark" => fast_mark,
    c"fastMarkRange" => fast_mark_range,
    c"fastMarkRelease" => fast_mark_release,
    c"fastOnFlushed" => fast_on_flushed,
    c"fastRelease" => fast_release,
    c"fastSeal" => fast_seal,
    c"fastSetPageId" => fast_set_page_id,
    c"fastSetTombstone" => fast_set_tombstone,
    c"fastState" => fast_state,
}

/// Replaces the exports named in [`RAW`] by their bare callbacks (runs once
/// per environment, after napi-rs registered every `#[napi]` export).
#[napi(module_exports)]
pub fn raw_scratch_calls(exports: Object, env: Env) -> Result<()> {
    for &(name, cb) in RAW {
        let mut f = ptr::null_mut();
        // SAFETY: `env` is the environment registering this module, on its
        // thread; `name` points to `len` bytes of a live string; `cb` is an `extern "C"` callback with the N-API
        // signature that ignores its (null) data; `f` receives the function.
        let status = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr(),
                name.count_bytes() as isize,
                cb,
                ptr::null_mut(),
                &mut f,
            )
        };
        check_status!(status, "napi_create_function {name:?}")?;
        // SAFETY: `exports` is the module's exports object, `f` the function
        // just created in this environment, `name` NUL-terminated.
        let status =
            unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), f) };
        check_status!(status, "napi_set_named_property {name:?}")?;
    }
    Ok(())
}
