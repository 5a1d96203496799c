//! Layout constants and codes, defined once in the core, exported to JS.

use napi_derive::napi;
use photon_wb_core as core;

/// Record header bytes.
#[napi]
pub const HEADER_SIZE: u32 = core::HEADER_SIZE;
/// Records start at multiples of this.
#[napi]
pub const ALIGN: u32 = core::ALIGN;
/// Flags of a page record.
#[napi]
pub const NORMAL_PAGE: u32 = core::NORMAL_PAGE;
/// Flags of a dealloc record.
#[napi]
pub const DEALLOC_PAGES: u32 = core::DEALLOC_PAGES;
/// Flags of a tombstoned record.
#[napi]
pub const TOMBSTONE: u32 = core::TOMBSTONE;
/// Smallest capacity.
#[napi]
pub const MIN_CAPACITY: u32 = core::WriteBuffer::MIN_CAPACITY;
/// Largest capacity.
#[napi]
pub const MAX_CAPACITY: u32 = core::WriteBuffer::MAX_CAPACITY;

/// Alignment of an arena's start (a `'js'` arena is placed on it).
#[napi]
pub const ARENA_ALIGN: u32 = core::ARENA_ALIGN as u32;

/// The lock file of a page log's directory (`NativeDirLock`).
#[napi]
pub const LOCK_FILE: &str = core::dir_lock::LOCK_FILE;

/// Stable error codes; status `s < 0` means `errorCodes()[-1 - s]`.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    core::Error::CODES.to_vec()
}
