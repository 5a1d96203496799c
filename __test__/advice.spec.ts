import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { ArenaPool, PageLog, WriteBuffer, WriteBufferError, arenaCacheStats, configureArenaCache } from '../index.ts'

// Errors that give the right advice: each names what is wrong in this very
// situation, and what to do about it.

/** Lets a spec pass a value TypeScript would refuse. */
const bad = <T>(value: unknown): T => value as T

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-advice-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('seal() on a sealed buffer says it is already sealed, not "seal it"', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.seal()
  const err = t.throws(() => wb.seal(), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.regex(err?.message ?? '', /^seal: the buffer is already sealed/)
  t.notRegex(err?.message ?? '', /seal it and/)
  t.true(wb.isSealed)
})

test('a full lane says to close it and take another lane, even in an empty buffer', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const lane = wb.lane(64)
  const err = t.throws(() => lane.allocPage(1n, 100), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.is(err?.message, 'Lane.allocPage(100 bytes): the lane is full: close it and take another lane (the page takes 120 bytes of the lane, 64 are left)')
  t.is(lane.remaining, 64, 'the lane is unchanged')
  // A page that fits the room left but leaves less than a filler header.
  const err2 = t.throws(() => lane.allocPage(2n, 40), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.regex(err2?.message ?? '', /the lane is full: close it and take another lane \(the page takes 56 of the 64 bytes left, and a page that does not fill the lane exactly must leave 16 bytes/)
  lane.allocPage(3n, 48) // exactly fills it
  t.is(lane.remaining, 0)
  t.is(lane.close(), 'none')
})

test('ERR_NOT_FLUSHABLE says whether the buffer is sealed and how many writers are still open', async (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, true)
  wb.allocPage(2n, 8, true)
  let err = t.throws(() => wb.records(), { instanceOf: WriteBufferError, code: 'ERR_NOT_FLUSHABLE' })
  t.regex(err?.message ?? '', /^records: the buffer is not flushable: .* \(it is not sealed; 2 writers still open\)$/)
  wb.seal()
  wb.releaseWriter()
  err = t.throws(() => wb.records(), { instanceOf: WriteBufferError, code: 'ERR_NOT_FLUSHABLE' })
  t.regex(err?.message ?? '', /\(it is sealed; 1 writer still open\)$/)
  const dir = tmpDir(t)
  const rejected = await t.throwsAsync(wb.flushTo(path.join(dir, '1.page')), { instanceOf: WriteBufferError, code: 'ERR_NOT_FLUSHABLE' })
  t.regex(rejected?.message ?? '', /^flushTo: .*\(it is sealed; 1 writer still open\)$/)
  const empty = new WriteBuffer(2, 1024)
  t.regex(t.throws(() => empty.records())?.message ?? '', /\(it is not sealed; 0 writers still open\)$/)
})

test('PageLog.open under a regular file says PageLog.open and keeps the errno code and path', async (t) => {
  const dir = tmpDir(t)
  const file = path.join(dir, 'a-file')
  fs.writeFileSync(file, 'x')
  const target = path.join(file, 'log')
  const err = (await t.throwsAsync(PageLog.open(target))) as NodeJS.ErrnoException
  t.is(err.code, 'ENOTDIR')
  t.is(err.syscall, 'mkdir')
  t.is(err.path, target)
  t.true(err.message.startsWith(`PageLog.open: ENOTDIR: not a directory, mkdir '${target}'`), err.message)
  t.true((err.cause as Error | undefined)?.message.startsWith('ENOTDIR'))
})

const UNKNOWN = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }

test('PageLog.open refuses an unknown option, naming it, the nearest one and all of them', async (t) => {
  const dir = path.join(tmpDir(t), 'log')
  const err = await t.throwsAsync(PageLog.open(dir, bad({ bufferSze: 1 << 16 })), UNKNOWN)
  t.is(
    err?.message,
    'The "opts" argument has an unknown option "bufferSze" (did you mean "bufferSize"?): known options: bufferSize, maxBuffers, onCorrupt, maxOpenFiles, flushIntervalMs, commitOnExit',
  )
  t.false(fs.existsSync(dir), 'nothing was created')
  const other = await t.throwsAsync(PageLog.open(dir, bad({ bufferSize: 1 << 16, compression: 'zstd' })), UNKNOWN)
  t.regex(other?.message ?? '', /unknown option "compression": known options/)
  const log = await PageLog.open(dir, { bufferSize: 1 << 16, maxBuffers: 2, maxOpenFiles: 4, onCorrupt: 'reject' })
  await log.close()
})

test('new WriteBuffer, flushTo and waitFlushed refuse unknown options', async (t) => {
  const pool = new ArenaPool(1024, 1)
  t.teardown(() => pool.close())
  const e1 = t.throws(() => new WriteBuffer(1, 1024, bad({ pol: pool })), UNKNOWN)
  t.regex(e1?.message ?? '', /unknown option "pol" \(did you mean "pool"\?\): known options: pool$/)
  new WriteBuffer(1, 1024, { pool }).dispose()

  const wb = new WriteBuffer(1, 1024)
  wb.seal()
  const dir = tmpDir(t)
  const e2 = await t.throwsAsync(wb.flushTo(path.join(dir, '1.page'), bad({ overWrite: true })), UNKNOWN)
  t.regex(e2?.message ?? '', /unknown option "overWrite" \(did you mean "overwrite"\?\): known options: overwrite$/)
  t.false(fs.existsSync(path.join(dir, '1.page')))
  const e3 = await t.throwsAsync(wb.waitFlushed(bad({ signl: AbortSignal.timeout(10) })), UNKNOWN)
  t.regex(e3?.message ?? '', /unknown option "signl" \(did you mean "signal"\?\): known options: signal$/)
  await wb.flushTo(path.join(dir, '1.page'), { overwrite: false })
  await wb.waitFlushed({})
})

test('configureArenaCache refuses an unknown option and changes nothing', (t) => {
  const before = configureArenaCache()
  const err = t.throws(() => configureArenaCache(bad({ maxByte: 0 })), UNKNOWN)
  t.is(
    err?.message,
    'The "options" argument has an unknown option "maxByte" (did you mean "maxBytes"?): known options: maxBytes, maxBytesPerSize, minArenasPerSize',
  )
  t.deepEqual(configureArenaCache(), before)
  t.is(typeof arenaCacheStats().cachedArenas, 'number')
})
