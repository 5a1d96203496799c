/**
 * The index of a PageLog: page id → latest address, and the keys the
 * PageLog's own maps use. The index itself lives in Rust
 * (`crate/core/src/page_index.rs`, `crate/binding/src/page_index.rs`): 29–40
 * bytes per page where JS `Map`s with `bigint` values took 83–136 (RSS;
 * docs/BENCHMARKS.md, "The page index"), for any number of page ids that
 * fits in memory.
 */
import { outOfRange } from '../args.ts'
import { statusError } from '../errors.ts'
import { O_FOUND, O_U64_BIG, S_ADDR_BIG, S_SLOT, S_STATUS, S_U64, S_U64_BIG, S_U64_HI } from '../layout.ts'
import { unknownKind } from '../records.ts'
import { S32, S64, SI32 } from '../scratch.ts'
import type { BufferRecord } from '../types.ts'
import * as native from '../../load-binding.js'

/**
 * A page id as a Map key: a number when it is a safe integer (hashing a
 * number is far cheaper than hashing a bigint), else the bigint. The same
 * page id always gives the same key, whichever type it came in.
 */
export type Key = number | bigint

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

export function keyOf(id: Key): Key {
  return typeof id === 'number' || id > MAX_SAFE ? id : Number(id)
}

// The scratch calls, read once (not through the loader's module object per call).
const { fastIndexGet, fastIndexForget, NativePageIndex } = native

const TWO_32 = 2 ** 32

/** Writes page id `key` (a u64: a non-negative safe integer or a bigint) into the scratch block. */
function putKey(key: Key): void {
  if (typeof key === 'number') {
    S32[S_U64] = key >>> 0
    S32[S_U64_HI] = (key / TWO_32) >>> 0
  } else S64[S_U64_BIG] = key
}

function check(what: string): void {
  const status = SI32[S_STATUS]
  if (status !== 0) throw statusError(status, what)
}

/** Entries per chunk of `entries()`. */
const CHUNK = 4096

/** `setLatest` calls that wait in JS for one native `setMany` (16 bytes each). */
const BATCH = 1024
/** The batch's two typed arrays (V8 counts them as external memory). */
const BATCH_BYTES = 2 * 8 * BATCH

/**
 * Page id → latest address (u64 → u64, in Rust). A dealloc record's
 * addresses free the pages whose latest address they are (the first one
 * builds the inverse map, address → page id, which then doubles the
 * memory). The bytes it holds are reported to V8 as external memory.
 * Lives on the thread that made it.
 *
 * `setLatest` (one per append) costs no native call: it writes the pair
 * into a batch that reaches Rust a thousand at a time; every other method
 * applies the batch first, so what it sees is in call order.
 */
export class PageIndex {
  /** The native index: this object keeps it (and its slot) alive. */
  readonly #native: InstanceType<typeof NativePageIndex>
  readonly #slot: number
  // The batch: page ids (a safe-integer key as two u32 words through
  // `#ids32`, a bigint key through `#ids`), addresses, how many, and the
  // `onlyIfLater` they all share.
  readonly #ids = new BigUint64Array(BATCH)
  readonly #ids32 = new Uint32Array(this.#ids.buffer)
  readonly #addrs = new BigUint64Array(BATCH)
  #n = 0
  #later = false

  constructor() {
    this.#native = new NativePageIndex()
    this.#slot = this.#native.slot
  }

  /**
   * Takes the index a segment recovery built as it read (`recoverSegments`
   * with `index: true`): it becomes this one if this one is empty (no
   * copy), else its entries are added, each only if later. Returns the
   * page ids it held.
   */
  absorb(recovery: { readonly native: native.NativeRecovery }): number {
    this.#apply()
    return this.#native.absorb(recovery.native)
  }

  /**
   * A copy of the index (one `memcpy`), to write as the checkpoint of the
   * log's directory (`index.pwi`) with `write(dir, groups)`, off the JS
   * thread: `groups` must be every sealed segment whose records the copy
   * holds, and nothing else may be in it.
   */
  checkpointImage(): native.NativeCheckpointImage {
    this.#apply()
    return this.#native.checkpointImage()
  }

  /** Page ids with an address. */
  get size(): number {
    this.#apply()
    return this.#native.size
  }

  /** Bytes the index holds (its hash tables and the batch). */
  get bytes(): number {
    this.#apply()
    return this.#native.bytes + BATCH_BYTES
  }

  get(key: Key): bigint | undefined {
    this.#apply()
    S32[S_SLOT] = this.#slot
    putKey(key)
    fastIndexGet()
    check('PageIndex.get')
    return S32[O_FOUND] === 1 ? S64[O_U64_BIG] : undefined
  }

  /** `addr` is the latest address of `key` (with `onlyIfLater`: unless it already has a higher one). */
  setLatest(key: Key, addr: bigint, onlyIfLater = false): void {
    let n = this.#n
    if (n !== 0 && onlyIfLater !== this.#later) {
      this.#apply()
      n = 0
    }
    if (typeof key === 'number') {
      // Little-endian words of element n (as `putKey`).
      this.#ids32[2 * n] = key >>> 0
      this.#ids32[2 * n + 1] = (key / TWO_32) >>> 0
    } else this.#ids[n] = key
    this.#addrs[n] = addr
    this.#later = onlyIfLater
    this.#n = ++n
    if (n === BATCH) this.#apply()
  }

  /** Applies the batch of `setLatest` calls, in order. */
  #apply(): void {
    const n = this.#n
    if (n === 0) return
    this.#n = 0
    this.#native.setMany(this.#ids, this.#addrs, n, this.#later)
  }

  /** A dealloc record frees `addr`: the page id whose latest address it is loses its entry. */
  forget(addr: bigint): void {
    this.#apply()
    S32[S_SLOT] = this.#slot
    S64[S_ADDR_BIG] = addr
    fastIndexForget()
    check('PageIndex.forget')
  }

  /**
   * Indexes records in buffer order (buffers and files in group order): a
   * page's address becomes its latest (with `onlyIfLater`: unless it has a
   * higher one), a dealloc record frees the addresses it lists. `fromFile`
   * and `what` name the records' source in the error for an unknown kind.
   * Returns how many page records there were.
   */
  addRecords(records: Iterable<BufferRecord>, onlyIfLater: boolean, what: string, fromFile: boolean): number {
    let pages = 0
    for (const r of records) {
      switch (r.kind) {
        case 'page':
          this.setLatest(r.pageId, r.addr, onlyIfLater)
          pages++
          break
        case 'dealloc':
          for (const a of r.addrs) this.forget(a)
          break
        default:
          throw unknownKind((r as { kind: unknown }).kind, what, fromFile)
      }
    }
    return pages
  }

  /**
   * Indexes entries in log order, in one native call (a segment's index at
   * recovery): entry `i` with `flags[i]` `NORMAL_PAGE`: `addrs[i]` becomes
   * the latest address of page `pageIds[i]` unless it has a higher one;
   * `DEALLOC_PAGES`: `addrs[i]` is freed (`pageIds[i]` is not read);
   * `TOMBSTONE`: skipped. Any other flags: nothing is applied, and the
   * error is `unknownKind` (`ERR_CORRUPT` when `fromFile`). The three
   * arrays have one length (else a RangeError). Returns how many page
   * entries there were.
   */
  addEntries(
    pageIds: BigUint64Array,
    addrs: BigUint64Array,
    flags: Uint32Array,
    what = 'PageIndex.addEntries',
    fromFile = true,
  ): number {
    if (!(pageIds instanceof BigUint64Array) || !(addrs instanceof BigUint64Array) || !(flags instanceof Uint32Array)) {
      throw new TypeError(`${what}: pageIds and addrs must be BigUint64Arrays, flags a Uint32Array`)
    }
    if (pageIds.length !== flags.length || addrs.length !== flags.length) {
      throw new RangeError(`${what}: pageIds, addrs and flags must have the same length`)
    }
    this.#apply()
    const r = this.#native.addEntries(pageIds, addrs, flags)
    if (r < 0) throw unknownKind(flags[-1 - r], what, fromFile)
    return r
  }

  /**
   * Every page id with its latest address, as `[pageId, addr]` (bigints),
   * sorted by address (`byAddr`, the default) or in no order. A snapshot
   * taken at the first step (16 bytes per page until the iteration ends);
   * later changes to the index do not show.
   */
  *entries(byAddr = true): IterableIterator<[bigint, bigint]> {
    for (const [ids, addrs, n] of this.chunks(byAddr)) {
      for (let i = 0; i < n; i++) yield [ids[i], addrs[i]]
    }
  }

  /**
   * As `entries`, a chunk at a time: `[pageIds, addrs, n]`, the first `n`
   * elements of the two arrays valid (reused by the next chunk).
   */
  *chunks(byAddr = true, size = CHUNK): IterableIterator<[BigUint64Array, BigUint64Array, number]> {
    if (!Number.isSafeInteger(size) || size < 1) throw outOfRange('size', '>= 1', size)
    this.#apply()
    const snapshot = this.#native.entries(byAddr)
    const ids = new BigUint64Array(size)
    const addrs = new BigUint64Array(size)
    for (;;) {
      const n = snapshot.fill(ids, addrs)
      if (n === 0) return
      yield [ids, addrs, n]
    }
  }
}
