/**
 * `ShardedMap`: a `Map` without the engine's size limit. V8's `Map` holds at
 * most 2^24 - 1 entries (then `set` throws `RangeError: Map maximum size
 * exceeded`); a log's index can need more. The entries live in one `Map`
 * until it reaches `shardLimit` entries, then in 2, 4, … `Map`s picked by
 * the top bits of a 32-bit hash of the key (each split rehashes once, so
 * the cost per entry stays constant). Until the first split a lookup is one
 * `Map` call behind a field check.
 */

/** Entries one `Map` holds before the map splits: half of V8's limit (2^24 - 1). */
export const SHARD_LIMIT = 1 << 23

/** At most 2^MAX_BITS shards (far more than memory could fill). */
const MAX_BITS = 24

/** A 32-bit hash of a pair of 32-bit words: Fibonacci hashing, so the top bits vary with every input bit. */
function mix(lo: number, hi: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0
}

/** A 32-bit hash of a non-negative safe integer or a u64 `bigint`. */
export function hashKey(key: number | bigint): number {
  if (typeof key === 'number') return mix(key >>> 0, (key / 4294967296) >>> 0)
  return mix(Number(BigInt.asUintN(32, key)), Number(BigInt.asUintN(32, key >> 32n)))
}

export class ShardedMap<K extends number | bigint, V> {
  readonly #limit: number
  /** The one map while unsplit, else `#shards[0]`. */
  #one: Map<K, V> = new Map()
  #shards: Map<K, V>[] = [this.#one]
  /** log2 of the shard count; 0: one map. */
  #bits = 0

  /** @param shardLimit entries per `Map` before it splits (tests pass a small one) */
  constructor(shardLimit = SHARD_LIMIT) {
    this.#limit = shardLimit
  }

  get size(): number {
    if (this.#bits === 0) return this.#one.size
    let n = 0
    for (const m of this.#shards) n += m.size
    return n
  }

  /** The one `Map` holding every entry while there is only one, else null. */
  get single(): Map<K, V> | null {
    return this.#bits === 0 ? this.#one : null
  }

  /** How many `Map`s hold the entries. */
  get shards(): number {
    return this.#shards.length
  }

  /** The largest number of entries in one `Map`. */
  get largestShard(): number {
    let n = 0
    for (const m of this.#shards) if (m.size > n) n = m.size
    return n
  }

  #mapOf(key: K): Map<K, V> {
    const bits = this.#bits
    return bits === 0 ? this.#one : this.#shards[hashKey(key) >>> (32 - bits)]
  }

  get(key: K): V | undefined {
    return this.#mapOf(key).get(key)
  }

  set(key: K, value: V): void {
    if (this.#bits === 0) {
      const one = this.#one
      one.set(key, value)
      if (one.size >= this.#limit) this.split()
      return
    }
    const m = this.#shards[hashKey(key) >>> (32 - this.#bits)]
    m.set(key, value)
    if (m.size >= this.#limit) this.split()
  }

  delete(key: K): boolean {
    return this.#mapOf(key).delete(key)
  }

  *entries(): IterableIterator<[K, V]> {
    for (const m of this.#shards) yield* m
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()
  }

  /** Doubles the shards (again while one of them is still at the limit). */
  split(): void {
    do {
      if (this.#bits >= MAX_BITS) return // then Map's own RangeError is the limit
      const bits = this.#bits + 1
      const shards: Map<K, V>[] = []
      for (let i = 0; i < 1 << bits; i++) shards.push(new Map())
      for (const m of this.#shards) {
        for (const [k, v] of m) shards[hashKey(k) >>> (32 - bits)].set(k, v)
        m.clear()
      }
      this.#bits = bits
      this.#shards = shards
      this.#one = shards[0]
    } while (this.largestShard >= this.#limit)
  }
}
