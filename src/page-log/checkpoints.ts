/**
 * The index checkpoints of a PageLog (`index.pwi`, docs/page-file-format.md,
 * "Index checkpoint"): one written by `close()` once every buffer is sealed,
 * and one by the seal job whenever more pages were appended since the last
 * checkpoint than it held (amortised O(1) per append): the index is copied
 * on the JS thread when a buffer is installed — then it holds exactly the
 * groups before it — and written off the JS thread once those are sealed.
 * A failed write is counted, never an error.
 */
import type * as native from '../../load-binding.js'
import type { CheckpointUse } from '../segment.ts'
import type { PageIndex } from './page-index.ts'

/** The seal job writes a checkpoint only once more pages than this were appended since the last one. */
const CHECKPOINT_MIN = 65536

/** What the checkpoints ask of their log. */
export interface CheckpointHost {
  readonly dir: string
  readonly index: PageIndex
  /** Groups with a sealed segment. */
  readonly segGroups: ReadonlySet<number>
  /** Every group up to this one is sealed into its segment. */
  doneUpTo(): number
  /** What `open` did with the directory's checkpoint. */
  readonly recovered: CheckpointUse
  /** Pages appended by this log so far. */
  appends(): number
  /** Whether the log is shared (the seal job takes no checkpoint then: the writers' pages are indexed when committed, in no group order). */
  shared(): boolean
  /** Whether the directory has version-1 page files (no checkpoint then: it covers segments only). */
  v1(): boolean
}

export class Checkpoints {
  readonly #host: CheckpointHost
  written = 0
  errors = 0
  /** Page ids in the last checkpoint (loaded or written). */
  #size: number
  /** `appends()` when the last checkpoint image was taken. */
  #appendsAt = 0
  /** An image waiting for its last covered group to be sealed. */
  #pending: { readonly image: native.NativeCheckpointImage; readonly upTo: number } | null = null
  /** The checkpoint being written, if any (one at a time: they share a temporary file). */
  #writing: Promise<void> | null = null

  constructor(host: CheckpointHost) {
    this.#host = host
    this.#size = host.recovered.loaded ? host.index.size : 0
  }

  /** The log's `stats` of checkpoints. */
  stats(): { checkpointLoaded: number; checkpointIgnored: number; checkpointsWritten: number; checkpointErrors: number } {
    const r = this.#host.recovered
    return { checkpointLoaded: r.loaded ? 1 : 0, checkpointIgnored: r.ignored === null ? 0 : 1, checkpointsWritten: this.written, checkpointErrors: this.errors }
  }

  /** Group `g` is being installed, nothing appended to it yet: takes an image if one is due. */
  installing(g: number): void {
    const h = this.#host
    if (this.#pending !== null || this.#writing !== null || h.shared() || h.v1()) return
    if (h.appends() - this.#appendsAt <= Math.max(this.#size, CHECKPOINT_MIN)) return
    this.#appendsAt = h.appends()
    const image = h.index.checkpointImage()
    this.#size = image.size
    this.#pending = { image, upTo: g - 1 }
    if (h.doneUpTo() >= g - 1) this.#writePending()
  }

  /** Group `g` is sealed into its segment: writes the pending image once its groups all are. */
  sealed(g: number): void {
    if (this.#pending !== null && g >= this.#pending.upTo) this.#writePending()
  }

  #writePending(): void {
    const p = this.#pending
    if (p === null) return
    this.#pending = null
    const groups = [...this.#host.segGroups].filter((g) => g <= p.upTo).sort((a, b) => a - b)
    if (groups.length === 0) return
    const writing = p.image.write(this.#host.dir, groups).then(
      () => void this.written++,
      () => void this.errors++,
    )
    this.#writing = writing.then(() => {
      this.#writing = null
    })
  }

  /**
   * At `close()`, every buffer sealed: drops a pending image, waits for the
   * one being written, then writes the index covering every sealed segment
   * — unless `unchanged` (the loaded checkpoint says the same already:
   * nothing appended, sealed or indexed on top of it) or over version-1
   * page files.
   */
  async close(unchanged: boolean): Promise<void> {
    this.#pending = null
    await this.#writing
    const h = this.#host
    if (unchanged || h.v1() || h.segGroups.size === 0) return
    const groups = [...h.segGroups].sort((a, b) => a - b)
    try {
      await h.index.checkpointImage().write(h.dir, groups)
      this.written++
    } catch {
      this.errors++
    }
  }
}
