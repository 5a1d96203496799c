/**
 * The segments of a PageLog (format v2, `src/segment.ts`): one per buffer,
 * prepared one group ahead so a new buffer rarely waits for its file;
 * commits coalesced per segment (one `fdatasync` for every caller waiting);
 * sealed in group order by the log's flush job, after which the recovery's
 * reader serves their pages. A failed preparation is tried again by the
 * next call that needs the segment; a failed commit or seal poisons the
 * segment until the next call rewrites it whole (`Segment.retry`). At
 * process exit every open log commits what it holds, synchronously.
 */
import fs from 'node:fs'

import { U32_MAX } from '../args.ts'
import { Segment, type Recovery, type SegmentRecords } from '../segment.ts'
import type { WriteBuffer } from '../write-buffer.ts'

interface Slot {
  readonly g: number
  /** The preparation under way (or done). */
  prep: Promise<Segment>
  /** The prepared segment, once it is. */
  seg: Segment | null
  /** The buffer it commits, once installed. */
  wb: WriteBuffer | null
  /** The last preparation failed: the next call prepares again. */
  prepFailed: boolean
  /** The last commit or seal failed: the next one rewrites the segment. */
  poisoned: boolean
  /** Committed records already handed to `onCommitted`. */
  seen: number
}

/** Logs whose segments commit at process exit (strong: a log dropped without `close()` still commits). */
const atExit = new Set<SegmentSet>()
let exitHooked = false

/** The `'exit'` handler: a last, synchronous commit of every open log (errors have nowhere to go). */
function commitAtExit(): void {
  for (const set of atExit) set.commitAllSync()
}

export class SegmentSet {
  readonly #dir: string
  readonly #capacity: number
  readonly #reader: Recovery
  readonly #slots = new Map<number, Slot>()
  #created = 0
  #commits = 0
  /** After a commit: the records it made durable (a shared log indexes its writers' pages). */
  onCommitted: ((g: number, records: SegmentRecords) => void) | null = null
  /** Before a commit of group `g` starts (the log marks its own records complete). */
  beforeCommit: ((g: number) => void) | null = null

  /** Segments of buffers of `capacity` bytes in `dir`; `reader` serves the sealed ones. */
  constructor(dir: string, capacity: number, reader: Recovery, commitOnExit: boolean) {
    this.#dir = dir
    this.#capacity = capacity
    this.#reader = reader
    if (commitOnExit) {
      if (!exitHooked) {
        process.on('exit', commitAtExit)
        exitHooked = true
      }
      atExit.add(this)
    }
  }

  /** Segment files this log created. */
  get created(): number {
    return this.#created
  }

  /** Commits run (each may cover many `flush()` calls). */
  get commits(): number {
    return this.#commits
  }

  /** Starts preparing group `g`'s segment, unless it is under way or done (a failed try is tried again); resolves once it is ready. */
  prepare(g: number): Promise<unknown> {
    let s = this.#slots.get(g)
    if (s === undefined) {
      s = { g, prep: Promise.resolve(null as unknown as Segment), seg: null, wb: null, prepFailed: false, poisoned: false, seen: 0 }
      this.#slots.set(g, s)
      this.#start(s)
    }
    return this.#ready(s)
  }

  #start(s: Slot): void {
    const p = Segment.create(this.#dir, s.g, this.#capacity).then((seg) => {
      this.#created++
      s.seg = seg
      if (s.wb !== null) seg.bind(s.wb)
      return seg
    })
    // A failure is seen by the commit or seal that needs the segment; the
    // next one prepares it again.
    p.catch(() => {
      if (s.prep === p) s.prepFailed = true
    })
    s.prep = p
  }

  /** Buffer `wb` is installed: its segment (prepared ahead, or now) binds it, and the next group's starts preparing. */
  attach(wb: WriteBuffer): void {
    const g = wb.groupId
    void this.prepare(g).catch(() => undefined)
    const s = this.#slots.get(g) as Slot
    s.wb = wb
    s.seg?.bind(wb)
    if (g < U32_MAX) void this.prepare(g + 1).catch(() => undefined)
  }

  /** The prepared segment of slot `s`, preparing it again if the last try failed. */
  #ready(s: Slot): Promise<Segment> {
    if (s.prepFailed) {
      s.prepFailed = false
      this.#start(s)
    }
    return s.prep
  }

  /** Clears a failure of `seg` before it is used again: the next commit rewrites it whole. */
  #unpoison(s: Slot, seg: Segment): void {
    if (s.poisoned && seg.retry()) s.poisoned = false
  }

  /**
   * Commits group `g`'s buffer: resolves once every record reserved before
   * the call is durable (at once if the segment was sealed meanwhile).
   */
  async commit(g: number): Promise<void> {
    const s = this.#slots.get(g)
    if (s === undefined) return
    // Prepared (the usual case): no wait.
    const seg = s.seg ?? (await this.#ready(s))
    // Sealed meanwhile: everything in it is durable.
    if (this.#slots.get(g) !== s) return
    this.#unpoison(s, seg)
    this.beforeCommit?.(g)
    if (!seg.committing) this.#commits++
    try {
      await seg.commit()
    } catch (err) {
      s.poisoned = true
      throw err
    }
    if (this.#slots.get(g) === s) this.#report(s, seg)
  }

  /** Hands `onCommitted` the records of `s` committed since it last did. */
  #report(s: Slot, seg: Segment): void {
    if (this.onCommitted === null || seg.committedRecords <= s.seen) return
    const recs = seg.recordsSince(s.seen)
    s.seen += recs.pageIds.length
    if (recs.pageIds.length > 0) this.onCommitted(s.g, recs)
  }

  /**
   * Hands `onCommitted` what was committed by other threads since (a
   * `PageLogWriter` commits its buffer itself): the log's index is then
   * up to date with every resolved `flush()`.
   */
  catchUp(): void {
    if (this.onCommitted === null) return
    for (const s of this.#slots.values()) if (s.seg !== null && s.seg.isBound) this.#report(s, s.seg)
  }

  /** Seals group `g`'s segment (its buffer is flushable): then its pages are read from the file. */
  async seal(g: number): Promise<void> {
    const s = this.#slots.get(g)
    if (s === undefined) return
    const seg = await this.#ready(s)
    this.#unpoison(s, seg)
    try {
      await seg.seal()
    } catch (err) {
      s.poisoned = true
      throw err
    }
    this.#reader.adopt(seg)
    seg.close()
    this.#slots.delete(g)
  }

  /** A last commit of every buffer, on this thread (process exit). */
  commitAllSync(): void {
    for (const s of this.#slots.values()) {
      if (s.seg === null || !s.seg.isBound) continue
      try {
        this.beforeCommit?.(s.g)
        s.seg.commitSync()
      } catch {
        // Exiting: nobody is left to tell; what was not committed is lost,
        // as after a kill.
      }
    }
  }

  /**
   * The log is closed (every buffer with records sealed): the segments
   * left — prepared ahead, or of an empty buffer — are removed.
   */
  async close(): Promise<void> {
    atExit.delete(this)
    const left = [...this.#slots.values()]
    this.#slots.clear()
    await Promise.all(
      left.map(async (s) => {
        let seg: Segment
        try {
          seg = await s.prep
        } catch {
          return
        }
        seg.close()
        // Never sealed, so no record is in it (a crash before this unlink
        // leaves an empty segment, which the next open removes).
        await fs.promises.rm(seg.path, { force: true })
      }),
    )
  }
}
