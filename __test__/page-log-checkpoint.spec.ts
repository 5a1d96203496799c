// The page index checkpoint (`index.pwi`, docs/page-file-format.md, "Index
// checkpoint"): written by close(), loaded whole by open when every segment
// it covers is the same file, ignored (and counted) when in any doubt.
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageLog, WriteBuffer, WriteBufferError } from '../index.ts'
import { Segment, recoverSegments } from '../src/segment.ts'
import { segmentPath } from './log-files.ts'

const CHECKPOINT = 'index.pwi'
// Skipped on Windows: the test makes a FIFO (mkfifo), which Windows does not have.
const unixOnly = process.platform === 'win32' ? test.skip : test

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-checkpoint-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const data = (id: number, i: number): Buffer => Buffer.alloc(100, (id * 7 + i) & 0xff)

/** The bytes written at each address by `fill`. */
const written = new Map<bigint, Buffer>()

/** Writes `n` pages (every third a rewrite of an earlier id) over many 4 KiB buffers; returns the log, still open. */
async function fill(dir: string, n = 600): Promise<PageLog> {
  const log = await PageLog.open(dir, { bufferSize: 4096 })
  for (let i = 0; i < n; i++) {
    const id = i % 3 === 2 ? i - 2 : i
    const addr = log.tryAppend(id, data(id, i)) ?? (await log.append(id, data(id, i)))
    written.set(addr, data(id, i))
  }
  return log
}

interface View {
  readonly count: number
  readonly pages: [bigint, bigint, number][]
  readonly addrs: (bigint | undefined)[]
}

/** What a log holds: its page count, its live pages in order, the address of ids 0..n. */
function view(log: PageLog, n = 700): View {
  return {
    count: log.pageCount,
    pages: [...log.pages()].map((p) => [p.pageId, p.addr, p.size]),
    addrs: Array.from({ length: n }, (_, id) => log.addressOf(id)),
  }
}

/** What a full read (no checkpoint) of `dir` as it is now finds: opened in a copy without the checkpoint. */
async function fullRead(t: ExecutionContext, dir: string, opts = {}): Promise<View> {
  const copy = tempDir(t)
  for (const n of fs.readdirSync(dir)) if (n !== 'LOCK' && n !== CHECKPOINT) fs.copyFileSync(path.join(dir, n), path.join(copy, n))
  const log = await PageLog.open(copy, opts)
  try {
    t.is(log.stats.checkpointLoaded, 0)
    return view(log)
  } finally {
    await log.close()
  }
}

/** Opens `dir`, returns what it holds and its stats, closes it. */
async function openView(dir: string, opts = {}): Promise<{ v: View; stats: PageLog['stats']; after: PageLog['stats'] }> {
  const log = await PageLog.open(dir, opts)
  const v = view(log)
  const stats = log.stats
  await log.close()
  return { v, stats, after: log.stats }
}

test('checkpoint: close() writes it; open loads it without reading a covered index; same pages as a full read', async (t) => {
  const dir = tempDir(t)
  const log = await fill(dir)
  const before = view(log)
  await log.close()
  t.is(log.stats.checkpointsWritten, 1)
  t.true(fs.statSync(path.join(dir, CHECKPOINT)).isFile())
  const full = await fullRead(t, dir)
  t.deepEqual(full, before)
  const { v, stats, after } = await openView(dir)
  t.is(stats.checkpointLoaded, 1)
  t.is(stats.checkpointIgnored, 0)
  t.deepEqual(v, before)
  // A segment sealed just before the first close() is re-checked at open
  // (its ctime was too recent to prove it unchanged): close() writes the
  // checkpoint again once; from then on nothing changed: not written.
  const second = await openView(dir)
  t.is(second.stats.checkpointLoaded, 1)
  t.deepEqual(second.v, before)
  t.is((await openView(dir)).after.checkpointsWritten, 0, 'nothing changed since the loaded one: not written again')
  // The internals: most segments were recovered from header and trailer only.
  const r = await recoverSegments(dir, { index: true, checkpoint: true, corrupt: 'list' })
  t.true(r.checkpoint.loaded)
  t.true(r.checkpoint.covered > 0 && r.checkpoint.covered + r.checkpoint.indexed === r.count, JSON.stringify(r.checkpoint))
  // Every page reads back through the loaded index.
  const again = await PageLog.open(dir)
  t.teardown(() => again.close())
  for (const [, addr] of v.pages) t.deepEqual(await again.read(addr), written.get(addr))
})

test('checkpoint: more appends after a loaded one, then close: the new one covers them', async (t) => {
  const dir = tempDir(t)
  await (await fill(dir, 300)).close()
  const log = await PageLog.open(dir, { bufferSize: 4096 })
  t.is(log.stats.checkpointLoaded, 1)
  for (let i = 0; i < 200; i++) log.tryAppend(1000 + (i % 50), data(1000 + i, i)) ?? (await log.append(1000 + (i % 50), data(1000 + i, i)))
  const before = view(log, 1100)
  await log.close()
  t.is(log.stats.checkpointsWritten, 1)
  const reopened = await PageLog.open(dir)
  t.teardown(() => reopened.close())
  t.is(reopened.stats.checkpointLoaded, 1)
  t.deepEqual(view(reopened, 1100), before)
})

test('checkpoint: ignored (counted) when it does not check: a flipped byte, cut short, unknown version, bad magic, empty', async (t) => {
  const dir = tempDir(t)
  await (await fill(dir)).close()
  const file = path.join(dir, CHECKPOINT)
  const good = fs.readFileSync(file)
  const full = await fullRead(t, dir)
  const variants: [string, Buffer, RegExp][] = [
    ['a flipped byte in the table', Buffer.from(good).fill(0x55, good.length - 20, good.length - 19), /checksum/],
    ['cut short', good.subarray(0, good.length - 16), /bytes/],
    ['unknown version', Buffer.concat([good.subarray(0, 8), Buffer.from([9, 0, 0, 0]), good.subarray(12)]), /version/],
    ['bad magic', Buffer.concat([Buffer.from('XXXXXXXX'), good.subarray(8)]), /magic/],
    ['empty', Buffer.alloc(0), /shorter/],
  ]
  for (const [what, bytes, why] of variants) {
    fs.writeFileSync(file, bytes)
    const r = await recoverSegments(dir, { index: true, checkpoint: true, corrupt: 'list' })
    t.false(r.checkpoint.loaded, what)
    t.regex(r.checkpoint.ignored ?? '', why, what)
    const { v, stats, after } = await openView(dir)
    t.is(stats.checkpointIgnored, 1, what)
    t.is(stats.checkpointLoaded, 0, what)
    t.deepEqual(v, full, what)
    t.is(after.checkpointsWritten, 1, `${what}: close() writes a good one`)
  }
  const { stats } = await openView(dir)
  t.is(stats.checkpointLoaded, 1)
})

test('checkpoint: ignored when a covered segment is gone or changed (its ctime: chmod); the log opens as without one', async (t) => {
  const dir = tempDir(t)
  await (await fill(dir)).close()
  // Changed: same bytes, another ctime.
  await new Promise((r) => setTimeout(r, 20))
  fs.chmodSync(segmentPath(dir, 2), 0o600)
  let full = await fullRead(t, dir)
  let o = await openView(dir)
  t.is(o.stats.checkpointIgnored, 1)
  t.deepEqual(o.v, full)
  t.is(o.after.checkpointsWritten, 1)
  // Gone: the pages of segment 3 are gone with it, as without a checkpoint.
  fs.rmSync(segmentPath(dir, 3))
  full = await fullRead(t, dir)
  const r = await recoverSegments(dir, { index: true, checkpoint: true, corrupt: 'list' })
  t.regex(r.checkpoint.ignored ?? '', /gone/)
  o = await openView(dir)
  t.is(o.stats.checkpointIgnored, 1)
  t.deepEqual(o.v, full)
})

unixOnly('checkpoint: a FIFO or a directory named like it is ignored at once; open and close still work', async (t) => {
  const dir = tempDir(t)
  await (await fill(dir)).close()
  const file = path.join(dir, CHECKPOINT)
  const full = await fullRead(t, dir)
  fs.rmSync(file)
  execFileSync('mkfifo', [file])
  let o = await openView(dir)
  t.is(o.stats.checkpointIgnored, 1)
  t.deepEqual(o.v, full)
  t.is(o.after.checkpointsWritten, 1, 'close() replaces the FIFO (rename over it)')
  t.true(fs.statSync(file).isFile())
  fs.rmSync(file)
  fs.mkdirSync(file)
  o = await openView(dir)
  t.is(o.stats.checkpointIgnored, 1)
  t.deepEqual(o.v, full)
  t.is(o.after.checkpointErrors, 1, 'a directory cannot be renamed over: counted, close() still resolves')
  t.true(fs.statSync(file).isDirectory())
  // A FIFO under the temporary name: the write fails at once (never blocks), counted.
  fs.rmSync(file, { recursive: true })
  const log = await PageLog.open(dir)
  log.tryAppend(9999, data(9999, 0))
  execFileSync('mkfifo', [path.join(dir, '.index.pwi.tmp')])
  await log.close()
  t.is(log.stats.checkpointErrors, 1)
  t.false(fs.existsSync(file))
})

test('checkpoint: after kill -9 (no close) following an open from a checkpoint and flushed appends, every flushed page is there', async (t) => {
  const dir = tempDir(t)
  await (await fill(dir, 300)).close()
  const child = path.join(path.resolve('__test__'), 'fixtures', 'log-checkpoint-child.js')
  const expect = new Map<number, bigint>()
  const o = await openView(dir)
  for (const [id, addr] of o.v.pages) expect.set(Number(id), addr)
  for (const [round, first] of [[1, 1000], [2, 2000]]) {
    const r = spawnSync(process.execPath, [child, dir, String(first), '150'], { encoding: 'utf8' })
    t.is(r.signal, 'SIGKILL', r.stderr)
    const out = JSON.parse(r.stdout.trim()) as { loaded: number; addrs: [number, string][] }
    t.is(out.loaded, 1, `round ${round}: the stale checkpoint of the first close() is used`)
    for (const [id, a] of out.addrs) expect.set(id, BigInt(a))
  }
  const full = await fullRead(t, dir)
  const log = await PageLog.open(dir)
  t.teardown(() => log.close())
  t.is(log.stats.checkpointLoaded, 1)
  const v = view(log, 2200)
  t.deepEqual(v, { ...full, addrs: v.addrs })
  for (const [id, addr] of expect) t.is(log.addressOf(id), addr, `page ${id}`)
  t.is(log.pageCount, expect.size)
  // The child's bytes: as fixtures/log-checkpoint-child.js writes them.
  for (const first of [1000, 2000]) {
    for (let i = 0; i < 150; i++) {
      const id = i % 3 === 2 ? first + i - 2 : first + i
      if (i % 3 === 0 && i + 2 < 150) continue // rewritten at i + 2
      t.deepEqual(await log.read(log.addressOf(id) as bigint), Buffer.alloc(100, (id * 7 + i) & 0xff), `page ${id}`)
    }
  }
})

test('checkpoint: the seal job writes one once enough pages were indexed; after kill -9 open starts from it', async (t) => {
  const dir = tempDir(t)
  const child = path.join(path.resolve('__test__'), 'fixtures', 'log-checkpoint-child.js')
  const r = spawnSync(process.execPath, [child, dir, '0', '70000', 'sealed'], { encoding: 'utf8', maxBuffer: 1 << 26 })
  t.is(r.signal, 'SIGKILL', r.stderr)
  const out = JSON.parse(r.stdout.trim()) as { loaded: number; addrs: [number, string][] }
  t.true(fs.existsSync(path.join(dir, CHECKPOINT)), 'written before any close()')
  const expect = new Map<number, bigint>()
  for (const [id, a] of out.addrs) expect.set(id, BigInt(a))
  const full = await fullRead(t, dir, { bufferSize: 1 << 20 })
  const log = await PageLog.open(dir, { bufferSize: 1 << 20 })
  t.teardown(() => log.close())
  t.is(log.stats.checkpointLoaded, 1)
  t.deepEqual(view(log), full)
  t.is(log.pageCount, expect.size)
  for (const [id, addr] of expect) if (log.addressOf(id) !== addr) t.fail(`page ${id}: ${log.addressOf(id)}, not ${addr}`)
  const last = out.addrs[out.addrs.length - 1]
  t.deepEqual(await log.read(BigInt(last[1])), Buffer.alloc(16, (last[0] * 7 + 70099) & 0xff))
})

test('checkpoint: a covered segment whose index is damaged after close() is ERR_CORRUPT at open, or quarantined', async (t) => {
  const dir = tempDir(t)
  const log = await fill(dir)
  // Old enough that its ctime alone proves it unchanged (not re-checked).
  await new Promise((r) => setTimeout(r, 400))
  await log.close()
  t.true(fs.existsSync(path.join(dir, CHECKPOINT)))
  const file = segmentPath(dir, 2)
  const size = fs.statSync(file).size
  // A byte of the index (just before the 64-aligned trailer).
  const fd = fs.openSync(file, 'r+')
  const b = Buffer.alloc(1)
  fs.readSync(fd, b, 0, 1, size - 48 - 80)
  b[0] ^= 0xff
  fs.writeSync(fd, b, 0, 1, size - 48 - 80)
  fs.closeSync(fd)
  const err = await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.regex(err?.message ?? '', /seg-00000002\.pws/)
  const log2 = await PageLog.open(dir, { onCorrupt: 'quarantine' })
  t.teardown(() => log2.close())
  t.is(log2.stats.quarantined, 1)
  t.is(log2.stats.checkpointIgnored, 1)
  t.true(fs.existsSync(`${file}.corrupt`))
})

test('checkpoint: dealloc records are honoured through it (their effect is in the table)', async (t) => {
  const dir = tempDir(t)
  const seal = async (wb: WriteBuffer, fill: (wb: WriteBuffer) => void): Promise<void> => {
    const seg = await Segment.prepare(dir, wb)
    fill(wb)
    wb.seal()
    await seg.seal()
    seg.close()
    wb.dispose()
  }
  let a1 = 0n, b1 = 0n, a2 = 0n
  await seal(new WriteBuffer(1, 4096), (wb) => {
    a1 = wb.writePage(5n, data(5, 1), false)
    b1 = wb.writePage(6n, data(6, 1), false)
    wb.writePage(7n, data(7, 1), false)
  })
  await seal(new WriteBuffer(2, 4096), (wb) => {
    a2 = wb.writePage(5n, data(5, 2), false)
    wb.deallocPages([a1], false) // superseded already: frees nothing
    wb.deallocPages([b1], false) // page 6's latest: gone
  })
  const first = await openView(dir)
  t.is(first.stats.checkpointLoaded, 0)
  t.is(first.after.checkpointsWritten, 1)
  const { v, stats } = await openView(dir)
  t.is(stats.checkpointLoaded, 1)
  t.deepEqual(v, first.v)
  t.is(v.addrs[5], a2)
  t.is(v.addrs[6], undefined)
  t.is(v.count, 2)
})
