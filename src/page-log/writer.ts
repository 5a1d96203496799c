/**
 * `PageLogWriter`: appends into a PageLog owned by another thread, through
 * the buffers the owner installs (see `protocol.ts`).
 */
import { BroadcastChannel } from 'node:worker_threads'

import { invalidType } from '../args.ts'
import { handleArena } from '../arena-mode.ts'
import { WriteBufferError, isCode, withCode } from '../errors.ts'
import type { ReleaseState, WriteBufferHandle } from '../types.ts'
import { attachHandle, type WriteBuffer } from '../write-buffer.ts'
import { appendTo, checkPageData, checkPageId, type Writer } from './append.ts'
import type { Key } from './page-index.ts'
import { C_ACTIVE, C_CLOSED, C_GEN, C_WORDS, type LogMessage, type PageLogHandle } from './protocol.ts'
import type { PageLogWriterStats } from './stats.ts'
import * as native from '../../load-binding.js'

/**
 * Appends into a {@link PageLog} owned by another thread (see
 * `PageLog#share()`): `PageLog.attach(handle)`. Same calls as the log's:
 * `tryAppend` (the address now, or `null` when it would wait) and `append`
 * (always a promise); this writer's appends keep their order. `flush()` asks the owner to flush and resolves once every page
 * appended through this writer before the call is durable.
 */
export class PageLogWriter {
  readonly dir: string
  readonly bufferSize: number
  readonly #control: Int32Array
  readonly #channel: BroadcastChannel
  readonly #id = `${process.pid}:${Math.random().toString(36).slice(2)}`
  /** The attached active buffer and its share id. */
  #wb: WriteBuffer | null = null
  #wbId = 0
  /** Its arena in the 'js' arena mode (a commit from this thread passes it along). */
  #wbArena: Uint8Array | undefined
  /** Appends waiting in order (the tail of the chain), or null when none waits. */
  #tail: Promise<unknown> | null = null
  #pendingWaits = 0
  readonly #wakers: (() => void)[] = []
  readonly #flushes = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
  #req = 0
  #failed: Error | null = null
  /** The owner said 'shutdown': it will never answer a flush request again. */
  #shutDown = false
  /** Handles of the buffers the owner installed, by share id (only the latest few are kept). */
  readonly #handles = new Map<number, WriteBufferHandle>()
  /** Releases a writer count of an append (`appendTo`), made once. */
  readonly #onRelease = (wb: WriteBuffer, state: ReleaseState): void => this.#released(wb, state)
  /**
   * Attached buffers with writer callbacks of this writer running on them,
   * and how many (a callback may append again, re-entrantly). Such a
   * buffer is never disposed under its callbacks (their views would be
   * detached and their writer counts could not be released): the last
   * callback out disposes it if this writer has let go of it meanwhile.
   */
  readonly #busy = new Map<WriteBuffer, number>()
  #closed = false
  #appends = 0
  #stalls = 0
  /** Appends known durable: the first `#durable` of them (a flush that covered them resolved). */
  #durable = 0
  /** The group of the first append not known durable (`Infinity`: none); a writer's groups only grow. */
  #pendingFrom = Infinity
  /** The commit this thread runs (of the buffer with share id `id`), and the one queued after it. */
  #own: { readonly id: number; readonly running: Promise<boolean>; next: Promise<boolean> | null } | null = null
  /** Commits this thread ran itself (`flush()` calls may share one). */
  #commits = 0

  constructor(handle: PageLogHandle) {
    if (
      handle === null ||
      typeof handle !== 'object' ||
      typeof handle.photonPageLog !== 'string' ||
      !(handle.control instanceof SharedArrayBuffer) ||
      handle.control.byteLength !== C_WORDS * 4
    ) {
      throw invalidType('handle', 'a PageLogHandle from PageLog#share()', handle)
    }
    this.dir = handle.dir
    this.bufferSize = handle.bufferSize
    this.#control = new Int32Array(handle.control)
    this.#channel = new BroadcastChannel(handle.photonPageLog)
    this.#unrefChannel()
    this.#channel.onmessage = (ev: unknown) => this.#onMessage((ev as { data: LogMessage }).data)
  }

  get stats(): PageLogWriterStats {
    return { appends: this.#appends, stalls: this.#stalls, commits: this.#commits }
  }

  get isClosed(): boolean {
    return this.#closed
  }

  // The channel keeps this thread alive only while something waits on it.
  #refChannel(): void {
    if (this.#pendingWaits++ === 0) this.#channel.ref()
  }

  #unrefChannel(): void {
    if (this.#pendingWaits > 0) this.#pendingWaits--
    if (this.#pendingWaits === 0) this.#channel.unref()
  }

  #onMessage(m: LogMessage): void {
    if (m.type === 'installed' && m.handle !== null) {
      this.#handles.set(m.handle.photonWriteBuffer, m.handle)
      if (this.#handles.size > 4) this.#handles.delete(this.#handles.keys().next().value as number)
    }
    if (m.type === 'installed' || m.type === 'closed' || m.type === 'failed' || m.type === 'recovered' || m.type === 'shutdown') {
      if (m.type === 'failed') this.#failed = withCode(new Error(`PageLog: a flush failed in the owner thread: ${m.message}`), m.code ?? 'ERR_IO')
      else if (m.type === 'recovered') this.#failed = null
      else if (m.type === 'shutdown') this.#shutDown = true
      for (const wake of this.#wakers.splice(0)) wake()
      // Flush requests the owner has not answered by now it never received.
      if (m.type === 'shutdown') this.#rejectFlushes('PageLogWriter.flush: the log was closed before it saw this request')
    } else if (m.type === 'flushed' && m.to === this.#id) {
      const f = this.#flushes.get(m.req)
      if (f === undefined) return
      this.#flushes.delete(m.req)
      this.#unrefChannel()
      if (m.error === undefined) f.resolve()
      else f.reject(withCode(new Error(`PageLog.flush (owner): ${m.error.message}`), m.error.code ?? 'ERR_IO'))
    }
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', `PageLogWriter.${what}: the writer is closed`)
    if (Atomics.load(this.#control, C_CLOSED) === 1) throw new WriteBufferError('ERR_CLOSED', `PageLogWriter.${what}: the log is closed`)
  }

  /**
   * Appends one page now and returns its address, or `null` when it would
   * wait (no active buffer with room, or this writer's earlier appends are
   * waiting: then `append`). `data` is copied in, or a writer callback fills
   * the zero-copy view of `size` bytes before it returns. Errors throw.
   */
  tryAppend(pageId: bigint | number, data: Uint8Array | Writer, size?: number): bigint | null {
    this.#checkOpen('tryAppend')
    const id = checkPageId(pageId)
    const n = checkPageData('PageLogWriter.tryAppend', this.bufferSize, data, size)
    return this.#tail === null ? this.#tryAppend(id, data, n) : null
  }

  /**
   * Appends one page: at once when the active buffer has room (`tryAppend`'s
   * path), else once the owner installs the next buffer (or a flush frees
   * one); this writer's appends keep their order. Every error rejects.
   */
  append(pageId: bigint | number, data: Uint8Array | Writer, size?: number): Promise<bigint> {
    let id: Key
    let n: number
    try {
      this.#checkOpen('append')
      id = checkPageId(pageId)
      n = checkPageData('PageLogWriter.append', this.bufferSize, data, size)
      if (this.#tail === null) {
        const addr = this.#tryAppend(id, data, n)
        if (addr !== null) return Promise.resolve(addr)
      }
    } catch (err) {
      return Promise.reject(err)
    }
    // Wait for a buffer, behind this writer's earlier waiting appends.
    this.#stalls++
    const kept = typeof data === 'function' ? data : Buffer.from(data)
    const prev = this.#tail ?? Promise.resolve()
    const mine: Promise<bigint> = prev.then(
      () => this.#appendWaiting(id, kept, n),
      () => this.#appendWaiting(id, kept, n),
    )
    const tail = mine.finally(() => {
      if (this.#tail === tail) this.#tail = null
    })
    this.#tail = tail
    tail.catch(() => undefined)
    return mine
  }

  async #appendWaiting(id: Key, data: Uint8Array | Writer, n: number): Promise<bigint> {
    for (;;) {
      this.#checkOpen('append')
      if (this.#failed !== null) throw this.#failed
      const gen = Atomics.load(this.#control, C_GEN)
      const addr = this.#tryAppend(id, data, n)
      if (addr !== null) return addr
      await this.#changed(gen)
    }
  }

  /** Resolves once the active buffer changed since generation `gen` (or the log closed or failed). */
  #changed(gen: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#refChannel()
      const wake = () => {
        this.#unrefChannel()
        resolve()
      }
      // Registered before the re-check: a broadcast after it wakes us.
      this.#wakers.push(wake)
      if (Atomics.load(this.#control, C_GEN) !== gen || Atomics.load(this.#control, C_CLOSED) === 1 || this.#failed !== null) {
        this.#wakers.splice(this.#wakers.indexOf(wake), 1)
        wake()
      }
    })
  }

  /** One try on the active buffer; `null` when there is none with room (seals a full one). */
  #tryAppend(pageId: Key, data: Uint8Array | Writer, size: number): bigint | null {
    const active = Atomics.load(this.#control, C_ACTIVE)
    if (active === 0) return null
    let wb = this.#wb
    if (wb === null || this.#wbId !== active) {
      if (wb !== null) this.#letGo(wb)
      // The owner's broadcast has the full handle (in the 'js' arena mode
      // attach needs its SharedArrayBuffer); the id alone (from the control
      // words, so not checked against a groupId) does otherwise.
      const known = this.#handles.get(active)
      try {
        wb = attachHandle(known ?? { photonWriteBuffer: active, groupId: 0, capacity: 0 }, known !== undefined)
      } catch {
        // Gone (flushed: the owner has moved on), or its handle has not
        // reached this writer yet: ask for it; the reply wakes us.
        if (!this.#handles.has(active)) this.#channel.postMessage({ type: 'need' } satisfies LogMessage)
        return null
      }
      if (wb.capacity !== this.bufferSize) {
        // A handle whose bufferSize is not the log's: its size checks would be wrong.
        wb.dispose()
        throw withCode(
          new TypeError(`PageLogWriter.append: the handle's bufferSize (${this.bufferSize}) is not the log's (${wb.capacity}); pass the handle of PageLog#share() unchanged`),
          'ERR_INVALID_ARG_VALUE',
        )
      }
      this.#wb = wb
      this.#wbId = active
      this.#wbArena = known === undefined ? undefined : handleArena(known)
    }
    // Bytes: reserve + copy under a writer count (the owner may flush
    // concurrently), no view object. A writer callback fills a view.
    let addr: bigint | null
    if (typeof data === 'function') {
      this.#busy.set(wb, (this.#busy.get(wb) ?? 0) + 1)
      try {
        addr = appendTo(wb, pageId, data, size, true, this.#onRelease)
      } finally {
        this.#leaveCallback(wb)
      }
    } else {
      addr = appendTo(wb, pageId, data, size, true, this.#onRelease)
    }
    if (addr === null) {
      this.#leaveFull(wb)
      return null
    }
    if (this.#pendingFrom === Infinity) this.#pendingFrom = wb.groupId
    this.#appends++
    return addr
  }

  /** The buffer `wb` is full (or sealed by another thread): seal it, let the owner rotate, let go of it. */
  #leaveFull(wb: WriteBuffer): void {
    let sealed = false
    try {
      wb.seal()
      sealed = true
    } catch (e) {
      if (!isCode(e, 'ERR_AGAIN')) throw e
    }
    if (sealed) this.#channel.postMessage({ type: 'look', group: wb.groupId } satisfies LogMessage)
    // This writer is done with it: let its arena go back to the pool as
    // soon as the owner has flushed it.
    this.#letGo(wb)
  }

  /** This writer is done with `wb` (the attached one): disposed now, or by its last running callback. */
  #letGo(wb: WriteBuffer): void {
    if (this.#wb === wb) this.#wb = null
    if (!this.#busy.has(wb)) wb.dispose()
  }

  /** A writer callback on `wb` returned (or threw): the last one out disposes `wb` if it was let go of. */
  #leaveCallback(wb: WriteBuffer): void {
    const n = (this.#busy.get(wb) ?? 1) - 1
    if (n > 0) {
      this.#busy.set(wb, n)
      return
    }
    this.#busy.delete(wb)
    if (wb !== this.#wb) wb.dispose()
  }

  #released(wb: WriteBuffer, state: ReleaseState): void {
    if (state === 'flush') this.#channel.postMessage({ type: 'look', group: wb.groupId } satisfies LogMessage)
  }

  /**
   * Resolves once every page appended through this writer before the call
   * (waiting appends included) is durable. When they all went into the
   * attached buffer, this thread commits it through its segment (the
   * owner's thread is not involved: group commit with every other thread
   * committing it); otherwise (a rotation since, a failure reported, the
   * segment not ready) the owner flushes its log.
   */
  async flush(): Promise<void> {
    this.#checkOpen('flush')
    if (this.#tail !== null) await this.#tail.catch(() => undefined)
    // The owner answers every request it receives before it shuts down;
    // once it did, nobody would answer this one.
    if (this.#closed || this.#shutDown) throw new WriteBufferError('ERR_CLOSED', 'PageLogWriter.flush: the log is closed')
    const upTo = this.#appends
    const from = this.#pendingFrom
    if (this.#failed === null) {
      if (upTo === this.#durable) return
      const wb = this.#wb
      // A failure (the segment poisoned) is the owner's to retry and report.
      const ok = wb !== null && wb.groupId === from && (await this.#commitOwn(this.#wbId, this.#wbArena))
      if (ok) return this.#covered(upTo)
    }
    await this.#askOwner()
    this.#covered(upTo)
  }

  /**
   * Commits the buffer of share id `id` from this thread (`commitHere`):
   * one commit at a time per writer (each holds a libuv pool thread while
   * it waits its turn); calls made meanwhile share the next one.
   */
  #commitOwn(id: number, arena: Uint8Array | undefined): Promise<boolean> {
    const own = this.#own
    if (own === null || own.id !== id) return this.#startOwn(id, arena)
    own.next ??= own.running.then(() => this.#startOwn(id, arena))
    return own.next
  }

  #startOwn(id: number, arena: Uint8Array | undefined): Promise<boolean> {
    this.#commits++
    const own = { id, running: commitHere(id, arena), next: null }
    this.#own = own
    // `commitHere` never rejects.
    void own.running.then(() => {
      if (this.#own === own) this.#own = null
    })
    return own.running
  }

  /** The first `upTo` appends are durable. */
  #covered(upTo: number): void {
    if (upTo <= this.#durable) return
    this.#durable = upTo
    if (this.#appends === upTo) this.#pendingFrom = Infinity
  }

  /** Asks the owner to flush its log; settles with its reply. */
  #askOwner(): Promise<void> {
    if (this.#closed || this.#shutDown) return Promise.reject(new WriteBufferError('ERR_CLOSED', 'PageLogWriter.flush: the log is closed'))
    const req = ++this.#req
    const done = new Promise<void>((resolve, reject) => this.#flushes.set(req, { resolve, reject }))
    this.#refChannel()
    this.#channel.postMessage({ type: 'flush', from: this.#id, req } satisfies LogMessage)
    return done
  }

  /** Lets go of the attached buffer and the channel. Appends must have settled. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#wb !== null) this.#letGo(this.#wb)
    for (const wake of this.#wakers.splice(0)) wake()
    this.#rejectFlushes('PageLogWriter.flush: the writer was closed')
    this.#channel.close()
  }

  /** Rejects every pending flush with `ERR_CLOSED`. */
  #rejectFlushes(message: string): void {
    for (const f of this.#flushes.values()) {
      this.#unrefChannel()
      f.reject(new WriteBufferError('ERR_CLOSED', message))
    }
    this.#flushes.clear()
  }

  [Symbol.dispose](): void {
    this.close()
  }
}

/**
 * Commits the buffer of share id `id` (`arena`: its arena in the 'js' mode)
 * through the segment its log published for it, from this thread: whether
 * that made its records durable (`false`: none published, or it failed).
 */
async function commitHere(id: number, arena: Uint8Array | undefined): Promise<boolean> {
  try {
    const out = await native.commitBuffer(id, arena)
    return out !== null && out.code == null
  } catch {
    return false
  }
}
