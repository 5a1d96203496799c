/**
 * What a buffer hands out about its records: headers, page allocations, the
 * records met by iteration and the iterator itself; and the one rule for a
 * record's kind (`page` or `dealloc`, anything else fails loudly).
 */
import { inspect } from 'node:util'

import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { DEALLOC_PAGES, NORMAL_PAGE, TOMBSTONE } from './constants.ts'
import { WriteBufferError, internalError, statusError } from './errors.ts'
import type { Handle } from './handle.ts'
import type { BufferRecord, PageAlloc, RecordHeader, U64Like } from './types.ts'
import * as native from '../load-binding.js'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { S32, S64, SI32, call, putU64, fastSetTombstone, fastSetPageId } = scratch
const { S_SLOT, S_STATUS, A_RECORD, O_FLAGS, O_SIZE, O_U64_BIG, REC_WORDS, REC_OFFSET, REC_FLAGS, REC_SIZE, REC_ID_BIG, FILL_NEXT, FILL_COUNT } = layout
const PAGE_FLAGS = NORMAL_PAGE
const DEALLOC_FLAGS = DEALLOC_PAGES

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
    S32[S_SLOT] = this.#h.slot
    S32[A_RECORD] = this.#record
    call(fastSetTombstone, 'setTombstone')
  }

  setPageId(pageId: U64Like): void {
    if (this.kind !== 'page') {
      throw new WriteBufferError('ERR_INVALID_ADDR', 'setPageId: only page records have a page id')
    }
    putU64('pageId', pageId)
    S32[S_SLOT] = this.#h.slot
    S32[A_RECORD] = this.#record
    call(fastSetPageId, 'setPageId')
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

class PageRecord {
  readonly kind = 'page' as const
  readonly #h: Handle
  readonly #record: number
  readonly #size: number
  readonly #id: bigint
  #page: Buffer | undefined
  constructor(h: Handle, record: number, size: number, id: bigint) {
    this.#h = h
    this.#record = record
    this.#size = size
    this.#id = id
  }

  get addr(): bigint {
    return this.#h.addr(this.#record)
  }

  get pageId(): bigint {
    return this.#id
  }

  get page(): Buffer {
    return (this.#page ??= this.#h.pageView(this.#record, this.#size))
  }

  get header(): RecordHeader {
    return new Header(this.#h, this.#record, 'page')
  }

  [inspect.custom](): string {
    return `PageRecord { addr: ${this.addr}n, pageId: ${this.#id}n, pageSize: ${this.#size} }`
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

/** Records of a flushable buffer, fetched from native in batches. */
export class RecordIterator implements IterableIterator<BufferRecord> {
  readonly #h: Handle
  readonly #words = new Uint32Array(REC_WORDS * 257)
  readonly #ids = new BigUint64Array(this.#words.buffer)
  #next = 0
  #count = 0
  #at = 0
  #done = false
  constructor(h: Handle) {
    this.#h = h
  }

  [Symbol.iterator](): this {
    return this
  }

  next(): IteratorResult<BufferRecord> {
    if (this.#at === this.#count) {
      if (this.#done || !this.#fill()) return { done: true, value: undefined }
    }
    const i = ++this.#at
    const w = this.#words
    const e = i * REC_WORDS
    const record = w[e + REC_OFFSET]
    const flags = w[e + REC_FLAGS]
    let value: BufferRecord
    if (flags === PAGE_FLAGS) value = new PageRecord(this.#h, record, w[e + REC_SIZE], this.#ids[e / 2 + REC_ID_BIG])
    else if (flags === DEALLOC_FLAGS) value = new DeallocRecord(this.#h, record, w[e + REC_SIZE])
    else throw unknownKind(flags, 'records', false)
    return { done: false, value }
  }

  #fill(): boolean {
    native.recordsFill(this.#h.slot, this.#next, this.#words)
    const status = SI32[S_STATUS]
    if (status !== 0) {
      this.#done = true
      throw statusError(status, 'records')
    }
    const n = this.#words[FILL_COUNT]
    this.#next = this.#words[FILL_NEXT]
    this.#count = n
    this.#at = 0
    // An unconditional store: a store that first runs at the very end of an
    // iteration has no type feedback and deoptimizes the caller's loop.
    this.#done = n === 0
    return n > 0
  }
}
