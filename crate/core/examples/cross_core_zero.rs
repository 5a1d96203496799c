//! Does zeroing an arena on the other core make it warm for the writer?
//! (docs/BENCHMARKS.md, "Arena memory": why the reclaim thread does not zero
//! small arenas ahead of the next buffer.)
//!
//! `cargo run --release -p photon-write-buffer-core --example cross_core_zero [rounds]`
//!
//! 32 buffers of 4 MiB (128 MiB, more than this machine's 32 MiB L3), all
//! faulted in; each round fills one with 4 KiB copies every 4112 bytes (the
//! fresh4 loop's pages, without the JS side), in rotation, so each buffer
//! was last written 31 buffers ago, as a cached arena of a dropped buffer
//! is. Four ways, the writer's CPU time per 4 KiB page:
//!
//!   bare    always the same buffer (the bare warm copy of the row)
//!   cold    the next buffer as it is (no zeroing: what cold writes cost)
//!   taker   the writer zeroes the next buffer itself, then fills it (the
//!           project's way: the `memset` pulls the lines into its caches)
//!   ahead   a second thread zeroes each buffer just before the writer
//!           needs it (one or two ahead); the writer only fills it. The
//!           fill's own CPU time is shown apart from the waits.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const CAP: usize = 4 << 20;
const PAGE: usize = 4096;
const STRIDE: usize = PAGE + 16;
const BUFS: usize = 32;

/// This thread's CPU time in ns (wall time where there is no such clock).
fn thread_ns(start: Instant) -> f64 {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid out pointer for the call only.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as f64 * 1e9 + t.tv_nsec as f64;
        }
    }
    start.elapsed().as_nanos() as f64
}

/// A buffer shared by the writer and the zeroing thread, which hand it over
/// through `ready` (Release/Acquire) and never touch it at the same time.
struct Buf(std::cell::UnsafeCell<Vec<u8>>);

// SAFETY: each buffer is used by one thread at a time: the zeroing thread
// until it sets `ready` (Release), the writer after it saw it (Acquire) and
// until it asks for that buffer again, `BUFS` rounds later.
unsafe impl Sync for Buf {}

impl Buf {
    #[allow(clippy::mut_from_ref)]
    /// # Safety
    /// The caller is the one thread using the buffer now (see `Sync`).
    unsafe fn get(&self) -> &mut [u8] {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}

fn fill(dst: &mut [u8], src: &[u8]) {
    let mut off = 0;
    while off + STRIDE <= dst.len() {
        dst[off + 16..off + 16 + PAGE].copy_from_slice(src);
        off += STRIDE;
    }
}

fn run(mode: &str, rounds: usize, ahead: usize) {
    let bufs: Arc<Vec<Buf>> = Arc::new(
        (0..BUFS)
            .map(|_| Buf(std::cell::UnsafeCell::new(vec![1u8; CAP])))
            .collect(),
    );
    let src = vec![0x5au8; PAGE];
    let ready: Arc<Vec<AtomicBool>> = Arc::new((0..BUFS).map(|_| AtomicBool::new(false)).collect());
    let want = Arc::new(AtomicUsize::new(ahead));
    let stop = Arc::new(AtomicBool::new(false));
    let zeroer = (mode == "ahead").then(|| {
        let (bufs, ready, want, stop) = (bufs.clone(), ready.clone(), want.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let (mut next, mut ns) = (0usize, 0f64);
            // Ordering (all three): Acquire on `want`/`stop` pairs with the
            // writer's Release stores; Release on `ready` publishes the
            // zeroes to the writer's Acquire load.
            while !stop.load(Ordering::Acquire) {
                if next < want.load(Ordering::Acquire) {
                    let t = thread_ns(start);
                    // SAFETY: the writer is done with this buffer (it asked
                    // for it `ahead` rounds before it will use it again).
                    unsafe { bufs[next % BUFS].get() }.fill(0);
                    ns += thread_ns(start) - t;
                    ready[next % BUFS].store(true, Ordering::Release);
                    next += 1;
                } else {
                    spin_loop();
                }
            }
            ns / next.max(1) as f64
        })
    });
    let start = Instant::now();
    let (t0, mut fill_ns, mut wait_ns) = (thread_ns(start), 0f64, 0f64);
    for r in 0..rounds {
        let i = if mode == "bare" { 0 } else { r % BUFS };
        if mode == "ahead" {
            let w = Instant::now();
            // Ordering: Acquire, pairs with the zeroing thread's Release.
            while !ready[i].load(Ordering::Acquire) {
                spin_loop();
            }
            wait_ns += w.elapsed().as_nanos() as f64;
            ready[i].store(false, Ordering::Relaxed);
            // Ordering: Release: the buffer zeroed `ahead` rounds on is no
            // longer read or written here.
            want.store(r + 1 + ahead, Ordering::Release);
        }
        // SAFETY: this thread owns buffer `i` now (see `Buf`).
        let dst = unsafe { bufs[i].get() };
        if mode == "taker" {
            dst.fill(0);
        }
        let f = thread_ns(start);
        fill(dst, &src);
        fill_ns += thread_ns(start) - f;
    }
    let pages = (rounds * (CAP / STRIDE)) as f64;
    let total = (thread_ns(start) - t0) / pages;
    // Ordering: Release, pairs with the Acquire in the zeroing thread.
    stop.store(true, Ordering::Release);
    let zero_us = zeroer.map(|z| z.join().unwrap() / 1000.0);
    print!(
        "{mode:<6} ahead {ahead}: writer {total:>5.0} ns/page (fill alone {:>4.0}), wall {:>5.0}, waited {:>5.0}",
        fill_ns / pages,
        start.elapsed().as_nanos() as f64 / pages,
        wait_ns / pages
    );
    match zero_us {
        Some(us) => println!("; zeroing thread {us:.0} µs per 4 MiB"),
        None => println!(),
    }
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    run("bare", rounds, 0);
    run("cold", rounds, 0);
    run("taker", rounds, 0);
    run("ahead", rounds, 1);
    run("ahead", rounds, 2);
}
