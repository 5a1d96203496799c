//! Commit rate of a segment against a bare `write` + `fdatasync` on one
//! file, on this disk. Run:
//! `cargo run --release -p photon-write-buffer-core --example segment_commit [dir] [seconds]`
//!
//! Cases (100-byte records):
//! - raw append: `write` 100 B at the end of a growing file + `fdatasync`;
//! - raw prepared: the same into a zero-filled, synced file (no size change);
//! - segment, 1 client: append a page + `commit`;
//! - segment, N threads: each appends + commits in a loop (group commit).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use photon_wb_core::segment::SegmentWriter;
use photon_wb_core::WriteBuffer;

const SIZE: u32 = 100;
const CAPACITY: u32 = 1 << 26;

fn append(wb: &WriteBuffer, id: u64) {
    let p = wb.alloc_page(id, SIZE, true).expect("room");
    // SAFETY: just reserved, ours alone until released.
    unsafe { wb.page_mut(&p) }.fill(id as u8);
    wb.mark_complete(p.record).expect("a record");
    wb.release_writer().expect("acquired");
}

fn report(name: &str, ops: u64, syncs: u64, t: Duration) {
    println!(
        "{name:<28} {:>9.0} commits/s  {:>9.0} fdatasync/s  ({ops} commits, {syncs} syncs, {:.1} s)",
        ops as f64 / t.as_secs_f64(),
        syncs as f64 / t.as_secs_f64(),
        t.as_secs_f64()
    );
}

#[cfg(not(unix))]
fn main() {
    println!("segment_commit: unix only");
}

#[cfg(unix)]
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/segment-bench".into()));
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let run = Duration::from_secs_f64(secs);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rec = vec![7u8; SIZE as usize];

    // Raw append.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw-append"))
        .unwrap();
    let (t0, mut n) = (Instant::now(), 0u64);
    while t0.elapsed() < run {
        f.write_all(&rec).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    report("raw append+fdatasync", n, n, t0.elapsed());

    // Raw into a prepared file.
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("raw-prep"))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for i in 0..64 {
        std::os::unix::fs::FileExt::write_all_at(&f, &zeros, i << 20).unwrap();
    }
    f.sync_all().unwrap();
    let (t0, mut n) = (Instant::now(), 0u64);
    while t0.elapsed() < run {
        std::os::unix::fs::FileExt::write_all_at(&f, &rec, n * 128).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    report("raw prepared+fdatasync", n, n, t0.elapsed());

    // Segment, one client.
    let wb = WriteBuffer::with_capacity(1, CAPACITY).unwrap();
    let t = Instant::now();
    let seg = SegmentWriter::prepare(&dir, 1, CAPACITY, Some(64 << 20)).unwrap();
    println!(
        "prepare (64 MiB zero-filled): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let (t0, mut n) = (Instant::now(), 0u64);
    while t0.elapsed() < run {
        append(&wb, n);
        seg.commit(&wb).unwrap();
        n += 1;
    }
    report("segment 1 client", n, seg.stats().syncs, t0.elapsed());

    // Segment, many threads.
    for threads in [4u64, 32] {
        let g = 1 + threads as u32;
        let wb = Arc::new(WriteBuffer::with_capacity(g, CAPACITY).unwrap());
        let seg = Arc::new(SegmentWriter::prepare(&dir, g, CAPACITY, Some(64 << 20)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (wb, seg, stop, done) = (wb.clone(), seg.clone(), stop.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    // Ordering: Relaxed: a stop flag and a counter, no data.
                    while !stop.load(Ordering::Relaxed) {
                        append(&wb, t << 32 | i);
                        seg.commit(&wb).unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(run);
        // Ordering: Relaxed: see above.
        stop.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        let n = done.load(Ordering::Relaxed);
        report(
            &format!("segment {threads} threads"),
            n,
            seg.stats().syncs,
            t0.elapsed(),
        );
    }
    open_cost(&dir.join("open-4k"), 4096, 4);
    open_cost(&dir.join("open-100"), 100, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `segments` sealed segments of 64 MiB buffers full of `size`-byte pages:
/// recovery (trailers and indexes) against reading every file, page cache
/// warm for both.
#[cfg(unix)]
fn open_cost(dir: &std::path::Path, size: u32, segments: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut total = 0u64;
    let mut pages = 0u64;
    for g in 0..segments {
        let wb = WriteBuffer::with_capacity(g, CAPACITY).unwrap();
        let seg = SegmentWriter::prepare(dir, g, CAPACITY, None).unwrap();
        let mut id = 0u64;
        while let Ok(p) = wb.alloc_page(id, size, true) {
            // SAFETY: just reserved, ours alone until released.
            unsafe { wb.page_mut(&p) }.fill(id as u8);
            wb.mark_complete(p.record).unwrap();
            wb.release_writer().unwrap();
            id += 1;
        }
        pages += id;
        wb.seal().unwrap();
        total += seg.seal(&wb).unwrap().file_len;
    }
    let t0 = Instant::now();
    let r = photon_wb_core::segment::recover_dir(dir).unwrap();
    let open = t0.elapsed();
    assert_eq!(
        r.segments
            .iter()
            .map(|s| s.entries.len() as u64)
            .sum::<u64>(),
        pages
    );
    let t0 = Instant::now();
    let mut read = 0u64;
    for s in &r.segments {
        read += std::fs::read(&s.path).unwrap().len() as u64;
    }
    let all = t0.elapsed();
    println!(
        "open {} MiB of {size} B pages ({pages} pages, {segments} segments): recover {:.1} ms, {:.1} MiB read; read every file {:.1} ms, {:.1} MiB: {:.3}x",
        total >> 20,
        open.as_secs_f64() * 1e3,
        r.bytes_read as f64 / (1 << 20) as f64,
        all.as_secs_f64() * 1e3,
        read as f64 / (1 << 20) as f64,
        open.as_secs_f64() / all.as_secs_f64()
    );
}
