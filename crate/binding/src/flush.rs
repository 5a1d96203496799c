//! Flush waits: a JS promise per waiter, resolved from whichever thread
//! calls `onFlushed`.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::JsDeferred;
use napi_derive::napi;
use photon_wb_core::{Code, Subscription, WriteBuffer};

use crate::arena_mode::{self, Borrow};
use crate::error::{coded, ErrorCode};
use crate::registry;

type Resolver = fn(Env) -> Result<bool>;
type Pending = Arc<Mutex<Option<JsDeferred<bool, Resolver>>>>;

fn settle(pending: &Pending, flushed: bool) {
    let taken = pending.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(d) = taken {
        d.resolve(if flushed { |_| Ok(true) } else { |_| Ok(false) });
    }
}

/// One pending flush wait; `cancel()` settles its promise with `false`.
#[napi]
pub struct FlushWait {
    buffer: Arc<WriteBuffer>,
    pending: Pending,
    id: Option<u64>,
    /// For a borrowed (`'js'`) arena: pairs `buffer` with a reference to
    /// the arena (every `Arc` of a borrowed buffer has one; see
    /// `arena_mode`), deleted on this thread when the wait is collected.
    /// The wait itself never touches the arena.
    _keep: Option<Borrow>,
}

#[napi]
impl FlushWait {
    /// Cancels the wait if it is still pending; returns whether it was.
    #[napi]
    pub fn cancel(&mut self) -> bool {
        let was_waiting = self
            .id
            .take()
            .is_some_and(|id| self.buffer.unsubscribe_flushed(id));
        if was_waiting {
            settle(&self.pending, false);
        }
        was_waiting
    }
}

/// Starts a flush wait on the buffer in `slot`: returns
/// `{ promise, wait }`, where `promise` resolves `true` once the buffer is
/// flushed (at once if it already is) and `wait.cancel()` resolves it
/// `false` instead.
///
/// A pending wait keeps the event loop alive, like pending I/O. In the
/// `'js'` arena mode, `arena` is the `Uint8Array` over the buffer's arena.
#[napi(ts_return_type = "{ promise: Promise<boolean>; wait: FlushWait }")]
pub fn wait_flushed<'env>(
    env: &'env Env,
    slot: u32,
    arena: Option<Unknown>,
) -> Result<Object<'env>, ErrorCode> {
    let buffer = registry::get(slot).ok_or_else(|| coded(Code::Closed, Code::Closed.message()))?;
    let keep = arena_mode::keep_for(env, &buffer, arena.as_ref(), "waitFlushed")?;
    let napi = |e: Error| coded(Code::Napi, e.reason.clone());
    let (deferred, promise) = env.create_deferred::<bool, Resolver>().map_err(napi)?;
    let pending: Pending = Arc::new(Mutex::new(Some(deferred)));
    let waiter = pending.clone();
    let id = match buffer.subscribe_flushed(move || settle(&waiter, true)) {
        Subscription::Done => None,
        Subscription::Waiting(id) => Some(id),
    };
    let mut out = Object::new(env).map_err(napi)?;
    out.set_named_property("promise", promise).map_err(napi)?;
    out.set_named_property(
        "wait",
        FlushWait {
            buffer,
            pending,
            id,
            _keep: keep,
        },
    )
    .map_err(napi)?;
    Ok(out)
}
