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
import { lockDir, recoverDir, type Recovered } from './recovery.ts'
import { indexSegment, recoverSegmentsOf, type RecoveredSegments } from './segment-recovery.ts'
import { SegmentSet } from './segments.ts'
import { SharedLog } from './sharing.ts'
import type { PageLogStats } from './stats.ts'
import { Stalls } from './stalls.ts'
import { PageLogWriter } from './writer.ts'

interface Waiter {
  readonly target: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

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
  /** Sealed, not yet flushed, in group order (= seal order). */
  readonly #sealed: WriteBuffer[] = []
  /** Sealed groups with no writer left: the flush job may take them. */
  readonly #ready = new Set<number>()
  /** Every group ≤ this one is on disk (or was never used). */
  #flushedUpTo: number
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
  /** `flushIntervalMs`'s timer. */
  #timer: NodeJS.Timeout | null = null
  /** Appends (own, counted) at the last commit: the timer commits only when there are new ones. */
  #appendsAtCommit = 0

  /** Appends waiting for room. */
  readonly #stalled = new Stalls()
  readonly #waiters: Waiter[] = []
  /** Shared logs: looks again soon at the oldest sealed buffer that waits for writers (see `#watch`). */
  #recheck: NodeJS.Timeout | null = null
  #flushing = false
  /** The last background flush error, kept until `flush()`/`close()` retries. */
  #error: unknown = null
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
  readonly #recoveredFiles: number
  readonly #quarantined: number

  private constructor(config: LogConfig, lock: native.NativeDirLock, recovered: Recovered, segments: RecoveredSegments, segs: SegmentSet) {
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
    this.#nextGroup = Math.max(recovered.nextGroup, segments.lastGroup + 1)
    this.#flushedUpTo = this.#nextGroup - 1
    this.#recoveredFiles = recovered.recoveredFiles + segments.recovered
    this.#quarantined = recovered.quarantined + segments.quarantined
    if (config.flushIntervalMs > 0) {
      this.#timer = setInterval(() => this.#tick(), config.flushIntervalMs)
      this.#timer.unref()
    }
  }

  /** Opens (creating it if missing) the log in `dir` and recovers its page files (`recovery.ts`). */
  static async open(dir: string, opts: PageLogOptions = {}): Promise<PageLog> {
    if (typeof dir !== 'string') {
      throw invalidType('dir', 'of type string', dir)
    }
    const config = logConfig(path.resolve(dir), opts)
    try {
      await fs.promises.mkdir(config.dir, { recursive: true })
      const lock = lockDir(config.dir)
      try {
        const v1 = await recoverDir(config)
        const v2 = await recoverSegmentsOf(config, v1.index, (g) => v1.files.has(g))
        const segs = new SegmentSet(config.dir, config.bufferSize, v2.reader, config.commitOnExit)
        const log = new PageLog(config, lock, v1, v2, segs)
        // The first buffer's segment, ready before the first append (its
        // errors — a full disk, no permission — show here).
        if (log.#nextGroup <= U32_MAX) {
          try {
            await segs.prepare(log.#nextGroup)
          } catch (err) {
            await segs.close()
            throw err
          }
        }
        return log
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
      if (this.#error !== null) return Promise.reject(this.#error)
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
      // Bytes: one reservation and a copy, no writer count: only this thread
      // flushes, and nothing between reservation and copy yields to it.
      const addr = appendTo(wb, pageId, data, size, false, this.#onRelease)
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
    if (state === 'flush') this.#markReady(wb)
  }

  /** Installs the next buffer (`groupId + 1`) if fewer than `maxBuffers` are unflushed. */
  #install(): boolean {
    if (this.#live.size >= this.maxBuffers) return false
    if (this.#nextGroup > U32_MAX) throw groupsExhausted(this.dir)
    const wb = new WriteBuffer(this.#nextGroup++, this.bufferSize, { pool: this.#pool })
    this.#live.set(wb.groupId, wb)
    this.#segs.attach(wb)
    this.#active = wb
    if (this.#live.size > this.#peakBuffers) this.#peakBuffers = this.#live.size
    this.#shared?.publish(wb)
    return true
  }

  /** Shared log: the writers wait for a buffer: install one as soon as there is room. */
  #installEagerly(): void {
    if (this.#shared === null || this.#active !== null || this.#closed || this.#error !== null) return
    if (this.#nextGroup > U32_MAX) {
      // Runs in the flush job: tell the writers instead of throwing there.
      this.#shared.failed(groupsExhausted(this.dir))
      return
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
    this.#sealed.push(wb)
    let state
    try {
      state = wb.seal()
    } catch (err) {
      // Already sealed (only through the buffer itself, never by this log):
      // it is flushable once its writers release it.
      if (!isCode(err, 'ERR_AGAIN')) throw err
      state = wb.isFlushable ? 'flush' : 'none'
    }
    if (state === 'flush') this.#markReady(wb)
  }

  #markReady(wb: WriteBuffer): void {
    this.#ready.add(wb.groupId)
    this.#pump()
  }

  // -------------------------------------------------------------------------
  // The flush job

  /** Starts flushing the oldest sealed buffer if it is ready and nothing else runs. */
  #pump(): void {
    if (this.#flushing || this.#error !== null) return
    const wb = this.#sealed[0]
    if (wb === undefined) return
    if (!this.#ready.has(wb.groupId)) return this.#watch(wb.groupId)
    this.#flushing = true
    void this.#flushOne(wb)
  }

  /**
   * A worker terminated in the middle of an append posts no message: its
   * teardown gives its writer up, and only a look notices the buffer became
   * flushable. The timer holds the event loop only while a flush()/close() waits.
   */
  #watch(g: number): void {
    if (this.#shared === null || this.#recheck !== null) return
    this.#recheck = setTimeout(() => ((this.#recheck = null), this.#look(g), this.#pump()), 20)
    if (this.#waiters.length === 0) this.#recheck.unref()
  }

  async #flushOne(wb: WriteBuffer): Promise<void> {
    const g = wb.groupId
    // Worker writers' pages are indexed here, from the records (a page's
    // latest address is its highest one).
    try {
      if (this.#shared !== null) {
        const pages = this.#index.addRecords(wb.records(), true, 'PageLog flush', false)
        // The writers' appends count once the owner indexes them: now.
        this.#appends += pages - (this.#ownAppends.get(g) ?? 0)
        this.#ownAppends.delete(g)
      }
      await this.#segs.seal(g)
    } catch (err) {
      this.#flushing = false
      this.#fail(err)
      return
    }
    this.#flushing = false
    this.#sealed.shift()
    this.#ready.delete(g)
    this.#live.delete(g)
    // Its pages are read from its segment now: give the arena back to the pool.
    this.#segGroups.add(g)
    wb.dispose()
    this.#flushedUpTo = g
    this.#flushes++
    this.#shared?.flushed()
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]
      if (w.target <= g) {
        this.#waiters.splice(i, 1)
        w.resolve()
      }
    }
    // Appends that waited for room, in order, while room exists.
    this.#stalled.drain((id, data, n) => this.#tryAppend(id, data, n))
    this.#installEagerly()
    this.#pump()
  }

  /** A flush failed: keep the buffer queued, stop, tell every waiter. */
  #fail(err: unknown): void {
    this.#error = err
    this.#flushErrors++
    this.#shared?.failed(err)
    for (const w of this.#waiters.splice(0)) w.reject(err)
    this.#stalled.rejectAll(err)
  }

  /**
   * Seals the active buffer if it holds anything and waits until every
   * buffer up to it is durable. Clears a kept flush error, so the job retries.
   */
  #flushAll(): Promise<void> {
    if (this.#active !== null && !this.#active.isEmpty) this.#sealActive()
    const last = this.#sealed[this.#sealed.length - 1]
    const target = last === undefined ? this.#flushedUpTo : last.groupId
    if (target <= this.#flushedUpTo) return Promise.resolve()
    this.#error = null
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject })
      this.#recheck?.ref()
    })
    this.#pump()
    return done
  }

  /**
   * Waits until every append made so far (waiting ones included: the
   * `append` calls up to waiting append `want`) is durable: committed into
   * its segment (`seal`: every buffer holding a page also sealed).
   */
  async #flushThrough(want: number, seal: boolean): Promise<void> {
    for (;;) {
      // Once every waiting append up to `want` has its address, one more
      // round commits (or seals) the buffer they went to and waits for it.
      const settled = this.#stalled.settledUpTo(want)
      await (seal ? this.#flushAll() : this.#commitAll())
      if (settled) return
    }
  }

  /**
   * Commits: waits until the sealed buffers are sealed into their segments
   * and every page of the active one is committed into its segment.
   * Clears a kept flush error, so the job retries.
   */
  #commitAll(): Promise<void> {
    const last = this.#sealed[this.#sealed.length - 1]
    let sealed: Promise<void> | undefined
    if (last !== undefined && last.groupId > this.#flushedUpTo) {
      this.#error = null
      const target = last.groupId
      sealed = new Promise<void>((resolve, reject) => {
        this.#waiters.push({ target, resolve, reject })
        this.#recheck?.ref()
      })
      this.#pump()
    }
    const wb = this.#active
    this.#appendsAtCommit = this.#appends
    const committed = wb === null || wb.isEmpty ? undefined : this.#segs.commit(wb.groupId)
    if (committed === undefined) return sealed ?? Promise.resolve()
    const counted = committed.catch((err) => {
      this.#flushErrors++
      throw err
    })
    return sealed === undefined ? counted : Promise.all([sealed, counted]).then(() => undefined)
  }

  /** `flushIntervalMs`: commits if anything was appended since the last commit (errors counted, kept for `flush()`). */
  #tick(): void {
    if (this.#closed || (this.#appends === this.#appendsAtCommit && this.#shared === null)) return
    this.#commitAll().catch(() => undefined)
  }

  /**
   * Resolves once every page appended before the call is in a durable page
   * file (it seals the active buffer if it holds anything), appends that
   * were waiting for room at the time of the call included. If a background
   * flush failed, this retries it from the same buffer: it resolves if the
   * retry succeeds, and rejects with the error (`code` errno name, `path`)
   * if it fails again.
   */
  async flush(): Promise<void> {
    this.#checkOpen('flush')
    await this.#flushThrough(this.#stalled.lastSeq, false)
  }

  /**
   * Flushes everything (appends still waiting for room included), then
   * forgets the buffers and page files: later calls throw `ERR_CLOSED`.
   * `close()` again returns the same promise; if the flush failed, `close()`
   * again retries it.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closed = true
    const sh = this.#shared
    sh?.closing()
    if (this.#timer !== null) clearInterval(this.#timer)
    // No append starts once closed: every waiting one is up to `lastSeq`.
    const closing = this.#flushThrough(this.#stalled.lastSeq, true)
      // Only the active buffer can be left, empty: the rest were sealed.
      // Its segment and the one prepared ahead are removed.
      .then(() => this.#segs.close())
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
        flush: () => this.#closing ?? (this.#closed ? Promise.reject(this.#error ?? notRetried()) : this.flush()),
      })
      this.#shared = shared
      // The writers' pages are indexed as they are committed (the owner's
      // own, as they are appended).
      this.#segs.onCommitted = (_g, records) => void indexSegment(this.#index, records)
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
    if (!this.#ready.has(g) && wb.isFlushable) this.#markReady(wb)
  }

  // -------------------------------------------------------------------------
  // Reads

  /**
   * The page at `addr` without I/O: a copy from its buffer in memory, or a
   * zero-copy view (read-only by contract) of its open page file; `null` when
   * the file must be opened (then `read`). `ERR_INVALID_ADDR` if no live page.
   */
  tryRead(addr: bigint | number): Buffer | null {
    this.#checkOpen('tryRead')
    return this.#reads.tryRead(toU64('addr', addr))
  }

  /** The page at `addr` (see `tryRead`), opening its page file if needed. Every error rejects. */
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
    return livePages(this.#index, this.#live, this.#files, this.#segGroups, this.#recovered.reader)
  }

  /** The latest address of `pageId` (appended by this log or recovered), if any. */
  addressOf(pageId: bigint | number): bigint | undefined {
    return this.#index.get(keyOf(checkPageId(pageId)))
  }

  /** Page ids with an address. */
  get pageCount(): number {
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
      tornTails: this.#recovered.tornTails,
      flushErrors: this.#flushErrors,
      buffers: this.#live.size,
      peakBuffers: this.#peakBuffers,
      recoveredFiles: this.#recoveredFiles,
      quarantined: this.#quarantined,
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
