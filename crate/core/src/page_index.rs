//! The page index of a page log: page id → latest address, for any number
//! of page ids that fits in memory, at 18–37 bytes per page (an own
//! open-addressing table: 16 bytes a slot, at most 7/8 of the slots full,
//! doubled when full; see docs/BENCHMARKS.md, "The page index").
//!
//! The table is a power-of-two array of `(page id, address)` slots with
//! linear probing from the slot [`FoldHasher`] picks; an address of
//! [`EMPTY`] (`u64::MAX - 1`, never a page address: a page's body offset is
//! a multiple of 8) marks a free slot; a removal shifts the slots after it
//! back (no tombstones). Its slots are plain words in a fixed layout, so the
//! whole table can be saved and loaded as one image ([`PageIndex::image`],
//! [`PageIndex::from_image`]; the checkpoint of `crate::checkpoint`).
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
/// bit reaches the low bits (the slot). Sequential and strided page ids
/// spread. Part of the checkpoint format: a table image is only valid for
/// this exact function.
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
        fold(self.0)
    }
}

/// The hash of key `v` (what [`FoldHasher`] finishes with).
#[inline]
pub fn fold(v: u64) -> u64 {
    let m = u128::from(v.wrapping_add(SEED)) * u128::from(MULT);
    (m as u64) ^ ((m >> 64) as u64)
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

/// The address of a free slot: never a page address (a page's address is
/// `group << 32 | body offset`, and a body offset is a multiple of 8).
/// Not `u64::MAX`, which callers use as a stand-in address in tests.
pub const EMPTY: u64 = u64::MAX - 1;

/// One slot of the table: a page id and its latest address ([`EMPTY`]: a
/// free slot, whatever `id` holds). Two little-endian words in an image.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub id: u64,
    pub addr: u64,
}

const FREE: Slot = Slot { id: 0, addr: EMPTY };

/// The fewest slots a table that holds anything has.
const MIN_SLOTS: usize = 8;

/// Slots for `n` entries at most 7/8 full (a power of two, 0 for 0).
fn slots_for(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n.saturating_mul(8).div_ceil(7))
        .max(MIN_SLOTS)
        .checked_next_power_of_two()
        .expect("a page index of more than 2^63 slots")
}

/// The open-addressing table (see the module's documentation).
#[derive(Default, Clone)]
struct Table {
    /// Empty, or a power of two of them.
    slots: Vec<Slot>,
    len: usize,
}

/// Where a key is, or where it would go.
enum Probe {
    Found(usize),
    Vacant(usize),
}

impl Table {
    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn home(&self, id: u64) -> usize {
        fold(id) as usize & self.mask()
    }

    /// The slot of `id`, or the free slot where it would go (the table must
    /// have a free slot: it is at most 7/8 full).
    #[inline]
    fn probe(&self, id: u64) -> Probe {
        let mask = self.mask();
        let mut i = self.home(id);
        loop {
            let s = self.slots[i];
            if s.addr == EMPTY {
                return Probe::Vacant(i);
            }
            if s.id == id {
                return Probe::Found(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get(&self, id: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        match self.probe(id) {
            Probe::Found(i) => Some(self.slots[i].addr),
            Probe::Vacant(_) => None,
        }
    }

    /// Room for `additional` more entries without growing.
    fn reserve(&mut self, additional: usize) {
        let want = slots_for(self.len.saturating_add(additional));
        if want > self.slots.len() {
            self.rehash(want);
        }
    }

    /// Moves every entry into a table of `n` slots.
    fn rehash(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, vec![FREE; n]);
        let mask = n - 1;
        for s in old.into_iter().filter(|s| s.addr != EMPTY) {
            let mut i = fold(s.id) as usize & mask;
            while self.slots[i].addr != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// The slot of `id`, made (with no address yet: the caller sets one)
    /// if it has none; `true` when it was made.
    #[inline]
    fn entry(&mut self, id: u64) -> (usize, bool) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.rehash(slots_for(self.len + 1).max(self.slots.len() * 2));
        }
        match self.probe(id) {
            Probe::Found(i) => (i, false),
            Probe::Vacant(i) => {
                self.slots[i].id = id;
                self.len += 1;
                (i, true)
            }
        }
    }

    /// Removes `id`; returns its address. The slots after it in its run
    /// move back into the hole when that is closer to their home slot
    /// (backward-shift deletion: no tombstones, lookups stay short).
    fn remove(&mut self, id: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let Probe::Found(mut hole) = self.probe(id) else {
            return None;
        };
        let addr = self.slots[hole].addr;
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.addr == EMPTY {
                break;
            }
            let home = self.home(s.id);
            // `s` may move to `hole` unless its home lies after the hole
            // (cyclically) and at or before `j`: then it must stay at or
            // after its home.
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = FREE;
        self.len -= 1;
        Some(addr)
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.addr != EMPTY)
            .map(|s| (s.id, s.addr))
    }

    /// Whether `slots` is a table this code could have made with `len`
    /// entries: a power of two of slots (or none), at most 7/8 full, and
    /// each entry in the run of full slots that starts at or before its
    /// home slot (so a lookup finds it) — one pass, no inserts.
    fn valid(slots: &[Slot], len: usize) -> bool {
        let n = slots.len();
        if n == 0 {
            return len == 0;
        }
        if !n.is_power_of_two() || n < MIN_SLOTS || len.saturating_mul(8) > n * 7 {
            return false;
        }
        let mask = n - 1;
        let Some(first_free) = slots.iter().position(|s| s.addr == EMPTY) else {
            return false;
        };
        let mut full = 0usize;
        // The start of the current run of full slots (cyclically), walking
        // from just after a free slot.
        let mut run = 1usize;
        for k in 1..=n {
            let i = (first_free + k) & mask;
            let s = slots[i];
            if s.addr == EMPTY {
                run = k + 1;
                continue;
            }
            full += 1;
            // Distances from the walk's start: the home must lie in
            // [run, k] (the run holds no free slot, so a probe from the
            // home reaches `i`).
            let home = fold(s.id) as usize & mask;
            let at = (home + n - first_free) & mask;
            let at = if at == 0 { n } else { at };
            if at < run || at > k {
                return false;
            }
        }
        full == len
    }
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
    latest: Table,
    /// Address → page id, for `forget`: built at its first call.
    owner: Option<Map>,
}

impl PageIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `additional` more page ids without growing the table.
    pub fn reserve(&mut self, additional: usize) {
        self.latest.reserve(additional);
    }

    /// Page ids with an address.
    pub fn len(&self) -> usize {
        self.latest.len
    }

    pub fn is_empty(&self) -> bool {
        self.latest.len == 0
    }

    /// Heap bytes held by the index (the table, and the inverse map).
    pub fn bytes(&self) -> usize {
        self.latest.slots.len() * std::mem::size_of::<Slot>()
            + self.owner.as_ref().map_or(0, map_bytes)
    }

    /// Whether the inverse map (address → page id) exists.
    pub fn has_owner_map(&self) -> bool {
        self.owner.is_some()
    }

    #[inline]
    pub fn get(&self, page_id: u64) -> Option<u64> {
        self.latest.get(page_id)
    }

    /// `addr` becomes the latest address of `page_id` (with `only_if_later`:
    /// unless it has a higher one). Returns whether it did. [`EMPTY`] is no
    /// address: never taken.
    #[inline]
    pub fn set_latest(&mut self, page_id: u64, addr: u64, only_if_later: bool) -> bool {
        if addr == EMPTY {
            return false;
        }
        let old = if only_if_later && self.latest.len > 0 {
            // A lookup first: an older address changes nothing (and must
            // not grow the table).
            match self.latest.probe(page_id) {
                Probe::Found(i) if self.latest.slots[i].addr >= addr => return false,
                _ => self.put(page_id, addr),
            }
        } else {
            self.put(page_id, addr)
        };
        if let Some(owner) = &mut self.owner {
            if let Some(old) = old {
                owner.remove(&old);
            }
            owner.insert(addr, page_id);
        }
        true
    }

    /// Stores `addr` for `page_id`; returns the address it replaced.
    #[inline]
    fn put(&mut self, page_id: u64, addr: u64) -> Option<u64> {
        let (i, made) = self.latest.entry(page_id);
        let old = std::mem::replace(&mut self.latest.slots[i].addr, addr);
        (!made).then_some(old)
    }

    /// A dealloc record frees `addr`: the page whose latest address it is
    /// loses its entry. Returns that page id, if any.
    pub fn forget(&mut self, addr: u64) -> Option<u64> {
        let latest = &mut self.latest;
        let owner = self.owner.get_or_insert_with(|| {
            let mut owner = Map::with_capacity_and_hasher(latest.len, Default::default());
            owner.extend(latest.iter().map(|(id, a)| (a, id)));
            owner
        });
        let page_id = owner.remove(&addr)?;
        latest.remove(page_id);
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
        if self.is_empty() {
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
        let mut v: Vec<(u64, u64)> = self.latest.iter().collect();
        if by_addr {
            // Addresses are distinct, so an unstable sort gives one order.
            v.sort_unstable_by_key(|&(_, a)| a);
        }
        v
    }

    /// A copy of the table (one `memcpy`): its slots and entry count, to
    /// save as an image. The inverse map is not part of it.
    pub fn image(&self) -> (Vec<Slot>, usize) {
        (self.latest.slots.clone(), self.latest.len)
    }

    /// Whether `slots` holding `len` entries is a table this code could
    /// have made: [`PageIndex::from_image`]'s checks, and each entry in the
    /// run of full slots that starts at or before its home slot (so a
    /// lookup finds it). One pass, a hash per entry.
    pub fn check_image(slots: &[Slot], len: usize) -> bool {
        Table::valid(slots, len)
    }

    /// The slots of the table (for writing an image of it).
    pub fn slots(&self) -> &[Slot] {
        &self.latest.slots
    }

    /// An index whose table is `slots` holding `len` entries (an image
    /// from [`PageIndex::image`], loaded without an insert), or `None` when
    /// the slots cannot be such a table: not a power of two of them, more
    /// than 7/8 full, or not `len` full slots (then nothing of it may be
    /// used). That much makes every operation on it end (a probe always
    /// meets a free slot); where each entry sits is trusted to the image's
    /// checksum (checking it costs a hash per entry:
    /// [`PageIndex::check_image`]).
    pub fn from_image(slots: Vec<Slot>, len: usize) -> Option<Self> {
        let full = full_slots(&slots);
        Self::from_counted_image(slots, len, full)
    }

    /// [`PageIndex::from_image`] where the caller counted the full slots
    /// (`full`, with [`full_slots`]) as it read them.
    pub fn from_counted_image(slots: Vec<Slot>, len: usize, full: usize) -> Option<Self> {
        let n = slots.len();
        let shape = if n == 0 {
            len == 0
        } else {
            n.is_power_of_two() && n >= MIN_SLOTS && len.saturating_mul(8) <= n * 7
        };
        if !shape || full != len {
            return None;
        }
        Some(PageIndex {
            latest: Table { slots, len },
            owner: None,
        })
    }
}

/// How many of `slots` hold an entry.
pub fn full_slots(slots: &[Slot]) -> usize {
    slots.iter().filter(|s| s.addr != EMPTY).count()
}

/// The bytes of `slots` (two native-endian words each).
pub fn slot_bytes(slots: &[Slot]) -> &[u8] {
    // SAFETY: `Slot` is `repr(C)` of two `u64`s (16 bytes, no padding), so
    // the slice's memory is `len * 16` initialised bytes; `u8` has
    // alignment 1; the returned slice borrows `slots`, so it cannot outlive
    // or alias a write to them.
    unsafe { std::slice::from_raw_parts(slots.as_ptr().cast::<u8>(), std::mem::size_of_val(slots)) }
}

/// The bytes of `slots`, to be overwritten (e.g. by a read from a file).
pub fn slot_bytes_mut(slots: &mut [Slot]) -> &mut [u8] {
    // SAFETY: as `slot_bytes`; any byte pattern is a valid `u64`, so every
    // write through the returned slice leaves valid `Slot`s; the slice holds
    // the only (mutable) borrow of `slots` while it lives.
    unsafe {
        std::slice::from_raw_parts_mut(
            slots.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(slots),
        )
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

    /// A model check: random sets, only-if-later sets, removals and
    /// forgets against a `HashMap`, on a key space small enough that runs
    /// collide and wrap, through several growths.
    #[test]
    fn the_table_matches_a_map_through_collisions_removals_and_growth() {
        let mut ix = PageIndex::new();
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        // Distinct addresses: new ones above every old one.
        let mut next_addr = 1u64 << 40;
        let mut old_addr = 16u64;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys, some of them huge.
            let id = if x & 1 == 0 {
                x % 3000
            } else {
                u64::MAX - x % 50
            };
            match (x >> 8) % 8 {
                0..=3 => {
                    next_addr += 8;
                    assert!(ix.set_latest(id, next_addr, false));
                    model.insert(id, next_addr);
                }
                4 => {
                    // Older than anything: ignored if the page has one.
                    old_addr += 8;
                    let took = ix.set_latest(id, old_addr, true);
                    let later = model.get(&id).is_none_or(|&a| a < old_addr);
                    assert_eq!(took, later);
                    if later {
                        model.insert(id, old_addr);
                    }
                }
                5 | 6 => {
                    if let Some(&a) = model.get(&id) {
                        assert_eq!(ix.forget(a), Some(id), "step {step}");
                        model.remove(&id);
                    }
                }
                _ => {
                    // A superseded or unknown address frees nothing.
                    assert_eq!(ix.forget(next_addr + 4), None);
                }
            }
            if step.is_multiple_of(9973) {
                assert!(Table::valid(&ix.latest.slots, ix.len()), "step {step}");
            }
        }
        assert_eq!(ix.len(), model.len());
        for (&id, &a) in &model {
            assert_eq!(ix.get(id), Some(a));
        }
        let mut got = ix.entries(false);
        got.sort_unstable();
        let mut want: Vec<_> = model.into_iter().collect();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn the_raw_table_matches_a_map_through_removals() {
        let mut t = Table::default();
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 700;
            if (x >> 20).is_multiple_of(3) {
                assert_eq!(t.remove(id), model.remove(&id), "step {step}");
            } else {
                let (i, made) = t.entry(id);
                assert_eq!(made, !model.contains_key(&id));
                t.slots[i].addr = step * 8 + 16;
                model.insert(id, step * 8 + 16);
            }
            assert_eq!(t.len, model.len());
        }
        assert!(Table::valid(&t.slots, t.len));
        for id in 0..700 {
            assert_eq!(t.get(id), model.get(&id).copied());
        }
    }

    #[test]
    fn removal_shifts_a_wrapped_run_back() {
        // Keys whose home is the last slot of an 8-slot table: their run
        // wraps to the front; removing the first must keep the rest found.
        let mut t = Table {
            slots: vec![FREE; 8],
            len: 0,
        };
        let same: Vec<u64> = (0..u64::MAX)
            .filter(|&k| fold(k) & 7 == 7)
            .take(4)
            .collect();
        let other = (0..u64::MAX).find(|&k| fold(k) & 7 == 0).unwrap();
        for (n, &k) in same.iter().enumerate() {
            let (i, made) = t.entry(k);
            assert!(made);
            t.slots[i].addr = n as u64 * 8 + 16;
        }
        let (i, _) = t.entry(other);
        t.slots[i].addr = 1000;
        assert_eq!(t.slots.len(), 8, "5 of 8: no growth");
        assert!(Table::valid(&t.slots, 5));
        assert_eq!(t.remove(same[0]), Some(16));
        assert!(Table::valid(&t.slots, 4));
        for (n, &k) in same.iter().enumerate().skip(1) {
            assert_eq!(t.get(k), Some(n as u64 * 8 + 16));
        }
        assert_eq!(t.get(other), Some(1000));
        assert_eq!(t.get(same[0]), None);
        assert_eq!(t.remove(same[0]), None);
    }

    #[test]
    fn grows_at_seven_eighths_and_reserve_sizes_once() {
        let mut ix = PageIndex::new();
        for i in 0..7u64 {
            ix.set_latest(i, i * 8 + 16, false);
        }
        assert_eq!(ix.latest.slots.len(), 8, "7 of 8");
        ix.set_latest(7, 72, false);
        assert_eq!(ix.latest.slots.len(), 16, "the 8th doubles it");
        let mut r = PageIndex::new();
        r.reserve(1000);
        let n = r.latest.slots.len();
        assert_eq!(n, 2048, "1000 * 8/7 rounded up to a power of two");
        for i in 0..1000u64 {
            r.set_latest(i, i * 8 + 16, false);
        }
        assert_eq!(r.latest.slots.len(), n, "no growth after the reserve");
        assert_eq!(r.bytes(), n * 16);
    }

    #[test]
    fn an_empty_address_is_never_taken() {
        let mut ix = PageIndex::new();
        assert!(!ix.set_latest(3, EMPTY, false));
        assert_eq!((ix.get(3), ix.len()), (None, 0));
        ix.set_latest(3, 16, false);
        assert!(!ix.set_latest(3, EMPTY, false));
        assert_eq!(ix.get(3), Some(16));
    }

    #[test]
    fn an_image_loads_without_inserts_and_a_bad_one_is_refused() {
        let mut ix = PageIndex::new();
        for i in 0..5000u64 {
            ix.set_latest(i * 31, (i << 32) | 16, false);
        }
        ix.forget(7 << 32 | 16);
        let (slots, len) = ix.image();
        let bytes = slot_bytes(&slots).to_vec();
        assert_eq!(bytes.len(), slots.len() * 16);
        let mut back = vec![FREE; slots.len()];
        slot_bytes_mut(&mut back).copy_from_slice(&bytes);
        let loaded = PageIndex::from_image(back.clone(), len).expect("valid");
        assert_eq!(loaded.len(), 4999);
        assert_eq!(loaded.entries(true), ix.entries(true));
        assert!(!loaded.has_owner_map());
        // Wrong count, wrong size, an entry out of its run: refused.
        assert!(PageIndex::from_image(back.clone(), len + 1).is_none());
        assert!(PageIndex::from_image(back[..back.len() - 1].to_vec(), len).is_none());
        let full = back.iter().position(|s| s.addr != EMPTY).unwrap();
        let free = (full..back.len()).find(|&i| back[i].addr == EMPTY).unwrap();
        let mut moved = back.clone();
        // The entry just before a free slot, moved past the next free one.
        let last = free - 1;
        let far = (free + 1..moved.len())
            .find(|&i| moved[i].addr == EMPTY)
            .unwrap();
        moved[far] = moved[last];
        moved[last] = FREE;
        assert!(!PageIndex::check_image(&moved, len));
        assert!(PageIndex::check_image(&back, len));
        assert!(PageIndex::from_image(Vec::new(), 0).is_some());
        assert!(PageIndex::from_image(vec![FREE; 8], 0).is_some());
        assert!(PageIndex::from_image(vec![FREE; 12], 0).is_none());
        let full = vec![Slot { id: 1, addr: 16 }; 8];
        assert!(PageIndex::from_image(full, 8).is_none(), "no free slot");
    }
}
