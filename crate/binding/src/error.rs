//! Error mapping: one place turns core errors and the binding's own failures
//! into what JS sees. Two conventions only: a scratch call stores a status
//! number (`Code::status`) in the block's `S_STATUS` word; every other call
//! throws (or rejects with) a napi error whose JS `code` is a code of the
//! core's one table (`photon_wb_core::Code`), never a literal of its own.

use napi::bindgen_prelude::{Env, JsError};
use photon_wb_core::{Code, Error as CoreError};

/// A napi error whose JS `code` is the core error's stable code (an errno
/// name for an I/O error) and whose message is its `Display`.
pub fn to_napi_error(e: CoreError) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode(e.code()), e.to_string())
}

/// A napi error of `code` with `message`.
pub fn coded(code: Code, message: impl Into<String>) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode(code.as_str()), message.into())
}

/// A coded error as a plain `napi::Error` (whose status type is fixed, as in
/// an async task's result): the JS error object is made now, with its
/// `code`, and the promise rejects with that very object.
pub fn rejection(env: &Env, e: napi::Error<ErrorCode>) -> napi::Error {
    napi::Error::from(JsError::from(e).into_unknown(*env))
}

/// A stable error code as napi's status type (becomes `err.code` in JS).
pub struct ErrorCode(pub &'static str);

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.0
    }
}
