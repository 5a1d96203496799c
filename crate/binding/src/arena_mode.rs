//! Arena modes: `'external'` (the default: Rust owns the arena and JS sees
//! it as an external `ArrayBuffer`) and `'js'` (for runtimes that refuse
//! external buffers, such as Electron's V8 sandbox: JS owns the arena, a
//! zeroed `SharedArrayBuffer`, and Rust borrows its memory).
//!
//! The mode is process-wide and one-way: it starts `'external'` and switches
//! to `'js'` the first time the runtime refuses an external `ArrayBuffer`
//! (`napi_no_external_buffers_allowed`), or when `PHOTON_WB_ARENA=js` forces
//! it at load (`use_js_arena`).
//!
//! Lifetime of borrowed memory (docs/ARCHITECTURE.md, "Arena modes"): Rust
//! touches a borrowed arena only through an `Arc<WriteBuffer>`, and every
//! such `Arc` is paired with a [`Borrow`], a strong napi reference to a
//! `Uint8Array` over that memory: the `NativeBuffer` of each thread (whose
//! registry slot lives exactly as long as it), each `FlushTask` (a
//! `FlushWait` holds only a `Weak`). A `Borrow` keeps its typed array, hence the
//! `SharedArrayBuffer`'s backing store, alive, and it is deleted on the
//! thread that made it, only after the `Arc` it guards can no longer be used
//! by its owner.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, ThreadId};

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use photon_wb_core::{Code, WriteBuffer};

use crate::error::ErrorCode;

/// `true` once the process is in `'js'` mode.
static JS_MODE: AtomicBool = AtomicBool::new(false);

/// The code of the error a refused external buffer turns into (JS catches it
/// and retries in `'js'` mode).
pub const NO_EXTERNAL: &str = Code::NoExternalBuffers.as_str();

/// Whether the process is in `'js'` mode.
// Ordering: Relaxed: the flag publishes no memory. A thread that still
// reads `false` after another switched only tries an external buffer once
// more; both modes are valid at any time, so either answer is safe.
#[inline]
pub fn is_js() -> bool {
    JS_MODE.load(Ordering::Relaxed)
}

/// Switches the process to `'js'` mode, for good.
// Ordering: Relaxed, as in `is_js`.
pub fn switch_to_js() {
    JS_MODE.store(true, Ordering::Relaxed);
}

/// The process-wide arena mode: `'external'` or `'js'`.
#[napi(ts_return_type = "'external' | 'js'")]
pub fn arena_mode() -> &'static str {
    if is_js() {
        "js"
    } else {
        "external"
    }
}

/// Forces `'js'` mode (`PHOTON_WB_ARENA=js`, read by `src/arena-mode.ts` at load).
#[napi]
pub fn use_js_arena() {
    switch_to_js();
}

/// What kind of memory an external `ArrayBuffer` would expose (for the
/// refusal switch of the test build, `test_hooks::simulate_refusal`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Exposed {
    /// A write buffer's arena.
    Arena,
    /// The per-thread scratch block.
    Scratch,
    /// A page file's bytes.
    PageFile,
}

/// `ptr % 16` for the data of a `Uint8Array`, so that JS can place a
/// `'js'` arena on a 16-byte boundary (the core's `ARENA_ALIGN`).
#[napi]
pub fn misalignment(env: &Env, view: Unknown) -> Result<u32, ErrorCode> {
    let (ptr, _, _) = typed_array_bytes(env, &view, "the arena")?;
    Ok((ptr.as_ptr() as usize % photon_wb_core::ARENA_ALIGN) as u32)
}

fn invalid(code: &'static str, message: String) -> Error<ErrorCode> {
    Error::new(ErrorCode(code), message)
}

/// The data pointer and length of a non-empty `Uint8Array` (over an
/// `ArrayBuffer` or a `SharedArrayBuffer`: `napi_get_typedarray_info`
/// accepts both on Node 20, where `napi_get_arraybuffer_info` rejects a
/// `SharedArrayBuffer`). The pointer already includes the view's
/// `byteOffset` (Node's documented contract; `__test__/arena-mode.spec.ts`
/// checks it with a non-zero offset). The flag says whether the array's
/// buffer is a `SharedArrayBuffer` (not an `ArrayBuffer`).
fn typed_array_bytes(
    env: &Env,
    value: &Unknown,
    what: &str,
) -> Result<(NonNull<u8>, usize, bool), ErrorCode> {
    let raw = value.raw();
    let mut is_typed = false;
    // SAFETY: `raw` is a live value of `env` (a call argument).
    let status = unsafe { sys::napi_is_typedarray(env.raw(), raw, &mut is_typed) };
    if status != sys::Status::napi_ok || !is_typed {
        return Err(invalid(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be a Uint8Array"),
        ));
    }
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: `raw` is a typed array of `env` (checked above); every out
    // pointer is a valid local.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env.raw(),
            raw,
            &mut kind,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
        return Err(invalid(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be a Uint8Array"),
        ));
    }
    let mut plain = true;
    // SAFETY: `buffer` is the typed array's live buffer (just returned).
    let status = unsafe { sys::napi_is_arraybuffer(env.raw(), buffer, &mut plain) };
    if status != sys::Status::napi_ok {
        plain = true;
    }
    match NonNull::new(data.cast::<u8>()) {
        Some(p) if len > 0 => Ok((p, len, !plain)),
        _ => Err(invalid(
            Code::InvalidArgValue.as_str(),
            format!("{what} must not be empty (or detached)"),
        )),
    }
}

/// Borrowed JS memory: the data of a `Uint8Array` (in practice over a
/// `SharedArrayBuffer`, which cannot be detached, so the data never moves or
/// goes away while the array lives), plus a strong napi reference that keeps
/// the array alive until this value is dropped.
pub struct Borrow {
    env: sys::napi_env,
    reference: sys::napi_ref,
    thread: ThreadId,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `ptr`/`len` are plain data. The napi handles are used only on the
// thread that created them: `drop` deletes the reference only on that thread
// (elsewhere it leaks it, which only keeps the memory alive longer), and
// `reference()` is read by its creator (`scratch`) on that thread. So moving a `Borrow` to another
// thread (a `FlushTask` computes on libuv's pool) cannot misuse them.
unsafe impl Send for Borrow {}

impl Borrow {
    /// Borrows the bytes of `value`, a `Uint8Array` over a
    /// `SharedArrayBuffer` whose data must be `align`-byte aligned; `what`
    /// names it in errors. A view over a plain `ArrayBuffer` is refused: JS
    /// could detach (transfer) that buffer and free the memory under us,
    /// while a `SharedArrayBuffer` can never be detached.
    pub fn new(env: &Env, value: &Unknown, align: usize, what: &str) -> Result<Self, ErrorCode> {
        let (ptr, len, shared) = typed_array_bytes(env, value, what)?;
        if !shared {
            return Err(invalid(
                "ERR_INVALID_ARG_TYPE",
                format!("{what} must be a Uint8Array over a SharedArrayBuffer"),
            ));
        }
        if !(ptr.as_ptr() as usize).is_multiple_of(align) {
            return Err(invalid(
                Code::InvalidArgValue.as_str(),
                format!("{what} must start on a {align}-byte boundary"),
            ));
        }
        let mut reference = ptr::null_mut();
        // SAFETY: `value` is a live object of `env`; a strong reference
        // (count 1) keeps it alive until `napi_delete_reference`.
        let status =
            unsafe { sys::napi_create_reference(env.raw(), value.raw(), 1, &mut reference) };
        if status != sys::Status::napi_ok {
            return Err(invalid(
                Code::Napi.as_str(),
                format!("could not reference {what} (napi status {status})"),
            ));
        }
        Ok(Borrow {
            env: env.raw(),
            reference,
            thread: thread::current().id(),
            ptr,
            len,
        })
    }

    /// The first byte.
    #[inline]
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Bytes borrowed.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The strong reference (valid while `self` lives).
    #[inline]
    pub fn reference(&self) -> sys::napi_ref {
        self.reference
    }
}

impl Drop for Borrow {
    fn drop(&mut self) {
        if thread::current().id() != self.thread {
            // Never happens (see `Send`); leaking keeps the memory alive,
            // which is always safe.
            return;
        }
        // SAFETY: `reference` was created in `env` on this thread and is
        // deleted once, here. Deleting a reference is allowed in finalizers
        // and during environment teardown (Node then has only unlinked it).
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

/// The [`Borrow`] that must accompany a new `Arc` of `buffer` when its arena
/// is borrowed: a reference to `arena`, which must be a `Uint8Array` over
/// exactly that memory. `None` for a buffer with its own arena.
///
/// Why the check makes the reference equivalent to the buffer's own: the
/// buffer is reachable here through an `Arc`, and every `Arc` of a borrowed
/// buffer is paired with a live `Borrow` (module docs), so its memory is
/// alive right now and no other allocation can sit at that address; a view
/// with the same pointer and length is a view of that very memory, and
/// referencing it keeps it alive from now on.
pub fn keep_for(
    env: &Env,
    buffer: &WriteBuffer,
    arena: Option<&Unknown>,
    what: &str,
) -> Result<Option<Borrow>, ErrorCode> {
    if !buffer.is_borrowed() {
        return Ok(None);
    }
    let Some(arena) = arena else {
        return Err(invalid(
            Code::InvalidArgValue.as_str(),
            format!("{what}: the buffer's arena is a SharedArrayBuffer ('js' arena mode): pass it along"),
        ));
    };
    let keep = Borrow::new(env, arena, 1, what)?;
    if keep.ptr().as_ptr() != buffer.arena_ptr() || keep.len() != buffer.capacity() as usize {
        return Err(invalid(
            Code::InvalidArgValue.as_str(),
            format!("{what}: the SharedArrayBuffer is not this buffer's arena"),
        ));
    }
    Ok(Some(keep))
}
