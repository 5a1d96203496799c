// Durable commits (format v2): flush() writes into the active buffer's
// segment (no file per commit), start-up reads indexes and not pages, a
// torn tail is cut and counted, pages() lists what the log holds, and a
// process that exits without close() still commits what it appended.
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

import { PageLog, WriteBufferError } from '../index.ts'
import logPayload from './fixtures/log-payload.js'
import { sealedGroups, segmentGroups, segmentPath } from './log-files.ts'

const { payload } = logPayload
const execFileP = promisify(execFile)
const EXIT_CHILD = path.resolve('__test__', 'fixtures', 'log-exit.js')

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-commit-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function openLog(t: ExecutionContext, dir: string, opts?: Parameters<typeof PageLog.open>[1]): Promise<PageLog> {
  const log = await PageLog.open(dir, opts)
  t.teardown(() => (log.isClosed ? undefined : log.close().catch(() => undefined)))
  return log
}

/** A copy of `dir` as it is on disk now (what a crash at this moment leaves: the page cache survives a kill). */
function crashImage(t: ExecutionContext, dir: string): string {
  const copy = tempDir(t)
  for (const n of fs.readdirSync(dir)) if (n !== 'LOCK') fs.copyFileSync(path.join(dir, n), path.join(copy, n))
  return copy
}

test('1000 commits make no file: the active segment and the one prepared ahead', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 20 })
  const addrs: bigint[] = []
  for (let i = 0; i < 1000; i++) {
    addrs.push(log.tryAppend(i, payload(1, i)) as bigint)
    await log.flush()
  }
  t.deepEqual(segmentGroups(dir), [1, 2])
  t.deepEqual(sealedGroups(dir), [])
  t.is(log.stats.segmentsCreated, 2)
  t.true(log.stats.commits >= 1000, `${log.stats.commits} commits`)
  // Durable without a seal: a crash image recovers every page.
  const again = await openLog(t, crashImage(t, dir))
  t.is(again.pageCount, 1000)
  for (let i = 0; i < 1000; i += 7) t.deepEqual(await again.read(addrs[i]), payload(1, i))
  t.is(again.stats.tornTails, 0)
})

test('concurrent flush() calls share commits: every call resolves after its own pages are durable', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 20 })
  const clients = 32
  const rounds = 20
  const acked: { id: number; addr: bigint }[] = []
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let r = 0; r < rounds; r++) {
        const id = c * 1000 + r
        const addr = await log.append(id, payload(c, r))
        await log.flush()
        acked.push({ id, addr })
      }
    }),
  )
  t.is(acked.length, clients * rounds)
  t.true(log.stats.commits < clients * rounds, `group commit: ${log.stats.commits} commits for ${clients * rounds} flushes`)
  const again = await openLog(t, crashImage(t, dir))
  for (const { id, addr } of acked) {
    t.is(again.addressOf(id), addr)
    t.deepEqual(await again.read(addr), payload(Math.floor(id / 1000), id % 1000))
  }
})

test('a torn tail of the unsealed segment is cut and counted, never an error; every committed page before it reads back', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16 })
  const addrs: bigint[] = []
  for (let i = 0; i < 50; i++) addrs.push(log.tryAppend(i, payload(1, i)) as bigint)
  await log.flush()
  const image = crashImage(t, dir)
  // A commit that was cut: half a record written after the last one.
  const file = segmentPath(image, 1)
  const bytes = fs.readFileSync(file)
  let end = 64
  while (end < bytes.length && bytes.readUInt32LE(end + 8) !== 0) end += 24 + ((bytes.readUInt32LE(end + 12) + 7) & ~7)
  t.true(end > 64 && end < bytes.length - 200)
  bytes.fill(0xa5, end, end + 100)
  fs.writeFileSync(file, bytes)
  const again = await openLog(t, image)
  t.is(again.stats.tornTails, 1)
  t.is(again.pageCount, 50)
  for (let i = 0; i < 50; i++) t.deepEqual(await again.read(addrs[i]), payload(1, i))
  // The recovered segment was sealed over its torn tail: the next open finds it sealed and whole.
  await again.close()
  t.deepEqual(sealedGroups(image), [1])
  const third = await openLog(t, image)
  t.is(third.stats.tornTails, 0)
  t.is(third.pageCount, 50)
})

test('open reads indexes, not pages; pages() lists the live pages in address order without reading them', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16 })
  const latest = new Map<number, bigint>()
  for (let i = 0; i < 3000; i++) {
    const id = i % 1000
    latest.set(id, log.tryAppend(id, payload(id, i)) ?? (await log.append(id, payload(id, i))))
  }
  await log.close()
  const dataBytes = fs.readdirSync(dir).reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0)
  const again = await openLog(t, dir)
  t.true(again.stats.recoveryBytesRead < dataBytes / 4, `open read ${again.stats.recoveryBytesRead} of ${dataBytes} bytes`)
  const pages = [...again.pages()]
  t.is(pages.length, 1000)
  for (let i = 1; i < pages.length; i++) t.true(pages[i].addr > pages[i - 1].addr, 'address order')
  for (const p of pages) {
    t.is(p.addr, latest.get(Number(p.pageId)) as bigint)
    t.is(typeof p.size, 'number')
  }
  // Bodies on demand, one page each.
  const last = pages[pages.length - 1]
  const body = await again.read(last.addr)
  t.is(body.length, last.size)
  // Appends after open are listed too (from memory), and replace older versions.
  const fresh = again.tryAppend(5, Buffer.from('five')) as bigint
  const listed = [...again.pages()]
  t.is(listed.length, 1000)
  t.deepEqual(listed.at(-1), { pageId: 5n, addr: fresh, size: 4 })
  t.false(listed.some((p) => p.pageId === 5n && p.addr !== fresh))
})

test('a damaged page fails only its own read; the rest of its segment reads back', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16 })
  const addrs: bigint[] = []
  for (let i = 0; i < 20; i++) addrs.push(log.tryAppend(i, Buffer.alloc(200, i)) as bigint)
  await log.close()
  const file = segmentPath(dir, 1)
  const bytes = fs.readFileSync(file)
  const at = bytes.indexOf(Buffer.alloc(200, 7))
  t.true(at > 0)
  bytes[at + 100] ^= 0xff
  fs.writeFileSync(file, bytes)
  const again = await openLog(t, dir)
  for (let i = 0; i < 20; i++) {
    if (i === 7) t.is((await t.throwsAsync(again.read(addrs[i]), { instanceOf: WriteBufferError }))?.code, 'ERR_CORRUPT')
    else t.deepEqual(await again.read(addrs[i]), Buffer.alloc(200, i))
  }
})

test('reads asked for together (one batch to the pool) settle each on its own: pages in order, a damaged page and a wrong address reject alone', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16 })
  const addrs: bigint[] = []
  for (let i = 0; i < 1500; i++) {
    const a = log.tryAppend(i, Buffer.alloc(16 + (i % 64), i & 0xff)) ?? (await log.append(i, Buffer.alloc(16 + (i % 64), i & 0xff)))
    addrs.push(a)
  }
  await log.close()
  // Damage page 7's body in its segment file.
  const file = segmentPath(dir, Number(addrs[7] >> 32n))
  const bytes = fs.readFileSync(file)
  const body = Buffer.alloc(16 + 7, 7)
  const at = bytes.indexOf(body)
  t.true(at > 0)
  bytes[at + 3] ^= 0xff
  fs.writeFileSync(file, bytes)
  const again = await openLog(t, dir)
  // All 1500 at once (more than one task's worth), plus an address inside
  // page 0's record (no page starts there), and a repeat of page 1.
  const wrong = addrs[0] + 8n
  const asked = [...addrs, wrong, addrs[1]]
  const settled = await Promise.allSettled(asked.map((a) => again.read(a)))
  let bad = 0
  for (let i = 0; i < addrs.length; i++) {
    const s = settled[i]
    if (i === 7) {
      t.is(s.status, 'rejected')
      if (s.status === 'rejected') t.is((s.reason as WriteBufferError).code, 'ERR_CORRUPT')
    } else if (s.status !== 'fulfilled' || !s.value.equals(Buffer.alloc(16 + (i % 64), i & 0xff))) bad++
  }
  t.is(bad, 0)
  const w = settled[addrs.length]
  t.is(w.status, 'rejected')
  if (w.status === 'rejected') {
    t.true(w.reason instanceof WriteBufferError)
    t.is((w.reason as WriteBufferError).code, 'ERR_INVALID_ADDR')
  }
  const again1 = settled[addrs.length + 1]
  t.true(again1.status === 'fulfilled' && again1.value.equals(Buffer.alloc(17, 1)))
  // Each page its own Buffer: writing one changes no other.
  const [p2, p3] = await Promise.all([again.read(addrs[2]), again.read(addrs[3])])
  p2.fill(0xee)
  t.true(p3.equals(Buffer.alloc(19, 3)))
  t.true((await again.read(addrs[2])).equals(Buffer.alloc(18, 2)))
})

test('reads of sealed segments keep at most maxOpenFiles files open', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxOpenFiles: 3 })
  const addrs: bigint[] = []
  for (let i = 0; i < 300; i++) addrs.push(log.tryAppend(i, payload(1, i)) ?? (await log.append(i, payload(1, i))))
  await log.rotate()
  t.true(sealedGroups(dir).length > 10)
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 300; i += 3) t.deepEqual(await log.read(addrs[i]), payload(1, i))
    t.true(log.stats.openFiles <= 3, `${log.stats.openFiles} files open`)
  }
})

test('1000 segments recover, in group order, with every page', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1024, maxBuffers: 4 })
  const addrs: bigint[] = []
  // 5 pages (16 + 176 bytes each) per 1 KiB buffer: 1000 buffers.
  for (let i = 0; i < 5000; i++) addrs.push(log.tryAppend(i, Buffer.alloc(170, i)) ?? (await log.append(i, Buffer.alloc(170, i))))
  await log.close()
  const groups = sealedGroups(dir)
  t.true(groups.length >= 1000, `${groups.length} segments`)
  const again = await openLog(t, dir)
  t.is(again.stats.recoveredFiles, groups.length)
  t.is(again.pageCount, 5000)
  t.is(again.nextGroupId, groups.at(-1)! + 1)
  for (let i = 0; i < 5000; i += 97) t.deepEqual(await again.read(addrs[i]), Buffer.alloc(170, i))
})

for (const mode of ['drain', 'exit', 'workers'] as const) {
  test(`a process that ends without close() (${mode}) commits what it appended at exit`, async (t) => {
    const dir = tempDir(t)
    const { stdout } = await execFileP(process.execPath, [EXIT_CHILD, dir, mode, '50'])
    const addrs = (JSON.parse(stdout) as { addrs: string[] }).addrs.map(BigInt)
    t.is(addrs.length, mode === 'workers' ? 100 : 50)
    const log = await openLog(t, dir)
    t.is(log.pageCount, addrs.length)
    for (let i = 0; i < 50; i++) t.deepEqual(await log.read(addrs[i]), payload(1, i))
    for (let i = 50; i < addrs.length; i++) t.deepEqual(await log.read(addrs[i]), payload(2, i - 50))
  })
}

test('commitOnExit: false leaves uncommitted appends behind at exit, as a kill would', async (t) => {
  const dir = tempDir(t)
  const { stdout } = await execFileP(process.execPath, [EXIT_CHILD, dir, 'no-commit', '50'])
  t.is((JSON.parse(stdout) as { addrs: string[] }).addrs.length, 50)
  const log = await openLog(t, dir)
  t.is(log.pageCount, 0)
})

test('flushIntervalMs commits on a timer: pages appended 200 ms before a kill -9 are durable', async (t) => {
  const dir = tempDir(t)
  const child = await execFileP(process.execPath, [EXIT_CHILD, dir, 'interval', '50']).catch((e: { stdout: string; signal: string }) => e)
  t.is((child as { signal?: string }).signal, 'SIGKILL')
  const addrs = (JSON.parse(child.stdout) as { addrs: string[] }).addrs.map(BigInt)
  const log = await openLog(t, dir)
  t.is(log.pageCount, 50)
  for (let i = 0; i < 50; i++) t.deepEqual(await log.read(addrs[i]), payload(1, i))
})

test('flushIntervalMs and commitOnExit are checked', async (t) => {
  const dir = tempDir(t)
  await t.throwsAsync(PageLog.open(dir, { flushIntervalMs: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  await t.throwsAsync(PageLog.open(dir, { flushIntervalMs: 1.5 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  await t.throwsAsync(PageLog.open(dir, { flushIntervalMs: '10' as never }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
  await t.throwsAsync(PageLog.open(dir, { commitOnExit: 1 as never }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
  const log = await openLog(t, dir, { flushIntervalMs: 0, commitOnExit: false })
  t.is(log.stats.commits, 0)
})

test('a flush() inside a writer callback resolves, and commits the page as the callback left it', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16 })
  const before = log.tryAppend(1, Buffer.from('before')) as bigint
  let inner: Promise<void> | undefined
  let nested: bigint | undefined
  const a = log.tryAppend(
    2,
    (view) => {
      view.fill(0x11)
      nested = log.tryAppend(3, Buffer.from('nested')) as bigint
      inner = log.flush()
      view.fill(0x22)
    },
    64,
  ) as bigint
  await inner
  const after = log.tryAppend(4, Buffer.from('after')) as bigint
  await log.flush()
  const again = await openLog(t, crashImage(t, dir))
  t.deepEqual(await again.read(before), Buffer.from('before'))
  t.deepEqual(await again.read(a), Buffer.alloc(64, 0x22))
  t.deepEqual(await again.read(nested as bigint), Buffer.from('nested'))
  t.deepEqual(await again.read(after), Buffer.from('after'))
})
