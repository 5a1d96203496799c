/**
 * `PageFile`: a page file written by `flushTo`, validated and read into
 * memory by the native side; its records and pages, read-only.
 */
import { resolve as resolvePath } from 'node:path'
import { inspect } from 'node:util'

import { addrOf, groupHigh } from './address.ts'
import { invalidType, toU64 } from './args.ts'
import { WriteBufferError, nativeError, statusError } from './errors.ts'
import { PageView } from './handle.ts'
import * as layout from './layout.ts'
import { kindOf, type RecordKind } from './records.ts'
import * as scratch from './scratch.ts'
import type { BufferRecord, RecordHeader, U64Like } from './types.ts'
import * as native from '../load-binding.js'

const TWO_32 = 2 ** 32
const { S32, SI32, putU64 } = scratch
const { S_STATUS, O_SIZE, O_U64, O_U64_HI, REC_WORDS, REC_OFFSET, REC_FLAGS, REC_SIZE, REC_ID, REC_ID_HI, REC_POS, REC_POS_HI } = layout

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
 * A page file written by `flushTo`, validated and read into memory: its
 * pages keep the addresses the buffer handed out. Views are zero-copy over
 * the file's bytes in memory (read-only by contract); in the `'js'` arena
 * mode those bytes are one JS-owned copy made when the file is opened.
 */
export class PageFile implements Iterable<BufferRecord> {
  readonly #native: native.NativePageFile
  readonly #bytes: ArrayBuffer
  readonly #view: DataView
  readonly #entries: Uint32Array
  readonly #groupHigh: bigint
  readonly #path: string
  #closed = false

  private constructor(nf: native.NativePageFile, path: string) {
    this.#native = nf
    this.#path = path
    this.#bytes = nf.bytes()
    this.#view = new DataView(this.#bytes)
    this.#entries = nf.entries()
    this.#groupHigh = groupHigh(nf.groupId)
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

  #record(i: number): BufferRecord {
    const e = this.#entries
    const w = i * REC_WORDS
    const addr = addrOf(this.#groupHigh, e[w + REC_OFFSET])
    const size = e[w + REC_SIZE]
    const pos = e[w + REC_POS] + e[w + REC_POS_HI] * TWO_32
    const kind = kindOf(e[w + REC_FLAGS], `PageFile ${this.#path}`, true)
    switch (kind) {
      case 'page': {
        const pageId = (BigInt(e[w + REC_ID_HI]) << 32n) | BigInt(e[w + REC_ID])
        const page = new PageView(this.#bytes, pos, size) as Buffer
        return { kind, addr, pageId, page, header: new FileHeader(kind, pageId, size) }
      }
      case 'dealloc': {
        const addrs: bigint[] = new Array(size / 8)
        for (let k = 0; k < addrs.length; k++) addrs[k] = this.#view.getBigUint64(pos + k * 8, true)
        return { kind, addr, addrs, header: new FileHeader(kind, 0n, size) }
      }
    }
  }

  /** The records in buffer order (tombstones were never written). */
  records(): IterableIterator<BufferRecord> {
    this.#check('records')
    return this.#walk()
  }

  *#walk(): IterableIterator<BufferRecord> {
    const n = this.size
    for (let i = 0; i < n; i++) yield this.#record(i)
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
