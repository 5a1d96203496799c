/**
 * One buffer as this thread sees it (`Handle`), and the `Buffer` views of
 * its pages (`PageView`, also used by page files).
 */
import * as address from './address.ts'
import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { HEADER_SIZE } from './constants.ts'
import * as native from '../load-binding.js'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { S32, call, fastHeader } = scratch
const { S_SLOT, A_RECORD } = layout
const { addrOf, groupHigh } = address
const HEADER = HEADER_SIZE

/**
 * Page views: `Buffer`s (`instanceof Buffer`, `Buffer.isBuffer`, every Buffer
 * method) made by a `Uint8Array` subclass whose prototype is chained to
 * `Buffer.prototype`: construction costs half of `Buffer.from(ab, off, len)`,
 * which re-validates its arguments on every call.
 */
export class PageView extends Uint8Array {}
Object.setPrototypeOf(PageView.prototype, Buffer.prototype)
Object.defineProperty(PageView.prototype, 'constructor', { value: Buffer, writable: true, configurable: true })

/** The slot a disposed buffer's handle names: never a registered slot. */
export const NO_SLOT = 0xffff_ffff

/**
 * One buffer as this thread sees it: the native owner, its slot, the arena.
 * In the `'js'` arena mode `jsBytes` is the `Uint8Array` over the arena that
 * the native side borrows (`arena` is then its `SharedArrayBuffer`, and the
 * arena starts at `base` in it); otherwise the arena is an external
 * `ArrayBuffer` and `base` is 0.
 */
export class Handle {
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
    this.groupHigh = groupHigh(groupId)
  }

  addr(record: number): bigint {
    return addrOf(this.groupHigh, record)
  }

  pageView(record: number, size: number): Buffer {
    // (A SharedArrayBuffer too: PageView's inherited constructor types say ArrayBuffer only.)
    return new PageView(this.arena as ArrayBuffer, record + this.body, size) as Buffer
  }

  /** Reads the header at `record` into the scratch block. */
  readHeader(record: number): void {
    S32[S_SLOT] = this.slot
    S32[A_RECORD] = record
    call(fastHeader, 'RecordHeader')
  }

  deallocAddrs(record: number, size: number): bigint[] {
    const out: bigint[] = new Array(size / 8)
    const base = record + HEADER
    for (let i = 0; i < out.length; i++) out[i] = this.view.getBigUint64(base + i * 8, true)
    return out
  }
}
