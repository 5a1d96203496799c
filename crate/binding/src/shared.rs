//! Process-wide table of shared buffers: `share()` puts a weak reference
//! under a fresh id, `attach(id)` on any thread upgrades it. The table never
//! keeps an arena alive by itself: a handle can be attached while some
//! thread still holds the buffer or a view of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use photon_wb_core::WriteBuffer;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

fn table() -> &'static Mutex<HashMap<u32, Weak<WriteBuffer>>> {
    static TABLE: OnceLock<Mutex<HashMap<u32, Weak<WriteBuffer>>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Registers `buffer` for other threads; returns its handle id.
pub fn share(buffer: &Arc<WriteBuffer>) -> u32 {
    // Ordering: Relaxed: the counter only needs distinct values; the table's
    // mutex publishes the entry.
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.retain(|_, w| w.strong_count() > 0);
    t.insert(id, Arc::downgrade(buffer));
    id
}

/// The buffer behind a handle id, if some thread still holds it.
pub fn attach(id: u32) -> Option<Arc<WriteBuffer>> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.get(&id).and_then(Weak::upgrade)
}
