/**
 * How a shared PageLog's owner and its writers (`PageLogWriter`, usually in
 * workers) talk: the control words both read, and the messages on the log's
 * `BroadcastChannel`. See docs/ARCHITECTURE.md, "PageLog across threads".
 */
import type { WriteBufferHandle } from '../types.ts'

/**
 * What `PageLog#share()` returns: a plain, structured-cloneable object
 * (`workerData`, `postMessage`) for `PageLog.attach(handle)` in a worker.
 */
export interface PageLogHandle {
  /** The name of the log's BroadcastChannel. */
  readonly photonPageLog: string
  /** The control words: the active buffer, its generation, closed/failed flags. */
  readonly control: SharedArrayBuffer
  readonly dir: string
  readonly bufferSize: number
}

// Control words of a shared log (Int32Array over `PageLogHandle.control`).
/** Bumped (and broadcast) every time the active buffer changes. */
export const C_GEN = 0
/** Share id of the active buffer; 0 when none (every buffer in use, or closed). */
export const C_ACTIVE = 1
/** 1 once the log is closing: appends throw `ERR_CLOSED`. */
export const C_CLOSED = 2
export const C_WORDS = 4

/** An error as a message carries it across threads. */
export interface ErrorInfo {
  readonly message: string
  readonly code?: string
}

/** Messages on a shared log's channel. */
export type LogMessage =
  /** The active buffer changed; `handle` is the new one's (null: none), for writers to attach. */
  | { readonly type: 'installed'; readonly handle: WriteBufferHandle | null }
  | { readonly type: 'closed' }
  /**
   * The owner's last message, posted right before it closes the channel:
   * every flush request it received has had its reply; a writer rejects
   * the ones still pending with `ERR_CLOSED` (the owner never saw them).
   */
  | { readonly type: 'shutdown' }
  | { readonly type: 'failed'; readonly message: string; readonly code: string | undefined }
  /** A flush succeeded after a failure: writers forget the failure. */
  | { readonly type: 'recovered' }
  /** A writer sealed group `group`, or released its last writer: the owner looks at it. */
  | { readonly type: 'look'; readonly group: number }
  /** A writer has no handle for the active buffer (it attached after the broadcast): send it again. */
  | { readonly type: 'need' }
  | { readonly type: 'flush'; readonly from: string; readonly req: number }
  | { readonly type: 'flushed'; readonly to: string; readonly req: number; readonly error?: ErrorInfo }

let nextLogId = 1

/** A fresh channel name for a log shared by this process. */
export function channelName(): string {
  return `photon-write-buffer:page-log:${process.pid}:${nextLogId++}:${Math.random().toString(36).slice(2)}`
}

/** What a message says about `err`. */
export function errorInfo(err: unknown): { message: string; code: string | undefined } {
  return { message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code }
}
