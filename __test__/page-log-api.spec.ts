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

test("the owner's stats.appends counts its writers' appends once it flushes the buffers they went to", async (t) => {
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
  t.is(log.stats.appends, 50 + 2 * N, "the owner's and both writers' appends")
  t.is(log.pageCount, 50 + 2 * N)
  await log.close()
})
