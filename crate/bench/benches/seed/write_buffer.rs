//! The seed's write buffer, vendored for the side-by-side benchmark
//! (`benches/seed_vs_core.rs`) and nothing else.
//!
//! Source: photondb 0.0.4, `photondb/src/page_store/write_buffer.rs`
//! (<https://github.com/photondb/photondb>, crates.io `photondb` 0.0.4), the
//! document this project ports (`/work/shared/seed/write_buffer.rs.txt` in the
//! project's workspace). License: MIT, reproduced here as it requires:
//!
//! > MIT License
//! >
//! > Copyright (c) 2022 The PhotonDB Authors
//! >
//! > Permission is hereby granted, free of charge, to any person obtaining a
//! > copy of this software and associated documentation files (the
//! > "Software"), to deal in the Software without restriction, including
//! > without limitation the rights to use, copy, modify, merge, publish,
//! > distribute, sublicense, and/or sell copies of the Software, and to
//! > permit persons to whom the Software is furnished to do so, subject to
//! > the following conditions:
//! >
//! > The above copyright notice and this permission notice shall be included
//! > in all copies or substantial portions of the Software.
//! >
//! > THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
//! > OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
//! > MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
//! > IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
//! > CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
//! > TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
//! > SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
//!
//! Only the allocation path is kept: `with_capacity`, `alloc_page`,
//! `release_writer`, `alloc_size`, `new_page_at`, `record_uninit_mut`,
//! `BufferState` and `record_size`, with their bodies as the seed has them
//! (same orderings, same checks). Adapted minimally to compile outside
//! photondb:
//! - `Error`/`Result` are two local variants instead of the page store's;
//! - `PageBuf<'a>` is the `&'a mut [u8]` it wraps;
//! - the `bitflags!` flags are plain `u32` constants (`.bits()` dropped);
//! - the flush latch, `log::info!` (in `seal`, not kept) and everything off
//!   the allocation path (iteration, `page`, dealloc records, `batch`) are
//!   left out;
//! - `// Safety:` comments read `// SAFETY:` (the workspace's clippy lint),
//!   `unsafe` blocks the seed left implicit inside its `unsafe fn`s are
//!   spelled out (`unsafe_op_in_unsafe_fn` is denied here); clippy's style
//!   lints that the seed's code predates are allowed below rather than its
//!   code rewritten.

#![allow(clippy::manual_is_multiple_of, clippy::manual_div_ceil)]

use std::{
    mem::MaybeUninit,
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    Again,
    TooLargeSize,
}

pub type Result<T> = std::result::Result<T, Error>;

pub struct WriteBuffer
where
    Self: Send,
{
    group_id: u32,

    buf: NonNull<u8>,
    buf_size: usize,

    // The state of current buffer, see [`BufferState`] for details.
    buffer_state: AtomicU64,
}

#[derive(Default, Debug, Clone)]
struct BufferState {
    sealed: bool,

    /// The number of txn in progress.
    num_writer: u32,

    /// The size of the allocated buffers for a [`WriteBuffer`], aligned by 8
    /// bytes.
    allocated: u32,
}

#[repr(C)]
pub struct RecordHeader {
    /// For normal pages, it records the page id which the page belongs to.
    data: u64,
    flags: u32,
    page_size: u32,
}

/// [`ReleaseState`] indicates that caller whether to notify flush job.
#[derive(Debug)]
pub enum ReleaseState {
    /// The [`WriteBuffer`] might be active or still exists pending writer.
    None,
    /// The [`WriteBuffer`] has been sealed and all writers are released.
    Flush,
}

impl WriteBuffer {
    pub fn with_capacity(group_id: u32, size: u32) -> Self {
        use std::alloc::{alloc, Layout};

        let buf_size = size as usize;
        if buf_size <= core::mem::size_of::<usize>() {
            panic!("The capacity of WriteBuffer is too small");
        }

        if !buf_size.is_power_of_two() {
            panic!("The capacity of WriteBuffer is not pow of two");
        }

        let layout = Layout::from_size_align(buf_size, core::mem::size_of::<usize>())
            .expect("Invalid layout");
        // SAFETY: it is guaranteed that layout has non-zero size.
        let buf = unsafe { NonNull::new(alloc(layout)).expect("The memory is exhausted") };
        let default_state = BufferState::default();
        WriteBuffer {
            group_id,
            buf,
            buf_size,
            buffer_state: AtomicU64::new(default_state.apply()),
        }
    }

    /// First byte of the buffer (the benchmark touches its pages before
    /// timing; not in the seed).
    pub fn buf_ptr(&self) -> *mut u8 {
        self.buf.as_ptr()
    }

    /// Allocate new page from the buffer.
    ///
    /// # Safety
    ///
    /// The user needs to ensure that the [`WriteBuffer`] is valid for as long
    /// as the page reference is still held.
    pub unsafe fn alloc_page<'a>(
        &self,
        page_id: u64,
        page_size: u32,
        acquire_writer: bool,
    ) -> Result<(u64, &'a mut RecordHeader, &'a mut [u8])> {
        let acquire_size = record_size(page_size);
        let offset = self.alloc_size(acquire_size, acquire_writer)?;
        // SAFETY: here is the only one reference to the record.
        Ok(unsafe { self.new_page_at(offset, page_id, page_size) })
    }

    /// Release the writer guard acquired before.
    ///
    /// # Safety
    ///
    /// Before the writer is released, it must be ensured that all former
    /// allocated [`PageBuf`] have been released or converted to [`PageRef`]
    /// to avoid violating pointer aliasing rules.
    pub unsafe fn release_writer(&self) -> ReleaseState {
        let mut current = self.buffer_state.load(Ordering::Acquire);
        loop {
            let mut buffer_state = BufferState::load(current);
            buffer_state.dec_writer();
            let new = buffer_state.apply();

            match self.buffer_state.compare_exchange(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if buffer_state.is_flushable() {
                        return ReleaseState::Flush;
                    } else {
                        return ReleaseState::None;
                    }
                }
                Err(v) => {
                    current = v;
                }
            }
        }
    }

    /// Construct the mutable reference of [`RecordHeader`] of the corresponding
    /// offset. The record might uninitialized.
    ///
    /// # Safety
    ///
    /// There should no any references pointer to the target record.
    #[inline]
    unsafe fn record_uninit_mut<'a>(&self, offset: u32) -> &'a mut MaybeUninit<RecordHeader> {
        let offset = offset as usize;
        if offset % core::mem::size_of::<usize>() != 0 {
            panic!("The specified offset is not aligned with pointer size");
        }

        assert!(offset + core::mem::size_of::<RecordHeader>() < self.buf_size);

        // SAFETY:
        // 1. Both start and result pointer in bounds.
        // 2. The computed offset is not exceeded `isize`.
        unsafe {
            &mut *(self
                .buf
                .as_ptr()
                .add(offset)
                .cast::<MaybeUninit<RecordHeader>>())
        }
    }

    /// Allocate memory and install writer. Returns the address of the first
    /// byte.
    fn alloc_size(&self, need: u32, acquire_writer: bool) -> Result<u32> {
        let mut current = self.buffer_state.load(Ordering::Acquire);
        loop {
            let mut state = BufferState::load(current);
            if state.sealed {
                return Err(Error::Again);
            }

            if acquire_writer {
                state.inc_writer();
            }
            let offset = state.alloc_size(need, self.buf_size as u32)?;
            let new = state.apply();

            match self.buffer_state.compare_exchange(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Ok(offset);
                }
                Err(e) => {
                    current = e;
                }
            }
        }
    }

    /// New page at the corresponding offset.
    ///
    /// # Safety
    ///
    /// Not reference pointer to the target record.
    unsafe fn new_page_at<'a>(
        &self,
        offset: u32,
        page_id: u64,
        page_size: u32,
    ) -> (u64, &'a mut RecordHeader, &'a mut [u8]) {
        // Construct `RecordHeader`.
        // SAFETY: here is the only one reference to the record.
        let header = unsafe { self.record_uninit_mut(offset) };
        header.write(RecordHeader {
            data: page_id,
            flags: RecordFlags::NORMAL_PAGE,
            page_size,
        });
        // SAFETY: just written.
        let header = unsafe { header.assume_init_mut() };

        // Compute page addr.
        let page_offset = offset + core::mem::size_of::<RecordHeader>() as u32;
        let page_addr = ((self.group_id as u64) << 32) | (page_offset as u64);

        // Construct `PageBuf`.
        // SAFETY: the body follows the header inside the reserved range.
        let buf = unsafe {
            let ptr = (header as *mut RecordHeader).offset(1).cast::<u8>();
            std::slice::from_raw_parts_mut(ptr, page_size as usize)
        };
        (page_addr, header, buf)
    }
}

impl Drop for WriteBuffer {
    fn drop(&mut self) {
        use std::alloc::{dealloc, Layout};

        let state = BufferState::load(self.buffer_state.load(Ordering::SeqCst));
        if state.has_writer() {
            panic!("Try drop a write buffer that is still in use");
        }

        let layout = Layout::from_size_align(self.buf_size, core::mem::size_of::<usize>())
            .expect("Invalid layout");
        // SAFETY: this memory is allocated in [`WriteBuffer::with_capacity`] and has
        // the same layout.
        unsafe {
            dealloc(self.buf.as_ptr(), layout);
        }
    }
}

// SAFETY:
// [`WriteBuffer`] is [`Send`] since all accesses to the inner buf are
// guaranteed that the aliases do not overlap.
unsafe impl Send for WriteBuffer {}

// SAFETY:
// [`WriteBuffer`] is [`Send`] since all accesses to the inner buf are
// guaranteed that the aliases do not overlap.
unsafe impl Sync for WriteBuffer {}

impl BufferState {
    #[inline]
    fn load(val: u64) -> Self {
        let allocated = (val & ((1 << 32) - 1)) as u32;
        let num_writer = ((val >> 32) & ((1 << 31) - 1)) as u32;
        let sealed = val & (1 << 63) != 0;
        BufferState {
            sealed,
            num_writer,
            allocated,
        }
    }

    #[inline]
    fn has_writer(&self) -> bool {
        self.num_writer > 0
    }

    #[inline]
    fn is_flushable(&self) -> bool {
        self.sealed && !self.has_writer()
    }

    #[inline]
    fn inc_writer(&mut self) {
        self.num_writer = self
            .num_writer
            .checked_add(1)
            .expect("inc writer out of range");
    }

    #[inline]
    fn dec_writer(&mut self) {
        self.num_writer = self
            .num_writer
            .checked_sub(1)
            .expect("dec writer out of range");
    }

    #[inline]
    fn alloc_size(&mut self, required: u32, buf_size: u32) -> Result<u32> {
        const ALIGN: u32 = core::mem::size_of::<usize>() as u32;
        debug_assert_eq!(self.allocated % ALIGN, 0);

        let required = next_multiple_of_u32(required, ALIGN);
        if required > buf_size {
            return Err(Error::TooLargeSize);
        }

        if self.allocated + required > buf_size {
            return Err(Error::Again);
        }

        let offset = self.allocated;
        self.allocated = offset + required;
        Ok(offset)
    }

    #[inline]
    fn apply(&self) -> u64 {
        assert!(self.num_writer < (1 << 31));
        (if self.sealed { 1 << 63 } else { 0 })
            | ((self.num_writer as u64) << 32)
            | (self.allocated as u64)
    }
}

#[inline]
fn next_multiple_of_u32(val: u32, multiple: u32) -> u32 {
    ((val + multiple - 1) / multiple) * multiple
}

/// Returns the total space of the current record, including the
/// [`RecordHeader`].
///
/// This value is not simply equal to `page_size + size_of::<RecordHeader>()`,
/// because size of records need to be aligned by 8 bytes.
#[inline]
fn record_size(x: u32) -> u32 {
    const ALIGN: u32 = core::mem::size_of::<usize>() as u32;
    core::mem::size_of::<RecordHeader>() as u32 + next_multiple_of_u32(x, ALIGN)
}

/// The seed's `bitflags! { struct RecordFlags: u32 { ... } }`, as constants.
#[allow(non_snake_case)]
mod RecordFlags {
    pub const NORMAL_PAGE: u32 = 0b0000_0001;
}
