//! Segments (page-file format v2): prepare a buffer's segment, commit it
//! (group commit), seal it, recover a directory's segments, read one page.
//! The I/O runs on libuv's thread pool as napi async work. Commits and
//! seals settle with an outcome carrying `code`/`message` (as `flushTo`
//! does: a failure there is an outcome the caller handles, not an
//! exception); preparing, recovering and reading reject with a coded error
//! (`ERR_*` or an errno name).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::page_index::PageIndex;
use photon_wb_core::segment::{
    scan_dir, scan_dir_checkpointed, scan_dir_indexed, seal_recovered, CheckpointUse, IndexEntry,
    RecoveredSegment, SegmentReader, SegmentWriter,
};
use photon_wb_core::{Code, Error as CoreError, WriteBuffer};

use crate::arena_mode::{self, Borrow};
use crate::error::{coded, rejection, to_napi_error, ErrorCode};
use crate::external;
use crate::registry;

/// What an async segment call produced: an error's code and message, or
/// numbers.
#[napi(object)]
pub struct SegmentOutcome {
    /// Stable code (`ERR_…`) or errno name (`ENOSPC`, …) on failure.
    pub code: Option<String>,
    pub message: Option<String>,
    /// Seal: records in the index; commit: records committed so far.
    pub records: f64,
    /// Seal: the sealed file's length; commit: record bytes written so far.
    pub bytes: f64,
}

fn outcome(r: std::result::Result<(f64, f64), CoreError>) -> SegmentOutcome {
    match r {
        Ok((records, bytes)) => SegmentOutcome {
            code: None,
            message: None,
            records,
            bytes,
        },
        Err(e) => SegmentOutcome {
            code: Some(e.code().to_owned()),
            message: Some(e.to_string()),
            records: 0.0,
            bytes: 0.0,
        },
    }
}

/// A commit's outcome numbers: the records and record bytes committed so far.
fn committed(w: &SegmentWriter) -> (f64, f64) {
    let s = w.stats();
    (s.records as f64, s.bytes as f64)
}

fn u64_of(addr: &BigInt) -> Option<u64> {
    let (signed, value, lossless) = addr.get_u64();
    (!signed && lossless).then_some(value)
}

/// Prepares a segment off the JS thread.
pub struct PrepareTask {
    dir: PathBuf,
    group_id: u32,
    capacity: u32,
    prealloc: Option<u64>,
}

impl Task for PrepareTask {
    type Output = std::result::Result<SegmentWriter, CoreError>;
    type JsValue = NativeSegment;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(SegmentWriter::prepare(
            &self.dir,
            self.group_id,
            self.capacity,
            self.prealloc,
        ))
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<NativeSegment> {
        match out {
            Ok(w) => Ok(NativeSegment {
                writer: std::cell::RefCell::new(Some(Arc::new(w))),
            }),
            Err(e) => Err(rejection(&env, to_napi_error(e))),
        }
    }
}

/// `prepareSegment(dir, groupId, capacity, prealloc?)`: a promise of a
/// `NativeSegment` (rejects with a coded error): the segment file of group
/// `groupId` created, sized (zeros written) and synced with its directory.
/// `prealloc` defaults to the capacity + 1/8 + the header.
#[napi(ts_return_type = "Promise<NativeSegment>")]
pub fn prepare_segment(
    dir: String,
    group_id: u32,
    capacity: u32,
    prealloc: Option<f64>,
) -> Result<AsyncTask<PrepareTask>> {
    let prealloc = match prealloc {
        None => None,
        Some(p) if p.is_finite() && p >= 0.0 && p <= (1u64 << 53) as f64 => Some(p as u64),
        Some(_) => {
            return Err(Error::new(
                Status::InvalidArg,
                "prealloc must be a non-negative safe integer",
            ))
        }
    };
    Ok(AsyncTask::new(PrepareTask {
        dir: PathBuf::from(dir),
        group_id,
        capacity,
        prealloc,
    }))
}

/// A commit or a seal, off the JS thread.
pub struct SegmentTask {
    writer: Arc<SegmentWriter>,
    buffer: Arc<WriteBuffer>,
    seal: bool,
    /// For a borrowed (`'js'`) arena: a reference to it, made on the JS
    /// thread before the work is queued and dropped in `finally` on the JS
    /// thread, so the memory `compute` reads stays alive (as `FlushTask`).
    keep: Option<Borrow>,
}

impl Task for SegmentTask {
    type Output = std::result::Result<(f64, f64), CoreError>;
    type JsValue = SegmentOutcome;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(if self.seal {
            self.writer
                .seal(&self.buffer)
                .map(|s| (s.records as f64, s.file_len as f64))
        } else {
            self.writer
                .commit(&self.buffer)
                .map(|()| committed(&self.writer))
        })
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<SegmentOutcome> {
        crate::test_hooks::note_resolved(self.writer.path());
        Ok(outcome(out))
    }

    fn finally(mut self, _env: Env) -> Result<()> {
        drop(self.keep.take());
        Ok(())
    }
}

/// The committed records of a segment as parallel typed arrays, in buffer
/// order.
#[napi(object)]
pub struct SegmentEntries {
    pub group_id: u32,
    pub path: String,
    /// Sealed (index and trailer valid).
    pub sealed: bool,
    /// 1 when recovery cut a torn tail, else 0.
    pub torn: u32,
    /// Sealed: the buffer's allocated bytes; otherwise the buffer offset
    /// after the last committed record.
    pub allocated: u32,
    /// Page ids (0 for dealloc records).
    pub page_ids: BigUint64Array,
    /// Addresses (`groupId << 32 | offset + 16`).
    pub addrs: BigUint64Array,
    /// Body sizes.
    pub sizes: Uint32Array,
    /// 1 = page, 2 = dealloc.
    pub flags: Uint32Array,
    /// File offsets of the record heads.
    pub file_pos: Float64Array,
    /// Record checksums.
    pub crcs: Uint32Array,
    /// Addresses freed by the dealloc records, in record order.
    pub deallocs: BigUint64Array,
}

fn entries_of(
    group_id: u32,
    path: String,
    sealed: bool,
    torn: u32,
    allocated: u32,
    entries: &[IndexEntry],
    deallocs: Vec<u64>,
) -> SegmentEntries {
    SegmentEntries {
        group_id,
        path,
        sealed,
        torn,
        allocated,
        page_ids: entries.iter().map(|e| e.page_id).collect::<Vec<_>>().into(),
        addrs: entries
            .iter()
            .map(|e| e.addr(group_id))
            .collect::<Vec<_>>()
            .into(),
        sizes: Uint32Array::new(entries.iter().map(|e| e.page_size).collect()),
        flags: Uint32Array::new(entries.iter().map(|e| e.flags).collect()),
        file_pos: Float64Array::new(entries.iter().map(|e| e.file_pos as f64).collect()),
        crcs: Uint32Array::new(entries.iter().map(|e| e.crc).collect()),
        deallocs: deallocs.into(),
    }
}

fn recovered_entries(s: &RecoveredSegment) -> SegmentEntries {
    entries_of(
        s.header.group_id,
        s.path.display().to_string(),
        s.sealed,
        s.torn,
        s.allocated,
        &s.entries,
        s.deallocs.clone(),
    )
}

/// `entries` (committed records of the segment `w` writes) as typed
/// arrays; `allocated` is the buffer offset after the last of them.
fn committed_entries(w: &SegmentWriter, entries: Vec<IndexEntry>) -> SegmentEntries {
    let allocated = entries
        .last()
        .map_or(0, |e| e.offset + 16 + e.page_size.next_multiple_of(8));
    entries_of(
        w.header().group_id,
        w.path().display().to_string(),
        w.is_sealed(),
        0,
        allocated,
        &entries,
        Vec::new(),
    )
}

/// The segment of one buffer.
#[napi]
pub struct NativeSegment {
    /// `None` once closed (the file descriptor and the staging memory go
    /// with the last reference: a commit still running holds its own).
    writer: std::cell::RefCell<Option<Arc<SegmentWriter>>>,
}

impl NativeSegment {
    fn writer(&self) -> Result<Arc<SegmentWriter>> {
        self.writer
            .borrow()
            .clone()
            .ok_or_else(|| Error::new(Status::InvalidArg, "the segment is closed"))
    }

    fn task(
        &self,
        env: &Env,
        slot: u32,
        arena: Option<Unknown>,
        seal: bool,
    ) -> Result<AsyncTask<SegmentTask>> {
        let writer = self.writer()?;
        let buffer = registry::get(slot)
            .ok_or_else(|| Error::new(Status::InvalidArg, "unknown buffer slot"))?;
        segment_task(env, writer, buffer, arena, seal)
    }

    /// Withdraws this segment from [`COMMITTERS`].
    fn unpublish(&self) {
        if let Some(w) = self.writer.borrow().as_ref() {
            committers().retain(|(_, c)| !Arc::ptr_eq(c, w));
        }
    }
}

impl Drop for NativeSegment {
    /// A segment collected without `close()` leaves the list too (its file
    /// descriptor goes with the last commit still holding it).
    fn drop(&mut self) {
        self.unpublish();
    }
}

fn segment_task(
    env: &Env,
    writer: Arc<SegmentWriter>,
    buffer: Arc<WriteBuffer>,
    arena: Option<Unknown>,
    seal: bool,
) -> Result<AsyncTask<SegmentTask>> {
    let what = if seal { "seal" } else { "commit" };
    let keep = arena_mode::keep_for(env, &buffer, arena.as_ref(), what)
        .map_err(|e| Error::new(Status::InvalidArg, e.reason.clone()))?;
    Ok(AsyncTask::new(SegmentTask {
        writer,
        buffer,
        seal,
        keep,
    }))
}

/// The segments published for their buffers (`NativeSegment.publish`): a
/// thread that appends into a buffer (a worker's `PageLogWriter`) commits
/// it through its segment itself (`commitBuffer`), without a round trip
/// through the thread that owns the log. A buffer is named by the address
/// of its shared state; the weak reference keeps that allocation (not the
/// buffer) alive, so no other buffer can take its address while the entry
/// exists. Few entries (one per live buffer of each open log).
static COMMITTERS: Mutex<Vec<(Weak<WriteBuffer>, Arc<SegmentWriter>)>> = Mutex::new(Vec::new());

fn committers() -> std::sync::MutexGuard<'static, Vec<(Weak<WriteBuffer>, Arc<SegmentWriter>)>> {
    // Plain data: a panic while holding the lock leaves a valid list.
    COMMITTERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `commitBuffer(id, arena?)`: commits the buffer of share id `id` (a
/// `WriteBuffer#share()` handle's `photonWriteBuffer`; `arena`: its arena
/// in the `'js'` mode) through the segment published for it (see
/// [`COMMITTERS`]), as `NativeSegment.commit` does: a promise of the
/// outcome, or `null` when the buffer is gone or no segment is published
/// for it (not prepared yet, or sealed and closed): then ask its log.
#[napi(ts_return_type = "Promise<SegmentOutcome> | null")]
pub fn commit_buffer(
    env: &Env,
    id: u32,
    arena: Option<Unknown>,
) -> Result<Option<AsyncTask<SegmentTask>>> {
    let Some(buffer) = crate::shared::attach(id) else {
        return Ok(None);
    };
    let key = Arc::as_ptr(&buffer);
    let writer = committers()
        .iter()
        .find(|(b, _)| b.as_ptr() == key)
        .map(|(_, w)| w.clone());
    match writer {
        Some(w) => segment_task(env, w, buffer, arena, false).map(Some),
        None => Ok(None),
    }
}

#[napi]
impl NativeSegment {
    /// The segment's file.
    #[napi(getter)]
    pub fn path(&self) -> Result<String> {
        Ok(self.writer()?.path().display().to_string())
    }

    /// The segment's group id.
    #[napi(getter)]
    pub fn group_id(&self) -> Result<u32> {
        Ok(self.writer()?.header().group_id)
    }

    /// Commits the buffer in `slot` (its group and capacity must be the
    /// segment's): resolves once every record reserved before the call is
    /// durable. Commits made while one runs share the next `fdatasync`.
    /// The call blocks a libuv pool thread until then: keep one commit per
    /// segment in flight and coalesce the rest on the JS side. Records must
    /// be marked complete (`markComplete`) or their writers released.
    #[napi(ts_return_type = "Promise<SegmentOutcome>")]
    pub fn commit(
        &self,
        env: &Env,
        slot: u32,
        arena: Option<Unknown>,
    ) -> Result<AsyncTask<SegmentTask>> {
        self.task(env, slot, arena, false)
    }

    /// `commit`, synchronously on the JS thread (for an `'exit'` handler,
    /// where no promise can settle any more). Blocks until durable; waits
    /// at most `waitMs` for records still being filled (by another thread:
    /// one this thread still has to fill would never be), then commits the
    /// complete ones before them.
    #[napi]
    pub fn commit_sync(&self, slot: u32, wait_ms: u32) -> Result<SegmentOutcome> {
        let writer = self.writer()?;
        let buffer = registry::get(slot)
            .ok_or_else(|| Error::new(Status::InvalidArg, "unknown buffer slot"))?;
        // The arena stays alive: `buffer` is a strong reference, and a
        // borrowed (`'js'`) arena's owner is referenced by the JS caller for
        // the whole (synchronous) call.
        Ok(outcome(
            writer
                .commit_within(&buffer, std::time::Duration::from_millis(wait_ms as u64))
                .map(|()| committed(&writer)),
        ))
    }

    /// Seals the segment with the buffer in `slot`, which must be flushable:
    /// a last commit, then index and trailer. Resolves with the index's
    /// record count and the file's length.
    #[napi(ts_return_type = "Promise<SegmentOutcome>")]
    pub fn seal(
        &self,
        env: &Env,
        slot: u32,
        arena: Option<Unknown>,
    ) -> Result<AsyncTask<SegmentTask>> {
        self.task(env, slot, arena, true)
    }

    /// `[requests, commits run, fdatasyncs, record bytes, records]`.
    #[napi]
    pub fn stats(&self) -> Result<Vec<f64>> {
        let s = self.writer()?.stats();
        Ok(vec![
            s.requests as f64,
            s.rounds as f64,
            s.syncs as f64,
            s.bytes as f64,
            s.records as f64,
        ])
    }

    /// After a failed commit or seal: clears the failure so that the next
    /// commit rewrites every record of the buffer (which must still hold
    /// them all) and syncs it. `false` if it was not failed.
    #[napi]
    pub fn retry(&self) -> bool {
        self.writer().is_ok_and(|w| w.retry())
    }

    /// Lets go of the segment's file and memory (after its seal): later
    /// calls throw.
    #[napi]
    pub fn close(&self) {
        self.unpublish();
        self.writer.borrow_mut().take();
    }

    /// Publishes this segment as the one of the buffer in `slot` (its group
    /// and capacity must be the segment's: a commit checks them), so that
    /// any thread holding that buffer may commit it (`commitBuffer`), until
    /// `unpublish` or `close`.
    #[napi]
    pub fn publish(&self, slot: u32) -> Result<()> {
        let writer = self.writer()?;
        let buffer = registry::get(slot)
            .ok_or_else(|| Error::new(Status::InvalidArg, "unknown buffer slot"))?;
        let mut list = committers();
        // Entries of this segment, and of buffers gone, go.
        list.retain(|(b, w)| !Arc::ptr_eq(w, &writer) && b.strong_count() > 0);
        list.push((Arc::downgrade(&buffer), writer));
        Ok(())
    }

    /// Withdraws what `publish` did (nothing if it was not published).
    #[napi(js_name = "unpublish")]
    pub fn unpublish_js(&self) {
        self.unpublish();
    }

    /// The committed (durable) records from the `n`-th on.
    #[napi]
    pub fn entries_since(&self, n: u32) -> Result<SegmentEntries> {
        let w = self.writer()?;
        Ok(committed_entries(&w, w.entries_since(n as usize)))
    }

    /// How many records are committed (what `entries()` would list).
    #[napi(getter)]
    pub fn entry_count(&self) -> Result<u32> {
        Ok(self.writer()?.entry_count() as u32)
    }

    /// The committed (durable) records so far.
    #[napi]
    pub fn entries(&self) -> Result<SegmentEntries> {
        let w = self.writer()?;
        Ok(committed_entries(&w, w.entries()))
    }

    /// The committed page at `addr`, read from the file (one `pread`) and
    /// checked. Throws `ERR_INVALID_ADDR` if it is not a committed page of
    /// this segment, `ERR_CORRUPT` if its bytes on disk do not check.
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        addr: BigInt,
    ) -> std::result::Result<Unknown<'env>, napi::Error<ErrorCode>> {
        let w = self.writer().map_err(plain)?;
        let addr = u64_of(&addr).ok_or_else(|| to_napi_error(CoreError::InvalidAddr))?;
        let body = w.read_page(addr).map_err(to_napi_error)?;
        external::copy(env, &body).map_err(plain)
    }
}

/// A napi error (argument or runtime failure) in the shape of the calls
/// that throw stable codes.
fn plain(e: Error) -> napi::Error<ErrorCode> {
    coded(Code::InvalidArgValue, e.reason.clone())
}

/// Recovers a directory off the JS thread.
pub struct RecoverTask {
    dir: PathBuf,
    max_open: u32,
    /// Index the records as they are recovered (`scan_dir_indexed`).
    index: bool,
    /// With `index`: start from the directory's index checkpoint when it
    /// can be used (`scan_dir_checkpointed`).
    checkpoint: bool,
}

impl Task for RecoverTask {
    type Output =
        std::result::Result<(photon_wb_core::segment::DirRecovery, Option<PageIndex>), CoreError>;
    type JsValue = NativeRecovery;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(if self.index {
            let mut index = PageIndex::new();
            let r = if self.checkpoint {
                scan_dir_checkpointed(&self.dir, &mut index)
            } else {
                scan_dir_indexed(&self.dir, &mut index)
            };
            r.map(|r| (r, Some(index)))
        } else {
            scan_dir(&self.dir).map(|r| (r, None))
        })
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<NativeRecovery> {
        match out {
            Ok((r, index)) => {
                let reader = SegmentReader::new(self.max_open as usize);
                // One copy of the records, shared by the reader and
                // `segment(i)` (which builds its typed arrays on demand);
                // a sealed segment whose records went into the index holds
                // none: the reader reads its index when needed.
                let recovered: Vec<_> = r.segments.into_iter().map(Arc::new).collect();
                for s in &recovered {
                    if s.indexed && s.sealed {
                        reader.add_sealed(s.header.group_id, s.path.clone(), s.seed());
                    } else {
                        reader.add_shared(s.clone());
                    }
                }
                Ok(NativeRecovery {
                    recovered: std::cell::RefCell::new(recovered),
                    corrupt: r
                        .corrupt
                        .into_iter()
                        .map(|(group, path, e)| CorruptSegment {
                            group,
                            path: path.display().to_string(),
                            message: e.to_string(),
                        })
                        .collect(),
                    removed_temp: r.removed_temp,
                    bytes_read: r.bytes_read as f64,
                    reader: Arc::new(reader),
                    index: std::cell::RefCell::new(index),
                    checkpoint: r.checkpoint,
                })
            }
            Err(e) => Err(rejection(&env, to_napi_error(e))),
        }
    }
}

/// `recoverSegments(dir, maxOpenFiles, index?)`: a promise of a `NativeRecovery`
/// (rejects with a coded error on I/O failure): every `seg-*.pws` of `dir`,
/// sealed ones from their trailer and index only, unsealed ones by a walk
/// to their last intact record; leftover temporary files removed. Files
/// named like segments that are not valid ones are listed by `corrupt()`.
#[napi(ts_return_type = "Promise<NativeRecovery>")]
///
/// With `index`, the records are indexed as they are recovered (page id →
/// latest address; take it with `NativePageIndex.absorb`) and a sealed
/// segment's records are not kept (`segment(i)` lists none for it).
///
/// With `checkpoint` too, the index starts from the directory's index
/// checkpoint (`index.pwi`) when it can be used: the segments it covers are
/// recovered from their header and trailer only (`checkpoint*` getters).
pub fn recover_segments(
    dir: String,
    max_open_files: u32,
    index: Option<bool>,
    checkpoint: Option<bool>,
) -> AsyncTask<RecoverTask> {
    AsyncTask::new(RecoverTask {
        dir: PathBuf::from(dir),
        max_open: max_open_files,
        index: index.unwrap_or(false),
        checkpoint: checkpoint.unwrap_or(false),
    })
}

/// A file named like a segment that is not a valid one.
#[napi(object)]
pub struct CorruptSegment {
    pub group: u32,
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// What `recoverSegments` found, and a reader of its pages (and of the
/// segments adopted later).
#[napi]
pub struct NativeRecovery {
    /// Emptied by `dropEntries` (the records then live on disk only).
    recovered: std::cell::RefCell<Vec<Arc<RecoveredSegment>>>,
    corrupt: Vec<CorruptSegment>,
    removed_temp: u32,
    bytes_read: f64,
    reader: Arc<SegmentReader>,
    /// The index built while recovering (with `index`), until taken.
    index: std::cell::RefCell<Option<PageIndex>>,
    checkpoint: CheckpointUse,
}

impl NativeRecovery {
    /// The index built while recovering, once.
    pub(crate) fn take_index(&self) -> Option<PageIndex> {
        self.index.borrow_mut().take()
    }
}

#[napi]
impl NativeRecovery {
    /// Files named like segments that are not valid ones (damaged header,
    /// index or trailer; not a regular file), by group id.
    #[napi]
    pub fn corrupt(&self) -> Vec<CorruptSegment> {
        self.corrupt
            .iter()
            .map(|c| CorruptSegment {
                group: c.group,
                path: c.path.clone(),
                message: c.message.clone(),
            })
            .collect()
    }

    /// The records of group `group` as the reader knows them (recovered or
    /// adopted; read from the sealed segment's index if they are not in
    /// memory), or `null` for a group it does not know.
    #[napi]
    pub fn group_entries(
        &self,
        group: u32,
    ) -> std::result::Result<Option<SegmentEntries>, napi::Error<ErrorCode>> {
        let Some(entries) = self.reader.entries_of(group).map_err(to_napi_error)? else {
            return Ok(None);
        };
        let allocated = entries
            .last()
            .map_or(0, |e| e.offset + 16 + e.page_size.next_multiple_of(8));
        Ok(Some(entries_of(
            group,
            String::new(),
            true,
            0,
            allocated,
            &entries,
            Vec::new(),
        )))
    }

    /// Lets go of every record held in memory (the recovered segments' and
    /// the adopted ones'): from here on each segment's index is read when
    /// one of its pages is, at most `maxOpenFiles` of them kept. Every
    /// segment must be sealed by then. `count` becomes 0.
    #[napi]
    pub fn drop_entries(&self) {
        self.recovered.borrow_mut().clear();
        self.reader.drop_entries();
    }

    /// Segments whose records are in memory now.
    #[napi(getter)]
    pub fn entries_in_memory(&self) -> u32 {
        self.reader.entries_in_memory() as u32
    }

    /// Closes the files the reader holds open (a later read opens its file
    /// again).
    #[napi]
    pub fn close(&self) {
        self.reader.close_files();
    }

    /// Whether a page of the reader's segments has its body at `addr`, if
    /// that can be told without I/O (`null`: its segment's index is not in
    /// memory).
    #[napi]
    pub fn has_page(&self, addr: BigInt) -> Option<bool> {
        match u64_of(&addr) {
            Some(a) => self.reader.has_page(a),
            None => Some(false),
        }
    }

    /// Forgets group `group` (its file is being removed).
    #[napi]
    pub fn remove(&self, group: u32) {
        self.reader.remove(group);
    }

    /// Temporary files of unfinished preparations that were removed.
    #[napi(getter)]
    pub fn removed_temp(&self) -> u32 {
        self.removed_temp
    }

    /// Makes this reader serve the committed pages of `segment` too (call
    /// it after the segment is sealed, or again after later commits).
    #[napi]
    pub fn adopt(&self, segment: &NativeSegment) -> Result<()> {
        let reader = &self.reader;
        let w = segment.writer()?;
        if w.is_sealed() {
            // Its index is on disk: nothing is held until a page is read.
            reader.add_sealed(w.header().group_id, w.path().to_owned(), w.seed());
        } else {
            reader.add_entries(
                w.header().group_id,
                w.path().to_owned(),
                w.seed(),
                w.entries(),
            );
        }
        Ok(())
    }

    /// Seals segment `i` if it was recovered unsealed (index and trailer
    /// after its last intact record, over a torn tail): off the JS thread.
    /// Resolves with the index's record count and the file's length.
    #[napi(ts_return_type = "Promise<SegmentOutcome>")]
    pub fn seal(&self, i: u32) -> Result<AsyncTask<SealRecoveredTask>> {
        let seg = self
            .recovered
            .borrow()
            .get(i as usize)
            .ok_or_else(|| Error::new(Status::InvalidArg, "segment index out of range"))?
            .clone();
        Ok(AsyncTask::new(SealRecoveredTask { seg }))
    }

    /// Files the page reader holds open now (at most `maxOpenFiles`).
    #[napi(getter)]
    pub fn open_files(&self) -> u32 {
        self.reader.open_files() as u32
    }

    /// Whether the index was loaded from the directory's checkpoint.
    #[napi(getter)]
    pub fn checkpoint_loaded(&self) -> bool {
        self.checkpoint.loaded
    }

    /// Why the directory's checkpoint was not used, if it exists and was
    /// not (`null` otherwise).
    #[napi(getter)]
    pub fn checkpoint_ignored(&self) -> Option<String> {
        self.checkpoint.ignored.clone()
    }

    /// Segments the loaded checkpoint covered (their indexes not read).
    #[napi(getter)]
    pub fn checkpoint_covered(&self) -> u32 {
        self.checkpoint.covered
    }

    /// Segments read and indexed on top of the loaded checkpoint.
    #[napi(getter)]
    pub fn checkpoint_indexed(&self) -> u32 {
        self.checkpoint.indexed
    }

    /// Bytes recovery read.
    #[napi(getter)]
    pub fn bytes_read(&self) -> f64 {
        self.bytes_read
    }

    /// Segments found.
    #[napi(getter)]
    pub fn count(&self) -> u32 {
        self.recovered.borrow().len() as u32
    }

    /// The records of segment `i` (by ascending group id), as fresh typed
    /// arrays (built on each call; the native side keeps one copy of the
    /// records, for reads).
    #[napi]
    pub fn segment(&self, i: u32) -> Result<SegmentEntries> {
        let recovered = self.recovered.borrow();
        let s = recovered
            .get(i as usize)
            .ok_or_else(|| Error::new(Status::InvalidArg, "segment index out of range"))?;
        Ok(recovered_entries(s))
    }

    /// The page at `addr` (one `pread`, checked). Throws `ERR_INVALID_ADDR`
    /// if no recovered page has that address, `ERR_CORRUPT` if its bytes on
    /// disk do not check.
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        addr: BigInt,
    ) -> std::result::Result<Unknown<'env>, napi::Error<ErrorCode>> {
        let addr = u64_of(&addr).ok_or_else(|| to_napi_error(CoreError::InvalidAddr))?;
        let body = self.reader.read(addr).map_err(to_napi_error)?;
        external::copy(env, &body).map_err(plain)
    }

    /// `read`, off the JS thread: a promise of the page's bytes (rejects
    /// `ERR_INVALID_ADDR`, `ERR_CORRUPT` or an errno name).
    #[napi(ts_return_type = "Promise<Uint8Array>")]
    pub fn read_async(
        &self,
        addr: BigInt,
    ) -> std::result::Result<AsyncTask<ReadTask>, napi::Error<ErrorCode>> {
        let addr = u64_of(&addr).ok_or_else(|| to_napi_error(CoreError::InvalidAddr))?;
        Ok(AsyncTask::new(ReadTask {
            reader: self.reader.clone(),
            addr,
        }))
    }

    /// `readAsync` of several addresses in one task off the JS thread (the
    /// reads one after another): resolves with each page or each error,
    /// in the order of `addrs`; never rejects for an address.
    #[napi(ts_return_type = "Promise<ReadMany>")]
    pub fn read_many(&self, addrs: BigUint64Array) -> AsyncTask<ReadManyTask> {
        AsyncTask::new(ReadManyTask {
            reader: self.reader.clone(),
            addrs: addrs.to_vec(),
        })
    }
}

/// What `readMany` read: per address, its page or its error (`code` and
/// `message`; an empty code where the page was read).
#[napi(object)]
pub struct ReadMany {
    pub pages: Vec<Option<Uint8Array>>,
    pub codes: Vec<String>,
    pub messages: Vec<String>,
}

/// Several page reads (`pread`, checked) in one task off the JS thread.
pub struct ReadManyTask {
    reader: Arc<SegmentReader>,
    addrs: Vec<u64>,
}

impl Task for ReadManyTask {
    type Output = Vec<std::result::Result<Vec<u8>, CoreError>>;
    type JsValue = ReadMany;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.addrs.iter().map(|&a| self.reader.read(a)).collect())
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<ReadMany> {
        let mut r = ReadMany {
            pages: Vec::with_capacity(out.len()),
            codes: Vec::with_capacity(out.len()),
            messages: Vec::with_capacity(out.len()),
        };
        for one in out {
            match one {
                Ok(body) => {
                    r.pages.push(Some(Uint8Array::new(body)));
                    r.codes.push(String::new());
                    r.messages.push(String::new());
                }
                Err(e) => {
                    r.pages.push(None);
                    r.codes.push(e.code().to_string());
                    r.messages.push(e.to_string());
                }
            }
        }
        Ok(r)
    }
}

/// One page read (`pread`, checked) off the JS thread.
pub struct ReadTask {
    reader: Arc<SegmentReader>,
    addr: u64,
}

impl Task for ReadTask {
    type Output = std::result::Result<Vec<u8>, CoreError>;
    type JsValue = Uint8Array;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.reader.read(self.addr))
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<Uint8Array> {
        match out {
            // napi-rs hands the bytes over without a copy, or copies them
            // where the runtime refuses external buffers.
            Ok(body) => Ok(Uint8Array::new(body)),
            Err(e) => Err(rejection(&env, to_napi_error(e))),
        }
    }
}

/// Scratch-free call: marks the record at `record` of the buffer in `slot`
/// complete (its writer filled it), so a commit may write it before the
/// writer is released. Returns 0, or a negative status (`ERR_INVALID_ADDR`
/// when no record starts there, `ERR_CLOSED` for an empty slot).
#[napi]
pub fn mark_complete(slot: u32, record: u32) -> i32 {
    registry::with(slot, |wb| match wb.mark_complete(record) {
        Ok(()) => 0,
        Err(e) => e.status(),
    })
    .unwrap_or(Code::Closed.status())
}

/// Seals a recovered segment off the JS thread.
pub struct SealRecoveredTask {
    seg: Arc<RecoveredSegment>,
}

impl Task for SealRecoveredTask {
    type Output = std::result::Result<(f64, f64), CoreError>;
    type JsValue = SegmentOutcome;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(seal_recovered(&self.seg).map(|s| (s.records as f64, s.file_len as f64)))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<SegmentOutcome> {
        Ok(outcome(out))
    }
}
