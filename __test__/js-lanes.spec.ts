import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import { PageFile, WriteBuffer, WriteBufferError, recordSize, TOMBSTONE } from '../index.ts'

// Lane pages are allocated in JS (the header written through the arena);
// the native side checks the header chain once, at close. These tests pin
// what that must keep: a chain overwritten through a view is never trusted,
// a lane's pages are found by page(addr) before it closes, a worker that
// dies mid-lane leaves an iterable buffer, and buffers written by lanes and
// by native reservations alike iterate and flush the same.

/** The header words of the record whose body `page` views. */
function headerOf(page: Buffer): DataView {
  return new DataView(page.buffer, page.byteOffset - 16, 16)
}

for (const [what, scribble] of [
  ['flags of no known kind', (h: DataView) => h.setUint32(8, 0x40, true)],
  ['a size past the lane', (h: DataView) => h.setUint32(12, 5000, true)],
] as const) {
  test(`a lane header overwritten with ${what} makes the lane's remainder a tombstone, reported by close()`, (t) => {
    const wb = new WriteBuffer(2, 4096)
    const lane = wb.lane(512)
    const a = lane.allocPage(1n, 10)
    const b = lane.allocPage(2n, 20)
    lane.allocPage(3n, 30)
    a.page.fill(1)
    scribble(headerOf(b.page))
    const after = wb.allocPage(9n, 8, false) // after the lane: untouched
    const err = t.throws(() => lane.close(), { instanceOf: WriteBufferError, code: 'ERR_CORRUPT' })
    t.regex(err?.message ?? '', new RegExp(`offset ${recordSize(10)}\\b`))
    t.is((err as WriteBufferError & { releaseState?: string }).releaseState, 'none')
    t.true(lane.isClosed, 'the lane is closed all the same')
    t.is(wb.writers, 0, 'its writer is released')
    t.throws(() => lane.close(), { code: 'ERR_CLOSED' })
    // The remainder, from the broken header to the lane's end, is one tombstone.
    const h = headerOf(b.page)
    t.is(h.getUint32(8, true), TOMBSTONE)
    t.is(16 + h.getUint32(12, true), 512 - recordSize(10))
    t.throws(() => wb.page(b.addr), { code: 'ERR_INVALID_ADDR' })
    t.is(wb.page(a.addr)[0], 1)
    t.is(wb.seal(), 'flush')
    t.deepEqual(
      [...wb.records()].map((r) => r.kind === 'page' && r.pageId),
      [1n, 9n],
    )
    t.is(wb.page(after.addr).length, 8)
  })
}

test('a corrupt lane closed last reports that the buffer is now flushable', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(256)
  const a = lane.allocPage(1n, 10)
  headerOf(a.page).setUint32(8, 0, true)
  t.is(wb.seal(), 'none')
  const err = t.throws(() => lane.close(), { code: 'ERR_CORRUPT' })
  t.is((err as WriteBufferError & { releaseState?: string }).releaseState, 'flush')
  t.deepEqual([...wb.records()], [])
})

test("a lane page is found by page(addr) and its header calls on the lane's thread before the lane closes", (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(1024)
  const a = lane.allocPage(7n, 10)
  a.page.write('0123456789')
  t.is(wb.page(a.addr).toString(), '0123456789')
  const b = lane.allocPage(8n, 4)
  t.is(b.header.pageSize, 4)
  b.header.setPageId(80n)
  t.is(b.header.pageId, 80n)
  const c = lane.allocPage(9n, 4)
  c.header.setTombstone()
  t.true(c.header.isTombstone)
  // Mid-record addresses stay refused.
  t.throws(() => wb.page(a.addr + 8n), { code: 'ERR_INVALID_ADDR' })
  t.throws(() => wb.page(a.addr + 1024n), { code: 'ERR_INVALID_ADDR' })
  t.is(lane.close(), 'none')
  t.is(wb.seal(), 'flush')
  t.deepEqual(
    [...wb.records()].map((r) => r.kind === 'page' && r.pageId),
    [7n, 80n],
  )
})

test('a worker terminated in the middle of a lane leaves the buffer flushable with none of its pages', async (t) => {
  const wb = new WriteBuffer(5, 1 << 16)
  const handle = wb.share()
  wb.allocPage(1n, 8, false)
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { WriteBuffer } = require(workerData.index)
     const wb = WriteBuffer.attach(workerData.handle)
     const lane = wb.lane(8192)
     const pages = []
     for (let i = 0; i < 20; i++) pages.push(lane.allocPage(100 + i, 50).page.fill(i))
     // Half of them looked up (marked by the native side), half not.
     wb.page(lane.allocPage(200, 8).addr)
     for (let i = 0; i < 20; i++) lane.allocPage(300 + i, 50)
     parentPort.postMessage('mid-lane')
     setInterval(() => {}, 1000)`,
    { eval: true, workerData: { handle, index: path.resolve('index.js') } },
  )
  await new Promise((r) => worker.once('message', r))
  t.is(wb.writers, 1)
  await worker.terminate()
  t.is(wb.writers, 0)
  t.is(wb.seal(), 'flush')
  t.deepEqual(
    [...wb.records()].map((r) => r.kind === 'page' && r.pageId),
    [1n],
  )
})

test('a buffer written by lanes, native reservations and batches iterates and flushes the same records', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-js-lanes-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const wb = new WriteBuffer(4, 1 << 16)
  const expected: [bigint, number][] = []
  const lane = wb.lane(2048)
  for (let i = 0; i < 10; i++) {
    const id = i % 2 === 0 ? BigInt(i) : (1n << 40n) + BigInt(i) // a high word too
    const a = lane.allocPage(id, i * 7)
    a.page.fill(i)
    expected.push([id, i * 7])
  }
  const p = wb.allocPage(2n ** 64n - 1n, 33, false)
  p.page.fill(0xee)
  expected.push([2n ** 64n - 1n, 33])
  const other = wb.lane(64)
  other.allocPage(Number.MAX_SAFE_INTEGER, 3).page.fill(3)
  expected.push([BigInt(Number.MAX_SAFE_INTEGER), 3])
  // (A dealloc of another group's page: a flush keeps it.)
  const freed = (9n << 32n) | 16n
  const { pages } = wb.batch([[77n, 5]], [freed])
  pages[0].page.fill(5)
  expected.push([77n, 5])
  t.is(lane.close(), 'none')
  t.is(other.close(), 'none')
  t.is(wb.releaseWriter(), 'none') // the batch's
  t.is(wb.seal(), 'flush')
  const fromBuffer = [...wb.records()].map((r) =>
    r.kind === 'page' ? ['page', r.pageId, r.page.length, r.addr] : ['dealloc', r.addrs, r.addr],
  )
  t.deepEqual(
    fromBuffer.filter((r) => r[0] === 'page').map((r) => [r[1], r[2]]),
    expected,
  )
  t.deepEqual(fromBuffer.at(-1)?.slice(0, 2), ['dealloc', [freed]])
  const out = await wb.flushTo(path.join(dir, '4.page'))
  const pf = await PageFile.open(out.path)
  t.teardown(() => pf.close())
  const fromFile = [...pf.records()].map((r) =>
    r.kind === 'page' ? ['page', r.pageId, r.page.length, r.addr] : ['dealloc', r.addrs, r.addr],
  )
  t.deepEqual(fromFile, fromBuffer)
})

test("a segment's markComplete finds a lane page before the lane closes, on the lane's thread", async (t) => {
  const { Segment } = await import('../src/segment.ts')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-js-lanes-seg-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const wb = new WriteBuffer(8, 1 << 16)
  const seg = await Segment.prepare(dir, wb)
  const lane = wb.lane(4096)
  const a = lane.allocPage(1n, 100)
  a.page.fill(7)
  seg.markComplete(a.addr)
  t.throws(() => seg.markComplete(a.addr + 8n), { instanceOf: WriteBufferError })
  // (A commit covers what was reserved before it: the whole lane, whose
  // rest is complete once it closes.)
  t.is(lane.close(), 'none')
  await seg.commit()
  t.deepEqual(seg.read(a.addr), Buffer.alloc(100, 7))
})
