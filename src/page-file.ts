/**
 * `PageFile`: a page file written by `flushTo`, validated and read into
 * memory by the native side; its records and pages, read-only.
 */
import { resolve as resolvePath } from 'node:path'
import { inspect } from 'node:util'

import { addrOf, groupHigh } from './address.ts'
import { invalidType, toU64 } from './args.ts'
import { DEALLOC_PAGES, NORMAL_PAGE } from './constants.ts'
import { WriteBufferError, nativeError, statusError } from './errors.ts'
import { PageView, viewOutsideTry } from './handle.ts'
import * as layout from './layout.ts'
import { unknownKind, type RecordKind } from './records.ts'
import * as scratch from './scratch.ts'
import type { BufferRecord, RecordHeader, U64Like } from './types.ts'
import * as native from '../load-binding.js'

const TWO_32 = 2 ** 32
const { S32, SI32, putU64 } = scratch
const { S_STATUS, O_SIZE, O_U64, O_U64_HI, REC_WORDS, REC_OFFSET, REC_FLAGS, REC_SIZE, REC_ID, REC_ID_HI, REC_POS, REC_POS_HI } = layout
const PAGE_FLAGS = NORMAL_PAGE
const DEALLOC_FLAGS = DEALLOC_PAGES

class FileHeader implements RecordHeader {
  constructor(
    readonly kind: RecordKind,
    readonly pageId: bigint,
    readonly pageSize: number,
  ) {}

  get isTombstone(): boolean {
    return false
  }

  setTombstone(): void {
    throw new WriteBufferError('ERR_READ_ONLY', 'setTombstone: a page file is read-only')
  }

  setPageId(): void {
    throw new WriteBufferError('ERR_READ_ONLY', 'setPageId: a page file is read-only')
  }
}

/**
 * What a page file's records read: the file's bytes in memory and the
 * native side's entries for them (`REC_*` words per record, built when the
 * file was validated), shared by the file and every record it hands out.
 */
interface FileData {
  readonly bytes: ArrayBuffer
  /** `bytes.byteLength`, read once (a getter V8 does not inline into `next()`). */
  readonly byteLength: number
  readonly view: DataView
  readonly entries: Uint32Array
  readonly groupHigh: bigint
  /** For errors: `PageFile <path>`. */
  readonly what: string
}

/** The page id of the entry at word `w` (its two words). */
function entryPageId(e: Uint32Array, w: number): bigint {
  const hi = e[w + REC_ID_HI]
  return hi === 0 ? BigInt(e[w + REC_ID]) : (BigInt(hi) << 32n) | BigInt(e[w + REC_ID])
}

/**
 * A page record of a page file: its entry, nothing more; `addr`, `pageId`,
 * `header` are made when asked, the view when first asked (like a buffer's
 * records). The bytes stay readable after `close()`, as views do.
 */
class FilePageRecord {
  readonly kind = 'page' as const
  readonly #f: FileData
  /** The entry's first word in `entries`. */
  readonly #w: number
  #page: Buffer | undefined
  constructor(f: FileData, w: number) {
    this.#f = f
    this.#w = w
  }

  get addr(): bigint {
    return addrOf(this.#f.groupHigh, this.#f.entries[this.#w + REC_OFFSET])
  }

  get pageId(): bigint {
    return entryPageId(this.#f.entries, this.#w)
  }

  get page(): Buffer {
    let page = this.#page
    if (page === undefined) {
      const e = this.#f.entries
      const w = this.#w
      page = this.#page = viewOutsideTry(this.#f.bytes, e[w + REC_POS] + e[w + REC_POS_HI] * TWO_32, e[w + REC_SIZE])
    }
    return page
  }

  get header(): RecordHeader {
    return new FileHeader('page', this.pageId, this.#f.entries[this.#w + REC_SIZE])
  }

  [inspect.custom](): string {
    return `PageRecord { addr: ${this.addr}n, pageId: ${this.pageId}n, pageSize: ${this.#f.entries[this.#w + REC_SIZE]} }`
  }
}

/**
 * A page file's records in buffer order, decoded in JS from the entries:
 * a body that would run past the file's bytes, or flags of no known kind,
 * is `ERR_CORRUPT` (the native side refused such a file at open; this
 * holds whatever hands the entries in), and the iteration ends there.
 */
class FileRecordIterator implements IterableIterator<BufferRecord> {
  readonly #f: FileData
  #w = 0
  constructor(f: FileData) {
    this.#f = f
  }

  [Symbol.iterator](): this {
    return this
  }

  next(): IteratorResult<BufferRecord> {
    const f = this.#f
    const e = f.entries
    const w = this.#w
    // One result object, made at one place (as a buffer's `records()`): V8
    // then removes it when `next` is inlined into a `for…of`.
    let value: BufferRecord | undefined
    if (w + REC_WORDS <= e.length) {
      this.#w = w + REC_WORDS
      const flags = e[w + REC_FLAGS]
      const size = e[w + REC_SIZE]
      const pos = e[w + REC_POS] + e[w + REC_POS_HI] * TWO_32
      if (pos + size > f.byteLength) {
        this.#w = e.length
        throw pastFile(f, w, size, pos)
      }
      if (flags === PAGE_FLAGS) value = new FilePageRecord(f, w)
      else if (flags === DEALLOC_FLAGS) value = deallocRecord(f, w, size, pos)
      else {
        this.#w = e.length
        throw unknownKind(flags, f.what, true)
      }
    }
    return { done: value === undefined, value } as IteratorResult<BufferRecord>
  }
}

/** A record whose body would run past the file's bytes (made out of line: keeps `next()` small enough to inline). */
function pastFile(f: FileData, w: number, size: number, pos: number): WriteBufferError {
  return new WriteBufferError(
    'ERR_CORRUPT',
    `${f.what}: the record at offset ${f.entries[w + REC_OFFSET]} claims ${size} bytes at ${pos}, past the file's ${f.byteLength}`,
  )
}

/** A page file's dealloc record (its addresses read from the file's bytes). */
function deallocRecord(f: FileData, w: number, size: number, pos: number): BufferRecord {
  const addrs: bigint[] = new Array(size >>> 3)
  for (let k = 0; k < addrs.length; k++) addrs[k] = f.view.getBigUint64(pos + k * 8, true)
  const addr = addrOf(f.groupHigh, f.entries[w + REC_OFFSET])
  return { kind: 'dealloc', addr, addrs, header: new FileHeader('dealloc', 0n, size) }
}

/**
 * A page file written by `flushTo`, validated and read into memory: its
 * pages keep the addresses the buffer handed out. Views are zero-copy over
 * the file's bytes in memory (read-only by contract); in the `'js'` arena
 * mode those bytes are one JS-owned copy made when the file is opened.
 */
export class PageFile implements Iterable<BufferRecord> {
  readonly #native: native.NativePageFile
  readonly #bytes: ArrayBuffer
  readonly #entries: Uint32Array
  readonly #file: FileData
  readonly #path: string
  #closed = false

  private constructor(nf: native.NativePageFile, path: string) {
    this.#native = nf
    this.#path = path
    this.#bytes = nf.bytes()
    this.#entries = nf.entries()
    this.#file = {
      bytes: this.#bytes,
      byteLength: this.#bytes.byteLength,
      view: new DataView(this.#bytes),
      entries: this.#entries,
      groupHigh: groupHigh(nf.groupId),
      what: `PageFile ${path}`,
    }
  }

  /**
   * Reads and validates the file off the JS thread: magic, version,
   * checksums, bounds, index. `ERR_CORRUPT` (naming what failed) for a torn,
   * truncated or altered file; Node's errno code (`ENOENT`, …) when it
   * cannot be read.
   */
  static async open(path: string): Promise<PageFile> {
    if (typeof path !== 'string') throw invalidType('path', 'of type string', path)
    const full = resolvePath(path)
    let nf: native.NativePageFile
    try {
      nf = await native.openPageFile(full)
    } catch (e) {
      throw nativeError(e, 'PageFile.open', full)
    }
    return new PageFile(nf, full)
  }

  /** The file's absolute path. */
  get path(): string {
    return this.#path
  }

  /** The group id of the flushed buffer (the high 32 bits of every address). */
  get groupId(): number {
    this.#check('groupId')
    return this.#native.groupId
  }

  /** Records in the file. */
  get size(): number {
    return this.#entries.length / REC_WORDS
  }

  #check(what: string): void {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', `PageFile.${what}: the page file is closed`)
  }

  /** The records in buffer order (tombstones were never written). */
  records(): IterableIterator<BufferRecord> {
    this.#check('records')
    return new FileRecordIterator(this.#file)
  }

  [Symbol.iterator](): IterableIterator<BufferRecord> {
    return this.records()
  }

  /** The zero-copy view of the page at `addr` (the address the buffer handed out). */
  page(addr: U64Like): Buffer {
    this.#check('page')
    const a = toU64('addr', addr)
    putU64('addr', a)
    this.#native.locate()
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `PageFile.page(${a})`)
    return new PageView(this.#bytes, S32[O_U64] + S32[O_U64_HI] * TWO_32, S32[O_SIZE]) as Buffer
  }

  /** Forgets the file: later calls throw `ERR_CLOSED`; memory is freed once no view is left. */
  close(): void {
    this.#closed = true
  }

  [inspect.custom](): string {
    return `PageFile { path: '${this.#path}', records: ${this.size}${this.#closed ? ', closed' : ''} }`
  }
}
