//! Recovering segments (sealed: trailer and index only; unsealed: a walk of
//! the records to the first that does not check) and reading one page.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::checkpoint::{load_checkpoint, Covered, FileId, Loaded, CHECKPOINT_TEMP, FLAG_VERIFY};
use super::file::SegmentFile;
use super::format::{
    parse_segment_name, record_crc, IndexEntry, RecordHead, SegmentHeader, Trailer, ENTRY_LEN,
    HEADER_LEN, HEAD_LEN, TRAILER_ALIGN, TRAILER_LEN,
};
use super::writer::find_entry;
use crate::error::{Error, Result};
use crate::page_file::reader::{open_regular, open_regular_meta};
use crate::page_index::PageIndex;
use crate::record::DEALLOC_PAGES;

/// Bytes the walk of an unsealed segment reads at a time.
const WALK_CHUNK: usize = 1 << 20;

/// What recovery found in one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSegment {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: SegmentHeader,
    /// Sealed (trailer and index valid) or recovered by a walk.
    pub sealed: bool,
    /// 1 when the walk of an unsealed segment stopped at bytes that were
    /// written but do not check (a torn tail, cut); 0 otherwise.
    pub torn: u32,
    /// The records, in buffer order.
    pub entries: Vec<IndexEntry>,
    /// The addresses the dealloc records free, in record order.
    pub deallocs: Vec<u64>,
    /// File offset after the last valid record.
    pub end: u64,
    /// Sealed: the buffer's allocated bytes; unsealed: the buffer offset
    /// after the last valid record.
    pub allocated: u32,
    /// Bytes this recovery read from the file.
    pub bytes_read: u64,
    /// [`scan_dir_indexed`]: the records went into an index and, for a
    /// sealed segment, were let go of (`entries` and `deallocs` empty;
    /// `record_count` says how many there were).
    pub indexed: bool,
    /// Records the segment holds (`entries.len()` unless let go of).
    pub record_count: u32,
}

impl AsRef<[IndexEntry]> for RecoveredSegment {
    fn as_ref(&self) -> &[IndexEntry] {
        &self.entries
    }
}

impl RecoveredSegment {
    /// The checksum seed of the segment.
    pub fn seed(&self) -> u32 {
        self.header.seed()
    }
}

/// Reads exactly `len` bytes at `pos` (fewer means the file ended), and
/// counts them.
fn read_counted<F: SegmentFile>(
    file: &F,
    pos: u64,
    len: usize,
    read: &mut u64,
    what: &str,
) -> Result<Vec<u8>> {
    let mut b = vec![0u8; len];
    let n = file
        .read_at_most(&mut b, pos)
        .map_err(|e| Error::io(format!("read '{what}'"), &e))?;
    *read += n as u64;
    b.truncate(n);
    Ok(b)
}

/// Recovers one segment from `file` (named `what` in errors).
pub fn recover<F: SegmentFile>(file: &F, path: &Path) -> Result<RecoveredSegment> {
    recover_any(file, path).map(|mut s| {
        s.record_count = s.entries.len() as u32;
        s
    })
}

/// What both recoveries read first: the file's length and its header,
/// and the trailer's bytes when the file is long enough to hold one.
struct Head {
    what: String,
    len: u64,
    header: SegmentHeader,
    trailer: Option<Vec<u8>>,
    read: u64,
}

impl Head {
    /// `ERR_CORRUPT` naming the file.
    fn corrupt(&self, why: &str) -> Error {
        Error::Corrupt(format!("{}: {why}", self.what))
    }

    /// `e`, with the file named if it is `ERR_CORRUPT`.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::Corrupt(why) => self.corrupt(&why),
            e => e,
        }
    }
}

fn read_head<F: SegmentFile>(file: &F, path: &Path) -> Result<Head> {
    let what = path.display().to_string();
    let mut read = 0u64;
    let len = file
        .file_len()
        .map_err(|e| Error::io(format!("stat '{what}'"), &e))?;
    let hb = read_counted(file, 0, HEADER_LEN as usize, &mut read, &what)?;
    let header = SegmentHeader::decode(&hb, &what)?;
    let trailer = if len >= HEADER_LEN + TRAILER_LEN {
        let at = len - TRAILER_LEN;
        Some(read_counted(
            file,
            at,
            TRAILER_LEN as usize,
            &mut read,
            &what,
        )?)
    } else {
        None
    };
    Ok(Head {
        what,
        len,
        header,
        trailer,
        read,
    })
}

fn recover_any<F: SegmentFile>(file: &F, path: &Path) -> Result<RecoveredSegment> {
    let h = read_head(file, path)?;
    if let Some(tb) = &h.trailer {
        if let Some(t) = Trailer::decode(tb, h.header.seed()) {
            return recover_sealed(file, path, h.header, t, h.len, h.read).map_err(|e| h.named(e));
        }
        // An end magic where a trailer must start (64-aligned, so it never
        // straddles a sector) over bytes that do not check: the trailer was
        // written whole and then damaged, not torn.
        if Trailer::has_magic(tb) && (h.len - TRAILER_LEN).is_multiple_of(TRAILER_ALIGN) {
            return Err(h.corrupt("sealed segment: trailer checksum mismatch"));
        }
    }
    walk(file, path, h.header, h.len, h.read)
}

/// The checks of a sealed segment's trailer that need no more than the
/// header and the file's length: its length, and index bounds that tile
/// the file.
fn check_trailer(header: &SegmentHeader, t: &Trailer, len: u64) -> Result<()> {
    let bad = |why: &str| Error::Corrupt(format!("sealed segment: {why}"));
    let index_len = t.record_count as u64 * ENTRY_LEN + t.dealloc_count as u64 * 8;
    if t.file_len != len {
        return Err(bad(&format!(
            "trailer says {} bytes, the file has {len}",
            t.file_len
        )));
    }
    let trailer_pos = len - TRAILER_LEN;
    if t.index_offset < HEADER_LEN
        || !t.index_offset.is_multiple_of(8)
        || (t.index_offset + index_len).next_multiple_of(TRAILER_ALIGN) != trailer_pos
        || t.allocated > header.capacity
    {
        return Err(bad("index bounds do not tile the file"));
    }
    Ok(())
}

/// Recovers a sealed segment from its header and trailer only (checked as
/// [`recover`] checks them): its index is not read (the reader reads it
/// when one of its pages is read). `ERR_CORRUPT` if either does not check
/// or the segment is not sealed.
pub fn recover_trailer<F: SegmentFile>(file: &F, path: &Path) -> Result<RecoveredSegment> {
    let h = read_head(file, path)?;
    let tb = h.trailer.as_ref().ok_or_else(|| h.corrupt("not sealed"))?;
    let t = Trailer::decode(tb, h.header.seed())
        .ok_or_else(|| h.corrupt("sealed segment: trailer does not check"))?;
    check_trailer(&h.header, &t, h.len).map_err(|e| h.named(e))?;
    let (header, read) = (h.header, h.read);
    Ok(RecoveredSegment {
        path: path.to_owned(),
        header,
        sealed: true,
        torn: 0,
        entries: Vec::new(),
        deallocs: Vec::new(),
        end: t.index_offset,
        allocated: t.allocated,
        bytes_read: read,
        indexed: true,
        record_count: t.record_count,
    })
}

fn recover_sealed<F: SegmentFile>(
    file: &F,
    path: &Path,
    header: SegmentHeader,
    t: Trailer,
    len: u64,
    mut read: u64,
) -> Result<RecoveredSegment> {
    let what = path.display().to_string();
    let bad = |why: &str| Error::Corrupt(format!("sealed segment: {why}"));
    check_trailer(&header, &t, len)?;
    let index_len = t.record_count as u64 * ENTRY_LEN + t.dealloc_count as u64 * 8;
    let trailer_pos = len - TRAILER_LEN;
    // The index, the dealloc addresses and the padding: one read.
    let span = (trailer_pos - t.index_offset) as usize;
    let mut ib = read_counted(file, t.index_offset, span, &mut read, &what)?;
    if ib.len() != span {
        return Err(bad("index cut short"));
    }
    if ib[index_len as usize..].iter().any(|&b| b != 0) {
        return Err(bad("padding before the trailer is not zero"));
    }
    ib.truncate(index_len as usize);
    if crc32c::crc32c_append(header.seed(), &ib) != t.index_crc {
        return Err(bad("index checksum mismatch"));
    }
    let (eb, db) = ib.split_at(t.record_count as usize * ENTRY_LEN as usize);
    let mut entries = Vec::with_capacity(t.record_count as usize);
    let mut prev_end = 0u64;
    let mut next_pos = HEADER_LEN;
    let mut dealloc_words = 0u64;
    for (i, c) in eb.chunks_exact(ENTRY_LEN as usize).enumerate() {
        let e = IndexEntry::decode(c);
        let head = e.head();
        if let Some(why) = head.check(header.capacity, prev_end) {
            return Err(bad(&format!("index entry {i}: {why}")));
        }
        if e.file_pos != next_pos || e.file_pos + head.file_size() > t.index_offset {
            return Err(bad(&format!("index entry {i}: file position out of place")));
        }
        if e.offset as u64 + head.header.record_size() > t.allocated as u64 {
            return Err(bad(&format!("index entry {i}: past the allocated bytes")));
        }
        if e.flags == DEALLOC_PAGES {
            dealloc_words += e.page_size as u64 / 8;
        }
        prev_end = e.offset as u64 + head.header.record_size();
        next_pos = e.file_pos + head.file_size();
        entries.push(e);
    }
    if next_pos != t.index_offset {
        return Err(bad("records do not end at the index"));
    }
    if dealloc_words != t.dealloc_count as u64 {
        return Err(bad("dealloc addresses do not match the dealloc records"));
    }
    let deallocs = db
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok(RecoveredSegment {
        path: path.to_owned(),
        header,
        sealed: true,
        torn: 0,
        entries,
        deallocs,
        end: t.index_offset,
        allocated: t.allocated,
        bytes_read: read,
        indexed: false,
        record_count: 0,
    })
}

/// A forward window over the file for the walk.
struct Window<'a, F> {
    file: &'a F,
    /// The file's length: no read goes past it (so a garbage size field
    /// cannot make the walk allocate more than the file holds).
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    read: u64,
    what: &'a str,
}

impl<F: SegmentFile> Window<'_, F> {
    /// The `len` bytes at `at`, or fewer if the file ends first.
    fn get(&mut self, at: u64, len: usize) -> Result<&[u8]> {
        let have = at >= self.pos && at + len as u64 <= self.pos + self.buf.len() as u64;
        if !have {
            let n = (len.max(WALK_CHUNK) as u64).min(self.len.saturating_sub(at)) as usize;
            self.buf = read_counted(self.file, at, n, &mut self.read, self.what)?;
            self.pos = at;
        }
        let start = (at - self.pos) as usize;
        let end = (start + len).min(self.buf.len());
        Ok(&self.buf[start.min(end)..end])
    }
}

fn walk<F: SegmentFile>(
    file: &F,
    path: &Path,
    header: SegmentHeader,
    len: u64,
    read: u64,
) -> Result<RecoveredSegment> {
    let what = path.display().to_string();
    let seed = header.seed();
    let mut w = Window {
        file,
        len,
        pos: 0,
        buf: Vec::new(),
        read,
        what: &what,
    };
    let mut entries = Vec::new();
    let mut deallocs = Vec::new();
    let mut pos = HEADER_LEN;
    let mut prev_end = 0u64;
    let mut torn = 0;
    while pos < len {
        let hb = w.get(pos, HEAD_LEN as usize)?;
        if hb.iter().all(|&b| b == 0) {
            break; // the clean end (or a cut ending in zeros)
        }
        if hb.len() < HEAD_LEN as usize {
            torn = 1;
            break;
        }
        let head = RecordHead::decode(hb);
        if head.check(header.capacity, prev_end).is_some() {
            torn = 1;
            break;
        }
        let mut head20 = [0u8; 20];
        head20.copy_from_slice(&hb[..20]);
        let padded = head.padded() as usize;
        let body = w.get(pos + HEAD_LEN, padded)?;
        if body.len() < padded || record_crc(seed, &head20, body) != head.crc {
            torn = 1;
            break;
        }
        if head.header.flags == DEALLOC_PAGES {
            deallocs.extend(
                body[..head.header.page_size as usize]
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        entries.push(IndexEntry::of_head(&head, pos));
        prev_end = head.offset as u64 + head.header.record_size();
        pos += head.file_size();
    }
    Ok(RecoveredSegment {
        path: path.to_owned(),
        header,
        sealed: false,
        torn,
        entries,
        deallocs,
        end: pos,
        allocated: prev_end as u32,
        bytes_read: w.read,
        indexed: false,
        record_count: 0,
    })
}

/// Reads the record of `entry` (one `pread` of its head and body) and
/// returns its body, after checking the head against the entry and the
/// checksum. `ERR_CORRUPT` if anything differs.
pub fn read_record<F: SegmentFile>(
    file: &F,
    seed: u32,
    entry: &IndexEntry,
    what: &str,
) -> Result<Vec<u8>> {
    let head = entry.head();
    let size = head.file_size() as usize;
    let mut read = 0;
    let b = read_counted(file, entry.file_pos, size, &mut read, what)?;
    let corrupt = |why: &str| {
        Error::Corrupt(format!(
            "{what}: record at file offset {} (buffer offset {}): {why}",
            entry.file_pos, entry.offset
        ))
    };
    if b.len() < size {
        return Err(corrupt("file cut short"));
    }
    let found = RecordHead::decode(&b[..HEAD_LEN as usize]);
    if found != head {
        return Err(corrupt("head differs from the index"));
    }
    if record_crc(seed, &b[..20], &b[HEAD_LEN as usize..]) != head.crc {
        return Err(corrupt("checksum mismatch"));
    }
    let start = HEAD_LEN as usize;
    Ok(b[start..start + entry.page_size as usize].to_vec())
}

/// What [`recover_dir`] found.
#[derive(Debug, Default)]
pub struct DirRecovery {
    /// The segments, by ascending group id.
    pub segments: Vec<RecoveredSegment>,
    /// Temporary files of unfinished preparations, removed.
    pub removed_temp: u32,
    /// Bytes read from all segments.
    pub bytes_read: u64,
    /// Files named like segments that are not one ([`scan_dir`] only; a
    /// damaged header, trailer or index, or not a regular file), by
    /// ascending group id, each with its `ERR_CORRUPT` error.
    pub corrupt: Vec<(u32, PathBuf, Error)>,
    /// What became of the index checkpoint ([`scan_dir_checkpointed`]).
    pub checkpoint: CheckpointUse,
}

/// What [`scan_dir_checkpointed`] did with the directory's checkpoint.
#[derive(Debug, Default, Clone)]
pub struct CheckpointUse {
    /// The index was loaded from it.
    pub loaded: bool,
    /// It exists but was not used: why.
    pub ignored: Option<String>,
    /// Segments it covered (their indexes not read), when loaded.
    pub covered: u32,
    /// Segments indexed on top of it (not covered, or covered but changed
    /// too recently to trust), when loaded.
    pub indexed: u32,
}

/// Recovers every segment (`seg-*.pws`) of `dir`, in group-id order, and
/// removes leftover temporary files of preparations that did not finish.
/// Other files are left alone. A segment with a damaged header, trailer or
/// index is `ERR_CORRUPT` naming it.
pub fn recover_dir(dir: &Path) -> Result<DirRecovery> {
    let mut out = scan_dir(dir)?;
    if out.corrupt.is_empty() {
        Ok(out)
    } else {
        Err(out.corrupt.swap_remove(0).2)
    }
}

/// [`recover_dir`], but a file named like a segment that is not a valid one
/// (`ERR_CORRUPT`: damaged header, trailer or index; a FIFO, device,
/// socket or directory — never opened blocking) is listed in
/// [`DirRecovery::corrupt`] instead of failing the whole recovery, so the
/// caller can refuse it by name or set it aside. Other errors (I/O) fail.
pub fn scan_dir(dir: &Path) -> Result<DirRecovery> {
    scan(dir, None)
}

/// [`scan_dir`], indexing every valid segment's records into `index` as it
/// goes (page ids to their latest address, then the addresses its dealloc
/// records free) and letting go of a sealed segment's records right away
/// (its reader reads its index again when needed): at most one segment's
/// records are in memory at a time, besides the index and the unsealed
/// segments' (kept: their seal needs them).
pub fn scan_dir_indexed(dir: &Path, index: &mut PageIndex) -> Result<DirRecovery> {
    scan(dir, Some(index))
}

/// [`scan_dir_indexed`], starting from the directory's index checkpoint
/// (`checkpoint.rs`) when it can be used: its table is loaded whole (no
/// inserts) and only the segments it does not cover are read and indexed
/// (only if later); a covered one's header and trailer are still read and
/// checked, not its index. A checkpoint in any doubt — it does not check,
/// a covered segment is gone, changed (size, inode, ctime) or does not
/// check — is ignored (said in [`DirRecovery::checkpoint`]) and every
/// segment is read as [`scan_dir_indexed`] reads them.
pub fn scan_dir_checkpointed(dir: &Path, index: &mut PageIndex) -> Result<DirRecovery> {
    // A checkpoint write a crash interrupted: only a regular file under
    // that name is ours (the log holds the directory's lock meanwhile).
    let tmp = dir.join(CHECKPOINT_TEMP);
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file()) {
        let _ = std::fs::remove_file(&tmp);
    }
    let loaded = match load_checkpoint(dir) {
        Ok(None) => return scan(dir, Some(index)),
        Ok(Some(l)) => l,
        Err(why) => {
            let mut out = scan(dir, Some(index))?;
            out.checkpoint.ignored = Some(why);
            return Ok(out);
        }
    };
    match scan_from(dir, loaded)? {
        Ok((out, loaded_index)) => {
            *index = loaded_index;
            Ok(out)
        }
        Err(why) => {
            let mut out = scan(dir, Some(index))?;
            out.checkpoint.ignored = Some(why);
            Ok(out)
        }
    }
}

/// Lists the segments of `dir` by group id (removing leftover temporary
/// files of preparations, counted in `out`).
fn list_segments(dir: &Path, out: &mut DirRecovery) -> Result<Vec<(u32, PathBuf)>> {
    let what = dir.display();
    let mut found = Vec::new();
    let list =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("read directory '{what}'"), &e))?;
    for item in list {
        let item = item.map_err(|e| Error::io(format!("read directory '{what}'"), &e))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(g) = parse_segment_name(name) {
            found.push((g, item.path()));
        } else if name.starts_with(".seg-")
            && name.ends_with(".pws.tmp")
            && item.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(item.path()).is_ok()
        {
            // Only a regular file is a preparation of ours: anything else
            // under such a name is somebody else's, left alone.
            out.removed_temp += 1;
        }
    }
    found.sort_unstable_by_key(|(g, _)| *g);
    Ok(found)
}

/// The scan from a loaded checkpoint: `Ok(Err(why))` when it cannot be
/// used (nothing of it is kept then).
fn scan_from(
    dir: &Path,
    loaded: Loaded,
) -> Result<std::result::Result<(DirRecovery, PageIndex), String>> {
    let mut out = DirRecovery::default();
    let found = list_segments(dir, &mut out)?;
    let Loaded {
        mut index,
        segments: covered,
        bytes,
    } = loaded;
    out.bytes_read += bytes;
    let mut by_group: HashMap<u32, Covered> = HashMap::with_capacity(covered.len());
    for c in &covered {
        by_group.insert(c.group, *c);
    }
    let present: std::collections::HashSet<u32> = found.iter().map(|(g, _)| *g).collect();
    if let Some(c) = covered.iter().find(|c| !present.contains(&c.group)) {
        return Ok(Err(format!("covered segment of group {} is gone", c.group)));
    }
    let uncovered: u64 = found
        .iter()
        .filter(|(g, _)| !by_group.contains_key(g))
        .filter_map(|(_, p)| sealed_records(p))
        .sum();
    index.reserve(uncovered as usize);
    for (g, path) in found {
        let Some(c) = by_group.get(&g) else {
            // Not covered: read and indexed as without a checkpoint.
            match recover_named(g, &path) {
                Ok(mut seg) => {
                    out.bytes_read += seg.bytes_read;
                    index_segment(&mut index, &seg);
                    seg.indexed = true;
                    if seg.sealed {
                        seg.entries = Vec::new();
                        seg.deallocs = Vec::new();
                    }
                    out.checkpoint.indexed += 1;
                    out.segments.push(seg);
                }
                Err(e @ Error::Corrupt(_)) => out.corrupt.push((g, path, e)),
                Err(e) => return Err(e),
            }
            continue;
        };
        // The identity is that of the file opened, and then read (one
        // open and its `fstat`, no separate lookup by name).
        let file = match open_regular_meta(&path) {
            Ok((file, meta)) if FileId::of(&meta) == Some(c.id) => file,
            _ => return Ok(Err(format!("covered segment of group {g} changed"))),
        };
        let seg = if c.flags & FLAG_VERIFY != 0 {
            // Its records are in the table already: read and checked, not
            // indexed again.
            out.checkpoint.indexed += 1;
            recover(&file, &path).map(|mut seg| {
                seg.indexed = true;
                seg.entries = Vec::new();
                seg.deallocs = Vec::new();
                seg
            })
        } else {
            out.checkpoint.covered += 1;
            recover_trailer(&file, &path)
        };
        match seg {
            Ok(seg) if seg.header.group_id != g => {
                return Ok(Err(format!(
                    "covered segment of group {g} holds group {}",
                    seg.header.group_id
                )))
            }
            Ok(seg) if seg.sealed => {
                out.bytes_read += seg.bytes_read;
                out.segments.push(seg);
            }
            Ok(_) => return Ok(Err(format!("covered segment of group {g} is not sealed"))),
            Err(Error::Corrupt(why)) => return Ok(Err(format!("covered segment: {why}"))),
            Err(e) => return Err(e),
        }
    }
    out.checkpoint.loaded = true;
    Ok(Ok((out, index)))
}

/// [`recover`] of the file `path` named as group `g`'s segment (a header of
/// another group is `ERR_CORRUPT`).
fn recover_named(g: u32, path: &Path) -> Result<RecoveredSegment> {
    let seg = open_regular(path).and_then(|(file, _)| recover(&file, path));
    match seg {
        Ok(seg) if seg.header.group_id != g => Err(Error::Corrupt(format!(
            "{}: holds group {} under the name of group {g}",
            path.display(),
            seg.header.group_id
        ))),
        other => other,
    }
}

fn scan(dir: &Path, mut index: Option<&mut PageIndex>) -> Result<DirRecovery> {
    let mut out = DirRecovery::default();
    let found = list_segments(dir, &mut out)?;
    if let Some(index) = index.as_deref_mut() {
        // The index's table sized once, from the trailers (two small reads
        // a segment): growing it by doubling would hold the old table and
        // the new one at once, twice the memory at its peak.
        let records: u64 = found.iter().filter_map(|(_, p)| sealed_records(p)).sum();
        index.reserve(records as usize);
    }
    for (g, path) in found {
        match recover_named(g, &path) {
            Ok(mut seg) => {
                out.bytes_read += seg.bytes_read;
                if let Some(index) = index.as_deref_mut() {
                    index_segment(index, &seg);
                    seg.indexed = true;
                    if seg.sealed {
                        seg.entries = Vec::new();
                        seg.deallocs = Vec::new();
                    }
                }
                out.segments.push(seg);
            }
            Err(e @ Error::Corrupt(_)) => out.corrupt.push((g, path, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The record count a sealed segment's trailer states (`None` if it has no
/// valid one: unsealed, damaged or unreadable — the full recovery says).
fn sealed_records(path: &Path) -> Option<u64> {
    let (file, len) = open_regular(path).ok()?;
    if len < HEADER_LEN + TRAILER_LEN {
        return None;
    }
    let mut read = 0;
    let what = path.display().to_string();
    let hb = read_counted(&file, 0, HEADER_LEN as usize, &mut read, &what).ok()?;
    let header = SegmentHeader::decode(&hb, &what).ok()?;
    let tb = read_counted(
        &file,
        len - TRAILER_LEN,
        TRAILER_LEN as usize,
        &mut read,
        &what,
    )
    .ok()?;
    Trailer::decode(&tb, header.seed()).map(|t| t.record_count as u64)
}

/// Indexes one recovered segment: each page record's address becomes its
/// page id's latest if later, then the addresses its dealloc records free
/// are forgotten.
fn index_segment(index: &mut PageIndex, seg: &RecoveredSegment) {
    for e in &seg.entries {
        if e.flags == crate::record::NORMAL_PAGE {
            index.set_latest(e.page_id, e.addr(seg.header.group_id), true);
        }
    }
    for &a in &seg.deallocs {
        index.forget(a);
    }
}

/// The records of one segment, shared with whoever else holds them.
type Entries = Arc<dyn AsRef<[IndexEntry]> + Send + Sync>;

/// Where the pages of one segment are, for reads.
struct Known {
    path: PathBuf,
    seed: u32,
    /// The records, while held in memory; `None` once let go of
    /// ([`SegmentReader::drop_entries`], or a segment adopted sealed): then
    /// read from the sealed segment's index when needed, and kept in a cache
    /// of at most `max_open` segments.
    entries: Option<Entries>,
}

/// Reads pages of recovered (or sealed) segments by address: one `pread`
/// per page, at most `max_open` files open at once, and — once the records
/// are let go of — at most `max_open` segments' indexes in memory.
pub struct SegmentReader {
    known: Mutex<HashMap<u32, Known>>,
    open: Mutex<VecDeque<(u32, Arc<File>)>>,
    /// Indexes loaded from sealed segments, least recently used first.
    loaded: Mutex<VecDeque<(u32, Entries)>>,
    max_open: usize,
}

impl SegmentReader {
    /// A reader keeping at most `max_open` files open (at least 1).
    pub fn new(max_open: usize) -> Self {
        SegmentReader {
            known: Mutex::new(HashMap::new()),
            open: Mutex::new(VecDeque::new()),
            loaded: Mutex::new(VecDeque::new()),
            max_open: max_open.max(1),
        }
    }

    /// Adds (or replaces) a segment's records, sharing them (no copy).
    pub fn add_shared(&self, seg: Arc<RecoveredSegment>) {
        let (group, path, seed) = (seg.header.group_id, seg.path.clone(), seg.seed());
        self.insert(
            group,
            Known {
                path,
                seed,
                entries: Some(seg),
            },
        );
    }

    /// Adds (or replaces) a segment's records (a copy of them).
    pub fn add(&self, seg: &RecoveredSegment) {
        self.add_entries(
            seg.header.group_id,
            seg.path.clone(),
            seg.seed(),
            seg.entries.clone(),
        );
    }

    /// Adds (or replaces) group `group_id`'s records, in the file at
    /// `path` with checksum seed `seed`.
    pub fn add_entries(&self, group_id: u32, path: PathBuf, seed: u32, entries: Vec<IndexEntry>) {
        let entries: Entries = Arc::new(entries);
        self.insert(
            group_id,
            Known {
                path,
                seed,
                entries: Some(entries),
            },
        );
    }

    /// Adds (or replaces) group `group_id`, a sealed segment at `path`
    /// whose index is read when a page of it is (nothing held until then).
    pub fn add_sealed(&self, group_id: u32, path: PathBuf, seed: u32) {
        self.insert(
            group_id,
            Known {
                path,
                seed,
                entries: None,
            },
        );
    }

    /// Lets go of every segment's records held in memory: from here on a
    /// segment's index is read from its file when needed (each segment must
    /// be sealed by then), at most `max_open` of them kept.
    pub fn drop_entries(&self) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        for k in known.values_mut() {
            k.entries = None;
        }
    }

    fn insert(&self, group_id: u32, known: Known) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group_id, known);
        self.forget_cached(group_id);
    }

    fn forget_cached(&self, group_id: u32) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(g, _)| *g != group_id);
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(g, _)| *g != group_id);
    }

    /// Forgets a group (its file may be removed).
    pub fn remove(&self, group_id: u32) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&group_id);
        self.forget_cached(group_id);
    }

    /// Files open now.
    pub fn open_files(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Closes the files held open (a later read opens its file again).
    pub fn close_files(&self) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Segments whose records are in memory now (held, or loaded from an
    /// index and cached).
    pub fn entries_in_memory(&self) -> usize {
        let held = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|k| k.entries.is_some())
            .count();
        held + self.loaded.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn file(&self, group_id: u32, path: &Path) -> Result<Arc<File>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = open.iter().position(|(g, _)| *g == group_id) {
            let hit = open.remove(i).expect("present");
            let f = hit.1.clone();
            open.push_back(hit);
            return Ok(f);
        }
        // Checked again by type: the name may have changed hands since
        // recovery (never a blocking open of a FIFO).
        let f = Arc::new(open_regular(path)?.0);
        while open.len() >= self.max_open {
            open.pop_front();
        }
        open.push_back((group_id, f.clone()));
        Ok(f)
    }

    /// Group `group_id`'s path, seed and records if they are in memory
    /// (`None` records: they must be loaded). `ERR_INVALID_ADDR` if the
    /// group is unknown.
    fn lookup(&self, group_id: u32) -> Result<(PathBuf, u32, Option<Entries>)> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let k = known.get(&group_id).ok_or(Error::InvalidAddr)?;
        let entries = k.entries.clone().or_else(|| {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            let i = loaded.iter().position(|(g, _)| *g == group_id)?;
            let hit = loaded.remove(i).expect("present");
            let e = hit.1.clone();
            loaded.push_back(hit);
            Some(e)
        });
        Ok((k.path.clone(), k.seed, entries))
    }

    /// The records of group `group_id`: in memory, or read from its sealed
    /// index (checked as recovery checks it) and cached.
    fn entries(&self, group_id: u32) -> Result<(PathBuf, u32, Entries)> {
        let (path, seed, entries) = self.lookup(group_id)?;
        if let Some(e) = entries {
            return Ok((path, seed, e));
        }
        let f = self.file(group_id, &path)?;
        let seg = recover(&*f, &path)?;
        if !seg.sealed || seg.header.group_id != group_id || seg.seed() != seed {
            return Err(Error::Corrupt(format!(
                "{}: no longer the sealed segment of group {group_id} it was",
                path.display()
            )));
        }
        let e: Entries = Arc::new(seg.entries);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        while loaded.len() >= self.max_open {
            loaded.pop_front();
        }
        loaded.push_back((group_id, e.clone()));
        Ok((path, seed, e))
    }

    /// Whether a known page record (not a dealloc record) has its body at
    /// `addr`, if that can be told without I/O (`None`: the segment's
    /// index is not in memory).
    pub fn has_page(&self, addr: u64) -> Option<bool> {
        let group = (addr >> 32) as u32;
        match self.lookup(group) {
            Err(_) => Some(false),
            Ok((_, _, None)) => None,
            Ok((_, _, Some(e))) => Some(
                find_entry((*e).as_ref(), group, addr).is_some_and(|e| e.flags != DEALLOC_PAGES),
            ),
        }
    }

    /// The records of group `group_id` (read from its index if they are
    /// not in memory), or `None` if the group is unknown.
    pub fn entries_of(&self, group_id: u32) -> Result<Option<Vec<IndexEntry>>> {
        match self.entries(group_id) {
            Ok((_, _, e)) => Ok(Some((*e).as_ref().to_vec())),
            Err(Error::InvalidAddr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The body of the page at `addr`: `ERR_INVALID_ADDR` if no known
    /// record has that address (or it is a dealloc record), `ERR_CORRUPT`
    /// if its bytes on disk (or its segment's index) do not check.
    pub fn read(&self, addr: u64) -> Result<Vec<u8>> {
        let group = (addr >> 32) as u32;
        let (path, seed, entries) = self.entries(group)?;
        let entry = find_entry((*entries).as_ref(), group, addr).ok_or(Error::InvalidAddr)?;
        if entry.flags == DEALLOC_PAGES {
            return Err(Error::InvalidAddr);
        }
        let f = self.file(group, &path)?;
        read_record(&*f, seed, &entry, &path.display().to_string())
    }
}
