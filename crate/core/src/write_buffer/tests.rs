//! Tests of `WriteBuffer`: the seed's thirteen (two live beside
//! `BufferState` and `record_size`), then the edge cases it missed.

use std::collections::HashSet;

use super::*;
use crate::buffer_state::MAX_WRITERS;

fn kinds(buf: &WriteBuffer) -> Vec<(RecordKind, u64)> {
    buf.records()
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.kind, r.page_id()))
        .collect()
}

// ---- the seed's tests --------------------------------------------------

#[test]
fn write_buffer_construct_and_drop() {
    let buf = WriteBuffer::with_capacity(1, 512).unwrap();
    drop(buf);
}

#[test]
fn write_buffer_capacity_is_power_of_two() {
    // The seed panics; misuse here is an error instead.
    assert_eq!(
        WriteBuffer::with_capacity(1, 513).unwrap_err(),
        Error::InvalidCapacity(513)
    );
}

#[test]
fn write_buffer_seal() {
    let buf = WriteBuffer::with_capacity(1, 512).unwrap();
    assert_eq!(buf.seal(), Ok(ReleaseState::Flush));
}

#[test]
fn write_buffer_sealed_seal() {
    let buf = WriteBuffer::with_capacity(1, 512).unwrap();
    buf.seal().unwrap();
    let before = buf.state();
    assert_eq!(buf.seal(), Err(Error::Again));
    assert_eq!(buf.state(), before);
}

#[test]
fn write_buffer_sealed_but_write_inflights_seal() {
    // Even if the buffer is sealed, release writer is still needed.
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    buf.batch(&[], &[1]).unwrap();
    assert_eq!(buf.seal(), Ok(ReleaseState::None));
    assert_eq!(buf.release_writer(), Ok(ReleaseState::Flush));
}

#[test]
fn write_buffer_empty_writer_release_seal() {
    // The seed panics; here it is `NoWriter` and the state is untouched.
    let buf = WriteBuffer::with_capacity(1, 512).unwrap();
    buf.seal().unwrap();
    let before = buf.state();
    assert_eq!(buf.release_writer(), Err(Error::NoWriter));
    assert_eq!(buf.state(), before);
}

#[test]
fn write_buffer_iterate() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();

    // 1. add pages
    buf.batch(
        &[(1, 20), (3, 40), (5, 60), (7, 80), (9, 100)],
        &[11, 12, 13, 14, 15],
    )
    .unwrap();
    buf.release_writer().unwrap();

    // 2. add tombstones
    let b = buf.batch(&[(16, 17)], &[1, 2]).unwrap();
    for p in &b.pages {
        buf.set_tombstone(p.record).unwrap();
    }
    buf.set_tombstone(b.dealloc.unwrap()).unwrap();
    buf.release_writer().unwrap();
    buf.seal().unwrap();

    let mut active: HashSet<u64> = [1, 3, 5, 7, 9].into_iter().collect();
    let mut deallocs = 0;
    for r in buf.records().unwrap() {
        let r = r.unwrap();
        match r.kind {
            RecordKind::Page => assert!(active.remove(&r.page_id())),
            RecordKind::Dealloc => {
                deallocs += 1;
                assert_eq!(
                    r.dealloc_addrs().collect::<Vec<_>>(),
                    vec![11, 12, 13, 14, 15]
                );
            }
        }
    }
    assert!(active.is_empty());
    assert_eq!(deallocs, 1);
}

#[test]
fn write_buffer_iterate_with_correct_offset() {
    let buf = WriteBuffer::with_capacity(1, 1 << 16).unwrap();
    let addrs: Vec<u64> = (4..12)
        .map(|i| buf.alloc_page(0, 1 << i, false).unwrap().addr)
        .collect();
    buf.seal().unwrap();
    let seen: Vec<u64> = buf.records().unwrap().map(|r| r.unwrap().addr).collect();
    assert_eq!(addrs, seen);
}

#[test]
fn write_buffer_pages_alloc() {
    let buf = WriteBuffer::with_capacity(1, 1 << 20).unwrap();
    // 1. alloc normal pages
    buf.alloc_page(1, 123, true).unwrap();
    // 2. dealloc pages
    buf.dealloc_pages(&[5, 6, 7], false).unwrap();
    // 3. alloc but set page as tombstone.
    let p = buf.alloc_page(2, 222, false).unwrap();
    buf.set_tombstone(p.record).unwrap();
    let d = buf.dealloc_pages(&[1, 3, 4], false).unwrap();
    buf.set_tombstone(d).unwrap();
    assert_eq!(buf.release_writer(), Ok(ReleaseState::None));
    buf.seal().unwrap();
    assert_eq!(
        kinds(&buf),
        vec![(RecordKind::Page, 1), (RecordKind::Dealloc, 0)]
    );
}

#[test]
fn write_buffer_alloc_out_of_range_try_next() {
    let buf = WriteBuffer::with_capacity(1, 8 << 10).unwrap();
    // alloc 6 of 8
    buf.alloc_page(1, 4 << 10, true).unwrap();
    buf.alloc_page(2, 2 << 10, false).unwrap();
    // try +4 return again to try next writebuffer.
    let before = buf.state();
    assert_eq!(buf.alloc_page(3, 4 << 10, false), Err(Error::Again));
    assert_eq!(buf.state(), before);
    buf.release_writer().unwrap();
}

#[test]
fn write_buffer_alloc_out_of_range_too_large_size() {
    let buf = WriteBuffer::with_capacity(1, 2 << 10).unwrap();
    assert_eq!(buf.alloc_page(1, 4 << 10, true), Err(Error::TooLargeSize));
    assert_eq!(buf.state(), BufferState::default());
}

// ---- edge cases beyond the seed ------------------------------------------

#[test]
fn write_buffer_capacity_bounds() {
    for bad in [0u32, 1, 2, 4, 8, 24, 1000, (1 << 31) + 1, u32::MAX] {
        assert!(
            matches!(
                WriteBuffer::with_capacity(0, bad),
                Err(Error::InvalidCapacity(_))
            ),
            "{bad}"
        );
    }
    for good in [16u32, 32, 4096] {
        assert_eq!(
            WriteBuffer::with_capacity(0, good).unwrap().capacity(),
            good
        );
    }
}

#[test]
fn write_buffer_batch_with_empty_dealloc_reserves_no_record() {
    // The seed reserves a dealloc record even for an empty list and never
    // writes its header; here nothing is reserved for it.
    let buf = WriteBuffer::with_capacity(7, 1024).unwrap();
    let b = buf.batch(&[(1, 8), (2, 0)], &[]).unwrap();
    assert_eq!(b.dealloc, None);
    assert_eq!(
        buf.state().allocated as u64,
        record_size(8) + record_size(0)
    );
    assert_eq!(buf.state().writers, 1);
    buf.release_writer().unwrap();
    buf.seal().unwrap();
    assert_eq!(
        kinds(&buf),
        vec![(RecordKind::Page, 1), (RecordKind::Page, 2)]
    );
}

#[test]
fn write_buffer_empty_batch_only_acquires_a_writer() {
    let buf = WriteBuffer::with_capacity(7, 64).unwrap();
    let b = buf.batch(&[], &[]).unwrap();
    assert!(b.pages.is_empty() && b.dealloc.is_none());
    assert_eq!(
        buf.state(),
        BufferState {
            sealed: false,
            writers: 1,
            allocated: 0
        }
    );
}

#[test]
fn write_buffer_batch_is_one_contiguous_reservation() {
    let buf = WriteBuffer::with_capacity(3, 1024).unwrap();
    buf.alloc_page(9, 1, false).unwrap();
    let b = buf.batch(&[(1, 5), (2, 16)], &[0xdead, 0xbeef]).unwrap();
    assert_eq!(b.pages[0].record, 24);
    assert_eq!(b.pages[1].record, 24 + 24);
    assert_eq!(b.dealloc, Some(24 + 24 + 32));
    assert_eq!(buf.state().allocated, 24 + 24 + 32 + 32);
    assert_eq!(b.pages[0].addr, (3u64 << 32) | 40);
}

#[test]
fn write_buffer_batch_too_large_changes_nothing() {
    let buf = WriteBuffer::with_capacity(3, 1024).unwrap();
    assert_eq!(
        buf.batch(&[(1, 600), (2, 600)], &[]),
        Err(Error::TooLargeSize)
    );
    assert_eq!(buf.batch(&[], &vec![0u64; 200]), Err(Error::TooLargeSize));
    assert_eq!(buf.state(), BufferState::default());
}

#[test]
fn write_buffer_full_buffer_exact_fit() {
    let buf = WriteBuffer::with_capacity(1, 64).unwrap();
    let a = buf.alloc_page(1, 48, true).unwrap();
    assert_eq!((a.record, buf.state().allocated), (0, 64));
    assert_eq!(buf.alloc_page(2, 0, false), Err(Error::Again));
    assert_eq!(buf.dealloc_pages(&[], false), Err(Error::Again));
    assert_eq!(buf.seal(), Ok(ReleaseState::None));
    assert_eq!(buf.alloc_page(2, 0, false), Err(Error::Again));
    assert_eq!(buf.release_writer(), Ok(ReleaseState::Flush));
    assert!(buf.is_flushable());
}

#[test]
fn write_buffer_sealed_rejects_every_reservation() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    buf.seal().unwrap();
    let before = buf.state();
    assert_eq!(buf.alloc_page(1, 8, true), Err(Error::Again));
    assert_eq!(buf.dealloc_pages(&[1], true), Err(Error::Again));
    assert_eq!(buf.batch(&[(1, 1)], &[]), Err(Error::Again));
    assert_eq!(buf.state(), before);
}

#[test]
fn write_buffer_capacity_2_pow_31() {
    let cap = 1u32 << 31;
    let buf = WriteBuffer::with_capacity(u32::MAX, cap).unwrap();
    let big = buf.alloc_page(1, cap - 48, true).unwrap();
    let small = buf.alloc_page(2, 16, false).unwrap();
    assert_eq!(buf.state().allocated, cap);
    assert_eq!(small.addr, ((u32::MAX as u64) << 32) | (cap as u64 - 16));
    // allocated == 2^31 must not bleed into the writer bits.
    assert_eq!(buf.state().writers, 1);
    assert_eq!(buf.alloc_page(3, 0, false), Err(Error::Again));
    assert_eq!(buf.state().allocated, cap);
    // SAFETY: nothing else refers to this page.
    let page = unsafe { buf.page_mut(&big) };
    page[cap as usize - 49] = 7;
    // SAFETY: the writer above is done with the page.
    assert_eq!(unsafe { buf.page(big.addr) }.unwrap()[cap as usize - 49], 7);
    buf.release_writer().unwrap();
    buf.seal().unwrap();
    assert_eq!(buf.records().unwrap().count(), 2);
}

#[test]
fn write_buffer_allocated_never_wraps_u32() {
    let buf = WriteBuffer::with_capacity(1, 1 << 31).unwrap();
    assert_eq!(buf.alloc_page(1, u32::MAX, false), Err(Error::TooLargeSize));
    assert_eq!(
        buf.alloc_page(1, u32::MAX - 15, false),
        Err(Error::TooLargeSize)
    );
    assert_eq!(buf.state(), BufferState::default());
}

#[test]
fn write_buffer_headers_are_bit_exact() {
    let buf = WriteBuffer::with_capacity(1, 256).unwrap();
    let p = buf.alloc_page(0x1122_3344_5566_7788, 5, false).unwrap();
    let d = buf.dealloc_pages(&[0xaabb, 1 << 40], false).unwrap();
    // SAFETY: single-threaded test, no view is live; read the raw arena.
    let raw = unsafe { std::slice::from_raw_parts(buf.arena_ptr(), 256) };
    assert_eq!(
        &raw[0..16],
        &Header {
            data: 0x1122_3344_5566_7788,
            flags: NORMAL_PAGE,
            page_size: 5
        }
        .to_bytes()
    );
    assert_eq!(
        &raw[16..24],
        &[0u8; 8],
        "unwritten body and padding read as zero"
    );
    assert_eq!(d, 24);
    assert_eq!(
        &raw[24..40],
        &Header {
            data: 0,
            flags: DEALLOC_PAGES,
            page_size: 16
        }
        .to_bytes()
    );
    assert_eq!(&raw[40..48], &0xaabbu64.to_le_bytes());
    assert_eq!(&raw[48..56], &(1u64 << 40).to_le_bytes());
    assert_eq!(p.addr, (1u64 << 32) | 16);
}

#[test]
fn write_buffer_page_mut_is_page() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    let a = buf.alloc_page(5, 11, true).unwrap();
    // SAFETY: the only reference to this page.
    unsafe { buf.page_mut(&a) }.copy_from_slice(b"hello world");
    // SAFETY: the mutable slice above is gone.
    assert_eq!(unsafe { buf.page(a.addr) }.unwrap(), b"hello world");
    buf.release_writer().unwrap();
    buf.seal().unwrap();
    let r = buf.records().unwrap().next().unwrap().unwrap();
    assert_eq!(r.body(), b"hello world");
    assert_eq!(r.page_id(), 5);
}

#[test]
fn write_buffer_locate_page_rejects_everything_else() {
    let buf = WriteBuffer::with_capacity(4, 1024).unwrap();
    let a = buf.alloc_page(1, 40, false).unwrap();
    let d = buf.dealloc_pages(&[1], false).unwrap();
    let t = buf.alloc_page(2, 8, false).unwrap();
    buf.set_tombstone(t.record).unwrap();
    assert_eq!(buf.locate_page(a.addr), Ok(a));
    let g = 4u64 << 32;
    for bad in [
        (5u64 << 32) | 16,   // other group
        a.addr + 1,          // misaligned
        a.addr + 8,          // middle of a record
        a.addr + 24,         // deeper in the body
        g,                   // before any header
        g | 8,               // offset < 16
        g | (d as u64 + 16), // dealloc record
        t.addr,              // tombstone
        g | 1000,            // never allocated
        g | 1024,            // end of arena
        g | 0xffff_fff8,     // far out of range
    ] {
        assert_eq!(buf.locate_page(bad), Err(Error::InvalidAddr), "{bad:#x}");
    }
}

#[test]
fn write_buffer_page_id_can_be_set_later() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    let a = buf.alloc_page(0, 8, true).unwrap();
    let d = buf.dealloc_pages(&[3], false).unwrap();
    buf.set_page_id(a.record, 77).unwrap();
    assert_eq!(buf.set_page_id(d, 1), Err(Error::InvalidAddr));
    assert_eq!(buf.set_page_id(a.record + 8, 1), Err(Error::InvalidAddr));
    buf.release_writer().unwrap();
    buf.seal().unwrap();
    assert_eq!(kinds(&buf)[0], (RecordKind::Page, 77));
    // Flushable: headers are read-only now.
    assert_eq!(buf.set_page_id(a.record, 1), Err(Error::ReadOnly));
    assert_eq!(buf.set_tombstone(a.record), Err(Error::ReadOnly));
}

#[test]
fn write_buffer_records_needs_flushable() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    buf.alloc_page(1, 8, true).unwrap();
    assert!(matches!(buf.records(), Err(Error::NotFlushable)));
    buf.seal().unwrap();
    assert!(matches!(buf.records(), Err(Error::NotFlushable)));
    buf.release_writer().unwrap();
    assert_eq!(buf.records().unwrap().count(), 1);
}

#[test]
fn write_buffer_records_from_resumes() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    let offs: Vec<u32> = (0..5)
        .map(|i| buf.alloc_page(i, i as u32 * 3, false).unwrap().record)
        .collect();
    buf.seal().unwrap();
    let ids: Vec<u64> = buf
        .records_from(offs[2])
        .unwrap()
        .map(|r| r.unwrap().page_id())
        .collect();
    assert_eq!(ids, vec![2, 3, 4]);
    assert_eq!(buf.records_from(buf.state().allocated).unwrap().count(), 0);
    assert!(matches!(
        buf.records_from(offs[2] + 8),
        Err(Error::InvalidAddr)
    ));
}

#[test]
fn write_buffer_records_detects_poked_header() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    let a = buf.alloc_page(1, 8, false).unwrap();
    buf.alloc_page(2, 8, false).unwrap();
    buf.seal().unwrap();
    // Poke the first header's size as JS could through a view's `.buffer`.
    // SAFETY: single-threaded; header bytes are written like the cell does.
    unsafe {
        buf.arena_ptr()
            .add(a.record as usize + 12)
            .cast::<u32>()
            .write(4000u32.to_le())
    };
    let r: Vec<_> = buf.records().unwrap().collect();
    assert_eq!(r.len(), 1);
    assert!(matches!(r[0], Err(Error::Corrupt(_))));
    // SAFETY: as above.
    unsafe {
        buf.arena_ptr()
            .add(a.record as usize + 12)
            .cast::<u32>()
            .write(12u32.to_le())
    };
    let r: Vec<_> = buf.records().unwrap().collect();
    assert!(
        matches!(r.last(), Some(Err(Error::Corrupt(_)))),
        "a record then a mid-record offset"
    );
}

#[test]
fn write_buffer_drop_with_writers_in_progress_is_fine() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    buf.alloc_page(1, 8, true).unwrap();
    buf.alloc_page(1, 8, true).unwrap();
    drop(buf);
}

#[test]
fn write_buffer_too_many_writers() {
    let buf = WriteBuffer::with_capacity(1, 1024).unwrap();
    buf.state.0.store(
        BufferState {
            writers: MAX_WRITERS,
            ..Default::default()
        }
        .pack(),
        Ordering::Relaxed,
    );
    let before = buf.state();
    assert_eq!(buf.alloc_page(1, 8, true), Err(Error::TooManyWriters));
    assert_eq!(buf.state(), before);
    assert!(buf.alloc_page(1, 8, false).is_ok());
}

#[test]
fn write_buffer_flush_latch() {
    let buf = WriteBuffer::with_capacity(1, 64).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(matches!(
        buf.subscribe_flushed(move |w| tx.send(w).unwrap()),
        Subscription::Waiting(_)
    ));
    assert!(!buf.is_flushed());
    assert!(buf.on_flushed());
    assert!(!buf.on_flushed());
    assert_eq!(rx.try_recv(), Ok(Woken::Set));
    assert!(buf.is_flushed());
    drop(buf);
    assert!(
        rx.try_recv().is_err(),
        "a flushed buffer's drop wakes nobody"
    );
}

#[test]
fn write_buffer_drop_unflushed_abandons_its_waiters() {
    let buf = WriteBuffer::with_capacity(1, 64).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    assert!(matches!(
        buf.subscribe_flushed(move |w| tx.send(w).unwrap()),
        Subscription::Waiting(_)
    ));
    let Subscription::Waiting(gone) = buf.subscribe_flushed(move |w| tx2.send(w).unwrap()) else {
        panic!("not flushed yet")
    };
    assert!(buf.unsubscribe_flushed(gone));
    assert!(rx.try_recv().is_err());
    drop(buf);
    assert_eq!(rx.try_recv(), Ok(Woken::Abandoned));
    assert!(rx.try_recv().is_err(), "the cancelled waiter is not woken");
}

#[test]
fn write_buffer_threads_reserve_disjoint_ranges() {
    use std::sync::{Arc, Barrier};
    const THREADS: usize = 4;
    let buf = Arc::new(WriteBuffer::with_capacity(1, 1 << 22).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS));
    let flushes = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (buf, barrier, flushes) = (buf.clone(), barrier.clone(), flushes.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                for seq in 0u64.. {
                    let size = (seq % 13) as u32 * 4;
                    match buf.alloc_page((t as u64) << 32 | seq, size, true) {
                        Ok(a) => {
                            // SAFETY: this thread alone holds the new page.
                            unsafe { buf.page_mut(&a) }.fill(t as u8 + 1);
                            mine.push(a);
                            if buf.release_writer().unwrap() == ReleaseState::Flush {
                                flushes.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(Error::Again) => break,
                        Err(e) => panic!("{e}"),
                    }
                    if t == 0 && seq == 20_000 && buf.seal().unwrap() == ReleaseState::Flush {
                        flushes.fetch_add(1, Ordering::SeqCst);
                    }
                }
                mine
            })
        })
        .collect();
    let all: Vec<PageAlloc> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    if !buf.is_sealed() && buf.seal().unwrap() == ReleaseState::Flush {
        flushes.fetch_add(1, Ordering::SeqCst);
    }
    assert_eq!(
        flushes.load(Ordering::SeqCst),
        1,
        "exactly one caller sees Flush"
    );
    let mut ranges: Vec<(u64, u64)> = all
        .iter()
        .map(|a| (a.record as u64, a.record as u64 + record_size(a.page_size)))
        .collect();
    ranges.sort();
    let mut end = 0;
    for (s, e) in &ranges {
        assert_eq!(*s, end, "records tile the arena without gaps or overlap");
        end = *e;
    }
    assert_eq!(end, buf.state().allocated as u64);
    let mut n = 0;
    for r in buf.records().unwrap() {
        let r = r.unwrap();
        let t = (r.page_id() >> 32) as u8;
        assert!(r.body().iter().all(|&b| b == t + 1));
        n += 1;
    }
    assert_eq!(n, all.len());
}
