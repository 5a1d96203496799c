//! The page index of a `PageLog` (`photon_wb_core::page_index`): page id →
//! latest address, in Rust (16 bytes and a control byte per bucket, where a
//! JS `Map` with `bigint` values costs several times that).
//!
//! Each `NativePageIndex` owns a slot of this thread's table of indexes;
//! the scratch calls (`fastIndexGet`, `fastIndexForget`) take no napi
//! arguments: the slot in `S_SLOT`, the page id in `S_U64`, the address in
//! `S_ADDR`; results in `O_FOUND` and `O_U64`, the status in `S_STATUS`
//! (`ERR_CLOSED` for a slot with no index; `src/` never names one it does not
//! own). Bulk calls (`setMany`, `addEntries`, `entries`) are methods: an
//! append's index update waits in a JS batch and reaches Rust with a
//! thousand others in one `setMany` (`src/page-log/page-index.ts`).
//!
//! The table's bytes are reported to V8 (`napi_adjust_external_memory`,
//! through `ExternalCharge`) as it grows, and given back when the index is
//! collected. A `NativePageIndex` lives on the thread that made it (a napi
//! object cannot leave it), and so does its slot.

use std::cell::RefCell;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::page_index::{EntriesError, PageIndex, Slot};
use photon_wb_core::segment::checkpoint::write_checkpoint;
use photon_wb_core::segment::format::segment_name;
use photon_wb_core::Code;

use crate::error::{coded, ErrorCode};
use crate::external::ExternalCharge;
use crate::layout::{O_FOUND, O_U64, S_ADDR, S_SLOT, S_STATUS, S_U64};
use crate::scratch::{self, set_u64, u64_at};

struct Entry {
    index: PageIndex,
    /// The bytes `charge` reports.
    charged: usize,
    charge: Option<ExternalCharge>,
}

thread_local! {
    /// This thread's indexes, by slot (`None`: a free slot).
    static INDEXES: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// The status of a scratch call on a slot with no index.
const STATUS_CLOSED: i32 = Code::Closed.status();

#[inline(always)]
const fn w(word: u32) -> usize {
    word as usize
}

/// Runs `f` on the index in `slot`, if there is one.
#[inline]
fn with_index<R>(slot: u32, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
    INDEXES
        .try_with(|t| {
            let mut t = t.try_borrow_mut().ok()?;
            t.get_mut(slot as usize)?.as_mut().map(f)
        })
        .ok()
        .flatten()
}

/// Reports the index's bytes to V8 when they changed since the last report.
/// Outside any borrow of the table: adjusting may run a GC.
fn recharge(env: &Env, slot: u32) {
    let Some(Some(bytes)) = with_index(slot, |e| {
        let b = e.index.bytes();
        (b != e.charged).then_some(b)
    }) else {
        return;
    };
    let charge = ExternalCharge::new(env, bytes);
    let old = with_index(slot, |e| {
        e.charged = bytes;
        e.charge.replace(charge)
    });
    drop(old); // gives the previous report back, outside the borrow
}

/// Runs a scratch call on the index named by `S_SLOT`: `f` returns `O_FOUND`.
/// Returns whether the index's bytes may have changed.
#[inline]
fn on_index(f: impl FnOnce(&mut [u32; 1024], &mut PageIndex) -> bool) -> bool {
    scratch::with(|s| {
        let r = with_index(s[w(S_SLOT)], |e| {
            let found = f(s, &mut e.index);
            (found, e.index.bytes() != e.charged)
        });
        match r {
            Some((found, grew)) => {
                s[w(O_FOUND)] = u32::from(found);
                s[w(S_STATUS)] = 0;
                grew
            }
            None => {
                s[w(S_STATUS)] = STATUS_CLOSED as u32;
                false
            }
        }
    })
    .unwrap_or(false)
}

/// Scratch call: the latest address of page `S_U64`. Out: `O_FOUND`, and
/// the address in `O_U64` (0 when not found).
#[napi]
pub fn fast_index_get() {
    scratch::with(|s| {
        let id = u64_at(s, S_U64);
        match with_index(s[w(S_SLOT)], |e| e.index.get(id)) {
            Some(found) => {
                s[w(O_FOUND)] = u32::from(found.is_some());
                set_u64(s, O_U64, found.unwrap_or(0));
                s[w(S_STATUS)] = 0;
            }
            None => s[w(S_STATUS)] = STATUS_CLOSED as u32,
        }
    });
}

/// Scratch call: a dealloc record frees address `S_ADDR`: the page whose
/// latest address it is loses its entry. Out: `O_FOUND`, 1 when a page did
/// (its id in `O_U64`).
#[napi]
pub fn fast_index_forget(env: &Env) {
    let mut slot = 0;
    let grew = on_index(|s, ix| {
        slot = s[w(S_SLOT)];
        let freed = ix.forget(u64_at(s, S_ADDR));
        set_u64(s, O_U64, freed.unwrap_or(0));
        freed.is_some()
    });
    if grew {
        recharge(env, slot);
    }
}

/// A page index in this thread's table (see the module's documentation).
#[napi]
pub struct NativePageIndex {
    slot: u32,
}

#[napi]
impl NativePageIndex {
    #[napi(constructor)]
    pub fn new() -> Result<Self, ErrorCode> {
        let entry = Entry {
            index: PageIndex::new(),
            charged: 0,
            charge: None,
        };
        let slot = INDEXES.with_borrow_mut(|t| {
            if let Some(i) = t.iter().position(Option::is_none) {
                t[i] = Some(entry);
                return u32::try_from(i).ok();
            }
            let i = u32::try_from(t.len()).ok()?;
            t.push(Some(entry));
            Some(i)
        });
        let slot =
            slot.ok_or_else(|| coded(Code::OutOfMemory, "too many page indexes on this thread"))?;
        Ok(NativePageIndex { slot })
    }

    /// The slot the scratch calls name in `S_SLOT`.
    #[napi(getter)]
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Page ids with an address.
    #[napi(getter)]
    pub fn size(&self) -> f64 {
        with_index(self.slot, |e| e.index.len() as f64).unwrap_or(0.0)
    }

    /// Heap bytes the index holds (and reports to V8).
    #[napi(getter)]
    pub fn bytes(&self) -> f64 {
        with_index(self.slot, |e| e.index.bytes() as f64).unwrap_or(0.0)
    }

    /// The first `n` pairs, in order: `addrs[i]` becomes the latest address
    /// of page `pageIds[i]` (with `onlyIfLater`: unless it has a higher
    /// one). Returns how many addresses were taken. `n` past either array:
    /// `ERR_INVALID_ARG_VALUE`, nothing applied.
    #[napi]
    pub fn set_many(
        &self,
        env: &Env,
        page_ids: &[u64],
        addrs: &[u64],
        n: u32,
        only_if_later: bool,
    ) -> Result<u32, ErrorCode> {
        let n = n as usize;
        if n > page_ids.len() || n > addrs.len() {
            return Err(coded(
                Code::InvalidArgValue,
                "n must not exceed the length of pageIds or addrs",
            ));
        }
        let taken = with_index(self.slot, |e| {
            let mut taken = 0u32;
            for (&id, &addr) in page_ids[..n].iter().zip(&addrs[..n]) {
                taken += u32::from(e.index.set_latest(id, addr, only_if_later));
            }
            taken
        })
        .ok_or_else(|| coded(Code::Closed, "the page index is gone"))?;
        recharge(env, self.slot);
        Ok(taken)
    }

    /// Indexes entries in log order (`PageIndex::add_entries`): flags
    /// `NORMAL_PAGE`: the address becomes the page's latest if later;
    /// `DEALLOC_PAGES`: the address is freed (the page id is unused);
    /// `TOMBSTONE`: skipped. Returns the number of page entries, or
    /// `-1 - i` when entry `i` has other flags (then nothing was applied).
    /// Lengths that differ: `ERR_INVALID_ARG_VALUE`.
    #[napi]
    pub fn add_entries(
        &self,
        env: &Env,
        page_ids: &[u64],
        addrs: &[u64],
        flags: &[u32],
    ) -> Result<f64, ErrorCode> {
        let r = with_index(self.slot, |e| e.index.add_entries(page_ids, addrs, flags))
            .ok_or_else(|| coded(Code::Closed, "the page index is gone"))?;
        recharge(env, self.slot);
        match r {
            Ok(pages) => Ok(pages as f64),
            Err(EntriesError::Flags { at, .. }) => Ok(-1.0 - at as f64),
            Err(EntriesError::Lengths) => Err(coded(
                Code::InvalidArgValue,
                "pageIds, addrs and flags must have the same length",
            )),
        }
    }

    /// Takes the index `recovery` built while recovering (`recoverSegments`
    /// with `index`): it becomes this one if this one is empty (no copy),
    /// else its entries are added (each only if later). Returns the page
    /// ids added; 0 if the recovery has no index (any more).
    #[napi]
    pub fn absorb(
        &self,
        env: &Env,
        recovery: &crate::segment::NativeRecovery,
    ) -> Result<f64, ErrorCode> {
        let Some(taken) = recovery.take_index() else {
            return Ok(0.0);
        };
        let n = taken.len();
        with_index(self.slot, |e| {
            if e.index.is_empty() {
                e.index = taken;
            } else {
                for (id, addr) in taken.entries(false) {
                    e.index.set_latest(id, addr, true);
                }
            }
        })
        .ok_or_else(|| coded(Code::Closed, "the page index is gone"))?;
        recharge(env, self.slot);
        Ok(n as f64)
    }

    /// A copy of the index's table (one `memcpy`, on this thread), to be
    /// written as a checkpoint by `NativeCheckpointImage.write`.
    #[napi]
    pub fn checkpoint_image(&self, env: Env) -> Result<NativeCheckpointImage, ErrorCode> {
        let (slots, len) = with_index(self.slot, |e| e.index.image())
            .ok_or_else(|| coded(Code::Closed, "the page index is gone"))?;
        let bytes = std::mem::size_of_val(slots.as_slice());
        Ok(NativeCheckpointImage {
            slots: Some(slots),
            len,
            bytes,
            charge: Some(ExternalCharge::new(&env, bytes)),
        })
    }

    /// A snapshot of every `(page id, address)` pair, sorted by address
    /// when `byAddr` (else in no order): 16 bytes per page until it is
    /// dropped.
    #[napi]
    pub fn entries(&self, by_addr: bool) -> Result<NativeIndexEntries, ErrorCode> {
        let pairs = with_index(self.slot, |e| e.index.entries(by_addr))
            .ok_or_else(|| coded(Code::Closed, "the page index is gone"))?;
        Ok(NativeIndexEntries { pairs, next: 0 })
    }
}

impl Drop for NativePageIndex {
    fn drop(&mut self) {
        // Taken out under the borrow, dropped after it (giving the charge
        // back calls into V8).
        let gone = INDEXES
            .try_with(|t| {
                let mut t = t.try_borrow_mut().ok()?;
                t.get_mut(self.slot as usize)?.take()
            })
            .ok()
            .flatten();
        drop(gone);
    }
}

/// A copy of a page index's table, for one checkpoint. Its bytes are
/// reported to V8 (`ExternalCharge`, as the index's own) until the copy is
/// written (given back when the write has finished, on the JS thread) or
/// the image is collected unwritten.
#[napi]
pub struct NativeCheckpointImage {
    /// Taken by `write`.
    slots: Option<Vec<Slot>>,
    len: usize,
    /// The copy's bytes.
    bytes: usize,
    /// Reports `bytes` to V8; moves to the write's task.
    charge: Option<ExternalCharge>,
}

#[napi]
impl NativeCheckpointImage {
    /// Page ids in the copy.
    #[napi(getter)]
    pub fn size(&self) -> f64 {
        self.len as f64
    }

    /// The copy's bytes (reported to V8 while it is held).
    #[napi(getter)]
    pub fn bytes(&self) -> f64 {
        self.bytes as f64
    }

    /// Writes the copy as the checkpoint of `dir` (`index.pwi`,
    /// docs/page-file-format.md), off the JS thread (atomically: temporary
    /// file, `fdatasync`, rename, directory `fsync`). `groups` must be
    /// every sealed segment whose records the copy holds, and nothing else
    /// may be in it. Once only (then `ERR_CLOSED`). Resolves with the bytes
    /// written.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn write(
        &mut self,
        dir: String,
        groups: Vec<u32>,
    ) -> Result<AsyncTask<CheckpointTask>, ErrorCode> {
        let slots = self
            .slots
            .take()
            .ok_or_else(|| coded(Code::Closed, "this checkpoint image was written already"))?;
        let dir = std::path::PathBuf::from(dir);
        let segments = groups
            .into_iter()
            .map(|g| (g, dir.join(segment_name(g))))
            .collect();
        Ok(AsyncTask::new(CheckpointTask {
            dir,
            slots,
            len: self.len,
            segments,
            charge: self.charge.take(),
        }))
    }
}

/// Writes a checkpoint off the JS thread.
pub struct CheckpointTask {
    dir: std::path::PathBuf,
    slots: Vec<Slot>,
    len: usize,
    segments: Vec<(u32, std::path::PathBuf)>,
    /// The image's report to V8: given back in `finally`, on the JS thread
    /// (the copy itself is freed at the end of `compute`).
    charge: Option<ExternalCharge>,
}

impl Task for CheckpointTask {
    type Output = std::result::Result<u64, photon_wb_core::Error>;
    type JsValue = f64;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let slots = std::mem::take(&mut self.slots);
        Ok(write_checkpoint(
            &self.dir,
            &slots,
            self.len,
            &self.segments,
        ))
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> napi::Result<f64> {
        match out {
            Ok(n) => Ok(n as f64),
            Err(e) => Err(crate::error::rejection(
                &env,
                crate::error::to_napi_error(e),
            )),
        }
    }

    fn finally(mut self, _env: Env) -> napi::Result<()> {
        drop(self.charge.take());
        Ok(())
    }
}

/// A snapshot of a page index's entries, read in chunks by `fill`.
#[napi]
pub struct NativeIndexEntries {
    pairs: Vec<(u64, u64)>,
    next: usize,
}

#[napi]
impl NativeIndexEntries {
    /// Entries in the snapshot.
    #[napi(getter)]
    pub fn length(&self) -> f64 {
        self.pairs.len() as f64
    }

    /// Writes the next entries' page ids and addresses into `pageIds[i]`,
    /// `addrs[i]`; returns how many (0: the end; the snapshot's memory is
    /// freed then).
    #[napi]
    pub fn fill(
        &mut self,
        mut page_ids: BigUint64Array,
        mut addrs: BigUint64Array,
    ) -> Result<u32, ErrorCode> {
        let span = |a: &mut BigUint64Array| {
            // SAFETY: a live typed-array argument of this call; the slice
            // only lives for this expression.
            let s = unsafe { a.as_mut() };
            let p = s.as_mut_ptr() as usize;
            (p, p + std::mem::size_of_val(s))
        };
        let (a, b) = (span(&mut page_ids), span(&mut addrs));
        if a.0 < b.1 && b.0 < a.1 {
            return Err(coded(
                Code::InvalidArgValue,
                "pageIds and addrs must not share memory",
            ));
        }
        // SAFETY: both are live typed-array arguments of this call, over
        // distinct memory (checked above); no JS runs during the call, so
        // nothing else reads or writes them meanwhile.
        let (ids, out) = unsafe { (page_ids.as_mut(), addrs.as_mut()) };
        let room = ids.len().min(out.len()).min(u32::MAX as usize);
        let n = room.min(self.pairs.len() - self.next);
        for (k, &(id, a)) in self.pairs[self.next..self.next + n].iter().enumerate() {
            ids[k] = id;
            out[k] = a;
        }
        self.next += n;
        if self.next == self.pairs.len() {
            self.pairs = Vec::new();
            self.next = 0;
        }
        Ok(n as u32)
    }
}
