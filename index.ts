/**
 * photon-write-buffer: the photondb page store's write buffer for Node.
 *
 * The public API over the napi binding (`binding.js`, generated). Hot calls
 * pass their arguments through a per-thread scratch block (see
 * `crate/binding/src/scratch.rs`) instead of napi arguments, and results
 * come back the same way; page views are `Buffer`s sliced from one external
 * `ArrayBuffer` per arena per thread (or, in the `'js'` arena mode, from the
 * arena's `SharedArrayBuffer`). Layout math and error codes come from the
 * native side; nothing here re-implements them.
 */
import { endianness } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import { inspect } from 'node:util'

import { U64_MAX, U64_RANGE, checkBoolean, checkU32, invalidType, outOfRange, toU64 } from './args.ts'
import * as native from './load-binding.js'

if (endianness() !== 'LE') {
  // Every target we build for is little-endian; the scratch block relies on it.
  throw new Error('photon-write-buffer supports little-endian hosts only')
}

// ---------------------------------------------------------------------------
// Public types (SPEC §2)

/** `'flush'`: sealed and no writer left: flush it now. */
export type ReleaseState = 'none' | 'flush'

/** A page id or address: a `bigint`, or a non-negative safe-integer `number`. */
export type U64Like = bigint | number

/** The header of a record in the buffer. */
export interface RecordHeader {
  readonly kind: 'page' | 'dealloc'
  /** The page id; `0n` for a dealloc record. */
  readonly pageId: bigint
  /** Body bytes, before padding. */
  readonly pageSize: number
  readonly isTombstone: boolean
  /** Replaces the record's flags with `TOMBSTONE`: iteration and flushes skip it. */
  setTombstone(): void
  /** Sets the page id of a page record. */
  setPageId(pageId: U64Like): void
}

/** A reserved page: its address and a writable, zero-copy view of its body. */
export interface PageAlloc {
  readonly addr: bigint
  readonly page: Buffer
  readonly header: RecordHeader
}

/** A live record met by iteration. */
export type BufferRecord =
  | { readonly kind: 'page'; readonly addr: bigint; readonly pageId: bigint; readonly page: Buffer; readonly header: RecordHeader }
  | { readonly kind: 'dealloc'; readonly addr: bigint; readonly addrs: bigint[]; readonly header: RecordHeader }

/**
 * What `share()` returns: a plain, structured-cloneable object naming the
 * buffer; pass it to a worker (`postMessage`, `workerData`) and call
 * `WriteBuffer.attach(handle)` there.
 */
export interface WriteBufferHandle {
  readonly photonWriteBuffer: number
  readonly groupId: number
  readonly capacity: number
  /** `'js'` arena mode only: the arena itself (shared memory, not a copy). */
  readonly arena?: SharedArrayBuffer
  /** `'js'` arena mode only: where the arena starts in `arena` (16-byte alignment). */
  readonly arenaOffset?: number
}

/**
 * How arenas are exposed to JS (see the README, "Electron and runtimes
 * without external buffers"): `'external'` (the default), Rust-owned memory
 * seen as external `ArrayBuffer`s; `'js'`, JS-owned `SharedArrayBuffer`s
 * whose memory the native side borrows, for runtimes that refuse external
 * buffers (Electron's V8 sandbox).
 */
export type ArenaMode = 'external' | 'js'

/** What `flushTo` resolves with. */
export interface FlushResult {
  /** The page file's absolute path. */
  readonly path: string
  /** Bytes in the file. */
  readonly bytes: number
  /** Records written (live pages and kept dealloc records). */
  readonly records: number
}

/**
 * A writer's private chunk of a buffer (`WriteBuffer#lane`): reserved with
 * one CAS that counts one writer; `allocPage` then bump-allocates inside it
 * without touching the shared state word. `close()` (or `using`) covers the
 * unused tail with a tombstone filler record and releases the writer.
 */
export interface Lane extends Disposable {
  /** Free bytes left in the lane. */
  readonly remaining: number
  readonly isClosed: boolean
  /** A page record in the lane; `ERR_AGAIN` when it does not fit what is left: close the lane and take another. */
  allocPage(pageId: U64Like, pageSize: number): PageAlloc
  /**
   * As `allocPage`, but `null` instead of `ERR_AGAIN` when the page does not
   * fit: the fast way to detect a full lane in a loop (throwing costs
   * microseconds).
   */
  tryAllocPage(pageId: U64Like, pageSize: number): PageAlloc | null
  /** Writes the filler, releases the writer. `ERR_CLOSED` the second time. */
  close(): ReleaseState
}

/**
 * One writer in progress (`WriteBuffer#acquire`): the buffer cannot become
 * flushable until it is released. `release()` or `using` releases it once;
 * a second `release()` throws `ERR_CLOSED` instead of releasing another
 * writer's count.
 */
export interface WriterGuard extends Disposable {
  readonly isReleased: boolean
  /** `allocPage(pageId, pageSize, false)`: covered by this guard's writer. */
  allocPage(pageId: U64Like, pageSize: number): PageAlloc
  /** `deallocPages(addrs, false)`: covered by this guard's writer. */
  deallocPages(addrs: readonly U64Like[] | BigUint64Array): RecordHeader
  release(): ReleaseState
}

/** Stable error codes of {@link WriteBufferError}. */
export type WriteBufferErrorCode =
  | 'ERR_AGAIN'
  | 'ERR_TOO_LARGE_SIZE'
  | 'ERR_NOT_FLUSHABLE'
  | 'ERR_NO_WRITER'
  | 'ERR_INVALID_ADDR'
  | 'ERR_TOO_MANY_WRITERS'
  | 'ERR_READ_ONLY'
  | 'ERR_CORRUPT'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_CLOSED'
  | 'ERR_LOCKED'
  | 'ERR_IO'

/** Every error this package throws on purpose, with a stable `code`. */
export class WriteBufferError extends Error {
  readonly code: WriteBufferErrorCode
  constructor(code: WriteBufferErrorCode, message: string) {
    super(message)
    this.name = 'WriteBufferError'
    this.code = code
  }
}

// ---------------------------------------------------------------------------
// Constants, from the native side (one source of truth)

const HEADER = native.HEADER_SIZE
const PAGE_FLAGS = native.NORMAL_PAGE
const TOMBSTONE_FLAGS = native.TOMBSTONE

/** Record header bytes. */
export const HEADER_SIZE: number = native.HEADER_SIZE
/** Records (and page bodies) start at multiples of this. */
export const ALIGN: number = native.ALIGN
/** Flags of a page record. */
export const NORMAL_PAGE: number = native.NORMAL_PAGE
/** Flags of a dealloc record. */
export const DEALLOC_PAGES: number = native.DEALLOC_PAGES
/** Flags of a tombstoned record. */
export const TOMBSTONE: number = native.TOMBSTONE
/** Smallest capacity (a power of two greater than 8). */
export const MIN_CAPACITY: number = native.MIN_CAPACITY
/** Largest capacity (2^31). */
export const MAX_CAPACITY: number = native.MAX_CAPACITY

/** Bytes a record with a `pageSize`-byte body covers: `16 + roundUp(pageSize, 8)`. */
export function recordSize(pageSize: number): number {
  checkU32('pageSize', pageSize)
  // The header plus the body rounded up to 8 (the native `recordSize`,
  // without a call across the boundary; the layout spec tests pin both).
  return HEADER_SIZE + Math.ceil(pageSize / ALIGN) * ALIGN
}

/**
 * Write-buffer arenas allocated and not yet freed in this process, on every
 * thread: a diagnostic for leak checks (an arena is freed once its last
 * `WriteBuffer` and view, on every thread, are collected).
 */
export function liveArenas(): number {
  return native.liveArenas()
}

// ---------------------------------------------------------------------------
// Arena mode

const ARENA_ENV = process.env.PHOTON_WB_ARENA
if (ARENA_ENV === 'js') {
  native.useJsArena()
} else if (ARENA_ENV !== undefined && ARENA_ENV !== '' && ARENA_ENV !== 'external') {
  const err = new Error(
    `photon-write-buffer: PHOTON_WB_ARENA must be 'external' or 'js' (or unset); got ${JSON.stringify(ARENA_ENV)}`,
  )
  ;(err as { code?: string }).code = 'ERR_INVALID_ARG_VALUE'
  throw err
}

const NO_EXTERNAL = 'ERR_NO_EXTERNAL_BUFFERS'

function isNoExternal(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === NO_EXTERNAL
}

/**
 * The process-wide arena mode: `'external'` unless `PHOTON_WB_ARENA=js`
 * forced `'js'` at load or the runtime refused an external `ArrayBuffer`
 * (then `'js'` for the rest of the process). It is decided when the package
 * loads in practice (its first external buffer is the per-thread scratch
 * block, made at load); a refusal met later switches it then.
 */
export let arenaMode: ArenaMode = native.arenaMode()

/** Re-reads the process-wide mode (it only ever goes from 'external' to 'js'). */
function syncArenaMode(): ArenaMode {
  if (arenaMode === 'external' && native.arenaMode() === 'js') arenaMode = 'js'
  return arenaMode
}

/** A zeroed `SharedArrayBuffer` of `bytes` for the native side to borrow. */
function sharedBytes(bytes: number, what: string): SharedArrayBuffer {
  if (typeof SharedArrayBuffer !== 'function') {
    throw new WriteBufferError(
      'ERR_OUT_OF_MEMORY',
      `${what}: the 'js' arena mode needs SharedArrayBuffer, which this context does not provide (an Electron renderer needs cross-origin isolation)`,
    )
  }
  try {
    return new SharedArrayBuffer(bytes)
  } catch {
    throw new WriteBufferError('ERR_OUT_OF_MEMORY', `${what}: could not allocate ${bytes} bytes`)
  }
}

/** Records need 8-byte alignment, the core's arena 16 (`ARENA_ALIGN`). */
const ARENA_ALIGN = 16

/**
 * A `'js'` arena: `capacity` zeroed bytes of a new `SharedArrayBuffer`,
 * starting on a 16-byte boundary (16 spare bytes and an offset in the rare
 * case the allocation itself is not 16-aligned).
 */
function jsArena(capacity: number): Uint8Array {
  const sab = sharedBytes(capacity, 'new WriteBuffer')
  const bytes = new Uint8Array(sab)
  if (native.misalignment(bytes) === 0) return bytes
  const padded = sharedBytes(capacity + ARENA_ALIGN, 'new WriteBuffer')
  const mis = native.misalignment(new Uint8Array(padded))
  return new Uint8Array(padded, (ARENA_ALIGN - mis) % ARENA_ALIGN, capacity)
}

function scratchBlock(): ArrayBuffer | SharedArrayBuffer {
  const jsBlock = () => new Uint8Array(sharedBytes(native.SCRATCH_WORDS * 4, 'photon-write-buffer'))
  let block: ArrayBuffer | Uint8Array
  try {
    block = native.scratch(arenaMode === 'js' ? jsBlock() : undefined)
  } catch (e) {
    if (!isNoExternal(e)) throw e
    block = native.scratch(jsBlock())
  }
  syncArenaMode()
  return block instanceof Uint8Array ? (block.buffer as SharedArrayBuffer) : block
}

// ---------------------------------------------------------------------------
// Scratch block and status handling

const scratchBuffer = scratchBlock()
const S32 = new Uint32Array(scratchBuffer)
const SI32 = new Int32Array(scratchBuffer)
const S64 = new BigUint64Array(scratchBuffer)
const S_SLOT = native.S_SLOT
const S_ARG = native.S_ARG
const S_U64 = native.S_U64
const S_U64_BIG = native.S_U64 / 2
const S_STATUS = native.S_STATUS
const S_OUT = native.S_OUT
const S_OUT_U64_BIG = native.S_OUT_U64 / 2
const FILL_STRIDE = native.FILL_STRIDE
const CODES = native.errorCodes() as (WriteBufferErrorCode | 'ERR_OUT_OF_RANGE')[]
const AGAIN_STATUS = -1 - CODES.indexOf('ERR_AGAIN')
const TWO_32 = 2 ** 32

const MESSAGES: Record<string, string> = {
  ERR_AGAIN: 'the buffer is sealed or has not enough room left: seal it and use the next buffer',
  ERR_TOO_LARGE_SIZE: 'the record can never fit a buffer of this capacity: use a larger buffer',
  ERR_NOT_FLUSHABLE: 'the buffer is not flushable: seal it and release every writer first',
  ERR_NO_WRITER: 'no writer acquired on this thread is in progress: releaseWriter() must pair with an acquiring reservation made on the same thread',
  ERR_INVALID_ADDR: 'the address is not a live page record of this buffer',
  ERR_TOO_MANY_WRITERS: '2^31 - 1 writers are already in progress',
  ERR_READ_ONLY: 'the buffer is flushable (sealed, no writer): its record headers are read-only',
  ERR_CORRUPT: 'the buffer fails a structure check (was it written through a view\'s .buffer?)',
  ERR_OUT_OF_MEMORY: 'the arena could not be allocated',
}

/** The status of a call on a slot that names no buffer: a disposed one. */
const STATUS_NO_SLOT = -1000
/** The slot a disposed buffer's handle names: never a registered slot. */
const NO_SLOT = 0xffff_ffff

function statusError(status: number, what: string): Error {
  if (status === STATUS_NO_SLOT) {
    return new WriteBufferError('ERR_CLOSED', `${what}: the WriteBuffer was disposed on this thread`)
  }
  const code = CODES[-1 - status]
  if (code === undefined) return new Error(`${what}: internal error (status ${status}); please report it`)
  if (code === 'ERR_OUT_OF_RANGE') return outOfRange('capacity', 'a power of two in [16, 2^31]', what)
  return new WriteBufferError(code, `${what}: ${MESSAGES[code]}`)
}

/**
 * The error of a failed native outcome: `WriteBufferError` for the
 * package's codes, else a Node-style `Error` whose `code` is the errno name
 * (`ENOSPC`, `EACCES`, `EEXIST`, …) and whose `path` is the file.
 */
function outcomeError(code: string, message: string, what: string, path: string): Error {
  if (code.startsWith('ERR_')) {
    return new WriteBufferError(code as WriteBufferErrorCode, `${what}: ${message}`)
  }
  const err = new Error(`${what}: ${message}`) as Error & { code: string; path: string }
  err.code = code
  err.path = path
  return err
}

/** Runs a scratch call and throws its error, if any. */
function call(fn: () => void, what: string): void {
  fn()
  const status = SI32[S_STATUS]
  if (status !== 0) throw statusError(status, what)
}

// ---------------------------------------------------------------------------
// Argument checks, with Node's error classes and codes

/** Writes a u64 argument into the scratch block. */
function putU64(name: string, value: unknown): void {
  if (typeof value === 'number') {
    if (value >>> 0 === value) {
      S32[S_U64] = value
      S32[S_U64 + 1] = 0
      return
    }
    if (Number.isSafeInteger(value) && value >= 0) {
      S32[S_U64] = value % TWO_32
      S32[S_U64 + 1] = Math.floor(value / TWO_32)
      return
    }
    throw outOfRange(name, U64_RANGE, value)
  }
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) {
      S64[S_U64_BIG] = value
      return
    }
    throw outOfRange(name, U64_RANGE, value)
  }
  throw invalidType(name, 'of type bigint or number', value)
}

function toU64Array(name: string, value: unknown): BigUint64Array {
  if (value instanceof BigUint64Array) return value
  if (!Array.isArray(value)) throw invalidType(name, 'an Array or a BigUint64Array', value)
  const out = new BigUint64Array(value.length)
  for (let i = 0; i < value.length; i++) out[i] = toU64(`${name}[${i}]`, value[i])
  return out
}

// ---------------------------------------------------------------------------
// Internals shared by the buffer, its allocations, headers and records

/**
 * Page views: `Buffer`s (`instanceof Buffer`, `Buffer.isBuffer`, every Buffer
 * method) made by a `Uint8Array` subclass whose prototype is chained to
 * `Buffer.prototype`: construction costs half of `Buffer.from(ab, off, len)`,
 * which re-validates its arguments on every call.
 */
class PageView extends Uint8Array {}
Object.setPrototypeOf(PageView.prototype, Buffer.prototype)
Object.defineProperty(PageView.prototype, 'constructor', { value: Buffer, writable: true, configurable: true })

/** A native wait's outcome: `WAIT_DROPPED` rejects (a cancelled wait's promise is no longer watched). */
function waitOutcome(outcome: number): void {
  if (outcome === native.WAIT_DROPPED) {
    throw new WriteBufferError(
      'ERR_CLOSED',
      'waitFlushed: the buffer was dropped on every thread before it was flushed: nothing can flush it any more',
    )
  }
}

/**
 * One buffer as this thread sees it: the native owner, its slot, the arena.
 * In the `'js'` arena mode `jsBytes` is the `Uint8Array` over the arena that
 * the native side borrows (`arena` is then its `SharedArrayBuffer`, and the
 * arena starts at `base` in it); otherwise the arena is an external
 * `ArrayBuffer` and `base` is 0.
 */
class Handle {
  /** `NO_SLOT` once disposed: every call then fails with `ERR_CLOSED`. */
  slot: number
  readonly arena: ArrayBuffer | SharedArrayBuffer
  readonly base: number
  /** Offset of a record's body in `arena`: `base + HEADER_SIZE`. */
  readonly body: number
  readonly view: DataView
  /** The whole arena, for copies that need no view object (`writePage`). */
  readonly bytes: Uint8Array
  readonly groupHigh: bigint
  constructor(
    readonly owner: native.NativeBuffer,
    readonly groupId: number,
    readonly capacity: number,
    readonly jsBytes?: Uint8Array,
  ) {
    this.slot = owner.slot
    if (jsBytes === undefined) {
      this.arena = owner.arena()
      this.base = 0
    } else {
      this.arena = jsBytes.buffer as SharedArrayBuffer
      this.base = jsBytes.byteOffset
    }
    this.body = this.base + HEADER
    this.view = new DataView(this.arena, this.base, capacity)
    this.bytes = new Uint8Array(this.arena, this.base, capacity)
    this.groupHigh = BigInt(groupId) << 32n
  }

  addr(record: number): bigint {
    return this.groupHigh | BigInt(record + HEADER)
  }

  pageView(record: number, size: number): Buffer {
    // (A SharedArrayBuffer too: PageView's inherited constructor types say ArrayBuffer only.)
    return new PageView(this.arena as ArrayBuffer, record + this.body, size) as Buffer
  }

  /** Reads the header at `record` into the scratch block. */
  readHeader(record: number): void {
    S32[S_SLOT] = this.slot
    S32[S_ARG] = record
    call(native.fastHeader, 'RecordHeader')
  }

  deallocAddrs(record: number, size: number): bigint[] {
    const out: bigint[] = new Array(size / 8)
    const base = record + HEADER
    for (let i = 0; i < out.length; i++) out[i] = this.view.getBigUint64(base + i * 8, true)
    return out
  }
}

class Header implements RecordHeader {
  readonly #h: Handle
  readonly #record: number
  readonly kind: 'page' | 'dealloc'
  constructor(h: Handle, record: number, kind: 'page' | 'dealloc') {
    this.#h = h
    this.#record = record
    this.kind = kind
  }

  get pageId(): bigint {
    if (this.kind === 'dealloc') return 0n
    this.#h.readHeader(this.#record)
    return S64[S_OUT_U64_BIG]
  }

  get pageSize(): number {
    this.#h.readHeader(this.#record)
    return S32[S_OUT + 1]
  }

  get isTombstone(): boolean {
    this.#h.readHeader(this.#record)
    return S32[S_OUT] === TOMBSTONE_FLAGS
  }

  setTombstone(): void {
    S32[S_SLOT] = this.#h.slot
    S32[S_ARG] = this.#record
    call(native.fastSetTombstone, 'setTombstone')
  }

  setPageId(pageId: U64Like): void {
    if (this.kind !== 'page') {
      throw new WriteBufferError('ERR_INVALID_ADDR', 'setPageId: only page records have a page id')
    }
    putU64('pageId', pageId)
    S32[S_SLOT] = this.#h.slot
    S32[S_ARG] = this.#record
    call(native.fastSetPageId, 'setPageId')
  }

  [inspect.custom](): string {
    return `RecordHeader { kind: '${this.kind}', pageId: ${this.pageId}n, pageSize: ${this.pageSize}, isTombstone: ${this.isTombstone} }`
  }
}

class Alloc implements PageAlloc {
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
class RecordIterator implements IterableIterator<BufferRecord> {
  readonly #h: Handle
  readonly #words = new Uint32Array(FILL_STRIDE * 257)
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
    const e = i * FILL_STRIDE
    const record = w[e]
    const value: BufferRecord =
      w[e + 1] === PAGE_FLAGS
        ? new PageRecord(this.#h, record, w[e + 2], this.#ids[e / 2 + 2])
        : new DeallocRecord(this.#h, record, w[e + 2])
    return { done: false, value }
  }

  #fill(): boolean {
    const n = native.recordsFill(this.#h.slot, this.#next, this.#words)
    if (n < 0) {
      this.#done = true
      throw statusError(n, 'records')
    }
    this.#next = this.#words[0]
    this.#count = n
    this.#at = 0
    // An unconditional store: a store that first runs at the very end of an
    // iteration has no type feedback and deoptimizes the caller's loop.
    this.#done = n === 0
    return n > 0
  }
}

const NO_IDS = new BigUint64Array(0)
const NO_SIZES = new Uint32Array(0)
const ONE_OUT = new Uint32Array(1)

function releaseState(what: string): ReleaseState {
  const status = SI32[S_STATUS]
  if (status !== 0) throw statusError(status, what)
  return S32[S_OUT] === 1 ? 'flush' : 'none'
}

class LaneImpl implements Lane {
  readonly #h: Handle
  #cursor: number
  readonly #end: number
  #closed = false
  constructor(h: Handle, cursor: number, end: number) {
    this.#h = h
    this.#cursor = cursor
    this.#end = end
  }

  get remaining(): number {
    return this.#end - this.#cursor
  }

  get isClosed(): boolean {
    return this.#closed
  }

  allocPage(pageId: U64Like, pageSize: number): PageAlloc {
    const a = this.tryAllocPage(pageId, pageSize)
    if (a === null) throw statusError(AGAIN_STATUS, `Lane.allocPage(${pageSize} bytes)`)
    return a
  }

  tryAllocPage(pageId: U64Like, pageSize: number): PageAlloc | null {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.allocPage: the lane is closed: take another lane')
    if (typeof pageSize !== 'number' || pageSize >>> 0 !== pageSize) checkU32('pageSize', pageSize)
    putU64('pageId', pageId)
    const h = this.#h
    S32[S_SLOT] = h.slot
    S32[S_ARG] = this.#cursor
    S32[S_ARG + 1] = this.#end
    S32[S_ARG + 2] = pageSize
    native.fastLaneAlloc()
    const status = SI32[S_STATUS]
    if (status !== 0) {
      if (status === AGAIN_STATUS) return null
      throw statusError(status, `Lane.allocPage(${pageSize} bytes)`)
    }
    this.#cursor = S32[S_OUT + 1]
    return new Alloc(h, S32[S_OUT], pageSize)
  }

  close(): ReleaseState {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.close: the lane is already closed')
    S32[S_SLOT] = this.#h.slot
    S32[S_ARG] = this.#cursor
    S32[S_ARG + 1] = this.#end
    native.fastLaneClose()
    const state = releaseState('Lane.close')
    this.#closed = true
    return state
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close()
  }
}

class Guard implements WriterGuard {
  readonly #wb: WriteBuffer
  #released = false
  constructor(wb: WriteBuffer) {
    this.#wb = wb
  }

  get isReleased(): boolean {
    return this.#released
  }

  #check(what: string): void {
    if (this.#released) throw new WriteBufferError('ERR_CLOSED', `WriterGuard.${what}: the guard was released`)
  }

  allocPage(pageId: U64Like, pageSize: number): PageAlloc {
    this.#check('allocPage')
    return this.#wb.allocPage(pageId, pageSize, false)
  }

  deallocPages(addrs: readonly U64Like[] | BigUint64Array): RecordHeader {
    this.#check('deallocPages')
    return this.#wb.deallocPages(addrs, false)
  }

  release(): ReleaseState {
    this.#check('release')
    const state = this.#wb.releaseWriter()
    this.#released = true
    return state
  }

  [Symbol.dispose](): void {
    if (!this.#released) this.release()
  }
}

// ---------------------------------------------------------------------------
// WriteBuffer

/**
 * The `'js'` arena a handle carries, as the `Uint8Array` the native side
 * checks against the shared buffer's arena (same memory, same length), or
 * `undefined` for a handle without one.
 */
function handleArena(handle: WriteBufferHandle): Uint8Array | undefined {
  const { arena, arenaOffset, capacity } = handle
  if (arena === undefined) return undefined
  if (Object.prototype.toString.call(arena) !== '[object SharedArrayBuffer]') {
    throw new Error('handle.arena must be the SharedArrayBuffer from WriteBuffer#share()')
  }
  if (typeof arenaOffset !== 'number' || arenaOffset >>> 0 !== arenaOffset) {
    throw new Error('handle.arenaOffset must be the offset from WriteBuffer#share()')
  }
  if (typeof capacity !== 'number' || capacity >>> 0 !== capacity || arenaOffset + capacity > arena.byteLength) {
    throw new Error('handle.capacity does not fit handle.arena')
  }
  return new Uint8Array(arena, arenaOffset, capacity)
}

/** Set by `attach` for the constructor it calls: the owner to adopt (and its 'js' arena). */
let adopting: { owner: native.NativeBuffer; jsBytes: Uint8Array | undefined } | undefined

function newOwner(groupId: number, capacity: number, pool?: ArenaPool, jsBytes?: Uint8Array): native.NativeBuffer {
  try {
    return new native.NativeBuffer(groupId, capacity, pool?.[POOL], jsBytes)
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'ERR_OUT_OF_MEMORY') {
      throw new WriteBufferError(code, `new WriteBuffer: could not allocate ${capacity} bytes`)
    }
    throw e
  }
}

/** Options of the `WriteBuffer` constructor. */
export interface WriteBufferOptions {
  /** Take the arena from this pool (whose capacity must equal the buffer's) and give it back when the buffer is gone. */
  pool?: ArenaPool
}

/** Counters of an {@link ArenaPool} (a snapshot). */
export interface ArenaPoolStats {
  /** Arenas waiting for a buffer (already faulted in). */
  readonly idle: number
  /** Arenas in buffers that are still held somewhere. */
  readonly inUse: number
  /** Arenas allocated fresh. */
  readonly created: number
  /** Buffers that got a reused arena. */
  readonly reused: number
}

const POOL = Symbol('native pool')

/**
 * A bounded pool of arenas of one capacity, for code that rotates write
 * buffers: `new WriteBuffer(g, capacity, { pool })` takes an idle arena
 * (re-zeroed over what its last buffer used) or allocates one, and gives
 * it back once no thread holds that buffer or a view of it (promptly after
 * `dispose()` on every thread, else when the garbage collector frees them).
 * Reused arenas are already faulted in: no page faults, no `mmap`/`munmap`
 * per buffer. The pool keeps arenas only while those it manages (in use +
 * idle) are at most `limit`; the rest are freed.
 */
export class ArenaPool {
  readonly [POOL]: native.NativeArenaPool
  readonly capacity: number
  readonly limit: number

  /**
   * @param capacity arena bytes: a power of two in [16, 2^31]
   * @param limit arenas kept at most (in use + idle), ≥ 1
   */
  constructor(capacity: number, limit: number) {
    if (typeof capacity !== 'number') throw invalidType('capacity', 'of type number', capacity)
    if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
      throw outOfRange('capacity', 'a power of two in [16, 2^31]', capacity)
    }
    checkU32('limit', limit)
    if (limit < 1) throw outOfRange('limit', '>= 1', limit)
    this[POOL] = new native.NativeArenaPool(capacity, limit)
    this.capacity = capacity
    this.limit = limit
  }

  get stats(): ArenaPoolStats {
    const [idle, inUse, created, reused] = this[POOL].stats()
    return { idle, inUse, created, reused }
  }

  /** Frees the idle arenas (buffers in use keep theirs and give them back later). */
  clear(): void {
    this[POOL].clear(false)
  }

  /** Frees the idle arenas, and from now on every arena given back. */
  close(): void {
    this[POOL].clear(true)
  }

  [inspect.custom](): string {
    const s = this.stats
    return `ArenaPool { capacity: ${this.capacity}, limit: ${this.limit}, idle: ${s.idle}, inUse: ${s.inUse}, created: ${s.created}, reused: ${s.reused} }`
  }
}

/**
 * A fixed-capacity write buffer: writers reserve page records with one
 * atomic compare-and-swap on a packed state word; once sealed and released,
 * its records are iterated and flushed.
 */
export class WriteBuffer implements Iterable<BufferRecord> {
  readonly #h: Handle

  /**
   * @param groupId the group (file) id, the high 32 bits of every address (u32)
   * @param capacity arena bytes: a power of two in [16, 2^31]
   */
  constructor(groupId: number, capacity: number, opts?: WriteBufferOptions) {
    if (adopting !== undefined) {
      const { owner, jsBytes } = adopting
      adopting = undefined
      this.#h = new Handle(owner, owner.groupId, owner.capacity, jsBytes)
      return
    }
    checkU32('groupId', groupId)
    if (typeof capacity !== 'number') throw invalidType('capacity', 'of type number', capacity)
    if (
      !Number.isInteger(capacity) ||
      capacity < MIN_CAPACITY ||
      capacity > MAX_CAPACITY ||
      (capacity & (capacity - 1)) !== 0
    ) {
      throw outOfRange('capacity', 'a power of two in [16, 2^31]', capacity)
    }
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidType('opts', 'of type object', opts)
    const pool = opts?.pool
    if (pool !== undefined && !(pool instanceof ArenaPool)) throw invalidType('opts.pool', 'an instance of ArenaPool', pool)
    if (pool !== undefined && pool.capacity !== capacity) {
      throw outOfRange('capacity', `the pool's capacity (${pool.capacity})`, capacity)
    }
    if (syncArenaMode() === 'external') {
      const owner = newOwner(groupId, capacity, pool)
      try {
        this.#h = new Handle(owner, groupId, capacity)
        return
      } catch (e) {
        // The runtime refused the external ArrayBuffer: the process is now
        // in 'js' mode; this buffer (nothing reserved yet) is remade below.
        if (!isNoExternal(e)) throw e
        owner.dispose(undefined)
        syncArenaMode()
      }
    }
    const jsBytes = jsArena(capacity)
    this.#h = new Handle(newOwner(groupId, capacity, undefined, jsBytes), groupId, capacity, jsBytes)
  }

  /** The group (file) id. */
  get groupId(): number {
    return this.#h.groupId
  }

  /**
   * Lets go of the buffer on this thread at once instead of when it is
   * garbage-collected: every view of it made on this thread becomes empty
   * (its `ArrayBuffer` is detached), and every later call on this object
   * throws `ERR_CLOSED`. The arena is freed, or given back to its
   * {@link ArenaPool}, once no thread holds the buffer (other threads'
   * attachments and a flush in progress keep it). A second call does
   * nothing. Also `using wb = new WriteBuffer(...)`.
   */
  dispose(): void {
    const h = this.#h
    if (h.slot === NO_SLOT) return
    h.slot = NO_SLOT
    h.owner.dispose(h.arena)
  }

  [Symbol.dispose](): void {
    this.dispose()
  }

  /** Whether `dispose()` was called on this object. */
  get isDisposed(): boolean {
    return this.#h.slot === NO_SLOT
  }

  #checkLive(what: string): void {
    if (this.#h.slot === NO_SLOT) throw statusError(STATUS_NO_SLOT, what)
  }

  /** Arena bytes. */
  get capacity(): number {
    return this.#h.capacity
  }

  #state(): void {
    S32[S_SLOT] = this.#h.slot
    call(native.fastState, 'state')
  }

  /** Bytes reserved so far (a live read of the state word). */
  get allocated(): number {
    this.#state()
    return S32[S_OUT]
  }

  /** Writers in progress. */
  get writers(): number {
    this.#state()
    return S32[S_OUT + 1]
  }

  /** No more reservations are accepted. */
  get isSealed(): boolean {
    this.#state()
    return (S32[S_OUT + 2] & 1) !== 0
  }

  /** Sealed with no writer in progress: ready to be iterated and flushed. */
  get isFlushable(): boolean {
    this.#state()
    return (S32[S_OUT + 2] & 1) !== 0 && S32[S_OUT + 1] === 0
  }

  /** Nothing reserved yet. */
  get isEmpty(): boolean {
    this.#state()
    return S32[S_OUT] === 0
  }

  /**
   * Reserves a page record of `pageSize` body bytes; with `acquireWriter`
   * the same CAS counts one more writer (release it with `releaseWriter`).
   * The returned `page` is a writable, zero-copy view of the body.
   */
  allocPage(pageId: U64Like, pageSize: number, acquireWriter: boolean): PageAlloc {
    if (typeof pageSize !== 'number' || pageSize >>> 0 !== pageSize) checkU32('pageSize', pageSize)
    if (acquireWriter !== true && acquireWriter !== false) checkBoolean('acquireWriter', acquireWriter)
    return new Alloc(this.#h, this.#reserve(pageId, pageSize, acquireWriter, 'allocPage'), pageSize)
  }

  /** One reservation of a page record (`allocPage`, `writePage`): its offset. */
  #reserve(pageId: U64Like, pageSize: number, acquireWriter: boolean, what: string): number {
    putU64('pageId', pageId)
    S32[S_SLOT] = this.#h.slot
    S32[S_ARG] = pageSize
    S32[S_ARG + 1] = acquireWriter ? 1 : 0
    native.fastAlloc()
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `${what}(${pageSize} bytes)`)
    return S32[S_OUT]
  }

  /**
   * Reserves a page record of `data.byteLength` bytes, copies `data` into
   * it and returns its address: `allocPage` + `page.set(data)` without the
   * allocation object and the view (the fast path for callers that only
   * copy bytes in, such as `PageLog.append`). With `acquireWriter` the same
   * CAS counts one more writer (release it with `releaseWriter`); without,
   * the caller must make sure no flush can start before this returns (it
   * cannot on this thread: the copy is synchronous).
   */
  writePage(pageId: U64Like, data: Uint8Array, acquireWriter: boolean): bigint {
    if (!(data instanceof Uint8Array)) throw invalidType('data', 'an instance of Buffer or Uint8Array', data)
    if (acquireWriter !== true && acquireWriter !== false) checkBoolean('acquireWriter', acquireWriter)
    const h = this.#h
    const record = this.#reserve(pageId, data.byteLength, acquireWriter, 'writePage')
    h.bytes.set(data, record + HEADER)
    return h.addr(record)
  }

  /** Reserves one dealloc record whose body lists `addrs`. */
  deallocPages(addrs: readonly U64Like[] | BigUint64Array, acquireWriter: boolean): RecordHeader {
    const list = toU64Array('addrs', addrs)
    checkBoolean('acquireWriter', acquireWriter)
    const r = native.dealloc(this.#h.slot, list, acquireWriter)
    if (r < 0) throw statusError(r, `deallocPages(${list.length} addresses)`)
    return new Header(this.#h, r, 'dealloc')
  }

  /**
   * One reservation for every page record and (when `deallocAddrs` is not
   * empty) one dealloc record after them; always acquires one writer.
   */
  batch(
    pages: readonly (readonly [pageId: U64Like, pageSize: number])[],
    deallocAddrs: readonly U64Like[] | BigUint64Array,
  ): { pages: PageAlloc[]; dealloc: RecordHeader | null } {
    if (!Array.isArray(pages)) throw invalidType('pages', 'an Array of [pageId, pageSize] pairs', pages)
    const ids = new BigUint64Array(pages.length)
    const sizes = new Uint32Array(pages.length)
    for (let i = 0; i < pages.length; i++) {
      const pair: unknown = pages[i]
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalidType(`pages[${i}]`, 'a [pageId, pageSize] pair', pair)
      }
      ids[i] = toU64(`pages[${i}][0]`, pair[0])
      checkU32(`pages[${i}][1]`, pair[1])
      sizes[i] = pair[1]
    }
    const dealloc = toU64Array('deallocAddrs', deallocAddrs)
    const out = new Uint32Array(pages.length + 1)
    const status = native.batch(this.#h.slot, ids, sizes, dealloc, out)
    if (status < 0) throw statusError(status, `batch(${pages.length} pages)`)
    const h = this.#h
    const allocs: PageAlloc[] = new Array(pages.length)
    for (let i = 0; i < pages.length; i++) allocs[i] = new Alloc(h, out[i], sizes[i])
    const d = out[pages.length]
    return { pages: allocs, dealloc: d === 0xffffffff ? null : new Header(h, d, 'dealloc') }
  }

  /**
   * Reserves a lane of `bytes` (rounded up to 8, at least 16) with one CAS
   * that counts one writer. For many small pages from one thread: the
   * lane's `allocPage` touches no shared atomic. A lane keeps allocating
   * inside its chunk after the buffer is sealed (the space is already
   * reserved); the buffer becomes flushable once every lane is closed.
   */
  lane(bytes: number): Lane {
    checkU32('bytes', bytes)
    const h = this.#h
    S32[S_SLOT] = h.slot
    S32[S_ARG] = bytes
    call(native.fastLaneReserve, `lane(${bytes} bytes)`)
    return new LaneImpl(h, S32[S_OUT], S32[S_OUT + 1])
  }

  /** Counts one writer without reserving anything (`using w = wb.acquire()`). */
  acquire(): WriterGuard {
    const status = native.batch(this.#h.slot, NO_IDS, NO_SIZES, NO_IDS, ONE_OUT)
    if (status < 0) throw statusError(status, 'acquire')
    return new Guard(this)
  }

  /** Drops one writer; `'flush'` when that leaves the buffer sealed with no writer. */
  releaseWriter(): ReleaseState {
    S32[S_SLOT] = this.#h.slot
    native.fastRelease()
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, 'releaseWriter')
    return S32[S_OUT] === 1 ? 'flush' : 'none'
  }

  /** Seals the buffer; `'flush'` when no writer is in progress. `ERR_AGAIN` if already sealed. */
  seal(): ReleaseState {
    S32[S_SLOT] = this.#h.slot
    call(native.fastSeal, 'seal')
    return S32[S_OUT] === 1 ? 'flush' : 'none'
  }

  /** The zero-copy view of the live page record at `addr`. */
  page(addr: U64Like): Buffer {
    putU64('addr', addr)
    const h = this.#h
    S32[S_SLOT] = h.slot
    native.fastLocate()
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `page(${addr})`)
    return h.pageView(S32[S_OUT], S32[S_OUT + 1])
  }

  /** The live records in allocation order, tombstones skipped. Needs a flushable buffer. */
  records(): IterableIterator<BufferRecord> {
    if (!this.isFlushable) {
      throw new WriteBufferError('ERR_NOT_FLUSHABLE', `records: ${MESSAGES.ERR_NOT_FLUSHABLE}`)
    }
    return new RecordIterator(this.#h)
  }

  [Symbol.iterator](): IterableIterator<BufferRecord> {
    return this.records()
  }

  /**
   * Resolves once `onFlushed()` has been called (before or after this call).
   * A pending wait keeps the event loop alive, like pending I/O, while the
   * buffer can still be flushed; pass a `signal` to give up (the promise then
   * rejects with `signal.reason`). It rejects with `ERR_CLOSED` once the
   * buffer is dropped unflushed on every thread (collected or disposed, no
   * view or flush left): a wait never keeps the buffer alive.
   */
  waitFlushed(opts?: { signal?: AbortSignal }): Promise<void> {
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
      return Promise.reject(invalidType('opts', 'of type object', opts))
    }
    const signal = opts?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(invalidType('opts.signal', 'an instance of AbortSignal', signal))
    }
    if (signal?.aborted) return Promise.reject(signal.reason)
    try {
      this.#checkLive('waitFlushed')
    } catch (e) {
      return Promise.reject(e)
    }
    const { promise, wait } = native.waitFlushed(this.#h.slot)
    const flushed = promise.then(waitOutcome)
    if (signal === undefined) return flushed
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        wait.cancel()
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flushed.then(
        () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
        (e) => {
          signal.removeEventListener('abort', onAbort)
          reject(e)
        },
      )
    })
  }

  /** Marks the buffer flushed and wakes every waiter, on every thread. Idempotent. */
  onFlushed(): void {
    S32[S_SLOT] = this.#h.slot
    call(native.fastOnFlushed, 'onFlushed')
  }

  /**
   * A structured-cloneable handle for `WriteBuffer.attach` in any
   * worker_thread: same arena, state word and flush latch. Keep this buffer
   * (or a view of it) alive until every attach is done: the handle alone
   * does not keep the buffer alive. In the `'js'` arena mode the handle also
   * carries the arena's `SharedArrayBuffer` (cloning shares its memory).
   */
  share(): WriteBufferHandle {
    this.#checkLive('share')
    const h = this.#h
    const handle = { photonWriteBuffer: h.owner.share(), groupId: h.groupId, capacity: h.capacity }
    if (h.jsBytes === undefined) return handle
    return { ...handle, arena: h.arena as SharedArrayBuffer, arenaOffset: h.base }
  }

  /** A `WriteBuffer` over the buffer a `share()` handle names (any thread). */
  static attach(handle: WriteBufferHandle): WriteBuffer {
    if (handle === null || typeof handle !== 'object') throw invalidType('handle', 'a WriteBufferHandle', handle)
    const id = handle.photonWriteBuffer
    if (typeof id !== 'number' || id >>> 0 !== id) {
      throw invalidType('handle', 'a WriteBufferHandle from WriteBuffer#share()', handle)
    }
    let jsBytes: Uint8Array | undefined
    let owner: native.NativeBuffer
    try {
      jsBytes = handleArena(handle)
      owner = native.NativeBuffer.attach(id, jsBytes)
    } catch (e) {
      const err = new TypeError(`WriteBuffer.attach: ${(e as Error).message}`)
      ;(err as { code?: string }).code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    adopting = { owner, jsBytes: owner.isBorrowed ? jsBytes : undefined }
    return new WriteBuffer(0, 0)
  }

  /**
   * Writes the live records to a page file, durably: off the JS thread, to a
   * temporary name, data synced, renamed (never over an existing file unless
   * `overwrite`), directory synced; then calls `onFlushed()` and resolves.
   * Rejects with `ERR_NOT_FLUSHABLE` unless sealed with no writer; an I/O
   * error rejects with Node's errno `code` and leaves the buffer flushable
   * (a retry works) and no file under `path`.
   */
  async flushTo(path: string, opts?: { overwrite?: boolean }): Promise<FlushResult> {
    if (typeof path !== 'string') throw invalidType('path', 'of type string', path)
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidType('opts', 'of type object', opts)
    const overwrite = opts?.overwrite === undefined ? false : opts.overwrite
    checkBoolean('opts.overwrite', overwrite)
    this.#checkLive('flushTo')
    if (!this.isFlushable) {
      throw new WriteBufferError('ERR_NOT_FLUSHABLE', `flushTo: ${MESSAGES.ERR_NOT_FLUSHABLE}`)
    }
    const full = resolvePath(path)
    const out = await native.flushTo(this.#h.slot, full, overwrite, this.#h.jsBytes)
    if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'flushTo', full)
    return { path: full, bytes: out.bytes, records: out.records }
  }

  [inspect.custom](): string {
    this.#state()
    const [allocated, writers, flags] = [S32[S_OUT], S32[S_OUT + 1], S32[S_OUT + 2]]
    return `WriteBuffer { groupId: ${this.groupId}, capacity: ${this.capacity}, allocated: ${allocated}, writers: ${writers}, sealed: ${(flags & 1) !== 0}, flushed: ${(flags & 2) !== 0} }`
  }
}

// ---------------------------------------------------------------------------
// PageFile

class FileHeader implements RecordHeader {
  constructor(
    readonly kind: 'page' | 'dealloc',
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
    this.#groupHigh = BigInt(nf.groupId) << 32n
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
    const nf = await native.openPageFile(full)
    const code = nf.errorCode
    if (code != null) throw outcomeError(code, nf.errorMessage ?? '', 'PageFile.open', full)
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
    return this.#entries.length / native.FILE_ENTRY_WORDS
  }

  #check(what: string): void {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', `PageFile.${what}: the page file is closed`)
  }

  #record(i: number): BufferRecord {
    const e = this.#entries
    const w = i * native.FILE_ENTRY_WORDS
    const addr = this.#groupHigh | BigInt(e[w + 1] + HEADER)
    const size = e[w + 2]
    const pos = e[w + 6] + e[w + 7] * TWO_32
    if (e[w] === PAGE_FLAGS) {
      const pageId = (BigInt(e[w + 5]) << 32n) | BigInt(e[w + 4])
      const page = new PageView(this.#bytes, pos, size) as Buffer
      return { kind: 'page', addr, pageId, page, header: new FileHeader('page', pageId, size) }
    }
    const addrs: bigint[] = new Array(size / 8)
    for (let k = 0; k < addrs.length; k++) addrs[k] = this.#view.getBigUint64(pos + k * 8, true)
    return { kind: 'dealloc', addr, addrs, header: new FileHeader('dealloc', 0n, size) }
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
    const [status, pos, size] = this.#native.locate(a)
    if (status !== 0) throw statusError(status, `PageFile.page(${a})`)
    return new PageView(this.#bytes, pos, size) as Buffer
  }

  /** Forgets the file: later calls throw `ERR_CLOSED`; memory is freed once no view is left. */
  close(): void {
    this.#closed = true
  }

  [inspect.custom](): string {
    return `PageFile { path: '${this.#path}', records: ${this.size}${this.#closed ? ', closed' : ''} }`
  }
}

export { PageLog, PageLogWriter, type PageLogHandle, type PageLogOptions, type PageLogStats, type PageLogWriterStats } from './page-log.ts'
