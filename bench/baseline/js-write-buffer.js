'use strict';
/*
 * JsWriteBuffer: a pure-JavaScript WriteBuffer, the benchmark's baseline.
 *
 * It implements the SPEC §2 WriteBuffer API (without share/attach/flushTo; with
 * lanes, for the lane case) the way a competent Node developer would write it without a native addon:
 *
 * - Arena: one zero-filled SharedArrayBuffer of `capacity` bytes, never reused,
 *   so padding and unwritten bytes always read as zero. Three typed-array views
 *   over it (Uint8Array, Uint32Array, BigUint64Array) read and write headers;
 *   records sit at 8-aligned offsets, so every header field is an aligned typed
 *   array element (the module refuses to load on a big-endian host).
 * - State word: one 64-bit value in a BigUint64Array over its own
 *   SharedArrayBuffer; bit 63 sealed, bits 32..62 writers, bits 0..31 allocated.
 *   Every transition (reserve, release, seal) is computed on the loaded bigint
 *   and installed with one Atomics.compareExchange, retried if the word moved.
 *   Check order as in the core: too large, sealed, writer count full, no room.
 * - Records: 16-byte LE header {data u64, flags u32, pageSize u32} then the
 *   body padded to 8: recordSize(n) = 16 + roundUp(n, 8).
 *   Address = (groupId << 32) | (recordOffset + 16), a bigint.
 * - Record starts: a bitmap (one bit per 8 bytes) marks every record start so
 *   page(addr) can reject the middle of a record in O(1). It is a plain
 *   (non-shared) Uint8Array: this baseline has no share(), so one thread
 *   owns it.
 * - Views: Buffer.from(sab, offset, length), zero-copy over the arena.
 * - Results are eager plain objects: allocPage returns { addr, page, header };
 *   records() yields { kind, addr, pageId, page, header } (or { kind, addr,
 *   addrs, header } for a dealloc record) built from the header as it walks.
 *   A header is a small class instance (kind, pageSize fixed; pageId and
 *   isTombstone read live from the arena; setTombstone(), setPageId()).
 * - records() is a hand-written iterator class (not a generator).
 * - waitFlushed()/onFlushed(): an in-process latch (a flag plus a list of
 *   pending promises), with AbortSignal support.
 * - Errors: JsWriteBufferError (an Error with `code`) for the SPEC §3 codes;
 *   TypeError/RangeError with ERR_INVALID_ARG_TYPE/ERR_OUT_OF_RANGE for bad
 *   arguments.
 */

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('JsWriteBuffer assumes a little-endian host');
}

const HEADER_SIZE = 16;
const NORMAL_PAGE = 0b1;
const DEALLOC_PAGES = 0b10;
const TOMBSTONE = 0b1000_0000;

const SEALED = 1n << 63n;
const ONE_WRITER = 1n << 32n;
const LOW32 = 0xffff_ffffn;
const MAX_WRITERS_WORD = 0x7fff_ffffn << 32n; // writers field full (when not sealed)
const U64_MAX = (1n << 64n) - 1n;
const TWO32 = 2 ** 32;

class JsWriteBufferError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'WriteBufferError';
    this.code = code;
  }
}

function fail(code, message) {
  return new JsWriteBufferError(code, message);
}

function typeError(message) {
  const e = new TypeError(message);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

function rangeError(message) {
  const e = new RangeError(message);
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

/** recordSize(n) = 16 + roundUp(n, 8); the bit trick only below 2^31 (int32). */
function recordSize(n) {
  return HEADER_SIZE + (n < 0x7fff_fff0 ? (n + 7) & ~7 : Math.ceil(n / 8) * 8);
}

function checkU32(value, name) {
  if (typeof value !== 'number') throw typeError(`${name} must be a number`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw rangeError(`${name} must be an integer in 0..2^32-1, got ${value}`);
  }
  return value;
}

/** A page id or address: bigint in 0..2^64-1, or a non-negative safe integer. */
function toU64(value, name) {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw rangeError(`${name} must fit a u64`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw rangeError(`${name} must be a non-negative safe integer or a bigint, got ${value}`);
    }
    return BigInt(value);
  }
  throw typeError(`${name} must be a bigint or a number`);
}

function checkBool(value, name) {
  if (typeof value !== 'boolean') throw typeError(`${name} must be a boolean`);
  return value;
}

function toAddrList(addrs) {
  if (addrs instanceof BigUint64Array) return addrs;
  if (!Array.isArray(addrs)) throw typeError('addrs must be an array or a BigUint64Array');
  const out = new Array(addrs.length);
  for (let i = 0; i < addrs.length; i++) out[i] = toU64(addrs[i], `addrs[${i}]`);
  return out;
}

class JsRecordHeader {
  constructor(wb, offset, kind, pageSize) {
    this._wb = wb;
    this._offset = offset;
    this.kind = kind;
    this.pageSize = pageSize;
  }

  get pageId() {
    return this.kind === 'page' ? this._wb._u64[this._offset >>> 3] : 0n;
  }

  get isTombstone() {
    return this._wb._u32[(this._offset + 8) >>> 2] === TOMBSTONE;
  }

  setTombstone() {
    this._wb._checkWritable();
    this._wb._u32[(this._offset + 8) >>> 2] = TOMBSTONE;
  }

  setPageId(pageId) {
    const id = toU64(pageId, 'pageId');
    if (this.kind !== 'page' || this.isTombstone) throw fail('ERR_INVALID_ADDR', 'not a live page record');
    this._wb._checkWritable();
    this._wb._u64[this._offset >>> 3] = id;
  }
}

/** records(): walks [0, allocated) in allocation order, skipping tombstones. */
class JsRecordIterator {
  constructor(wb, end) {
    this._wb = wb;
    this._offset = 0;
    this._end = end;
  }

  [Symbol.iterator]() {
    return this;
  }

  next() {
    const wb = this._wb;
    const u32 = wb._u32;
    while (this._offset < this._end) {
      const off = this._offset;
      const flags = u32[(off + 8) >>> 2];
      const pageSize = u32[(off + 12) >>> 2];
      this._offset = off + recordSize(pageSize);
      if (flags === TOMBSTONE) continue;
      const addr = wb._addrBase + BigInt(off + HEADER_SIZE);
      if (flags === NORMAL_PAGE) {
        return {
          value: {
            kind: 'page',
            addr,
            pageId: wb._u64[off >>> 3],
            page: Buffer.from(wb._sab, off + HEADER_SIZE, pageSize),
            header: new JsRecordHeader(wb, off, 'page', pageSize),
          },
          done: false,
        };
      }
      const first = (off + HEADER_SIZE) >>> 3;
      return {
        value: {
          kind: 'dealloc',
          addr,
          addrs: Array.from(wb._u64.subarray(first, first + pageSize / 8)),
          header: new JsRecordHeader(wb, off, 'dealloc', pageSize),
        },
        done: false,
      };
    }
    return { value: undefined, done: true };
  }
}

/**
 * A lane: one reservation (one CAS, one writer), then pages bump-allocated
 * inside it with no atomic; close() writes a tombstone filler over the tail
 * and releases the writer (the project's Lane, in plain JS).
 */
class JsLane {
  constructor(wb, cursor, end) {
    this._wb = wb;
    this._cursor = cursor;
    this._end = end;
    this._closed = false;
  }

  get remaining() { return this._end - this._cursor; }
  get isClosed() { return this._closed; }

  tryAllocPage(pageId, pageSize) {
    if (this._closed) throw fail('ERR_CLOSED', 'the lane is closed');
    const id = toU64(pageId, 'pageId');
    checkU32(pageSize, 'pageSize');
    const need = recordSize(pageSize);
    const left = this._end - this._cursor;
    if (need !== left && need + HEADER_SIZE > left) {
      if (need > this._wb._capacity) throw fail('ERR_TOO_LARGE_SIZE', `${need} bytes never fit`);
      return null;
    }
    const off = this._cursor;
    this._cursor = off + need;
    return this._wb._writePage(off, id, pageSize);
  }

  allocPage(pageId, pageSize) {
    const a = this.tryAllocPage(pageId, pageSize);
    if (a === null) throw fail('ERR_AGAIN', 'the page does not fit the lane');
    return a;
  }

  close() {
    if (this._closed) throw fail('ERR_CLOSED', 'the lane is already closed');
    const tail = this._end - this._cursor;
    if (tail > 0) this._wb._writeHeader(this._cursor, 0n, TOMBSTONE, tail - HEADER_SIZE);
    this._closed = true;
    return this._wb.releaseWriter();
  }
}

class JsWriteBuffer {
  constructor(groupId, capacity) {
    checkU32(groupId, 'groupId');
    if (typeof capacity !== 'number') throw typeError('capacity must be a number');
    if (!Number.isInteger(capacity) || capacity <= 8 || capacity > 2 ** 31 ||
        (capacity & (capacity - 1)) !== 0) {
      throw rangeError(`capacity must be a power of two in 16..2^31, got ${capacity}`);
    }
    this._groupId = groupId;
    this._capacity = capacity;
    this._addrBase = BigInt(groupId) << 32n;
    this._sab = new SharedArrayBuffer(capacity);
    this._u32 = new Uint32Array(this._sab);
    this._u64 = new BigUint64Array(this._sab);
    this._state = new BigUint64Array(new SharedArrayBuffer(8));
    this._starts = new Uint8Array(Math.ceil(capacity / 64));
    this._flushed = false;
    this._waiters = [];
  }

  get groupId() { return this._groupId; }
  get capacity() { return this._capacity; }
  get allocated() { return Number(Atomics.load(this._state, 0) & LOW32); }
  get writers() { return Number((Atomics.load(this._state, 0) >> 32n) & 0x7fff_ffffn); }
  get isSealed() { return Atomics.load(this._state, 0) >= SEALED; }
  get isFlushable() { return (Atomics.load(this._state, 0) & ~LOW32) === SEALED; }
  get isEmpty() { return (Atomics.load(this._state, 0) & LOW32) === 0n; }

  /** One CAS: reserves `need` bytes (a multiple of 8), returns their offset. */
  _reserve(need, acquireWriter) {
    if (need > this._capacity) throw fail('ERR_TOO_LARGE_SIZE', `${need} bytes never fit ${this._capacity}`);
    const state = this._state;
    for (;;) {
      const cur = Atomics.load(state, 0);
      if (cur >= SEALED) throw fail('ERR_AGAIN', 'buffer is sealed');
      let next = cur + BigInt(need);
      if (acquireWriter) {
        if (cur >= MAX_WRITERS_WORD) throw fail('ERR_TOO_MANY_WRITERS', 'too many writers');
        next += ONE_WRITER;
      }
      const offset = Number(cur & LOW32);
      if (offset + need > this._capacity) throw fail('ERR_AGAIN', 'buffer is full');
      if (Atomics.compareExchange(state, 0, cur, next) === cur) return offset;
    }
  }

  _writeHeader(off, data, flags, pageSize) {
    this._u64[off >>> 3] = data;
    this._u32[(off + 8) >>> 2] = flags;
    this._u32[(off + 12) >>> 2] = pageSize;
    this._starts[off >>> 6] |= 1 << ((off >>> 3) & 7);
  }

  _writePage(off, pageId, pageSize) {
    this._writeHeader(off, pageId, NORMAL_PAGE, pageSize);
    return {
      addr: this._addrBase + BigInt(off + HEADER_SIZE),
      page: Buffer.from(this._sab, off + HEADER_SIZE, pageSize),
      header: new JsRecordHeader(this, off, 'page', pageSize),
    };
  }

  _writeDealloc(off, addrs) {
    const size = addrs.length * 8;
    this._writeHeader(off, 0n, DEALLOC_PAGES, size);
    this._u64.set(addrs, (off + HEADER_SIZE) >>> 3);
    return new JsRecordHeader(this, off, 'dealloc', size);
  }

  _checkWritable() {
    if (this.isFlushable) throw fail('ERR_READ_ONLY', 'the buffer is flushable; headers are frozen');
  }

  /** A lane of `bytes` (rounded up to 8, at least 16): one CAS that counts one writer. */
  lane(bytes) {
    checkU32(bytes, 'bytes');
    const need = Math.max(HEADER_SIZE, Math.ceil(bytes / 8) * 8);
    const off = this._reserve(need, true);
    return new JsLane(this, off, off + need);
  }

  allocPage(pageId, pageSize, acquireWriter) {
    const id = toU64(pageId, 'pageId');
    checkU32(pageSize, 'pageSize');
    checkBool(acquireWriter, 'acquireWriter');
    const off = this._reserve(recordSize(pageSize), acquireWriter);
    return this._writePage(off, id, pageSize);
  }

  deallocPages(addrs, acquireWriter) {
    const list = toAddrList(addrs);
    checkBool(acquireWriter, 'acquireWriter');
    const off = this._reserve(recordSize(list.length * 8), acquireWriter);
    return this._writeDealloc(off, list);
  }

  batch(pages, deallocAddrs) {
    if (!Array.isArray(pages)) throw typeError('pages must be an array of [pageId, pageSize]');
    const ids = new Array(pages.length);
    const sizes = new Array(pages.length);
    let need = 0;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i];
      if (!Array.isArray(p) || p.length !== 2) throw typeError(`pages[${i}] must be [pageId, pageSize]`);
      ids[i] = toU64(p[0], `pages[${i}][0]`);
      sizes[i] = checkU32(p[1], `pages[${i}][1]`);
      need += recordSize(sizes[i]);
    }
    const list = toAddrList(deallocAddrs);
    if (list.length > 0) need += recordSize(list.length * 8);
    let off = this._reserve(need, true);
    const out = new Array(pages.length);
    for (let i = 0; i < pages.length; i++) {
      out[i] = this._writePage(off, ids[i], sizes[i]);
      off += recordSize(sizes[i]);
    }
    return { pages: out, dealloc: list.length > 0 ? this._writeDealloc(off, list) : null };
  }

  releaseWriter() {
    const state = this._state;
    for (;;) {
      const cur = Atomics.load(state, 0);
      if ((cur & ~SEALED) < ONE_WRITER) throw fail('ERR_NO_WRITER', 'no writer in progress');
      const next = cur - ONE_WRITER;
      if (Atomics.compareExchange(state, 0, cur, next) === cur) {
        return (next & ~LOW32) === SEALED ? 'flush' : 'none';
      }
    }
  }

  seal() {
    const state = this._state;
    for (;;) {
      const cur = Atomics.load(state, 0);
      if (cur >= SEALED) throw fail('ERR_AGAIN', 'buffer is already sealed');
      if (Atomics.compareExchange(state, 0, cur, cur | SEALED) === cur) {
        return cur < ONE_WRITER ? 'flush' : 'none';
      }
    }
  }

  page(addr) {
    let group, body;
    if (typeof addr === 'bigint') {
      toU64(addr, 'addr');
      group = Number(addr >> 32n);
      body = Number(addr & LOW32);
    } else {
      toU64(addr, 'addr');
      group = Math.floor(addr / TWO32);
      body = addr % TWO32;
    }
    const off = body - HEADER_SIZE;
    if (group !== this._groupId || off < 0 || (off & 7) !== 0 ||
        off + HEADER_SIZE > this.allocated ||
        (this._starts[off >>> 6] & (1 << ((off >>> 3) & 7))) === 0) {
      throw fail('ERR_INVALID_ADDR', `not a live page record of group ${this._groupId}`);
    }
    if (this._u32[(off + 8) >>> 2] !== NORMAL_PAGE) {
      throw fail('ERR_INVALID_ADDR', 'not a live page record (dealloc or tombstone)');
    }
    return Buffer.from(this._sab, body, this._u32[(off + 12) >>> 2]);
  }

  records() {
    const cur = Atomics.load(this._state, 0);
    if ((cur & ~LOW32) !== SEALED) throw fail('ERR_NOT_FLUSHABLE', 'buffer is not sealed-and-released');
    return new JsRecordIterator(this, Number(cur & LOW32));
  }

  [Symbol.iterator]() {
    return this.records();
  }

  onFlushed() {
    if (this._flushed) return;
    this._flushed = true;
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) w();
  }

  waitFlushed(opts = {}) {
    const signal = opts && opts.signal;
    if (signal && signal.aborted) return Promise.reject(signal.reason);
    if (this._flushed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this._waiters.indexOf(done);
        if (i >= 0) this._waiters.splice(i, 1);
        reject(signal.reason);
      };
      const done = () => {
        if (signal) signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this._waiters.push(done);
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

module.exports = {
  JsWriteBuffer,
  JsWriteBufferError,
  recordSize,
  NORMAL_PAGE,
  DEALLOC_PAGES,
  TOMBSTONE,
};
