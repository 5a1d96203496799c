/**
 * PageLog (docs/page-log.md, docs/api.md): one active buffer, rotated when
 * full; each buffer has its segment (`segments.ts`), into which `flush()`
 * commits what was appended (group commit, no new file); full buffers are
 * sealed into their segments in group order by one background job; at most
 * `maxBuffers` not yet sealed. One shape per call: `tryAppend`/`tryRead`
 * are synchronous (`null` when they would wait or need I/O), `append`/`read`
 * always return a promise.
 */
import fs from 'node:fs'
import path from 'node:path'

import { U32_MAX, invalidType, toU64 } from '../args.ts'
import { WriteBufferError, fsError, internalError, isCode } from '../errors.ts'
import { ArenaPool } from '../pool.ts'
import { WriteBuffer } from '../write-buffer.ts'
import type * as native from '../../load-binding.js'
import type { ReleaseState } from '../types.ts'
import { appendTo, checkPageData, checkPageId, type Writer } from './append.ts'
import type { FileCache } from './file-cache.ts'
import { logConfig, type LogConfig, type PageLogOptions } from './options.ts'
import { keyOf, type Key, type PageIndex } from './page-index.ts'
import { livePages, type LivePage } from './pages.ts'
import type { PageLogHandle } from './protocol.ts'
import { Reads } from './reads.ts'
import { lockDir } from './recovery.ts'
import { indexSegment, openDir, type Opened, type RecoveredSegments } from './segment-recovery.ts'
import { Commits, type CommitHost } from './commits.ts'
import { OwnMarks } from './marks.ts'
import { Checkpoints } from './checkpoints.ts'
import { SealJob } from './seal-job.ts'
import type { SegmentSet } from './segments.ts'
import { SharedLog } from './sharing.ts'
import type { PageLogStats } from './stats.ts'
import { Stalls } from './stalls.ts'
import { PageLogWriter } from './writer.ts'

/**
 * A log of pages over consecutive write buffers and their page files: see the
 * module comment for the loop, docs/page-log.md for the contract.
 */
export class PageLog {
  /** The directory of the page files (absolute). */
  readonly dir: string
  readonly bufferSize: number
  readonly maxBuffers: number
  /** Arenas of flushed buffers, reused by the next ones (at most `maxBuffers`). */
  readonly #pool: ArenaPool
  /** The directory's lock (`<dir>/LOCK`), held from open to close. */
  readonly #lock: native.NativeDirLock

  /** The buffer appends go to; `null` until the next append installs one. */
  #active: WriteBuffer | null = null
  #nextGroup: number
  /** Every buffer not yet sealed into its segment (active + sealed), by group id. */
  readonly #live = new Map<number, WriteBuffer>()
  /** Seals full buffers into their segments, in group order. */
  readonly #job: SealJob
  /** Version-1 page files: which groups have one, those open for reads. */
  readonly #files: FileCache
  /** The segments of the buffers in memory (prepared, committed, sealed). */
  readonly #segs: SegmentSet
  /** Groups with a sealed segment (whose pages `#reads` reads from it). */
  readonly #segGroups: Set<number>
  readonly #recovered: RecoveredSegments
  /** Page id → latest address. */
  readonly #index: PageIndex
  /** Reads from the buffers in memory, else the segments and page files. */
  readonly #reads: Reads
  /** Told of each writer count an append released (`appendTo`), made once. */
  readonly #onRelease = (wb: WriteBuffer, state: ReleaseState): void => this.#released(wb, state)
  /** `flush()`, `rotate()`, `close()` and the timer. */
  readonly #commits: Commits
  /** The completion marks of this thread's appends. */
  readonly #marks = new OwnMarks()

  /** Appends waiting for room. */
  readonly #stalled = new Stalls()
  #closed = false
  #closing: Promise<void> | null = null
  /** Set by `share()`: the channel and control words that worker writers use. */
  #shared: SharedLog | null = null

  #appends = 0
  /** Shared logs: the owner's own appends per unflushed group (the rest of its pages are the writers'). */
  readonly #ownAppends = new Map<number, number>()
  #stalls = 0
  #flushes = 0
  #flushErrors = 0
  #peakBuffers = 0
  /** What recovery found (`stats`). */
  readonly #opened: { readonly recoveredFiles: number; readonly quarantined: number; readonly recoveryBytesRead: number; readonly tornTails: number }
  readonly #checkpoints: Checkpoints

  private constructor(config: LogConfig, lock: native.NativeDirLock, { v1: recovered, v2: segments, segs, nextGroup }: Opened) {
    this.dir = config.dir
    this.#lock = lock
    this.bufferSize = config.bufferSize
    this.maxBuffers = config.maxBuffers
    this.#pool = new ArenaPool(config.bufferSize, config.maxBuffers)
    this.#index = recovered.index
    this.#files = recovered.files
    this.#recovered = segments
    this.#segGroups = segments.groups
    this.#segs = segs
    this.#reads = new Reads(this.#live, this.#files, this.#segGroups, segments.reader)
    this.#nextGroup = nextGroup
    const log = this
    this.#job = new SealJob(
      {
        seal: (wb) => this.#sealSegment(wb),
        sealed: (wb) => this.#onSealed(wb),
        failed: (err) => this.#fail(err),
        get look() {
          return log.#shared === null ? null : (g: number) => log.#look(g)
        },
      },
      this.#nextGroup - 1,
    )
    this.#opened = { recoveredFiles: recovered.recoveredFiles + segments.recovered, quarantined: recovered.quarantined + segments.quarantined, recoveryBytesRead: recovered.bytesRead + segments.reader.bytesRead, tornTails: segments.tornTails }
    const host: CommitHost = {
      job: this.#job,
      segs,
      stalled: this.#stalled,
      active: () => this.#active,
      sealActive: () => this.#sealActive(),
      appended: () => (this.#shared === null ? this.#appends : NaN),
      failed: () => void this.#flushErrors++,
    }
    this.#commits = new Commits(host, config.flushIntervalMs)
    this.#checkpoints = new Checkpoints({ dir: this.dir, index: this.#index, segGroups: this.#segGroups, recovered: segments.reader.checkpoint, doneUpTo: () => this.#job.doneUpTo, appends: () => this.#appends, shared: () => this.#shared !== null, v1: () => this.#files.groups().next().done !== true })
    // Before a commit of the active buffer, its records are marked.
    segs.beforeCommit = (g) => this.#active?.groupId === g && this.#marks.markAll(this.#active, this.#shared !== null)
  }

  /** Opens (creating it if missing) the log in `dir` and recovers its page files (`recovery.ts`). */
  static async open(dir: string, opts: PageLogOptions = {}): Promise<PageLog> {
    if (typeof dir !== 'string') throw invalidType('dir', 'of type string', dir)
    const config = logConfig(path.resolve(dir), opts)
    try {
      await fs.promises.mkdir(config.dir, { recursive: true })
      const lock = lockDir(config.dir)
      try {
        return new PageLog(config, lock, await openDir(config))
      } catch (err) {
        lock.release()
        throw err
      }
    } catch (err) {
      // Node's fs errors (ENOTDIR, EACCES, …) say the operation, not the call.
      throw fsError(err, 'PageLog.open')
    }
  }

  /**
   * Appends one page now and returns its address, or `null` when it would
   * wait (every buffer in use, or earlier appends waiting: then `append`).
   * `data` is copied in, or a writer fills the zero-copy view of `size`
   * bytes (if it throws, the record is tombstoned). Errors throw.
   */
  tryAppend(pageId: bigint | number, data: Uint8Array | Writer, size?: number): bigint | null {
    this.#checkOpen('tryAppend')
    const id = checkPageId(pageId)
    const n = checkPageData('PageLog.tryAppend', this.bufferSize, data, size)
    return this.#stalled.length === 0 ? this.#tryAppend(id, data, n) : null
  }

  /** Appends one page: now if it fits (`tryAppend`), else once a flush frees a buffer (`data` copied first). Errors reject. */
  append(pageId: bigint | number, data: Uint8Array | Writer, size?: number): Promise<bigint> {
    try {
      this.#checkOpen('append')
      const id = checkPageId(pageId)
      const n = checkPageData('PageLog.append', this.bufferSize, data, size)
      if (this.#stalled.length === 0) {
        const addr = this.#tryAppend(id, data, n)
        if (addr !== null) return Promise.resolve(addr)
      }
      // Every buffer is in use: wait for a flush (behind earlier waiters).
      if (this.#job.error !== null) return Promise.reject(this.#job.error)
      this.#stalls++
      return this.#stalled.wait(id, typeof data === 'function' ? data : Buffer.from(data), n)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Appends into the active buffer, rotating when full; `null` when no buffer may be installed. */
  #tryAppend(pageId: Key, data: Uint8Array | Writer, size: number): bigint | null {
    for (;;) {
      let wb = this.#active
      if (wb === null) {
        if (!this.#install()) return null
        wb = this.#active as unknown as WriteBuffer
      }
      // Bytes: one reservation and a copy, no writer count: only this thread flushes, and
      // nothing between reservation and copy yields to it. Completion marks: `marks.ts`.
      const shared = this.#shared !== null, w = wb
      const addr = typeof data === 'function' ? this.#marks.inCallback(w, shared, () => appendTo(w, pageId, data, size, false, this.#onRelease)) : appendTo(w, pageId, data, size, false, this.#onRelease, this.#marks.each(shared))
      if (addr === null) {
        // Cannot happen: the size was checked against the capacity.
        if (wb.isEmpty) throw internalError('PageLog.append', `a ${size}-byte page does not fit an empty buffer`)
        this.#sealActive()
        continue
      }
      this.#index.setLatest(pageId, addr)
      this.#appends++
      if (this.#shared !== null) this.#ownAppends.set(wb.groupId, (this.#ownAppends.get(wb.groupId) ?? 0) + 1)
      return addr
    }
  }

  #released(wb: WriteBuffer, state: ReleaseState): void {
    if (state === 'flush') this.#job.ready(wb)
  }

  /** Installs the next buffer (`groupId + 1`) if fewer than `maxBuffers` are unflushed. */
  #install(): boolean {
    if (this.#live.size >= this.maxBuffers) return false
    if (this.#nextGroup > U32_MAX) throw groupsExhausted(this.dir)
    const wb = new WriteBuffer(this.#nextGroup++, this.bufferSize, { pool: this.#pool })
    this.#checkpoints.installing(wb.groupId)
    this.#live.set(wb.groupId, wb)
    this.#segs.attach(wb)
    this.#marks.reset()
    this.#active = wb
    if (this.#live.size > this.#peakBuffers) this.#peakBuffers = this.#live.size
    this.#shared?.publish(wb)
    return true
  }

  /** Shared log: the writers wait for a buffer: install one as soon as there is room. */
  #installEagerly(): void {
    if (this.#shared === null || this.#active !== null || this.#closed || this.#job.error !== null) return
    if (this.#nextGroup > U32_MAX) {
      return this.#shared.failed(groupsExhausted(this.dir)) // in the flush job: tell the writers, do not throw there
    }
    this.#install()
  }

  /** Seals the active buffer and queues it for the flush; the next append installs a new one. */
  #sealActive(): void {
    const wb = this.#active
    if (wb === null) return
    this.#active = null
    if (this.#shared !== null) {
      this.#shared.publish(null)
      this.#installEagerly()
    }
    let state
    try {
      state = wb.seal()
    } catch (err) {
      // Already sealed (only through the buffer itself, never by this log):
      // it is flushable once its writers release it.
      if (!isCode(err, 'ERR_AGAIN')) throw err
      state = wb.isFlushable ? 'flush' : 'none'
    }
    this.#job.push(wb, state === 'flush')
  }

  // -------------------------------------------------------------------------
  // The flush job (`seal-job.ts`)

  /** Seals `wb` into its segment (a shared log first indexes its writers' pages in it). */
  async #sealSegment(wb: WriteBuffer): Promise<void> {
    const g = wb.groupId
    if (this.#shared !== null) {
      // A page's latest address is its highest one.
      const pages = this.#index.addRecords(wb.records(), true, 'PageLog flush', false)
      // The writers' appends count once the owner indexes them: now.
      this.#appends += pages - (this.#ownAppends.get(g) ?? 0)
      this.#ownAppends.delete(g)
    }
    await this.#segs.seal(g)
  }

  /** `wb` is sealed into its segment: its pages are read from there; its arena goes back to the pool; waiting appends may go on. */
  #onSealed(wb: WriteBuffer): void {
    const g = wb.groupId
    this.#segGroups.add(g)
    this.#live.delete(g)
    wb.dispose()
    this.#flushes++
    this.#checkpoints.sealed(g)
    this.#shared?.flushed()
    // Appends that waited for room, in order, while room exists.
    this.#stalled.drain((id, data, n) => this.#tryAppend(id, data, n))
    this.#installEagerly()
  }

  /** Sealing failed: the job stopped; tell every writer and waiting append. */
  #fail(err: unknown): void {
    this.#flushErrors++
    this.#shared?.failed(err)
    this.#stalled.rejectAll(err)
  }

  /**
   * A commit: resolves once every page appended before the call (appends
   * that were waiting for room at the time included) is durable — it reads
   * back at its address after a crash or power loss. It writes the new pages
   * into their buffer's segment and syncs it (no new file); calls made while
   * a commit runs share the next one (one `fdatasync`). If a commit or a
   * background seal failed, this retries it (rewriting the segment from the
   * buffer): it resolves if the retry succeeds, and rejects with the error
   * (`code` errno name, `path`) if it fails again.
   */
  async flush(): Promise<void> {
    this.#checkOpen('flush')
    await this.#commits.through(this.#stalled.lastSeq, false)
  }

  /**
   * `flush()` that also seals the active buffer into its segment (index, trailer: it never
   * changes again; the next append goes to a new buffer). Resolves once every buffer up to it is sealed.
   */
  async rotate(): Promise<void> {
    this.#checkOpen('rotate')
    await this.#commits.through(this.#stalled.lastSeq, true)
  }

  /**
   * Seals everything into its segment (appends still waiting for room
   * included; as `rotate()`), removes the segment prepared ahead, then
   * forgets the buffers and files: later calls throw `ERR_CLOSED`.
   * `close()` again returns the same promise; if the flush failed, `close()`
   * again retries it.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closed = true
    const sh = this.#shared
    sh?.closing()
    this.#commits.stop()
    // No append starts once closed: every waiting one is up to `lastSeq`.
    const closing = this.#commits.through(this.#stalled.lastSeq, true)
      // Only the active buffer can be left, empty: the rest were sealed.
      // Its segment and the one prepared ahead are removed.
      .then(() => this.#segs.close())
      .then(() => this.#checkpoints.close(this.#recovered.checkpointCurrent && this.#flushes === 0 && this.#appends === 0))
      .then(
      () => {
        for (const wb of this.#live.values()) wb.dispose()
        this.#pool.close()
        this.#lock.release()
        sh?.close()
        this.#active = null
        this.#live.clear()
        this.#files.close()
        this.#recovered.reader.close()
      },
      (err) => {
        this.#closing = null
        throw err
      },
    )
    this.#closing = closing
    return closing
  }

  /** `await using log = await PageLog.open(dir)`: `close()` when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  // -------------------------------------------------------------------------
  // Sharing with worker threads

  /**
   * A structured-cloneable handle for `PageLog.attach(handle)` in worker
   * threads: they append into this log's buffers; this log (the owner, on
   * this thread, whose event loop must run) rotates, flushes, indexes, reads.
   */
  share(): PageLogHandle {
    this.#checkOpen('share')
    if (this.#shared === null) {
      const shared = new SharedLog(this.dir, this.bufferSize, {
        look: (g) => this.#look(g),
        // After a close() whose flush failed (a retry is due): nothing is durable yet.
        flush: () => this.#closing ?? (this.#closed ? Promise.reject(this.#job.error ?? notRetried()) : this.flush()),
      })
      // From here on every append marks its own record: mark the rest of the
      // active buffer's now.
      if (this.#active !== null) this.#marks.markAll(this.#active, false, true)
      this.#shared = shared
      // The writers' pages are indexed as they are committed (the owner's own, as they are appended).
      this.#segs.onCommitted = (_g, records) => void indexSegment(this.#index, records, 'PageLog commit')
      if (this.#active === null) this.#install()
      else shared.publish(this.#active)
    }
    return this.#shared.handle
  }

  /** A writer for a log shared by `share()` (in any thread, usually a worker). */
  static attach(handle: PageLogHandle): PageLogWriter {
    return new PageLogWriter(handle)
  }

  /** A writer sealed group `g`, or released its last writer. */
  #look(g: number): void {
    const wb = this.#live.get(g)
    if (wb === undefined) return
    if (wb === this.#active) {
      if (wb.isSealed) this.#sealActive() // sealed by a writer: rotate
      return
    }
    if (!this.#job.isReady(g) && wb.isFlushable) this.#job.ready(wb)
  }

  // -------------------------------------------------------------------------
  // Reads

  /**
   * The page at `addr` without I/O: a copy from its buffer in memory (or a
   * zero-copy view, read-only by contract, of an open version-1 page file);
   * `null` when it must be read from its segment or file (then `read`).
   * `ERR_INVALID_ADDR` if no buffer, segment or file has its group.
   */
  tryRead(addr: bigint | number): Buffer | null {
    this.#checkOpen('tryRead')
    return this.#reads.tryRead(toU64('addr', addr))
  }

  /**
   * The page at `addr` (see `tryRead`): from its segment, one checked
   * `pread` off the JS thread. A page whose bytes are damaged on disk
   * rejects `ERR_CORRUPT` (only that page). Every error rejects.
   */
  read(addr: bigint | number): Promise<Buffer> {
    try {
      this.#checkOpen('read')
      return this.#reads.read(toU64('addr', addr))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  // -------------------------------------------------------------------------
  // Introspection

  /**
   * The live pages — each page id's latest address — in address order:
   * `{ pageId, addr, size }` (the body on demand: `read(addr)`). Right after
   * `open` it lists what recovery found, without reading any page.
   */
  pages(): IterableIterator<LivePage> {
    this.#checkOpen('pages')
    this.#segs.catchUp()
    return livePages(this.#index, this.#live, this.#files, this.#segGroups, this.#recovered.reader)
  }

  /** The latest address of `pageId` (appended by this log or recovered), if any. */
  addressOf(pageId: bigint | number): bigint | undefined {
    this.#segs.catchUp()
    return this.#index.get(keyOf(checkPageId(pageId)))
  }

  /** Page ids with an address. */
  get pageCount(): number {
    this.#segs.catchUp()
    return this.#index.size
  }

  /** The group id the next installed buffer gets. */
  get nextGroupId(): number {
    return this.#nextGroup
  }

  get isClosed(): boolean {
    return this.#closed
  }

  get stats(): PageLogStats {
    const pool = this.#pool.stats
    return {
      appends: this.#appends,
      stalls: this.#stalls,
      flushes: this.#flushes,
      commits: this.#segs.commits,
      segmentsCreated: this.#segs.created,
      openFiles: this.#recovered.reader.openFiles + this.#files.openFiles,
      indexBytes: this.#index.bytes,
      flushErrors: this.#flushErrors,
      buffers: this.#live.size,
      peakBuffers: this.#peakBuffers,
      ...this.#opened, ...this.#checkpoints.stats(),
      arenasCreated: pool.created,
      arenasReused: pool.reused,
    }
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new WriteBufferError('ERR_CLOSED', `PageLog.${what}: the log is closed`)
  }
}

/** No group id is left for a next buffer: the last page file is `4294967295.page`. */
const groupsExhausted = (dir: string): WriteBufferError => new WriteBufferError('ERR_GROUPS_EXHAUSTED', `PageLog: every group id is used (${dir} holds page file ${U32_MAX}.page, the last one): no buffer can be installed for new pages; copy the live pages into a log in a new directory`)
const notRetried = (): WriteBufferError => new WriteBufferError('ERR_CLOSED', 'PageLog.flush: the log is closing; its flush failed and close() was not retried yet')
