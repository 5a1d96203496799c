//! Stress: four OS threads make a million reservations each on one buffer,
//! acquiring and releasing writers as they go, then the seal races their
//! last releases. Every reservation must get its own range, the ranges must
//! tile `allocated` exactly, and exactly one caller must be told to flush.
//!
//! The buffer is 2^31 bytes and every page is empty, so each reservation is
//! one 16-byte header: 4 × 1,000,000 × 16 B = 64 MB of records (the arena is
//! zeroed lazily, so only those pages are touched).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use photon_wb_core::{record_size, ReleaseState, WriteBuffer, HEADER_SIZE};

const THREADS: usize = 4;
const PER_THREAD: u32 = 1_000_000;
/// Odd threads hold one writer per group of this many reservations.
const GROUP: u32 = 64;
const RECORD: u32 = HEADER_SIZE;

const _: () = assert!(record_size(0) == RECORD as u64);
const _: () = assert!(PER_THREAD.is_multiple_of(GROUP));
const _: () = assert!(THREADS as u64 * PER_THREAD as u64 * RECORD as u64 <= 1 << 31);

/// The page id of reservation `seq` of thread `t`.
fn page_id(t: usize, seq: u32) -> u64 {
    ((t as u64 + 1) << 32) | seq as u64
}

#[test]
fn stress_four_threads_a_million_reservations_each() {
    let wb = Arc::new(WriteBuffer::with_capacity(9, 1 << 31).unwrap());
    let flushes = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (wb, flushes, done) = (wb.clone(), flushes.clone(), done.clone());
            thread::spawn(move || {
                let count = |state: ReleaseState| {
                    if state == ReleaseState::Flush {
                        // Ordering: Relaxed: read after the joins.
                        flushes.fetch_add(1, Ordering::Relaxed);
                    }
                };
                let mut records = Vec::with_capacity(PER_THREAD as usize);
                for seq in 0..PER_THREAD {
                    let last = seq == PER_THREAD - 1;
                    // Even threads: one writer per reservation. Odd threads:
                    // one writer per group, acquired by its first
                    // reservation and released after its last. Each thread
                    // keeps its last writer until every thread is done.
                    let (acquire, release) = if t % 2 == 0 {
                        (true, !last)
                    } else {
                        (seq % GROUP == 0, seq % GROUP == GROUP - 1 && !last)
                    };
                    let page = wb
                        .alloc_page(page_id(t, seq), 0, acquire)
                        .unwrap_or_else(|e| panic!("thread {t}, reservation {seq}: {e:?}"));
                    records.push(page.record);
                    if release {
                        count(wb.release_writer().expect("acquired above"));
                    }
                }
                // Every reservation is in; now the seal races the last
                // releases: thread 0 seals, then releases its own writer.
                done.wait();
                if t == 0 {
                    count(wb.seal().expect("sealed once"));
                }
                count(wb.release_writer().expect("the writer kept above"));
                records
            })
        })
        .collect();
    let per_thread: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    assert_eq!(flushes.load(Ordering::Relaxed), 1, "exactly one Flush");
    let state = wb.state();
    assert!(state.sealed && state.writers == 0 && state.is_flushable());
    let total = THREADS * PER_THREAD as usize;
    assert_eq!(state.allocated as usize, total * RECORD as usize);

    // Disjoint and tiling: every 16-byte slot of [0, allocated) was handed
    // to exactly one reservation.
    let mut owner = vec![0u64; total];
    for (t, records) in per_thread.iter().enumerate() {
        assert_eq!(records.len(), PER_THREAD as usize);
        for (seq, &record) in records.iter().enumerate() {
            assert_eq!(record % RECORD, 0, "misaligned record {record}");
            let slot = &mut owner[(record / RECORD) as usize];
            assert_eq!(*slot, 0, "record {record} handed out twice");
            *slot = page_id(t, seq as u32);
        }
    }
    assert!(owner.iter().all(|&id| id != 0));

    // Iteration walks exactly those records, each with its writer's header.
    let mut n = 0usize;
    for r in wb.records().expect("flushable") {
        let r = r.expect("well-formed");
        assert_eq!(r.offset as usize, n * RECORD as usize);
        assert_eq!(
            r.page_id(),
            owner[n],
            "header of the record at {}",
            r.offset
        );
        n += 1;
    }
    assert_eq!(n, total);
}
