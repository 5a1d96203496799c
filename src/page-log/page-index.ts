/** The index of a PageLog: page id → latest address, and the keys it uses. */
import { unknownKind } from '../records.ts'
import type { BufferRecord } from '../types.ts'
import { SHARD_LIMIT, ShardedMap } from './sharded-map.ts'

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

/**
 * Page id → latest address; and, once a dealloc record was met, its inverse.
 * Both hold any number of entries that fits in memory (`ShardedMap`: a
 * `Map` alone stops at 2^24 - 1).
 */
export class PageIndex {
  // Keys are page ids as numbers when they are safe integers (a Map hashes
  // those far faster than bigints), else as bigints: see `keyOf`.
  readonly #index: ShardedMap<Key, bigint>
  /** `#index`'s one `Map` while it has only one (the hot path goes straight to it), else null. */
  #one: Map<Key, bigint> | null
  /** Address → key: built only when a dealloc record is met (recovery), then kept up to date. */
  #owner: ShardedMap<bigint, Key> | null = null
  readonly #shardLimit: number

  /** @param shardLimit entries per `Map` before it splits (see `ShardedMap`; tests pass a small one) */
  constructor(shardLimit = SHARD_LIMIT) {
    this.#shardLimit = shardLimit
    this.#index = new ShardedMap(shardLimit)
    this.#one = this.#index.single
  }

  /** How many `Map`s hold the page ids (for tests). */
  get shards(): number {
    return this.#index.shards
  }

  /** Page ids with an address. */
  get size(): number {
    return this.#index.size
  }

  get(key: Key): bigint | undefined {
    const one = this.#one
    return one !== null ? one.get(key) : this.#index.get(key)
  }

  /** `addr` is the latest address of `key` (with `onlyIfLater`: unless it already has a higher one). */
  setLatest(key: Key, addr: bigint, onlyIfLater = false): void {
    const owner = this.#owner
    if (onlyIfLater || owner !== null) {
      const old = this.#index.get(key)
      if (onlyIfLater && old !== undefined && old >= addr) return
      if (owner !== null) {
        if (old !== undefined) owner.delete(old)
        owner.set(addr, key)
      }
    }
    const one = this.#one
    if (one === null) this.#index.set(key, addr)
    else if (one.set(key, addr).size >= this.#shardLimit) {
      this.#index.split()
      this.#one = null
    }
  }

  /** Every page id (as its key) with its latest address, in no particular order. */
  entries(): IterableIterator<[Key, bigint]> {
    return this.#index[Symbol.iterator]()
  }

  /** A dealloc record frees `addr`: the page id whose latest address it is loses its entry. */
  forget(addr: bigint): void {
    let owner = this.#owner
    if (owner === null) {
      owner = new ShardedMap(this.#shardLimit)
      for (const [key, a] of this.#index) owner.set(a, key)
      this.#owner = owner
    }
    const key = owner.get(addr)
    if (key === undefined) return
    owner.delete(addr)
    this.#index.delete(key)
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
          this.setLatest(keyOf(r.pageId), r.addr, onlyIfLater)
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
}
