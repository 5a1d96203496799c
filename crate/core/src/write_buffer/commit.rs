//! What a segment commit may write: the longest prefix of complete records
//! (see `docs/page-file-format.md`, "Format v2: segments").
//!
//! A record is complete when its completion mark is set (the appender calls
//! [`WriteBuffer::mark_complete`] after filling it, before releasing its
//! writer; records Rust writes whole are marked as written), or when the
//! buffer is flushable (sealed, no writer in progress): the v1 rule, for
//! appenders that do not mark.
//!
//! "No writer in progress" alone is not enough while the buffer is open:
//! `writePage(…, false)` reserves without a writer and copies the body in JS
//! right after, so a commit running on another thread at that moment would
//! write the body before it is there. Only the owner thread seals, after its
//! synchronous copies, so the flushable state is safe (as for a v1 flush).

use super::WriteBuffer;
use crate::error::{Error, Result};
use crate::record::{Header, HEADER_SIZE};

impl WriteBuffer {
    /// Marks the record at `record` complete: its writer has filled it and
    /// will not write it again, so a segment commit may write it.
    /// [`Error::InvalidAddr`] when no record starts there.
    ///
    /// Call it after the body is written and before the writer that covers
    /// the record is released.
    pub fn mark_complete(&self, record: u32) -> Result<()> {
        self.header(record)?;
        self.complete.mark(record);
        Ok(())
    }

    /// Marks every record in `[from, to)` complete (the pages of one batch).
    /// [`Error::InvalidAddr`] (and nothing marked) unless records start at
    /// `from` and follow each other up to exactly `to`.
    pub fn mark_complete_range(&self, from: u32, to: u32) -> Result<()> {
        let mut off = from;
        while off < to {
            off = self.next_record(off).ok_or(Error::InvalidAddr)?;
        }
        if off != to {
            return Err(Error::InvalidAddr);
        }
        let mut off = from;
        while off < to {
            self.complete.mark(off);
            off = self.next_record(off).ok_or(Error::InvalidAddr)?;
        }
        Ok(())
    }

    /// Marks a record Rust wrote whole (a lane's filler).
    pub(crate) fn mark_filled(&self, record: u32) {
        self.complete.mark(record);
    }

    /// The offset after the record at `record`, if one starts there and
    /// fits the arena.
    fn next_record(&self, record: u32) -> Option<u32> {
        let h = self.header(record).ok()?;
        let next = record as u64 + h.record_size();
        (next <= self.capacity as u64).then_some(next as u32)
    }

    /// The end of the longest run of complete records that starts at
    /// `from` (a record boundary: 0 or a previous result). Equal to `from`
    /// when the record there is not complete (or not reserved yet).
    pub fn complete_prefix(&self, from: u32) -> u32 {
        // Ordering: Acquire (inside `state`), pairs with the Release half of
        // every `release_writer`/`seal` AcqRel: once flushable, every writer
        // that reserved below `allocated` has released, and what it wrote
        // (and what the sealing thread wrote) is visible here.
        let s = self.state();
        let quiet_end = if s.is_flushable() {
            s.allocated.min(self.capacity)
        } else {
            0
        };
        let mut off = from;
        while off as u64 + HEADER_SIZE as u64 <= self.capacity as u64 {
            // The mark's Acquire (in `is_marked`) makes the header and body
            // visible; for the flushable case the start bit's Acquire makes
            // the header visible (a record reserved without a writer writes
            // its header after the reservation).
            let done =
                self.complete.is_marked(off) || (off < quiet_end && self.starts.is_start(off));
            if !done {
                break;
            }
            let next = off as u64 + self.cell(off).load().record_size();
            if next > self.capacity as u64 {
                break;
            }
            off = next as u32;
        }
        off
    }

    /// The records of `[from, to)`, in order, tombstones included.
    ///
    /// # Safety
    ///
    /// `to` was returned by [`WriteBuffer::complete_prefix`]`(from')` on
    /// this buffer for some `from' <= from` on the same run of records (so
    /// every record in the range is complete and visible), and nobody writes
    /// those records while the returned slices live (the marking contract:
    /// a writer marks a record only when it is done with it).
    pub unsafe fn complete_records(&self, from: u32, to: u32) -> CompleteRecords<'_> {
        CompleteRecords {
            buffer: self,
            offset: from,
            end: to.min(self.capacity),
        }
    }
}

/// Iterator of [`WriteBuffer::complete_records`]: `(offset, header, body)`.
pub struct CompleteRecords<'a> {
    buffer: &'a WriteBuffer,
    offset: u32,
    end: u32,
}

impl<'a> Iterator for CompleteRecords<'a> {
    type Item = (u32, Header, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let off = self.offset;
        if off as u64 + HEADER_SIZE as u64 > self.end as u64 {
            return None;
        }
        let header = self.buffer.cell(off).load();
        let next = off as u64 + header.record_size();
        if next > self.end as u64 {
            return None;
        }
        self.offset = next as u32;
        let start = off as usize + HEADER_SIZE as usize;
        // SAFETY: `start + page_size <= next <= end <= capacity` (checked
        // above), so the slice is inside the arena; the record is complete
        // and nobody writes it while the slice lives (this iterator's
        // contract, taken on by `complete_records`' caller).
        let body = unsafe {
            std::slice::from_raw_parts(
                self.buffer.arena.as_ptr().add(start),
                header.page_size as usize,
            )
        };
        Some((off, header, body))
    }
}
