/**
 * The owner's side of a shared PageLog (`PageLog#share()`): the control
 * words and the channel its writers listen to, and what the owner tells
 * them. The owner's loop itself stays in `owner.ts`; this module only
 * speaks `protocol.ts`.
 */
import { BroadcastChannel } from 'node:worker_threads'

import type { WriteBufferHandle } from '../types.ts'
import type { WriteBuffer } from '../write-buffer.ts'
import { C_ACTIVE, C_CLOSED, C_GEN, C_WORDS, channelName, errorInfo, type ErrorInfo, type LogMessage, type PageLogHandle } from './protocol.ts'

/** What the owner does when its writers ask. */
export interface OwnerEvents {
  /** A writer sealed group `group`, or released its last writer. */
  look(group: number): void
  /** A writer asks for a flush: settles once it is done. */
  flush(): Promise<void>
}

export class SharedLog {
  readonly handle: PageLogHandle
  readonly #channel: BroadcastChannel
  readonly #control: Int32Array
  /** The handle of the active buffer (null: none). */
  #activeHandle: WriteBufferHandle | null = null
  /** Flush requests received and not replied to yet: writer id → request numbers. */
  readonly #requests = new Map<string, Set<number>>()
  #channelClosed = false
  /** A 'failed' was broadcast and no flush has succeeded since. */
  #failedSent = false

  constructor(dir: string, bufferSize: number, events: OwnerEvents) {
    const name = channelName()
    this.#control = new Int32Array(new SharedArrayBuffer(C_WORDS * 4))
    this.#channel = new BroadcastChannel(name)
    // The owner listens without keeping the process alive by itself.
    this.#channel.unref()
    this.#channel.onmessage = (ev: unknown) => this.#onMessage((ev as { data: LogMessage }).data, events)
    this.handle = { photonPageLog: name, control: this.#control.buffer as SharedArrayBuffer, dir, bufferSize }
  }

  /** Tells the writers which buffer is active now (none: `null`) and wakes those waiting for one. */
  publish(wb: WriteBuffer | null): void {
    const handle = wb === null ? null : wb.share()
    this.#activeHandle = handle
    Atomics.store(this.#control, C_ACTIVE, handle === null ? 0 : handle.photonWriteBuffer)
    Atomics.add(this.#control, C_GEN, 1)
    // The handle rides along: in the 'js' arena mode it carries the arena's
    // SharedArrayBuffer, which attach needs.
    this.#post({ type: 'installed', handle })
  }

  /** A background flush failed. */
  failed(err: unknown): void {
    this.#failedSent = true
    this.#post({ type: 'failed', ...errorInfo(err) })
  }

  /** A flush succeeded: if a failure was broadcast, writers may forget it. */
  flushed(): void {
    if (!this.#failedSent) return
    this.#failedSent = false
    this.#post({ type: 'recovered' })
  }

  /** The log is closing: appends throw `ERR_CLOSED` from now on. */
  closing(): void {
    Atomics.store(this.#control, C_CLOSED, 1)
    this.#post({ type: 'closed' })
  }

  /**
   * The log is closed (its flush of everything succeeded): no buffer is
   * active any more. Every flush request received so far is answered with
   * success (the close's flush covered it), then 'shutdown' (writers reject
   * what is still pending: requests the owner never received), then the
   * channel is closed.
   */
  close(): void {
    Atomics.store(this.#control, C_ACTIVE, 0)
    if (this.#channelClosed) return
    for (const [to, reqs] of this.#requests) for (const req of reqs) this.#post({ type: 'flushed', to, req })
    this.#requests.clear()
    this.#post({ type: 'shutdown' })
    this.#channelClosed = true
    this.#channel.close()
  }

  /** Never posts on a closed channel (a reply may come after the close). */
  #post(m: LogMessage): void {
    if (!this.#channelClosed) this.#channel.postMessage(m)
  }

  /** Replies to request `req` of writer `to`, once (`close()` may have answered it already). */
  #reply(to: string, req: number, error?: ErrorInfo): void {
    const reqs = this.#requests.get(to)
    if (reqs === undefined || !reqs.delete(req)) return
    if (reqs.size === 0) this.#requests.delete(to)
    this.#post({ type: 'flushed', to, req, error })
  }

  #onMessage(m: LogMessage, events: OwnerEvents): void {
    if (m.type === 'look') events.look(m.group)
    else if (m.type === 'need') this.#post({ type: 'installed', handle: this.#activeHandle })
    else if (m.type === 'flush') {
      let reqs = this.#requests.get(m.from)
      if (reqs === undefined) this.#requests.set(m.from, (reqs = new Set()))
      reqs.add(m.req)
      let done: Promise<void>
      try {
        done = events.flush()
      } catch (err) {
        done = Promise.reject(err)
      }
      done.then(
        () => this.#reply(m.from, m.req),
        (err: unknown) => this.#reply(m.from, m.req, errorInfo(err)),
      )
    }
  }
}
