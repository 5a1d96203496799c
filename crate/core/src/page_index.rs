//! The page index of a page log: page id → latest address, for any number
//! of page ids that fits in memory, at about 20–40 bytes per page (a
//! `HashMap<u64, u64>`: 16 bytes and a control byte per bucket, at most 7/8
//! of the buckets full, doubled when full; see docs/BENCHMARKS.md, "The page
//! index").
//!
//! Two rules, as the JS index had them:
//! - *latest*: [`PageIndex::set_latest`] makes an address the page's latest,
//!   or with `only_if_later` only if the page has no higher one (addresses
//!   grow with the log: `group << 32 | offset`);
//! - *forget*: a dealloc record frees addresses; [`PageIndex::forget`] drops
//!   the page whose latest address it is (a superseded address frees
//!   nothing). Finding the page of an address needs the inverse map, built
//!   at the first `forget` and kept up to date from then on (it doubles the
//!   memory; a log without dealloc records never pays for it).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::record::{DEALLOC_PAGES, NORMAL_PAGE, TOMBSTONE};

/// A hasher for `u64` keys: one folded 64×64→128-bit multiply, so every key
/// bit reaches both the low bits (the bucket) and the top 7 bits (the
/// control byte) of the hash. Sequential and strided page ids spread.
#[derive(Default, Clone, Copy)]
pub struct FoldHasher(u64);

/// An odd constant with no structure (the fractional part of π).
const MULT: u64 = 0x243f_6a88_85a3_08d3;
/// Added before the multiply, so that key 0 does not hash to 0.
const SEED: u64 = 0x1319_8a2e_0370_7344;

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are `u64`); any other input
        // still hashes, a byte at a time.
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    #[inline]
    fn finish(&self) -> u64 {
        let m = u128::from(self.0.wrapping_add(SEED)) * u128::from(MULT);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

type Map = HashMap<u64, u64, BuildHasherDefault<FoldHasher>>;

/// Heap bytes of a `HashMap<u64, u64>` of this capacity: its buckets hold
/// 16 bytes and a control byte each, plus one group of control bytes (16).
/// `capacity` is 7/8 of the buckets (buckets - 1 below 8 buckets).
fn map_bytes(map: &Map) -> usize {
    let cap = map.capacity();
    let buckets = match cap {
        0 => return 0,
        1..=6 => (cap + 1).next_power_of_two(),
        _ => (cap / 7 * 8).next_power_of_two(),
    };
    buckets * 17 + 16
}

/// What [`PageIndex::add_entries`] found wrong (nothing was changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntriesError {
    /// The three slices differ in length.
    Lengths,
    /// Entry `at` has flags that are none of `NORMAL_PAGE`,
    /// `DEALLOC_PAGES`, `TOMBSTONE`.
    Flags { at: usize, flags: u32 },
}

/// Page id → latest address (see the module's documentation).
#[derive(Default)]
pub struct PageIndex {
    latest: Map,
    /// Address → page id, for `forget`: built at its first call.
    owner: Option<Map>,
}

impl PageIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Page ids with an address.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Heap bytes held by the index (both maps).
    pub fn bytes(&self) -> usize {
        map_bytes(&self.latest) + self.owner.as_ref().map_or(0, map_bytes)
    }

    /// Whether the inverse map (address → page id) exists.
    pub fn has_owner_map(&self) -> bool {
        self.owner.is_some()
    }

    #[inline]
    pub fn get(&self, page_id: u64) -> Option<u64> {
        self.latest.get(&page_id).copied()
    }

    /// `addr` becomes the latest address of `page_id` (with `only_if_later`:
    /// unless it has a higher one). Returns whether it did.
    #[inline]
    pub fn set_latest(&mut self, page_id: u64, addr: u64, only_if_later: bool) -> bool {
        let old = match self.latest.entry(page_id) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let old = *e.get();
                if only_if_later && old >= addr {
                    return false;
                }
                e.insert(addr);
                Some(old)
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(addr);
                None
            }
        };
        if let Some(owner) = &mut self.owner {
            if let Some(old) = old {
                owner.remove(&old);
            }
            owner.insert(addr, page_id);
        }
        true
    }

    /// A dealloc record frees `addr`: the page whose latest address it is
    /// loses its entry. Returns that page id, if any.
    pub fn forget(&mut self, addr: u64) -> Option<u64> {
        let latest = &mut self.latest;
        let owner = self.owner.get_or_insert_with(|| {
            let mut owner = Map::with_capacity_and_hasher(latest.len(), Default::default());
            owner.extend(latest.iter().map(|(&id, &a)| (a, id)));
            owner
        });
        let page_id = owner.remove(&addr)?;
        latest.remove(&page_id);
        Some(page_id)
    }

    /// Indexes entries in log order: `flags[i]` `NORMAL_PAGE`: address
    /// `addrs[i]` becomes the latest of page `page_ids[i]` if later;
    /// `DEALLOC_PAGES`: `forget(addrs[i])` (`page_ids[i]` unused);
    /// `TOMBSTONE`: skipped. All entries are checked before any is applied.
    /// Returns how many page entries there were.
    pub fn add_entries(
        &mut self,
        page_ids: &[u64],
        addrs: &[u64],
        flags: &[u32],
    ) -> Result<usize, EntriesError> {
        if page_ids.len() != addrs.len() || addrs.len() != flags.len() {
            return Err(EntriesError::Lengths);
        }
        if let Some(at) = flags
            .iter()
            .position(|&f| f != NORMAL_PAGE && f != DEALLOC_PAGES && f != TOMBSTONE)
        {
            return Err(EntriesError::Flags {
                at,
                flags: flags[at],
            });
        }
        let pages = flags.iter().filter(|&&f| f == NORMAL_PAGE).count();
        if self.latest.is_empty() {
            // The first segment of a recovery: one allocation. Not later:
            // the entries may rewrite pages the index has, and a reserve
            // would double the table for nothing.
            self.latest.reserve(pages);
        }
        for ((&id, &addr), &f) in page_ids.iter().zip(addrs).zip(flags) {
            match f {
                NORMAL_PAGE => {
                    self.set_latest(id, addr, true);
                }
                DEALLOC_PAGES => {
                    self.forget(addr);
                }
                _ => {}
            }
        }
        Ok(pages)
    }

    /// Every `(page id, address)` pair, in no order, or sorted by address.
    pub fn entries(&self, by_addr: bool) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.latest.iter().map(|(&id, &a)| (id, a)).collect();
        if by_addr {
            // Addresses are distinct, so an unstable sort gives one order.
            v.sort_unstable_by_key(|&(_, a)| a);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_only_if_later_and_rewrites() {
        let mut ix = PageIndex::new();
        assert!(ix.is_empty());
        assert!(ix.set_latest(7, 100, false));
        assert!(!ix.set_latest(7, 50, true), "older: ignored");
        assert!(!ix.set_latest(7, 100, true), "the same: ignored");
        assert_eq!(ix.get(7), Some(100));
        assert!(ix.set_latest(7, 50, false), "unconditional: taken");
        assert_eq!(ix.get(7), Some(50));
        assert!(ix.set_latest(7, 200, true));
        assert_eq!(ix.get(7), Some(200));
        assert_eq!(ix.get(8), None);
        assert_eq!(ix.len(), 1);
        // Every u64 is a page id, 0 and u64::MAX included.
        ix.set_latest(0, 1, false);
        ix.set_latest(u64::MAX, 2, false);
        assert_eq!(
            (ix.get(0), ix.get(u64::MAX), ix.len()),
            (Some(1), Some(2), 3)
        );
    }

    #[test]
    fn forget_frees_latest_addresses_only_and_keeps_the_inverse_up_to_date() {
        let mut ix = PageIndex::new();
        for i in 0..1000u64 {
            ix.set_latest(i, i << 8, false);
        }
        assert!(!ix.has_owner_map());
        assert_eq!(ix.forget(5 << 8), Some(5));
        assert!(ix.has_owner_map());
        assert_eq!(ix.get(5), None);
        assert_eq!(ix.forget(5 << 8), None, "already freed");
        // A rewrite after the inverse exists: the old address frees nothing.
        ix.set_latest(6, (6 << 8) + 1, false);
        assert_eq!(ix.forget(6 << 8), None);
        assert_eq!(ix.get(6), Some((6 << 8) + 1));
        assert_eq!(ix.forget((6 << 8) + 1), Some(6));
        // A new page after the inverse exists.
        ix.set_latest(5000, 1 << 40, false);
        assert_eq!(ix.forget(1 << 40), Some(5000));
        assert_eq!(ix.len(), 998);
        assert_eq!(ix.forget(12345), None, "an address no page has");
    }

    #[test]
    fn add_entries_checks_everything_first_then_applies_in_order() {
        let mut ix = PageIndex::new();
        ix.set_latest(1, 10, false);
        assert_eq!(
            ix.add_entries(&[1, 2], &[20], &[NORMAL_PAGE, NORMAL_PAGE]),
            Err(EntriesError::Lengths)
        );
        assert_eq!(
            ix.add_entries(&[1, 2, 3], &[20, 21, 22], &[NORMAL_PAGE, 4, NORMAL_PAGE]),
            Err(EntriesError::Flags { at: 1, flags: 4 })
        );
        assert_eq!((ix.get(1), ix.len()), (Some(10), 1), "nothing applied");
        // Page 2 written, then freed, then written again; page 1 has a
        // later address already; a tombstone is skipped.
        let ids = [2, 1, 0, 2, 3];
        let addrs = [30, 5, 30, 40, 50];
        let flags = [
            NORMAL_PAGE,
            NORMAL_PAGE,
            DEALLOC_PAGES,
            NORMAL_PAGE,
            TOMBSTONE,
        ];
        assert_eq!(ix.add_entries(&ids, &addrs, &flags), Ok(3));
        assert_eq!(
            (ix.get(1), ix.get(2), ix.get(3)),
            (Some(10), Some(40), None)
        );
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn many_ids_sequential_strided_and_random() {
        let mut ix = PageIndex::new();
        let n = 200_000u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..n {
            ix.set_latest(i, i, false);
            ix.set_latest(i << 20, i + n, false);
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ix.set_latest(x | (1 << 63), i + 2 * n, false);
        }
        assert_eq!(ix.len() as u64, 3 * n - 1, "0 << 20 is page 0 again");
        assert_eq!(ix.get(0), Some(n));
        for i in 1..n {
            assert_eq!(ix.get(i), Some(i));
            assert_eq!(ix.get(i << 20), Some(i + n));
        }
        // About 17 bytes per bucket, at most 7/8 full, at most doubled.
        let per = ix.bytes() as f64 / ix.len() as f64;
        assert!((17.0..=40.0).contains(&per), "{per} bytes per page");
    }

    #[test]
    fn entries_are_every_pair_once_sorted_by_address_on_request() {
        let mut ix = PageIndex::new();
        for i in 0..1000u64 {
            ix.set_latest(i * 7919 % 1000, 1_000_000 - i, false);
        }
        let sorted = ix.entries(true);
        assert_eq!(sorted.len(), 1000);
        assert!(sorted.windows(2).all(|w| w[0].1 < w[1].1));
        for &(id, a) in &sorted {
            assert_eq!(ix.get(id), Some(a));
        }
        let mut any = ix.entries(false);
        any.sort_unstable_by_key(|&(_, a)| a);
        assert_eq!(any, sorted);
        assert!(PageIndex::new().entries(true).is_empty());
    }

    #[test]
    fn bytes_follow_the_capacity() {
        let mut ix = PageIndex::new();
        assert_eq!(ix.bytes(), 0);
        ix.set_latest(1, 1, false);
        let one = ix.bytes();
        assert!(one > 0 && one < 200, "{one}");
        for i in 0..10_000 {
            ix.set_latest(i, i, false);
        }
        let before = ix.bytes();
        ix.forget(3);
        assert!(ix.bytes() > before, "the inverse map counts");
    }
}
