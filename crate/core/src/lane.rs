//! Writer lanes: one CAS reserves a chunk for one writer, which then
//! bump-allocates page records inside it with no shared atomics. Closing
//! the lane covers the unused tail with a tombstone filler record and
//! releases the writer, so the buffer's layout, iteration and flush stay
//! exactly those of records reserved one by one.

use crate::error::{Error, Result};
use crate::record::{
    record_size, Header, ALIGN, DEALLOC_PAGES, HEADER_SIZE, NORMAL_PAGE, TOMBSTONE,
};
use crate::write_buffer::{PageAlloc, ReleaseState, WriteBuffer};

/// A chunk of a buffer owned by one writer: `[cursor, end)` is still free.
///
/// The tail never becomes exactly 8 bytes (too small for the filler's
/// header): an allocation that would leave 8 bytes is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// Next free byte.
    pub cursor: u32,
    /// End of the chunk.
    pub end: u32,
}

impl Lane {
    /// Free bytes left in the chunk.
    pub fn remaining(&self) -> u32 {
        self.end - self.cursor
    }
}

/// The header of a tombstone record covering `bytes` (at least 16).
fn filler(bytes: u32) -> Header {
    Header {
        data: 0,
        flags: TOMBSTONE,
        page_size: bytes - HEADER_SIZE,
    }
}

impl WriteBuffer {
    /// Reserves a lane of `bytes` (rounded up to 8, at least 16) with one
    /// CAS that also counts one writer. `Again` when the buffer is sealed or
    /// has less room than that; `TooLargeSize` when it can never fit.
    pub fn reserve_lane(&self, bytes: u32) -> Result<Lane> {
        let need = (bytes.max(HEADER_SIZE) as u64).div_ceil(ALIGN as u64) * ALIGN as u64;
        let start = self.reserve(need, true)?;
        Ok(Lane {
            cursor: start,
            end: start + need as u32,
        })
    }

    /// Writes a page record at the lane's cursor and advances it; `Again`
    /// (lane unchanged) when the page does not fit the rest of the lane.
    ///
    /// `lane` must come from [`WriteBuffer::reserve_lane`] on this buffer
    /// and not be closed; a range that is not inside the reserved bytes is
    /// refused with `InvalidAddr` (never written).
    pub fn lane_alloc_page(
        &self,
        lane: &mut Lane,
        page_id: u64,
        page_size: u32,
    ) -> Result<PageAlloc> {
        self.check_lane(lane)?;
        let need = record_size(page_size);
        if need > self.capacity() as u64 {
            return Err(Error::TooLargeSize);
        }
        let left = lane.remaining() as u64;
        // Exactly filling the lane is fine; otherwise leave room for the
        // filler's header (a tail of 8 bytes could hold no record).
        if need != left && need + HEADER_SIZE as u64 > left {
            return Err(Error::Again);
        }
        let page = self.write_page(lane.cursor, page_id, page_size);
        lane.cursor += need as u32;
        Ok(page)
    }

    /// Covers the lane's unused tail with a tombstone filler record and
    /// releases the lane's writer.
    pub fn close_lane(&self, lane: Lane) -> Result<ReleaseState> {
        self.check_lane(&lane)?;
        let tail = lane.remaining();
        if tail > 0 {
            self.write_record(lane.cursor, filler(tail), &[]);
            // The filler is whole as written: complete for segment commits.
            self.mark_filled(lane.cursor);
        }
        self.release_writer()
    }

    /// Gives up a writer whose thread is gone before it finished: every
    /// record in `[start, end)` (the range that writer reserved: a page or
    /// batch, or a lane, closed or not) and each record at `extra` (records
    /// reserved under that writer without a count of their own) becomes a
    /// tombstone, an unwritten tail of the range a tombstone filler (as
    /// [`WriteBuffer::close_lane`] makes), and then the writer is released.
    ///
    /// A record whose writer never released may be half written: it must
    /// never be flushed as if complete. The tombstones are written while
    /// this writer still counts, so the buffer cannot be flushable yet (no
    /// flush reads the headers meanwhile, on any thread), and the release's
    /// Release ordering publishes them to whoever then sees it flushable.
    ///
    /// The walk trusts only what it can check: a record starts where its
    /// start bit is set and must fit the range; anything else (a header
    /// scribbled through a view) ends the walk with one filler over the
    /// rest, so the layout stays iterable. An offset in `extra` that is no
    /// record of this buffer is skipped.
    pub fn abandon_writer(&self, start: u32, end: u32, extra: &[u32]) -> Result<ReleaseState> {
        if start > end
            || end > self.capacity()
            || !start.is_multiple_of(ALIGN)
            || !end.is_multiple_of(ALIGN)
        {
            return Err(Error::InvalidAddr);
        }
        let mut at = start;
        while at < end {
            let left = end - at;
            let fits = self.header(at).ok().and_then(|h| {
                let size = h.record_size();
                // A record that fits, leaving no 8-byte tail behind it.
                (size <= left as u64 && (left as u64 - size == 0 || left as u64 - size >= 16))
                    .then_some(size as u32)
            });
            match fits {
                Some(size) => {
                    self.mark_tombstone(at);
                    at += size;
                }
                None if left >= HEADER_SIZE => {
                    // (Complete for segment commits: `write_filler` marks it.)
                    self.write_filler(at, end);
                    break;
                }
                // An 8-byte tail: no record can cover it; never made by a
                // lane or a reservation (an internal bug if met).
                None => break,
            }
        }
        for &record in extra {
            if self.header(record).is_ok() {
                self.mark_tombstone(record);
            }
        }
        self.release_writer()
    }

    /// Validates the records its owner wrote in `[from, to)` of a lane
    /// outside Rust (from JS, through the arena) and marks their starts, so
    /// `page(addr)` and the header calls find them. Each record must have
    /// the flags of a known kind (page, dealloc or tombstone) and end at or
    /// before `to`; the walk stops at the first that does not. Returns where
    /// it stopped (`to` when the whole range is a valid chain).
    ///
    /// The caller must own the lane (its writer still counts, so no flush
    /// reads these headers); `InvalidAddr` for a range outside the arena.
    pub fn lane_mark(&self, from: u32, to: u32) -> Result<u32> {
        if from > to
            || to > self.capacity()
            || !from.is_multiple_of(ALIGN)
            || !to.is_multiple_of(ALIGN)
        {
            return Err(Error::InvalidAddr);
        }
        Ok(self.walk_chain(from, to).0)
    }

    /// Closes a lane whose pages its owner wrote outside Rust: validates
    /// the header chain from the lane's `start` to `lane.cursor` (as
    /// [`WriteBuffer::lane_mark`]) and marks the record starts, covers the
    /// tail with a tombstone filler, and releases the lane's writer (as
    /// [`WriteBuffer::close_lane`]). A chain that breaks (a header
    /// scribbled over, or a bug) is never trusted: from the first bad
    /// header on, the lane's remainder becomes one tombstone filler (record
    /// starts inside it cleared), the writer is still released, and the
    /// offset where it broke is returned beside the release state.
    pub fn close_lane_written(
        &self,
        start: u32,
        lane: Lane,
    ) -> Result<(ReleaseState, Option<u32>)> {
        self.check_lane(&lane)?;
        if start > lane.cursor || !start.is_multiple_of(ALIGN) {
            return Err(Error::InvalidAddr);
        }
        let (at, prev) = self.walk_chain(start, lane.cursor);
        let broken = if at == lane.cursor {
            // Nothing past the cursor was ever marked (walks stop at it).
            if lane.remaining() > 0 {
                self.write_record(lane.cursor, filler(lane.remaining()), &[]);
                // The filler is whole as written: complete for segment commits.
                self.mark_filled(lane.cursor);
            }
            None
        } else {
            // A filler needs 16 bytes: if the chain broke 8 bytes before the
            // end, the filler starts at the last good record instead.
            let from = if lane.end - at < HEADER_SIZE {
                prev
            } else {
                at
            };
            self.write_filler(from, lane.end);
            Some(at)
        };
        Ok((self.release_writer()?, broken))
    }

    /// Walks the header chain `[from, to)`, marking each valid record's
    /// start; returns where it stopped and the start of the last record
    /// it accepted (`from` if none).
    ///
    /// Ordering: the headers were written by JS on this same thread before
    /// this native call (plain stores, sequenced before it), and are read
    /// here with the header cell's Relaxed atomics; the start bits are set
    /// with Release (`StartMarks::flush`, after every header they announce
    /// was read), so another thread that sees a bit (Acquire) sees the
    /// header, as for records written by Rust. The
    /// writer's count is still held, so no flush reads these headers yet.
    fn walk_chain(&self, from: u32, to: u32) -> (u32, u32) {
        let (mut at, mut prev) = (from, from);
        // One atomic OR per bitmap word of starts (a word covers 512 bytes
        // of arena), not one per record; all are set before this returns.
        let mut marks = self.starts().marks();
        while to - at >= HEADER_SIZE {
            let h = self.raw_header(at);
            let known = matches!(h.flags, NORMAL_PAGE | DEALLOC_PAGES | TOMBSTONE);
            let next = at as u64 + h.record_size();
            if !known || next > to as u64 {
                break;
            }
            marks.add(at);
            prev = at;
            at = next as u32;
        }
        marks.flush();
        (at, prev)
    }

    /// Covers `[offset, end)` (at least 16 bytes, owned by a writer that
    /// still counts) with one tombstone filler record, first clearing every
    /// record start inside it so no address there passes for a record.
    fn write_filler(&self, offset: u32, end: u32) {
        let mut at = offset + ALIGN;
        while at < end {
            self.starts().unmark(at);
            at += ALIGN;
        }
        self.write_record(offset, filler(end - offset), &[]);
        // Whole as written: complete for segment commits.
        self.mark_filled(offset);
    }

    /// Cheap sanity checks that keep a forged lane inside the arena (the
    /// state word is not read: a lane touches no shared atomic but the
    /// record-start bits).
    fn check_lane(&self, lane: &Lane) -> Result<()> {
        let ok = lane.cursor <= lane.end
            && lane.end <= self.capacity()
            && lane.cursor.is_multiple_of(ALIGN)
            && lane.end.is_multiple_of(ALIGN)
            && (lane.remaining() == 0 || lane.remaining() >= HEADER_SIZE);
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidAddr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordKind;

    #[test]
    fn lane_allocates_inside_its_chunk_and_closes_with_a_filler() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let mut lane = buf.reserve_lane(200).unwrap();
        assert_eq!((lane.cursor, lane.end), (0, 200));
        assert_eq!(buf.state().writers, 1);
        let a = buf.lane_alloc_page(&mut lane, 7, 10).unwrap();
        let b = buf.lane_alloc_page(&mut lane, 8, 0).unwrap();
        assert_eq!((a.record, b.record, lane.cursor), (0, 32, 48));
        // Another writer reserves after the lane, not inside it.
        let c = buf.alloc_page(9, 8, false).unwrap();
        assert_eq!(c.record, 200);
        assert_eq!(buf.close_lane(lane), Ok(ReleaseState::None));
        buf.seal().unwrap();
        let ids: Vec<(RecordKind, u64)> = buf
            .records()
            .unwrap()
            .map(|r| r.unwrap())
            .map(|r| (r.kind, r.page_id()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (RecordKind::Page, 7),
                (RecordKind::Page, 8),
                (RecordKind::Page, 9)
            ]
        );
        let filler = buf.header(48).unwrap();
        assert_eq!((filler.flags, filler.record_size()), (TOMBSTONE, 152));
    }

    #[test]
    fn lane_never_leaves_an_eight_byte_tail() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let mut lane = buf.reserve_lane(48).unwrap();
        // 40-byte record would leave 8 bytes: refused.
        assert_eq!(buf.lane_alloc_page(&mut lane, 1, 24), Err(Error::Again));
        assert_eq!(lane.cursor, 0);
        // 32-byte record leaves 16: fine; then exactly 16 more fills it.
        buf.lane_alloc_page(&mut lane, 1, 16).unwrap();
        buf.lane_alloc_page(&mut lane, 2, 0).unwrap();
        assert_eq!(lane.remaining(), 0);
        assert_eq!(buf.lane_alloc_page(&mut lane, 3, 0), Err(Error::Again));
        assert_eq!(buf.close_lane(lane), Ok(ReleaseState::None));
        buf.seal().unwrap();
        assert_eq!(buf.records().unwrap().count(), 2);
    }

    #[test]
    fn lane_sizes_round_up_and_respect_the_buffer() {
        let buf = WriteBuffer::with_capacity(2, 64).unwrap();
        assert_eq!(buf.reserve_lane(1).unwrap(), Lane { cursor: 0, end: 16 });
        assert_eq!(
            buf.reserve_lane(13).unwrap(),
            Lane {
                cursor: 16,
                end: 32
            }
        );
        assert_eq!(buf.reserve_lane(40), Err(Error::Again));
        assert_eq!(buf.reserve_lane(4096), Err(Error::TooLargeSize));
        assert_eq!(buf.state().writers, 2);
    }

    #[test]
    fn lane_forged_ranges_are_refused() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let lane = buf.reserve_lane(64).unwrap();
        for bad in [
            Lane {
                cursor: 0,
                end: 2048,
            },
            Lane { cursor: 4, end: 64 },
            Lane {
                cursor: 56,
                end: 64,
            },
            Lane {
                cursor: 64,
                end: 32,
            },
        ] {
            let mut l = bad;
            assert_eq!(
                buf.lane_alloc_page(&mut l, 1, 0),
                Err(Error::InvalidAddr),
                "{bad:?}"
            );
        }
        assert_eq!(buf.close_lane(lane), Ok(ReleaseState::None));
    }

    #[test]
    fn lane_close_on_a_sealed_buffer_says_flush() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let mut lane = buf.reserve_lane(100).unwrap();
        buf.lane_alloc_page(&mut lane, 1, 1).unwrap();
        assert_eq!(buf.seal(), Ok(ReleaseState::None));
        assert_eq!(
            buf.lane_alloc_page(&mut lane, 2, 1).map(|p| p.record),
            Ok(24)
        );
        assert_eq!(buf.close_lane(lane), Ok(ReleaseState::Flush));
        assert_eq!(buf.records().unwrap().count(), 2);
    }

    #[test]
    fn lanes_on_threads_tile_the_buffer() {
        use std::sync::Arc;
        let buf = Arc::new(WriteBuffer::with_capacity(1, 1 << 20).unwrap());
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let buf = buf.clone();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while let Ok(mut lane) = buf.reserve_lane(4096) {
                        loop {
                            match buf.lane_alloc_page(&mut lane, t << 32 | n, (n % 50) as u32) {
                                Ok(p) => {
                                    // SAFETY: this thread alone owns the lane's records.
                                    unsafe { buf.page_mut(&p) }.fill(t as u8 + 1);
                                    n += 1;
                                }
                                Err(Error::Again) => {
                                    buf.close_lane(lane).unwrap();
                                    break;
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(buf.seal(), Ok(ReleaseState::Flush));
        let mut seen = 0;
        for r in buf.records().unwrap() {
            let r = r.unwrap();
            let t = (r.page_id() >> 32) as u8;
            assert!(r.body().iter().all(|&b| b == t + 1));
            seen += 1;
        }
        assert_eq!(seen, total);
    }

    fn live(buf: &WriteBuffer) -> Vec<u64> {
        buf.records()
            .unwrap()
            .map(|r| r.unwrap().page_id())
            .collect()
    }

    #[test]
    fn abandon_writer_tombstones_its_records_and_releases() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let done = buf.alloc_page(1, 10, true).unwrap();
        buf.release_writer().unwrap();
        // A page, and a batch (two pages and a dealloc) whose writers never release.
        let half = buf.alloc_page(2, 30, true).unwrap();
        let start = buf.state().allocated;
        let batch = buf.batch(&[(3, 8), (4, 0)], &[done.addr]).unwrap();
        let end = buf.state().allocated;
        // Reserved under the batch's writer without a count of its own.
        let extra = buf.alloc_page(5, 8, false).unwrap();
        assert_eq!(buf.seal(), Ok(ReleaseState::None));
        assert_eq!(buf.state().writers, 2);
        assert_eq!(
            buf.abandon_writer(start, end, &[extra.record]),
            Ok(ReleaseState::None)
        );
        let size = record_size(half.page_size) as u32;
        assert_eq!(
            buf.abandon_writer(half.record, half.record + size, &[]),
            Ok(ReleaseState::Flush)
        );
        assert_eq!(live(&buf), vec![1]);
        for r in [
            half.record,
            batch.pages[0].record,
            batch.pages[1].record,
            batch.dealloc.unwrap(),
            extra.record,
        ] {
            assert_eq!(buf.header(r).unwrap().flags, TOMBSTONE);
        }
        // The layout is unchanged: sizes kept, so iteration walks it all.
        assert_eq!(buf.header(half.record).unwrap().page_size, 30);
        assert_eq!(buf.state().writers, 0);
    }

    #[test]
    fn abandon_writer_of_a_lane_tombstones_its_pages_and_fills_the_tail() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let mut lane = buf.reserve_lane(200).unwrap();
        let (start, end) = (lane.cursor, lane.end);
        buf.lane_alloc_page(&mut lane, 7, 10).unwrap();
        buf.lane_alloc_page(&mut lane, 8, 0).unwrap();
        buf.alloc_page(9, 8, false).unwrap();
        buf.seal().unwrap();
        assert_eq!(buf.abandon_writer(start, end, &[]), Ok(ReleaseState::Flush));
        assert_eq!(live(&buf), vec![9]);
        let filler = buf.header(lane.cursor).unwrap();
        assert_eq!((filler.flags, filler.record_size()), (TOMBSTONE, 152));
        // An empty lane: one filler.
        let buf = WriteBuffer::with_capacity(2, 256).unwrap();
        let lane = buf.reserve_lane(64).unwrap();
        buf.seal().unwrap();
        assert_eq!(
            buf.abandon_writer(lane.cursor, lane.end, &[]),
            Ok(ReleaseState::Flush)
        );
        assert_eq!(live(&buf), Vec::<u64>::new());
        assert_eq!(buf.header(0).unwrap().record_size(), 64);
    }

    #[test]
    fn abandon_writer_survives_a_scribbled_header() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let mut lane = buf.reserve_lane(128).unwrap();
        let p = buf.lane_alloc_page(&mut lane, 7, 10).unwrap();
        // A header overwritten through a view: a size past the lane.
        // SAFETY: the record is ours (the lane's writer counts); the test
        // writes its header bytes as a contract-violating caller would.
        unsafe {
            let h = buf.arena_ptr().add(p.record as usize + 12).cast::<u32>();
            h.write_unaligned(5000u32.to_le());
        }
        buf.seal().unwrap();
        assert_eq!(buf.abandon_writer(0, 128, &[]), Ok(ReleaseState::Flush));
        assert_eq!(live(&buf), Vec::<u64>::new());
        let filler = buf.header(0).unwrap();
        assert_eq!((filler.flags, filler.record_size()), (TOMBSTONE, 128));
    }

    #[test]
    fn abandon_writer_refuses_a_bad_range_and_a_missing_writer() {
        let buf = WriteBuffer::with_capacity(2, 256).unwrap();
        assert_eq!(buf.abandon_writer(8, 0, &[]), Err(Error::InvalidAddr));
        assert_eq!(buf.abandon_writer(0, 512, &[]), Err(Error::InvalidAddr));
        assert_eq!(buf.abandon_writer(4, 16, &[]), Err(Error::InvalidAddr));
        assert_eq!(buf.abandon_writer(0, 0, &[]), Err(Error::NoWriter));
        assert_eq!(buf.state().writers, 0);
    }

    /// Writes a page header at `at` as JS does, through the arena bytes.
    fn js_page(buf: &WriteBuffer, at: u32, id: u64, size: u32) -> u32 {
        let h = Header {
            data: id,
            flags: crate::record::NORMAL_PAGE,
            page_size: size,
        };
        // SAFETY: `at + 16` lies inside the test's lane, which this thread
        // owns (its writer counts); nothing else reads these bytes now.
        unsafe {
            std::ptr::copy_nonoverlapping(
                h.to_bytes().as_ptr(),
                buf.arena_ptr().add(at as usize),
                16,
            )
        };
        at + record_size(size) as u32
    }

    #[test]
    fn a_lane_written_outside_rust_closes_like_one_written_by_lane_alloc() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        let lane = buf.reserve_lane(200).unwrap();
        let a = js_page(&buf, lane.cursor, 7, 10);
        // Not yet marked: page(addr) does not know it.
        assert_eq!(buf.header(0), Err(Error::InvalidAddr));
        assert_eq!(buf.lane_mark(0, a), Ok(a));
        assert_eq!(buf.header(0).unwrap().data, 7);
        let b = js_page(&buf, a, 8, 0);
        let closed = Lane {
            cursor: b,
            end: lane.end,
        };
        assert_eq!(
            buf.close_lane_written(lane.cursor, closed),
            Ok((ReleaseState::None, None))
        );
        buf.seal().unwrap();
        assert_eq!(live(&buf), vec![7, 8]);
        let filler = buf.header(b).unwrap();
        assert_eq!((filler.flags, filler.record_size()), (TOMBSTONE, 152));
    }

    #[test]
    fn a_corrupt_chain_becomes_a_tombstone_from_the_first_bad_header() {
        for (bad_flags, bad_size) in [(0x40u32, 0u32), (crate::record::NORMAL_PAGE, 5000)] {
            let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
            let lane = buf.reserve_lane(200).unwrap();
            let a = js_page(&buf, 0, 7, 10);
            let b = js_page(&buf, a, 8, 16);
            let c = js_page(&buf, b, 9, 0);
            // Marked before the scribble: its start must not survive.
            assert_eq!(buf.lane_mark(0, c), Ok(c));
            let h = Header {
                data: 8,
                flags: bad_flags,
                page_size: bad_size,
            };
            // SAFETY: the header lies inside this thread's lane.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    h.to_bytes().as_ptr(),
                    buf.arena_ptr().add(a as usize),
                    16,
                )
            };
            let closed = Lane {
                cursor: c,
                end: lane.end,
            };
            assert_eq!(
                buf.close_lane_written(0, closed),
                Ok((ReleaseState::None, Some(a)))
            );
            buf.seal().unwrap();
            assert_eq!(live(&buf), vec![7]);
            let filler = buf.header(a).unwrap();
            assert_eq!(
                (filler.flags, filler.record_size()),
                (TOMBSTONE, 200 - a as u64)
            );
            assert_eq!(buf.header(b), Err(Error::InvalidAddr));
            assert_eq!(buf.state().writers, 0);
        }
    }

    #[test]
    fn a_chain_broken_eight_bytes_before_the_end_fills_from_the_last_good_record() {
        let buf = WriteBuffer::with_capacity(2, 1024).unwrap();
        buf.reserve_lane(64).unwrap();
        // A 40-byte record leaves 24; a scribbled size makes it claim 56,
        // leaving an 8-byte tail no filler fits.
        js_page(&buf, 0, 7, 24);
        js_page(&buf, 0, 7, 40);
        let closed = Lane {
            cursor: 64,
            end: 64,
        };
        assert_eq!(
            buf.close_lane_written(0, closed),
            Ok((ReleaseState::None, Some(56)))
        );
        buf.seal().unwrap();
        assert_eq!(live(&buf), Vec::<u64>::new());
        assert_eq!(buf.header(0).unwrap().record_size(), 64);
    }

    #[test]
    fn lane_mark_and_close_refuse_forged_ranges() {
        let buf = WriteBuffer::with_capacity(2, 256).unwrap();
        assert_eq!(buf.lane_mark(8, 0), Err(Error::InvalidAddr));
        assert_eq!(buf.lane_mark(0, 512), Err(Error::InvalidAddr));
        assert_eq!(buf.lane_mark(4, 16), Err(Error::InvalidAddr));
        let lane = buf.reserve_lane(64).unwrap();
        assert_eq!(
            buf.close_lane_written(8, Lane { cursor: 0, end: 64 }),
            Err(Error::InvalidAddr)
        );
        assert_eq!(
            buf.close_lane_written(0, lane),
            Ok((ReleaseState::None, None))
        );
    }

    /// What a flush reads: each live page's id and whether its body is
    /// whole (every byte its writer's).
    fn snapshot(buf: &WriteBuffer) -> Vec<(u64, bool)> {
        buf.records()
            .unwrap()
            .map(|r| r.unwrap())
            .map(|r| {
                let fill = (r.page_id() >> 32) as u8 + 1;
                (r.page_id(), r.body().iter().all(|&b| b == fill))
            })
            .collect()
    }

    #[test]
    fn abandon_writer_races_other_writers_and_the_flush() {
        // Threads write pages under writer counts; every third one gives up
        // its writer half way (as a torn-down thread does). The one told to
        // flush must see only complete pages: each live body is all one byte.
        use std::sync::Arc;
        let buf = Arc::new(WriteBuffer::with_capacity(3, 1 << 16).unwrap());
        let flushed = Arc::new(std::sync::Mutex::new(None));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let (buf, flushed) = (buf.clone(), flushed.clone());
                std::thread::spawn(move || {
                    let mut kept = 0;
                    for n in 0.. {
                        let size = 8 + (n * 13 + t as u32) % 90;
                        let Ok(p) = buf.alloc_page(t << 32 | n as u64, size, true) else {
                            break;
                        };
                        // SAFETY: this thread alone writes the page until it
                        // releases (or abandons) its writer.
                        let body = unsafe { buf.page_mut(&p) };
                        let state = if n % 3 == 0 {
                            body[..size as usize / 2].fill(t as u8 + 1);
                            let end = p.record + record_size(size) as u32;
                            buf.abandon_writer(p.record, end, &[]).unwrap()
                        } else {
                            body.fill(t as u8 + 1);
                            kept += 1;
                            buf.release_writer().unwrap()
                        };
                        if state == ReleaseState::Flush {
                            *flushed.lock().unwrap() = Some(snapshot(&buf));
                        }
                        if n == 200 && t == 0 && buf.seal() == Ok(ReleaseState::Flush) {
                            *flushed.lock().unwrap() = Some(snapshot(&buf));
                        }
                    }
                    kept
                })
            })
            .collect();
        let kept: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        if buf.seal() == Ok(ReleaseState::Flush) {
            *flushed.lock().unwrap() = Some(snapshot(&buf));
        }
        let pages = flushed.lock().unwrap().take().expect("someone flushed");
        assert_eq!(pages.len() as u32, kept);
        assert!(
            pages.iter().all(|&(_, whole)| whole),
            "a torn page was flushed"
        );
    }
}
