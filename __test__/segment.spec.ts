import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { WriteBuffer, WriteBufferError } from '../index.ts'
import { Segment, recoverSegments } from '../src/segment.ts'
import payload from './fixtures/thread-payload.js'
import { testAddonEnv } from './test-addon.ts'

/** A fresh temp directory, removed when the test ends. */
function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-segment-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function body(id: number, size: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (id * 31 + i * 7) & 0xff
  return b
}

/** Appends page `id` the segment way: reserve with a writer, fill, mark complete, release. */
function append(wb: WriteBuffer, seg: Segment, id: number, size: number): bigint {
  const p = wb.allocPage(id, size, true)
  body(id, size).copy(p.page)
  seg.markComplete(p.addr)
  wb.releaseWriter()
  return p.addr
}

test('commit makes appended pages durable and readable, one pread each', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(7, 1 << 16)
  const seg = await Segment.prepare(dir, wb)
  t.is(seg.groupId, 7)
  t.is(path.basename(seg.path), 'seg-00000007.pws')
  const addrs = [1, 2, 3].map((id) => append(wb, seg, id, 100 * id))
  await seg.commit()
  for (const [i, addr] of addrs.entries()) t.deepEqual(seg.read(addr), body(i + 1, 100 * (i + 1)))
  const recs = seg.records()
  t.deepEqual([...recs.pageIds], [1n, 2n, 3n])
  t.deepEqual([...recs.addrs], addrs)
  t.is(seg.stats().syncs, 1)
  // Not a committed page.
  const e = t.throws(() => seg.read(addrs[0] + 8n), { instanceOf: WriteBufferError })
  t.is(e?.code, 'ERR_INVALID_ADDR')
  // Recovered by the walk (unsealed), then sealed and recovered from the index.
  let r = await recoverSegments(dir)
  t.is(r.segments.length, 1)
  t.false(r.segments[0].sealed)
  t.is(r.segments[0].torn, 0)
  t.deepEqual([...r.segments[0].addrs], addrs)
  wb.seal()
  const sealed = await seg.seal()
  t.is(sealed.records, 3)
  r = await recoverSegments(dir)
  t.true(r.segments[0].sealed)
  t.is(r.segments[0].torn, 0)
  t.deepEqual(r.read(addrs[2]), body(3, 300))
  t.true(r.bytesRead < sealed.fileLen)
  seg.dispose()
})

test('concurrent commits share fdatasyncs and all resolve after their pages are durable', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(1, 1 << 20)
  const seg = await Segment.prepare(dir, wb)
  const clients = 32
  const rounds = 5
  for (let round = 0; round < rounds; round++) {
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const id = round * clients + c
        const addr = append(wb, seg, id, 64)
        await seg.commit()
        t.deepEqual(seg.read(addr), body(id, 64))
      }),
    )
  }
  const st = seg.stats()
  t.is(st.records, clients * rounds)
  // One commit running and one queued at a time: far fewer syncs than commits.
  t.true(st.syncs <= 2 * rounds, `${st.syncs} syncs for ${clients * rounds} commits`)
  seg.dispose()
})

test('a page appended without a mark is committed once the buffer is flushable', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(2, 4096)
  const seg = await Segment.prepare(dir, wb)
  const addr = wb.writePage(5, body(5, 10), false)
  // Unmarked: complete only once sealed with no writer (as for a v1 flush).
  wb.seal()
  await seg.commit()
  t.deepEqual(seg.read(addr), body(5, 10))
  t.throws(() => seg.markComplete(addr + 8n), { instanceOf: WriteBufferError })
  seg.dispose()
})

test('a damaged segment index rejects ERR_CORRUPT naming the file; a damaged page fails only its read', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(3, 1 << 14)
  const seg = await Segment.prepare(dir, wb)
  const addrs = [0, 1, 2, 3].map((id) => append(wb, seg, id, 500))
  await seg.commit()
  wb.seal()
  await seg.seal()
  const recs = seg.records()
  const file = seg.path
  seg.dispose()
  // Damage page 2's body: open still works, only that read fails.
  const bytes = fs.readFileSync(file)
  bytes[recs.filePos[2] + 24 + 10] ^= 0x40
  fs.writeFileSync(file, bytes)
  const r = await recoverSegments(dir)
  for (const [i, addr] of addrs.entries()) {
    if (i === 2) t.is((t.throws(() => r.read(addr)) as WriteBufferError | undefined)?.code, 'ERR_CORRUPT')
    else t.deepEqual(r.read(addr), body(i, 500))
  }
  // Damage the index: open fails.
  const index = recs.filePos[3] + 24 + 504
  bytes[index + 3] ^= 0x01
  fs.writeFileSync(file, bytes)
  const e = await t.throwsAsync(recoverSegments(dir), { instanceOf: WriteBufferError })
  t.is(e?.code, 'ERR_CORRUPT')
  t.regex(e?.message ?? '', /seg-00000003\.pws/)
})

test('commitSync commits on the calling thread; a recovery reader adopts a sealed segment and keeps few files open', async (t) => {
  const dir = tempDir(t)
  const r = await recoverSegments(dir, { maxOpenFiles: 2 })
  t.is(r.segments.length, 0)
  const addrs: bigint[] = []
  for (let g = 0; g < 4; g++) {
    const wb = new WriteBuffer(g, 4096)
    const seg = await Segment.prepare(dir, wb)
    addrs.push(append(wb, seg, g, 50))
    seg.commitSync()
    t.is(seg.stats().syncs, 1)
    wb.seal()
    await seg.seal()
    r.adopt(seg)
    seg.dispose()
  }
  for (const [g, addr] of addrs.entries()) t.deepEqual(r.read(addr), body(g, 50))
  t.is(r.openFiles, 2)
  const again = await recoverSegments(dir)
  t.deepEqual(
    again.segments.map((s) => [s.groupId, s.sealed, s.addrs[0]]),
    addrs.map((a, g) => [g, true, a]),
  )
})

test('an unsealed segment recovered after a crash seals over its torn tail', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(9, 1 << 14)
  const seg = await Segment.prepare(dir, wb)
  const addrs = [0, 1, 2].map((id) => append(wb, seg, id, 200))
  await seg.commit()
  const recs = seg.records()
  seg.dispose()
  // A torn write after the last commit: garbage where the next record would go.
  const end = recs.filePos[2] + 24 + 200
  const fd = fs.openSync(seg.path, 'r+')
  fs.writeSync(fd, Buffer.alloc(40, 0xee), 0, 40, end)
  fs.closeSync(fd)
  let r = await recoverSegments(dir)
  t.deepEqual([r.segments[0].sealed, r.segments[0].torn], [false, 1])
  t.deepEqual([...r.segments[0].addrs], addrs)
  const sealed = await r.seal(0)
  t.is(sealed.records, 3)
  t.is(fs.statSync(seg.path).size, sealed.fileLen)
  r = await recoverSegments(dir)
  t.deepEqual([r.segments[0].sealed, r.segments[0].torn], [true, 0])
  for (const [i, addr] of addrs.entries()) t.deepEqual(r.read(addr), body(i, 200))
})

test("segments over a buffer in the 'js' arena mode (SharedArrayBuffer) commit, seal and recover", (t) => {
  const dir = tempDir(t)
  const child = path.join(payload.DIR, 'segment-js-arena-child.js')
  const out = execFileSync(process.execPath, [child, dir], {
    cwd: path.join(payload.DIR, '..', '..'),
    // The simulated refusal exists only in the test build of the addon.
    env: { ...process.env, ...testAddonEnv(), PHOTON_WB_SIMULATE_NO_EXTERNAL: '1' },
    encoding: 'utf8',
  })
  t.deepEqual(JSON.parse(out.trim().split('\n').pop() ?? ''), {
    borrowed: true,
    live: [true, true, true],
    records: 3,
    sealed: true,
    recovered: [true, true, true],
  })
})
