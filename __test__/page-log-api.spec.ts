import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import test, { type ExecutionContext } from 'ava'

import { PageLog } from '../index.ts'

const WRITER = path.resolve('__test__', 'fixtures', 'log-writer.js')

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-api-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('await using closes a PageLog at the end of its scope: pages durable, the directory unlocked', async (t) => {
  const dir = tempDir(t)
  let seen: PageLog | undefined
  {
    await using log = await PageLog.open(dir, { bufferSize: 1 << 12 })
    seen = log
    await log.append(7n, Buffer.from('kept'))
    t.false(log.isClosed)
  }
  t.true(seen.isClosed)
  await using again = await PageLog.open(dir) // the lock was released
  const addr = again.addressOf(7n)
  t.is(typeof addr, 'bigint')
  t.deepEqual(await again.read(addr as bigint), Buffer.from('kept'))
  t.is(typeof again[Symbol.asyncDispose], 'function')
})

test("the owner's stats.appends counts its writers' appends once it seals the buffers they went to", async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 14, maxBuffers: 3 })
  const handle = log.share()
  const N = 400
  const done = [1, 2].map(
    (w) =>
      new Promise<{ stats: { appends: number } }>((resolve, reject) => {
        const worker = new Worker(WRITER, { workerData: { handle, w, n: N, flush: false, holdOpen: false }, execArgv: [] })
        t.teardown(() => worker.terminate())
        worker.on('message', (m: { type: string; message?: string; stats: { appends: number } }) =>
          m.type === 'done' ? resolve(m) : reject(new Error(m.message)),
        )
        worker.once('error', reject)
      }),
  )
  for (let i = 0; i < 50; i++) await log.append(BigInt(i), Buffer.alloc(16, i))
  const results = await Promise.all(done)
  t.deepEqual(results.map((r) => r.stats.appends), [N, N])
  await log.flush()
  t.is(log.pageCount, 50 + 2 * N, "the writers' pages are indexed as they are committed")
  await log.rotate()
  t.is(log.stats.appends, 50 + 2 * N, "the owner's and both writers' appends, counted as their buffers are sealed")
  t.is(log.pageCount, 50 + 2 * N)
  await log.close()
})

test('one shape per call: append and read always return a promise; tryAppend and tryRead answer now or null', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 12, maxBuffers: 1 })
  const p = log.append(1n, Buffer.from('one'))
  t.true(p instanceof Promise, 'append on the fast path is a promise too')
  const a = await p
  t.true(log.read(a) instanceof Promise, 'read from memory is a promise too')
  t.deepEqual(log.tryRead(a), Buffer.from('one'))
  // Fill the one buffer: tryAppend then says null and appends nothing.
  let n = 1
  while (log.tryAppend(BigInt(++n), Buffer.alloc(1000)) !== null);
  const before = { ...log.stats, pages: log.pageCount }
  t.is(log.tryAppend(999n, Buffer.from('waits')), null)
  t.is(log.tryAppend(998n, () => t.fail('a writer of a refused tryAppend is never called'), 4), null)
  t.deepEqual({ ...log.stats, pages: log.pageCount }, before, 'nothing appended, no stall counted')
  const waiting = log.append(999n, Buffer.from('waits'))
  t.is(log.tryAppend(997n, Buffer.from('x')), null, 'behind a waiting append, tryAppend says null')
  const w = await waiting
  t.is(log.stats.stalls, 1)
  await log.rotate()
  // Sealed into its segment: tryRead does no I/O, so it says null; read reads the page.
  t.is(log.tryRead(a), null)
  t.deepEqual(await log.read(a), Buffer.from('one'))
  t.is(log.tryRead(a), null)
  t.deepEqual(await log.read(w), Buffer.from('waits'))

  const writer = PageLog.attach(log.share())
  const wp = writer.append(5n, Buffer.from('five'))
  t.true(wp instanceof Promise)
  const wa = writer.tryAppend(6n, Buffer.from('six'))
  t.is(typeof wa, 'bigint')
  await writer.flush()
  t.deepEqual(await log.read(await wp), Buffer.from('five'))
  t.deepEqual(await log.read(wa as bigint), Buffer.from('six'))
  writer.close()
  await log.close()
})
