/**
 * Segments (page-file format v2, `docs/page-file-format.md`): the durable
 * file of one buffer, prepared ahead, grown by group commits (`pwrite` + one
 * `fdatasync`), sealed with an index and a trailer. The PageLog builds on
 * it; not exported from `index.ts`.
 */

import { join } from 'node:path'

import { WriteBufferError, nativeError, outcomeError } from './errors.ts'
import { segmentFileName } from './file-names.ts'
import { markOpenLanes } from './handle.ts'
import type { WriteBuffer } from './write-buffer.ts'
import * as native from '../load-binding.js'

/** Tasks one batch of reads is spread over: libuv's default pool size. */
const POOL_READERS = 4
/** The most reads one task makes (a larger batch takes more tasks). */
const READS_PER_TASK = 256

/** A native error thrown by a sync call, as `WriteBufferError` when its code is one. */
function rethrow(e: unknown, what: string, path: string): never {
  const code = (e as { code?: unknown }).code
  if (code === 'ERR_INVALID_ARG_VALUE') throw e
  throw nativeError(e, what, path)
}

/** An outcome of a native commit or seal, thrown if it carries an error. */
function check(out: native.SegmentOutcome, what: string, path: string): native.SegmentOutcome {
  if (out.code != null) throw outcomeError(out.code, out.message ?? '', what, path)
  return out
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

/** The buffer a segment commits: a native reference of its own, and its arena in the `'js'` mode. */
interface Bound {
  readonly owner: native.NativeBuffer
  readonly arena: Uint8Array | undefined
}

/** The segment of one `WriteBuffer`. */
export class Segment {
  readonly #native: native.NativeSegment
  readonly #path: string
  #bound: Bound | null = null
  /** The commit running natively, if any. */
  #running: Promise<void> | undefined
  /** The commit that will run after it, shared by every request meanwhile. */
  #next: Promise<void> | undefined

  private constructor(seg: native.NativeSegment) {
    this.#native = seg
    this.#path = seg.path
  }

  /**
   * Prepares the segment of group `groupId` (buffers of `capacity` bytes)
   * in `dir` — created, zero-filled to `prealloc` bytes, synced, directory
   * synced — off the JS thread. `bind` it to its buffer before committing.
   */
  static async create(dir: string, groupId: number, capacity: number, opts?: { prealloc?: number }): Promise<Segment> {
    try {
      return new Segment(await native.prepareSegment(dir, groupId, capacity, opts?.prealloc))
    } catch (e) {
      throw nativeError(e, 'Segment.prepare', join(dir, segmentFileName(groupId)))
    }
  }

  /** `create` for `buffer`'s group and capacity, bound to it. */
  static async prepare(dir: string, buffer: WriteBuffer, opts?: { prealloc?: number }): Promise<Segment> {
    const seg = await Segment.create(dir, buffer.groupId, buffer.capacity, opts)
    seg.bind(buffer)
    return seg
  }

  /** Binds the buffer this segment commits (its group and capacity): the segment holds a reference of its own. */
  bind(buffer: WriteBuffer): void {
    if (this.#bound !== null) throw new WriteBufferError('ERR_INVALID_ADDR', `Segment.bind: ${this.#path} is bound already`)
    const handle = buffer.share()
    const arena = handle.arena === undefined ? undefined : new Uint8Array(handle.arena, handle.arenaOffset, handle.capacity)
    this.#bound = { owner: native.NativeBuffer.attach(handle.photonWriteBuffer, arena), arena }
    // Threads appending into the buffer may commit it themselves (`WriteBuffer[COMMIT]`).
    this.#native.publish(this.#bound.owner.slot)
  }

  #buffer(what: string): Bound {
    if (this.#bound === null) throw new WriteBufferError('ERR_CLOSED', `Segment.${what}: ${this.#path} has no buffer (bind one first)`)
    return this.#bound
  }

  get path(): string {
    return this.#path
  }

  get groupId(): number {
    return this.#native.groupId
  }

  /**
   * Marks the page at `addr` complete (filled): a commit may write it before
   * its writer is released. Without it, records are committed only by the seal.
   */
  markComplete(addr: bigint): void {
    const slot = this.#buffer('markComplete').owner.slot
    const record = Number(BigInt.asUintN(32, addr)) - 16
    let status = native.markComplete(slot, record >>> 0)
    // A page of an open lane of this thread (written in JS, its start not
    // marked until the lane closes): marked now, so try again.
    if (status !== 0 && markOpenLanes()) status = native.markComplete(slot, record >>> 0)
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
      const b = this.#buffer('commit')
      check(await this.#native.commit(b.owner.slot, b.arena), 'commit', this.#path)
    })()
    this.#running = run
    const done = (): void => {
      if (this.#running === run) this.#running = undefined
    }
    run.then(done, done)
    return run
  }

  /** Whether a commit runs or waits to run. */
  get committing(): boolean {
    return this.#running !== undefined
  }

  /**
   * `commit`, synchronously (for an `'exit'` handler): blocks the thread
   * until the records reserved before the call are durable — waiting at
   * most `waitMs` for those another thread still fills (then only the
   * complete ones before them are committed).
   */
  commitSync(waitMs = 1000): void {
    check(this.#native.commitSync(this.#buffer('commitSync').owner.slot, waitMs), 'commit', this.#path)
  }

  /** Whether it is bound to a buffer. */
  get isBound(): boolean {
    return this.#bound !== null
  }

  /** @internal The native segment (for `Recovery.adopt`). */
  get native(): native.NativeSegment {
    return this.#native
  }

  /** Seals (the buffer must be sealed with no writer): index and trailer written. */
  async seal(): Promise<{ records: number; fileLen: number }> {
    await this.#running?.catch(() => {})
    const b = this.#buffer('seal')
    const out = check(await this.#native.seal(b.owner.slot, b.arena), 'seal', this.#path)
    return { records: out.records, fileLen: out.bytes }
  }

  /**
   * After a failed commit or seal: the next one rewrites the whole segment
   * from its buffer. `false` if nothing had failed.
   */
  retry(): boolean {
    return this.#native.retry()
  }

  /** The committed page at `addr`, read from the file (one `pread`), checked. */
  read(addr: bigint): Buffer {
    try {
      return Buffer.from(this.#native.read(addr))
    } catch (e) {
      rethrow(e, 'Segment.read', this.#path)
    }
  }

  /** The committed records so far. */
  records(): SegmentRecords {
    return this.#native.entries()
  }

  /** How many records are committed (`records()` would list). */
  get committedRecords(): number {
    return this.#native.entryCount
  }

  /** The committed records from the `n`-th on. */
  recordsSince(n: number): SegmentRecords {
    return this.#native.entriesSince(n)
  }

  stats(): SegmentStats {
    const [requests, commits, syncs, bytes, records] = this.#native.stats()
    return { requests, commits, syncs, bytes, records }
  }

  /** Drops this segment's reference to its buffer (the file stays). */
  dispose(): void {
    const b = this.#bound
    this.#bound = null
    if (b !== null) this.#native.unpublish()
    b?.owner.dispose(b.arena)
  }

  /** `dispose`, and lets go of the file descriptor and memory at once (after its seal: its pages are read through a `Recovery`). */
  close(): void {
    this.dispose()
    this.#native.close()
  }
}

/** A file named like a segment that is not a valid one. */
export interface CorruptSegment {
  readonly group: number
  readonly path: string
  readonly message: string
}

/** What `recoverSegments` found, and the reader of every segment's pages. */
export interface Recovery {
  /** @internal The native recovery (`PageIndex.absorb`). */
  readonly native: native.NativeRecovery
  /** Segments found (valid ones), by ascending group id. */
  readonly count: number
  /** The records of segment `i` (fresh arrays on each call: nothing is kept on the JS side). */
  segment(i: number): SegmentRecords
  /** Every `segment(i)` (tests). */
  readonly segments: SegmentRecords[]
  /** The records of group `g` as the reader knows them (recovered or adopted), or `null`. */
  groupRecords(g: number): SegmentRecords | null
  /** With `corrupt: 'list'`: the files that are not valid segments (else the first one rejects). */
  readonly corrupt: readonly CorruptSegment[]
  readonly removedTemp: number
  readonly bytesRead: number
  /** With `checkpoint: true`: what became of the directory's index checkpoint. */
  readonly checkpoint: CheckpointUse
  /** The page at `addr` (one `pread`, checked): `ERR_CORRUPT` for a damaged page only. */
  read(addr: bigint): Buffer
  /** `read` off the JS thread. */
  readAsync(addr: bigint): Promise<Buffer>
  /** Whether a page of the reader's segments is at `addr`, if that can be told without I/O (`null`: its index is not in memory). */
  hasPage(addr: bigint): boolean | null
  /** Lets go of every record held in memory: indexes are read from the (sealed) segments when needed. */
  dropEntries(): void
  /** Segments whose records are in memory now. */
  readonly entriesInMemory: number
  /** Serves the committed pages of `segment` too (after its seal or later commits). */
  adopt(segment: Segment): void
  /** Forgets group `g` (its file is gone). */
  remove(g: number): void
  /** Closes the files held open (a later read opens its file again). */
  close(): void
  /** Files the page reader holds open (at most `maxOpenFiles`). */
  readonly openFiles: number
  /** Seals segment `i` if it was recovered unsealed (index and trailer after its last intact record). */
  seal(i: number): Promise<{ records: number; fileLen: number }>
}

/** What `recoverSegments` with `checkpoint: true` did with the index checkpoint (`index.pwi`). */
export interface CheckpointUse {
  /** The index was loaded from it. */
  readonly loaded: boolean
  /** It exists and was not used: why (else `null`). */
  readonly ignored: string | null
  /** Segments it covered: recovered from header and trailer only. */
  readonly covered: number
  /** Segments read and indexed on top of it. */
  readonly indexed: number
}

/** An `ERR_CORRUPT` naming a file that is not a valid segment. */
export function corruptSegmentError(what: string, c: CorruptSegment): WriteBufferError {
  const e = new WriteBufferError('ERR_CORRUPT', `${what}: corrupt segment ${c.path}: ${c.message}`)
  ;(e as WriteBufferError & { path: string }).path = c.path
  return e
}

/**
 * Recovers every segment of `dir` (sealed ones from trailer and index only,
 * unsealed ones by a walk to the last intact record). A damaged header,
 * index or trailer (or anything named like a segment that is not a regular
 * file) rejects with `ERR_CORRUPT` naming the file, or with
 * `corrupt: 'list'` is listed in `corrupt` and left out. With `index: true`
 * the records are indexed as they are read (take the index with
 * `PageIndex.absorb`) and a sealed segment's are not kept (`segment(i)`
 * lists none for it); with `checkpoint: true` too, the index starts from
 * the directory's checkpoint when it can be used (`checkpoint`).
 */
export async function recoverSegments(dir: string, opts?: { maxOpenFiles?: number; corrupt?: 'reject' | 'list'; index?: boolean; checkpoint?: boolean }): Promise<Recovery> {
  let r: native.NativeRecovery
  try {
    r = await native.recoverSegments(dir, opts?.maxOpenFiles ?? 64, opts?.index ?? false, opts?.checkpoint ?? false)
  } catch (e) {
    throw nativeError(e, 'recoverSegments', dir)
  }
  const corrupt = r.corrupt()
  if (corrupt.length > 0 && opts?.corrupt !== 'list') throw corruptSegmentError('recoverSegments', corrupt[0])
  const segment = (i: number): SegmentRecords => r.segment(i)
  // Reads asked for in one turn of the event loop (up to the microtasks that
  // follow it) go to the pool together: n reads as max(min(n, POOL_READERS),
  // n / READS_PER_TASK) tasks instead of n. Each task is a wake of a pool
  // thread and a callback on this one (~10–20 µs of JS thread here), where a
  // read from the page cache is a few µs; spread over the pool's threads so
  // reads that wait for the disk still overlap.
  type Settle = { resolve: (b: Buffer) => void; reject: (e: unknown) => void }
  let queued: { addrs: bigint[]; settle: Settle[] } | null = null
  const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
  /** One task for `addrs`; every promise in `settle` settles, whatever happens. */
  const dispatch = (addrs: bigint[], settle: Settle[]): void => {
    let done = 0
    const fail = (e: unknown): void => {
      const err = nativeError(e, 'read', dir)
      for (; done < settle.length; done++) settle[done].reject(err)
    }
    try {
      if (addrs.length === 1) {
        r.readAsync(addrs[0]).then((u) => settle[0].resolve(asBuffer(u)), fail)
        return
      }
      r.readMany(BigUint64Array.from(addrs)).then((out) => {
        try {
          for (; done < settle.length; done++) {
            const u = out.pages[done]
            if (u) settle[done].resolve(asBuffer(u))
            else settle[done].reject(outcomeError(out.codes[done], out.messages[done], 'read', dir))
          }
        } catch (e) {
          fail(e)
        }
      }, fail)
    } catch (e) {
      fail(e)
    }
  }
  const readQueued = (): void => {
    const q = queued
    queued = null
    if (q === null) return
    const n = q.addrs.length
    const tasks = Math.max(Math.min(n, POOL_READERS), Math.ceil(n / READS_PER_TASK))
    const per = Math.ceil(n / tasks)
    for (let at = 0; at < n; at += per) dispatch(q.addrs.slice(at, at + per), q.settle.slice(at, at + per))
  }
  return {
    native: r,
    get count(): number {
      return r.count
    },
    segment,
    get segments(): SegmentRecords[] {
      return Array.from({ length: r.count }, (_, i) => segment(i))
    },
    groupRecords(g: number): SegmentRecords | null {
      try {
        return r.groupEntries(g)
      } catch (e) {
        rethrow(e, 'read', dir)
      }
    },
    corrupt,
    removedTemp: r.removedTemp,
    bytesRead: r.bytesRead,
    checkpoint: { loaded: r.checkpointLoaded, ignored: r.checkpointIgnored ?? null, covered: r.checkpointCovered, indexed: r.checkpointIndexed },
    read(addr: bigint): Buffer {
      try {
        return Buffer.from(r.read(addr))
      } catch (e) {
        rethrow(e, 'read', dir)
      }
    },
    readAsync(addr: bigint): Promise<Buffer> {
      return new Promise((resolve, reject) => {
        if (queued === null) {
          queued = { addrs: [], settle: [] }
          queueMicrotask(readQueued)
        }
        queued.addrs.push(addr)
        queued.settle.push({ resolve, reject })
      })
    },
    hasPage(addr: bigint): boolean | null {
      return r.hasPage(addr)
    },
    dropEntries(): void {
      r.dropEntries()
    },
    get entriesInMemory(): number {
      return r.entriesInMemory
    },
    adopt(segment: Segment): void {
      r.adopt(segment.native)
    },
    remove(g: number): void {
      r.remove(g)
    },
    close(): void {
      r.close()
    },
    get openFiles(): number {
      return r.openFiles
    },
    async seal(i: number): Promise<{ records: number; fileLen: number }> {
      const out = await r.seal(i)
      if (out.code != null) throw outcomeError(out.code, out.message ?? '', 'seal', segment(i).path)
      return { records: out.records, fileLen: out.bytes }
    },
  }
}
