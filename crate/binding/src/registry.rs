//! Per-thread table of the buffers this isolate uses, so that scratch calls
//! can name a buffer by a small integer (its slot) instead of passing an
//! object through napi.

use std::cell::RefCell;
use std::sync::Arc;

use photon_wb_core::WriteBuffer;

#[derive(Default)]
struct Slots {
    list: Vec<Option<Arc<WriteBuffer>>>,
    free: Vec<u32>,
}

thread_local! {
    static SLOTS: RefCell<Slots> = RefCell::default();
}

/// Registers a buffer for this thread; returns its slot.
pub fn insert(buffer: Arc<WriteBuffer>) -> u32 {
    SLOTS.with_borrow_mut(|s| match s.free.pop() {
        Some(slot) => {
            s.list[slot as usize] = Some(buffer);
            slot
        }
        None => {
            s.list.push(Some(buffer));
            (s.list.len() - 1) as u32
        }
    })
}

/// Forgets a slot (its owner object was collected). Quietly does nothing
/// while the thread is being torn down.
pub fn remove(slot: u32) {
    let _ = SLOTS.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if let Some(entry) = s.list.get_mut(slot as usize) {
                if entry.take().is_some() {
                    s.free.push(slot);
                }
            }
        }
    });
}

/// Runs `f` on the buffer in `slot`; `None` if the slot is empty.
/// `f` must not register or remove slots.
#[inline]
pub fn with<R>(slot: u32, f: impl FnOnce(&WriteBuffer) -> R) -> Option<R> {
    SLOTS.with_borrow(|s| s.list.get(slot as usize).and_then(Option::as_deref).map(f))
}

/// A new strong reference to the buffer in `slot`.
pub fn get(slot: u32) -> Option<Arc<WriteBuffer>> {
    SLOTS.with_borrow(|s| s.list.get(slot as usize).and_then(Clone::clone))
}
