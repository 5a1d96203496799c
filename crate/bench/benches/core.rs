//! Criterion benchmarks of the Rust core alone (no napi, no JS): what one
//! reservation, one lane allocation and one record of an iteration cost, as
//! the floor under the JS figures of `bench/` (docs/BENCHMARKS.md).
//!
//! `npm run bench:rust` = `cargo bench -p photon-write-buffer-bench`; criterion
//! arguments go after `--`, e.g. `npm run bench:rust -- alloc_page` or
//! `-- --quick`.
//!
//! Every buffer is 16 MiB (as in `bench/cases.js`) and its arena is touched
//! page by page before it is timed, so no page fault lands in a timed loop
//! (a fresh arena's faults cost more than the operations measured: see the
//! `lane_scaling` example). An iteration count larger than one buffer holds
//! runs over as many fresh buffers as it needs; only the operations are
//! timed (`iter_custom`), never the making, touching or dropping of buffers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use photon_wb_core::{Error, WriteBuffer};

const CAP: u32 = 16 << 20;
/// Lane size for page allocations through lanes (as in `bench/threads.js`).
const LANE: u32 = 64 << 10;
static SRC: [u8; 4096] = [0xab; 4096];

/// A 16 MiB buffer whose arena pages have all been touched.
fn touched_buffer() -> WriteBuffer {
    let wb = WriteBuffer::with_capacity(1, CAP).expect("16 MiB arena");
    let p = wb.arena_ptr();
    for i in (0..CAP as usize).step_by(4096) {
        // SAFETY: in bounds of the arena, nothing reserved yet, and writing a
        // zero over a zero (the arena is zeroed) changes nothing anyone sees.
        unsafe { p.add(i).write_volatile(0) }
    }
    wb
}

/// Runs `iters` operations over as many fresh touched buffers as needed.
/// `run(wb, first_id, budget)` does up to `budget` operations on `wb` and
/// returns how many it did (fewer once `wb` is full); only `run` is timed.
fn over_buffers(iters: u64, mut run: impl FnMut(&WriteBuffer, u64, u64) -> u64) -> Duration {
    let mut done = 0;
    let mut total = Duration::ZERO;
    while done < iters {
        let wb = touched_buffer();
        let t0 = Instant::now();
        let n = run(&wb, done, iters - done);
        total += t0.elapsed();
        assert!(n > 0, "a fresh buffer took no operation");
        done += n;
    }
    total
}

/// `alloc_page(id, size, acquire = true)`, copy `size` bytes into the page,
/// `release_writer()`: the JS cases `alloc0` / `alloc100` / `alloc4k`.
fn alloc_page(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_page");
    g.throughput(Throughput::Elements(1));
    for size in [0u32, 100, 4096] {
        g.bench_with_input(
            BenchmarkId::new("acquire+copy+release", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| {
                    over_buffers(iters, |wb, base, budget| {
                        let src = black_box(&SRC[..size as usize]);
                        let mut n = 0;
                        while n < budget {
                            match wb.alloc_page(base + n, size, true) {
                                Ok(p) => {
                                    // SAFETY: just reserved by this thread, the
                                    // slice is dropped before the release below.
                                    unsafe { wb.page_mut(&p) }.copy_from_slice(src);
                                    black_box(wb.release_writer().expect("one writer"));
                                    n += 1;
                                }
                                Err(Error::Again) => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        n
                    })
                })
            },
        );
    }
    g.finish();
}

/// Page allocations through a lane: `lane_alloc_page` + copy of 100 B, a
/// new 64 KiB lane (close + reserve) whenever one is full, its cost spread
/// over the ~560 pages a lane holds; and the lane turnover alone.
fn lanes(c: &mut Criterion) {
    let mut g = c.benchmark_group("lane");
    g.throughput(Throughput::Elements(1));
    g.bench_function("lane_alloc_page+copy/100", |b| {
        b.iter_custom(|iters| {
            over_buffers(iters, |wb, base, budget| {
                let src = black_box(&SRC[..100]);
                let Ok(mut lane) = wb.reserve_lane(LANE) else {
                    return 0;
                };
                let mut n = 0;
                while n < budget {
                    match wb.lane_alloc_page(&mut lane, base + n, 100) {
                        Ok(p) => {
                            // SAFETY: this thread alone owns its lane's records;
                            // the slice is dropped before the lane is closed.
                            unsafe { wb.page_mut(&p) }.copy_from_slice(src);
                            n += 1;
                        }
                        Err(Error::Again) => {
                            wb.close_lane(lane).expect("open lane");
                            match wb.reserve_lane(LANE) {
                                Ok(l) => lane = l,
                                Err(Error::Again) => return n,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                wb.close_lane(lane).expect("open lane");
                n
            })
        })
    });
    // One lane of 256 B reserved (a CAS counting a writer) and closed (a
    // tombstone filler over all of it, a CAS releasing the writer).
    g.bench_function("reserve_lane+close_lane/256", |b| {
        b.iter_custom(|iters| {
            over_buffers(iters, |wb, _, budget| {
                let mut n = 0;
                while n < budget {
                    match wb.reserve_lane(black_box(256)) {
                        Ok(lane) => {
                            black_box(wb.close_lane(lane).expect("open lane"));
                            n += 1;
                        }
                        Err(Error::Again) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                n
            })
        })
    });
    g.finish();
}

/// One full `records()` pass over a sealed buffer of 100k × 100 B pages,
/// reading each record's page id and body length (the JS case `records`);
/// throughput in records.
fn records(c: &mut Criterion) {
    const N: u64 = 100_000;
    let wb = touched_buffer();
    for i in 0..N {
        let p = wb
            .alloc_page(i, 100, false)
            .expect("100k × 116 B fit 16 MiB");
        // SAFETY: just reserved, no writer counted, nothing reads it yet.
        unsafe { wb.page_mut(&p) }.copy_from_slice(&SRC[..100]);
    }
    wb.seal().expect("not sealed yet");
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Elements(N));
    g.bench_function("iterate/100k x 100", |b| {
        b.iter(|| {
            let (mut n, mut bytes, mut ids) = (0u64, 0usize, 0u64);
            for r in wb.records().expect("flushable") {
                let r = r.expect("well-formed record");
                bytes += r.body().len();
                ids = ids.wrapping_add(r.page_id());
                n += 1;
            }
            assert_eq!(n, N);
            black_box((bytes, ids))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = alloc_page, lanes, records
}
criterion_main!(benches);
