//! Thread scaling of the Rust core alone: 1 vs 2 OS threads writing 100-byte
//! pages through 64 KiB lanes into one 64 MiB buffer, on a fresh arena and
//! on one whose pages were touched first (no page faults while timed).
//!
//! `cargo run --release -p photon-write-buffer-core --example lane_scaling [rounds]`

use std::sync::{Arc, Barrier};
use std::time::Instant;

use photon_wb_core::{Error, WriteBuffer};

const CAPACITY: u32 = 64 << 20;
const PAGES_PER_THREAD: u64 = 200_000;
const LANE: u32 = 64 << 10;

/// Millions of pages per second, all threads together.
fn run(threads: usize, warm: bool) -> f64 {
    let buf = Arc::new(WriteBuffer::with_capacity(1, CAPACITY).expect("64 MiB arena"));
    if warm {
        let p = buf.arena_ptr();
        for i in (0..CAPACITY as usize).step_by(4096) {
            // SAFETY: in bounds of the arena, nothing reserved yet, and
            // writing a zero over a zero changes nothing anyone can see.
            unsafe { p.add(i).write_volatile(0) }
        }
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (buf, barrier) = (buf.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut lane = buf.reserve_lane(LANE).expect("room for a lane");
                for n in 0..PAGES_PER_THREAD {
                    let page = loop {
                        match buf.lane_alloc_page(&mut lane, (t as u64) << 32 | n, 100) {
                            Ok(p) => break p,
                            Err(Error::Again) => {
                                buf.close_lane(lane).expect("open lane");
                                lane = buf.reserve_lane(LANE).expect("room for a lane");
                            }
                            Err(e) => panic!("{e}"),
                        }
                    };
                    // SAFETY: this thread alone owns the records of its lane.
                    unsafe { buf.page_mut(&page) }.fill(t as u8 + 1);
                }
                buf.close_lane(lane).expect("open lane");
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().expect("writer thread");
    }
    (threads as f64 * PAGES_PER_THREAD as f64) / t0.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for warm in [false, true] {
        for _ in 0..rounds {
            let one = run(1, warm);
            let two = run(2, warm);
            println!(
                "{} arena: 1 thread {one:.1} M pages/s, 2 threads {two:.1} M pages/s, 2 ÷ 1 = {:.2}",
                if warm { "touched" } else { "fresh" },
                two / one
            );
        }
    }
}
