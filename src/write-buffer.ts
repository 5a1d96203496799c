/**
 * `WriteBuffer`: a fixed-capacity buffer whose writers reserve page records
 * with one compare-and-swap on a packed state word (in the native core);
 * once sealed and released, its records are iterated and flushed.
 */
import { resolve as resolvePath } from 'node:path'
import { inspect } from 'node:util'

import { checkBoolean, checkOptionNames, checkU32, invalidType, invalidValue, outOfRange, toU64, toU64Array } from './args.ts'
import { handleArena, isNoExternal, jsArena, syncArenaMode } from './arena-mode.ts'
import * as scratch from './scratch.ts'
import { HEADER_SIZE, checkCapacity } from './constants.ts'
import { AGAIN_STATUS, CLOSED_STATUS, INVALID_ADDR_STATUS, WriteBufferError, nativeError, notFlushable, reasonError, statusError } from './errors.ts'
import * as layout from './layout.ts'
import { Handle, NO_SLOT, keepShapes, stubOwner } from './handle.ts'
import { Guard, LaneImpl } from './lane.ts'
import { ArenaPool, POOL } from './pool.ts'
import * as records from './records.ts'
import type { BufferRecord, FlushResult, Lane, PageAlloc, RecordHeader, ReleaseState, U64Like, WriteBufferHandle, WriterGuard } from './types.ts'
import * as native from '../load-binding.js'

// Hot paths read these as locals of this module (no property load on the imported module object per use).
const { S32, SI32, call, putU64, releaseState, fastState, fastAlloc, fastLaneReserve, fastMark, fastMarkRange, fastMarkRelease, fastRelease, fastSeal, fastLocate, fastOnFlushed } = scratch
const { S_SLOT, S_STATUS, A_SIZE, A_ACQUIRE, A_RECORD, A_END, O_RECORD, O_RELEASE, O_CURSOR, O_END, O_SIZE, O_ALLOCATED, O_WRITERS, O_STATE, RELEASE_FLUSH, STATE_SEALED, STATE_FLUSHED } = layout
const { Alloc, Header, RecordIterator } = records
const HEADER = HEADER_SIZE

const [NO_IDS, NO_SIZES, ONE_OUT] = [new BigUint64Array(0), new Uint32Array(0), new Uint32Array(1)]

/** @internal `WriteBuffer[MARK]` (the PageLog's appends); not exported by `index.ts`. */
export const MARK = Symbol('photon-write-buffer.mark')

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
    checkCapacity('capacity', capacity)
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw invalidType('opts', 'of type object', opts)
    if (opts !== undefined) checkOptionNames('opts', opts, ['pool'] satisfies (keyof WriteBufferOptions)[])
    const pool = opts?.pool
    if (pool !== undefined && !(pool instanceof ArenaPool)) throw invalidType('opts.pool', 'an instance of ArenaPool', pool)
    if (pool !== undefined && !(pool[POOL] instanceof native.NativeArenaPool)) {
      // Made with ArenaPool.prototype but not by its constructor: no arenas to give.
      throw invalidValue('opts.pool', 'an ArenaPool made by new ArenaPool()', pool)
    }
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
    if (this.#h.slot === NO_SLOT) throw statusError(CLOSED_STATUS, what)
  }

  /** Arena bytes. */
  get capacity(): number {
    return this.#h.capacity
  }

  #state(): void {
    S32[S_SLOT] = this.#h.slot
    call(fastState, 'state')
  }

  /** Bytes reserved so far (a live read of the state word). */
  get allocated(): number {
    this.#state()
    return S32[O_ALLOCATED]
  }

  /** Writers in progress. */
  get writers(): number {
    this.#state()
    return S32[O_WRITERS]
  }

  /** No more reservations are accepted. */
  get isSealed(): boolean {
    this.#state()
    return (S32[O_STATE] & STATE_SEALED) !== 0
  }

  /** Sealed with no writer in progress: ready to be iterated and flushed. */
  get isFlushable(): boolean {
    this.#state()
    return (S32[O_STATE] & STATE_SEALED) !== 0 && S32[O_WRITERS] === 0
  }

  /** Nothing reserved yet. */
  get isEmpty(): boolean {
    this.#state()
    return S32[O_ALLOCATED] === 0
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
    S32[A_SIZE] = pageSize
    S32[A_ACQUIRE] = acquireWriter ? 1 : 0
    fastAlloc()
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `${what}(${pageSize} bytes)`)
    return S32[O_RECORD]
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

  /** @internal Marks the record at offset `record` (with `to`: every one up to `to`) complete, so a segment commit may write it; with `release`, also releases this thread's latest writer count. */
  [MARK](record: number, release: boolean, to = -1): ReleaseState {
    S32[S_SLOT] = this.#h.slot
    S32[A_RECORD] = record
    if (to >= 0) return (S32[A_END] = to), call(fastMarkRange, 'markComplete'), 'none'
    if (!release) return call(fastMark, 'markComplete'), 'none'
    fastMarkRelease()
    return releaseState('releaseWriter')
  }

  /** Reserves one dealloc record whose body lists `addrs`. */
  deallocPages(addrs: readonly U64Like[] | BigUint64Array, acquireWriter: boolean): RecordHeader {
    const list = toU64Array('addrs', addrs)
    checkBoolean('acquireWriter', acquireWriter)
    native.dealloc(this.#h.slot, list, acquireWriter)
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `deallocPages(${list.length} addresses)`)
    return new Header(this.#h, S32[O_RECORD], 'dealloc')
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
    native.batch(this.#h.slot, ids, sizes, dealloc, out)
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, `batch(${pages.length} pages)`)
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
    S32[A_SIZE] = bytes
    call(fastLaneReserve, `lane(${bytes} bytes)`)
    return new LaneImpl(h, S32[O_CURSOR], S32[O_END])
  }

  /** Counts one writer without reserving anything (`using w = wb.acquire()`). */
  acquire(): WriterGuard {
    native.batch(this.#h.slot, NO_IDS, NO_SIZES, NO_IDS, ONE_OUT)
    const status = SI32[S_STATUS]
    if (status !== 0) throw statusError(status, 'acquire')
    return new Guard(this)
  }

  /** Drops one writer; `'flush'` when that leaves the buffer sealed with no writer. */
  releaseWriter(): ReleaseState {
    S32[S_SLOT] = this.#h.slot
    fastRelease()
    return releaseState('releaseWriter')
  }

  /** Seals the buffer; `'flush'` when no writer is in progress. `ERR_AGAIN` ("already sealed") if already sealed. */
  seal(): ReleaseState {
    S32[S_SLOT] = this.#h.slot
    fastSeal()
    const status = SI32[S_STATUS]
    if (status !== 0) throw status === AGAIN_STATUS ? reasonError('alreadySealed', 'seal') : statusError(status, 'seal')
    return S32[O_RELEASE] === RELEASE_FLUSH ? 'flush' : 'none'
  }

  /** `ERR_NOT_FLUSHABLE` for `what` unless the buffer is sealed with no writer (the error says which is missing). */
  #checkFlushable(what: string): void {
    this.#state()
    const [sealed, writers] = [(S32[O_STATE] & STATE_SEALED) !== 0, S32[O_WRITERS]]
    if (!sealed || writers !== 0) throw notFlushable(what, sealed, writers)
  }

  /** The zero-copy view of the live page record at `addr`. */
  page(addr: U64Like): Buffer {
    putU64('addr', addr)
    const h = this.#h
    S32[S_SLOT] = h.slot
    fastLocate()
    let status = SI32[S_STATUS]
    if (status === INVALID_ADDR_STATUS && h.markLanes()) {
      // A page of an open lane of this thread, written in JS and not yet marked: marked now, so look again.
      S32[S_SLOT] = h.slot
      fastLocate()
      status = SI32[S_STATUS]
    }
    if (status !== 0) throw statusError(status, `page(${addr})`)
    return h.pageView(S32[O_RECORD], S32[O_SIZE])
  }

  /** The live records in allocation order, tombstones skipped. Needs a flushable buffer. */
  records(): IterableIterator<BufferRecord> {
    this.#checkFlushable('records')
    // Flushable: nothing is reserved any more, so the bytes allocated (read by the check) stay.
    return new RecordIterator(this.#h, S32[O_ALLOCATED])
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
    if (opts !== undefined) {
      try {
        if (opts === null || typeof opts !== 'object') throw invalidType('opts', 'of type object', opts)
        checkOptionNames('opts', opts, ['signal'])
      } catch (e) {
        return Promise.reject(e)
      }
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
      const done = () => signal.removeEventListener('abort', onAbort)
      flushed.then(
        () => (done(), resolve()),
        (e) => (done(), reject(e)),
      )
    })
  }

  /** Marks the buffer flushed and wakes every waiter, on every thread. Idempotent. */
  onFlushed(): void {
    S32[S_SLOT] = this.#h.slot
    call(fastOnFlushed, 'onFlushed')
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

  /**
   * A `WriteBuffer` over the buffer a `share()` handle names (any thread).
   * A handle whose `groupId` or `capacity` is not the buffer's is refused
   * (`ERR_INVALID_ARG_VALUE`), like one that names no live buffer.
   */
  static attach(handle: WriteBufferHandle): WriteBuffer {
    return attachHandle(handle, true)
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
    if (opts !== undefined) checkOptionNames('opts', opts, ['overwrite'])
    const overwrite = opts?.overwrite === undefined ? false : opts.overwrite
    checkBoolean('opts.overwrite', overwrite)
    this.#checkLive('flushTo')
    this.#checkFlushable('flushTo')
    const full = resolvePath(path)
    let out: native.FlushOutcome
    try {
      out = await native.flushTo(this.#h.slot, full, overwrite, this.#h.jsBytes)
    } catch (e) {
      throw nativeError(e, 'flushTo', full)
    }
    return { path: full, bytes: out.bytes, records: out.records }
  }

  [inspect.custom](): string {
    this.#state()
    const [allocated, writers, flags] = [S32[O_ALLOCATED], S32[O_WRITERS], S32[O_STATE]]
    return `WriteBuffer { groupId: ${this.groupId}, capacity: ${this.capacity}, allocated: ${allocated}, writers: ${writers}, sealed: ${(flags & STATE_SEALED) !== 0}, flushed: ${(flags & STATE_FLUSHED) !== 0} }`
  }
}

/**
 * `WriteBuffer.attach`; with `check` false the handle's `groupId` and
 * `capacity` are not compared with the buffer's (for `PageLogWriter`, which
 * may know only the share id, from its log's control words).
 */
export function attachHandle(handle: WriteBufferHandle, check: boolean): WriteBuffer {
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
    throw badHandle((e as Error).message)
  }
  if (check && (owner.groupId !== handle.groupId || owner.capacity !== handle.capacity)) {
    const err = badHandle(
      `the handle says group ${String(handle.groupId)}, capacity ${String(handle.capacity)}, but buffer ${id} has group ${owner.groupId}, capacity ${owner.capacity}`,
    )
    owner.dispose(undefined)
    throw err
  }
  adopting = { owner, jsBytes: owner.isBorrowed ? jsBytes : undefined }
  return new WriteBuffer(0, 0)
}

function badHandle(message: string): TypeError {
  const err = new TypeError(`WriteBuffer.attach: ${message}`)
  ;(err as { code?: string }).code = 'ERR_INVALID_ARG_VALUE'
  return err
}

// Hidden classes kept (`keepShapes`): a buffer that adopts a stub owner (no arena, no native object).
adopting = { owner: stubOwner(), jsBytes: undefined }
keepShapes([new WriteBuffer(0, 8)])
