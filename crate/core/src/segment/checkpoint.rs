//! The checkpoint of a page index (`index.pwi`; docs/page-file-format.md,
//! "Index checkpoint"): the index's table as one image, plus the sealed
//! segments whose records it holds, each named by what identifies its file
//! without reading it (group, size, inode, ctime). `open` loads the image
//! with one read (no inserts) when every segment it names is still the same
//! file, and then indexes only the segments it does not name.
//!
//! A checkpoint is an optimisation, never a source of truth: anything in
//! doubt (a checksum, a version, a segment changed or gone, not a regular
//! file) makes recovery ignore it and read every segment's index as it
//! would without one.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::file::SegmentFile;
use crate::error::{Error, Result};
use crate::page_index::{full_slots, slot_bytes, slot_bytes_mut, PageIndex, Slot};

/// The file name of the checkpoint in a log's directory.
pub const CHECKPOINT_NAME: &str = "index.pwi";
/// The name it is written under before the rename.
pub const CHECKPOINT_TEMP: &str = ".index.pwi.tmp";
/// First 8 bytes of a checkpoint.
pub const MAGIC: [u8; 8] = *b"\x89PWI\r\n\x1a\n";
/// Format version of checkpoints (the slot layout and the hash function
/// `page_index::fold` are part of it).
pub const VERSION: u32 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 64;
/// Bytes of one segment entry.
pub const SEGMENT_LEN: usize = 32;
/// Segment flag: its `ctime` was within [`FRESH_NS`] of the clock when the
/// checkpoint was written, so a change in the same clock tick could leave
/// it as it is: `open` reads and checks its index anyway.
pub const FLAG_VERIFY: u32 = 1;
/// How recent a segment's ctime may be and still prove it unchanged: file
/// timestamps come from a clock that ticks every few milliseconds.
pub const FRESH_NS: i128 = 200_000_000;

/// What identifies a segment's file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub size: u64,
    pub inode: u64,
    /// Status change time, in nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl FileId {
    /// Of a regular file's metadata; `None` for anything else (or where
    /// inodes are not known).
    pub fn of(meta: &Metadata) -> Option<FileId> {
        if !meta.file_type().is_file() {
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileId {
                size: meta.size(),
                inode: meta.ino(),
                ctime_ns: meta
                    .ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(meta.ctime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

/// One segment a checkpoint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    pub group: u32,
    /// [`FLAG_VERIFY`] or 0.
    pub flags: u32,
    pub id: FileId,
}

/// A checkpoint as loaded (checked: checksum, version, sizes, table).
pub struct Loaded {
    pub index: PageIndex,
    pub segments: Vec<Covered>,
    /// Bytes read.
    pub bytes: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn encode_header(slots: u64, entries: u64, highest: u32, segments: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&slots.to_le_bytes());
    h[24..32].copy_from_slice(&entries.to_le_bytes());
    h[32..36].copy_from_slice(&highest.to_le_bytes());
    h[36..40].copy_from_slice(&segments.to_le_bytes());
    h
}

fn encode_segment(c: &Covered) -> [u8; SEGMENT_LEN] {
    let mut b = [0u8; SEGMENT_LEN];
    b[0..4].copy_from_slice(&c.group.to_le_bytes());
    b[4..8].copy_from_slice(&c.flags.to_le_bytes());
    b[8..16].copy_from_slice(&c.id.size.to_le_bytes());
    b[16..24].copy_from_slice(&c.id.inode.to_le_bytes());
    b[24..32].copy_from_slice(&c.id.ctime_ns.to_le_bytes());
    b
}

fn decode_segment(b: &[u8]) -> Covered {
    Covered {
        group: u32_at(b, 0),
        flags: u32_at(b, 4),
        id: FileId {
            size: u64_at(b, 8),
            inode: u64_at(b, 16),
            ctime_ns: u64_at(b, 24) as i64,
        },
    }
}

/// The clock file timestamps are compared with, in ns since the epoch.
fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Writes the checkpoint of `dir`: the table `slots` (holding `entries`
/// page ids), covering the sealed segments `segments` (group, path) —
/// which must be every segment whose records the table holds. Written
/// atomically: a temporary file, `fdatasync`, rename, directory `fsync`.
/// Each segment is identified (one `stat`) after the table is written, so
/// the write's own time makes most of them older than [`FRESH_NS`]. A
/// segment that is not a regular file any more fails the write.
pub fn write_checkpoint(
    dir: &Path,
    slots: &[Slot],
    entries: usize,
    segments: &[(u32, PathBuf)],
) -> Result<u64> {
    if cfg!(target_endian = "big") {
        // The image is the table's memory: little-endian words only.
        return Err(Error::io(
            "write checkpoint".to_string(),
            &std::io::Error::from(std::io::ErrorKind::Unsupported),
        ));
    }
    let tmp = dir.join(CHECKPOINT_TEMP);
    let what = tmp.display().to_string();
    let io = |op: &str, e: std::io::Error| Error::io(format!("{op} '{what}'"), &e);
    let list_len = segments.len() * SEGMENT_LEN;
    let image_at = (HEADER_LEN + list_len) as u64;
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Something else under the temporary name: a FIFO must not block
        // the write (ENXIO without a reader), a symlink must not be
        // followed; anything but a regular file is refused below.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let mut file = opts.open(&tmp).map_err(|e| io("open", e))?;
    if !file.metadata().is_ok_and(|m| m.file_type().is_file()) {
        return Err(Error::Corrupt(format!("{what}: not a regular file")));
    }
    let result = (|| {
        // The image first (after room for the header and the list).
        write_at(&file, slot_bytes(slots), image_at).map_err(|e| io("write", e))?;
        let now = now_ns();
        let mut list = Vec::with_capacity(list_len);
        let mut highest = 0u32;
        for (g, path) in segments {
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::io(format!("stat '{}'", path.display()), &e))?;
            let id = FileId::of(&meta)
                .ok_or_else(|| Error::Corrupt(format!("{}: not a regular file", path.display())))?;
            let fresh = now - i128::from(id.ctime_ns) < FRESH_NS;
            list.extend_from_slice(&encode_segment(&Covered {
                group: *g,
                flags: if fresh { FLAG_VERIFY } else { 0 },
                id,
            }));
            highest = highest.max(*g);
        }
        let mut head = encode_header(
            slots.len() as u64,
            entries as u64,
            highest,
            segments.len() as u32,
        );
        let mut crc = crc32c::crc32c(&head[..60]);
        crc = crc32c::crc32c_append(crc, &list);
        crc = crc32c::crc32c_append(crc, slot_bytes(slots));
        head[60..64].copy_from_slice(&crc.to_le_bytes());
        write_at(&file, &head, 0).map_err(|e| io("write", e))?;
        write_at(&file, &list, HEADER_LEN as u64).map_err(|e| io("write", e))?;
        file.flush().map_err(|e| io("write", e))?;
        file.sync_data().map_err(|e| io("fdatasync", e))?;
        let to = dir.join(CHECKPOINT_NAME);
        std::fs::rename(&tmp, &to).map_err(|e| io("rename", e))?;
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("fsync directory '{}'", dir.display()), &e))?;
        Ok(image_at + slot_bytes(slots).len() as u64)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes all of `b` at `pos` (positioned: the segment files' own I/O).
fn write_at(file: &File, b: &[u8], pos: u64) -> std::io::Result<()> {
    SegmentFile::write_all_at(file, b, pos)
}

/// Reads exactly `b.len()` bytes at `pos` (positioned, so two threads may
/// read one file at once); a file that ends sooner is `UnexpectedEof`.
fn read_exact_at(file: &File, b: &mut [u8], pos: u64) -> std::io::Result<()> {
    if SegmentFile::read_at_most(file, b, pos)? < b.len() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Reads `table.len()` slots from `file` at `pos` into `table`; returns the
/// CRC-32C of their bytes and how many are full. A large table (8 MiB and
/// more) is read as two halves on two threads (this one and a scoped
/// helper): the page faults of the fresh memory and the copies, most of
/// the load, run side by side (a 64 MiB table: about a third less of
/// `open`). Each half is read 1 MiB at a time and checksummed and counted
/// while that MiB is still in cache.
fn read_table(file: &File, table: &mut [Slot], pos: u64) -> std::io::Result<(u32, usize)> {
    /// Slots per read: 1 MiB.
    const CHUNK: usize = 1 << 16;
    let part = |slots: &mut [Slot], mut at: u64| -> std::io::Result<(u32, usize)> {
        let (mut crc, mut full) = (0u32, 0usize);
        for c in slots.chunks_mut(CHUNK) {
            read_exact_at(file, slot_bytes_mut(c), at)?;
            crc = crc32c::crc32c_append(crc, slot_bytes(c));
            full += full_slots(c);
            at += std::mem::size_of_val(c) as u64;
        }
        Ok((crc, full))
    };
    if table.len() < 8 * CHUNK {
        return part(table, pos);
    }
    let mid = table.len() / 2;
    let (a, b) = table.split_at_mut(mid);
    let (b_pos, b_len) = (
        pos + std::mem::size_of_val(a) as u64,
        std::mem::size_of_val(b),
    );
    // The second half, taken by whichever thread reads it.
    let second = std::sync::Mutex::new(Some(b));
    let take = || second.lock().ok().and_then(|mut b| b.take());
    let read_second = || match take() {
        Some(b) => part(b, b_pos),
        None => Ok((0, 0)), // read by the other thread
    };
    let (ra, rb) = std::thread::scope(|s| {
        let helper = std::thread::Builder::new().spawn_scoped(s, read_second);
        let ra = part(a, pos);
        let rb = match helper {
            Ok(h) => h.join().unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "the checkpoint reader thread panicked",
                ))
            }),
            // No thread to be had (a process at its limit): this one reads it.
            Err(_) => read_second(),
        };
        (ra, rb)
    });
    let ((ca, fa), (cb, fb)) = (ra?, rb?);
    Ok((crc32c::crc32c_combine(ca, cb, b_len), fa + fb))
}

/// `n` slots of zeros, allocated zeroed (fresh pages from the system for a
/// large table: no pass over the memory before the read fills it).
fn zeroed_slots(n: usize) -> Vec<Slot> {
    let words: Vec<u64> = vec![0u64; n * 2];
    let mut words = std::mem::ManuallyDrop::new(words);
    let (ptr, len, cap) = (words.as_mut_ptr(), words.len(), words.capacity());
    if cap % 2 != 0 {
        // Never (an allocation of exactly 2n words), but a `Vec<Slot>` must
        // own an allocation of a whole number of slots: fall back to a fill.
        drop(std::mem::ManuallyDrop::into_inner(words));
        return vec![Slot { id: 0, addr: 0 }; n];
    }
    // SAFETY: `ptr` was allocated by a `Vec<u64>` of capacity `cap` (align
    // 8, `cap * 8` bytes); `Slot` is `repr(C)` of two `u64` (align 8, 16
    // bytes), so `cap / 2` slots are exactly that allocation's size and
    // alignment; the `len / 2` slots are initialised (zeros are valid
    // `u64`s); `words` is not dropped (`ManuallyDrop`), so the allocation
    // has this one owner.
    unsafe { Vec::from_raw_parts(ptr.cast::<Slot>(), len / 2, cap / 2) }
}

/// Loads the checkpoint of `dir`: `Ok(None)` when there is none, `Err`
/// with why it cannot be used (then it must be ignored), else the index
/// loaded from its image (one read into the table; checked by checksum and
/// `PageIndex::from_image`) and the segments it covers. Nothing is
/// allocated beyond what the file's size (checked against its header)
/// holds; a FIFO or directory under its name is never opened blocking.
pub fn load_checkpoint(dir: &Path) -> std::result::Result<Option<Loaded>, String> {
    if cfg!(target_endian = "big") {
        return Err("checkpoints are read on little-endian hosts only".into());
    }
    let path = dir.join(CHECKPOINT_NAME);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("stat: {e}")),
    };
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Swapped for a FIFO since the stat: opens at once, refused below.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = opts.open(&path).map_err(|e| format!("open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("stat: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    let len = meta.len();
    if len < HEADER_LEN as u64 {
        return Err(format!("{len} bytes: shorter than its header"));
    }
    let mut head = [0u8; HEADER_LEN];
    read_exact_at(&file, &mut head, 0).map_err(|e| format!("read: {e}"))?;
    if head[0..8] != MAGIC {
        return Err("bad magic".into());
    }
    let version = u32_at(&head, 8);
    if version != VERSION || u32_at(&head, 12) != HEADER_LEN as u32 {
        return Err(format!("unknown version {version}"));
    }
    let (slots, entries, count) = (u64_at(&head, 16), u64_at(&head, 24), u32_at(&head, 36));
    let want = (slots.checked_mul(16))
        .and_then(|b| b.checked_add(HEADER_LEN as u64 + count as u64 * SEGMENT_LEN as u64));
    if want != Some(len) {
        return Err(format!("{len} bytes where its header says {want:?}"));
    }
    if (slots != 0 && !slots.is_power_of_two()) || entries.saturating_mul(8) > slots * 7 {
        return Err("table sizes out of range".into());
    }
    let mut list = vec![0u8; count as usize * SEGMENT_LEN];
    read_exact_at(&file, &mut list, HEADER_LEN as u64).map_err(|e| format!("read: {e}"))?;
    let mut table = zeroed_slots(slots as usize);
    let (table_crc, full) = read_table(&file, &mut table, (HEADER_LEN + list.len()) as u64)
        .map_err(|e| format!("read: {e}"))?;
    let mut crc = crc32c::crc32c(&head[..60]);
    crc = crc32c::crc32c_append(crc, &list);
    crc = crc32c::crc32c_combine(crc, table_crc, std::mem::size_of_val(table.as_slice()));
    if crc != u32_at(&head, 60) {
        return Err("checksum mismatch".into());
    }
    let segments: Vec<Covered> = list.chunks_exact(SEGMENT_LEN).map(decode_segment).collect();
    if segments.iter().any(|c| c.flags & !FLAG_VERIFY != 0)
        || segments.iter().map(|c| c.group).max().unwrap_or(0) != u32_at(&head, 32)
    {
        return Err("segment list out of range".into());
    }
    let index = PageIndex::from_counted_image(table, entries as usize, full)
        .ok_or_else(|| "the table is not a valid one".to_string())?;
    Ok(Some(Loaded {
        index,
        segments,
        bytes: len,
    }))
}
