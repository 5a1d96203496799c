/**
 * What a buffer hands out about its records: headers, page allocations, the
 * records met by iteration and the iterator itself; and the one rule for a
 * record's kind (`page` or `dealloc`, anything else fails loudly).
 */
import { inspect } from 'node:util'

import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { DEALLOC_PAGES, HEADER_SIZE, NORMAL_PAGE, TOMBSTONE } from './constants.ts'
import { CLOSED_STATUS, WriteBufferError, internalError, statusError } from './errors.ts'
import * as handle from './handle.ts'
import type { Handle } from './handle.ts'
import type { BufferRecord, PageAlloc, RecordHeader, U64Like } from './types.ts'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { NO_SLOT, viewOutsideTry } = handle
const { S32, S64, putU64, fastSetTombstone, fastSetPageId } = scratch
const { O_FLAGS, O_SIZE, O_U64_BIG, H_DATA, H_DATA_HI, H_FLAGS, H_SIZE } = layout
const PAGE_FLAGS = NORMAL_PAGE
const DEALLOC_FLAGS = DEALLOC_PAGES
const TOMBSTONE_FLAGS = TOMBSTONE
const HEADER = HEADER_SIZE

/** The kinds of records there are. */
export type RecordKind = BufferRecord['kind']

/**
 * The error for a record of no known kind: `ERR_CORRUPT` when the record
 * came from a file (its bytes are the file's), an internal error when the
 * buffer or the native side handed it out. Every place that branches on a
 * record's kind ends in this, so a new kind is never read as another one.
 */
export function unknownKind(kind: unknown, what: string, fromFile: boolean): Error {
  const shown = typeof kind === 'number' ? `flags ${kind}` : `kind ${inspect(kind)}`
  if (fromFile) return new WriteBufferError('ERR_CORRUPT', `${what}: a record of unknown kind (${shown})`)
  return internalError(what, `a record of unknown kind (${shown})`)
}

/** The kind of a record with these header flags (never `TOMBSTONE`: those are skipped). */
export function kindOf(flags: number, what: string, fromFile: boolean): RecordKind {
  if (flags === PAGE_FLAGS) return 'page'
  if (flags === DEALLOC_FLAGS) return 'dealloc'
  throw unknownKind(flags, what, fromFile)
}

export class Header implements RecordHeader {
  readonly #h: Handle
  readonly #record: number
  readonly kind: RecordKind
  constructor(h: Handle, record: number, kind: RecordKind) {
    this.#h = h
    this.#record = record
    this.kind = kind
  }

  get pageId(): bigint {
    if (this.kind === 'dealloc') return 0n
    this.#h.readHeader(this.#record)
    return S64[O_U64_BIG]
  }

  get pageSize(): number {
    this.#h.readHeader(this.#record)
    return S32[O_SIZE]
  }

  get isTombstone(): boolean {
    this.#h.readHeader(this.#record)
    return S32[O_FLAGS] === TOMBSTONE
  }

  setTombstone(): void {
    this.#h.recordCall(fastSetTombstone, this.#record, 'setTombstone')
  }

  setPageId(pageId: U64Like): void {
    if (this.kind !== 'page') {
      throw new WriteBufferError('ERR_INVALID_ADDR', 'setPageId: only page records have a page id')
    }
    putU64('pageId', pageId)
    this.#h.recordCall(fastSetPageId, this.#record, 'setPageId')
  }

  [inspect.custom](): string {
    return `RecordHeader { kind: '${this.kind}', pageId: ${this.pageId}n, pageSize: ${this.pageSize}, isTombstone: ${this.isTombstone} }`
  }
}

export class Alloc implements PageAlloc {
  readonly #h: Handle
  readonly #record: number
  readonly #size: number
  #page: Buffer | undefined
  constructor(h: Handle, record: number, size: number) {
    this.#h = h
    this.#record = record
    this.#size = size
  }

  get addr(): bigint {
    return this.#h.addr(this.#record)
  }

  get page(): Buffer {
    return (this.#page ??= this.#h.pageView(this.#record, this.#size))
  }

  get header(): RecordHeader {
    return new Header(this.#h, this.#record, 'page')
  }

  [inspect.custom](): string {
    return `PageAlloc { addr: ${this.addr}n, pageSize: ${this.#size} }`
  }
}

/**
 * A page record met by iteration: its kind, handle, offset and size, nothing
 * more. `pageId` is read from the arena when asked, `page` when first asked (the
 * header is frozen: the buffer is flushable, `setPageId` is `ERR_READ_ONLY`),
 * `addr` and `header` are made when asked, so a loop pays only for what it
 * reads. `pageId` or a first `page` after `dispose()` is `ERR_CLOSED` (the
 * arena is detached, or may serve another buffer).
 */
class PageRecord {
  readonly kind = 'page' as const
  readonly #h: Handle
  readonly #record: number
  readonly #size: number
  #page: Buffer | undefined
  constructor(h: Handle, record: number, size: number) {
    this.#h = h
    this.#record = record
    this.#size = size
  }

  get addr(): bigint {
    return this.#h.addr(this.#record)
  }

  get pageId(): bigint {
    const h = this.#h
    if (h.slot === NO_SLOT) throw statusError(CLOSED_STATUS, 'records: pageId')
    const w = h.words
    const i = this.#record >>> 2
    const hi = w[i + H_DATA_HI]
    return hi === 0 ? BigInt(w[i + H_DATA]) : (BigInt(hi) << 32n) | BigInt(w[i + H_DATA])
  }

  get page(): Buffer {
    let page = this.#page
    if (page === undefined) {
      const h = this.#h
      if (h.slot === NO_SLOT) throw statusError(CLOSED_STATUS, 'records: page')
      page = this.#page = viewOutsideTry(h.arena, this.#record + h.body, this.#size)
    }
    return page
  }

  get header(): RecordHeader {
    return new Header(this.#h, this.#record, 'page')
  }

  [inspect.custom](): string {
    const id = this.#h.slot === NO_SLOT ? '(disposed)' : `${this.pageId}n`
    return `PageRecord { addr: ${this.addr}n, pageId: ${id}, pageSize: ${this.#size} }`
  }
}

class DeallocRecord {
  readonly kind = 'dealloc' as const
  readonly addrs: bigint[]
  readonly #h: Handle
  readonly #record: number
  constructor(h: Handle, record: number, size: number) {
    this.#h = h
    this.#record = record
    this.addrs = h.deallocAddrs(record, size)
  }

  get addr(): bigint {
    return this.#h.addr(this.#record)
  }

  get header(): RecordHeader {
    return new Header(this.#h, this.#record, 'dealloc')
  }
}

/**
 * Records of a flushable buffer, decoded in JS: the headers are read
 * straight from the arena (the layout's `H_*` words), up to the bytes
 * allocated, which the native side reports once. Every writer has finished
 * (lanes had their header chains checked by the native side at close), so
 * the chain holds; a header overwritten since (through a view's `.buffer`)
 * that claims bytes past the allocated ones, or flags of no known kind, is
 * `ERR_CORRUPT`, and the iteration ends there.
 */
export class RecordIterator implements IterableIterator<BufferRecord> {
  readonly #h: Handle
  readonly #end: number
  #at = 0
  constructor(h: Handle, allocated: number) {
    this.#h = h
    this.#end = Math.min(allocated, h.capacity)
  }

  [Symbol.iterator](): this {
    return this
  }

  next(): IteratorResult<BufferRecord> {
    const h = this.#h
    const end = this.#end
    let at = this.#at
    if (at < end && h.slot === NO_SLOT) {
      this.#at = end
      throw statusError(CLOSED_STATUS, 'records')
    }
    const w = h.words
    // One result object, made at one place: inlined into a `for…of`, V8
    // then never allocates it (escape analysis); with a return per kind it
    // did (the results met in a phi), 40 bytes and a scavenge share per record.
    let value: PageRecord | DeallocRecord | undefined
    while (at < end) {
      const i = at >>> 2
      const flags = w[i + H_FLAGS]
      const size = w[i + H_SIZE]
      const next = at + HEADER + size + (-size & 7)
      // (Also false for NaN: a header past the arena reads `undefined`.)
      if (!(next <= end)) {
        this.#at = end
        throw new WriteBufferError(
          'ERR_CORRUPT',
          `records: the record at offset ${at} claims ${size} bytes past the ${end} allocated`,
        )
      }
      if (flags === PAGE_FLAGS) {
        value = new PageRecord(h, at, size)
        at = next
        break
      }
      if (flags === DEALLOC_FLAGS) {
        value = new DeallocRecord(h, at, size)
        at = next
        break
      }
      if (flags !== TOMBSTONE_FLAGS) {
        this.#at = end
        throw unknownKind(flags, `records: the record at offset ${at}`, true)
      }
      at = next
    }
    this.#at = at
    return { done: value === undefined, value } as IteratorResult<BufferRecord>
  }
}

// The hidden classes of what a buffer hands out (`keepShapes`).
{
  const h = handle.stubHandle()
  handle.keepShapes([
    new Alloc(h, 0, 0),
    new Header(h, 0, 'page'),
    new PageRecord(h, 0, 0),
    new DeallocRecord(h, 0, 0),
    new RecordIterator(h, 0),
  ])
}
