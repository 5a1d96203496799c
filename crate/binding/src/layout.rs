//! The JS↔Rust layout, in one place: every word of the per-thread scratch
//! block (see `scratch`), every word a scratch call reads or writes, the
//! flags packed into them, and the word order of a record entry (the same
//! for `recordsFill` and `NativePageFile::entries`). Each name is a `#[napi]`
//! constant that `src/` reads from the binding (never a number of its own),
//! and [`LAYOUT`] lists them all for the agreement test
//! (`__test__/contract.spec.ts` checks the exported constants against it
//! and that `src/` indexes the block and the entries by these names only).

use napi_derive::napi;

/// Declares each constant (`#[napi]`, so JS reads the very same value) and
/// [`LAYOUT`], the list of all of them by name.
macro_rules! layout {
    ($($(#[doc = $doc:literal])* $name:ident = $value:expr;)*) => {
        $(
            $(#[doc = $doc])*
            #[napi]
            pub const $name: u32 = $value;
        )*
        /// Every constant of this module, by its JS name.
        pub const LAYOUT: &[(&str, u32)] = &[$((stringify!($name), $name)),*];
    };
}

layout! {
    // --- The scratch block ---------------------------------------------------

    /// `u32` words in the block (4 KiB).
    SCRATCH_WORDS = 1024;
    /// Word: the buffer's slot (`registry`).
    S_SLOT = 0;
    /// Words 1..=3: a call's `u32` arguments (`A_*` name them).
    S_ARG = 1;
    /// Words 4 and 5: a `u64` argument (low, high), also `BigUint64Array`
    /// element `S_U64 / 2`.
    S_U64 = 4;
    /// Word: status of the call: 0, or a negative status (`-1 - i` for
    /// `errorTable()[i]`, `Code::status`).
    S_STATUS = 8;
    /// Words 9..=11: a call's `u32` results (`O_*` name them).
    S_OUT = 9;
    /// Words 12 and 13: a `u64` result, also `BigUint64Array` element
    /// `S_OUT_U64 / 2`.
    S_OUT_U64 = 12;
    /// Words 14 and 15: a second `u64` argument, an address
    /// (`fastIndexForget`), also `BigUint64Array` element
    /// `S_ADDR / 2`.
    S_ADDR = 14;

    // --- Arguments of the scratch calls --------------------------------------

    /// In: page size (`fastAlloc`), lane bytes
    /// (`fastLaneReserve`).
    A_SIZE = S_ARG;
    /// In: record offset (`fastHeader`, `fastSetTombstone`, `fastSetPageId`;
    /// `fastLaneMark`: the first record not yet marked).
    A_RECORD = S_ARG;
    /// In: 1 to count a writer with the reservation (`fastAlloc`).
    A_ACQUIRE = S_ARG + 1;
    /// In: the lane's cursor (`fastLaneMark`, `fastLaneClose`).
    A_CURSOR = S_ARG + 1;
    /// In: the lane's end (`fastLaneMark`, `fastLaneClose`).
    A_END = S_ARG + 2;

    // --- Results of the scratch calls ----------------------------------------

    /// Out: a record offset (`fastAlloc`, `fastLocate`,
    /// `dealloc`).
    O_RECORD = S_OUT;
    /// Out: `RELEASE_FLUSH` when the buffer became flushable (`fastRelease`,
    /// `fastSeal`, `fastLaneClose`), or 1 when this call marked it flushed
    /// (`fastOnFlushed`).
    O_RELEASE = S_OUT;
    /// Out: the lane's cursor (`fastLaneReserve`: its start; `fastLaneMark`:
    /// where the valid chain stopped; `fastLaneClose` with `ERR_CORRUPT`:
    /// where it broke).
    O_CURSOR = S_OUT + 1;
    /// Out: the lane's end (`fastLaneReserve`).
    O_END = S_OUT + 2;
    /// Out: header flags (`fastHeader`).
    O_FLAGS = S_OUT;
    /// Out: a page (body) size (`fastHeader`, `fastLocate`, a page file's
    /// `locate`).
    O_SIZE = S_OUT + 1;
    /// Out (`u64`): header data (`fastHeader`: the page id), a body's
    /// position in its file (a page file's `locate`).
    O_U64 = S_OUT_U64;
    /// Out: bytes allocated (`fastState`).
    O_ALLOCATED = S_OUT;
    /// Out: writers in progress (`fastState`).
    O_WRITERS = S_OUT + 1;
    /// Out: `STATE_SEALED | STATE_FLUSHED` bits (`fastState`).
    O_STATE = S_OUT + 2;
    /// Out: 1 when the page id has an address, in `O_U64` (`fastIndexGet`);
    /// 1 when the address freed a page (`fastIndexForget`).
    O_FOUND = S_OUT;

    // --- Flags in those results ----------------------------------------------

    /// `O_RELEASE`: the buffer is now sealed with no writer: flush it.
    RELEASE_FLUSH = 1;
    /// `O_STATE` bit: sealed.
    STATE_SEALED = 1;
    /// `O_STATE` bit: flushed (`onFlushed` ran).
    STATE_FLUSHED = 2;

    // --- Record entries (`recordsFill`, `NativePageFile::entries`) -----------

    /// Words per record entry (and of `recordsFill`'s preamble).
    REC_WORDS = 8;
    /// Entry word: the record's offset in its buffer.
    REC_OFFSET = 0;
    /// Entry word: header flags.
    REC_FLAGS = 1;
    /// Entry word: body size.
    REC_SIZE = 2;
    /// Entry words (low, high): the page id (0 for a dealloc record); a
    /// `BigUint64Array` element at `(entry + REC_ID) / 2`.
    REC_ID = 4;
    /// Entry words (low, high): the body's position in its page file (0 in
    /// `recordsFill`).
    REC_POS = 6;
    /// `recordsFill` preamble word: the offset to resume at.
    FILL_NEXT = 0;
    /// `recordsFill` preamble word: entries that follow.
    FILL_COUNT = 1;

    // --- A record header in the arena, as `u32` words from its start -------
    // (JS writes lane pages' headers and reads them when iterating; the
    // core's `record.rs` offsets, little-endian.)

    /// Header words (low, high): `data`, the page id (0 for a dealloc record).
    H_DATA = (photon_wb_core::DATA_OFFSET / 4) as u32;
    /// Header word: `flags` (`NORMAL_PAGE`, `DEALLOC_PAGES`, `TOMBSTONE`).
    H_FLAGS = (photon_wb_core::FLAGS_OFFSET / 4) as u32;
    /// Header word: `page_size`, the body bytes before padding.
    H_SIZE = (photon_wb_core::SIZE_OFFSET / 4) as u32;
}

// Compile-time: the header's fields are whole, distinct u32 words of its 16 bytes.
const _: () = assert!(
    photon_wb_core::DATA_OFFSET.is_multiple_of(8)
        && photon_wb_core::FLAGS_OFFSET.is_multiple_of(4)
        && photon_wb_core::SIZE_OFFSET.is_multiple_of(4)
        && H_DATA + 1 < H_FLAGS
        && H_FLAGS < H_SIZE
        && (H_SIZE + 1) * 4 == photon_wb_core::HEADER_SIZE
);

// Compile-time: the u64 words of an entry and the preamble fit an entry.
const _: () = assert!(REC_POS + 1 < REC_WORDS && REC_ID + 1 < REC_WORDS);
const _: () = assert!(FILL_NEXT < REC_WORDS && FILL_COUNT < REC_WORDS);

/// One record entry in the word order of `REC_*`.
pub fn record_entry(offset: u32, flags: u32, size: u32, id: u64, pos: u64) -> [u32; 8] {
    let mut e = [0; REC_WORDS as usize];
    e[REC_OFFSET as usize] = offset;
    e[REC_FLAGS as usize] = flags;
    e[REC_SIZE as usize] = size;
    e[REC_ID as usize] = id as u32;
    e[REC_ID as usize + 1] = (id >> 32) as u32;
    e[REC_POS as usize] = pos as u32;
    e[REC_POS as usize + 1] = (pos >> 32) as u32;
    e
}

/// Every name and value of the layout (the agreement test compares it with
/// the exported constants and with what `src/` reads).
#[napi]
pub fn layout() -> std::collections::HashMap<String, u32> {
    LAYOUT.iter().map(|&(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(words: &[u32]) {
        for (i, a) in words.iter().enumerate() {
            assert!(
                !words[i + 1..].contains(a),
                "word {a} used twice in {words:?}"
            );
        }
    }

    #[test]
    fn the_scratch_words_fit_the_block_and_do_not_overlap() {
        // Each region: start and length in words.
        let regions = [
            (S_SLOT, 1),
            (S_ARG, 3),
            (S_U64, 2),
            (S_STATUS, 1),
            (S_OUT, 3),
            (S_OUT_U64, 2),
            (S_ADDR, 2),
        ];
        for (i, &(a, n)) in regions.iter().enumerate() {
            assert!(a + n <= SCRATCH_WORDS);
            for &(b, m) in &regions[i + 1..] {
                assert!(a + n <= b || b + m <= a, "{a}+{n} overlaps {b}+{m}");
            }
        }
        assert_eq!(S_U64 % 2, 0, "S_U64 must be a BigUint64Array element");
        assert_eq!(
            S_OUT_U64 % 2,
            0,
            "S_OUT_U64 must be a BigUint64Array element"
        );
        for w in [A_SIZE, A_RECORD, A_ACQUIRE, A_CURSOR, A_END] {
            assert!((S_ARG..S_ARG + 3).contains(&w));
        }
        for w in [O_RECORD, O_RELEASE, O_CURSOR, O_END, O_FLAGS, O_SIZE] {
            assert!((S_OUT..S_OUT + 3).contains(&w));
        }
        assert_eq!(O_U64, S_OUT_U64);
        assert_eq!(S_ADDR % 2, 0, "S_ADDR must be a BigUint64Array element");
        assert!((S_OUT..S_OUT + 3).contains(&O_FOUND));
    }

    #[test]
    fn each_call_reads_and_writes_distinct_words() {
        distinct(&[A_SIZE, A_ACQUIRE]); // fastAlloc
        distinct(&[A_RECORD, A_CURSOR, A_END]); // fastLaneMark
        distinct(&[O_RELEASE, O_CURSOR]); // fastLaneClose
        distinct(&[O_CURSOR, O_END]); // fastLaneReserve
        distinct(&[O_RECORD, O_SIZE]); // fastLocate
        distinct(&[O_FLAGS, O_SIZE]); // fastHeader
        distinct(&[O_ALLOCATED, O_WRITERS, O_STATE]); // fastState
        assert_eq!(STATE_SEALED & STATE_FLUSHED, 0);
    }

    #[test]
    fn a_record_entry_has_one_word_order() {
        distinct(&[
            REC_OFFSET,
            REC_FLAGS,
            REC_SIZE,
            REC_ID,
            REC_ID + 1,
            REC_POS,
            REC_POS + 1,
        ]);
        assert_eq!(
            REC_ID % 2,
            0,
            "the page id must be a BigUint64Array element"
        );
        assert_eq!(REC_WORDS % 2, 0, "entries must keep u64 words aligned");
        distinct(&[FILL_NEXT, FILL_COUNT]);
        let e = record_entry(1, 2, 3, 0x5_0000_0004, 0x7_0000_0006);
        assert_eq!(e[REC_OFFSET as usize], 1);
        assert_eq!(e[REC_FLAGS as usize], 2);
        assert_eq!(e[REC_SIZE as usize], 3);
        assert_eq!((e[REC_ID as usize], e[REC_ID as usize + 1]), (4, 5));
        assert_eq!((e[REC_POS as usize], e[REC_POS as usize + 1]), (6, 7));
    }

    #[test]
    fn the_table_names_every_constant_once() {
        let names: Vec<_> = LAYOUT.iter().map(|(k, _)| *k).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} twice");
        }
        assert!(names.contains(&"S_STATUS") && names.contains(&"REC_POS"));
    }
}
