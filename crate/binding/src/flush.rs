//! Flush waits: a JS promise per waiter, settled from whichever thread
//! calls `onFlushed`, or from whichever thread drops the buffer's last
//! reference unflushed (nothing can flush it any more).

use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi::JsDeferred;
use napi_derive::napi;
use photon_wb_core::{Code, Subscription, Woken, WriteBuffer};

use crate::error::{coded, ErrorCode};
use crate::registry;

/// How a wait settled: its promise resolves with one of these.
#[napi]
pub const WAIT_CANCELLED: u32 = 0;
/// The buffer was flushed (`onFlushed`).
#[napi]
pub const WAIT_FLUSHED: u32 = 1;
/// The buffer was dropped on every thread before it was flushed.
#[napi]
pub const WAIT_DROPPED: u32 = 2;

type Resolver = fn(Env) -> Result<u32>;
type Pending = Arc<Mutex<Option<JsDeferred<u32, Resolver>>>>;

fn settle(pending: &Pending, outcome: u32) {
    let taken = pending.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(d) = taken {
        d.resolve(match outcome {
            WAIT_FLUSHED => |_| Ok(WAIT_FLUSHED),
            WAIT_DROPPED => |_| Ok(WAIT_DROPPED),
            _ => |_| Ok(WAIT_CANCELLED),
        });
    }
}

/// One pending flush wait; `cancel()` settles its promise with
/// `WAIT_CANCELLED`.
///
/// It holds the buffer only weakly: a wait never keeps an arena alive, and
/// a buffer dropped on every thread settles its waits (`WAIT_DROPPED`),
/// which releases what keeps the event loop alive for them.
#[napi]
pub struct FlushWait {
    buffer: Weak<WriteBuffer>,
    pending: Pending,
    id: Option<u64>,
}

#[napi]
impl FlushWait {
    /// Cancels the wait if it is still pending; returns whether it was.
    #[napi]
    pub fn cancel(&mut self) -> bool {
        // A buffer that is gone has already woken (and settled) its waiters.
        let was_waiting = self.id.take().is_some_and(|id| {
            self.buffer
                .upgrade()
                .is_some_and(|b| b.unsubscribe_flushed(id))
        });
        if was_waiting {
            settle(&self.pending, WAIT_CANCELLED);
        }
        was_waiting
    }
}

/// Starts a flush wait on the buffer in `slot`: returns
/// `{ promise, wait }`, where `promise` resolves `WAIT_FLUSHED` once the
/// buffer is flushed (at once if it already is), `WAIT_DROPPED` if it is
/// dropped unflushed on every thread, and `wait.cancel()` resolves it
/// `WAIT_CANCELLED` instead.
///
/// A pending wait keeps the event loop alive, like pending I/O. The wait
/// never touches the arena, so it needs no reference to a `'js'` arena.
#[napi(ts_return_type = "{ promise: Promise<number>; wait: FlushWait }")]
pub fn wait_flushed<'env>(env: &'env Env, slot: u32) -> Result<Object<'env>, ErrorCode> {
    let buffer = registry::get(slot).ok_or_else(|| coded(Code::Closed, Code::Closed.message()))?;
    let napi = |e: Error| coded(Code::Napi, e.reason.clone());
    let (deferred, promise) = env.create_deferred::<u32, Resolver>().map_err(napi)?;
    let pending: Pending = Arc::new(Mutex::new(Some(deferred)));
    let waiter = pending.clone();
    // The callback holds the promise only, never the buffer.
    let id = match buffer.subscribe_flushed(move |woken| {
        settle(
            &waiter,
            match woken {
                Woken::Set => WAIT_FLUSHED,
                Woken::Abandoned => WAIT_DROPPED,
            },
        )
    }) {
        Subscription::Done => None,
        Subscription::Waiting(id) => Some(id),
    };
    let mut out = Object::new(env).map_err(napi)?;
    out.set_named_property("promise", promise).map_err(napi)?;
    out.set_named_property(
        "wait",
        FlushWait {
            buffer: Arc::downgrade(&buffer),
            pending,
            id,
        },
    )
    .map_err(napi)?;
    Ok(out)
}
