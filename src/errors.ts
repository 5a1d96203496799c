/**
 * `WriteBufferError`, its codes and messages, and the errors made from the
 * native side's outcomes: a status word (`statusError`) or an outcome object
 * with a code (`outcomeError`).
 */
import { outOfRange } from './args.ts'
import { CAPACITY_RANGE } from './constants.ts'
import * as native from '../load-binding.js'

/** Stable error codes of {@link WriteBufferError}. */
export type WriteBufferErrorCode =
  | 'ERR_AGAIN'
  | 'ERR_TOO_LARGE_SIZE'
  | 'ERR_NOT_FLUSHABLE'
  | 'ERR_NO_WRITER'
  | 'ERR_INVALID_ADDR'
  | 'ERR_TOO_MANY_WRITERS'
  | 'ERR_READ_ONLY'
  | 'ERR_CORRUPT'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_CLOSED'
  | 'ERR_LOCKED'
  | 'ERR_GROUPS_EXHAUSTED'
  | 'ERR_IO'

/** Every error this package throws on purpose, with a stable `code`. */
export class WriteBufferError extends Error {
  readonly code: WriteBufferErrorCode
  constructor(code: WriteBufferErrorCode, message: string) {
    super(message)
    this.name = 'WriteBufferError'
    this.code = code
  }
}

const CODES = native.errorCodes() as (WriteBufferErrorCode | 'ERR_OUT_OF_RANGE')[]
/** The status word of `ERR_AGAIN` (the hot paths compare against it). */
export const AGAIN_STATUS = -1 - CODES.indexOf('ERR_AGAIN')

export const MESSAGES: Record<string, string> = {
  ERR_AGAIN: 'the buffer is sealed or has not enough room left: seal it and use the next buffer',
  ERR_TOO_LARGE_SIZE: 'the record can never fit a buffer of this capacity: use a larger buffer',
  ERR_NOT_FLUSHABLE: 'the buffer is not flushable: seal it and release every writer first',
  ERR_NO_WRITER: 'no writer is in progress: releaseWriter() must pair with an acquiring reservation',
  ERR_INVALID_ADDR: 'the address is not a live page record of this buffer',
  ERR_TOO_MANY_WRITERS: '2^31 - 1 writers are already in progress',
  ERR_READ_ONLY: 'the buffer is flushable (sealed, no writer): its record headers are read-only',
  ERR_CORRUPT: 'the buffer fails a structure check (was it written through a view\'s .buffer?)',
  ERR_OUT_OF_MEMORY: 'the arena could not be allocated',
}

/** The status of a call on a slot that names no buffer: a disposed one. */
export const STATUS_NO_SLOT = -1000

/** The error of a non-zero status word. */
export function statusError(status: number, what: string): Error {
  if (status === STATUS_NO_SLOT) {
    return new WriteBufferError('ERR_CLOSED', `${what}: the WriteBuffer was disposed on this thread`)
  }
  const code = CODES[-1 - status]
  if (code === undefined) return internalError(what, `status ${status}`)
  if (code === 'ERR_OUT_OF_RANGE') return outOfRange('capacity', CAPACITY_RANGE, what)
  return new WriteBufferError(code, `${what}: ${MESSAGES[code]}`)
}

/**
 * The error of a failed native outcome: `WriteBufferError` for the
 * package's codes, else a Node-style `Error` whose `code` is the errno name
 * (`ENOSPC`, `EACCES`, `EEXIST`, …) and whose `path` is the file.
 */
export function outcomeError(code: string, message: string, what: string, path: string): Error {
  if (code.startsWith('ERR_')) {
    return new WriteBufferError(code as WriteBufferErrorCode, `${what}: ${message}`)
  }
  const err = new Error(`${what}: ${message}`) as Error & { code: string; path: string }
  err.code = code
  err.path = path
  return err
}

/** A bug of this package, not of its caller: a plain `Error` asking to report it. */
export function internalError(what: string, detail: string): Error {
  return new Error(`${what}: internal error (${detail}); please report it`)
}

/** An `Error` with a `code` (an errno name, or another thread's error code). */
export function withCode(err: Error, code: string): Error {
  ;(err as Error & { code: string }).code = code
  return err
}

export function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as Error & { code?: unknown }).code === code
}
