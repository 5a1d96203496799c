/**
 * Segments (page-file format v2, `docs/page-file-format.md`): the durable
 * file of one buffer, prepared ahead, grown by group commits (`pwrite` + one
 * `fdatasync`), sealed with an index and a trailer. A thin layer over the
 * native binding for the PageLog to build on; not exported from `index.ts`
 * yet.
 */

import * as native from './load-binding.js'
import { WriteBuffer, WriteBufferError, type WriteBufferErrorCode } from './index.ts'

/** The error of an outcome: `WriteBufferError` for `ERR_*`, else an errno-coded `Error`. */
function outcomeError(code: string, message: string, what: string): Error {
  if (code.startsWith('ERR_')) return new WriteBufferError(code as WriteBufferErrorCode, `${what}: ${message}`)
  const err = new Error(`${what}: ${message}`) as Error & { code: string }
  err.code = code
  return err
}

/** A native error thrown by a sync call, as `WriteBufferError` when its code is one. */
function rethrow(e: unknown, what: string): never {
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('ERR_') && code !== 'ERR_INVALID_ARG_VALUE') {
    throw new WriteBufferError(code as WriteBufferErrorCode, `${what}: ${(e as Error).message}`)
  }
  throw e
}

/** The committed records of a segment, as parallel arrays in buffer order. */
export interface SegmentRecords {
  readonly groupId: number
  readonly path: string
  /** Index and trailer valid (recovered without reading a page). */
  readonly sealed: boolean
  /** 1 when recovery cut a torn tail (never an error), else 0. */
  readonly torn: number
  readonly allocated: number
  readonly pageIds: BigUint64Array
  readonly addrs: BigUint64Array
  readonly sizes: Uint32Array
  /** 1 = page, 2 = dealloc. */
  readonly flags: Uint32Array
  readonly filePos: Float64Array
  readonly crcs: Uint32Array
  readonly deallocs: BigUint64Array
}

/** Commit counters of one segment. */
export interface SegmentStats {
  readonly requests: number
  readonly commits: number
  readonly syncs: number
  readonly bytes: number
  readonly records: number
}

/** The segment of one `WriteBuffer`. */
export class Segment {
  readonly #native: native.NativeSegment
  readonly #owner: native.NativeBuffer
  readonly #arena: Uint8Array | undefined
  /** The commit running natively, if any. */
  #running: Promise<void> | undefined
  /** The commit that will run after it, shared by every request meanwhile. */
  #next: Promise<void> | undefined

  private constructor(seg: native.NativeSegment, owner: native.NativeBuffer, arena: Uint8Array | undefined) {
    this.#native = seg
    this.#owner = owner
    this.#arena = arena
  }

  /**
   * Prepares the segment of `buffer` in `dir` (created, zero-filled to
   * `prealloc` bytes, synced, directory synced): off the JS thread.
   */
  static async prepare(dir: string, buffer: WriteBuffer, opts?: { prealloc?: number }): Promise<Segment> {
    const handle = buffer.share()
    const arena = handle.arena === undefined ? undefined : new Uint8Array(handle.arena, handle.arenaOffset, handle.capacity)
    const owner = native.NativeBuffer.attach(handle.photonWriteBuffer, arena)
    const seg = await native.prepareSegment(dir, handle.groupId, handle.capacity, opts?.prealloc)
    if (seg.errorCode != null) throw outcomeError(seg.errorCode, seg.errorMessage ?? '', 'Segment.prepare')
    return new Segment(seg, owner, arena)
  }

  get path(): string {
    return this.#native.path
  }

  get groupId(): number {
    return this.#native.groupId
  }

  /**
   * Marks the page at `addr` complete (filled): a commit may write it before
   * its writer is released. Without it, records are committed only at
   * moments with no writer in progress.
   */
  markComplete(addr: bigint): void {
    const record = Number(BigInt.asUintN(32, addr)) - 16
    const status = native.markComplete(this.#owner.slot, record >>> 0)
    if (status !== 0) throw new WriteBufferError('ERR_INVALID_ADDR', `markComplete: no record at ${addr}`)
  }

  /**
   * Commits: resolves once every record reserved before the call is durable.
   * At most one native commit runs per segment; calls made meanwhile share
   * the next one (one `fdatasync` for all of them).
   */
  commit(): Promise<void> {
    if (this.#running === undefined) return this.#start()
    this.#next ??= this.#running.then(
      () => this.#start(),
      () => this.#start(),
    )
    return this.#next
  }

  #start(): Promise<void> {
    this.#next = undefined
    const run = (async () => {
      const out = await this.#native.commit(this.#owner.slot, this.#arena)
      if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'Segment.commit')
    })()
    this.#running = run
    const done = (): void => {
      if (this.#running === run) this.#running = undefined
    }
    run.then(done, done)
    return run
  }

  /**
   * `commit`, synchronously (for an `'exit'` handler): blocks the thread
   * until every record reserved before the call is durable.
   */
  commitSync(): void {
    const out = this.#native.commitSync(this.#owner.slot)
    if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'Segment.commitSync')
  }

  /** @internal The native segment (for `Recovery.adopt`). */
  get native(): native.NativeSegment {
    return this.#native
  }

  /** Seals (the buffer must be sealed with no writer): index and trailer written. */
  async seal(): Promise<{ records: number; fileLen: number }> {
    await this.#running?.catch(() => {})
    const out = await this.#native.seal(this.#owner.slot, this.#arena)
    if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'Segment.seal')
    return { records: out.records, fileLen: out.bytes }
  }

  /** The committed page at `addr`, read from the file (one `pread`), checked. */
  read(addr: bigint): Buffer {
    try {
      return Buffer.from(this.#native.read(addr))
    } catch (e) {
      rethrow(e, 'Segment.read')
    }
  }

  /** The committed records so far. */
  records(): SegmentRecords {
    return this.#native.entries()
  }

  stats(): SegmentStats {
    const [requests, commits, syncs, bytes, records] = this.#native.stats()
    return { requests, commits, syncs, bytes, records }
  }

  /** Drops this segment's reference to the buffer (the file stays). */
  dispose(): void {
    this.#owner.dispose(undefined)
  }
}

/** What `recoverSegments` found. */
export interface Recovery {
  readonly segments: SegmentRecords[]
  readonly removedTemp: number
  readonly bytesRead: number
  /** The page at `addr` (one `pread`, checked): `ERR_CORRUPT` for a damaged page only. */
  read(addr: bigint): Buffer
  /** Serves the committed pages of `segment` too (after its seal or later commits). */
  adopt(segment: Segment): void
  /** Files the page reader holds open (at most `maxOpenFiles`). */
  readonly openFiles: number
  /** Seals segment `i` if it was recovered unsealed (index and trailer after its last intact record). */
  seal(i: number): Promise<{ records: number; fileLen: number }>
}

/**
 * Recovers every segment of `dir` (sealed ones from trailer and index only,
 * unsealed ones by a walk to the last intact record). A damaged header,
 * index or trailer rejects with `ERR_CORRUPT` naming the file.
 */
export async function recoverSegments(dir: string, opts?: { maxOpenFiles?: number }): Promise<Recovery> {
  const r = await native.recoverSegments(dir, opts?.maxOpenFiles ?? 64)
  if (r.errorCode != null) throw outcomeError(r.errorCode, r.errorMessage ?? '', 'recoverSegments')
  const segments: SegmentRecords[] = []
  for (let i = 0; i < r.count; i++) segments.push(r.segment(i))
  return {
    segments,
    removedTemp: r.removedTemp,
    bytesRead: r.bytesRead,
    read(addr: bigint): Buffer {
      try {
        return Buffer.from(r.read(addr))
      } catch (e) {
        rethrow(e, 'read')
      }
    },
    adopt(segment: Segment): void {
      r.adopt(segment.native)
    },
    get openFiles(): number {
      return r.openFiles
    },
    async seal(i: number): Promise<{ records: number; fileLen: number }> {
      const out = await r.seal(i)
      if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'seal')
      return { records: out.records, fileLen: out.bytes }
    },
  }
}
