//! The napi layer of photon-write-buffer: converts arguments, calls the core
//! (`photon_wb_core`), maps errors. No logic of its own lives here.
//!
//! Hot calls (`allocPage`, `releaseWriter`, getters, ...) take no napi
//! arguments: the JS side writes them into a per-thread scratch block and
//! reads results back from it (see `scratch`), which avoids the ~100 ns of
//! argument conversion a napi call costs. The JS wrapper (`index.ts`, `src/`) is
//! the only intended caller; every input is still validated here.

// `#[napi]` items are registered with Node at load time; a `cargo test` build of
// this crate has no Node to call them, so they look unused there.
#![cfg_attr(test, allow(dead_code))]

mod arena_cache;
mod arena_mode;
mod buffer;
mod consts;
mod dir_lock;
mod error;
mod external;
mod flush;
mod layout;
mod page_file;
mod page_index;
mod raw_calls;
mod registry;
mod salvage;
mod scratch;
mod segment;
mod shared;
mod test_hooks;
