/**
 * `WriteBufferError`, its codes, and the errors made from the native side's
 * two conventions: a status word (`statusError`) on hot paths, a coded error
 * (`nativeError`) everywhere else. The codes and their messages are the
 * binding's one error table (`errorTable()`, from the core's `Code`).
 */
import { outOfRange } from './args.ts'
import { CAPACITY_RANGE } from './constants.ts'
import * as native from '../load-binding.js'

/**
 * The codes a `WriteBufferError` carries: the rows of class
 * `WriteBufferError` of the binding's error table, in its order
 * (`__test__/contract.spec.ts` compares the two).
 */
export const WRITE_BUFFER_ERROR_CODES = [
  'ERR_AGAIN',
  'ERR_TOO_LARGE_SIZE',
  'ERR_NOT_FLUSHABLE',
  'ERR_NO_WRITER',
  'ERR_INVALID_ADDR',
  'ERR_TOO_MANY_WRITERS',
  'ERR_READ_ONLY',
  'ERR_CORRUPT',
  'ERR_OUT_OF_MEMORY',
  'ERR_IO',
  'ERR_CLOSED',
  'ERR_LOCKED',
  'ERR_GROUPS_EXHAUSTED',
] as const

/** Stable error codes of {@link WriteBufferError}. */
export type WriteBufferErrorCode = (typeof WRITE_BUFFER_ERROR_CODES)[number]

/** Every error this package throws on purpose, with a stable `code`. */
export class WriteBufferError extends Error {
  readonly code: WriteBufferErrorCode
  constructor(code: WriteBufferErrorCode, message: string) {
    super(message)
    this.name = 'WriteBufferError'
    this.code = code
  }
}

/** The binding's error table, in status order: status `s < 0` is row `-1 - s`. */
const TABLE = native.errorTable()
const MESSAGES = new Map(TABLE.map((row) => [row.code, row.message]))

/** The status word of a code. */
function statusOf(code: string): number {
  return -1 - TABLE.findIndex((row) => row.code === code)
}

/** The status word of `ERR_AGAIN` (the hot paths compare against it). */
export const AGAIN_STATUS = statusOf('ERR_AGAIN')
/** The status of a call on a slot that names no buffer: a disposed one (`ERR_CLOSED`). */
export const CLOSED_STATUS = statusOf('ERR_CLOSED')
/** The status word of `ERR_INVALID_ADDR` (a lane page not yet marked is retried). */
export const INVALID_ADDR_STATUS = statusOf('ERR_INVALID_ADDR')
/** The status word of `ERR_CORRUPT` (a lane whose header chain broke). */
export const CORRUPT_STATUS = statusOf('ERR_CORRUPT')
/** The status word of `ERR_TOO_LARGE_SIZE` (a lane page larger than the buffer). */
export const TOO_LARGE_STATUS = statusOf('ERR_TOO_LARGE_SIZE')

/** The table's message of `code` (what a status word of it says). */
export function messageOf(code: WriteBufferErrorCode): string {
  return MESSAGES.get(code) ?? code
}

/**
 * The situations whose message replaces their code's (the binding's
 * `errorReasons()`, from the core's `Reason`): a status word carries only
 * the code; the call that knows the situation says its reason.
 */
const REASONS = new Map(native.errorReasons().map((r) => [r.key, r]))

/** A key of the binding's `errorReasons()`. */
export type ReasonKey = 'alreadySealed' | 'laneFull'

/** The error of situation `key` (its code, its message), raised by `what`; `detail` is appended in parentheses. */
export function reasonError(key: ReasonKey, what: string, detail?: string): Error {
  const r = REASONS.get(key)
  if (r === undefined) return internalError(what, `no error reason ${key}`)
  const tail = detail === undefined ? '' : ` (${detail})`
  return new WriteBufferError(r.code as WriteBufferErrorCode, `${what}: ${r.message}${tail}`)
}

/**
 * `ERR_NOT_FLUSHABLE` for `what`, saying what the buffer lacks: whether it
 * is sealed and how many writers are still open.
 */
export function notFlushable(what: string, sealed: boolean, writers: number): WriteBufferError {
  const open = `${writers} writer${writers === 1 ? '' : 's'} still open`
  const now = sealed ? `it is sealed; ${open}` : `it is not sealed; ${open}`
  return new WriteBufferError('ERR_NOT_FLUSHABLE', `${what}: ${messageOf('ERR_NOT_FLUSHABLE')} (${now})`)
}

/** The error of a non-zero status word. */
export function statusError(status: number, what: string): Error {
  const row = TABLE[-1 - status]
  if (row === undefined) return internalError(what, `status ${status}`)
  if (row.code === 'ERR_OUT_OF_RANGE') return outOfRange('capacity', CAPACITY_RANGE, what)
  if (row.class !== 'WriteBufferError') return internalError(what, `${row.code}: ${row.message}`)
  return new WriteBufferError(row.code as WriteBufferErrorCode, `${what}: ${row.message}`)
}

/** The table's rows by code. */
const ROWS = new Map(TABLE.map((row) => [row.code, row]))

/**
 * The error of a failed native outcome: by the table's class of `code`
 * (`WriteBufferError`, Node's `TypeError`/`RangeError`, or an internal
 * error), else — an errno name (`ENOSPC`, `EACCES`, `EEXIST`, …) — a
 * Node-style `Error` with that `code` and `path`, the file.
 */
export function outcomeError(code: string, message: string, what: string, path: string): Error {
  const row = ROWS.get(code)
  if (row !== undefined) {
    switch (row.class) {
      case 'WriteBufferError':
        return new WriteBufferError(code as WriteBufferErrorCode, `${what}: ${message}`)
      case 'TypeError':
        return withCode(new TypeError(`${what}: ${message}`), code)
      case 'RangeError':
        return withCode(new RangeError(`${what}: ${message}`), code)
      default:
        return internalError(what, `${code}: ${message}`)
    }
  }
  const err = new Error(`${what}: ${message}`) as Error & { code: string; path: string }
  err.code = code
  err.path = path
  return err
}

/**
 * The error for what a native call threw or rejected with (a coded error:
 * its `code` is a code of the table or an errno name), with `what` and the
 * `path` it was about; anything else is passed on as it is.
 */
export function nativeError(e: unknown, what: string, path: string): unknown {
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined
  if (typeof code !== 'string') return e
  return outcomeError(code, e instanceof Error ? e.message : '', what, path)
}

/**
 * A file-system error `err` (an errno `code`: Node's `fs` or a native
 * call's) that does not say which call it is about, as an `Error` saying
 * `what: ` first, with the same `code`, `errno`, `syscall`, `path` and `dest`
 * (and `err` as its `cause`); anything else is passed on as it is.
 */
export function fsError(err: unknown, what: string): unknown {
  if (!(err instanceof Error) || err instanceof WriteBufferError) return err
  const e = err as Error & Record<string, unknown>
  if (typeof e.code !== 'string' || !/^E[A-Z0-9]+$/.test(e.code) || e.message.startsWith(`${what}:`)) return err
  const out = new Error(`${what}: ${e.message}`, { cause: err }) as Error & Record<string, unknown>
  for (const key of ['code', 'errno', 'syscall', 'path', 'dest']) {
    if (e[key] !== undefined) out[key] = e[key]
  }
  return out
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
