/**
 * What `PageLog#append` and `PageLogWriter#append` share: the argument
 * checks, and one append into a given buffer.
 */
import { U32_MAX, U64_MAX, checkInt, invalidType, outOfRange, toU64 } from '../args.ts'
import { HEADER_SIZE, recordSize } from '../constants.ts'
import { WriteBufferError, isCode } from '../errors.ts'
import type { PageAlloc, ReleaseState } from '../types.ts'
import { MARK, type WriteBuffer } from '../write-buffer.ts'
import { keyOf, type Key } from './page-index.ts'

/** A writer callback: fills the zero-copy view of the page before it returns. */
export type Writer = (view: Buffer) => void

/** Checks a page id (Node's errors) and returns it as a key (see `Key`). */
export function checkPageId(value: unknown): Key {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value
  } else if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return keyOf(value)
  }
  return toU64('pageId', value) // throws Node's TypeError/RangeError
}

/**
 * Checks the `data` and `size` arguments of an `append` (Node's errors, and
 * `ERR_TOO_LARGE_SIZE` when no buffer of `bufferSize` can hold the page);
 * returns the page size.
 */
export function checkPageData(what: string, bufferSize: number, data: unknown, size: unknown): number {
  let n: number
  if (typeof data === 'function') {
    if (size === undefined) {
      throw invalidType('size', 'of type number with a writer callback', size)
    }
    n = checkInt('size', size, (v) => v >= 0 && v <= U32_MAX, 'an integer in [0, 2^32 - 1]')
  } else if (data instanceof Uint8Array) {
    n = data.byteLength
    if (size !== undefined && size !== n) {
      throw outOfRange('size', `data.byteLength (${n})`, size)
    }
  } else {
    throw invalidType('data', 'a Uint8Array or a function', data)
  }
  if (recordSize(n) > bufferSize) {
    throw new WriteBufferError('ERR_TOO_LARGE_SIZE', `${what}: a ${n}-byte page can never fit a ${bufferSize}-byte buffer`)
  }
  return n
}

/** Told of each writer count an append released, with what the release returned. */
export type Released = (wb: WriteBuffer, state: ReleaseState) => void

/**
 * Runs a writer callback on a page reserved under a writer count, then
 * marks the record complete and releases that writer (`released` is told);
 * a callback that throws gets its record tombstoned (never committed,
 * never indexed: a tombstone counts as complete) and its error passed on.
 */
function fillWith(alloc: PageAlloc, writer: Writer, wb: WriteBuffer, released: Released): bigint {
  try {
    writer(alloc.page)
  } catch (err) {
    alloc.header.setTombstone()
    released(wb, wb.releaseWriter())
    throw err
  }
  released(wb, wb[MARK](recordOf(alloc.addr), true))
  return alloc.addr
}

/** The offset of the record whose page is at `addr`. */
const recordOf = (addr: bigint): number => Number(BigInt.asUintN(32, addr)) - HEADER_SIZE

/**
 * One append of a checked page into `wb`; its address, or `null` when it
 * does not fit (`ERR_AGAIN`: the caller moves on to the next buffer). A
 * writer callback always runs under a writer count (it is user code: it
 * could call `flush()`); bytes are reserved and copied under one only with
 * `countBytes` (when another thread may flush `wb` meanwhile). Every
 * record is marked complete once filled (a segment commit may then write
 * it), in the same native call that lets go of its writer count, if any
 * (`released` is told) — except bytes without `countBytes` and without
 * `markBytes`: a log whose appends all come from one thread marks them at
 * its commit, every record up to the buffer's end in one call.
 */
export function appendTo(
  wb: WriteBuffer,
  pageId: Key,
  data: Uint8Array | Writer,
  size: number,
  countBytes: boolean,
  released: Released,
  markBytes = true,
): bigint | null {
  if (typeof data === 'function') {
    let alloc: PageAlloc
    try {
      alloc = wb.allocPage(pageId, size, true)
    } catch (err) {
      if (!isCode(err, 'ERR_AGAIN')) throw err
      return null
    }
    return fillWith(alloc, data, wb, released)
  }
  let addr: bigint
  try {
    addr = wb.writePage(pageId, data, countBytes)
  } catch (err) {
    if (!isCode(err, 'ERR_AGAIN')) throw err
    return null
  }
  if (countBytes) released(wb, wb[MARK](recordOf(addr), true))
  else if (markBytes) wb[MARK](recordOf(addr), false)
  return addr
}
