/**
 * A writer's private chunk of a buffer (`Lane`) and one counted writer
 * (`WriterGuard`).
 */
import { checkU32 } from './args.ts'
import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { HEADER_SIZE, recordSize } from './constants.ts'
import { AGAIN_STATUS, WriteBufferError, reasonError, statusError } from './errors.ts'
import type { Handle } from './handle.ts'
import * as records from './records.ts'
import type { Lane, PageAlloc, RecordHeader, ReleaseState, U64Like, WriterGuard } from './types.ts'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { S32, SI32, putU64, releaseState, fastLaneAlloc, fastLaneClose } = scratch
const { S_SLOT, S_STATUS, A_SIZE, A_CURSOR, A_END, O_RECORD, O_CURSOR } = layout
const { Alloc } = records

export class LaneImpl implements Lane {
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
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.allocPage: the lane is closed: take another lane')
    if (typeof pageSize !== 'number' || pageSize >>> 0 !== pageSize) checkU32('pageSize', pageSize)
    putU64('pageId', pageId)
    const h = this.#h
    S32[S_SLOT] = h.slot
    S32[A_SIZE] = pageSize
    S32[A_CURSOR] = this.#cursor
    S32[A_END] = this.#end
    fastLaneAlloc()
    const status = SI32[S_STATUS]
    if (status !== 0) {
      if (status === AGAIN_STATUS) return null
      throw statusError(status, `Lane.allocPage(${pageSize} bytes)`)
    }
    this.#cursor = S32[O_CURSOR]
    return new Alloc(h, S32[O_RECORD], pageSize)
  }

  close(): ReleaseState {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', 'Lane.close: the lane is already closed')
    S32[S_SLOT] = this.#h.slot
    S32[A_CURSOR] = this.#cursor
    S32[A_END] = this.#end
    fastLaneClose()
    const state = releaseState('Lane.close')
    this.#closed = true
    return state
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
