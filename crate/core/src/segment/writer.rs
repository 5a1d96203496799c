//! Writing a segment: prepare, commit (group commit), seal.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::file::SegmentFile;
use super::format::{
    segment_name, temp_name, IndexEntry, RecordHead, SegmentHeader, Trailer, ENTRY_LEN, HEADER_LEN,
    HEAD_LEN, TRAILER_ALIGN, TRAILER_LEN,
};
use super::reader::RecoveredSegment;
use crate::error::{Error, Result};
use crate::page_file::fault::{self, Call, Step};
use crate::record::{RecordKind, DEALLOC_PAGES};
use crate::write_buffer::WriteBuffer;

/// Bytes copied and checksummed per step of the one pass over a body (so
/// the checksum reads the copy while it is still in L1).
const CRC_CHUNK: usize = 16 * 1024;

/// Counters of one segment writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// `commit` calls.
    pub requests: u64,
    /// Commits that ran (each covering one or more requests).
    pub rounds: u64,
    /// `fdatasync` calls made by commits and the seal.
    pub syncs: u64,
    /// Record bytes written.
    pub bytes: u64,
    /// Records written.
    pub records: u64,
}

/// What a seal wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealInfo {
    /// Records in the index.
    pub records: u32,
    /// Length of the sealed file.
    pub file_len: u64,
}

/// State only the commit leader touches (behind a mutex for `Sync`).
struct Io {
    /// File offset where the next record goes.
    write_pos: u64,
    /// Buffer offset up to which records are committed.
    arena_end: u32,
    /// The file's length.
    file_len: u64,
    /// After [`SegmentWriter::retry`]: the end of what earlier attempts
    /// wrote. The rewrite zeroes any of it past its own records, so no
    /// stale record of an earlier attempt follows the new ones.
    stale_end: u64,
    staging: Vec<u8>,
}

/// The group-commit gate.
#[derive(Default)]
struct Gate {
    /// Tickets handed out (one per request).
    requested: u64,
    /// Every ticket `<= done` is durable.
    done: u64,
    /// A commit (or the seal) is running.
    leader: bool,
    /// The largest target (buffer offset) of any request so far.
    target: u32,
    /// A failed write or sync poisons the segment: what failed is not
    /// known to be durable, and retrying an `fdatasync` after a failure
    /// proves nothing (its dirty pages may have been dropped).
    failed: Option<Error>,
    sealed: bool,
    /// Requests waiting behind a running commit.
    waiting: u64,
    /// Buffer offset below which every record is durable (written, then
    /// synced by a commit that succeeded): a request whose records all lie
    /// below it is done, whatever its ticket (a commit that started after
    /// the request but wrote its records before its `fdatasync` covers it).
    durable_end: u32,
}

/// The writer of one segment: the durable file of one buffer.
pub struct SegmentWriter<F: SegmentFile = File> {
    file: F,
    path: PathBuf,
    header: SegmentHeader,
    seed: u32,
    io: Mutex<Io>,
    gate: Mutex<Gate>,
    cv: Condvar,
    /// Committed records, in order (readers of the live segment look here).
    entries: Mutex<Vec<IndexEntry>>,
    /// Addresses of the committed dealloc records, in order.
    deallocs: Mutex<Vec<u64>>,
    requests: AtomicU64,
    rounds: AtomicU64,
    syncs: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data (no invariant
    // spans a panic point that matters: a poisoned commit is reported by
    // `failed`), so keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random salt for a new segment.
fn random_salt() -> u64 {
    // `RandomState` draws fresh random keys per process (and varies per
    // instance); hashing the time on top makes two segments of one process
    // differ too.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

/// The default prepared size for a buffer of `capacity` bytes: the
/// header, the capacity and 1/8 more for record heads.
pub fn default_prealloc(capacity: u32) -> u64 {
    HEADER_LEN + capacity as u64 + capacity as u64 / 8
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        fault::traced(Call::FsyncDir, dir, None, || {
            File::open(dir).and_then(|d| d.sync_all())
        })
        .map_err(|e| Error::io(format!("fsync directory '{}'", dir.display()), &e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Writes the header and `prepared_len - HEADER_LEN` zeros, then syncs.
fn write_prepared<F: SegmentFile>(file: &F, header: &SegmentHeader, path: &Path) -> Result<()> {
    let what = path.display();
    let io = |op: &str, e: std::io::Error| Error::io(format!("{op} '{what}'"), &e);
    fault::check(Step::Write, format!("write '{what}'"))?;
    fault::traced(Call::Write, path, None, || {
        file.write_all_at(&header.encode(), 0)?;
        let zeros = vec![0u8; 1 << 20];
        let mut pos = HEADER_LEN;
        while pos < header.prepared_len {
            let n = (header.prepared_len - pos).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], pos)?;
            pos += n as u64;
        }
        Ok(())
    })
    .map_err(|e| io("write", e))?;
    fault::check(Step::Sync, format!("fsync '{what}'"))?;
    // Traced as the fdatasync it includes (an fsync: the size too).
    fault::traced(Call::Fdatasync, path, None, || file.sync_all()).map_err(|e| io("fsync", e))
}

impl SegmentWriter<File> {
    /// Prepares the segment of group `group_id` in `dir`: writes it under a
    /// temporary name (header, then `prealloc` bytes of zeros, or
    /// [`default_prealloc`]), syncs it, links it to its final name and syncs
    /// the directory. `EEXIST` if the segment exists.
    pub fn prepare(
        dir: &Path,
        group_id: u32,
        capacity: u32,
        prealloc: Option<u64>,
    ) -> Result<Self> {
        fault::scope(|| Self::prepare_now(dir, group_id, capacity, prealloc))
    }

    fn prepare_now(
        dir: &Path,
        group_id: u32,
        capacity: u32,
        prealloc: Option<u64>,
    ) -> Result<Self> {
        WriteBuffer::check_capacity(capacity)?;
        let path = dir.join(segment_name(group_id));
        let tmp = dir.join(temp_name(group_id));
        let what = |p: &Path| p.display().to_string();
        if path.exists() {
            return Err(Error::io(
                format!("prepare segment '{}'", what(&path)),
                &std::io::Error::from_raw_os_error(libc_eexist()),
            ));
        }
        let _ = std::fs::remove_file(&tmp);
        fault::check(Step::Open, format!("create '{}'", what(&tmp)))?;
        let file = fault::traced(Call::Open, &tmp, None, || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
        })
        .map_err(|e| Error::io(format!("create '{}'", what(&tmp)), &e))?;
        let header = SegmentHeader {
            group_id,
            capacity,
            salt: random_salt(),
            prepared_len: prealloc
                .unwrap_or_else(|| default_prealloc(capacity))
                .max(HEADER_LEN + TRAILER_ALIGN),
        };
        let linked = write_prepared(&file, &header, &tmp).and_then(|()| {
            // Test build only (a no-op otherwise): PHOTON_WB_SEGMENT_PAUSE=prepare:<us>.
            crate::page_file::fault::pause(crate::page_file::fault::Pause::Prepare);
            fault::check(Step::Rename, format!("link '{}'", what(&path)))?;
            fault::traced(Call::Link, &tmp, Some(&path), || {
                std::fs::hard_link(&tmp, &path)
            })
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Err(e),
                // No hard links here: rename (checked free just above).
                _ => fault::traced(Call::Rename, &tmp, Some(&path), || {
                    std::fs::rename(&tmp, &path)
                }),
            })
            .map_err(|e| Error::io(format!("link '{}'", what(&path)), &e))
        });
        let _ = std::fs::remove_file(&tmp);
        linked?;
        if let Err(e) = fault::check(
            Step::DirSync,
            format!("fsync directory '{}'", dir.display()),
        )
        .and_then(|()| sync_dir(dir))
        {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Self::new(file, path, header))
    }
}

/// `EEXIST` (17 on every unix Node ships for; `ERROR_ALREADY_EXISTS` maps
/// to the same kind on Windows through std).
fn libc_eexist() -> i32 {
    #[cfg(unix)]
    {
        17
    }
    #[cfg(not(unix))]
    {
        183
    }
}

impl<F: SegmentFile> SegmentWriter<F> {
    /// A writer over `file`, which must hold a prepared segment with
    /// `header` and no record yet.
    pub fn new(file: F, path: PathBuf, header: SegmentHeader) -> Self {
        SegmentWriter {
            file,
            path,
            seed: header.seed(),
            header,
            io: Mutex::new(Io {
                write_pos: HEADER_LEN,
                arena_end: 0,
                file_len: header.prepared_len,
                stale_end: 0,
                staging: Vec::new(),
            }),
            gate: Mutex::new(Gate::default()),
            cv: Condvar::new(),
            entries: Mutex::new(Vec::new()),
            deallocs: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
        }
    }

    /// Prepares `file` (header and zeros, synced) and returns its writer.
    pub fn create_on(
        file: F,
        path: PathBuf,
        group_id: u32,
        capacity: u32,
        prealloc: u64,
    ) -> Result<Self> {
        WriteBuffer::check_capacity(capacity)?;
        let header = SegmentHeader {
            group_id,
            capacity,
            salt: random_salt(),
            prepared_len: prealloc.max(HEADER_LEN + TRAILER_ALIGN),
        };
        write_prepared(&file, &header, &path)?;
        Ok(Self::new(file, path, header))
    }

    /// The segment's header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file underneath.
    pub fn file(&self) -> &F {
        &self.file
    }

    /// The checksum seed.
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// Counters so far.
    // Ordering: Relaxed: statistics, each counter on its own; they order no
    // other memory.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            requests: self.requests.load(Ordering::Relaxed),
            rounds: self.rounds.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
        }
    }

    /// Requests waiting behind a running commit.
    pub fn waiting(&self) -> u64 {
        lock(&self.gate).waiting
    }

    /// Whether the segment is sealed.
    pub fn is_sealed(&self) -> bool {
        lock(&self.gate).sealed
    }

    /// The committed (durable) records so far, in order.
    pub fn entries(&self) -> Vec<IndexEntry> {
        lock(&self.entries).clone()
    }

    /// How many records are committed.
    pub fn entry_count(&self) -> usize {
        lock(&self.entries).len()
    }

    /// The committed records from the `n`-th on (those committed since a
    /// caller last saw `n` of them).
    pub fn entries_since(&self, n: usize) -> Vec<IndexEntry> {
        let e = lock(&self.entries);
        e[n.min(e.len())..].to_vec()
    }

    /// After a failed commit or seal (the segment is poisoned): clears the
    /// failure so that the next commit rewrites **every** record of the
    /// buffer from the start of the segment and syncs it. Rewriting all of
    /// it, not only what failed, is what makes the retry mean something
    /// after a failed `fdatasync` (whose dirty pages the kernel may have
    /// dropped: rewritten, they are dirty again). The buffer must still
    /// hold every record. Returns `false` (and does nothing) when the
    /// segment is not failed, or a commit is running.
    pub fn retry(&self) -> bool {
        let mut g = lock(&self.gate);
        if g.failed.is_none() || g.leader || g.sealed {
            return false;
        }
        // Lock order gate → io, as nowhere takes gate while holding io.
        let mut io = lock(&self.io);
        // Zero everything up to the prepared end: a failed seal may have
        // left index bytes or a trailer past the records.
        io.stale_end = io.file_len;
        io.write_pos = HEADER_LEN;
        io.arena_end = 0;
        // Rewritten from the start: durable again once the rewrite is synced.
        g.durable_end = 0;
        lock(&self.entries).clear();
        lock(&self.deallocs).clear();
        g.failed = None;
        true
    }

    /// The committed record whose body is at `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<IndexEntry> {
        find_entry(&lock(&self.entries), self.header.group_id, addr)
    }

    /// Reads the committed page at `addr` from the file (one `pread`),
    /// checked against its checksum.
    pub fn read_page(&self, addr: u64) -> Result<Vec<u8>> {
        let e = self.lookup(addr).ok_or(Error::InvalidAddr)?;
        super::reader::read_record(&self.file, self.seed, &e, &self.path.display().to_string())
    }

    fn check_buffer(&self, buffer: &WriteBuffer) -> Result<()> {
        if buffer.group_id() != self.header.group_id || buffer.capacity() != self.header.capacity {
            return Err(Error::io(
                format!(
                    "commit buffer {} ({} bytes) to segment '{}'",
                    buffer.group_id(),
                    buffer.capacity(),
                    self.path.display()
                ),
                &std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
        Ok(())
    }

    /// Commit: when this returns `Ok`, every record of `buffer` reserved
    /// before the call is durable in the segment (written and covered by an
    /// `fdatasync` that started after the call). Waits for records still
    /// being filled (up to those reserved before the call). Concurrent
    /// calls share one write and one `fdatasync`.
    ///
    /// Never call it from a thread that holds an unreleased, unmarked
    /// record of `buffer`: it would wait for it forever.
    pub fn commit(&self, buffer: &WriteBuffer) -> Result<()> {
        self.check_buffer(buffer)?;
        // Ordering: Relaxed: a statistic.
        self.requests.fetch_add(1, Ordering::Relaxed);
        let target = buffer.state().allocated.min(buffer.capacity());
        let mut g = lock(&self.gate);
        if let Some(e) = &g.failed {
            return Err(e.clone());
        }
        if g.sealed {
            return Ok(());
        }
        g.requested += 1;
        let me = g.requested;
        g.target = g.target.max(target);
        loop {
            // Durable first: a request covered by an earlier commit stays
            // acknowledged even if a later one failed.
            if g.done >= me || g.sealed || g.durable_end >= target {
                return Ok(());
            }
            if let Some(e) = &g.failed {
                return Err(e.clone());
            }
            if !g.leader {
                break;
            }
            g.waiting += 1;
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
            g.waiting -= 1;
        }
        // Lead: cover every request made so far.
        g.leader = true;
        let covers = g.requested;
        let target = g.target;
        drop(g);
        let r = fault::scope(|| self.run_commit(buffer, target, None, true));
        // What this commit made durable (the leader alone moves it; lock
        // order gate → io is kept: the gate is not held here).
        let synced_to = lock(&self.io).arena_end;
        let mut g = lock(&self.gate);
        g.leader = false;
        match &r {
            Ok(()) => {
                g.done = g.done.max(covers);
                g.durable_end = g.durable_end.max(synced_to);
            }
            Err(e) => g.failed = Some(e.clone()),
        }
        drop(g);
        self.cv.notify_all();
        r
    }

    /// `commit`, but waits at most `wait` for records still being filled:
    /// the records complete by then (in order from the last commit) are
    /// committed, the rest are not. For a last commit at process exit,
    /// where a writer on another thread may never finish its record.
    pub fn commit_within(&self, buffer: &WriteBuffer, wait: Duration) -> Result<()> {
        self.check_buffer(buffer)?;
        let deadline = Instant::now() + wait;
        let target = buffer.state().allocated.min(buffer.capacity());
        let mut g = lock(&self.gate);
        loop {
            if let Some(e) = &g.failed {
                return Err(e.clone());
            }
            if g.sealed {
                return Ok(());
            }
            if !g.leader {
                break;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.leader = true;
        drop(g);
        let r = fault::scope(|| self.run_commit(buffer, target, Some(deadline), true));
        let mut g = lock(&self.gate);
        g.leader = false;
        // No ticket is acknowledged: the commit may have stopped short.
        if let Err(e) = &r {
            g.failed = Some(e.clone());
        }
        drop(g);
        self.cv.notify_all();
        r
    }

    /// Waits until the records of `buffer` from `from` are complete up to
    /// at least `target` (or until `deadline`); returns the end of the
    /// complete run.
    fn wait_complete(
        buffer: &WriteBuffer,
        from: u32,
        target: u32,
        deadline: Option<Instant>,
    ) -> u32 {
        let mut end = buffer.complete_prefix(from);
        let mut spins = 0u32;
        while end < target {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 128 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
            spins = spins.saturating_add(1);
            // Resume from where the run stopped: it only grows.
            end = buffer.complete_prefix(end);
        }
        end
    }

    /// Writes the complete records from the last commit's end (at least up
    /// to `target`) and, with `sync`, syncs them (the seal leaves the sync
    /// to the index's, which covers both). Leader only.
    fn run_commit(
        &self,
        buffer: &WriteBuffer,
        target: u32,
        deadline: Option<Instant>,
        sync: bool,
    ) -> Result<()> {
        let mut io = lock(&self.io);
        let from = io.arena_end;
        let end = Self::wait_complete(buffer, from, target, deadline);
        if end == from {
            // Nothing new: everything written was synced by the commit that
            // wrote it (a failed sync poisons the segment).
            return Ok(());
        }
        let mut staging = std::mem::take(&mut io.staging);
        staging.clear();
        let mut entries = Vec::new();
        let mut deallocs = Vec::new();
        let base = io.write_pos;
        // SAFETY: `end` was returned by `complete_prefix` over the run that
        // starts at `from` (in `wait_complete`), so every record in
        // `[from, end)` is complete; a complete record's writer is done with
        // it (the marking contract). The slices die within this loop.
        for (offset, header, body) in unsafe { buffer.complete_records(from, end) } {
            if RecordKind::from_flags(header.flags).is_none() {
                continue; // tombstone or lane filler: not written
            }
            let pos = base + staging.len() as u64;
            let mut head = RecordHead {
                header,
                offset,
                crc: 0,
            };
            let head_at = staging.len();
            staging.extend_from_slice(&head.encode());
            let mut crc = crc32c::crc32c_append(self.seed, &staging[head_at..head_at + 20]);
            // One pass: copy a chunk, checksum the copy while it is hot.
            for chunk in body.chunks(CRC_CHUNK) {
                let at = staging.len();
                staging.extend_from_slice(chunk);
                crc = crc32c::crc32c_append(crc, &staging[at..]);
            }
            let pad = (head.padded() - body.len() as u64) as usize;
            if pad > 0 {
                let at = staging.len();
                staging.resize(at + pad, 0);
                crc = crc32c::crc32c_append(crc, &staging[at..]);
            }
            head.crc = crc;
            staging[head_at + 20..head_at + 24].copy_from_slice(&crc.to_le_bytes());
            if header.flags == DEALLOC_PAGES {
                let b =
                    &staging[head_at + HEAD_LEN as usize..head_at + HEAD_LEN as usize + body.len()];
                deallocs.extend(
                    b.chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
                );
            }
            entries.push(IndexEntry::of_head(&head, pos));
        }
        let what = self.path.display();
        let records_len = staging.len() as u64;
        // An unsealed segment always ends with at least a trailer's worth
        // of zeros, so its last bytes never look like a trailer (the tail
        // of a page could hold an end magic): a commit that would reach
        // into them grows the file by a zeroed block after its records.
        if records_len > 0 && base + records_len + TRAILER_LEN > io.file_len {
            staging.resize(staging.len() + TRAILER_ALIGN as usize, 0);
        }
        // A rewrite after `retry` that ends before what earlier attempts
        // wrote (a record tombstoned meanwhile is skipped): zero the rest.
        let written_to = base + staging.len() as u64;
        if io.stale_end > written_to {
            staging.resize(staging.len() + (io.stale_end - written_to) as usize, 0);
        }
        io.stale_end = 0;
        if !staging.is_empty() {
            fault::check(Step::Write, format!("write '{what}'"))?;
            fault::traced(Call::Write, &self.path, None, || {
                self.file.write_all_at(&staging, base)
            })
            .map_err(|e| Error::io(format!("write '{what}'"), &e))?;
            // Test build only (a no-op otherwise): PHOTON_WB_SEGMENT_PAUSE=commit:<us>.
            crate::page_file::fault::pause(crate::page_file::fault::Pause::Commit);
            if sync {
                fault::check(Step::Sync, format!("fdatasync '{what}'"))?;
                fault::traced(Call::Fdatasync, &self.path, None, || self.file.sync_data())
                    .map_err(|e| Error::io(format!("fdatasync '{what}'"), &e))?;
                // Ordering: Relaxed: a statistic.
                self.syncs.fetch_add(1, Ordering::Relaxed);
            }
            // Ordering: Relaxed: statistics.
            self.bytes.fetch_add(records_len, Ordering::Relaxed);
            self.records
                .fetch_add(entries.len() as u64, Ordering::Relaxed);
        }
        // Ordering: Relaxed: a statistic.
        self.rounds.fetch_add(1, Ordering::Relaxed);
        io.file_len = io.file_len.max(base + staging.len() as u64);
        io.write_pos = base + records_len;
        io.arena_end = end;
        io.staging = staging;
        lock(&self.entries).extend(entries);
        lock(&self.deallocs).extend(deallocs);
        Ok(())
    }

    /// Seals the segment: commits every record of `buffer` (which must be
    /// flushable: sealed, no writer), then writes the index, the dealloc
    /// addresses and the trailer, truncates the file to its end and syncs.
    /// Every pending and later `commit` succeeds at once.
    pub fn seal(&self, buffer: &WriteBuffer) -> Result<SealInfo> {
        self.check_buffer(buffer)?;
        if !buffer.is_flushable() {
            return Err(Error::NotFlushable);
        }
        let mut g = lock(&self.gate);
        loop {
            if let Some(e) = &g.failed {
                return Err(e.clone());
            }
            if !g.leader {
                break;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.sealed {
            drop(g);
            let len = self
                .file
                .file_len()
                .map_err(|e| Error::io(format!("stat '{}'", self.path.display()), &e))?;
            return Ok(SealInfo {
                records: lock(&self.entries).len() as u32,
                file_len: len,
            });
        }
        g.leader = true;
        let covers = g.requested;
        drop(g);
        let allocated = buffer.state().allocated.min(buffer.capacity());
        let r = fault::scope(|| {
            // The last records and the index, then one sync for both.
            self.run_commit(buffer, allocated, None, false)
                .and_then(|()| self.write_index(allocated))
        });
        let mut g = lock(&self.gate);
        g.leader = false;
        match &r {
            Ok(_) => {
                g.done = g.done.max(covers);
                g.sealed = true;
                // No commit writes again: give the staging memory back.
                lock(&self.io).staging = Vec::new();
            }
            Err(e) => g.failed = Some(e.clone()),
        }
        drop(g);
        self.cv.notify_all();
        r
    }

    fn write_index(&self, allocated: u32) -> Result<SealInfo> {
        let io = lock(&self.io);
        let entries = lock(&self.entries).clone();
        let deallocs = lock(&self.deallocs).clone();
        let info = write_seal(
            &self.file,
            self.seed,
            &self.path,
            io.write_pos,
            &entries,
            &deallocs,
            allocated,
        )?;
        // Ordering: Relaxed: a statistic.
        self.syncs.fetch_add(2, Ordering::Relaxed);
        Ok(info)
    }
}

/// Seals a segment whose records end at `write_pos`: index and dealloc
/// addresses there, then the trailer, in two synced steps so that a trailer
/// is never durable without its index (a crash in between leaves an
/// unsealed segment, recovered by its walk). Returns the sealed length.
fn write_seal<F: SegmentFile>(
    file: &F,
    seed: u32,
    path: &Path,
    write_pos: u64,
    entries: &[IndexEntry],
    deallocs: &[u64],
    allocated: u32,
) -> Result<SealInfo> {
    let mut b = Vec::with_capacity(entries.len() * ENTRY_LEN as usize + deallocs.len() * 8 + 64);
    for e in entries {
        b.extend_from_slice(&e.encode());
    }
    for a in deallocs {
        b.extend_from_slice(&a.to_le_bytes());
    }
    let index_crc = crc32c::crc32c_append(seed, &b);
    // Zero padding so the trailer starts at a multiple of 64: it then never
    // straddles a 512-byte sector, so a torn seal cannot leave an end magic
    // over a trailer that does not check (that combination is damage,
    // reported as corrupt).
    let trailer_pos = (write_pos + b.len() as u64).next_multiple_of(TRAILER_ALIGN);
    b.resize((trailer_pos - write_pos) as usize, 0);
    let file_len = trailer_pos + TRAILER_LEN;
    let trailer = Trailer {
        index_offset: write_pos,
        file_len,
        record_count: entries.len() as u32,
        dealloc_count: deallocs.len() as u32,
        allocated,
        index_crc,
    };
    let what = path.display();
    let io = |op: &str, e: std::io::Error| Error::io(format!("{op} '{what}'"), &e);
    fault::check(Step::Write, format!("write '{what}'"))?;
    fault::traced(Call::Write, path, None, || file.write_all_at(&b, write_pos))
        .map_err(|e| io("write", e))?;
    fault::check(Step::Sync, format!("fdatasync '{what}'"))?;
    fault::traced(Call::Fdatasync, path, None, || file.sync_data())
        .map_err(|e| io("fdatasync", e))?;
    // Test build only (a no-op otherwise): PHOTON_WB_SEGMENT_PAUSE=seal:<us>.
    crate::page_file::fault::pause(crate::page_file::fault::Pause::Seal);
    fault::traced(Call::Write, path, None, || {
        file.write_all_at(&trailer.encode(seed), trailer_pos)
    })
    .map_err(|e| io("write", e))?;
    file.set_len(file_len).map_err(|e| io("truncate", e))?;
    fault::traced(Call::Fdatasync, path, None, || file.sync_data())
        .map_err(|e| io("fdatasync", e))?;
    Ok(SealInfo {
        records: entries.len() as u32,
        file_len,
    })
}

/// Seals a segment recovered unsealed (a crash before its seal): its index
/// and trailer go right after its last intact record (over a torn tail, if
/// any). A sealed segment is left as it is.
pub fn seal_recovered(seg: &RecoveredSegment) -> Result<SealInfo> {
    let what = seg.path.display().to_string();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg.path)
        .map_err(|e| Error::io(format!("open '{what}'"), &e))?;
    if seg.sealed {
        let file_len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat '{what}'"), &e))?
            .len();
        return Ok(SealInfo {
            records: seg.entries.len() as u32,
            file_len,
        });
    }
    seal_recovered_on(&file, seg)
}

/// [`seal_recovered`] on an open file.
pub fn seal_recovered_on<F: SegmentFile>(file: &F, seg: &RecoveredSegment) -> Result<SealInfo> {
    write_seal(
        file,
        seg.seed(),
        &seg.path,
        seg.end,
        &seg.entries,
        &seg.deallocs,
        seg.allocated,
    )
}

/// Binary search of `entries` (ascending offsets) for the record whose
/// body is at `addr` in group `group_id`.
pub fn find_entry(entries: &[IndexEntry], group_id: u32, addr: u64) -> Option<IndexEntry> {
    if (addr >> 32) as u32 != group_id {
        return None;
    }
    let record = (addr as u32).checked_sub(crate::record::HEADER_SIZE)?;
    entries
        .binary_search_by_key(&record, |e| e.offset)
        .ok()
        .map(|i| entries[i])
}
