/**
 * Reads of a PageLog: a page from its buffer while in memory, else from its
 * group's page file. `tryRead` never waits; `read` opens the file if needed.
 */
import { groupOf } from '../address.ts'
import { WriteBufferError } from '../errors.ts'
import type { WriteBuffer } from '../write-buffer.ts'
import type { FileCache } from './file-cache.ts'

export class Reads {
  readonly #live: ReadonlyMap<number, WriteBuffer>
  readonly #files: FileCache

  /** `live`: the log's unflushed buffers by group id; `files`: its page files. */
  constructor(live: ReadonlyMap<number, WriteBuffer>, files: FileCache) {
    this.#live = live
    this.#files = files
  }

  /** The page at `a` if no I/O is needed (a copy of a buffer's page, or a view of an open file's), else `null`. */
  tryRead(a: bigint): Buffer | null {
    const g = groupOf(a)
    const wb = this.#live.get(g)
    if (wb !== undefined) return Buffer.from(wb.page(a))
    if (!this.#files.has(g)) throw noGroup('tryRead', a, g)
    return this.#files.tryPage(g, a)
  }

  /** The page at `a`, opening its page file if needed; throws only before any I/O. */
  read(a: bigint): Promise<Buffer> {
    const g = groupOf(a)
    const wb = this.#live.get(g)
    if (wb !== undefined) return Promise.resolve(Buffer.from(wb.page(a)))
    if (!this.#files.has(g)) throw noGroup('read', a, g)
    return this.#files.page(g, a)
  }
}

const noGroup = (what: string, a: bigint, g: number): WriteBufferError =>
  new WriteBufferError('ERR_INVALID_ADDR', `PageLog.${what}(${a}): no buffer or page file of group ${g}`)
