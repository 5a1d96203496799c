/**
 * The process-wide arena cache: where the arena of a `WriteBuffer` goes when
 * the buffer is gone without an `ArenaPool` (dropped and collected, or
 * disposed). A background thread scrubs a few recently freed arenas per size
 * and keeps them, so the next `new WriteBuffer` of that capacity gets memory
 * already faulted in and zeroed; the rest it frees (large arenas go straight
 * back to the OS). Nothing of this runs on the JS thread.
 *
 * Bounds (defaults): per capacity, up to 64 MiB of arenas but at least 2;
 * 256 MiB in all. `PHOTON_WB_ARENA_CACHE_MIB=0` in the environment (read at
 * the first buffer) or `configureArenaCache({ maxBytes: 0 })` turns it off.
 */
import { checkInt, checkOptionNames, invalidType } from './args.ts'
import * as native from '../load-binding.js'

/** Bounds of the arena cache. */
export interface ArenaCacheOptions {
  /** Bytes of arenas kept at most, all capacities together; 0 turns the cache off. */
  maxBytes?: number
  /** Bytes of arenas of one capacity kept at most ... */
  maxBytesPerSize?: number
  /** ... unless fewer than this many of that capacity are kept. */
  minArenasPerSize?: number
}

/** Counters of the arena cache and its background thread (a snapshot). */
export interface ArenaCacheStats {
  /** Arenas kept for the next buffers (scrubbed, or being scrubbed). */
  readonly cachedArenas: number
  /** Their capacity in bytes (only what their buffers used is resident). */
  readonly cachedBytes: number
  /** Arenas handed to the background thread and not processed yet. */
  readonly pendingArenas: number
  /** Their bytes. */
  readonly pendingBytes: number
  /** Buffers that got a cached arena. */
  readonly hits: number
  /** Buffers that got a fresh arena (none cached of their capacity). */
  readonly misses: number
  /** Arenas the background thread freed. */
  readonly freed: number
}

/** Counters of the arena cache. */
export function arenaCacheStats(): ArenaCacheStats {
  const [cachedArenas, cachedBytes, pendingArenas, pendingBytes, hits, misses, freed] = native.arenaCacheStats()
  return { cachedArenas, cachedBytes, pendingArenas, pendingBytes, hits, misses, freed }
}

/**
 * Sets the bounds of the arena cache (options left out keep their value) and
 * returns the bounds now in force. The arenas cached so far are freed, in the
 * background.
 */
export function configureArenaCache(options: ArenaCacheOptions = {}): Required<ArenaCacheOptions> {
  if (typeof options !== 'object' || options === null) throw invalidType('options', 'of type object', options)
  checkOptionNames('options', options, ['maxBytes', 'maxBytesPerSize', 'minArenasPerSize'] satisfies (keyof ArenaCacheOptions)[])
  const [maxBytes, maxBytesPerSize, minArenasPerSize] = native.arenaCacheConfig()
  const pick = (name: keyof ArenaCacheOptions, now: number): number =>
    options[name] === undefined ? now : checkInt(`options.${name}`, options[name], (n) => n >= 0, 'an integer >= 0')
  const next = {
    maxBytes: pick('maxBytes', maxBytes),
    maxBytesPerSize: pick('maxBytesPerSize', maxBytesPerSize),
    minArenasPerSize: pick('minArenasPerSize', minArenasPerSize),
  }
  native.configureArenaCache(next.maxBytes, next.maxBytesPerSize, next.minArenasPerSize)
  return next
}

/** Frees every cached arena (in the background); the bounds stay. */
export function trimArenaCache(): void {
  native.trimArenaCache()
}
