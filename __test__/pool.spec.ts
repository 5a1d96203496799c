import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'

import { ArenaPool, PageFile, WriteBuffer, WriteBufferError, liveArenas, type WriteBufferOptions } from '../index.ts'

/** Lets any deferred finalizer run (dispose() itself gives the arena back synchronously). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await tick()
}

test('dispose() empties this thread\'s views and makes every call throw ERR_CLOSED', async (t) => {
  const wb = new WriteBuffer(7, 4096)
  const a = wb.allocPage(1n, 100, true)
  a.page.fill(9)
  const header = a.header
  const lane = wb.lane(512)
  t.false(wb.isDisposed)
  wb.dispose()
  t.true(wb.isDisposed)
  t.is(a.page.length, 0, 'the view is detached: no byte of the arena is reachable')
  t.is(a.page.buffer.byteLength, 0)
  const closed = { instanceOf: WriteBufferError, code: 'ERR_CLOSED' }
  t.throws(() => wb.allocPage(2n, 10, false), closed)
  t.throws(() => wb.allocated, closed)
  t.throws(() => wb.releaseWriter(), closed)
  t.throws(() => wb.seal(), closed)
  t.throws(() => wb.page(a.addr), closed)
  t.throws(() => wb.records(), closed)
  t.throws(() => wb.deallocPages([a.addr], false), closed)
  t.throws(() => wb.batch([[1n, 10]], []), closed)
  t.throws(() => wb.lane(64), closed)
  t.throws(() => lane.allocPage(3n, 10), closed)
  t.throws(() => header.pageSize, closed)
  t.throws(() => header.setTombstone(), closed)
  t.throws(() => wb.onFlushed(), closed)
  t.throws(() => wb.share(), closed)
  await t.throwsAsync(wb.waitFlushed(), closed)
  await t.throwsAsync(wb.flushTo(path.join(os.tmpdir(), 'never-written.page')), closed)
  t.notThrows(() => wb.dispose(), 'a second dispose does nothing')
  t.notThrows(() => wb[Symbol.dispose]())
  t.is(wb.groupId, 7, 'plain properties stay readable')
})

test('a disposed buffer never reaches the buffer that takes its slot', (t) => {
  const a = new WriteBuffer(1, 1024)
  a.dispose()
  const b = new WriteBuffer(2, 1024) // reuses the freed slot on this thread
  const p = b.allocPage(5n, 8, false)
  t.throws(() => a.allocPage(6n, 8, false), { code: 'ERR_CLOSED' })
  t.throws(() => a.seal(), { code: 'ERR_CLOSED' })
  t.is(b.allocated, 8 + 16, 'b saw only its own reservation')
  t.false(b.isSealed)
  t.is(b.page(p.addr).length, 8)
})

test('an ArenaPool hands a disposed buffer\'s arena to the next buffer, re-zeroed', async (t) => {
  const pool = new ArenaPool(1 << 16, 2)
  const first = new WriteBuffer(1, 1 << 16, { pool })
  const old: bigint[] = []
  for (let i = 0; i < 200; i++) {
    const a = first.allocPage(BigInt(i), 100, false)
    a.page.fill(0xee)
    old.push(a.addr)
  }
  const used = first.allocated
  t.deepEqual(pool.stats, { idle: 0, inUse: 1, created: 1, reused: 0 })
  first.dispose()
  t.deepEqual(pool.stats, { idle: 1, inUse: 0, created: 1, reused: 0 }, 'given back synchronously')

  const next = new WriteBuffer(1, 1 << 16, { pool }) // same group id on purpose: old addresses must not resolve
  t.deepEqual(pool.stats, { idle: 0, inUse: 1, created: 1, reused: 1 })
  t.true(next.isEmpty)
  for (const addr of old.slice(0, 20)) t.throws(() => next.page(addr), { code: 'ERR_INVALID_ADDR' })
  const big = next.allocPage(99n, used - 16, false)
  t.true(big.page.every((b) => b === 0), 'every byte the last buffer used reads zero again')
  next.seal()
  const recs = [...next.records()]
  t.is(recs.length, 1)
  t.is(recs[0].addr, big.addr)
})

test.serial('ArenaPool: limit, clear(), close() and liveArenas()', async (t) => {
  await settle()
  const before = liveArenas()
  const pool = new ArenaPool(4096, 2)
  const bufs = [0, 1, 2].map((g) => new WriteBuffer(g, 4096, { pool }))
  t.is(pool.stats.inUse, 3, 'use beyond the limit is allowed')
  t.is(liveArenas(), before + 3)
  for (const wb of bufs) wb.dispose()
  await settle()
  t.deepEqual(pool.stats, { idle: 2, inUse: 0, created: 3, reused: 0 }, 'kept at most limit')
  t.is(liveArenas(), before + 2, 'idle arenas are live (allocated) arenas')
  pool.clear()
  t.is(pool.stats.idle, 0)
  t.is(liveArenas(), before)
  const held = new WriteBuffer(9, 4096, { pool })
  pool.close()
  held.dispose()
  await settle()
  t.is(pool.stats.idle, 0, 'a closed pool frees what is given back')
  t.is(liveArenas(), before)
})

test('ArenaPool and the pool option check their arguments', (t) => {
  t.throws(() => new ArenaPool(1000, 1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new ArenaPool(1024, 0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new ArenaPool('1024' as unknown as number, 1), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  const pool = new ArenaPool(1024, 1)
  t.throws(() => new WriteBuffer(1, 2048, { pool }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new WriteBuffer(1, 1024, { pool: {} as ArenaPool }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new WriteBuffer(1, 1024, null as unknown as WriteBufferOptions), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.is(pool.stats.created, 0, 'no arena was taken by a refused constructor')
})

test('a flush in progress keeps the arena of a buffer disposed meanwhile', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-pool-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pool = new ArenaPool(1 << 20, 1)
  const wb = new WriteBuffer(3, 1 << 20, { pool })
  const want = new Map<bigint, Buffer>()
  for (let i = 0; i < 2000; i++) {
    const a = wb.allocPage(BigInt(i), 400, false)
    a.page.fill(i & 0xff)
    want.set(a.addr, Buffer.from(a.page))
  }
  wb.seal()
  const flushing = wb.flushTo(path.join(dir, '3.page'))
  wb.dispose()
  // A buffer taking arenas from the same pool meanwhile gets a fresh one.
  const other = new WriteBuffer(4, 1 << 20, { pool })
  other.allocPage(1n, 1000, false).page.fill(0x55)
  const res = await flushing
  t.is(res.records, 2000)
  const pf = await PageFile.open(res.path)
  for (const [addr, bytes] of want) t.deepEqual(pf.page(addr), bytes)
  t.is(pool.stats.reused, 0)
  other.dispose()
})

test('dispose() on one thread leaves the other threads\' attachments working', async (t) => {
  const wb = new WriteBuffer(5, 1 << 16)
  const handle = wb.share()
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads')
    const { WriteBuffer } = require(workerData.index)
    const wb = WriteBuffer.attach(workerData.handle)
    parentPort.once('message', () => {
      // main has disposed its object: this thread's attachment still works
      const a = wb.allocPage(77n, 64, false)
      a.page.fill(0x42)
      const disposedHere = new WriteBuffer(1, 64)
      disposedHere.dispose()
      parentPort.postMessage({ addr: a.addr, allocated: wb.allocated, sum: a.page.reduce((x, y) => x + y, 0) })
    })
    parentPort.postMessage('ready')
    `,
    { eval: true, workerData: { handle, index: path.resolve('index.js') } },
  )
  t.teardown(() => worker.terminate())
  const second = WriteBuffer.attach(handle) // a second object on this thread
  await new Promise((resolve) => worker.once('message', resolve))
  wb.dispose()
  worker.postMessage('go')
  const reply = await new Promise<{ addr: bigint; allocated: number; sum: number }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  t.is(reply.sum, 64 * 0x42)
  t.is(second.allocated, reply.allocated, 'same state word')
  t.deepEqual([...second.page(reply.addr)], new Array(64).fill(0x42), 'same arena')
  t.throws(() => wb.page(reply.addr), { code: 'ERR_CLOSED' })
})
