/**
 * The JS↔Rust layout, read from the binding (`crate/binding/src/layout.rs`,
 * the one definition): the words of the per-thread scratch block, the words
 * each scratch call reads and writes, the flags in them, and the word order
 * of a record entry (`recordsFill` and a page file's `entries()` alike),
 * and the words of a record header in the arena (`H_*`).
 * Every index into the block or an entry array is one of these names, never
 * a number (`__test__/contract.spec.ts` checks both).
 */
import * as native from '../load-binding.js'

// Module-level constants, exported by the list below (an `export const`
// would be a property load at each use in the compiled CommonJS).

/** `u32` words in the scratch block. */
const SCRATCH_WORDS: number = native.SCRATCH_WORDS
/** The buffer's slot. */
const S_SLOT: number = native.S_SLOT
/** First of the `u32` argument words. */
const S_ARG: number = native.S_ARG
/** A `u64` argument (two words). */
const S_U64: number = native.S_U64
/** The status word (0, or a negative status). */
const S_STATUS: number = native.S_STATUS
/** First of the `u32` result words. */
const S_OUT: number = native.S_OUT
/** The high word of the `u64` argument (little-endian: low word first). */
const S_U64_HI: number = native.S_U64 + 1
/** First of the two words of a `u64` result. */
const S_OUT_U64: number = native.S_OUT_U64
/** `S_U64` as an index of a `BigUint64Array` over the block. */
const S_U64_BIG: number = native.S_U64 / 2
/** A second `u64` argument, an address, as a `BigUint64Array` index. */
const S_ADDR_BIG: number = native.S_ADDR / 2

/** In: page size, or lane bytes. */
const A_SIZE: number = native.A_SIZE
/** In: a record offset. */
const A_RECORD: number = native.A_RECORD
/** In: 1 to count a writer with the reservation. */
const A_ACQUIRE: number = native.A_ACQUIRE
/** In: a lane's cursor. */
const A_CURSOR: number = native.A_CURSOR
/** In: a lane's end. */
const A_END: number = native.A_END

/** Out: a record offset. */
const O_RECORD: number = native.O_RECORD
/** Out: `RELEASE_FLUSH` when the buffer became flushable. */
const O_RELEASE: number = native.O_RELEASE
/** Out: a lane's cursor. */
const O_CURSOR: number = native.O_CURSOR
/** Out: a lane's end. */
const O_END: number = native.O_END
/** Out: header flags. */
const O_FLAGS: number = native.O_FLAGS
/** Out: a page size. */
const O_SIZE: number = native.O_SIZE
/** Out: the `u64` result (header data, a body's file position): low word. */
const O_U64: number = native.O_U64
/** Out: the `u64` result's high word. */
const O_U64_HI: number = native.O_U64 + 1
/** Out: the `u64` result as a `BigUint64Array` index. */
const O_U64_BIG: number = native.O_U64 / 2
/** Out: bytes allocated. */
const O_ALLOCATED: number = native.O_ALLOCATED
/** Out: writers in progress. */
const O_WRITERS: number = native.O_WRITERS
/** Out: `STATE_SEALED | STATE_FLUSHED`. */
const O_STATE: number = native.O_STATE
/** Out: 1 when the page id has an address (in `O_U64`), or the call changed the index. */
const O_FOUND: number = native.O_FOUND
/** `O_RELEASE`: the buffer is now flushable. */
const RELEASE_FLUSH: number = native.RELEASE_FLUSH
/** `O_STATE` bit: sealed. */
const STATE_SEALED: number = native.STATE_SEALED
/** `O_STATE` bit: flushed. */
const STATE_FLUSHED: number = native.STATE_FLUSHED

/** Words per record entry (and of `recordsFill`'s preamble). */
const REC_WORDS: number = native.REC_WORDS
/** Entry word: the record's offset in its buffer. */
const REC_OFFSET: number = native.REC_OFFSET
/** Entry word: header flags. */
const REC_FLAGS: number = native.REC_FLAGS
/** Entry word: body size. */
const REC_SIZE: number = native.REC_SIZE
/** Entry words: the page id (low, high). */
const REC_ID: number = native.REC_ID
/** Entry word: the page id's high word. */
const REC_ID_HI: number = native.REC_ID + 1
/** Entry: the page id as a `BigUint64Array` index, added to `entry / 2`. */
const REC_ID_BIG: number = native.REC_ID / 2
/** Entry words: the body's position in its page file (low, high). */
const REC_POS: number = native.REC_POS
/** Entry word: the body position's high word. */
const REC_POS_HI: number = native.REC_POS + 1
/** `recordsFill` preamble: the offset to resume at. */
const FILL_NEXT: number = native.FILL_NEXT
/** `recordsFill` preamble: entries that follow. */
const FILL_COUNT: number = native.FILL_COUNT

/** Record header words (low, high): the page id, from the record's first word. */
const H_DATA: number = native.H_DATA
/** The page id's high word. */
const H_DATA_HI: number = native.H_DATA + 1
/** Record header word: the flags. */
const H_FLAGS: number = native.H_FLAGS
/** Record header word: the body size. */
const H_SIZE: number = native.H_SIZE

export {
  SCRATCH_WORDS,
  S_SLOT,
  S_ARG,
  S_U64,
  S_U64_HI,
  S_STATUS,
  S_OUT,
  S_OUT_U64,
  S_U64_BIG,
  S_ADDR_BIG,
  A_SIZE,
  A_RECORD,
  A_ACQUIRE,
  A_CURSOR,
  A_END,
  O_RECORD,
  O_RELEASE,
  O_CURSOR,
  O_END,
  O_FLAGS,
  O_SIZE,
  O_U64,
  O_U64_HI,
  O_U64_BIG,
  O_ALLOCATED,
  O_WRITERS,
  O_STATE,
  O_FOUND,
  RELEASE_FLUSH,
  STATE_SEALED,
  STATE_FLUSHED,
  REC_WORDS,
  REC_OFFSET,
  REC_FLAGS,
  REC_SIZE,
  REC_ID,
  REC_ID_HI,
  REC_ID_BIG,
  REC_POS,
  REC_POS_HI,
  FILL_NEXT,
  FILL_COUNT,
  H_DATA,
  H_DATA_HI,
  H_FLAGS,
  H_SIZE,
}
