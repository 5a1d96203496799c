//! Writer lanes: one CAS reserves a chunk for one writer, which then
//! bump-allocates page records inside it with no shared atomics. Closing
//! the lane covers the unused tail with a tombstone filler record and
//! releases the writer, so the buffer's layout, iteration and flush stay
//! exactly those of records reserved one by one.

use crate::error::{Error, Result};
use crate::record::{record_size, Header, ALIGN, HEADER_SIZE, TOMBSTONE};
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
            self.write_record(
                lane.cursor,
                Header {
                    data: 0,
                    flags: TOMBSTONE,
                    page_size: tail - HEADER_SIZE,
                },
                &[],
            );
            // The filler is whole as written: complete for segment commits.
            self.mark_filled(lane.cursor);
        }
        self.release_writer()
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
}
