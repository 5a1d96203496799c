'use strict';
/*
 * JsPageIndex: the PageLog's page index as it was in JavaScript, the
 * baseline of bench/page-index.js: page id → latest address in `Map`s
 * (keys: numbers when safe integers, else bigints; values: bigint
 * addresses), split into shards past 2^23 entries (V8's `Map` stops at
 * 2^24 - 1), and the inverse map (address → page id) built at the first
 * `forget`. Same methods as src/page-log/page-index.ts (`addEntries` as
 * its JS fallback would be: a loop over the arrays).
 */

const SHARD_LIMIT = 1 << 23;
const MAX_BITS = 24;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const NORMAL_PAGE = 1, DEALLOC_PAGES = 2, TOMBSTONE = 0x80;

function keyOf(id) {
  return typeof id === 'number' || id > MAX_SAFE ? id : Number(id);
}

function mix(lo, hi) {
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0;
}

function hashKey(key) {
  if (typeof key === 'number') return mix(key >>> 0, (key / 4294967296) >>> 0);
  return mix(Number(BigInt.asUintN(32, key)), Number(BigInt.asUintN(32, key >> 32n)));
}

class ShardedMap {
  constructor(limit = SHARD_LIMIT) {
    this.limit = limit;
    this.one = new Map();
    this.shards = [this.one];
    this.bits = 0;
  }
  get size() {
    let n = 0;
    for (const m of this.shards) n += m.size;
    return n;
  }
  mapOf(key) {
    return this.bits === 0 ? this.one : this.shards[hashKey(key) >>> (32 - this.bits)];
  }
  get(key) {
    return this.mapOf(key).get(key);
  }
  set(key, value) {
    const m = this.mapOf(key);
    m.set(key, value);
    if (m.size >= this.limit) this.split();
  }
  delete(key) {
    return this.mapOf(key).delete(key);
  }
  *[Symbol.iterator]() {
    for (const m of this.shards) yield* m;
  }
  split() {
    do {
      if (this.bits >= MAX_BITS) return;
      const bits = this.bits + 1;
      const shards = [];
      for (let i = 0; i < 1 << bits; i++) shards.push(new Map());
      for (const m of this.shards) {
        for (const [k, v] of m) shards[hashKey(k) >>> (32 - bits)].set(k, v);
        m.clear();
      }
      this.bits = bits;
      this.shards = shards;
      this.one = shards[0];
    } while (this.shards.some((m) => m.size >= this.limit));
  }
}

class JsPageIndex {
  #index = new ShardedMap();
  #one = this.#index.one;
  #owner = null;

  get size() {
    return this.#index.size;
  }

  get(key) {
    const one = this.#one;
    return one !== null ? one.get(key) : this.#index.get(key);
  }

  setLatest(key, addr, onlyIfLater = false) {
    const owner = this.#owner;
    if (onlyIfLater || owner !== null) {
      const old = this.#index.get(key);
      if (onlyIfLater && old !== undefined && old >= addr) return;
      if (owner !== null) {
        if (old !== undefined) owner.delete(old);
        owner.set(addr, key);
      }
    }
    const one = this.#one;
    if (one === null) this.#index.set(key, addr);
    else if (one.set(key, addr).size >= SHARD_LIMIT) {
      this.#index.split();
      this.#one = null;
    }
  }

  forget(addr) {
    let owner = this.#owner;
    if (owner === null) {
      owner = new ShardedMap();
      for (const [key, a] of this.#index) owner.set(a, key);
      this.#owner = owner;
    }
    const key = owner.get(addr);
    if (key === undefined) return;
    owner.delete(addr);
    this.#index.delete(key);
  }

  addEntries(pageIds, addrs, flags) {
    let pages = 0;
    for (let i = 0; i < flags.length; i++) {
      const f = flags[i];
      if (f === NORMAL_PAGE) {
        this.setLatest(keyOf(pageIds[i]), addrs[i], true);
        pages++;
      } else if (f === DEALLOC_PAGES) this.forget(addrs[i]);
      else if (f !== TOMBSTONE) throw new Error(`a record of unknown kind (flags ${f})`);
    }
    return pages;
  }
}

module.exports = { JsPageIndex, keyOf };
