/**
 * A writer's private chunk of a buffer (`Lane`) and one counted writer
 * (`WriterGuard`).
 *
 * A lane's pages are allocated in JS: `wb.lane(bytes)` reserves the chunk
 * with one native call (one CAS, one writer counted, in Rust); each
 * `allocPage` then writes the record header into the arena through typed
 * arrays and bump-allocates inside the chunk, with no native call.
 * `close()` returns to Rust once: it validates the header chain, marks the
 * record starts (`page(addr)` needs them), covers the tail with a tombstone
 * filler and releases the writer.
 */
import { checkU32 } from './args.ts'
import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { HEADER_SIZE, NORMAL_PAGE, recordSize } from './constants.ts'
import {
  AGAIN_STATUS,
  CORRUPT_STATUS,
  TOO_LARGE_STATUS,
  WriteBufferError,
  reasonError,
  statusError,
} from './errors.ts'
import * as handle from './handle.ts'
import type { Handle, MarkableLane } from './handle.ts'
import * as records from './records.ts'
import type { Lane, PageAlloc, RecordHeader, ReleaseState, U64Like, WriterGuard } from './types.ts'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { NO_SLOT, openLanes } = handle
const { S32, SI32, putU64, fastLaneMark, fastLaneClose } = scratch
const { S_SLOT, S_STATUS, S_U64, S_U64_HI, A_RECORD, A_CURSOR, A_END, O_CURSOR, O_RELEASE, RELEASE_FLUSH } = layout
const { H_DATA, H_DATA_HI, H_FLAGS, H_SIZE } = layout
const { Alloc } = records
const HEADER = HEADER_SIZE
const PAGE_FLAGS = NORMAL_PAGE

/** A `Lane.close` whose chain broke: `ERR_CORRUPT`, with the release state of the close. */
export interface LaneCorruptError extends WriteBufferError {
  /** The writer was released all the same: `'flush'` when the buffer is now flushable. */
  readonly releaseState: ReleaseState
}

export class LaneImpl implements Lane, MarkableLane {
  readonly #h: Handle
  #cursor: number
  /** Where the pages not yet marked by Rust start (`mark`). */
  #marked: number
  readonly #end: number
  /** The buffer's capacity: a page that cannot fit it is `ERR_TOO_LARGE_SIZE`. */
  readonly #capacity: number
  #closed = false
  constructor(h: Handle, cursor: number, end: number) {
    this.#h = h
    this.#cursor = cursor
    this.#marked = cursor
    this.#end = end
    this.#capacity = h.capacity
    h.lanes.add(this)
    openLanes.add(this)
  }

  get remaining(): number {
    return this.#end - this.#cursor
  }

  get isClosed(): boolean {
    return this.#closed
  }

  allocPage(pageId: U64Like, pageSize: number): PageAlloc {
    const a = this.tryAllocPage(pageId, pageSize)
    if (a === null) {
      const [need, left] = [recordSize(pageSize), this.remaining]
      const detail =
        need > left
          ? `the page takes ${need} bytes of the lane, ${left} are left`
          : `the page takes ${need} of the ${left} bytes left, and a page that does not fill the lane exactly must leave ${HEADER_SIZE} bytes for its filler`
      throw reasonError('laneFull', `Lane.allocPage(${pageSize} bytes)`, detail)
    }
    return a
  }

  tryAllocPage(pageId: U64Like, pageSize: number): PageAlloc | null {
    // The common case in few bytecodes, so that it inlines into the
    // caller's loop with the view's getter: a u32 page id and size, an open
    // lane of a live buffer, room left. Everything else (and every error,
    // in the order of the checks below) takes `#alloc`.
    const h = this.#h
    if (
      typeof pageId === 'number' &&
      pageId >>> 0 === pageId &&
      typeof pageSize === 'number' &&
      pageSize >>> 0 === pageSize &&
      !this.#closed &&
      h.slot !== NO_SLOT
    ) {
      const cursor = this.#cursor
      // The record: header plus the body rounded up to 8 (`-size & 7` is
      // the padding, exact for every u32 size).
      const need = HEADER + pageSize + (-pageSize & 7)
      const left = this.#end - cursor
      // Exactly filling the lane is fine; otherwise leave room for the
      // filler's header (a tail of 8 bytes could hold no record).
      if (need === left || need + HEADER <= left) {
        // The header (the layout's `H_*` words, little-endian) at an
        // 8-aligned offset inside this lane, which only this thread writes.
        const w = h.words
        const i = cursor >>> 2
        w[i + H_DATA] = pageId
        w[i + H_DATA_HI] = 0
        w[i + H_FLAGS] = PAGE_FLAGS
        w[i + H_SIZE] = pageSize
        this.#cursor = cursor + need
        return new Alloc(h, cursor, pageSize)
      }
    }
    return this.#alloc(pageId, pageSize)
  }

  /** `tryAllocPage` in full: every check, any page id. */
  #alloc(pageId: U64Like, pageSize: number): PageAlloc | null {
    const h = this.#h
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.allocPage: the lane is closed: take another lane')
    if (h.slot === NO_SLOT) throw new WriteBufferError('ERR_CLOSED', 'Lane.allocPage: the buffer was disposed')
    if (typeof pageSize !== 'number' || pageSize >>> 0 !== pageSize) checkU32('pageSize', pageSize)
    // The page id's two words: a u32 number directly, anything else checked
    // (and split) by `putU64`, before anything is written.
    let lo: number
    let hi = 0
    if (typeof pageId === 'number' && pageId >>> 0 === pageId) lo = pageId
    else {
      putU64('pageId', pageId)
      lo = S32[S_U64]
      hi = S32[S_U64_HI]
    }
    const cursor = this.#cursor
    const need = HEADER + pageSize + (-pageSize & 7)
    const left = this.#end - cursor
    if (need !== left && need + HEADER > left) {
      if (need > this.#capacity) throw statusError(TOO_LARGE_STATUS, `Lane.allocPage(${pageSize} bytes)`)
      return null
    }
    const w = h.words
    const i = cursor >>> 2
    w[i + H_DATA] = lo
    w[i + H_DATA_HI] = hi
    w[i + H_FLAGS] = PAGE_FLAGS
    w[i + H_SIZE] = pageSize
    this.#cursor = cursor + need
    return new Alloc(h, cursor, pageSize)
  }

  mark(): boolean {
    const h = this.#h
    if (this.#closed || this.#marked === this.#cursor || h.slot === NO_SLOT) return false
    S32[S_SLOT] = h.slot
    S32[A_RECORD] = this.#marked
    S32[A_CURSOR] = this.#cursor
    S32[A_END] = this.#end
    fastLaneMark()
    // A failure (this thread no longer holds the lane) or a broken chain
    // marks nothing more; `close()` reports a broken chain.
    if (SI32[S_STATUS] !== 0) return false
    const at = S32[O_CURSOR]
    const any = at !== this.#marked
    this.#marked = at
    return any
  }

  close(): ReleaseState {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.close: the lane is already closed')
    const h = this.#h
    S32[S_SLOT] = h.slot
    S32[A_CURSOR] = this.#cursor
    S32[A_END] = this.#end
    fastLaneClose()
    const status = SI32[S_STATUS]
    if (status === 0) {
      this.#closed = true
      h.lanes.delete(this)
      openLanes.delete(this)
      return S32[O_RELEASE] === RELEASE_FLUSH ? 'flush' : 'none'
    }
    if (status !== CORRUPT_STATUS) throw statusError(status, 'Lane.close')
    // The writer was released; the lane's remainder from the broken header
    // on is a tombstone.
    this.#closed = true
    h.lanes.delete(this)
    openLanes.delete(this)
    const err = new WriteBufferError(
      'ERR_CORRUPT',
      `Lane.close: the page header at offset ${S32[O_CURSOR]} of the lane was overwritten: ` +
        'the lane from there on is now a tombstone (the writer is released)',
    ) as LaneCorruptError
    Object.defineProperty(err, 'releaseState', {
      value: S32[O_RELEASE] === RELEASE_FLUSH ? 'flush' : 'none',
      enumerable: true,
    })
    throw err
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close()
  }
}

/** What a guard drives: its buffer's writer calls (a `WriteBuffer`). */
export interface GuardedBuffer {
  allocPage(pageId: U64Like, pageSize: number, acquireWriter: boolean): PageAlloc
  deallocPages(addrs: readonly U64Like[] | BigUint64Array, acquireWriter: boolean): RecordHeader
  releaseWriter(): ReleaseState
}
export class Guard implements WriterGuard {
  readonly #wb: GuardedBuffer
  #released = false
  constructor(wb: GuardedBuffer) {
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

// The hidden class of a lane (`keepShapes`): a lane made over
// a stub handle and taken out of the open lanes at once (it was never open).
{
  const h = handle.stubHandle()
  const lane = new LaneImpl(h, 0, 0)
  h.lanes.delete(lane)
  openLanes.delete(lane)
  handle.keepShapes([lane])
}
