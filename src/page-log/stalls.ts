/**
 * Appends that wait for room (every buffer of the log in use), in order:
 * each settles once a flush frees a buffer, or with the flush's error.
 */
import type { Writer } from './append.ts'
import type { Key } from './page-index.ts'

interface Stalled {
  readonly seq: number
  readonly pageId: Key
  readonly data: Uint8Array | Writer
  readonly size: number
  readonly resolve: (addr: bigint) => void
  readonly reject: (err: unknown) => void
}

export class Stalls {
  readonly #queue: Stalled[] = []
  /** Sequence numbers of waiting appends: the last given out, the last settled. */
  #seq = 0
  #settled = 0

  /** Appends waiting now. */
  get length(): number {
    return this.#queue.length
  }

  /** The sequence number of the last append that waited. */
  get lastSeq(): number {
    return this.#seq
  }

  /** Whether every append that waited up to `seq` has settled. */
  settledUpTo(seq: number): boolean {
    return this.#settled >= seq
  }

  /** Queues an append (its `data` kept: a copy of bytes, or the writer callback); settles with its address. */
  wait(pageId: Key, data: Uint8Array | Writer, size: number): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      this.#queue.push({ seq: ++this.#seq, pageId, data, size, resolve, reject })
    })
  }

  /**
   * Runs the waiting appends in order through `tryAppend` while it finds
   * room (`null`: none left); one that throws rejects with that error.
   */
  drain(tryAppend: (pageId: Key, data: Uint8Array | Writer, size: number) => bigint | null): void {
    const queue = this.#queue
    while (queue.length > 0) {
      const s = queue[0]
      let addr: bigint | null
      try {
        addr = tryAppend(s.pageId, s.data, s.size)
      } catch (err) {
        queue.shift()
        this.#settled = s.seq
        s.reject(err)
        continue
      }
      if (addr === null) return
      queue.shift()
      this.#settled = s.seq
      s.resolve(addr)
    }
  }

  /** Rejects every waiting append with `err`. */
  rejectAll(err: unknown): void {
    for (const s of this.#queue.splice(0)) s.reject(err)
    this.#settled = this.#seq
  }
}
