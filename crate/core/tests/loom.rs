//! Loom models of the state word: the interleavings (and the values the
//! orderings let a load return) of reservations, releases and seals racing
//! on one buffer from three threads.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p photon-write-buffer-core --release --test loom --target-dir target/loom`.
//!
//! Under `cfg(loom)` the state word's `AtomicU64` is loom's (`src/sync.rs`);
//! header cells and the record-start bitmap stay `std` atomics, which loom
//! does not explore: the models target the state word.
//!
//! Each model checks, once its threads are joined, that the reservations are
//! disjoint and tile `allocated` within the capacity, that exactly one caller
//! was told `Flush`, that the buffer ends flushable and iterates to exactly
//! the pages written. It also checks the orderings: each writer publishes a
//! word with a Relaxed store before it releases, and the caller told `Flush`
//! reads every word with Relaxed loads and nothing else in between, so only
//! the state word's Release/Acquire can make them visible; without it loom
//! lets the flusher read a stale 0.
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::thread;
use photon_wb_core::{record_size, Error, PageAlloc, RecordKind, ReleaseState, WriteBuffer};

/// Runs `f` under loom. `bound` caps the thread preemptions per explored
/// execution (`None`: exhaustive); it is set per model so that each finishes
/// in seconds in release. `LOOM_MAX_PREEMPTIONS` overrides it.
fn model(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = bound;
    }
    builder.check(f);
}

/// Writer threads per model.
const WRITERS: usize = 3;

/// What the threads of one execution share besides the buffer.
struct Shared {
    /// Word `i`: 0 until writer `i` has written its page, then `stamp(i)`.
    words: [AtomicU64; WRITERS],
    /// Callers told `Flush`.
    flushes: AtomicUsize,
    /// What the flusher read of `words`. A `std` mutex, invisible to loom on
    /// purpose: it adds no synchronization loom would credit to the flusher's
    /// reads (taken once, by the flusher, after them; read after the joins).
    seen: Mutex<Option<[u64; WRITERS]>>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
            flushes: AtomicUsize::new(0),
            seen: Mutex::new(None),
        })
    }

    /// Writer `i` has written its page: publish it with a Relaxed store, so
    /// that only the release on the state word can carry it to the flusher.
    fn publish(&self, i: usize) {
        self.words[i].store(stamp(i), Ordering::Relaxed);
    }

    /// Acts on what `release_writer` or `seal` answered: on `Flush`, flush,
    /// that is, read every writer's word with nothing but that answer as
    /// synchronization, then check the buffer is flushable and count it.
    fn on_release(&self, wb: &WriteBuffer, state: ReleaseState) {
        if state != ReleaseState::Flush {
            return;
        }
        // Ordering: Relaxed on purpose (see `publish`).
        let seen = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
        *self.seen.lock().unwrap() = Some(seen);
        let s = wb.state();
        assert!(s.is_flushable(), "told to flush a {s:?} buffer");
        // Ordering: Relaxed: read after every thread is joined.
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// After the joins: exactly one caller was told to flush, and it saw the
    /// word of every writer in `winners`.
    fn check_flush(&self, winners: impl IntoIterator<Item = usize>) {
        assert_eq!(self.flushes.load(Ordering::Relaxed), 1, "exactly one Flush");
        let seen = self.seen.lock().unwrap().expect("the flusher's reads");
        for i in winners {
            assert_eq!(seen[i], stamp(i), "the flusher missed writer {i}'s bytes");
        }
    }
}

/// The value writer `i` publishes.
fn stamp(i: usize) -> u64 {
    0xA5A5_0000 + i as u64
}

/// The page id writer `i` uses.
fn page_id(i: usize) -> u64 {
    100 + i as u64
}

/// Writer `i`'s bytes in its page body.
fn fill(i: usize) -> u8 {
    i as u8 + 1
}

/// Writes writer `i`'s page body.
fn write_body(wb: &WriteBuffer, i: usize, page: &PageAlloc) {
    // SAFETY: writer `i` alone holds the page from its reservation to its
    // release, and the slice is dropped before the release.
    unsafe { wb.page_mut(page) }.fill(fill(i));
}

/// Writer `i`: reserve a page of `size` body bytes acquiring a writer,
/// write it, publish, release. `None` when the reservation got `Again`.
fn write_page(wb: &WriteBuffer, sh: &Shared, i: usize, size: u32) -> Option<PageAlloc> {
    let page = match wb.alloc_page(page_id(i), size, true) {
        Ok(page) => page,
        Err(Error::Again) => return None,
        Err(e) => panic!("writer {i}: unexpected {e:?}"),
    };
    write_body(wb, i, &page);
    sh.publish(i);
    let state = wb.release_writer().expect("this writer was acquired");
    sh.on_release(wb, state);
    Some(page)
}

/// After the joins: the reservations tile `[0, allocated)` with no overlap
/// or gap, within the capacity, and iteration finds exactly these pages,
/// intact.
fn check_layout(wb: &WriteBuffer, mut pages: Vec<(usize, PageAlloc)>) {
    let state = wb.state();
    assert!(state.allocated <= wb.capacity());
    pages.sort_by_key(|(_, p)| p.record);
    let mut end = 0u32;
    for (i, p) in &pages {
        assert_eq!(
            p.record, end,
            "writer {i}'s record overlaps or leaves a gap"
        );
        end += record_size(p.page_size) as u32;
    }
    assert_eq!(
        end, state.allocated,
        "the reservations do not tile allocated"
    );

    let records: Vec<_> = wb
        .records()
        .expect("flushable")
        .map(|r| r.expect("well-formed"))
        .collect();
    assert_eq!(records.len(), pages.len());
    for (r, (i, p)) in records.iter().zip(&pages) {
        assert_eq!(
            (r.kind, r.offset, r.page_id()),
            (RecordKind::Page, p.record, page_id(*i))
        );
        assert!(r.body().len() == p.page_size as usize && r.body().iter().all(|&b| b == fill(*i)));
    }
}

/// Three writers each reserve a page (acquiring a writer), write it and
/// release, while the main thread seals: disjoint reservations within the
/// capacity, exactly one `Flush` (the seal or the last release), a
/// flushable end state, and the flusher sees every winner's bytes.
/// Bounded to 3 preemptions (about 8 s here; 4 takes about 80 s).
#[test]
fn loom_three_writers_race_a_seal() {
    model(Some(3), || {
        let wb = Arc::new(WriteBuffer::with_capacity(1, 128).unwrap());
        let sh = Shared::new();
        // Record sizes 16, 24, 32: all three fit.
        let sizes = [0, 8, 16];
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (wb, sh) = (wb.clone(), sh.clone());
                thread::spawn(move || write_page(&wb, &sh, i, sizes[i]).map(|p| (i, p)))
            })
            .collect();
        let sealed = wb.seal().expect("sealed once");
        sh.on_release(&wb, sealed);
        let pages: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();

        sh.check_flush(pages.iter().map(|(i, _)| *i));
        let state = wb.state();
        assert!(state.sealed && state.writers == 0 && state.is_flushable());
        assert_eq!(wb.seal(), Err(Error::Again));
        assert_eq!(wb.release_writer(), Err(Error::NoWriter));
        check_layout(&wb, pages);
    });
}

/// Three writers race for a buffer that holds exactly two of their records:
/// two win and fill it to the byte, the loser gets `Again` (adding nothing)
/// and seals it, as the store's caller does; that seal races the winners'
/// releases, and exactly one of the three is told to flush.
/// Bounded to 4 preemptions (about 6 s here).
#[test]
fn loom_exact_fill_loser_gets_again_and_seals() {
    model(Some(4), || {
        // A 16-byte page makes a 32-byte record: two fill 64 exactly.
        let wb = Arc::new(WriteBuffer::with_capacity(2, 64).unwrap());
        let sh = Shared::new();
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (wb, sh) = (wb.clone(), sh.clone());
                thread::spawn(move || match write_page(&wb, &sh, i, 16) {
                    Some(page) => Some((i, page)),
                    None => {
                        // Both winners' reservations are in the word the
                        // loser's CAS loop last read: the buffer is full and
                        // the failed attempt added nothing.
                        assert_eq!(wb.state().allocated, 64);
                        let sealed = wb.seal().expect("only the loser seals");
                        sh.on_release(&wb, sealed);
                        None
                    }
                })
            })
            .collect();
        let pages: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();

        assert_eq!(pages.len(), 2, "exactly two winners");
        sh.check_flush(pages.iter().map(|(i, _)| *i));
        let state = wb.state();
        assert!(state.is_flushable());
        assert_eq!(state.allocated, wb.capacity());
        check_layout(&wb, pages);
    });
}

/// Two writers hold the buffer; two threads write and release them while a
/// third seals: whichever of the seal and the last release comes last,
/// exactly one of the three is told to flush, it sees both writers' bytes,
/// and the buffer ends flushable. Exhaustive.
#[test]
fn loom_seal_races_the_last_release() {
    model(None, || {
        let wb = Arc::new(WriteBuffer::with_capacity(3, 64).unwrap());
        let sh = Shared::new();
        let pages: Vec<_> = (0..2)
            .map(|i| wb.alloc_page(page_id(i), 8, true).unwrap())
            .collect();
        let mut handles: Vec<_> = pages
            .iter()
            .enumerate()
            .map(|(i, &page)| {
                let (wb, sh) = (wb.clone(), sh.clone());
                thread::spawn(move || {
                    write_body(&wb, i, &page);
                    sh.publish(i);
                    let state = wb.release_writer().expect("two writers were acquired");
                    sh.on_release(&wb, state);
                })
            })
            .collect();
        handles.push({
            let (wb, sh) = (wb.clone(), sh.clone());
            thread::spawn(move || {
                let state = wb.seal().expect("sealed once");
                sh.on_release(&wb, state);
            })
        });
        for h in handles {
            h.join().unwrap();
        }

        sh.check_flush(0..2);
        assert!(wb.state().is_flushable());
        check_layout(&wb, pages.into_iter().enumerate().collect());
    });
}

/// Three releases race for two writers: exactly one gets `NoWriter`, which
/// leaves the word unchanged (the count never wraps below zero), and no
/// release of an unsealed buffer is told to flush. Exhaustive.
#[test]
fn loom_one_release_too_many_gets_no_writer() {
    model(None, || {
        let wb = Arc::new(WriteBuffer::with_capacity(4, 64).unwrap());
        for i in 0..2 {
            wb.alloc_page(page_id(i), 0, true).unwrap();
        }
        let handles: Vec<_> = (0..WRITERS)
            .map(|_| {
                let wb = wb.clone();
                thread::spawn(move || wb.release_writer())
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let refused = results
            .iter()
            .filter(|r| **r == Err(Error::NoWriter))
            .count();
        assert_eq!(refused, 1, "{results:?}");
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(ReleaseState::None) | Err(Error::NoWriter))));
        let state = wb.state();
        assert_eq!(
            (state.sealed, state.writers, state.allocated),
            (false, 0, 32)
        );
    });
}

/// Segment commits: the completion mark against the commit's scan. Two
/// writers reserve, write, publish (Relaxed), mark complete and release; a
/// third does the same without marking (the v1 protocol: complete only
/// once the buffer is flushable). Concurrently the committer seals, then
/// scans the complete prefix once and reads the word of every record in it
/// with Relaxed loads: only the mark's Release/Acquire (or, for the
/// unmarked writer, the state word's) can make them visible, so loom finds
/// any ordering too weak to let a commit write a record it cannot see
/// whole.
#[test]
fn loom_complete_marks_race_a_commit_scan() {
    model(Some(3), || {
        let wb = Arc::new(WriteBuffer::with_capacity(1, 128).unwrap());
        let sh = Shared::new();
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (wb, sh) = (wb.clone(), sh.clone());
                thread::spawn(move || {
                    let page = match wb.alloc_page(page_id(i), 8, true) {
                        Ok(page) => page,
                        Err(Error::Again) => return, // sealed first
                        Err(e) => panic!("writer {i}: unexpected {e:?}"),
                    };
                    write_body(&wb, i, &page);
                    sh.publish(i);
                    if i < 2 {
                        wb.mark_complete(page.record).expect("a record");
                    }
                    wb.release_writer().expect("acquired");
                })
            })
            .collect();
        wb.seal().expect("sealed once");
        let end = wb.complete_prefix(0);
        // SAFETY: `end` is `complete_prefix(0)`; complete records are not
        // written again by their writers.
        let scanned: Vec<_> = unsafe { wb.complete_records(0, end) }
            .map(|(_, h, body)| (h.data, body.to_vec()))
            .collect();
        for (id, body) in scanned {
            let i = (id - 100) as usize;
            // Ordering: Relaxed on purpose (see `Shared::publish`).
            assert_eq!(
                sh.words[i].load(Ordering::Relaxed),
                stamp(i),
                "scan saw writer {i} unpublished"
            );
            assert!(
                body.iter().all(|&b| b == fill(i)),
                "scan saw writer {i}'s body unfinished"
            );
        }
        for h in handles {
            h.join().unwrap();
        }
        // Once every writer is done, the whole buffer is committable.
        assert_eq!(wb.complete_prefix(0), wb.state().allocated);
    });
}

/// A writer whose thread dies gives its count up (`abandon_writer`: its
/// record tombstoned, then the count released) while another writer
/// releases normally and the main thread seals: exactly one `Flush`, the
/// flusher sees the surviving writer's bytes and the dead writer's
/// tombstone published (a word stamped before the abandon stands in for the
/// header store), and iteration finds only the surviving page. Exhaustive.
#[test]
fn loom_abandoned_writer_races_a_release_and_a_seal() {
    model(None, || {
        let wb = Arc::new(WriteBuffer::with_capacity(3, 64).unwrap());
        let sh = Shared::new();
        let pages: Vec<_> = (0..2)
            .map(|i| wb.alloc_page(page_id(i), 8, true).unwrap())
            .collect();
        let mut handles: Vec<_> = pages
            .iter()
            .enumerate()
            .map(|(i, &page)| {
                let (wb, sh) = (wb.clone(), sh.clone());
                thread::spawn(move || {
                    let state = if i == 0 {
                        write_body(&wb, i, &page);
                        sh.publish(i);
                        wb.release_writer().expect("acquired")
                    } else {
                        // Dies half way: the teardown abandons its writer.
                        sh.publish(i);
                        let end = page.record + record_size(page.page_size) as u32;
                        wb.abandon_writer(page.record, end, &[]).expect("acquired")
                    };
                    sh.on_release(&wb, state);
                })
            })
            .collect();
        handles.push({
            let (wb, sh) = (wb.clone(), sh.clone());
            thread::spawn(move || {
                let state = wb.seal().expect("sealed once");
                sh.on_release(&wb, state);
            })
        });
        for h in handles {
            h.join().unwrap();
        }

        sh.check_flush(0..2);
        assert!(wb.state().is_flushable());
        let ids: Vec<u64> = wb
            .records()
            .unwrap()
            .map(|r| r.unwrap().page_id())
            .collect();
        assert_eq!(ids, vec![page_id(0)]);
    });
}
