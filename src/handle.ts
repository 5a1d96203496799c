/**
 * One buffer as this thread sees it (`Handle`), and the `Buffer` views of
 * its pages (`PageView`, also used by page files).
 */
import * as address from './address.ts'
import * as layout from './layout.ts'
import * as scratch from './scratch.ts'
import { HEADER_SIZE } from './constants.ts'
import { INVALID_ADDR_STATUS, statusError } from './errors.ts'
import * as native from '../load-binding.js'

// Hot paths read these as locals of this module (no property load on the
// imported module object per use).
const { S32, SI32, fastHeader } = scratch
const { S_SLOT, S_STATUS, A_RECORD } = layout
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

/**
 * A page view made in a function of its own that V8 never inlines: a
 * record's `page` getter runs in the body of `for (const rec of …)`, inside
 * the try region that closes the iterator on a throw, and a getter inlined
 * there has V8 (Node 20) build a `PageView` (a class derived from
 * `Uint8Array`) through its generic construct path: 24 ns per view, against
 * 16 ns outside a try region or through this call (measured; a plain
 * `Uint8Array` is fast in both). The unreachable branch keeps the function's
 * bytecode over V8's inlining limit (460 bytes): fragile by nature (another
 * limit inlines it again, which is slower, never wrong). `records()` of
 * buffers and of page files make their views here.
 */
export function viewOutsideTry(bytes: ArrayBufferLike, offset: number, size: number): Buffer {
  if (size > 0xffff_ffff) {
    // Never taken (`size` is a u32): bytecode, not behaviour.
    let n = size
    n = (n * 31 + 1) | 0
    n = (n * 31 + 2) | 0
    n = (n * 31 + 3) | 0
    n = (n * 31 + 4) | 0
    n = (n * 31 + 5) | 0
    n = (n * 31 + 6) | 0
    n = (n * 31 + 7) | 0
    n = (n * 31 + 8) | 0
    n = (n * 31 + 9) | 0
    n = (n * 31 + 10) | 0
    n = (n * 31 + 11) | 0
    n = (n * 31 + 12) | 0
    n = (n * 31 + 13) | 0
    n = (n * 31 + 14) | 0
    n = (n * 31 + 15) | 0
    n = (n * 31 + 16) | 0
    n = (n * 31 + 17) | 0
    n = (n * 31 + 18) | 0
    n = (n * 31 + 19) | 0
    n = (n * 31 + 20) | 0
    n = (n * 31 + 21) | 0
    n = (n * 31 + 22) | 0
    n = (n * 31 + 23) | 0
    n = (n * 31 + 24) | 0
    n = (n * 31 + 25) | 0
    n = (n * 31 + 26) | 0
    n = (n * 31 + 27) | 0
    n = (n * 31 + 28) | 0
    n = (n * 31 + 29) | 0
    n = (n * 31 + 30) | 0
    n = (n * 31 + 31) | 0
    n = (n * 31 + 32) | 0
    n = (n * 31 + 33) | 0
    n = (n * 31 + 34) | 0
    n = (n * 31 + 35) | 0
    n = (n * 31 + 36) | 0
    n = (n * 31 + 37) | 0
    n = (n * 31 + 38) | 0
    n = (n * 31 + 39) | 0
    n = (n * 31 + 40) | 0
    n = (n * 31 + 41) | 0
    n = (n * 31 + 42) | 0
    n = (n * 31 + 43) | 0
    n = (n * 31 + 44) | 0
    n = (n * 31 + 45) | 0
    n = (n * 31 + 46) | 0
    n = (n * 31 + 47) | 0
    n = (n * 31 + 48) | 0
    n = (n * 31 + 49) | 0
    n = (n * 31 + 50) | 0
    throw new RangeError(`records: page size ${n}`)
  }
  // (A SharedArrayBuffer too: PageView's inherited constructor types say ArrayBuffer only.)
  return new PageView(bytes as ArrayBuffer, offset, size) as Buffer
}

/** An open lane of this thread whose pages JS wrote (`Lane`): it can have Rust mark them. */
export interface MarkableLane {
  /** Has Rust validate and mark the pages written since the last call; whether there were any. */
  mark(): boolean
}

/** Every open lane of this thread, on any buffer (`markOpenLanes`). */
const openLanes = new Set<MarkableLane>()
export { openLanes }

/**
 * Has Rust mark the pages of every open lane of this thread (for a lookup
 * through another object than the lane's buffer, e.g. a `Segment`'s
 * `markComplete`); whether any were marked.
 */
export function markOpenLanes(): boolean {
  let any = false
  for (const lane of openLanes) if (lane.mark()) any = true
  return any
}

/**
 * The slot a disposed buffer's handle names: never a registered slot (the
 * native side reads it as the u32 0xffff_ffff). A small integer, like every
 * real slot, so a handle's `slot` stays an integer field and each hot-path
 * check is an integer compare (0xffff_ffff made it a double field: a float
 * compare at every check, ~1.5 ns per record of `records()`).
 */
export const NO_SLOT = -1

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
  /** The arena as `u32` words (record headers: lanes write them, iteration reads them). */
  readonly words: Uint32Array
  /** This thread's open lanes through this handle (`markLanes`). */
  readonly lanes = new Set<MarkableLane>()
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
    this.words = new Uint32Array(this.arena, this.base, capacity >>> 2)
    this.groupHigh = groupHigh(groupId)
  }

  /**
   * Has Rust mark the record starts of the pages this thread's open lanes
   * wrote in JS (they are marked at `close()` otherwise), for a lookup of
   * one of them (`page(addr)`, a header call) that failed with
   * `ERR_INVALID_ADDR`; whether there were any (then retry the lookup).
   */
  markLanes(): boolean {
    if (this.lanes.size === 0) return false
    let any = false
    for (const lane of this.lanes) if (lane.mark()) any = true
    return any
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
    this.recordCall(fastHeader, record, 'RecordHeader')
  }

  /**
   * A scratch call on the record at `record` (slot and `A_RECORD` set here,
   * other arguments by the caller); a record of an open lane not yet marked
   * is marked and the call retried.
   */
  recordCall(fn: () => void, record: number, what: string): void {
    S32[S_SLOT] = this.slot
    S32[A_RECORD] = record
    fn()
    const status = SI32[S_STATUS]
    if (status === 0) return
    if (status === INVALID_ADDR_STATUS && this.markLanes()) {
      S32[S_SLOT] = this.slot
      S32[A_RECORD] = record
      fn()
      const again = SI32[S_STATUS]
      if (again !== 0) throw statusError(again, what)
      return
    }
    throw statusError(status, what)
  }

  deallocAddrs(record: number, size: number): bigint[] {
    const out: bigint[] = new Array(size / 8)
    const base = record + HEADER
    for (let i = 0; i < out.length; i++) out[i] = this.view.getBigUint64(base + i * 8, true)
    return out
  }
}

/**
 * The owner of no buffer (its slot is `NO_SLOT`: every call through it is
 * `ERR_CLOSED`) with an 8-byte arena of its own, and a handle of it: for the
 * objects each module keeps so that V8 keeps its classes' hidden classes
 * (`keepShapes`).
 */
export function stubOwner(): native.NativeBuffer {
  const owner = { slot: NO_SLOT, groupId: 0, capacity: 8, arena: () => new ArrayBuffer(8) }
  return owner as unknown as native.NativeBuffer
}
export function stubHandle(): Handle {
  return new Handle(stubOwner(), 0, 8)
}

/**
 * Keeps one object of each class whose instances a hot loop makes and
 * drops. V8 keeps a class's hidden classes (the maps its instances move
 * through as the constructor adds their fields) only while some object has
 * them: a full GC that finds every instance dead (every record of a
 * finished iteration, every page of a dropped buffer) drops them, throws
 * away the optimized code that embeds them ("weak objects") and clears the
 * type feedback that named them, and the next loop starts over in the
 * interpreter (measured on `records()`: 38 ns per record warm, 80–200 ns in
 * a round after a full GC; the same on lanes and `allocPage`). The kept
 * objects are made over `stubHandle()`: they hold no arena and no native
 * object. Their fields have the representations real instances have (small
 * integers where those are, objects where those are), so no later store
 * moves real instances to other maps.
 */
const KEPT: object[] = []
export function keepShapes(objects: readonly object[]): void {
  for (const o of objects) KEPT.push(o)
}
