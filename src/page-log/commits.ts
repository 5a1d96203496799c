/**
 * When a PageLog makes its pages durable: `flush()` commits (every sealed
 * buffer sealed into its segment, the active buffer's pages committed into
 * its segment: no new file, one `fdatasync` shared by every caller
 * waiting); `rotate()` and `close()` also seal the active buffer; the
 * `flushIntervalMs` timer commits when something new was appended.
 */
import type { WriteBuffer } from '../write-buffer.ts'
import type { SealJob } from './seal-job.ts'
import type { SegmentSet } from './segments.ts'
import type { Stalls } from './stalls.ts'

/** What the commits need of their log. */
export interface CommitHost {
  readonly job: SealJob
  readonly segs: SegmentSet
  readonly stalled: Stalls
  /** The buffer appends go to, if any. */
  active(): WriteBuffer | null
  /** Seals the active buffer and queues it for the job. */
  sealActive(): void
  /** A number that changes with every append (`NaN`: always commit, e.g. other threads append). */
  appended(): number
  /** A commit failed (counted). */
  failed(): void
}

export class Commits {
  readonly #host: CommitHost
  readonly #timer: NodeJS.Timeout | null = null
  /** `appended()` at the last commit. */
  #seen = 0

  /** `intervalMs` > 0: also commits every `intervalMs` milliseconds (the timer does not keep the process alive). */
  constructor(host: CommitHost, intervalMs: number) {
    this.#host = host
    if (intervalMs > 0) {
      this.#timer = setInterval(() => this.#tick(), intervalMs)
      this.#timer.unref()
    }
  }

  /** Stops the timer. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
  }

  /**
   * Waits until every append made so far (waiting ones included: the
   * `append` calls up to waiting append `want`) is durable: committed into
   * its segment (`seal`: every buffer holding a page also sealed). Clears a
   * kept failure of the job, so it retries.
   */
  async through(want: number, seal: boolean): Promise<void> {
    const stalled = this.#host.stalled
    for (;;) {
      // Once every waiting append up to `want` has its address, one more
      // round commits (or seals) the buffer they went to and waits for it.
      const settled = stalled.settledUpTo(want)
      await (seal ? this.#sealAll() : this.#commitAll())
      if (settled) return
    }
  }

  /** Seals the active buffer if it holds anything; waits until every buffer up to it is sealed into its segment. */
  #sealAll(): Promise<void> {
    const wb = this.#host.active()
    if (wb !== null && !wb.isEmpty) this.#host.sealActive()
    return this.#host.job.waitAll()
  }

  /** Waits until the sealed buffers are sealed into their segments and every page of the active one is committed into its segment. */
  #commitAll(): Promise<void> {
    const h = this.#host
    const wb = h.active()
    this.#seen = h.appended()
    if (h.job.idle) {
      // Nothing queued for sealing: the commit alone (the common case of a
      // commit path: no promise to join).
      if (wb === null || wb.isEmpty) return Promise.resolve()
      return h.segs.commit(wb.groupId).catch((err: unknown) => {
        h.failed()
        throw err
      })
    }
    const sealed = h.job.waitAll()
    if (wb === null || wb.isEmpty) return sealed
    const committed = h.segs.commit(wb.groupId).catch((err: unknown) => {
      h.failed()
      throw err
    })
    // Both settle before the call does (a retry must not meet an attempt
    // still running); the seal's error first.
    return Promise.allSettled([sealed, committed]).then(([a, b]) => {
      if (a.status === 'rejected') throw a.reason
      if (b.status === 'rejected') throw b.reason
    })
  }

  /** The timer: commits if anything was appended since the last commit (a failure is counted, and reported by the next `flush()`). */
  #tick(): void {
    if (this.#host.appended() === this.#seen) return
    this.#commitAll().catch(() => undefined)
  }
}
