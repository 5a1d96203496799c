//! Power loss (the simulated file of `sim.rs`: everything after the last
//! `fdatasync` is gone, or any 512-byte sectors of it made it) while four
//! threads append and commit, and at every sync of a segment's life:
//! nothing a commit acknowledged is lost, nothing recovered is garbage.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::reader::{read_record, recover, RecoveredSegment};
use super::sim::SimFile;
use super::tests::{append, page_bytes, sim_writer};
use crate::record::DEALLOC_PAGES;
use crate::write_buffer::WriteBuffer;

/// An acknowledged record: its address, and its page id and size (a page)
/// or the addresses it frees (a dealloc record).
#[derive(Clone, Debug)]
enum Acked {
    Page { addr: u64, id: u64, size: u32 },
    Dealloc { addr: u64, freed: Vec<u64> },
}

/// A small xorshift PRNG (deterministic runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `durable` with each 512-byte sector of `live` taken instead, at random:
/// a power loss during an `fdatasync` that wrote some sectors.
fn mixed(durable: &[u8], live: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = durable.to_vec();
    m.resize(live.len().max(durable.len()), 0);
    for s in (0..live.len()).step_by(512) {
        if rng.next() & 1 == 1 {
            let e = (s + 512).min(live.len());
            m[s..e].copy_from_slice(&live[s..e]);
        }
    }
    m
}

/// Recovers `bytes` (it must not fail) and checks: every record of
/// `acked` is there and reads back as written, and every recovered record
/// is intact (a page of `page_bytes`, or a dealloc record of addresses of
/// `acked`-or-later records). Returns the recovery.
fn check_image(bytes: Vec<u8>, group: u32, acked: &[Acked], what: &str) -> RecoveredSegment {
    let file = SimFile::with_bytes(bytes);
    let r = recover(&file, Path::new("sim.pws"))
        .unwrap_or_else(|e| panic!("{what}: recovery failed: {e:?}"));
    assert!(r.torn <= 1, "{what}: torn {}", r.torn);
    let body = |addr: u64| {
        let e = r.entries.iter().find(|e| e.addr(group) == addr)?;
        Some(read_record(&file, r.seed(), e, "sim").unwrap())
    };
    for a in acked {
        match a {
            Acked::Page { addr, id, size } => {
                let got = body(*addr)
                    .unwrap_or_else(|| panic!("{what}: acknowledged page {id} at {addr} lost"));
                assert_eq!(got, page_bytes(*id, *size), "{what}: page {id} at {addr}");
            }
            Acked::Dealloc { addr, freed } => {
                let got = body(*addr)
                    .unwrap_or_else(|| panic!("{what}: acknowledged dealloc at {addr} lost"));
                let want: Vec<u8> = freed.iter().flat_map(|a| a.to_le_bytes()).collect();
                assert_eq!(got, want, "{what}: dealloc at {addr}");
                assert!(freed.iter().all(|a| r.deallocs.contains(a)), "{what}");
            }
        }
    }
    for e in &r.entries {
        let got = read_record(&file, r.seed(), e, "sim").unwrap_or_else(|err| {
            panic!(
                "{what}: recovered record at {} unreadable: {err:?}",
                e.file_pos
            )
        });
        if e.flags == DEALLOC_PAGES {
            assert_eq!(got.len() % 8, 0, "{what}: dealloc body");
        } else {
            assert_eq!(
                got,
                page_bytes(e.page_id, e.page_size),
                "{what}: garbage recovered at {}",
                e.file_pos
            );
        }
    }
    r
}

/// Counts a committing thread out when it ends, also by a panic (a failed
/// check), so the checker's loop ends and the panic is reported.
struct Done(Arc<AtomicUsize>);

impl Drop for Done {
    fn drop(&mut self) {
        // Ordering: Release: this thread's acks (under their mutex) happen
        // before the count drops; the checker reads it with Acquire.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

#[test]
fn four_threads_committing_lose_no_acknowledged_page_at_a_power_loss() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 120;
    let wb = Arc::new(WriteBuffer::with_capacity(6, 1 << 22).unwrap());
    // Prepared smaller than the pages to come: commits grow the file too.
    let seg = Arc::new(sim_writer(&wb, 1 << 16));
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let running = Arc::new(AtomicUsize::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (wb, seg, acked, running) =
                (wb.clone(), seg.clone(), acked.clone(), running.clone());
            std::thread::spawn(move || {
                let _done = Done(running);
                for k in 0..ROUNDS {
                    let batch: Vec<Acked> = (0..1 + (k + t) % 4)
                        .map(|i| {
                            let id = t * 1_000_003 + k * 8 + i;
                            let size = ((id * 37) % 900) as u32;
                            Acked::Page {
                                addr: append(&wb, id, size),
                                id,
                                size,
                            }
                        })
                        .collect();
                    seg.commit(&wb).unwrap();
                    // A power loss right after the acknowledgement.
                    check_image(seg.file().durable(), 6, &batch, "power loss at the ack");
                    // Acknowledged only now that the commit returned.
                    acked.lock().unwrap().extend(batch);
                }
            })
        })
        .collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut images = 0;
    loop {
        // Ordering: Acquire: pairs with the threads' Release (see there).
        let done = running.load(Ordering::Acquire) == 0;
        // The acks first, then the image: each of them was synced before it.
        let prefix = acked.lock().unwrap().clone();
        let durable = seg.file().durable();
        let live = seg.file().live();
        check_image(durable.clone(), 6, &prefix, "power loss");
        check_image(
            mixed(&durable, &live, &mut rng),
            6,
            &prefix,
            "power loss, some sectors written",
        );
        images += 1;
        if done {
            break;
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let all = acked.lock().unwrap().clone();
    let r = check_image(seg.file().durable(), 6, &all, "at the end");
    let pages = (0..THREADS)
        .map(|t| (0..ROUNDS).map(|k| 1 + (k + t) % 4).sum::<u64>())
        .sum::<u64>();
    assert_eq!((all.len() as u64, r.entries.len() as u64), (pages, pages));
    assert!(images > 0);
}

/// One segment's life, on the calling thread: commits of varied pages
/// (0 bytes to a few KiB) and dealloc records, then the seal. Pushes each
/// record to `acked` once the commit that covers it returned.
fn life(wb: &WriteBuffer, seg: &super::SegmentWriter<SimFile>, acked: &Mutex<Vec<Acked>>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pages = Vec::new();
    for round in 0..10u64 {
        let mut batch = Vec::new();
        for i in 0..1 + round % 4 {
            let id = round * 16 + i;
            let size = match rng.next() % 4 {
                0 => 0,
                1 => (rng.next() % 64) as u32,
                2 => (rng.next() % 700) as u32,
                _ => 1000 + (rng.next() % 3000) as u32,
            };
            let addr = append(wb, id, size);
            pages.push(addr);
            batch.push(Acked::Page { addr, id, size });
        }
        if round % 3 == 2 {
            let freed = vec![pages[round as usize]];
            let d = wb.dealloc_pages(&freed, false).unwrap();
            batch.push(Acked::Dealloc {
                addr: (wb.group_id() as u64) << 32 | (d + crate::record::HEADER_SIZE) as u64,
                freed,
            });
        }
        seg.commit(wb).unwrap();
        acked.lock().unwrap().extend(batch);
    }
    wb.seal().unwrap();
    seg.seal(wb).unwrap();
}

/// Releases held syncs when dropped.
struct Release<'a>(&'a SimFile);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.hold(false);
    }
}

#[test]
fn power_loss_at_every_sync_of_a_segment_life_keeps_what_was_acknowledged() {
    // How many syncs a life makes after the segment is prepared.
    let syncs = {
        let wb = WriteBuffer::with_capacity(3, 1 << 16).unwrap();
        let seg = sim_writer(&wb, 1 << 12);
        let before = seg.file().syncs();
        life(&wb, &seg, &Mutex::new(Vec::new()));
        seg.file().syncs() - before
    };
    // 10 commits, the seal's commit if it had anything left, index, trailer.
    assert!(syncs >= 12, "{syncs}");
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for k in 0..syncs {
        // The power goes while sync k (from 0) of the life is in flight.
        let wb = WriteBuffer::with_capacity(3, 1 << 16).unwrap();
        let seg = sim_writer(&wb, 1 << 12);
        let acked = Mutex::new(Vec::new());
        seg.file().hold_after(k, true);
        std::thread::scope(|s| {
            let t = s.spawn(|| life(&wb, &seg, &acked));
            // Lets the held sync go at the end, also when a check fails
            // (else the scope would wait for the life thread forever).
            let _release = Release(seg.file());
            seg.file().wait_held(1);
            let prefix = acked.lock().unwrap().clone();
            let durable = seg.file().durable();
            let live = seg.file().live();
            let what = format!("power lost in sync {k} of {syncs}");
            let r = check_image(durable.clone(), 3, &prefix, &what);
            for _ in 0..8 {
                check_image(
                    mixed(&durable, &live, &mut rng),
                    3,
                    &prefix,
                    &format!("{what}, some sectors written"),
                );
            }
            // What recovery found seals (over a torn tail, if any) and
            // then recovers from its index: the same records.
            if !r.sealed {
                let file = SimFile::with_bytes(durable);
                super::seal_recovered_on(&file, &r).unwrap();
                let again =
                    check_image(file.durable(), 3, &prefix, &format!("{what}, sealed after"));
                assert!(again.sealed && again.torn == 0, "{what}");
                assert_eq!(again.entries, r.entries, "{what}");
                assert_eq!(again.deallocs, r.deallocs, "{what}");
            }
            drop(_release);
            t.join().unwrap();
        });
        let all = acked.lock().unwrap().clone();
        let r = check_image(seg.file().durable(), 3, &all, "after the life");
        assert!(r.sealed);
    }
}
