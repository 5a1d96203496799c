//! Durable flushes (`flushTo`) and page-file reading (`PageFile`): the I/O
//! runs on libuv's thread pool as napi async work.

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{write_page_file, Error as CoreError, FlushStats, PageFile, WriteBuffer};

use crate::arena_mode::{self, Borrow, Exposed, NO_EXTERNAL};
use crate::external;
use crate::registry;
use crate::test_hooks;

/// What a flush or an open produced: either numbers, or an error's code
/// and message (JS turns it into the right error class).
#[napi(object)]
pub struct FlushOutcome {
    /// Stable code (`ERR_…`) or errno name (`ENOSPC`, …) on failure.
    pub code: Option<String>,
    pub message: Option<String>,
    pub bytes: f64,
    pub records: f64,
}

fn failed(e: &CoreError) -> FlushOutcome {
    FlushOutcome {
        code: Some(e.code().to_owned()),
        message: Some(e.to_string()),
        bytes: 0.0,
        records: 0.0,
    }
}

/// Writes a flushable buffer to a page file, durably, then marks it
/// flushed (`onFlushed`).
pub struct FlushTask {
    buffer: Arc<WriteBuffer>,
    path: PathBuf,
    overwrite: bool,
    /// For a borrowed (`'js'`) arena: a strong reference to it, made on the
    /// JS thread by `flush_to` before the work is queued and deleted in
    /// `finally` (on the JS thread, after `compute` has returned), so the
    /// memory `compute` reads on libuv's pool stays alive throughout. Paths
    /// that skip `finally` drop the task on the JS thread too (napi-rs's
    /// completion callback), or never (a leak keeps the memory alive).
    /// During a worker's teardown Node waits for queued pool work before it
    /// finalizes the environment's references.
    keep: Option<Borrow>,
    /// Test build only: a pause before the arena is read (`test_hooks`).
    delay: Option<std::time::Duration>,
}

impl Task for FlushTask {
    type Output = std::result::Result<FlushStats, CoreError>;
    type JsValue = FlushOutcome;

    fn compute(&mut self) -> Result<Self::Output> {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let r = write_page_file(&self.buffer, &self.path, self.overwrite);
        if r.is_ok() {
            // Only after data, rename and directory are synced.
            self.buffer.on_flushed();
        }
        Ok(r)
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<FlushOutcome> {
        test_hooks::note_resolved(&self.path);
        Ok(match out {
            Ok(s) => FlushOutcome {
                code: None,
                message: None,
                bytes: s.bytes as f64,
                records: s.records as f64,
            },
            Err(e) => failed(&e),
        })
    }

    fn finally(mut self, _env: Env) -> Result<()> {
        // On the JS thread; `compute` is over: the arena may go now.
        drop(self.keep.take());
        Ok(())
    }
}

/// `flushTo`: a promise of the outcome (never rejects; JS decides). For a
/// buffer in the `'js'` arena mode, `arena` is the `Uint8Array` over its
/// arena (checked), referenced until the flush is over.
#[napi(ts_return_type = "Promise<FlushOutcome>")]
pub fn flush_to(
    env: &Env,
    slot: u32,
    path: String,
    overwrite: bool,
    arena: Option<Unknown>,
) -> Result<AsyncTask<FlushTask>> {
    let buffer =
        registry::get(slot).ok_or_else(|| Error::new(Status::InvalidArg, "unknown buffer slot"))?;
    let keep = arena_mode::keep_for(env, &buffer, arena.as_ref(), "flushTo")
        .map_err(|e| Error::new(Status::InvalidArg, e.reason.clone()))?;
    Ok(AsyncTask::new(FlushTask {
        buffer,
        path: PathBuf::from(path),
        overwrite,
        keep,
        delay: test_hooks::flush_delay(),
    }))
}

/// Reads and validates a page file.
pub struct OpenTask {
    path: PathBuf,
}

impl Task for OpenTask {
    type Output = std::result::Result<PageFile, CoreError>;
    type JsValue = NativePageFile;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(PageFile::open(&self.path))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<NativePageFile> {
        Ok(match out {
            Ok(f) => NativePageFile {
                file: Some(Arc::new(f)),
                error: None,
            },
            Err(e) => NativePageFile {
                file: None,
                error: Some(failed(&e)),
            },
        })
    }
}

/// `PageFile.open`: a promise of a `NativePageFile` (check `error` first).
#[napi(ts_return_type = "Promise<NativePageFile>")]
pub fn open_page_file(path: String) -> AsyncTask<OpenTask> {
    AsyncTask::new(OpenTask {
        path: PathBuf::from(path),
    })
}

/// A validated page file in memory (or the error that opening it met).
#[napi]
pub struct NativePageFile {
    file: Option<Arc<PageFile>>,
    error: Option<FlushOutcome>,
}

/// Words per entry of `NativePageFile::entries`.
#[napi]
pub const FILE_ENTRY_WORDS: u32 = 8;

impl NativePageFile {
    fn file(&self) -> Result<&Arc<PageFile>> {
        self.file
            .as_ref()
            .ok_or_else(|| Error::new(Status::InvalidArg, "the page file failed to open"))
    }
}

#[napi]
impl NativePageFile {
    /// The error code when opening failed.
    #[napi(getter)]
    pub fn error_code(&self) -> Option<String> {
        self.error.as_ref().and_then(|e| e.code.clone())
    }

    /// The error message when opening failed.
    #[napi(getter)]
    pub fn error_message(&self) -> Option<String> {
        self.error.as_ref().and_then(|e| e.message.clone())
    }

    /// The group id of the flushed buffer.
    #[napi(getter)]
    pub fn group_id(&self) -> Result<u32> {
        Ok(self.file()?.group_id())
    }

    /// The whole file as one `ArrayBuffer`: external over the file's bytes
    /// in memory (holds the file alive), or in the `'js'` arena mode a
    /// JS-owned copy of them (also when this call is the first to meet a
    /// runtime that refuses external buffers).
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn bytes<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let file = self.file()?;
        let len = file.as_bytes().len();
        if len == 0 {
            return Err(Error::new(Status::InvalidArg, "empty page file"));
        }
        if arena_mode::is_js() {
            return external::copy(env, file.as_bytes());
        }
        let data = file.as_bytes().as_ptr() as *mut u8;
        // SAFETY: the file's bytes live, unmoved, as long as any `Arc` of
        // it. (Views are read-only by contract; a JS write would only change
        // what JS reads back, the file on disk is untouched.)
        match unsafe {
            external::array_buffer(env, file, data, len, Exposed::PageFile, "the page file")
        } {
            Ok((v, _)) => Ok(v),
            Err(e) if e.status.0 == NO_EXTERNAL => external::copy(env, file.as_bytes()),
            Err(e) => Err(Error::new(Status::GenericFailure, e.reason.clone())),
        }
    }

    /// Every record, 8 words each: flags, buffer offset of the record, body
    /// size, 0, page id (low, high), body position in the file (low, high).
    #[napi]
    pub fn entries(&self) -> Result<Uint32Array> {
        let file = self.file()?;
        let base = file.as_bytes().as_ptr() as usize;
        let mut out = Vec::with_capacity(file.len() * FILE_ENTRY_WORDS as usize);
        for r in file.records() {
            let pos = (r.body().as_ptr() as usize - base) as u64;
            out.extend_from_slice(&[
                r.header.flags,
                r.offset,
                r.header.page_size,
                0,
                r.page_id() as u32,
                (r.page_id() >> 32) as u32,
                pos as u32,
                (pos >> 32) as u32,
            ]);
        }
        Ok(Uint32Array::new(out))
    }

    /// `[status, body position, size]` of the page at `addr`; status < 0
    /// (`ERR_INVALID_ADDR`) when it is not a page of this file.
    #[napi]
    pub fn locate(&self, addr: BigInt) -> Result<Vec<f64>> {
        let file = self.file()?;
        let (signed, value, lossless) = addr.get_u64();
        if signed || !lossless {
            return Ok(vec![CoreError::InvalidAddr.status() as f64, 0.0, 0.0]);
        }
        Ok(match file.page(value) {
            Ok(body) => vec![
                0.0,
                (body.as_ptr() as usize - file.as_bytes().as_ptr() as usize) as f64,
                body.len() as f64,
            ],
            Err(e) => vec![e.status() as f64, 0.0, 0.0],
        })
    }
}
