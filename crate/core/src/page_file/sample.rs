//! Seeded sample buffers and their model, for the page file tests.
//!
//! A test harness, not API: the unit tests and
//! `examples/fuzz_page_file.rs` share it (an example cannot see
//! `#[cfg(test)]` code), which is why it is public, compiled only for tests
//! and with the `test-hooks` feature.

use std::collections::HashSet;

use super::encode::group_of;
use super::reader::PageFile;
use crate::error::Error;
use crate::record::{RecordKind, HEADER_SIZE};
use crate::write_buffer::WriteBuffer;

/// A tiny xorshift64 PRNG: reproducible from its seed, no dependency.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (zero included).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True once in `n` draws on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// A page written into a sample buffer.
#[derive(Debug, Clone)]
pub struct SamplePage {
    /// Its address.
    pub addr: u64,
    /// Its page id.
    pub page_id: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Tombstoned before sealing.
    pub tombstone: bool,
}

/// A dealloc record written into a sample buffer.
#[derive(Debug, Clone)]
pub struct SampleDealloc {
    /// Its address (body offset in the low 32 bits).
    pub addr: u64,
    /// The addresses it frees.
    pub addrs: Vec<u64>,
    /// Tombstoned before sealing.
    pub tombstone: bool,
}

/// A sealed, flushable buffer and the model of what was written into it.
pub struct Sample {
    /// The buffer (sealed, no writer).
    pub buffer: WriteBuffer,
    /// Every page, in allocation order.
    pub pages: Vec<SamplePage>,
    /// Every dealloc record, in allocation order.
    pub deallocs: Vec<SampleDealloc>,
}

/// Fills a new buffer with random pages (bodies of `0..=max_page` random
/// bytes), dealloc records (same-group pages, same-group non-pages, other
/// groups, none) and tombstones until it is full, then seals it.
pub fn sample(rng: &mut XorShift, group_id: u32, capacity: u32, max_page: u32) -> Sample {
    let buffer = WriteBuffer::with_capacity(group_id, capacity).expect("valid sample capacity");
    let mut pages: Vec<SamplePage> = Vec::new();
    let mut deallocs: Vec<SampleDealloc> = Vec::new();
    let mut misses = 0;
    while misses < 4 {
        if rng.one_in(5) {
            let mut addrs = Vec::new();
            for _ in 0..rng.below(5) {
                addrs.push(match rng.below(4) {
                    0 | 1 if !pages.is_empty() => {
                        pages[rng.below(pages.len() as u64) as usize].addr
                    }
                    2 => buffer.addr_of(rng.below(capacity as u64) as u32 & !7),
                    _ => {
                        let other = group_id ^ (1 + rng.below(u32::MAX as u64 - 1) as u32);
                        ((other as u64) << 32) | (rng.next_u64() & 0xffff_fff8)
                    }
                });
            }
            match buffer.dealloc_pages(&addrs, false) {
                Ok(record) => deallocs.push(SampleDealloc {
                    addr: buffer.addr_of(record + HEADER_SIZE),
                    addrs,
                    tombstone: false,
                }),
                Err(_) => misses += 1,
            }
        } else {
            let size = rng.below(max_page as u64 + 1) as u32;
            let page_id = rng.next_u64();
            match buffer.alloc_page(page_id, size, false) {
                Ok(p) => {
                    let mut bytes = vec![0u8; size as usize];
                    rng.fill(&mut bytes);
                    // SAFETY: the page was just reserved; no other view of
                    // its body exists while this one is written.
                    unsafe { buffer.page_mut(&p) }.copy_from_slice(&bytes);
                    pages.push(SamplePage {
                        addr: p.addr,
                        page_id,
                        bytes,
                        tombstone: false,
                    });
                }
                Err(_) => misses += 1,
            }
        }
        if rng.one_in(7) {
            tombstone_one(rng, &buffer, &mut pages, &mut deallocs);
        }
    }
    buffer.seal().expect("sample buffer seals once");
    Sample {
        buffer,
        pages,
        deallocs,
    }
}

fn tombstone_one(
    rng: &mut XorShift,
    buffer: &WriteBuffer,
    pages: &mut [SamplePage],
    deallocs: &mut [SampleDealloc],
) {
    let n = (pages.len() + deallocs.len()) as u64;
    if n == 0 {
        return;
    }
    let i = rng.below(n) as usize;
    let (addr, flag) = if i < pages.len() {
        (pages[i].addr, &mut pages[i].tombstone)
    } else {
        let d = &mut deallocs[i - pages.len()];
        (d.addr, &mut d.tombstone)
    };
    buffer
        .set_tombstone(addr as u32 - HEADER_SIZE)
        .expect("tombstone a record");
    *flag = true;
}

/// One expected file record: `(buffer offset, kind, page id, body)`.
type Expected = (u32, RecordKind, u64, Vec<u8>);

impl Sample {
    /// What the page file must hold, in buffer order (the flush rules).
    pub fn expected(&self) -> Vec<Expected> {
        let group = self.buffer.group_id();
        let live_deallocs = self.deallocs.iter().filter(|d| !d.tombstone);
        let freed: HashSet<u32> = live_deallocs
            .clone()
            .flat_map(|d| d.addrs.iter().copied())
            .filter(|&a| group_of(a) == group)
            .map(|a| a as u32)
            .collect();
        let mut out: Vec<Expected> = self
            .pages
            .iter()
            .filter(|p| !p.tombstone && !freed.contains(&(p.addr as u32)))
            .map(|p| {
                (
                    p.addr as u32 - HEADER_SIZE,
                    RecordKind::Page,
                    p.page_id,
                    p.bytes.clone(),
                )
            })
            .collect();
        for d in live_deallocs {
            let kept: Vec<u8> = d
                .addrs
                .iter()
                .filter(|&&a| group_of(a) != group)
                .flat_map(|a| a.to_le_bytes())
                .collect();
            if !kept.is_empty() {
                out.push((d.addr as u32 - HEADER_SIZE, RecordKind::Dealloc, 0, kept));
            }
        }
        out.sort_by_key(|e| e.0);
        out
    }

    /// Checks `file` against the model: records in order, every live page
    /// byte-identical at its old address, every dropped one absent.
    pub fn check(&self, file: &PageFile) -> Result<(), String> {
        let group = self.buffer.group_id();
        if file.group_id() != group {
            return Err(format!("group {} != {group}", file.group_id()));
        }
        let expected = self.expected();
        let got: Vec<Expected> = file
            .records()
            .map(|r| (r.offset, r.kind, r.page_id(), r.body().to_vec()))
            .collect();
        if got != expected {
            return Err(format!(
                "records differ: {} in the file, {} expected",
                got.len(),
                expected.len()
            ));
        }
        let live: HashSet<u32> = expected.iter().map(|e| e.0).collect();
        for p in &self.pages {
            let want = if live.contains(&(p.addr as u32 - HEADER_SIZE)) {
                Ok(p.bytes.as_slice())
            } else {
                Err(Error::InvalidAddr)
            };
            if file.page(p.addr) != want {
                return Err(format!("page at {:#x}: {:?}", p.addr, file.page(p.addr)));
            }
            for bad in [p.addr + 8, p.addr - 8, p.addr ^ (1 << 40)] {
                if file.page(bad) != Err(Error::InvalidAddr) {
                    return Err(format!("address {bad:#x} resolved to a page"));
                }
            }
        }
        for d in &self.deallocs {
            if file.page(d.addr) != Err(Error::InvalidAddr) {
                return Err(format!("dealloc record at {:#x} served as a page", d.addr));
            }
        }
        Ok(())
    }
}

/// A random sample buffer small enough for fuzzing (files up to ~25 KiB).
pub fn small_sample(rng: &mut XorShift) -> Sample {
    let group = match rng.below(4) {
        0 => 0,
        1 => u32::MAX,
        _ => rng.next_u64() as u32,
    };
    let capacity = 16u32 << rng.below(11);
    let max_page = 1 + rng.below(600) as u32;
    sample(rng, group, capacity, max_page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_file::encode::encode_page_file;
    use crate::page_file::reader::PageFile;

    #[test]
    fn xorshift_is_seeded_and_spreads() {
        let (mut a, mut b) = (XorShift::new(1), XorShift::new(1));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert!(xs.iter().all(|&x| x == b.next_u64()));
        let mut zero = XorShift::new(0);
        assert_ne!(zero.next_u64(), 0);
        let mut seen = [false; 10];
        (0..1000).for_each(|_| seen[a.below(10) as usize] = true);
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn sample_expected_matches_encoding() {
        let mut rng = XorShift::new(7);
        for _ in 0..50 {
            let s = small_sample(&mut rng);
            let file = PageFile::from_bytes(encode_page_file(&s.buffer).unwrap()).unwrap();
            s.check(&file).unwrap();
        }
    }
}
