/**
 * The names of the files in a page log's directory, in one place for the
 * PageLog (recovery, flushes, the lock) and `bin/photon-wb.js`:
 *
 * - `<groupId>.page`: the page file of group `groupId` (decimal, no leading
 *   zero, at most 2^32 - 1); any other name is not a page file of the log.
 * - `.<name>.tmp-<pid>-<n>`: a temp file of a flush in progress (made by the
 *   core's `create_temp`, `crate/core/src/page_file/writer.rs`; `<name>` is
 *   a page file's name, `<pid>` and `<n>` decimal); one left in the directory
 *   is a stale leftover of an interrupted flush. Only names of exactly this
 *   form are temp files: `.notes.tmp-keep` is somebody else's file.
 * - `LOCK`: the directory lock (the core's `dir_lock::LOCK_FILE`, exported
 *   by the binding).
 * - `<name>.corrupt`: a page file that failed validation, set aside by
 *   `onCorrupt: 'quarantine'`; `<name>.corrupt.<k>` (k = 1, 2, …) when that
 *   name is taken (a quarantine never replaces an earlier one).
 */
import { U32_MAX } from './args.ts'
import * as native from '../load-binding.js'

/** A page file's name; the group id is the first capture. */
export const PAGE_FILE = /^(\d+)\.page$/
/** A flush's temp file name; the page file's name is the first capture. */
export const TEMP_FILE = /^\.(.+)\.tmp-\d+-\d+$/
/** The lock file's name. */
export const LOCK_FILE: string = native.LOCK_FILE
/** What a quarantined page file's name ends with. */
export const CORRUPT_SUFFIX = '.corrupt'

/** The name of group `groupId`'s page file. */
export function pageFileName(groupId: number): string {
  return `${groupId}.page`
}

/** The name of group `groupId`'s segment (format v2): `seg-<8 lowercase hex digits>.pws`. */
export function segmentFileName(groupId: number): string {
  return `seg-${groupId.toString(16).padStart(8, '0')}.pws`
}

/** The group whose page file `name` is, or `null` when it is none (see the module comment). */
export function groupOfPageFile(name: string): number | null {
  const m = PAGE_FILE.exec(name)
  if (m === null) return null
  const g = Number(m[1])
  return g <= U32_MAX && String(g) === m[1] ? g : null
}

/** Whether `name` is a temp file of a flush of a page file (see the module comment). */
export function isTempFile(name: string): boolean {
  const m = TEMP_FILE.exec(name)
  return m !== null && groupOfPageFile(m[1]) !== null
}

/**
 * Where a corrupt page file at `file` is set aside: `<file>.corrupt`, or
 * with `attempt` k > 0, `<file>.corrupt.<k>` (the caller tries the next one
 * when a name is taken).
 */
export function quarantinePath(file: string, attempt = 0): string {
  return attempt === 0 ? `${file}${CORRUPT_SUFFIX}` : `${file}${CORRUPT_SUFFIX}.${attempt}`
}
