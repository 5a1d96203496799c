/**
 * The per-thread scratch block (see `crate/binding/src/scratch.rs`): hot
 * calls take no napi arguments; JS writes the slot and arguments into this
 * block as words, calls e.g. `fastAlloc()`, and reads the status and the
 * results back. The word indices are the binding's (`layout.ts`).
 */
import { endianness } from 'node:os'

import { U64_MAX, U64_RANGE, invalidType, outOfRange } from './args.ts'
import { isNoExternal, sharedBytes, syncArenaMode, arenaMode } from './arena-mode.ts'
import { statusError } from './errors.ts'
import * as layout from './layout.ts'
import type { ReleaseState } from './types.ts'
import * as native from '../load-binding.js'

if (endianness() !== 'LE') {
  // Every target we build for is little-endian; the scratch block relies on it.
  throw new Error('photon-write-buffer supports little-endian hosts only')
}

const { SCRATCH_WORDS, S_U64, S_U64_HI, S_U64_BIG, S_STATUS, O_RELEASE, RELEASE_FLUSH } = layout

function scratchBlock(): ArrayBuffer | SharedArrayBuffer {
  const jsBlock = () => new Uint8Array(sharedBytes(SCRATCH_WORDS * 4, 'photon-write-buffer'))
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

const scratchBuffer = scratchBlock()
// Module-level constants, exported by the list below: an `export const`
// would be read from the module object at each use in the compiled
// CommonJS; a local constant is folded into the optimized code.
/** The block as u32 words: slot, arguments, results. */
const S32 = new Uint32Array(scratchBuffer)
/** The block as i32 words: the status (0, or a negative error status). */
const SI32 = new Int32Array(scratchBuffer)
/** The block as u64 words: the u64 argument and result. */
const S64 = new BigUint64Array(scratchBuffer)
export { S32, SI32, S64 }

// The scratch calls, read once from the binding: through the loader's
// module object each call would first run a property getter.
export const {
  fastAlloc,
  fastHeader,
  fastLaneMark,
  fastLaneClose,
  fastLaneReserve,
  fastLocate,
  fastMark,
  fastMarkRange,
  fastMarkRelease,
  fastOnFlushed,
  fastRelease,
  fastSeal,
  fastSetPageId,
  fastSetTombstone,
  fastState,
} = native

const TWO_32 = 2 ** 32

/** Runs a scratch call and throws its error, if any. */
export function call(fn: () => void, what: string): void {
  fn()
  const status = SI32[S_STATUS]
  if (status !== 0) throw statusError(status, what)
}

/** The outcome of a call that releases a writer (`RELEASE_FLUSH` in `O_RELEASE`), or its error. */
export function releaseState(what: string): ReleaseState {
  const status = SI32[S_STATUS]
  if (status !== 0) throw statusError(status, what)
  return S32[O_RELEASE] === RELEASE_FLUSH ? 'flush' : 'none'
}

/** Writes a u64 argument into the scratch block. */
export function putU64(name: string, value: unknown): void {
  if (typeof value === 'number') {
    if (value >>> 0 === value) {
      S32[S_U64] = value
      S32[S_U64_HI] = 0
      return
    }
    if (Number.isSafeInteger(value) && value >= 0) {
      S32[S_U64] = value % TWO_32
      S32[S_U64_HI] = Math.floor(value / TWO_32)
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
