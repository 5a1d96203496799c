//! The Rust core's allocation path side by side with the seed's own code
//! (photondb 0.0.4's write buffer, vendored in `benches/seed/`), in one run,
//! on the same machine: `alloc_page` of 100 B + a copy of 100 B into the
//! page, without a writer (`acquire_writer = false`) and with one
//! (`acquire_writer = true`, then `release_writer()`), on 1 thread and on 2
//! threads contending for one buffer.
//!
//! `npm run bench:seed` = `cargo bench -p photon-write-buffer-bench --bench
//! seed_vs_core`. Two parts, in this order:
//!
//! 1. criterion: one group per case with a `seed` and a `core` function
//!    (criterion arguments after `--`, e.g. `-- 2-threads` or `-- --quick`);
//! 2. paired rounds: each round times 16 Ki operations with the seed's code
//!    and as many with the core's (each on its own current buffer, replaced
//!    untimed when full), in an order that alternates round by round, and
//!    the ratio is the median of the per-round ratios core ÷ seed (a noisy
//!    host's slow spells hit both alike; criterion's figures for the two
//!    functions are taken seconds apart). One `paired ...` line per
//!    case, which `bench/rust-seed.js` (a step of `npm run bench`) parses.
//!
//! Environment: `SEED_BENCH=criterion` or `paired` runs that part only;
//! `SEED_ONLY=text` the paired cases whose label contains `text`;
//! `SEED_ROUNDS=n` paired rounds per case (default 201, after a tenth as
//! many untimed).
//!
//! The same loop, the same 16 MiB arena size and the same page ids for both:
//! each buffer's arena is touched page by page before it is timed (no page
//! fault in a timed loop), the core's through an `ArenaPool` (its arena comes
//! back scrubbed, synchronously, so no reclaim thread runs while timed).
//! Only the operations are timed, never the making, touching or dropping of
//! buffers. With 2 threads, the time is the wall time from the first thread's
//! start to the last one's end, and ns/op divides it by the pages both wrote.

#[path = "seed/write_buffer.rs"]
mod seed;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use photon_wb_core::{ArenaPool, Error, WriteBuffer};

const CAP: u32 = 16 << 20;
const PAGE: usize = 100;
static SRC: [u8; PAGE] = [0xab; PAGE];

/// One implementation's buffer, as the loop sees it.
trait Buf: Sync {
    /// Implementation name (`seed` or `core`).
    const NAME: &'static str;
    /// Anything the implementation keeps between buffers.
    type Maker: Clone;
    fn maker() -> Self::Maker;
    /// A fresh buffer of `CAP` bytes whose arena pages have all been touched.
    fn make(m: &Self::Maker) -> Self;
    /// `alloc_page(id, src.len(), writer)`, copy `src` into the page, and
    /// with `writer` release it. `false` once the buffer is full.
    fn op(&self, id: u64, src: &[u8], writer: bool) -> bool;
}

/// The seed keeps nothing between buffers.
#[derive(Clone)]
struct NoMaker;

/// Touches every 4 KiB page of `len` bytes at `p`.
///
/// # Safety
///
/// `p` is valid for writes of `len` bytes that nobody else accesses now.
unsafe fn touch(p: *mut u8, len: usize) {
    for i in (0..len).step_by(4096) {
        // SAFETY: in bounds (the caller's contract); a zero written before
        // any reservation is overwritten or never read.
        unsafe { p.add(i).write_volatile(0) }
    }
}

impl Buf for seed::WriteBuffer {
    const NAME: &'static str = "seed";
    type Maker = NoMaker;
    fn maker() -> NoMaker {
        NoMaker
    }
    fn make(_: &NoMaker) -> Self {
        let wb = seed::WriteBuffer::with_capacity(1, CAP);
        // SAFETY: the whole buffer, nothing reserved in it yet.
        unsafe { touch(wb.buf_ptr(), CAP as usize) };
        wb
    }
    #[inline(always)]
    fn op(&self, id: u64, src: &[u8], writer: bool) -> bool {
        // SAFETY: the buffer outlives the page (dropped below).
        match unsafe { self.alloc_page(id, src.len() as u32, writer) } {
            Ok((addr, _, page)) => {
                page.copy_from_slice(src);
                black_box(addr);
                if writer {
                    // SAFETY: the page slice is dead (the seed's contract).
                    black_box(unsafe { self.release_writer() });
                }
                true
            }
            Err(seed::Error::Again) => false,
            Err(e) => panic!("{e:?}"),
        }
    }
}

impl Buf for WriteBuffer {
    const NAME: &'static str = "core";
    type Maker = Arc<ArenaPool>;
    fn maker() -> Arc<ArenaPool> {
        ArenaPool::new(CAP, 1).expect("a 16 MiB pool")
    }
    fn make(pool: &Arc<ArenaPool>) -> Self {
        let wb = WriteBuffer::with_pool(1, pool).expect("a 16 MiB arena");
        // SAFETY: the whole arena, nothing reserved in it yet.
        unsafe { touch(wb.arena_ptr(), CAP as usize) };
        wb
    }
    #[inline(always)]
    fn op(&self, id: u64, src: &[u8], writer: bool) -> bool {
        match self.alloc_page(id, src.len() as u32, writer) {
            Ok(p) => {
                // SAFETY: just reserved by this thread; the slice is dropped
                // before the release below.
                unsafe { self.page_mut(&p) }.copy_from_slice(src);
                black_box(p.addr);
                if writer {
                    black_box(self.release_writer().expect("one writer"));
                }
                true
            }
            Err(Error::Again) => false,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Up to `budget` operations on `b` from `threads` threads (page ids
/// `base..`), until the budget is spent or the buffer is full. Returns the
/// operations done and their wall time.
fn fill<B: Buf>(b: &B, threads: usize, writer: bool, base: u64, budget: u64) -> (u64, Duration) {
    if threads == 1 {
        let src = black_box(&SRC[..]);
        let t0 = Instant::now();
        let mut n = 0;
        while n < budget && b.op(base + n, src, writer) {
            n += 1;
        }
        return (n, t0.elapsed());
    }
    let barrier = Barrier::new(threads);
    let share = budget.div_ceil(threads as u64);
    let runs: Vec<(u64, Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let src = black_box(&SRC[..]);
                    barrier.wait();
                    let t0 = Instant::now();
                    let mut n = 0;
                    while n < share && b.op(base + t * share + n, src, writer) {
                        n += 1;
                    }
                    (n, t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let start = runs.iter().map(|r| r.1).min().expect("threads");
    let end = runs.iter().map(|r| r.2).max().expect("threads");
    (runs.iter().map(|r| r.0).sum(), end - start)
}

/// `iters` operations over as many fresh buffers as they need; only the
/// operations are timed.
fn over_buffers<B: Buf>(m: &B::Maker, threads: usize, writer: bool, iters: u64) -> Duration {
    let (mut done, mut total) = (0, Duration::ZERO);
    while done < iters {
        let b = B::make(m);
        let (n, t) = fill(&b, threads, writer, done, iters - done);
        assert!(n > 0, "a fresh buffer took no operation");
        done += n;
        total += t;
        drop(b);
    }
    total
}

/// The cases: (label, threads, writer).
const CASES: [(&str, usize, bool); 4] = [
    ("alloc100+copy/no-writer/1-thread", 1, false),
    ("alloc100+copy/writer/1-thread", 1, true),
    ("alloc100+copy/no-writer/2-threads", 2, false),
    ("alloc100+copy/writer/2-threads", 2, true),
];

fn bench_one<B: Buf>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    m: &B::Maker,
    threads: usize,
    writer: bool,
) {
    g.bench_function(BenchmarkId::from_parameter(B::NAME), |bch| {
        bch.iter_custom(|iters| over_buffers::<B>(m, threads, writer, iters))
    });
}

fn criterion_part(c: &mut Criterion, seed_m: &NoMaker, core_m: &Arc<ArenaPool>) {
    for (label, threads, writer) in CASES {
        let mut g = c.benchmark_group(label);
        g.throughput(Throughput::Elements(1));
        bench_one::<seed::WriteBuffer>(&mut g, seed_m, threads, writer);
        bench_one::<WriteBuffer>(&mut g, core_m, threads, writer);
        g.finish();
    }
}

/// One implementation's side of the paired rounds: its current buffer,
/// replaced (untimed) when full.
struct Side<B: Buf> {
    maker: B::Maker,
    buf: Option<B>,
    next_id: u64,
}

impl<B: Buf> Side<B> {
    fn new(maker: &B::Maker) -> Self {
        Side {
            maker: maker.clone(),
            buf: None,
            next_id: 0,
        }
    }

    /// ns per operation of `ops` operations (a fresh buffer, untimed,
    /// whenever the current one is full).
    fn chunk(&mut self, threads: usize, writer: bool, ops: u64) -> f64 {
        let (mut done, mut total) = (0, Duration::ZERO);
        while done < ops {
            let buf = self.buf.get_or_insert_with(|| B::make(&self.maker));
            let (n, t) = fill(buf, threads, writer, self.next_id, ops - done);
            done += n;
            total += t;
            self.next_id += n;
            if done < ops {
                // Full: dropped before the next one is made, so the core's
                // pool hands its arena back (scrubbed, on this thread)
                // instead of a fresh one being mapped.
                self.buf = None;
            }
        }
        total.as_nanos() as f64 / ops as f64
    }
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Operations per timed chunk of the paired rounds: ~0.1–0.2 ms, well
/// under a scheduler time slice, so a chunk a busy host preempts is an
/// outlier the median drops rather than the rule.
const CHUNK: u64 = 16 << 10;

fn paired_part(rounds: usize, seed_m: &NoMaker, core_m: &Arc<ArenaPool>) {
    let mut seed = Side::<seed::WriteBuffer>::new(seed_m);
    let mut core = Side::<WriteBuffer>::new(core_m);
    println!(
        "\npaired rounds: {rounds} per case, each times {CHUNK} operations with the seed's code \
         and as many with the core's (order alternating), ratio = median of per-round core ÷ seed"
    );
    println!("| case | seed ns/op | core ns/op | core ÷ seed [p25–p75] |");
    println!("| --- | ---: | ---: | ---: |");
    let mut lines = Vec::new();
    let only = std::env::var("SEED_ONLY").unwrap_or_default();
    for (label, threads, writer) in CASES {
        if !label.contains(only.as_str()) {
            continue;
        }
        for _ in 0..rounds.div_ceil(10) {
            seed.chunk(threads, writer, CHUNK);
            core.chunk(threads, writer, CHUNK);
        }
        let (mut s, mut c, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rounds {
            let (a, b) = if i % 2 == 0 {
                let a = seed.chunk(threads, writer, CHUNK);
                (a, core.chunk(threads, writer, CHUNK))
            } else {
                let b = core.chunk(threads, writer, CHUNK);
                (seed.chunk(threads, writer, CHUNK), b)
            };
            s.push(a);
            c.push(b);
            r.push(b / a);
        }
        let (sm, cm) = (median(&mut s), median(&mut c));
        let (p25, rm, p75) = (
            quantile(&mut r, 0.25),
            median(&mut r),
            quantile(&mut r, 0.75),
        );
        println!("| {label} | {sm:.1} | {cm:.1} | **{rm:.2}×** [{p25:.2}–{p75:.2}] |");
        lines.push(format!(
            "paired {label} seed_ns={sm:.2} core_ns={cm:.2} ratio={rm:.3} p25={p25:.3} p75={p75:.3} rounds={rounds}"
        ));
    }
    println!();
    for l in lines {
        println!("{l}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench targets with `--test` (criterion
    // then runs each function once); `--list` only names them.
    let probe = args.iter().any(|a| a == "--test" || a == "--list");
    let part = std::env::var("SEED_BENCH").unwrap_or_default();
    // One pool for the whole run: its arena is never retired to the reclaim
    // thread (which would zero or free it in the background while timed).
    let (seed_m, core_m) = (
        <seed::WriteBuffer as Buf>::maker(),
        <WriteBuffer as Buf>::maker(),
    );
    if part != "paired" {
        let mut c = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        criterion_part(&mut c, &seed_m, &core_m);
        c.final_summary();
    }
    if part != "criterion" && !probe {
        let rounds = std::env::var("SEED_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(201);
        paired_part(rounds, &seed_m, &core_m);
    }
}
