/**
 * The process-wide arena mode (see docs/runtimes.md, "Electron and
 * runtimes without external buffers"): `PHOTON_WB_ARENA` read at load, the one-way
 * switch to `'js'` when the runtime refuses an external `ArrayBuffer`, and
 * the `SharedArrayBuffer`s of the `'js'` mode.
 */
import { ARENA_ALIGN } from './constants.ts'
import { WriteBufferError } from './errors.ts'
import type { ArenaMode, WriteBufferHandle } from './types.ts'
import * as native from '../load-binding.js'

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

/** Whether `e` is the runtime's refusal of an external `ArrayBuffer`. */
export function isNoExternal(e: unknown): boolean {
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
export function syncArenaMode(): ArenaMode {
  if (arenaMode === 'external' && native.arenaMode() === 'js') arenaMode = 'js'
  return arenaMode
}

/** A zeroed `SharedArrayBuffer` of `bytes` for the native side to borrow. */
export function sharedBytes(bytes: number, what: string): SharedArrayBuffer {
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

/**
 * A `'js'` arena: `capacity` zeroed bytes of a new `SharedArrayBuffer`,
 * starting on an `ARENA_ALIGN` boundary (`ARENA_ALIGN` spare bytes and an
 * offset in the rare case the allocation itself is not aligned so).
 */
export function jsArena(capacity: number): Uint8Array {
  const sab = sharedBytes(capacity, 'new WriteBuffer')
  const bytes = new Uint8Array(sab)
  if (native.misalignment(bytes) === 0) return bytes
  const padded = sharedBytes(capacity + ARENA_ALIGN, 'new WriteBuffer')
  const mis = native.misalignment(new Uint8Array(padded))
  return new Uint8Array(padded, (ARENA_ALIGN - mis) % ARENA_ALIGN, capacity)
}

/**
 * The `'js'` arena a handle carries, as the `Uint8Array` the native side
 * checks against the shared buffer's arena (same memory, same length), or
 * `undefined` for a handle without one.
 */
export function handleArena(handle: WriteBufferHandle): Uint8Array | undefined {
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
