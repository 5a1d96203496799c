//! Durable flushes (`flushTo`) and page-file reading (`PageFile`): the I/O
//! runs on libuv's thread pool as napi async work.

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{
    write_page_file, Code, Error as CoreError, FlushStats, PageFile, WriteBuffer,
};

use crate::arena_mode::{self, Borrow, Exposed, NO_EXTERNAL};
use crate::error::{coded, rejection, to_napi_error, ErrorCode};
use crate::external;
use crate::layout::{record_entry, O_SIZE, O_U64, REC_WORDS, S_STATUS, S_U64};
use crate::registry;
use crate::scratch::{self, set_u64, u64_at};
use crate::test_hooks;

/// What a flush wrote. (A failed flush or open rejects with a coded error:
/// `err.code` is a code of the error table or an errno name, `ENOSPC`, ….)
#[napi(object)]
pub struct FlushOutcome {
    pub bytes: f64,
    pub records: f64,
}

/// The buffer in `slot`, or `ERR_CLOSED` (the JS layer owns its slots: an
/// empty one is a disposed buffer).
fn slot_buffer(slot: u32) -> Result<Arc<WriteBuffer>, ErrorCode> {
    registry::get(slot).ok_or_else(|| coded(Code::Closed, Code::Closed.message()))
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

    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<FlushOutcome> {
        test_hooks::note_resolved(&self.path);
        match out {
            Ok(s) => Ok(FlushOutcome {
                bytes: s.bytes as f64,
                records: s.records as f64,
            }),
            Err(e) => Err(rejection(&env, to_napi_error(e))),
        }
    }

    fn finally(mut self, _env: Env) -> Result<()> {
        // On the JS thread; `compute` is over: the arena may go now.
        drop(self.keep.take());
        Ok(())
    }
}

/// `flushTo`: a promise of what was written; it rejects with a coded error
/// (the JS layer adds the operation and the path). For a buffer in the
/// `'js'` arena mode, `arena` is the `Uint8Array` over its
/// arena (checked), referenced until the flush is over.
#[napi(ts_return_type = "Promise<FlushOutcome>")]
pub fn flush_to(
    env: &Env,
    slot: u32,
    path: String,
    overwrite: bool,
    arena: Option<Unknown>,
) -> Result<AsyncTask<FlushTask>, ErrorCode> {
    let buffer = slot_buffer(slot)?;
    let keep = arena_mode::keep_for(env, &buffer, arena.as_ref(), "flushTo")?;
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

    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<NativePageFile> {
        match out {
            Ok(f) => Ok(NativePageFile { file: Arc::new(f) }),
            Err(e) => Err(rejection(&env, to_napi_error(e))),
        }
    }
}

/// `PageFile.open`: a promise of a `NativePageFile`; it rejects with a coded
/// error (`ERR_CORRUPT`, or an errno name).
#[napi(ts_return_type = "Promise<NativePageFile>")]
pub fn open_page_file(path: String) -> AsyncTask<OpenTask> {
    AsyncTask::new(OpenTask {
        path: PathBuf::from(path),
    })
}

/// A JS-owned copy of `bytes`.
fn copied<'env>(env: &'env Env, bytes: &[u8]) -> Result<Unknown<'env>, ErrorCode> {
    external::copy(env, bytes).map_err(|e| coded(Code::Napi, e.reason.clone()))
}

/// A validated page file in memory.
#[napi]
pub struct NativePageFile {
    file: Arc<PageFile>,
}

impl NativePageFile {
    fn file(&self) -> &Arc<PageFile> {
        &self.file
    }
}

#[napi]
impl NativePageFile {
    /// The group id of the flushed buffer.
    #[napi(getter)]
    pub fn group_id(&self) -> u32 {
        self.file().group_id()
    }

    /// The whole file as one `ArrayBuffer`: external over the file's bytes
    /// in memory (holds the file alive), or in the `'js'` arena mode a
    /// JS-owned copy of them (also when this call is the first to meet a
    /// runtime that refuses external buffers).
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn bytes<'env>(&self, env: &'env Env) -> Result<Unknown<'env>, ErrorCode> {
        let file = self.file();
        let len = file.as_bytes().len();
        if len == 0 {
            return Err(coded(Code::Corrupt, "corrupt: an empty page file"));
        }
        if arena_mode::is_js() {
            return copied(env, file.as_bytes());
        }
        let data = file.as_bytes().as_ptr() as *mut u8;
        // SAFETY: the file's bytes live, unmoved, as long as any `Arc` of
        // it. (Views are read-only by contract; a JS write would only change
        // what JS reads back, the file on disk is untouched.)
        match unsafe {
            external::array_buffer(env, file, data, len, Exposed::PageFile, "the page file")
        } {
            Ok((v, _)) => Ok(v),
            Err(e) if e.status.0 == NO_EXTERNAL => copied(env, file.as_bytes()),
            Err(e) => Err(e),
        }
    }

    /// Every record, one entry of `REC_WORDS` words each, in the word order
    /// of `recordsFill` (`layout::record_entry`), with `REC_POS` the body's
    /// position in the file.
    #[napi]
    pub fn entries(&self) -> Result<Uint32Array, ErrorCode> {
        let file = self.file();
        let base = file.as_bytes().as_ptr() as usize;
        let words = file.len() * REC_WORDS as usize;
        let mut out = Vec::new();
        // Up to 2^27 records (4 GiB of words): an error, never an abort.
        out.try_reserve_exact(words).map_err(|_| {
            coded(
                Code::OutOfMemory,
                format!(
                    "could not allocate {} bytes for the record table",
                    words * 4
                ),
            )
        })?;
        for r in file.records() {
            let pos = (r.body().as_ptr() as usize - base) as u64;
            out.extend_from_slice(&record_entry(
                r.offset,
                r.header.flags,
                r.header.page_size,
                r.page_id(),
                pos,
            ));
        }
        Ok(Uint32Array::new(out))
    }

    /// Scratch call: the page at the u64 address in `S_U64`. Out: `O_U64`
    /// the body's position in the file, `O_SIZE` its size; status
    /// `ERR_INVALID_ADDR` when it is not a page of this file.
    #[napi]
    pub fn locate(&self) {
        let file = self.file();
        scratch::with(|s| {
            let status = match file.page(u64_at(s, S_U64)) {
                Ok(body) => {
                    let pos = body.as_ptr() as usize - file.as_bytes().as_ptr() as usize;
                    set_u64(s, O_U64, pos as u64);
                    s[O_SIZE as usize] = body.len() as u32;
                    0
                }
                Err(e) => e.status(),
            };
            s[S_STATUS as usize] = status as u32;
        });
    }
}
