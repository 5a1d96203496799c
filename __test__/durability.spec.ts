// The durability calls of a flush, as the test build of the addon traces
// them (each recorded after the real call returned): the page file's data
// is fdatasync'ed before its name appears (link, or rename with overwrite),
// and its directory is fsync'ed before the flush is reported done. A writer
// that skipped either call would pass every other test (the page cache
// survives a kill -9); here it fails.
import './use-test-addon.ts'

import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageLog, WriteBuffer } from '../index.ts'
import { hooks } from './use-test-addon.ts'
import type { DurabilityCall } from './test-addon.ts'

// Every test here is serial: the trace is process-wide.

/** A fresh temp directory (its real path, as the writer sees it), removed when the test ends. */
function tempDir(t: ExecutionContext, tag = 'durable'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `pwb-${tag}-`)))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Starts an empty trace for this test; stops it at teardown. */
function trace(t: ExecutionContext): () => DurabilityCall[] {
  hooks.traceDurability(true)
  t.teardown(() => hooks.traceDurability(false))
  return () => hooks.takeDurabilityTrace()
}

/** A sealed, flushable buffer of a few pages. */
function flushable(groupId: number): WriteBuffer {
  const wb = new WriteBuffer(groupId, 1 << 16)
  for (let i = 0; i < 20; i++) wb.allocPage(BigInt(i), 1000, false).page.fill(i)
  wb.seal()
  return wb
}

const show = (calls: DurabilityCall[]): string =>
  calls.map((c) => `${c.call} ${path.basename(c.path)}${c.to ? ` -> ${path.basename(c.to)}` : ''}${c.error ? ` ${c.error}` : ''}`).join('\n')

/**
 * Asserts the durable order for the page file `final` in `calls`: the temp
 * file is created, written, fdatasync'ed (no write after), then linked or
 * renamed to `final`, then the directory is fsync'ed, then the outcome is
 * handed to JS (`resolve`).
 */
function assertDurable(t: ExecutionContext, calls: DurabilityCall[], final: string): void {
  const ok = (c: DurabilityCall) => c.error == null
  const what = `${path.basename(final)}:\n${show(calls)}`
  const named = calls.findIndex((c) => ok(c) && (c.call === 'link' || c.call === 'rename') && c.to === final)
  t.true(named >= 0, `the temp file is linked or renamed to ${what}`)
  if (named < 0) return
  const temp = calls[named].path
  t.not(temp, final)
  const opened = calls.findIndex((c) => ok(c) && c.call === 'open' && c.path === temp)
  const writes = calls.flatMap((c, i) => (c.call === 'write' && c.path === temp ? [i] : []))
  const synced = calls.findIndex((c, i) => i < named && ok(c) && c.call === 'fdatasync' && c.path === temp)
  t.true(opened >= 0 && opened < named, `the temp file is created before it is named: ${what}`)
  t.true(writes.length > 0 && writes.every((i) => opened < i && calls[i].error == null), `the data is written: ${what}`)
  t.true(synced >= 0, `the data is fdatasync'ed before the link/rename: ${what}`)
  t.true(writes.every((i) => i < synced), `nothing is written after the fdatasync: ${what}`)
  const resolved = calls.findIndex((c) => c.call === 'resolve' && c.path === final)
  t.true(resolved > named, `the flush is reported to JS after the link/rename: ${what}`)
  if (process.platform === 'win32') {
    // Windows has no directory fsync (NTFS journals the rename itself; the
    // writer documents it): none may be traced either.
    t.false(calls.some((c) => c.call === 'fsync'), what)
    return
  }
  const dirSync = calls.findIndex((c, i) => i > named && ok(c) && c.call === 'fsync' && c.path === path.dirname(final))
  t.true(dirSync >= 0, `the directory is fsync'ed after the link/rename: ${what}`)
  t.true(dirSync >= 0 && dirSync < resolved, `the directory is fsync'ed before the flush resolves: ${what}`)
}

test.serial('flushTo: data fdatasync before the link, directory fsync before the promise resolves', async (t) => {
  const dir = tempDir(t)
  const take = trace(t)
  const final = path.join(dir, '3.page')
  const wb = flushable(3)
  const resolved = await wb.flushTo(final)
  // Taken as soon as the promise resolved: everything durable is already here.
  const calls = take()
  t.is(resolved.path, final)
  assertDurable(t, calls, final)
  t.true(
    calls.some((c) => c.call === 'unlink' && c.path === calls.find((l) => l.call === 'link')?.path),
    `the temp name is removed after the link:\n${show(calls)}`,
  )
})

test.serial('flushTo with overwrite: data fdatasync before the rename, directory fsync before the promise resolves', async (t) => {
  const dir = tempDir(t)
  const final = path.join(dir, '4.page')
  fs.writeFileSync(final, 'old')
  const take = trace(t)
  await flushable(4).flushTo(final, { overwrite: true })
  const calls = take()
  t.true(calls.some((c) => c.call === 'rename' && c.to === final), show(calls))
  assertDurable(t, calls, final)
})

test.serial('the trace holds only calls that ran: an injected sync fault leaves no fdatasync, link or directory fsync', async (t) => {
  // (Guards the test above: the trace is not a list written in advance.)
  const dir = tempDir(t)
  const final = path.join(dir, '5.page')
  const take = trace(t)
  process.env.PHOTON_WB_FAULT = 'sync:EIO'
  t.teardown(() => {
    delete process.env.PHOTON_WB_FAULT
  })
  await t.throwsAsync(flushable(5).flushTo(final), { code: 'EIO' })
  delete process.env.PHOTON_WB_FAULT
  const calls = take()
  t.true(calls.some((c) => c.call === 'write'), show(calls))
  t.false(calls.some((c) => ['fdatasync', 'link', 'rename', 'fsync'].includes(c.call)), show(calls))
})

/**
 * Asserts a segment's preparation in `calls`: its temp file created,
 * written, fdatasync'ed, then linked (or renamed) to `final`, then the
 * directory fsync'ed — all before the first write to `final` (a commit).
 */
function assertPrepared(t: ExecutionContext, calls: DurabilityCall[], final: string): void {
  const ok = (c: DurabilityCall) => c.error == null
  const what = `${path.basename(final)}:\n${show(calls)}`
  const named = calls.findIndex((c) => ok(c) && (c.call === 'link' || c.call === 'rename') && c.to === final)
  t.true(named >= 0, `the prepared file is linked or renamed to ${what}`)
  if (named < 0) return
  const temp = calls[named].path
  const opened = calls.findIndex((c) => ok(c) && c.call === 'open' && c.path === temp)
  const written = calls.findIndex((c) => ok(c) && c.call === 'write' && c.path === temp)
  const synced = calls.findIndex((c, i) => i > written && ok(c) && c.call === 'fdatasync' && c.path === temp)
  t.true(opened >= 0 && opened < written && written < synced && synced < named, `created, written, synced, then named: ${what}`)
  const firstUse = calls.findIndex((c) => c.call === 'write' && c.path === final)
  if (process.platform === 'win32') return
  const dirSync = calls.findIndex((c, i) => i > named && ok(c) && c.call === 'fsync' && c.path === path.dirname(final))
  t.true(dirSync > named, `the directory is fsync'ed after the link: ${what}`)
  t.true(firstUse < 0 || dirSync < firstUse, `the directory is fsync'ed before the segment takes a commit: ${what}`)
}

/** Asserts that the last write to `file` before its last `resolve` note is covered by an fdatasync of `file` in between. */
function assertCommitted(t: ExecutionContext, calls: DurabilityCall[], file: string): void {
  const what = `${path.basename(file)}:\n${show(calls)}`
  const lastIndex = (ok: (c: DurabilityCall, i: number) => boolean): number => calls.reduce((last, c, i) => (ok(c, i) ? i : last), -1)
  const resolved = lastIndex((c) => c.call === 'resolve' && c.path === file)
  t.true(resolved >= 0, `a commit or seal of ${what} is reported to JS`)
  const lastWrite = lastIndex((c, i) => i < resolved && c.call === 'write' && c.path === file)
  t.true(lastWrite >= 0, `${what} was written`)
  const synced = calls.findIndex((c, i) => i > lastWrite && i < resolved && c.error == null && c.call === 'fdatasync' && c.path === file)
  t.true(synced >= 0, `the last write is fdatasync'ed before the outcome reaches JS: ${what}`)
}

test.serial('PageLog: each segment is prepared durably before it takes a commit; flush() resolves after an fdatasync of what it wrote, with no file named on the commit path; close() seals with synced writes (records and index, then trailer)', async (t) => {
  const dir = tempDir(t, 'durable-log')
  const take = trace(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 4 })
  t.teardown(() => (log.isClosed ? undefined : log.close().catch(() => undefined)))
  const seg = (g: number) => path.join(dir, `seg-${g.toString(16).padStart(8, '0')}.pws`)
  const opened = take()
  assertPrepared(t, opened, seg(1))
  for (let i = 0; i < 100; i++) log.append(i, Buffer.alloc(100, i)) // > 2 buffers
  await log.flush()
  const flushed = take()
  const written = [...new Set(flushed.filter((c) => c.call === 'write' && c.path.endsWith('.pws')).map((c) => c.path))]
  t.true(written.length >= 3, show(flushed))
  for (const f of written) assertCommitted(t, flushed, f)
  for (const c of flushed.filter((c) => c.call === 'link' || c.call === 'rename')) assertPrepared(t, [...opened, ...flushed], c.to!)
  // A commit with nothing sealed: one write and one fdatasync of the active segment, nothing named.
  log.append(500, Buffer.alloc(100, 5))
  await log.flush()
  const committed = take()
  t.deepEqual(
    committed.filter((c) => c.call !== 'resolve').map((c) => c.call),
    ['write', 'fdatasync'],
    show(committed),
  )
  // close() seals what is left: index, trailer, each synced.
  log.append(1000, Buffer.alloc(100, 1))
  await log.close()
  const closed = take()
  const sealed = [...new Set(closed.filter((c) => c.call === 'write').map((c) => c.path))]
  t.is(sealed.length, 1, show(closed))
  assertCommitted(t, closed, sealed[0])
  t.true(closed.filter((c) => c.call === 'fdatasync' && c.path === sealed[0]).length >= 2, `the index, then the trailer: ${show(closed)}`)
})
