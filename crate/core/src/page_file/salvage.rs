//! A salvage walk over a page file that may be damaged (`photon-wb
//! inspect`): the records from the start, each checked on its own (its
//! checksum, its kind, and, when the header is intact, the checks
//! [`PageFile::open`](super::PageFile::open) makes), up to the first that
//! fails. Nothing else is trusted: the index and the trailer are not read,
//! so a file cut short or damaged in the middle still shows what comes
//! before the damage. The walk goes in steps of at most `max` records (the
//! caller reports progress between them) and reads each record with one
//! positioned read.

use std::path::Path;

use super::format::{padded, FileHeader, RecordHead, HEADER_LEN, RECORD_HEAD_LEN};
use super::reader::{check_record, open_regular, read_at};
use crate::error::{Error, Result};
use crate::record::HEADER_SIZE;

/// Where a walk goes on from: the start is `Cursor::default()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// File position of the next record (0: the start, before the header).
    pub pos: u64,
    /// Records walked so far.
    pub index: u32,
    /// End, in buffer bytes, of the last record walked.
    pub prev_end: u64,
}

/// One record that passed its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SalvagedRecord {
    /// File position of its head.
    pub pos: u64,
    /// Its head.
    pub head: RecordHead,
    /// Its checksum (stored, and equal to the one computed).
    pub crc: u32,
}

/// What one step of the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    /// The file's length.
    pub file_len: u64,
    /// The header, or why it fails (the walk goes on without it).
    pub header: std::result::Result<FileHeader, String>,
    /// The records of this step that passed their checks, in file order.
    pub records: Vec<SalvagedRecord>,
    /// Where the next step goes on.
    pub next: Cursor,
    /// The first record that fails: its file position and what fails.
    pub stop: Option<(u64, String)>,
    /// The walk is over: every record the header counts passed, or one
    /// failed (`stop`).
    pub done: bool,
}

/// One step of the salvage walk of `path` from `from`: at most `max`
/// records. An unreadable file is an error; damage is not (it is `stop`).
pub fn salvage(path: &Path, from: Cursor, max: usize) -> Result<Salvage> {
    let (file, len) = open_regular(path)?;
    let mut head = [0u8; HEADER_LEN];
    let header = if len < HEADER_LEN as u64 {
        Err(format!("file header: {len} bytes, need {HEADER_LEN}"))
    } else {
        read_at(&file, path, &mut head, 0)?;
        FileHeader::decode(&head)
            .map(|(h, _)| h)
            .map_err(|e| match e {
                Error::Corrupt(what) => what,
                other => other.to_string(),
            })
    };
    let mut out = Salvage {
        file_len: len,
        header,
        records: Vec::new(),
        next: Cursor {
            pos: from.pos.max(HEADER_LEN as u64),
            ..from
        },
        stop: None,
        done: false,
    };
    // An intact header says how many records there are. The index and
    // trailer are not trusted (a file cut short has none): records are
    // bounded by the file's end only.
    let count = out.header.as_ref().ok().map(|h| h.record_count);
    let end = len;
    let mut buf = Vec::new();
    while out.records.len() < max {
        let c = out.next;
        if count == Some(c.index) {
            out.done = true;
            return Ok(out);
        }
        let i = c.index;
        let stop = |out: &mut Salvage, what: String| {
            out.stop = Some((c.pos, format!("record {i} at {}: {what}", c.pos)));
            out.done = true;
        };
        if count.is_none() && c.pos == len {
            stop(
                &mut out,
                "the file ends here, and its header does not say how many records it holds".into(),
            );
            return Ok(out);
        }
        if c.pos + RECORD_HEAD_LEN as u64 > end {
            stop(
                &mut out,
                format!("the file ends at {end}, no room for a record head"),
            );
            return Ok(out);
        }
        let mut hb = [0u8; RECORD_HEAD_LEN];
        read_at(&file, path, &mut hb, c.pos)?;
        let (rh, stored) = RecordHead::decode(&hb, 0)?;
        let rec_end = c.pos + rh.file_len();
        if rec_end > end {
            stop(
                &mut out,
                format!(
                    "{} body bytes run past the end of the file at {end}",
                    rh.page_size
                ),
            );
            return Ok(out);
        }
        let n = rh.file_len() as usize;
        buf.clear();
        if buf.try_reserve_exact(n).is_err() {
            return Err(Error::OutOfMemory(n as u64));
        }
        buf.resize(n, 0);
        read_at(&file, path, &mut buf, c.pos)?;
        let crc = super::format::record_crc(&buf);
        if crc != stored {
            stop(
                &mut out,
                format!("checksum mismatch (stored {stored:#010x}, computed {crc:#010x})"),
            );
            return Ok(out);
        }
        let checked = match &out.header {
            Ok(h) => check_record(i as usize, c.pos, &rh, &buf, rh.offset, c.prev_end, h),
            Err(_) if !rh.has_known_kind() => Err(Error::Corrupt(format!(
                "record {i} at {}: unknown flags {:#x}",
                c.pos, rh.flags
            ))),
            Err(_) => Ok(()),
        };
        if let Err(e) = checked {
            out.stop = Some((
                c.pos,
                e.to_string().trim_start_matches("corrupt: ").to_owned(),
            ));
            out.done = true;
            return Ok(out);
        }
        out.records.push(SalvagedRecord {
            pos: c.pos,
            head: rh,
            crc,
        });
        out.next = Cursor {
            pos: rec_end,
            index: i + 1,
            prev_end: rh.offset as u64 + HEADER_SIZE as u64 + padded(rh.page_size),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_file::encode_page_file;
    use crate::WriteBuffer;

    fn sample(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let buf = WriteBuffer::with_capacity(5, 4096).unwrap();
        for i in 0..4u64 {
            buf.alloc_page(i, 40, false).unwrap();
        }
        buf.seal().unwrap();
        let bytes = encode_page_file(&buf).unwrap();
        let path = dir.join("5.page");
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    fn walk(path: &Path, max: usize) -> (Vec<SalvagedRecord>, Option<(u64, String)>) {
        let mut c = Cursor::default();
        let mut all = Vec::new();
        loop {
            let s = salvage(path, c, max).unwrap();
            all.extend(s.records);
            if s.done {
                return (all, s.stop);
            }
            c = s.next;
        }
    }

    #[test]
    fn an_intact_file_walks_every_record_in_steps() {
        let dir = tempfile_dir();
        let (path, _) = sample(&dir);
        for max in [1, 3, 100] {
            let (recs, stop) = walk(&path, max);
            assert_eq!(recs.len(), 4, "max {max}");
            assert_eq!(stop, None);
            assert_eq!(recs[0].pos, HEADER_LEN as u64);
            assert_eq!(recs[3].head.data, 3);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_record_stops_the_walk_after_the_ones_before_it() {
        let dir = tempfile_dir();
        let (path, mut bytes) = sample(&dir);
        let third = HEADER_LEN + 2 * (RECORD_HEAD_LEN + 40);
        bytes[third + RECORD_HEAD_LEN + 1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (recs, stop) = walk(&path, 2);
        assert_eq!(recs.len(), 2);
        let (at, why) = stop.unwrap();
        assert_eq!(at, third as u64);
        assert!(
            why.contains("record 2") && why.contains("checksum mismatch"),
            "{why}"
        );
        // Cut short in the fourth record: three survive, the header intact.
        std::fs::write(&path, &sample(&dir).1[..HEADER_LEN + 3 * 64 + 30]).unwrap();
        let (recs, stop) = walk(&path, 10);
        assert_eq!(recs.len(), 3);
        assert!(stop.unwrap().1.contains("record 3"));
        // A damaged header: the records are walked anyway.
        let mut b = sample(&dir).1;
        b[0] = 0;
        std::fs::write(&path, &b).unwrap();
        let s = salvage(&path, Cursor::default(), 10).unwrap();
        assert!(s.header.unwrap_err().contains("magic"));
        assert_eq!(s.records.len(), 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        // Ordering: Relaxed: only a unique number is needed.
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "pwb-salvage-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
