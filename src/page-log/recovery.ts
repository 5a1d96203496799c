/**
 * What `PageLog.open` does with its directory: it locks it (`LOCK`); stale
 * temp files of an interrupted flush are deleted (regular files whose name
 * is exactly one the writer makes, nothing else); every page file is
 * validated in group order (a corrupt one — or anything named like a page
 * file that is not a regular file — rejects with `ERR_CORRUPT` naming it, or
 * is set aside as `<name>.corrupt` with `onCorrupt: 'quarantine'`, never
 * over an earlier one); the index page id → latest address is rebuilt from
 * the records.
 */
import fs from 'node:fs'
import path from 'node:path'

import { WriteBufferError, isCode } from '../errors.ts'
import { LOCK_FILE, groupOfPageFile, isTempFile, quarantinePath } from '../file-names.ts'
import { PageFile } from '../page-file.ts'
import { FileCache } from './file-cache.ts'
import type { LogConfig } from './options.ts'
import { PageIndex } from './page-index.ts'
import * as native from '../../load-binding.js'

/** Locks `dir` for this log: `ERR_LOCKED` when another PageLog (here or in another process) has it open. */
export function lockDir(dir: string): native.NativeDirLock {
  try {
    return new native.NativeDirLock(dir)
  } catch (err) {
    if (isCode(err, 'ERR_LOCKED')) {
      throw new WriteBufferError(
        'ERR_LOCKED',
        `PageLog.open: ${dir} is open in another PageLog (this process or another one holds ${path.join(dir, LOCK_FILE)}); close that one first`,
      )
    }
    throw err
  }
}

/** A directory as recovery found it: what the log starts with. */
export interface Recovered {
  readonly index: PageIndex
  readonly files: FileCache
  /** The group of the first buffer: the one after the last page file (1 in an empty directory). */
  readonly nextGroup: number
  readonly recoveredFiles: number
  readonly quarantined: number
  /** The addresses the files' dealloc records free (applied again after the segments: any order of groups then holds). */
  readonly deallocs: bigint[]
  /** Bytes read (version-1 files are read whole). */
  readonly bytesRead: number
}

/** Recovers the page files of `config.dir` (see the module comment). */
export async function recoverDir(config: LogConfig): Promise<Recovered> {
  const { dir, onCorrupt } = config
  const groups: number[] = []
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const name = entry.name
    if (isTempFile(name)) {
      // The writer only makes regular files: a directory or link named
      // like a temp file is somebody else's, left alone.
      if (entry.isFile()) await fs.promises.rm(path.join(dir, name), { force: true })
      continue
    }
    const g = groupOfPageFile(name)
    if (g !== null) groups.push(g)
  }
  groups.sort((a, b) => a - b)

  const index = new PageIndex()
  const files = new FileCache(dir, config.maxOpenFiles)
  let recoveredFiles = 0
  let quarantined = 0
  const deallocs: bigint[] = []
  let bytesRead = 0
  for (const g of groups) {
    const file = files.pathOf(g)
    let pf: PageFile
    try {
      // Only a regular file is a page file (stat follows a link, and does
      // not block on a FIFO the way an open does).
      const st = await fs.promises.stat(file)
      if (!st.isFile()) throw new WriteBufferError('ERR_CORRUPT', `not a regular file (${fileType(st)})`)
      bytesRead += st.size
      pf = await PageFile.open(file)
      const held = pf.groupId
      if (held !== g) {
        pf.close()
        throw new WriteBufferError('ERR_CORRUPT', `holds group ${held}, not ${g}`)
      }
    } catch (err) {
      if (!(err instanceof WriteBufferError) || err.code !== 'ERR_CORRUPT') throw err
      if (onCorrupt === 'quarantine') {
        await quarantine(file)
        quarantined++
        continue
      }
      throw corruptFile(file, err)
    }
    index.addRecords(pf.records(), false, `PageLog.open: page file ${pf.path}`, true)
    for (const r of pf.records()) if (r.kind === 'dealloc') deallocs.push(...r.addrs)
    files.add(g, pf)
    recoveredFiles++
  }
  const last = groups.length === 0 ? 0 : groups[groups.length - 1]
  return { index, files, nextGroup: last + 1, recoveredFiles, quarantined, deallocs, bytesRead }
}

function fileType(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  return 'not a file'
}

/**
 * Sets `file` aside under the first free name of `quarantinePath(file, k)`,
 * never replacing what is there: a hard link fails with `EEXIST` on a taken
 * name (then the original is unlinked); where a link is impossible (a
 * directory, a file system without hard links) a rename onto a name checked
 * to be free — no other PageLog touches the directory while we hold its lock.
 */
export async function quarantine(file: string): Promise<string> {
  for (let k = 0; ; k++) {
    const to = quarantinePath(file, k)
    try {
      await fs.promises.link(file, to)
      await fs.promises.unlink(file)
      return to
    } catch (err) {
      if (isCode(err, 'EEXIST')) continue
    }
    try {
      await fs.promises.lstat(to)
      continue // taken
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
    }
    await fs.promises.rename(file, to)
    return to
  }
}

function corruptFile(file: string, cause: Error): WriteBufferError {
  const e = new WriteBufferError('ERR_CORRUPT', `PageLog.open: corrupt page file ${file}: ${cause.message}`)
  ;(e as WriteBufferError & { path: string }).path = file
  ;(e as Error).cause = cause
  return e
}
