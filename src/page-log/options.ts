/** PageLog's options: the public shape, and the checked, complete one the log runs with. */
import { checkInt, checkOptionNames, invalidType, invalidValue } from '../args.ts'
import { checkCapacity } from '../constants.ts'

/** Options of {@link PageLog.open}. */
export interface PageLogOptions {
  /** Capacity of each write buffer: a power of two in [16, 2^31]. Default 4 MiB. */
  bufferSize?: number
  /** Unflushed buffers at most (the active one included), ≥ 1. Default 8. */
  maxBuffers?: number
  /**
   * What `open` does with a page file that fails validation: `'reject'`
   * (default) rejects with `ERR_CORRUPT` naming the file; `'quarantine'`
   * renames it to `<name>.corrupt` and goes on without it.
   */
  onCorrupt?: 'reject' | 'quarantine'
  /** Page files kept open (in memory) for reads, least recently used evicted. Default 16. */
  maxOpenFiles?: number
}

/** The names of {@link PageLogOptions} (any other key is refused). */
const OPTION_NAMES: readonly (keyof PageLogOptions)[] = ['bufferSize', 'maxBuffers', 'onCorrupt', 'maxOpenFiles']

/** What a log runs with: every option checked and given, and its directory (absolute). */
export interface LogConfig {
  readonly dir: string
  readonly bufferSize: number
  readonly maxBuffers: number
  readonly maxOpenFiles: number
  readonly onCorrupt: 'reject' | 'quarantine'
}

/** Checks `opts` (Node's errors) and fills in the defaults; `dir` must be absolute. */
export function logConfig(dir: string, opts: unknown): LogConfig {
  if (opts === null || typeof opts !== 'object') {
    throw invalidType('opts', 'of type object', opts)
  }
  checkOptionNames('opts', opts, OPTION_NAMES)
  const o = opts as PageLogOptions
  const bufferSize = checkCapacity('bufferSize', o.bufferSize ?? 1 << 22)
  const maxBuffers = checkInt('maxBuffers', o.maxBuffers ?? 8, (n) => n >= 1, '>= 1')
  const maxOpenFiles = checkInt('maxOpenFiles', o.maxOpenFiles ?? 16, (n) => n >= 1, '>= 1')
  const onCorrupt = o.onCorrupt ?? 'reject'
  if (onCorrupt !== 'reject' && onCorrupt !== 'quarantine') {
    throw invalidValue('opts.onCorrupt', "'reject' or 'quarantine'", onCorrupt)
  }
  return { dir, bufferSize, maxBuffers, maxOpenFiles, onCorrupt }
}
