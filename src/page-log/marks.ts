/**
 * The completion marks of a PageLog's own appends (a segment commit writes
 * only records marked complete). While the log is not shared, nothing but
 * this thread writes into its buffers and every append finishes before a
 * commit can run, so its byte appends are left unmarked and marked at the
 * next commit, every record up to the buffer's end in one native call. A
 * writer callback (user code: it may append and flush re-entrantly) first
 * has the records before it marked; until it returns every append marks its
 * own, as every append of a shared log does.
 */
import { MARK, type WriteBuffer } from '../write-buffer.ts'

export class OwnMarks {
  /** The active buffer's records below this offset are marked. */
  #marked = 0
  /** Writer callbacks running now (they nest). */
  #inCallback = 0

  /** A new active buffer: nothing of it marked yet. */
  reset(): void {
    this.#marked = 0
  }

  /** Whether a byte append must mark its own record (`shared`: other threads write into the log). */
  each(shared: boolean): boolean {
    return shared || this.#inCallback > 0
  }

  /**
   * Marks every record of `wb` (the active buffer) not marked yet, unless
   * records of other threads or a running callback may be among them
   * (`force`: the caller knows they are not).
   */
  markAll(wb: WriteBuffer, shared: boolean, force = false): void {
    if (!force && (shared || this.#inCallback > 0)) return
    const end = wb.allocated
    if (end > this.#marked) wb[MARK](this.#marked, false, end)
    this.#marked = end
  }

  /** Runs a writer callback's append `f` on `wb` (see the module comment). */
  inCallback<T>(wb: WriteBuffer, shared: boolean, f: () => T): T {
    if (this.#inCallback++ === 0 && !shared) this.markAll(wb, shared, true)
    try {
      return f()
    } finally {
      this.#inCallback--
    }
  }
}
