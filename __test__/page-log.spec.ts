// The fault switch exists only in the test build of the addon: load it first.
import './use-test-addon.ts'

import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

import { WriteBuffer, WriteBufferError } from '../index.ts'
import { PageLog } from '../index.ts'
import { sealedGroups, segmentGroups, segmentPath } from './log-files.ts'

const execFileP = promisify(execFile)

/** A fresh temp directory, removed when the test ends. */
function tempDir(t: ExecutionContext, tag = 'log'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pwb-${tag}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Deterministic page bytes for (pageId, version). */
function content(pageId: number, size: number, version = 0): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (pageId * 31 + version * 7 + i) & 0xff
  return b
}

/** Sealed segments (and version-1 page files) in `dir`, as sorted group ids. */
const groupsOnDisk = sealedGroups

function isConsecutive(ids: number[]): boolean {
  return ids.every((g, i) => i === 0 || g === ids[i - 1] + 1)
}

const groupOf = (addr: bigint): number => Number(addr >> 32n)

function code(err: unknown): unknown {
  return (err as { code?: unknown }).code
}

/** Opens a log closed at teardown (if the test did not close it). */
async function openLog(t: ExecutionContext, dir: string, opts?: Parameters<typeof PageLog.open>[1]): Promise<PageLog> {
  const log = await PageLog.open(dir, opts)
  t.teardown(() => (log.isClosed ? undefined : log.close().catch(() => undefined)))
  return log
}

// ---------------------------------------------------------------------------
// Serial: the native writer's fault switch is process-wide (AVA runs serial tests first).

/** Sets the writer's fault switch for this test (cleared at teardown). */
function setFault(t: ExecutionContext, spec: string): void {
  process.env.PHOTON_WB_FAULT = spec
  t.teardown(() => {
    delete process.env.PHOTON_WB_FAULT
  })
}

test.serial('a failed background flush is kept queued and surfaced by flush(), which retries', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 4 })
  setFault(t, 'write:EIO')
  const addrs: bigint[] = []
  for (let i = 0; i < 60; i++) addrs.push(log.tryAppend(i, content(i, 100)) as bigint) // > 1 buffer: one seal
  const err = await t.throwsAsync(log.flush())
  t.is(code(err), 'EIO')
  t.true(log.stats.flushErrors >= 1)
  t.deepEqual(groupsOnDisk(dir), [], 'nothing sealed')
  // Buffers are still in memory: pages read back.
  for (let i = 0; i < 60; i++) t.deepEqual(log.tryRead(addrs[i]), content(i, 100))

  delete process.env.PHOTON_WB_FAULT
  await log.flush() // retried from the same buffer
  t.deepEqual(groupsOnDisk(dir), [1], 'the full buffer is sealed; the active one committed')
  t.deepEqual(segmentGroups(dir).slice(0, 2), [1, 2])
  await log.rotate()
  t.deepEqual(groupsOnDisk(dir), [1, 2])
  for (let i = 0; i < 60; i++) t.deepEqual(await log.read(addrs[i]), content(i, 100))
  await log.close()
})

test.serial('a failed flush while appends wait rejects them; close() retries the flush', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 2 })
  setFault(t, 'sync:ENOSPC')
  const results: (bigint | Promise<bigint>)[] = []
  for (let i = 0; i < 200; i++) results.push(log.tryAppend(i, content(i, 100)) ?? log.append(i, content(i, 100)))
  const waiting = results.filter((r): r is Promise<bigint> => r instanceof Promise)
  t.true(waiting.length > 0)
  const settled = await Promise.allSettled(waiting)
  t.true(settled.every((s) => s.status === 'rejected' && code(s.reason) === 'ENOSPC'))
  // With the error kept and no room, a new append rejects at once instead of waiting.
  t.is(log.tryAppend(999, content(999, 100)), null)
  await t.throwsAsync(log.append(999, content(999, 100)), { code: 'ENOSPC' } as never)
  const err = await t.throwsAsync(log.close())
  t.is(code(err), 'ENOSPC')
  delete process.env.PHOTON_WB_FAULT
  await log.close() // retried
  t.deepEqual(groupsOnDisk(dir), [1, 2])
  const again = await openLog(t, dir)
  for (const r of results) {
    if (typeof r !== 'bigint') continue
    const i = results.indexOf(r)
    t.deepEqual(await again.read(r), content(i, 100))
  }
})

// ---------------------------------------------------------------------------

test('append/read round trip across buffer rotations; memory then file at the same address', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 16 })
  const n = 300
  const addrs: bigint[] = []
  for (let i = 0; i < n; i++) {
    const r = log.tryAppend(i, content(i, 10 + (i % 90)))
    t.is(typeof r, 'bigint') // room: tryAppend appends now
    addrs.push(r as bigint)
  }
  t.true(groupOf(addrs[n - 1]) > 5, 'several rotations')
  for (let i = 1; i < n; i++) t.true(addrs[i] > addrs[i - 1], 'addresses grow in append order')
  t.true(isConsecutive([...new Set(addrs.map(groupOf))]))
  // From memory: synchronous.
  for (let i = 0; i < n; i++) {
    const v = log.tryRead(addrs[i])
    t.true(Buffer.isBuffer(v))
    t.deepEqual(v, content(i, 10 + (i % 90)))
  }
  await log.flush()
  t.is(log.stats.buffers, 1, 'flush() commits: the active buffer stays in memory')
  t.deepEqual(groupsOnDisk(dir), [...new Set(addrs.map(groupOf))].slice(0, -1), 'full buffers are sealed')
  await log.rotate()
  t.is(log.stats.buffers, 0)
  const groups = groupsOnDisk(dir)
  t.deepEqual(groups, [...new Set(addrs.map(groupOf))])
  t.is(groups[0], 1)
  t.true(isConsecutive(groups))
  // From the segments: tryRead does no I/O (null); read reads the page (one pread).
  t.is(log.tryRead(addrs[0]), null)
  for (let i = 0; i < n; i++) t.deepEqual(await log.read(addrs[i]), content(i, 10 + (i % 90)))
  t.is(log.tryRead(addrs[0]), null)
  t.is(log.addressOf(42), addrs[42])
  t.is(log.stats.appends, n)
  t.is(log.stats.flushes, groups.length)
  await log.close()
})

test('writer callback fills the zero-copy view; a throwing callback tombstones its record', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const a = log.tryAppend(1n, (view) => view.write('hello'), 5) as bigint
  t.is(log.tryRead(a)?.toString(), 'hello')
  t.is((await log.read(a)).toString(), 'hello')
  const boom = new Error('boom')
  t.is(t.throws(() => log.tryAppend(2, () => { throw boom }, 8)), boom)
  t.is(await t.throwsAsync(log.append(2, () => { throw boom }, 8)), boom, 'append rejects')
  t.is(log.addressOf(2), undefined)
  const b = log.tryAppend(3, (view) => view.write('world'), 5) as bigint
  await log.flush()
  t.is((await log.read(a)).toString(), 'hello')
  t.is((await log.read(b)).toString(), 'world')
  t.is(log.stats.appends, 2)
  await log.close()
  // The tombstoned record never reached the file.
  const again = await openLog(t, dir)
  t.is(again.pageCount, 2)
  t.is(again.addressOf(2), undefined)
})

test('flush() with nothing new resolves; commits make no file; rotate() leaves no gap in group ids', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  await log.flush() // nothing yet
  await log.rotate() // nothing yet: no buffer sealed
  const a = log.tryAppend(1, content(1, 10)) as bigint
  await Promise.all([log.flush(), log.flush()])
  await log.flush()
  const b = log.tryAppend(2, content(2, 10)) as bigint
  await log.flush()
  t.is(groupOf(a), 1)
  t.is(groupOf(b), 1, 'commits do not rotate')
  t.deepEqual(segmentGroups(dir), [1, 2], 'the active segment and the one prepared ahead: no file per commit')
  await log.rotate()
  await log.rotate() // nothing new
  const c = log.tryAppend(3, content(3, 10)) as bigint
  t.is(groupOf(c), 2)
  await log.close()
  t.deepEqual(groupsOnDisk(dir), [1, 2])
  t.deepEqual(segmentGroups(dir), [1, 2], 'close() removes the segment prepared ahead')
})

test('close() then reopen: every page reads back at its address; appends continue with the next group', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const addrs: bigint[] = []
  for (let i = 0; i < 100; i++) addrs.push(await log.append(i, content(i, 64)))
  await log.close()
  const last = groupsOnDisk(dir).at(-1) as number
  t.true(isConsecutive(groupsOnDisk(dir)))

  t.deepEqual(segmentGroups(dir), groupsOnDisk(dir), 'every segment left is sealed')
  const again = await openLog(t, dir, { bufferSize: 4096 })
  t.is(again.stats.recoveredFiles, groupsOnDisk(dir).length)
  t.is(again.nextGroupId, last + 1)
  for (let i = 0; i < 100; i++) {
    t.is(again.addressOf(i), addrs[i])
    t.deepEqual(await again.read(addrs[i]), content(i, 64))
  }
  const next = again.tryAppend(1000, content(1000, 8)) as bigint
  t.is(groupOf(next), last + 1)
  await again.close()
  t.deepEqual(groupsOnDisk(dir).at(-1), last + 1)
})

test('recovery: the latest address of a page id wins', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const first = log.tryAppend(7, Buffer.from('old')) as bigint
  await log.rotate()
  const second = log.tryAppend(7, Buffer.from('new')) as bigint
  t.is(log.addressOf(7), second)
  await log.close()
  t.not(groupOf(first), groupOf(second))

  const again = await openLog(t, dir)
  t.is(again.addressOf(7), second)
  t.is((await again.read(second)).toString(), 'new')
  t.is((await again.read(first)).toString(), 'old') // the old version stays readable by address
})

async function twoFiles(t: ExecutionContext): Promise<{ dir: string; a: bigint; b: bigint }> {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const a = log.tryAppend(1, content(1, 100)) as bigint
  await log.rotate()
  const b = log.tryAppend(2, content(2, 100)) as bigint
  await log.close()
  t.deepEqual(groupsOnDisk(dir), [1, 2])
  return { dir, a, b }
}

test('recovery: a corrupt segment index or trailer rejects with ERR_CORRUPT naming it; a damaged page fails only its read', async (t) => {
  const { dir } = await twoFiles(t)
  const file = segmentPath(dir, 1)
  const bytes = fs.readFileSync(file)
  bytes[bytes.length - 48 + 8] ^= 0x01 // a field of the trailer
  fs.writeFileSync(file, bytes)
  const err = await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.true(err?.message.includes(file), err?.message)
  t.is((err as WriteBufferError & { path?: string }).path, file)
  t.true(fs.existsSync(file), 'left in place')

  // A flipped byte in a page body: open reads no page, so it opens; only
  // that page's read fails.
  const { dir: dir2, a, b } = await twoFiles(t)
  const file2 = segmentPath(dir2, 2)
  const bytes2 = fs.readFileSync(file2)
  bytes2[64 + 24 + 50] ^= 0xff // the body of the only record
  fs.writeFileSync(file2, bytes2)
  const log = await openLog(t, dir2)
  t.deepEqual(await log.read(a), content(1, 100))
  const err2 = await t.throwsAsync(log.read(b), { instanceOf: WriteBufferError })
  t.is(err2?.code, 'ERR_CORRUPT')
})

test("recovery: onCorrupt 'quarantine' renames the file to .corrupt and goes on", async (t) => {
  const { dir, a, b } = await twoFiles(t)
  const file = segmentPath(dir, 1)
  fs.truncateSync(file, 10)
  const log = await openLog(t, dir, { onCorrupt: 'quarantine' })
  t.false(fs.existsSync(file))
  t.true(fs.existsSync(`${file}.corrupt`))
  t.is(log.stats.quarantined, 1)
  t.is(log.stats.recoveredFiles, 1)
  t.deepEqual(await log.read(b), content(2, 100))
  t.is(log.addressOf(1), undefined)
  t.is(t.throws(() => log.tryRead(a), { instanceOf: WriteBufferError })?.code, 'ERR_INVALID_ADDR')
  t.is((await t.throwsAsync(log.read(a), { instanceOf: WriteBufferError }))?.code, 'ERR_INVALID_ADDR')
  t.is(log.nextGroupId, 3)
})

test('recovery: stale temp files are deleted, other files left alone', async (t) => {
  const { dir } = await twoFiles(t)
  const temp = path.join(dir, '.3.page.tmp-1234-0')
  fs.writeFileSync(temp, 'half a flush')
  const segTemp = path.join(dir, '.seg-00000003.pws.tmp')
  fs.writeFileSync(segTemp, 'half a preparation')
  const other = path.join(dir, 'notes.txt')
  fs.writeFileSync(other, 'mine')
  const log = await openLog(t, dir)
  t.false(fs.existsSync(temp))
  t.false(fs.existsSync(segTemp))
  t.true(fs.existsSync(other))
  t.is(log.nextGroupId, 3)
})

test('open creates a missing directory and validates options', async (t) => {
  const dir = path.join(tempDir(t), 'a', 'b')
  const log = await openLog(t, dir)
  t.true(fs.statSync(dir).isDirectory())
  t.is(log.bufferSize, 1 << 22)
  t.is(log.maxBuffers, 8)
  await t.throwsAsync(PageLog.open(dir, { bufferSize: 1000 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  await t.throwsAsync(PageLog.open(dir, { maxBuffers: 0 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
})

test('backpressure: at most maxBuffers unflushed; tryAppend says null and append waits when every buffer is in use', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 2 })
  const n = 2000
  const results: (bigint | Promise<bigint>)[] = []
  for (let i = 0; i < n; i++) {
    results.push(log.tryAppend(i, content(i, 200)) ?? log.append(i, content(i, 200)))
    t.true(log.stats.buffers <= 2)
  }
  t.true(results.some((r) => r instanceof Promise))
  t.true(log.stats.stalls > 0)
  // flush() covers the appends still waiting at the time of the call.
  const settled = results.map(() => false)
  results.forEach((r, i) => void Promise.resolve(r).then(() => (settled[i] = true)))
  await log.flush()
  t.true(settled.every(Boolean))
  t.true(log.stats.buffers <= 1, 'flush() committed the active buffer, sealed the others')
  await log.rotate()
  t.is(log.stats.buffers, 0)
  const addrs = await Promise.all(results)
  t.true(log.stats.peakBuffers <= 2)
  t.is(log.stats.peakBuffers, 2)
  for (let i = 1; i < n; i++) t.true(addrs[i] > addrs[i - 1], 'waiting appends keep their order')
  t.true(isConsecutive(groupsOnDisk(dir)))
  t.is(groupsOnDisk(dir).at(-1), groupOf(addrs[n - 1]))
  for (let i = 0; i < n; i += 37) t.deepEqual(await log.read(addrs[i]), content(i, 200))
  t.true(log.stats.peakBuffers <= 2)
  await log.close()
})

test('backpressure: with slow flushes, memory stays bounded: live arenas <= maxBuffers, arenas reused, RSS flat', async (t) => {
  const dir = tempDir(t, 'mem')
  const maxBuffers = 4
  const bufferSize = 1 << 20
  const pages = 12_000 // 4 KiB each: ~47 MiB through 1 MiB buffers, ~47 rotations
  const { stdout } = await execFileP(
    process.execPath,
    ['--expose-gc', path.resolve('__test__', 'fixtures', 'log-memory.js'), dir, String(pages), '4096', String(bufferSize), String(maxBuffers)],
    { env: { ...process.env, PHOTON_WB_FAULT: 'sync:delay=15' } },
  )
  const r = JSON.parse(stdout) as {
    maxLive: number
    warmRss: number
    peakRss: number
    liveAfterClose: number
    stats: { stalls: number; flushes: number; peakBuffers: number; arenasCreated: number; arenasReused: number }
  }
  t.log(`stalls ${r.stats.stalls}, flushes ${r.stats.flushes}, arenas created ${r.stats.arenasCreated} reused ${r.stats.arenasReused}, RSS growth after warm-up ${((r.peakRss - r.warmRss) / 2 ** 20).toFixed(1)} MiB`)
  t.true(r.stats.stalls > 0, 'the slow flush made appends wait')
  t.true(r.stats.flushes >= 40)
  t.true(r.stats.peakBuffers <= maxBuffers)
  t.true(r.maxLive <= maxBuffers, `live arenas peaked at ${r.maxLive}`)
  t.true(r.stats.arenasCreated <= maxBuffers, `created ${r.stats.arenasCreated} arenas`)
  t.true(r.stats.arenasReused >= r.stats.flushes - maxBuffers)
  t.is(r.liveAfterClose, 0, 'close() frees every arena')
  t.true(r.peakRss - r.warmRss < 24 * 2 ** 20, 'RSS after warm-up grows by less than 24 MiB')
})

test('backpressure: a waiting writer callback runs once room exists', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 1 })
  let p: bigint | Promise<bigint> = 0n
  let i = 0
  while (!(p instanceof Promise)) p = log.tryAppend(i, content(0, 500)) ?? log.append(i, content(0, 500)), i++
  let called = false
  void log.append(10_000, (view) => {
    called = true
    view.fill(9)
  }, 16)
  t.false(called)
  await p
  await log.flush()
  t.true(called)
  t.deepEqual(await log.read(log.addressOf(10_000) as bigint), Buffer.alloc(16, 9))
  t.is(log.stats.peakBuffers, 1)
})

test('ERR_TOO_LARGE_SIZE reaches the caller; the largest record that fits is accepted', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  for (const thunk of [() => log.tryAppend(1, new Uint8Array(4096)), () => log.tryAppend(1, () => {}, 4081)]) {
    const err = t.throws(thunk, { instanceOf: WriteBufferError })
    t.is(err?.code, 'ERR_TOO_LARGE_SIZE')
  }
  for (const p of [log.append(1, new Uint8Array(4096)), log.append(1, () => {}, 4081)]) {
    t.is((await t.throwsAsync(p, { instanceOf: WriteBufferError }))?.code, 'ERR_TOO_LARGE_SIZE')
  }
  const a = log.tryAppend(1, content(1, 4080)) // recordSize(4080) = 4096
  const b = log.tryAppend(2, content(2, 4080)) // needs the next buffer
  t.is(typeof a, 'bigint')
  t.is(typeof b, 'bigint')
  t.is(groupOf(b as bigint), groupOf(a as bigint) + 1)
  t.is(log.stats.appends, 2)
})

test('argument errors', async (t) => {
  const log = await openLog(t, tempDir(t))
  const cases: [unknown[], typeof TypeError, string][] = [
    [['1', new Uint8Array(1)], TypeError, 'ERR_INVALID_ARG_TYPE'],
    [[-1, new Uint8Array(1)], RangeError, 'ERR_OUT_OF_RANGE'],
    [[1, 'x'], TypeError, 'ERR_INVALID_ARG_TYPE'],
    [[1, () => {}], TypeError, 'ERR_INVALID_ARG_TYPE'],
    [[1, new Uint8Array(4), 5], RangeError, 'ERR_OUT_OF_RANGE'],
  ]
  const call = (f: 'tryAppend' | 'append', args: unknown[]) => (log[f] as (...a: unknown[]) => unknown)(...args)
  for (const [args, instanceOf, code] of cases) {
    t.throws(() => call('tryAppend', args), { instanceOf, code } as never) // the synchronous call throws
    await t.throwsAsync(call('append', args) as Promise<bigint>, { instanceOf, code } as never) // the promise rejects
  }
  t.is(t.throws(() => log.tryRead(99n << 32n), { instanceOf: WriteBufferError })?.code, 'ERR_INVALID_ADDR')
  t.is((await t.throwsAsync(log.read(99n << 32n), { instanceOf: WriteBufferError }))?.code, 'ERR_INVALID_ADDR')
  const a = log.tryAppend(1, new Uint8Array(8)) as bigint
  t.is(t.throws(() => log.tryRead(a + 8n), { instanceOf: WriteBufferError })?.code, 'ERR_INVALID_ADDR')
  await log.rotate()
  const err = await t.throwsAsync(log.read(a + 8n), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_INVALID_ADDR')
  t.is(t.throws(() => log.tryRead(a + 8n), { instanceOf: WriteBufferError })?.code, 'ERR_INVALID_ADDR', 'from the segment index, without I/O')
  t.is(log.tryRead(a), null, 'a page of a segment needs a read')
})

test('close(): flushes everything, waiting appends included; later calls throw ERR_CLOSED', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 2 })
  const results: (bigint | Promise<bigint>)[] = []
  for (let i = 0; i < 500; i++) results.push(log.tryAppend(i, content(i, 100)) ?? log.append(i, content(i, 100)))
  t.true(results.some((r) => r instanceof Promise))
  const closing = log.close()
  t.is(log.close(), closing)
  t.true(log.isClosed)
  t.is(t.throws(() => log.tryAppend(1, new Uint8Array(1)), { instanceOf: WriteBufferError })?.code, 'ERR_CLOSED')
  t.is((await t.throwsAsync(log.append(1, new Uint8Array(1)), { instanceOf: WriteBufferError }))?.code, 'ERR_CLOSED')
  await closing
  const addrs = await Promise.all(results)
  t.is(t.throws(() => log.tryRead(addrs[0]), { instanceOf: WriteBufferError })?.code, 'ERR_CLOSED')
  t.is((await t.throwsAsync(log.read(addrs[0]), { instanceOf: WriteBufferError }))?.code, 'ERR_CLOSED')
  t.is((await t.throwsAsync(log.flush(), { instanceOf: WriteBufferError }))?.code, 'ERR_CLOSED')
  await log.close() // idempotent
  t.is(log.stats.buffers, 0)

  const again = await openLog(t, dir)
  t.is(again.pageCount, 500)
  for (let i = 0; i < 500; i++) t.deepEqual(await again.read(addrs[i]), content(i, 100))
})

test('recovery: a dealloc record in a later file removes the latest address it frees', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const a1 = log.tryAppend(1, content(1, 10)) as bigint
  const a2 = log.tryAppend(2, content(2, 10)) as bigint
  await log.close()
  // A buffer written by someone else (the page store's consolidation) frees page 1's address.
  const wb = new WriteBuffer(2, 4096)
  wb.deallocPages([a1], true)
  wb.releaseWriter()
  wb.seal()
  await wb.flushTo(path.join(dir, '2.page'))
  const again = await openLog(t, dir)
  t.is(again.addressOf(1), undefined)
  t.is(again.addressOf(2), a2)
  t.is(again.pageCount, 1)
  t.is(again.nextGroupId, 3)
})

test('reads through a small page-file cache (maxOpenFiles: 1) stay correct', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxOpenFiles: 1 })
  const addrs: bigint[] = []
  for (let i = 0; i < 200; i++) addrs.push(log.tryAppend(i, content(i, 100)) as bigint)
  await log.flush()
  t.true(groupsOnDisk(dir).length > 3)
  const views: Buffer[] = []
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 200; i += 7) {
      const v = await log.read(addrs[i])
      t.deepEqual(v, content(i, 100))
      views.push(v)
    }
  }
  // Views of evicted (closed) files stay readable.
  t.deepEqual(views[0], content(0, 100))
})

test('reads during an in-flight seal come from memory, synchronously', async (t) => {
  const log = await openLog(t, tempDir(t), { bufferSize: 4096 })
  const a = log.tryAppend(1, content(1, 50)) as bigint
  const flushing = log.rotate()
  t.is(log.stats.buffers, 1) // sealed, not yet durable
  const v = log.tryRead(a)
  t.true(Buffer.isBuffer(v))
  t.deepEqual(v, content(1, 50))
  await flushing
  t.is(log.stats.buffers, 0)
  t.deepEqual(await log.read(a), content(1, 50))
})

test('randomized: appends, flushes and reopens agree with a model of the latest pages', async (t) => {
  const dir = tempDir(t)
  let seed = 0x9e3779b9
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    return seed % n
  }
  const latest = new Map<number, { addr: bigint; version: number; size: number }>()
  const all: { addr: bigint; id: number; version: number; size: number }[] = []
  let version = 0
  for (let round = 0; round < 4; round++) {
    const log = await openLog(t, dir, { bufferSize: 1024, maxBuffers: 3 })
    const pending: Promise<unknown>[] = []
    for (let i = 0; i < 400; i++) {
      const id = rand(50)
      const size = rand(300)
      const v = ++version
      const r =
        rand(2) === 0
          ? (log.tryAppend(id, content(id, size, v)) ?? log.append(id, content(id, size, v)))
          : (log.tryAppend(id, (view) => content(id, size, v).copy(view), size) ?? log.append(id, (view) => content(id, size, v).copy(view), size))
      const record = (addr: bigint) => {
        latest.set(id, { addr, version: v, size })
        all.push({ addr, id, version: v, size })
      }
      if (typeof r === 'bigint') record(r)
      else pending.push(r.then(record))
      if (rand(50) === 0) pending.push(log.flush())
    }
    await Promise.all(pending)
    for (const [id, e] of latest) t.is(log.addressOf(id), e.addr)
    await log.close()
    t.true(isConsecutive(groupsOnDisk(dir)))
  }
  const log = await openLog(t, dir)
  t.is(log.pageCount, latest.size)
  for (const [id, e] of latest) t.is(log.addressOf(id), e.addr)
  for (const e of all) t.deepEqual(await log.read(e.addr), content(e.id, e.size, e.version))
})

test('a directory is open in one PageLog at a time: ERR_LOCKED, in this process or another, until close or death', async (t) => {
  const dir = tempDir(t, 'lock')
  const log = await openLog(t, dir)
  await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError, code: 'ERR_LOCKED', message: /is open in another PageLog/ })
  await log.close()
  const again = await openLog(t, dir)
  await again.close()

  // Another process holds it: refused; once that process is killed (-9), free again.
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, ['-e', `require('./index.js').PageLog.open(${JSON.stringify(dir)}).then((log) => { globalThis.keep = log; setInterval(() => {}, 1000); console.log('OPEN') })`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('OPEN') && resolve()))
  await t.throwsAsync(PageLog.open(dir), { code: 'ERR_LOCKED' })
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  const after = await openLog(t, dir)
  t.deepEqual(groupsOnDisk(dir), [], 'the LOCK file is no page file')
  await after.close()
})

test('page ids: a number and the same bigint name one page; ids above 2^53 work; the latest address wins', async (t) => {
  const dir = tempDir(t, 'keys')
  const log = await openLog(t, dir, { bufferSize: 4096 })
  const a = log.tryAppend(5, Buffer.from('five')) as bigint
  const b = log.tryAppend(5n, Buffer.from('FIVE')) as bigint
  t.true(b > a)
  t.is(log.addressOf(5), b)
  t.is(log.addressOf(5n), b)
  const big = 2n ** 60n + 3n
  const c = log.tryAppend(big, Buffer.from('big')) as bigint
  const safe = BigInt(Number.MAX_SAFE_INTEGER)
  const d = log.tryAppend(safe, Buffer.from('max safe')) as bigint
  t.is(log.addressOf(big), c)
  t.is(log.addressOf(Number.MAX_SAFE_INTEGER), d)
  t.is(log.addressOf(safe + 1n), undefined)
  t.is(log.pageCount, 3)
  t.throws(() => log.tryAppend(2 ** 53, Buffer.alloc(1)), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(log.append(2 ** 53, Buffer.alloc(1)), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => log.tryAppend(-1n, Buffer.alloc(1)), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => log.tryAppend('5' as unknown as number, Buffer.alloc(1)), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await log.close()
  const again = await openLog(t, dir)
  t.is(again.addressOf(5), b, 'recovery agrees')
  t.is(again.addressOf(big), c)
  t.deepEqual(await again.read(b), Buffer.from('FIVE'))
  await again.close()
})
