//! Error mapping: one place turns core errors into what JS sees.

use photon_wb_core::Error;

/// Status of a call on a slot that holds no buffer (never produced through
/// `index.ts`, which owns its slots).
pub const STATUS_NO_SLOT: i32 = -1000;

/// Status of a call whose typed-array arguments have the wrong shape
/// (never produced through `index.ts`).
pub const STATUS_BAD_ARGS: i32 = -1001;

/// A napi error whose JS `code` is the core error's stable code.
pub fn to_napi_error(e: Error) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode(e.code()), e.to_string())
}

/// A stable error code as napi's status type (becomes `err.code` in JS).
pub struct ErrorCode(pub &'static str);

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.0
    }
}
