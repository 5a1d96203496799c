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
  /** Files kept open for reads (segments: a descriptor each; version-1 page files: in memory), least recently used closed. Default 16. */
  maxOpenFiles?: number
  /**
   * Also commit on a timer: every `flushIntervalMs` milliseconds, what was
   * appended since the last commit is committed (as by `flush()`; an error
   * is counted in `stats.flushErrors` and the next `flush()` reports it).
   * Default: no timer (`0`).
   */
  flushIntervalMs?: number
  /**
   * When the process exits normally (its event loop drains, or
   * `process.exit()`), commit what was appended and not yet committed,
   * synchronously in an `'exit'` handler. Default `true`.
   */
  commitOnExit?: boolean
}

/** The names of {@link PageLogOptions} (any other key is refused). */
const OPTION_NAMES: readonly (keyof PageLogOptions)[] = ['bufferSize', 'maxBuffers', 'onCorrupt', 'maxOpenFiles', 'flushIntervalMs', 'commitOnExit']

/** What a log runs with: every option checked and given, and its directory (absolute). */
export interface LogConfig {
  readonly dir: string
  readonly bufferSize: number
  readonly maxBuffers: number
  readonly maxOpenFiles: number
  readonly onCorrupt: 'reject' | 'quarantine'
  readonly flushIntervalMs: number
  readonly commitOnExit: boolean
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
  // setInterval's own limit: a longer delay would fire at once.
  const flushIntervalMs = checkInt('flushIntervalMs', o.flushIntervalMs ?? 0, (n) => n >= 0 && n <= 2 ** 31 - 1, 'an integer in [0, 2^31 - 1]')
  const commitOnExit = o.commitOnExit ?? true
  if (typeof commitOnExit !== 'boolean') throw invalidType('opts.commitOnExit', 'of type boolean', commitOnExit)
  return { dir, bufferSize, maxBuffers, maxOpenFiles, onCorrupt, flushIntervalMs, commitOnExit }
}
