//! Constants of the record format and the error table, defined once in the
//! core, exported to JS (the scratch and entry words are in `layout`).

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

/// The valid capacities, as every error says it.
#[napi]
pub const CAPACITY_RULE: &str = core::CAPACITY_RULE;

/// One row of the error table.
#[napi(object)]
pub struct ErrorInfo {
    /// The stable code, e.g. `ERR_AGAIN`.
    pub code: String,
    /// The JS class it surfaces as (`WriteBufferError`, `TypeError`,
    /// `RangeError`), or `internal` (never reaches the caller).
    pub class: String,
    /// The message of a status-word error of this code.
    pub message: String,
    /// When it is raised (the README's error table).
    pub when: String,
}

/// The one error table (`photon_wb_core::Code`), in status order: a status
/// `s < 0` means `errorTable()[-1 - s]`.
#[napi]
pub fn error_table() -> Vec<ErrorInfo> {
    core::Code::ALL
        .iter()
        .map(|c| {
            let i = c.info();
            ErrorInfo {
                code: i.code.to_owned(),
                class: i.class.name().to_owned(),
                message: i.message.to_owned(),
                when: i.when.to_owned(),
            }
        })
        .collect()
}

/// One situation whose message replaces its code's (`photon_wb_core::Reason`).
#[napi(object)]
pub struct ErrorReason {
    /// The key the JS layer names it by, e.g. `alreadySealed`.
    pub key: String,
    /// The code the error carries, a code of `errorTable()`.
    pub code: String,
    /// The message said instead of the code's.
    pub message: String,
}

/// The situations of the error table whose message replaces their code's
/// (`photon_wb_core::Reason`): a status word carries only the code, and the
/// JS layer, which knows the call, says these.
#[napi]
pub fn error_reasons() -> Vec<ErrorReason> {
    core::Reason::ALL
        .iter()
        .map(|r| {
            let i = r.info();
            ErrorReason {
                key: i.key.to_owned(),
                code: i.code.as_str().to_owned(),
                message: i.message.to_owned(),
            }
        })
        .collect()
}
