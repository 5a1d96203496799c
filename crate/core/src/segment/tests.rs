use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use super::format::{IndexEntry, HEADER_LEN, HEAD_LEN, TRAILER_LEN};
use super::reader::{read_record, recover, recover_dir, scan_dir, SegmentReader};
use super::sim::SimFile;
use super::writer::SegmentWriter;
use crate::error::Error;
use crate::write_buffer::WriteBuffer;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        // Ordering: Relaxed: only uniqueness matters.
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pwb-seg-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bytes of page `id` of `size` bytes.
pub(super) fn page_bytes(id: u64, size: u32) -> Vec<u8> {
    (0..size).map(|i| (id as u32 * 31 + i * 7) as u8).collect()
}

/// Appends a page the v2 way: reserve with a writer, fill, mark, release.
pub(super) fn append(wb: &WriteBuffer, id: u64, size: u32) -> u64 {
    let p = wb.alloc_page(id, size, true).unwrap();
    // SAFETY: just reserved, so ours alone until released below.
    unsafe { wb.page_mut(&p) }.copy_from_slice(&page_bytes(id, size));
    wb.mark_complete(p.record).unwrap();
    wb.release_writer().unwrap();
    p.addr
}

pub(super) fn sim_writer(wb: &WriteBuffer, prealloc: u64) -> SegmentWriter<SimFile> {
    SegmentWriter::create_on(
        SimFile::new(),
        PathBuf::from("sim.pws"),
        wb.group_id(),
        wb.capacity(),
        prealloc,
    )
    .unwrap()
}

/// Recovers a segment from raw bytes.
fn recover_bytes(bytes: Vec<u8>) -> super::RecoveredSegment {
    recover(&SimFile::with_bytes(bytes), Path::new("sim.pws")).unwrap()
}

#[test]
fn commit_round_trip_then_seal() {
    let dir = TempDir::new("round");
    let wb = WriteBuffer::with_capacity(3, 1 << 16).unwrap();
    let seg = SegmentWriter::prepare(&dir.0, 3, 1 << 16, None).unwrap();
    let mut addrs = Vec::new();
    for i in 0..10u64 {
        addrs.push((i, append(&wb, i, 10 + i as u32 * 13)));
    }
    seg.commit(&wb).unwrap();
    let d = wb.dealloc_pages(&[7 << 32 | 16], false).unwrap();
    for i in 10..20u64 {
        addrs.push((i, append(&wb, i, 300)));
    }
    seg.commit(&wb).unwrap();
    assert_eq!(seg.stats().syncs, 2);
    for &(id, addr) in &addrs {
        assert_eq!(
            seg.read_page(addr).unwrap(),
            page_bytes(id, (wb.locate_page(addr).unwrap()).page_size)
        );
    }
    // Unsealed: recovered by the walk.
    let r = recover_dir(&dir.0).unwrap();
    assert_eq!(r.segments.len(), 1);
    let s = &r.segments[0];
    assert!(!s.sealed);
    assert_eq!(s.torn, 0);
    assert_eq!(s.entries, seg.entries());
    assert_eq!(s.entries.len(), 21);
    assert_eq!(s.deallocs, vec![7 << 32 | 16]);
    assert!(s.entries.iter().any(|e| e.offset == d));
    // Sealed: recovered from the trailer and index.
    wb.seal().unwrap();
    let info = seg.seal(&wb).unwrap();
    assert_eq!(info.records, 21);
    let r = recover_dir(&dir.0).unwrap();
    let s = &r.segments[0];
    assert!(s.sealed);
    assert_eq!(s.entries, seg.entries());
    assert_eq!(s.deallocs, vec![7 << 32 | 16]);
    assert_eq!(std::fs::metadata(&s.path).unwrap().len(), info.file_len);
    let reader = SegmentReader::new(2);
    reader.add(s);
    for &(id, addr) in &addrs {
        let size = wb.locate_page(addr).unwrap().page_size;
        assert_eq!(reader.read(addr).unwrap(), page_bytes(id, size));
    }
    assert_eq!(
        reader.read(3 << 32 | (d as u64 + 16)),
        Err(Error::InvalidAddr)
    );
    assert_eq!(reader.read(4 << 32 | 16), Err(Error::InvalidAddr));
    // A commit after the seal has nothing left to do.
    seg.commit(&wb).unwrap();
    // Preparing the same group again refuses.
    assert_eq!(
        SegmentWriter::prepare(&dir.0, 3, 1 << 16, None)
            .err()
            .map(|e| e.code()),
        Some("EEXIST")
    );
}

#[test]
fn tombstones_and_lane_fillers_are_not_written() {
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let seg = sim_writer(&wb, 8192);
    let a = append(&wb, 1, 8);
    let b = wb.alloc_page(2, 8, false).unwrap();
    wb.mark_complete(b.record).unwrap();
    wb.set_tombstone(b.record).unwrap();
    let mut lane = wb.reserve_lane(200).unwrap();
    let c = wb.lane_alloc_page(&mut lane, 3, 16).unwrap();
    // SAFETY: just reserved in our lane.
    unsafe { wb.page_mut(&c) }.copy_from_slice(&page_bytes(3, 16));
    wb.mark_complete(c.record).unwrap();
    wb.close_lane(lane).unwrap();
    // A fill that failed: tombstoned, never marked; commits go past it.
    let failed = wb.alloc_page(5, 8, true).unwrap();
    wb.set_tombstone(failed.record).unwrap();
    wb.release_writer().unwrap();
    assert_eq!(wb.complete_prefix(failed.record), failed.record + 24);
    let d = append(&wb, 4, 8);
    seg.commit(&wb).unwrap();
    let ids: Vec<u64> = seg.entries().iter().map(|e| e.page_id).collect();
    assert_eq!(ids, vec![1, 3, 4]);
    let r = recover_bytes(seg.file().durable());
    assert_eq!(r.entries, seg.entries());
    for (id, addr, size) in [(1, a, 8), (3, c.addr, 16), (4, d, 8)] {
        assert_eq!(seg.read_page(addr).unwrap(), page_bytes(id, size));
    }
}

#[test]
fn complete_prefix_stops_at_the_first_unfinished_record() {
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let a = wb.alloc_page(1, 8, true).unwrap();
    let b = wb.alloc_page(2, 8, true).unwrap();
    let c = wb.alloc_page(3, 8, true).unwrap();
    assert_eq!(wb.complete_prefix(0), 0);
    wb.mark_complete(a.record).unwrap();
    wb.mark_complete(c.record).unwrap();
    assert_eq!(wb.complete_prefix(0), b.record);
    wb.mark_complete(b.record).unwrap();
    assert_eq!(wb.complete_prefix(0), c.record + 24);
    assert_eq!(wb.mark_complete(a.record + 8), Err(Error::InvalidAddr));
    // A batch is marked with one call.
    let batch = wb.batch(&[(5, 8), (6, 100)], &[]).unwrap();
    let end = batch.pages[1].record + 16 + 104;
    assert_eq!(wb.complete_prefix(c.record + 24), c.record + 24);
    assert_eq!(
        wb.mark_complete_range(batch.pages[0].record, end - 8),
        Err(Error::InvalidAddr)
    );
    wb.mark_complete_range(batch.pages[0].record, end).unwrap();
    assert_eq!(wb.complete_prefix(c.record + 24), end);
    // An unmarked record is not complete while the buffer is open, even
    // with no writer in progress: a page reserved without a writer may
    // still be being copied in.
    let d = wb.alloc_page(4, 8, false).unwrap();
    for _ in 0..4 {
        wb.release_writer().unwrap();
    }
    assert_eq!(wb.state().writers, 0);
    assert_eq!(wb.complete_prefix(0), d.record);
    // Flushable (sealed, no writer): everything is, as for a v1 flush.
    wb.seal().unwrap();
    assert_eq!(wb.complete_prefix(0), d.record + 24);
}

#[test]
fn commit_waits_for_a_record_being_filled() {
    let wb = Arc::new(WriteBuffer::with_capacity(1, 4096).unwrap());
    let seg = Arc::new(sim_writer(&wb, 8192));
    let a = append(&wb, 1, 8);
    let slow = wb.alloc_page(2, 64, true).unwrap();
    let c = append(&wb, 3, 8);
    let t = {
        let (wb, seg) = (wb.clone(), seg.clone());
        std::thread::spawn(move || seg.commit(&wb))
    };
    // Whatever the commit has done so far, it has not written `slow`
    // unfinished: the durable bytes never hold records 2 or 3 yet.
    for _ in 0..50 {
        let r = recover_bytes(seg.file().durable());
        assert!(r.entries.iter().all(|e| e.page_id == 1), "{:?}", r.entries);
        std::thread::yield_now();
    }
    assert!(!t.is_finished());
    // SAFETY: reserved above, ours alone until released.
    unsafe { wb.page_mut(&slow) }.copy_from_slice(&page_bytes(2, 64));
    wb.mark_complete(slow.record).unwrap();
    wb.release_writer().unwrap();
    t.join().unwrap().unwrap();
    let r = recover_bytes(seg.file().durable());
    let ids: Vec<u64> = r.entries.iter().map(|e| e.page_id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(seg.read_page(slow.addr).unwrap(), page_bytes(2, 64));
    assert_eq!(seg.read_page(a).unwrap(), page_bytes(1, 8));
    assert_eq!(seg.read_page(c).unwrap(), page_bytes(3, 8));
}

#[test]
fn concurrent_commits_share_the_next_sync() {
    const N: usize = 8;
    let wb = Arc::new(WriteBuffer::with_capacity(1, 1 << 16).unwrap());
    let seg = Arc::new(sim_writer(&wb, 1 << 17));
    let base_syncs = seg.file().syncs();
    append(&wb, 0, 100);
    seg.file().hold(true);
    let first = {
        let (wb, seg) = (wb.clone(), seg.clone());
        std::thread::spawn(move || seg.commit(&wb))
    };
    seg.file().wait_held(1);
    // The first commit's sync is in flight; these requests come after it
    // started, so they need the next sync.
    let go = Arc::new(Barrier::new(N));
    let others: Vec<_> = (1..=N as u64)
        .map(|i| {
            let (wb, seg, go) = (wb.clone(), seg.clone(), go.clone());
            std::thread::spawn(move || {
                let addr = append(&wb, i, 100);
                go.wait();
                seg.commit(&wb).unwrap();
                // Acknowledged: the durable bytes hold this page.
                let r = recover_bytes(seg.file().durable());
                assert!(
                    r.entries.iter().any(|e| e.addr(1) == addr),
                    "page {i} not durable"
                );
                seg.file().syncs()
            })
        })
        .collect();
    while seg.waiting() < N as u64 {
        std::thread::yield_now();
    }
    seg.file().hold(false);
    first.join().unwrap().unwrap();
    for t in others {
        let syncs_at_ack = t.join().unwrap();
        assert_eq!(
            syncs_at_ack - base_syncs,
            2,
            "acknowledged before the covering sync"
        );
    }
    // N + 1 requests, 2 syncs: the first, and one shared by the other N.
    assert_eq!(seg.file().syncs() - base_syncs, 2);
    let st = seg.stats();
    assert_eq!(
        (st.requests, st.syncs, st.records),
        (N as u64 + 1, 2, N as u64 + 1)
    );
}

#[test]
fn a_request_whose_records_a_running_commit_wrote_is_done_with_its_sync() {
    let wb = Arc::new(WriteBuffer::with_capacity(1, 1 << 16).unwrap());
    let seg = Arc::new(sim_writer(&wb, 1 << 17));
    let base_syncs = seg.file().syncs();
    let a = append(&wb, 0, 100);
    seg.file().hold(true);
    let commit = |tx: Option<std::sync::mpsc::Sender<u64>>| {
        let (wb, seg) = (wb.clone(), seg.clone());
        std::thread::spawn(move || {
            seg.commit(&wb).unwrap();
            if let Some(tx) = tx {
                tx.send(seg.file().syncs()).unwrap();
            }
        })
    };
    // The first commit has written page `a`; its sync is in flight.
    let first = commit(None);
    seg.file().wait_held(1);
    // A request for `a` alone (nothing appended since), then one with a
    // new page: both come after the running commit took its tickets.
    let (tx, rx) = std::sync::mpsc::channel();
    let again = commit(Some(tx));
    while seg.waiting() < 1 {
        std::thread::yield_now();
    }
    let b = append(&wb, 1, 100);
    let next = commit(None);
    while seg.waiting() < 2 {
        std::thread::yield_now();
    }
    // The first sync completes; the next one (for `b`) is held.
    seg.file().let_one_through();
    let syncs_at_ack = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the request for `a` waited for the sync of `b`");
    assert_eq!(syncs_at_ack - base_syncs, 1);
    seg.file().wait_held(1);
    assert_eq!(
        seg.file().syncs() - base_syncs,
        1,
        "the sync of `b` is held"
    );
    let r = recover_bytes(seg.file().durable());
    assert!(r.entries.iter().any(|e| e.addr(1) == a));
    seg.file().hold(false);
    for t in [first, again, next] {
        t.join().unwrap();
    }
    let r = recover_bytes(seg.file().durable());
    assert!(r.entries.iter().any(|e| e.addr(1) == b));
    assert_eq!(seg.file().syncs() - base_syncs, 2);
}

#[test]
fn commits_under_continuous_multi_writer_load_finish() {
    let wb = Arc::new(WriteBuffer::with_capacity(1, 1 << 22).unwrap());
    let seg = Arc::new(sim_writer(&wb, 1 << 23));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let (wb, stop) = (wb.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                // Ordering: Relaxed: a stop flag, no data rides on it.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(p) = wb.alloc_page(t << 32 | n, 64, true) else {
                        break;
                    };
                    // SAFETY: just reserved, ours alone until released.
                    unsafe { wb.page_mut(&p) }.copy_from_slice(&page_bytes(n, 64));
                    wb.mark_complete(p.record).unwrap();
                    wb.release_writer().unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    let mut last = 0;
    for _ in 0..30 {
        let before = wb.state().allocated;
        seg.commit(&wb).unwrap();
        let e = seg.entries();
        let end = e
            .last()
            .map_or(0, |e| e.offset + 16 + e.page_size.next_multiple_of(8));
        assert!(
            end >= before,
            "commit stopped at {end} before its target {before}"
        );
        assert!(end >= last);
        last = end;
    }
    // Ordering: Relaxed: see above.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let r = recover_bytes(seg.file().durable());
    assert_eq!(r.entries, seg.entries());
}

/// A segment with a few KiB of committed records of varied sizes; returns
/// the durable bytes and the entries.
fn committed_segment() -> (Vec<u8>, Vec<IndexEntry>, u64) {
    let wb = WriteBuffer::with_capacity(9, 1 << 16).unwrap();
    let seg = sim_writer(&wb, 1 << 15);
    for i in 0..60u64 {
        append(&wb, i, (i as u32 * 37) % 200);
        if i % 7 == 0 {
            seg.commit(&wb).unwrap();
        }
    }
    seg.commit(&wb).unwrap();
    let e = seg.entries();
    let end = e.last().map(|e| e.file_pos + e.head().file_size()).unwrap();
    assert!(end > HEADER_LEN + 4096);
    (seg.file().durable(), e, end)
}

/// Checks a recovery of a damaged copy: a prefix of `entries`, exactly
/// those wholly before `cut`, each of which reads back intact.
fn check_prefix(bytes: Vec<u8>, entries: &[IndexEntry], cut: u64) -> u32 {
    let file = SimFile::with_bytes(bytes);
    let r = recover(&file, Path::new("sim.pws")).unwrap();
    let keep = entries
        .iter()
        .take_while(|e| e.file_pos + e.head().file_size() <= cut)
        .count();
    assert_eq!(r.entries, entries[..keep], "cut at {cut}");
    for e in &r.entries {
        read_record(&file, r.seed(), e, "sim").unwrap();
    }
    r.torn
}

#[test]
fn torn_tail_at_every_offset_of_the_last_4_kib() {
    let (bytes, entries, end) = committed_segment();
    let boundaries: std::collections::HashSet<u64> =
        entries.iter().map(|e| e.file_pos).chain([end]).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for cut in end - 4096..=end {
        // Truncated at `cut`.
        let torn = check_prefix(bytes[..cut as usize].to_vec(), &entries, cut);
        assert_eq!(
            torn,
            u32::from(!boundaries.contains(&cut)),
            "truncated at {cut}"
        );
        // Garbage from `cut` to 100 bytes past the end.
        let mut g = bytes.clone();
        for b in &mut g[cut as usize..end as usize + 100] {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8 | 1;
        }
        assert_eq!(check_prefix(g, &entries, cut), 1, "garbage from {cut}");
    }
}

#[test]
fn power_loss_keeps_every_acknowledged_record() {
    let wb = Arc::new(WriteBuffer::with_capacity(2, 1 << 16).unwrap());
    let seg = Arc::new(sim_writer(&wb, 1 << 17));
    let mut acked: Vec<(u64, u64, u32)> = Vec::new();
    let mut seed = 12345u64;
    for round in 0..40u64 {
        let mut batch = Vec::new();
        for k in 0..5u64 {
            let id = round * 10 + k;
            let size = (id as u32 * 13) % 300;
            batch.push((id, append(&wb, id, size), size));
        }
        // Lose power during this commit: its write done, its sync not.
        seg.file().hold(true);
        let t = {
            let (wb, seg) = (wb.clone(), seg.clone());
            std::thread::spawn(move || seg.commit(&wb))
        };
        seg.file().wait_held(1);
        let durable = seg.file().durable();
        let live = seg.file().live();
        // Power loss: everything after the last sync is gone...
        let r = recover_bytes(durable.clone());
        for &(id, addr, size) in &acked {
            let e = r
                .entries
                .iter()
                .find(|e| e.addr(2) == addr)
                .expect("acknowledged page lost");
            let f = SimFile::with_bytes(durable.clone());
            assert_eq!(
                read_record(&f, r.seed(), e, "sim").unwrap(),
                page_bytes(id, size)
            );
        }
        // ...or any 512-byte sectors of the unsynced write made it.
        let mut mixed = durable.clone();
        mixed.resize(live.len(), 0);
        for s in (0..live.len()).step_by(512) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if seed >> 63 == 1 {
                let e = (s + 512).min(live.len());
                mixed[s..e].copy_from_slice(&live[s..e]);
            }
        }
        let f = SimFile::with_bytes(mixed);
        let r = recover(&f, Path::new("sim.pws")).unwrap();
        for &(_, addr, _) in &acked {
            assert!(
                r.entries.iter().any(|e| e.addr(2) == addr),
                "acknowledged page lost"
            );
        }
        for e in &r.entries {
            let body = read_record(&f, r.seed(), e, "sim").unwrap();
            assert_eq!(
                body,
                page_bytes(e.page_id, e.page_size),
                "garbage recovered"
            );
        }
        seg.file().hold(false);
        t.join().unwrap().unwrap();
        acked.extend(batch);
    }
}

#[test]
fn a_thousand_sealed_segments_recover_from_their_indexes_only() {
    let dir = TempDir::new("thousand");
    let mut total = 0u64;
    for g in 0..1000u32 {
        let wb = WriteBuffer::with_capacity(g, 1 << 12).unwrap();
        let seg = SegmentWriter::prepare(&dir.0, g, 1 << 12, Some(4096)).unwrap();
        for i in 0..(g % 5 + 1) as u64 {
            append(&wb, i, 200);
        }
        seg.commit(&wb).unwrap();
        wb.seal().unwrap();
        total += seg.seal(&wb).unwrap().file_len;
    }
    let r = recover_dir(&dir.0).unwrap();
    assert_eq!(r.segments.len(), 1000);
    assert!(r.segments.iter().all(|s| s.sealed && s.torn == 0));
    let pages: usize = r.segments.iter().map(|s| s.entries.len()).sum();
    assert_eq!(
        pages,
        (0..1000).map(|g| (g % 5 + 1) as usize).sum::<usize>()
    );
    // What recovery may read: each header, trailer, and index (with its
    // padding); never a record.
    let index_bytes: u64 = r
        .segments
        .iter()
        .map(|s| {
            let len = std::fs::metadata(&s.path).unwrap().len();
            len - TRAILER_LEN - s.end
        })
        .sum();
    assert_eq!(
        r.bytes_read,
        1000 * (HEADER_LEN + TRAILER_LEN) + index_bytes
    );
    assert!(
        r.bytes_read * 4 < total,
        "read {} of {total} bytes",
        r.bytes_read
    );
}

/// A sealed segment in `dir` with pages 0..8 of 500 bytes.
fn sealed(dir: &Path) -> (PathBuf, Vec<u64>) {
    let wb = WriteBuffer::with_capacity(5, 1 << 14).unwrap();
    let seg = SegmentWriter::prepare(dir, 5, 1 << 14, None).unwrap();
    let addrs = (0..8).map(|i| append(&wb, i, 500)).collect();
    seg.commit(&wb).unwrap();
    wb.seal().unwrap();
    seg.seal(&wb).unwrap();
    (seg.path().to_owned(), addrs)
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn damaged_index_or_trailer_is_corrupt_at_open() {
    let len_of = |p: &Path| std::fs::metadata(p).unwrap().len();
    for (what, at) in [
        ("index", 0u64),
        ("trailer", 1),
        ("trailer crc", 2),
        ("padding", 3),
    ] {
        let dir = TempDir::new("damaged");
        let (path, _) = sealed(&dir.0);
        let r = recover_dir(&dir.0).unwrap();
        let end = r.segments[0].end;
        let len = len_of(&path);
        let pos = match at {
            0 => end + 40,              // inside the second index entry
            1 => len - TRAILER_LEN + 3, // index_offset
            2 => len - 8,               // trailer_crc
            _ => len - TRAILER_LEN - 1, // padding before the trailer
        };
        flip(&path, pos);
        let e = recover_dir(&dir.0).unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt(m) if m.contains("seg-00000005.pws")),
            "{what}: {e:?}"
        );
    }
}

#[test]
fn damaged_page_costs_only_that_page() {
    let dir = TempDir::new("page");
    let (path, addrs) = sealed(&dir.0);
    let r = recover_dir(&dir.0).unwrap();
    let victim = r.segments[0].entries[3];
    flip(&path, victim.file_pos + HEAD_LEN + 100);
    // Open reads no page: still fine.
    let r = recover_dir(&dir.0).unwrap();
    let reader = SegmentReader::new(1);
    reader.add(&r.segments[0]);
    for (i, &addr) in addrs.iter().enumerate() {
        let got = reader.read(addr);
        if i == 3 {
            assert!(matches!(got, Err(Error::Corrupt(_))), "{got:?}");
        } else {
            assert_eq!(got.unwrap(), page_bytes(i as u64, 500));
        }
    }
    assert_eq!(reader.open_files(), 1);
}

#[test]
fn recovery_removes_unfinished_preparations_and_checks_names() {
    let dir = TempDir::new("tmp");
    std::fs::write(dir.0.join(".seg-00000001.pws.tmp"), b"half").unwrap();
    std::fs::write(dir.0.join("other.txt"), b"x").unwrap();
    let r = recover_dir(&dir.0).unwrap();
    assert_eq!((r.segments.len(), r.removed_temp), (0, 1));
    SegmentWriter::prepare(&dir.0, 1, 4096, None).unwrap();
    std::fs::rename(
        dir.0.join("seg-00000001.pws"),
        dir.0.join("seg-00000002.pws"),
    )
    .unwrap();
    assert!(matches!(recover_dir(&dir.0), Err(Error::Corrupt(_))));
    std::fs::write(dir.0.join("seg-00000002.pws"), b"not a segment").unwrap();
    assert!(matches!(recover_dir(&dir.0), Err(Error::Corrupt(_))));
}

#[test]
fn stale_bytes_of_another_segment_never_check() {
    // Two incarnations of group 1 (new salt each): the old one's records,
    // pasted into the new file, do not recover.
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let old = sim_writer(&wb, 8192);
    append(&wb, 1, 100);
    old.commit(&wb).unwrap();
    let wb2 = WriteBuffer::with_capacity(1, 4096).unwrap();
    let new = sim_writer(&wb2, 8192);
    let mut bytes = new.file().durable();
    let old_bytes = old.file().durable();
    bytes[HEADER_LEN as usize..].copy_from_slice(&old_bytes[HEADER_LEN as usize..]);
    let r = recover_bytes(bytes);
    assert!(r.entries.is_empty());
    assert_eq!(r.torn, 1);
}

#[test]
fn a_failed_sync_poisons_the_segment() {
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let seg = sim_writer(&wb, 8192);
    let a = append(&wb, 1, 8);
    seg.commit(&wb).unwrap();
    append(&wb, 2, 8);
    seg.file().fail_syncs(true);
    let e = seg.commit(&wb).unwrap_err();
    assert_eq!(e.code(), "EIO");
    // A later sync would work, but what the failed one covered is not
    // known to be durable: the segment stays failed.
    seg.file().fail_syncs(false);
    append(&wb, 3, 8);
    assert_eq!(seg.commit(&wb).unwrap_err().code(), "EIO");
    wb.seal().unwrap();
    assert_eq!(seg.seal(&wb).unwrap_err().code(), "EIO");
    // What was acknowledged stays readable.
    assert_eq!(seg.read_page(a).unwrap(), page_bytes(1, 8));
    assert_eq!(seg.entries().len(), 1);
}

#[test]
fn a_recovered_unsealed_segment_seals_over_its_torn_tail() {
    let (bytes, entries, end) = committed_segment();
    // Torn: garbage over the last record's second half and beyond.
    let mut torn = bytes.clone();
    let last = entries.last().unwrap();
    for b in &mut torn[(last.file_pos + 30) as usize..end as usize + 64] {
        *b = 0xa5;
    }
    let file = SimFile::with_bytes(torn);
    let r = recover(&file, Path::new("sim.pws")).unwrap();
    assert_eq!((r.sealed, r.torn), (false, 1));
    assert_eq!(r.entries, entries[..entries.len() - 1]);
    let info = super::seal_recovered_on(&file, &r).unwrap();
    assert_eq!(info.records as usize, entries.len() - 1);
    let again = recover(&file, Path::new("sim.pws")).unwrap();
    assert_eq!((again.sealed, again.torn), (true, 0));
    assert_eq!(again.entries, r.entries);
    assert_eq!(file.durable().len() as u64, info.file_len);
    for e in &again.entries {
        let body = read_record(&file, again.seed(), e, "sim").unwrap();
        assert_eq!(body, page_bytes(e.page_id, e.page_size));
    }
}

#[test]
fn a_seal_cut_after_its_index_recovers_by_the_walk() {
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let seg = sim_writer(&wb, 8192);
    for i in 0..5 {
        append(&wb, i, 40);
    }
    seg.commit(&wb).unwrap();
    let before = seg.file().syncs();
    wb.seal().unwrap();
    // Hold the seal's second sync (the trailer's): power lost there.
    seg.file().hold_after(1, true);
    std::thread::scope(|s| {
        let t = s.spawn(|| seg.seal(&wb));
        seg.file().wait_held(1);
        assert_eq!(seg.file().syncs(), before + 1, "the index was synced first");
        let r = recover_bytes(seg.file().durable());
        assert_eq!((r.sealed, r.entries.len()), (false, 5));
        seg.file().hold(false);
        t.join().unwrap().unwrap();
    });
    let r = recover_bytes(seg.file().durable());
    assert_eq!((r.sealed, r.entries.len()), (true, 5));
}

#[test]
fn an_abandoned_writer_does_not_hold_commits_back() {
    let wb = WriteBuffer::with_capacity(1, 4096).unwrap();
    let seg = sim_writer(&wb, 8192);
    let a = append(&wb, 1, 8);
    // A writer whose thread died mid-fill: reserved, never marked.
    let dead = wb.alloc_page(2, 64, true).unwrap();
    let c = append(&wb, 3, 8);
    assert_eq!(wb.complete_prefix(0), dead.record);
    let end = dead.record + 16 + 64;
    wb.abandon_writer(dead.record, end, &[]).unwrap();
    // Past the tombstoned record, to the end of page 3.
    assert_eq!(wb.complete_prefix(0), c as u32 - 16 + 24);
    seg.commit(&wb).unwrap();
    let ids: Vec<u64> = seg.entries().iter().map(|e| e.page_id).collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(seg.read_page(a).unwrap(), page_bytes(1, 8));
    assert_eq!(seg.read_page(c).unwrap(), page_bytes(3, 8));
}

#[test]
fn a_reader_that_let_go_of_its_records_reads_each_index_again_and_keeps_few() {
    let dir = TempDir::new("lazy");
    let mut pages = Vec::new();
    for g in 1..=6u32 {
        let wb = WriteBuffer::with_capacity(g, 1 << 12).unwrap();
        let seg = SegmentWriter::prepare(&dir.0, g, 1 << 12, None).unwrap();
        for i in 0..4u64 {
            pages.push((i, append(&wb, i, 100 + g)));
        }
        seg.commit(&wb).unwrap();
        wb.seal().unwrap();
        seg.seal(&wb).unwrap();
    }
    let r = recover_dir(&dir.0).unwrap();
    let reader = SegmentReader::new(2);
    for s in &r.segments {
        reader.add(s);
    }
    assert_eq!(reader.entries_in_memory(), 6);
    reader.drop_entries();
    assert_eq!(reader.entries_in_memory(), 0);
    // Unknown without I/O until a page of the segment is read.
    assert_eq!(reader.has_page(pages[0].1), None);
    for _ in 0..2 {
        for &(id, addr) in &pages {
            let g = (addr >> 32) as u32;
            assert_eq!(reader.read(addr).unwrap(), page_bytes(id, 100 + g));
            assert!(
                reader.entries_in_memory() <= 2,
                "at most max_open indexes in memory"
            );
        }
    }
    let last = pages.last().unwrap().1;
    assert_eq!(reader.has_page(last), Some(true));
    assert_eq!(reader.has_page(last + 8), Some(false));
    assert!(matches!(reader.read(last + 8), Err(Error::InvalidAddr)));
    // A segment adopted sealed holds nothing until read.
    reader.add_sealed(1, r.segments[0].path.clone(), r.segments[0].seed());
    assert_eq!(
        reader.entries_of(1).unwrap().unwrap(),
        r.segments[0].entries
    );
    // An index damaged after recovery: its pages are ERR_CORRUPT, never garbage.
    let s = &r.segments[2];
    let mut bytes = std::fs::read(&s.path).unwrap();
    bytes[s.end as usize + 3] ^= 1;
    std::fs::write(&s.path, bytes).unwrap();
    reader.drop_entries();
    let g3 = pages.iter().find(|p| (p.1 >> 32) == 3).unwrap().1;
    // Drop the cached copy too: add it again as sealed.
    reader.add_sealed(3, s.path.clone(), s.seed());
    assert!(matches!(reader.read(g3), Err(Error::Corrupt(_))));
}

#[test]
fn an_indexed_scan_indexes_every_segment_and_keeps_only_unsealed_records() {
    use crate::page_index::PageIndex;
    let dir = TempDir::new("indexed");
    let mut latest = std::collections::HashMap::new();
    for g in 1..=4u32 {
        let wb = WriteBuffer::with_capacity(g, 1 << 12).unwrap();
        let seg = SegmentWriter::prepare(&dir.0, g, 1 << 12, None).unwrap();
        for i in 0..5u64 {
            // Page ids 0..8 rewritten across segments: the latest wins.
            let id = (i + g as u64) % 8;
            latest.insert(id, append(&wb, id, 50));
        }
        if g == 3 {
            // Frees page 7's address in group 2 (if still its latest).
            let freed = latest[&7];
            wb.dealloc_pages(&[freed], false).unwrap();
            if freed >> 32 == 2 {
                latest.remove(&7);
            }
        }
        seg.commit(&wb).unwrap();
        if g < 4 {
            wb.seal().unwrap();
            seg.seal(&wb).unwrap();
        }
    }
    let mut index = PageIndex::new();
    let r = super::reader::scan_dir_indexed(&dir.0, &mut index).unwrap();
    assert_eq!(r.segments.len(), 4);
    for s in &r.segments {
        assert!(s.indexed);
        assert_eq!(
            s.entries.is_empty(),
            s.sealed,
            "records kept only for the unsealed one"
        );
        assert!(s.record_count >= 5);
    }
    assert_eq!(index.len(), latest.len());
    for (id, addr) in &latest {
        assert_eq!(index.get(*id), Some(*addr), "page {id}");
    }
    // The plain scan keeps every record and indexes nothing.
    let plain = scan_dir(&dir.0).unwrap();
    assert!(plain
        .segments
        .iter()
        .all(|s| !s.indexed && s.entries.len() as u32 == s.record_count));
}

/// Seals segments 1..=n in `dir` (pages `g * 100 + i`, and page 7 rewritten
/// in each); returns their (group, path).
fn sealed_segments(dir: &Path, n: u32) -> Vec<(u32, PathBuf)> {
    (1..=n)
        .map(|g| {
            let wb = WriteBuffer::with_capacity(g, 1 << 12).unwrap();
            let seg = SegmentWriter::prepare(dir, g, 1 << 12, Some(4096)).unwrap();
            for i in 0..5u64 {
                append(&wb, u64::from(g) * 100 + i, 100);
            }
            append(&wb, 7, 50);
            wb.seal().unwrap();
            seg.seal(&wb).unwrap();
            (g, seg.path().to_owned())
        })
        .collect()
}

/// A new directory `name` of `n` sealed segments (`sealed_segments`), the
/// index a full read of it builds, and the bytes that read took.
fn indexed_segments(
    name: &str,
    n: u32,
) -> (
    TempDir,
    Vec<(u32, PathBuf)>,
    crate::page_index::PageIndex,
    u64,
) {
    let dir = TempDir::new(name);
    let segs = sealed_segments(&dir.0, n);
    let mut full = crate::page_index::PageIndex::new();
    let read = super::reader::scan_dir_indexed(&dir.0, &mut full)
        .unwrap()
        .bytes_read;
    (dir, segs, full, read)
}

#[test]
fn a_checkpoint_round_trips_and_covered_indexes_are_not_read() {
    use super::checkpoint::{load_checkpoint, write_checkpoint};
    use super::reader::{scan_dir_checkpointed, scan_dir_indexed};
    use crate::page_index::PageIndex;
    let (dir, segs, full, full_read) = indexed_segments("checkpoint", 6);
    assert!(
        load_checkpoint(&dir.0).unwrap().is_none(),
        "none written yet"
    );
    let (slots, len) = full.image();
    // Older than FRESH_NS: identified by their ctime alone.
    std::thread::sleep(std::time::Duration::from_millis(250));
    write_checkpoint(&dir.0, &slots, len, &segs).unwrap();
    let l = load_checkpoint(&dir.0).unwrap().unwrap();
    assert!(l.segments.iter().all(|c| c.flags == 0), "{:?}", l.segments);
    assert_eq!(l.index.entries(true), full.entries(true));
    assert_eq!(l.segments.len(), 6);
    // One more segment after the checkpoint: indexed on top of it.
    let wb = WriteBuffer::with_capacity(7, 1 << 12).unwrap();
    let seg = SegmentWriter::prepare(&dir.0, 7, 1 << 12, Some(4096)).unwrap();
    let a7 = append(&wb, 7, 60);
    seg.commit(&wb).unwrap();
    let mut ix = PageIndex::new();
    let r = scan_dir_checkpointed(&dir.0, &mut ix).unwrap();
    assert!(r.checkpoint.loaded, "{:?}", r.checkpoint);
    assert_eq!((r.checkpoint.covered, r.checkpoint.indexed), (6, 1));
    assert_eq!(r.segments.len(), 7);
    assert!(r.segments.iter().take(6).all(|s| s.sealed));
    assert!(!r.segments[6].sealed, "the unsealed one walked");
    assert_eq!(ix.get(7), Some(a7));
    assert_eq!(ix.len(), full.len());
    let mut again = PageIndex::new();
    scan_dir_indexed(&dir.0, &mut again).unwrap();
    assert_eq!(ix.entries(true), again.entries(true));
    // Each covered segment: its header and trailer only, not its index.
    for s in r.segments.iter().take(6) {
        assert_eq!(s.bytes_read, HEADER_LEN + TRAILER_LEN);
    }
    assert!(full_read > 6 * (HEADER_LEN + TRAILER_LEN));
}

#[cfg(unix)]
#[test]
fn a_segment_changed_within_the_clock_tick_is_read_again() {
    use super::checkpoint::{load_checkpoint, write_checkpoint, FLAG_VERIFY};
    use super::reader::scan_dir_checkpointed;
    use crate::page_index::PageIndex;
    let (dir, segs, full, _) = indexed_segments("checkpoint-fresh", 2);
    let (slots, len) = full.image();
    // Just sealed: a change now might keep the same ctime, so the
    // checkpoint marks them to be checked at open.
    write_checkpoint(&dir.0, &slots, len, &segs).unwrap();
    let l = load_checkpoint(&dir.0).unwrap().unwrap();
    assert!(l.segments.iter().all(|c| c.flags == FLAG_VERIFY));
    // A damaged index in one of them: ERR_CORRUPT at open (listed), and the
    // checkpoint given up (its table holds that segment's pages).
    let p = &segs[0].1;
    let mut b = std::fs::read(p).unwrap();
    let at = b.len() - TRAILER_LEN as usize - 40;
    b[at] ^= 0xff;
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .and_then(|f| {
            use std::os::unix::fs::FileExt;
            f.write_all_at(&b[at..at + 1], at as u64)
        })
        .unwrap();
    let mut ix = PageIndex::new();
    let r = scan_dir_checkpointed(&dir.0, &mut ix).unwrap();
    assert!(!r.checkpoint.loaded, "{:?}", r.checkpoint);
    assert_eq!(r.corrupt.len(), 1);
    assert_eq!(r.corrupt[0].0, 1);
}

#[test]
fn a_checkpoint_in_doubt_is_ignored_and_every_segment_read() {
    use super::checkpoint::{write_checkpoint, CHECKPOINT_NAME};
    use super::reader::scan_dir_checkpointed;
    use crate::page_index::PageIndex;
    let (dir, segs, full, _) = indexed_segments("checkpoint-doubt", 4);
    let (slots, len) = full.image();
    let file = dir.0.join(CHECKPOINT_NAME);
    let try_open = || {
        let mut ix = PageIndex::new();
        let r = scan_dir_checkpointed(&dir.0, &mut ix).unwrap();
        assert_eq!(ix.entries(true), full.entries(true));
        r.checkpoint
    };
    write_checkpoint(&dir.0, &slots, len, &segs).unwrap();
    let good = std::fs::read(&file).unwrap();
    // A write a crash interrupted leaves its temporary file: removed.
    let tmp = dir.0.join(super::checkpoint::CHECKPOINT_TEMP);
    std::fs::write(&tmp, b"half").unwrap();
    assert!(try_open().loaded);
    assert!(!tmp.exists());
    // Each damage: ignored, with its reason.
    let mut flipped = good.clone();
    let at = good.len() - 3;
    flipped[at] ^= 1;
    for (bytes, why) in [
        (flipped, "checksum"),
        (good[..good.len() - 1].to_vec(), "bytes"),
        ([&good[..8], &[2, 0, 0, 0], &good[12..]].concat(), "version"),
        (Vec::new(), "shorter"),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let c = try_open();
        assert!(!c.loaded);
        assert!(c.ignored.as_deref().unwrap_or("").contains(why), "{c:?}");
    }
    // A covered segment listed that is not there.
    let mut more = segs.clone();
    more.push((9, dir.0.join("seg-00000009.pws")));
    assert!(
        write_checkpoint(&dir.0, &slots, len, &more).is_err(),
        "cannot be identified"
    );
    assert!(!dir.0.join(super::checkpoint::CHECKPOINT_TEMP).exists());
    std::fs::write(&file, &good).unwrap();
    assert!(try_open().loaded);
    // A covered segment replaced by a copy (another inode).
    let p = &segs[1].1;
    let copy = dir.0.join("copy");
    std::fs::copy(p, &copy).unwrap();
    std::fs::rename(&copy, p).unwrap();
    let c = try_open();
    assert!(
        !c.loaded && c.ignored.as_deref().unwrap().contains("changed"),
        "{c:?}"
    );
}

#[test]
fn a_large_checkpoint_is_read_in_two_halves_and_damage_in_either_is_caught() {
    use super::checkpoint::{load_checkpoint, write_checkpoint, CHECKPOINT_NAME};
    use crate::page_index::PageIndex;
    let dir = TempDir::new("checkpoint-large");
    // 400,000 entries: a table of 2^19 slots (8 MiB), read by two threads.
    let mut ix = PageIndex::new();
    for i in 0..400_000u64 {
        ix.set_latest(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), (i << 4) + 16, false);
    }
    let (slots, len) = ix.image();
    assert!(slots.len() >= 1 << 19, "{} slots", slots.len());
    write_checkpoint(&dir.0, &slots, len, &[]).unwrap();
    let l = load_checkpoint(&dir.0).unwrap().unwrap();
    assert_eq!(l.index.len(), 400_000);
    assert_eq!(l.index.entries(true), ix.entries(true));
    let path = dir.0.join(CHECKPOINT_NAME);
    let good = std::fs::read(&path).unwrap();
    // One flipped bit in the first half, in the second half, and in the
    // last byte: each is a checksum mismatch, never an index.
    for at in [good.len() / 3, good.len() * 3 / 4, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let e = load_checkpoint(&dir.0).err();
        assert!(
            e.as_deref().is_some_and(|m| m.contains("checksum")),
            "byte {at}: {e:?}"
        );
    }
    // The good bytes again: loaded again.
    std::fs::write(&path, &good).unwrap();
    assert!(load_checkpoint(&dir.0).unwrap().is_some());
}
