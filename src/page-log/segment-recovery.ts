/**
 * What `PageLog.open` does with the segments (format v2) of its directory,
 * after the page files of version 1 (`recovery.ts`): it recovers them
 * without reading their pages (a sealed one from its trailer and index, an
 * unsealed one by a walk of its records to the first that does not check);
 * seals each one a crash left unsealed, over its torn tail (cut and
 * counted, never an error); removes empty ones (prepared, never written);
 * refuses a corrupt one with `ERR_CORRUPT` naming it, or sets it aside with
 * `onCorrupt: 'quarantine'`; and indexes their records.
 */
import fs from 'node:fs'

import { U32_MAX } from '../args.ts'
import { DEALLOC_PAGES } from '../constants.ts'
import { WriteBufferError } from '../errors.ts'
import { corruptSegmentError, recoverSegments, type Recovery, type SegmentRecords } from '../segment.ts'
import type { LogConfig } from './options.ts'
import { PageIndex } from './page-index.ts'
import { quarantine, recoverDir, type Recovered } from './recovery.ts'
import { SegmentSet } from './segments.ts'

/** The segments as recovery left them. */
export interface RecoveredSegments {
  /** Reads the pages of every sealed segment (and adopts the ones sealed later). */
  readonly reader: Recovery
  /** Groups with a sealed segment. */
  readonly groups: Set<number>
  /** The highest group id any segment had (removed and quarantined ones too), or 0. */
  readonly lastGroup: number
  /** Segments recovered (sealed ones and those sealed now). */
  readonly recovered: number
  /** Unsealed segments whose tail was torn (cut). */
  readonly tornTails: number
  readonly quarantined: number
  /**
   * The index was loaded from the directory's checkpoint and nothing was
   * indexed on top of it (no segment it does not cover, no version-1 page
   * file): a checkpoint written now would say the same.
   */
  readonly checkpointCurrent: boolean
}

/**
 * Indexes the records of one segment (two native calls): page ids to
 * addresses (a later address wins), then the addresses its dealloc records
 * free. Returns how many page records there were.
 */
export function indexSegment(index: PageIndex, r: SegmentRecords, what: string): number {
  const pages = index.addEntries(r.pageIds, r.addrs, r.flags, what)
  const n = r.deallocs.length
  if (n > 0) index.addEntries(new BigUint64Array(n), r.deallocs, new Uint32Array(n).fill(DEALLOC_PAGES), what)
  return pages
}

/**
 * Recovers the segments of `config.dir` (see the module comment) into
 * `index`: the native recovery indexes each segment's records as it reads
 * them and keeps none of a sealed segment's, so at most one segment's
 * records are in memory besides the index.
 */
export async function recoverSegmentsOf(config: LogConfig, index: PageIndex): Promise<RecoveredSegments> {
  const reader = await recoverSegments(config.dir, { maxOpenFiles: config.maxOpenFiles, corrupt: 'list', index: true, checkpoint: true })
  index.absorb(reader)
  let lastGroup = 0
  let quarantined = 0
  let recovered = 0
  let tornTails = 0
  const refuse = async (c: { group: number; path: string; message: string }): Promise<void> => {
    if (config.onCorrupt !== 'quarantine') throw corruptSegmentError('PageLog.open', c)
    await quarantine(c.path)
    quarantined++
  }
  for (const c of reader.corrupt) {
    lastGroup = Math.max(lastGroup, c.group)
    await refuse(c)
  }
  const groups = new Set<number>()
  for (let i = 0; i < reader.count; i++) {
    const s = reader.segment(i)
    const g = s.groupId
    lastGroup = Math.max(lastGroup, g)
    if (!s.sealed) {
      if (s.pageIds.length === 0) {
        // Prepared (ahead, or for a buffer that never got a page), never
        // written: nothing to keep.
        reader.remove(g)
        await fs.promises.rm(s.path, { force: true })
        continue
      }
      await reader.seal(i)
      tornTails += s.torn
    }
    groups.add(g)
    recovered++
  }
  // Indexed: the records stay on disk (each segment's index is read again
  // when one of its pages is, a few at a time), not in memory.
  reader.dropEntries()
  const cp = reader.checkpoint
  const checkpointCurrent = cp.loaded && cp.indexed === 0 && quarantined === 0
  return { reader, groups, lastGroup, recovered, tornTails, quarantined, checkpointCurrent }
}

/** `ERR_INVALID_ADDR` for an address of no buffer, page file or segment. */
export const noGroup = (what: string, a: bigint, g: number): WriteBufferError =>
  new WriteBufferError('ERR_INVALID_ADDR', `PageLog.${what}(${a}): no buffer, page file or segment of group ${g}`)

/** A directory as `PageLog.open` found it, and what the log starts with. */
export interface Opened {
  readonly v1: Recovered
  readonly v2: RecoveredSegments
  readonly segs: SegmentSet
  /** The group of the first buffer: after every page file and segment found. */
  readonly nextGroup: number
}

/**
 * Recovers `config.dir` (segments, then version-1 page files: each page's
 * latest address wins whatever the order) and prepares
 * the first buffer's segment, so that it is ready before the first append
 * (if preparing fails — a full disk, no permission — the first `flush()`
 * tries again and reports the error). Waited for: a process that appends
 * and exits right after `open` commits at exit into that segment
 * (`commitOnExit`), which needs it prepared.
 */
export async function openDir(config: LogConfig): Promise<Opened> {
  const index = new PageIndex()
  const v2 = await recoverSegmentsOf(config, index)
  const v1 = await recoverDir(config, index, v2.groups)
  const segs = new SegmentSet(config.dir, config.bufferSize, v2.reader, config.commitOnExit)
  const nextGroup = Math.max(v1.nextGroup, v2.lastGroup + 1)
  if (nextGroup <= U32_MAX) await segs.prepare(nextGroup).catch(() => undefined)
  return { v1, v2, segs, nextGroup }
}
