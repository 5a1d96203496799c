//! `NativeDirLock`: the directory lock of a page log (see
//! `photon_wb_core::dir_lock`).

use std::path::Path;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{Code, DirLock};

use crate::error::{to_napi_error, ErrorCode};

/// A held lock on a directory, released by `release()` or when collected.
#[napi]
pub struct NativeDirLock {
    lock: Option<DirLock>,
}

#[napi]
impl NativeDirLock {
    /// Locks `dir`; throws with code `ERR_LOCKED` when it is held (by this
    /// or another process), or the errno name when the lock file cannot be
    /// opened.
    #[napi(constructor)]
    pub fn new(dir: String) -> Result<Self, ErrorCode> {
        match DirLock::try_acquire(Path::new(&dir)).map_err(to_napi_error)? {
            Some(lock) => Ok(NativeDirLock { lock: Some(lock) }),
            None => Err(Error::new(
                ErrorCode(Code::Locked.as_str()),
                format!("{dir} is locked by another PageLog"),
            )),
        }
    }

    /// Releases the lock (idempotent).
    #[napi]
    pub fn release(&mut self) {
        self.lock = None;
    }
}
