/**
 * Layout constants, from the native side (one source of truth), and the
 * rules built on them: record sizes, valid capacities.
 */
import { checkU32, invalidType, outOfRange } from './args.ts'
import * as native from '../load-binding.js'

/** Record header bytes. */
const HEADER_SIZE: number = native.HEADER_SIZE
/** Records (and page bodies) start at multiples of this. */
const ALIGN: number = native.ALIGN
/** Flags of a page record. */
const NORMAL_PAGE: number = native.NORMAL_PAGE
/** Flags of a dealloc record. */
const DEALLOC_PAGES: number = native.DEALLOC_PAGES
/** Flags of a tombstoned record. */
const TOMBSTONE: number = native.TOMBSTONE
/** Smallest capacity (a power of two). */
const MIN_CAPACITY: number = native.MIN_CAPACITY
/** Largest capacity (2^31). */
const MAX_CAPACITY: number = native.MAX_CAPACITY
/** Where an arena starts: a multiple of this (records need `ALIGN`). Internal. */
const ARENA_ALIGN: number = native.ARENA_ALIGN

// Exported by this list rather than `export const`: the functions below
// then read local constants, not the module object (compiled CommonJS).
export { HEADER_SIZE, ALIGN, NORMAL_PAGE, DEALLOC_PAGES, TOMBSTONE, MIN_CAPACITY, MAX_CAPACITY, ARENA_ALIGN }

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
// Capacity: the one rule, for WriteBuffer, ArenaPool and PageLog's bufferSize

/** The valid capacities, as every error says it (the core's `CAPACITY_RULE`): `a power of two in [16, 2^31]`. */
const CAPACITY_RANGE: string = native.CAPACITY_RULE

/** A valid capacity: a power of two in [MIN_CAPACITY, MAX_CAPACITY]. */
export function checkCapacity(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < MIN_CAPACITY || value > MAX_CAPACITY || (value & (value - 1)) !== 0) {
    throw outOfRange(name, CAPACITY_RANGE, value)
  }
  return value
}

export { CAPACITY_RANGE }
