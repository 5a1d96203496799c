//! The photondb page store's write buffer, ported: a fixed-capacity, aligned
//! arena where many writers on many threads reserve page records with one
//! atomic compare-and-swap on a packed state word.
//!
//! This crate is the pure core (no napi); `photon-write-buffer-binding`
//! exposes it to Node.

pub(crate) mod arena;
pub mod buffer_state;
pub(crate) mod complete;
pub mod dir_lock;
pub mod error;
pub mod lane;
pub mod latch;
pub mod page_file;
pub mod page_index;
pub mod pool;
pub mod reclaim;
pub mod record;
pub mod segment;
pub(crate) mod sync;
pub mod write_buffer;

pub use arena::{live_arenas, ARENA_ALIGN, MAP_MIN};
pub use buffer_state::BufferState;
pub use dir_lock::DirLock;
pub use error::{Class, Code, CodeInfo, Error, Reason, ReasonInfo, Result, CAPACITY_RULE};
pub use lane::Lane;
pub use latch::{Latch, Subscription, Woken};
pub use page_file::{encode_page_file, write_page_file, FileRecord, FlushStats, PageFile};
pub use pool::{ArenaPool, PoolStats};
pub use reclaim::{CacheConfig, CacheStats};
pub use record::{
    record_size, Header, RecordKind, ALIGN, DATA_OFFSET, DEALLOC_PAGES, FLAGS_OFFSET, HEADER_SIZE,
    NORMAL_PAGE, SIZE_OFFSET, TOMBSTONE,
};
pub use write_buffer::{BatchAlloc, PageAlloc, Record, RecordIter, ReleaseState, WriteBuffer};
