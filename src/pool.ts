/** `ArenaPool`: arenas of one capacity, reused by rotating write buffers. */
import { inspect } from 'node:util'

import { checkU32, outOfRange } from './args.ts'
import { checkCapacity } from './constants.ts'
import * as native from '../load-binding.js'

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

/** The key of a pool's native object (for `new WriteBuffer`; not part of the API). */
export const POOL = Symbol('native pool')

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
    checkCapacity('capacity', capacity)
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
