/**
 * The flush job of a PageLog: sealed buffers, in group order, each sealed
 * into its segment once its writers are done with it, one at a time.
 * Callers wait for every buffer sealed so far; a failure stops the job,
 * rejects every waiter and is kept until a caller asks again (a retry).
 */
import type { WriteBuffer } from '../write-buffer.ts'

interface Waiter {
  readonly target: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/** What the job asks of its log. */
export interface SealHost {
  /** Seals `wb` into its segment. */
  seal(wb: WriteBuffer): Promise<void>
  /** `wb` is sealed into its segment (its pages are read from there now). */
  sealed(wb: WriteBuffer): void
  /** Sealing failed with `err` (kept until the next `waitAll`). */
  failed(err: unknown): void
  /** Shared logs: a look at group `g`, which may have become flushable without a message (`null`: not shared). */
  readonly look: ((g: number) => void) | null
}

export class SealJob {
  readonly #host: SealHost
  /** Sealed, not yet sealed into their segments, in group order (= seal order). */
  readonly #queue: WriteBuffer[] = []
  /** Queued groups with no writer left: the job may take them. */
  readonly #ready = new Set<number>()
  readonly #waiters: Waiter[] = []
  /** Shared logs: looks again soon at the oldest queued buffer that waits for writers (see `#watch`). */
  #recheck: NodeJS.Timeout | null = null
  #running = false
  /** The last failure, kept until `waitAll` retries. */
  error: unknown = null
  /** Every group ≤ this one is sealed into its segment (or was never used). */
  doneUpTo: number

  constructor(host: SealHost, doneUpTo: number) {
    this.#host = host
    this.doneUpTo = doneUpTo
  }

  /** Nothing is queued and no failure is kept (`waitAll` would resolve at once). */
  get idle(): boolean {
    return this.#queue.length === 0 && this.error === null
  }

  /** Queues a sealed buffer (`flushable`: its writers are done already). */
  push(wb: WriteBuffer, flushable: boolean): void {
    this.#queue.push(wb)
    if (flushable) this.ready(wb)
  }

  /** Whether queued group `g` is known to be flushable. */
  isReady(g: number): boolean {
    return this.#ready.has(g)
  }

  /** Queued buffer `wb` has no writer left. */
  ready(wb: WriteBuffer): void {
    this.#ready.add(wb.groupId)
    this.#pump()
  }

  /**
   * Resolves once every buffer queued now is sealed into its segment.
   * Clears a kept failure, so the job retries.
   */
  waitAll(): Promise<void> {
    const last = this.#queue[this.#queue.length - 1]
    if (last === undefined || last.groupId <= this.doneUpTo) return Promise.resolve()
    this.error = null
    const target = last.groupId
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject })
      this.#recheck?.ref()
    })
    this.#pump()
    return done
  }

  /** Looks again at the oldest queued buffer (a writer thread may have let it go). */
  #pump(): void {
    if (this.#running || this.error !== null) return
    const wb = this.#queue[0]
    if (wb === undefined) return
    if (!this.#ready.has(wb.groupId)) return this.#watch(wb.groupId)
    this.#running = true
    void this.#sealOne(wb)
  }

  /**
   * A worker terminated in the middle of an append posts no message: its
   * teardown gives its writer up, and only a look notices the buffer became
   * flushable. The timer holds the event loop only while someone waits.
   */
  #watch(g: number): void {
    const look = this.#host.look
    if (look === null || this.#recheck !== null) return
    this.#recheck = setTimeout(() => ((this.#recheck = null), look(g), this.#pump()), 20)
    if (this.#waiters.length === 0) this.#recheck.unref()
  }

  async #sealOne(wb: WriteBuffer): Promise<void> {
    const g = wb.groupId
    try {
      await this.#host.seal(wb)
    } catch (err) {
      this.#running = false
      this.error = err
      for (const w of this.#waiters.splice(0)) w.reject(err)
      this.#host.failed(err)
      return
    }
    this.#running = false
    this.#queue.shift()
    this.#ready.delete(g)
    this.doneUpTo = g
    this.#host.sealed(wb)
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]
      if (w.target <= g) {
        this.#waiters.splice(i, 1)
        w.resolve()
      }
    }
    this.#pump()
  }
}
