//! Seeded mutation fuzzing of the page file reader: flips, inserts,
//! deletes, truncations, overwrites and lying lengths (with and without
//! recomputed checksums) of valid files.
//!
//! A test harness, not API (see [`sample`](super::sample)): shared by the
//! unit tests and `examples/fuzz_page_file.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::encode::encode_page_file;
use super::format::{
    decode_index_entry, le_u32, le_u64, padded, record_crc, INDEX_ENTRY_LEN, RECORD_CRC_AT,
    RECORD_HEAD_LEN, TRAILER_LEN,
};
use super::reader::PageFile;
use super::sample::{small_sample, XorShift};
use crate::error::Error;
use crate::record::RecordKind;

/// How many of [`length_fields`] are in the header and trailer.
const FIXED_FIELDS: usize = 7;

/// The positions and widths of the length and offset fields of a valid
/// file: what a lying-length mutation rewrites.
fn length_fields(file: &[u8]) -> Vec<(usize, usize)> {
    let n = file.len();
    let mut fields = vec![
        (12, 4),
        (20, 4),
        (24, 4),
        (28, 4),
        (n - TRAILER_LEN, 8),
        (n - TRAILER_LEN + 8, 8),
        (n - TRAILER_LEN + 16, 4),
    ];
    let count = le_u32(file, 28).unwrap_or(0) as usize;
    let index = le_u64(file, n - TRAILER_LEN).unwrap_or(0) as usize;
    for i in 0..count {
        let at = index + i * INDEX_ENTRY_LEN;
        fields.push((at, 4));
        fields.push((at + 8, 8));
        if let Ok((_, _, pos)) = decode_index_entry(file, at) {
            fields.push((pos as usize + 12, 4));
            fields.push((pos as usize + 16, 4));
        }
    }
    fields
}

/// Recomputes every checksum a lie at `field` invalidated, where the
/// (possibly lying) lengths still let it be computed.
fn reseal(file: &mut [u8], field: usize, original: &[u8]) {
    let n = file.len();
    // The record holding `field`, found through the original's index.
    let count = le_u32(original, 28).unwrap_or(0) as usize;
    let index = le_u64(original, n - TRAILER_LEN).unwrap_or(0) as usize;
    for i in 0..count {
        let Ok((_, _, pos)) = decode_index_entry(original, index + i * INDEX_ENTRY_LEN) else {
            continue;
        };
        let pos = pos as usize;
        if (pos..pos + RECORD_HEAD_LEN).contains(&field) {
            let size = le_u32(file, pos + 12).unwrap_or(0);
            let end = pos as u64 + RECORD_HEAD_LEN as u64 + padded(size);
            if end <= (n - TRAILER_LEN) as u64 {
                let crc = record_crc(&file[pos..end as usize]);
                file[pos + RECORD_CRC_AT..pos + RECORD_HEAD_LEN]
                    .copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
    let index_crc = crc32c::crc32c(&file[index.min(n - TRAILER_LEN)..n - TRAILER_LEN]);
    file[n - 12..n - 8].copy_from_slice(&index_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&file[..36]);
    file[36..40].copy_from_slice(&header_crc.to_le_bytes());
    let trailer_crc = crc32c::crc32c_append(header_crc, &file[n - TRAILER_LEN..n - 8]);
    file[n - 8..n - 4].copy_from_slice(&trailer_crc.to_le_bytes());
}

/// One mutation of a valid file: `(bytes, what was done, resealed)`. A
/// resealed mutation fixed up the checksums after lying about a length, so
/// the reader may legitimately accept it (a changed capacity that still
/// fits, say); all others must be refused unless they changed nothing.
pub fn mutate(rng: &mut XorShift, original: &[u8]) -> (Vec<u8>, String, bool) {
    let mut b = original.to_vec();
    let n = b.len();
    let at = rng.below(n as u64) as usize;
    match rng.below(8) {
        0 => {
            b[at] ^= 1 + rng.below(255) as u8;
            (b, format!("flip byte {at}"), false)
        }
        1 => {
            for _ in 0..2 + rng.below(6) {
                let i = rng.below(n as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            (b, "flip bits".into(), false)
        }
        2 => {
            let len = 1 + rng.below(16) as usize;
            let mut ins = vec![0u8; len];
            rng.fill(&mut ins);
            b.splice(at..at, ins);
            (b, format!("insert {len} at {at}"), false)
        }
        3 => {
            let len = (1 + rng.below(16) as usize).min(n - at);
            b.drain(at..at + len);
            (b, format!("delete {len} at {at}"), false)
        }
        4 => {
            b.truncate(at);
            (b, format!("truncate to {at}"), false)
        }
        5 => {
            let len = (1 + rng.below(64) as usize).min(n - at);
            rng.fill(&mut b[at..at + len]);
            (b, format!("overwrite {len} at {at}"), false)
        }
        _ => {
            // Half the lies hit the 7 header and trailer fields, half the
            // per-record ones (when there are records).
            let fields = length_fields(original);
            let pick = if fields.len() > FIXED_FIELDS && rng.one_in(2) {
                FIXED_FIELDS as u64 + rng.below((fields.len() - FIXED_FIELDS) as u64)
            } else {
                rng.below(FIXED_FIELDS as u64)
            };
            let (pos, width) = fields[pick as usize];
            let old = if width == 4 {
                le_u32(&b, pos).unwrap_or(0) as u64
            } else {
                le_u64(&b, pos).unwrap_or(0)
            };
            let lie = match rng.below(8) {
                0 => 0,
                1 => u64::MAX,
                2 => old.wrapping_add(8),
                3 => old.wrapping_sub(8),
                4 => old.wrapping_add(1),
                5 => n as u64,
                6 => 1 << (16 + rng.below(24)),
                _ => rng.next_u64(),
            };
            b[pos..pos + width].copy_from_slice(&lie.to_le_bytes()[..width]);
            let resealed = rng.one_in(2);
            if resealed {
                reseal(&mut b, pos, original);
            }
            (
                b,
                format!("lie {lie:#x} at {pos} (resealed {resealed})"),
                resealed,
            )
        }
    }
}

/// What a fuzz run saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FuzzStats {
    /// Mutated inputs tried.
    pub inputs: u64,
    /// Refused with `Corrupt`.
    pub rejected: u64,
    /// Accepted because the mutation changed nothing.
    pub unchanged: u64,
    /// Accepted after a resealed lie (a different but consistent file).
    pub resealed: u64,
    /// Distinct valid files mutated.
    pub bases: u64,
}

/// Uses every accessor of an accepted file, so a lie that slipped past
/// validation shows up as a panic here.
fn exercise(file: &PageFile) -> usize {
    let mut touched = 0;
    for r in file.records() {
        touched += r.body().len() + r.dealloc_addrs().count();
        let again = file.record_at(r.addr).map(|x| x.body().len());
        assert_eq!(again, Ok(r.body().len()), "record_at agrees with records()");
        if r.kind == RecordKind::Page {
            assert_eq!(file.page(r.addr), Ok(r.body()));
        }
    }
    touched
}

/// Mutates `iterations` inputs from seed `seed`: every input must be
/// refused with `Corrupt` (or accepted only as described in [`mutate`]),
/// and nothing may panic. `Err` describes the first violation.
pub fn run(seed: u64, iterations: u64) -> Result<FuzzStats, String> {
    let mut rng = XorShift::new(seed);
    let mut stats = FuzzStats::default();
    let mut base: Vec<u8> = Vec::new();
    for i in 0..iterations {
        if i % 64 == 0 {
            let s = small_sample(&mut rng);
            base = encode_page_file(&s.buffer).map_err(|e| format!("encode: {e}"))?;
            let file = PageFile::from_bytes(base.clone()).map_err(|e| format!("base: {e}"))?;
            s.check(&file)?;
            stats.bases += 1;
        }
        let (input, what, resealed) = mutate(&mut rng, &base);
        let unchanged = input == base;
        stats.inputs += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            PageFile::from_bytes(input).map(|f| exercise(&f))
        }))
        .map_err(|_| format!("seed {seed} input {i}: panic after {what}"))?;
        match outcome {
            Err(Error::Corrupt(_)) => stats.rejected += 1,
            Err(e) => return Err(format!("seed {seed} input {i}: {what}: not Corrupt: {e:?}")),
            Ok(_) if unchanged => stats.unchanged += 1,
            Ok(_) if resealed => stats.resealed += 1,
            Ok(_) => return Err(format!("seed {seed} input {i}: accepted after {what}")),
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_page_file_mutations_20k() {
        let stats = run(0x5eed_0001, 20_000).unwrap();
        assert_eq!(stats.inputs, 20_000);
        assert!(stats.rejected > 19_000, "{stats:?}");
    }
}
