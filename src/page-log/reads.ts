/**
 * Reads of a PageLog: a page from its buffer while in memory, else from its
 * group's segment (one checked `pread`, off the JS thread) or version-1
 * page file. `tryRead` never waits and does no I/O; `read` may.
 */
import { groupOf } from '../address.ts'
import { WriteBufferError } from '../errors.ts'
import type { Recovery } from '../segment.ts'
import type { WriteBuffer } from '../write-buffer.ts'
import type { FileCache } from './file-cache.ts'
import { noGroup } from './segment-recovery.ts'

export class Reads {
  readonly #live: ReadonlyMap<number, WriteBuffer>
  readonly #files: FileCache
  readonly #segments: ReadonlySet<number>
  readonly #reader: Recovery

  /**
   * `live`: the log's buffers not yet sealed to disk, by group id; `files`:
   * its version-1 page files; `segments`: groups with a sealed segment,
   * whose pages `reader` reads.
   */
  constructor(live: ReadonlyMap<number, WriteBuffer>, files: FileCache, segments: ReadonlySet<number>, reader: Recovery) {
    this.#live = live
    this.#files = files
    this.#segments = segments
    this.#reader = reader
  }

  /** The page at `a` if no I/O is needed (a copy of a buffer's page, or a view of an open page file's), else `null`. */
  tryRead(a: bigint): Buffer | null {
    const g = groupOf(a)
    const wb = this.#live.get(g)
    if (wb !== undefined) return Buffer.from(wb.page(a))
    if (this.#segments.has(g)) {
      // Refused without I/O when the segment's index is in memory;
      // otherwise `read` tells.
      if (this.#reader.hasPage(a) === false) throw new WriteBufferError('ERR_INVALID_ADDR', `PageLog.tryRead(${a}): no page of segment ${g} is at this address`)
      return null
    }
    if (!this.#files.has(g)) throw noGroup('tryRead', a, g)
    return this.#files.tryPage(g, a)
  }

  /** The page at `a`; throws only before any I/O. */
  read(a: bigint): Promise<Buffer> {
    const g = groupOf(a)
    const wb = this.#live.get(g)
    if (wb !== undefined) return Promise.resolve(Buffer.from(wb.page(a)))
    if (this.#segments.has(g)) return this.#reader.readAsync(a)
    if (!this.#files.has(g)) throw noGroup('read', a, g)
    return this.#files.page(g, a)
  }
}
