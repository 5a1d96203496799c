import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import { PageFile, WriteBufferError } from '../index.ts'
import { recoverSegments } from '../src/segment.ts'
import { segmentGroups } from './log-files.ts'
import { PageLog, type PageLogHandle } from '../index.ts'
import logPayload from './fixtures/log-payload.js'

const { payload, pageIdOf } = logPayload
const WRITER = path.resolve('__test__', 'fixtures', 'log-writer.js')

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-threads-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A log in a fresh directory whose active buffer's segment is prepared and
 * bound (that happens once a commit of the owner's has run): a writer's
 * flush() can then commit from its own thread.
 */
async function openBound(t: ExecutionContext): Promise<{ dir: string; log: PageLog }> {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 16 })
  await log.append(1n, Buffer.from('the owner\'s'))
  await log.flush()
  return { dir, log }
}

interface Done {
  readonly type: 'done'
  readonly w: number
  readonly addrs: string[]
  readonly stats: { appends: number; stalls: number }
}

/** Starts a writer worker; resolves with its 'done' message. */
function writer(t: ExecutionContext, handle: PageLogHandle, w: number, n: number, opts: { flush?: boolean; holdOpen?: boolean } = {}): { done: Promise<Done>; worker: Worker } {
  const worker = new Worker(WRITER, { workerData: { handle, w, n, flush: opts.flush ?? false, holdOpen: opts.holdOpen ?? false }, execArgv: [] })
  t.teardown(() => worker.terminate())
  const done = new Promise<Done>((resolve, reject) => {
    worker.on('message', (m: Done | { type: 'error'; message: string }) => {
      if (m.type === 'done') resolve(m)
      else if (m.type === 'error') reject(new Error(`writer ${w}: ${m.message}`))
    })
    worker.once('error', reject)
  })
  return { done, worker }
}

/** Groups with a segment in `dir`. */
const groups = segmentGroups

test('four worker writers and the owner append concurrently through rotations: nothing lost, nothing shared, every byte intact', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 15, maxBuffers: 3 })
  const handle = log.share()
  t.is(log.share(), handle, 'one handle per log')
  const N = 3000
  const writers = [1, 2, 3, 4].map((w) => writer(t, handle, w, N))
  // The owner appends at the same time.
  const own: bigint[] = []
  for (let i = 0; i < N; i++) {
    own.push(log.tryAppend(pageIdOf(0, i), payload(0, i)) ?? (await log.append(pageIdOf(0, i), payload(0, i))))
    if (i % 100 === 0) await new Promise((r) => setImmediate(r)) // let worker messages in
  }
  const results = await Promise.all(writers.map((x) => x.done))
  await log.flush()

  const all = new Map<bigint, [number, number]>()
  own.forEach((a, i) => all.set(a, [0, i]))
  for (const r of results) {
    t.is(r.stats.appends, N)
    r.addrs.forEach((a, i) => all.set(BigInt(a), [r.w, i]))
  }
  t.is(all.size, 5 * N, 'every address distinct')
  const onDisk = groups(dir)
  t.true(onDisk.length > 20, `rotated through ${onDisk.length} buffers`)
  t.true(onDisk.every((g, i) => i === 0 || g === onDisk[i - 1] + 1), 'consecutive group ids')
  t.true(log.stats.peakBuffers <= 3)

  // Every page at its address, through the owner, then after a reopen.
  for (const [addr, [w, i]] of all) t.deepEqual(await log.read(addr), payload(w, i))
  for (const [addr, [w, i]] of [...all].filter((_, k) => k % 7 === 0)) t.is(log.addressOf(pageIdOf(w, i)), addr)
  await log.close()
  const again = await PageLog.open(dir)
  t.is(again.pageCount, 5 * N)
  let bad = 0
  for (const [addr, [w, i]] of all) if (!(await again.read(addr)).equals(payload(w, i))) bad++
  t.is(bad, 0)
  await again.close()
})

test('backpressure reaches worker writers: with maxBuffers 1 they wait for every flush and still land in order', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 14, maxBuffers: 1 })
  const handle = log.share()
  const N = 1500
  const results = await Promise.all([1, 2].map((w) => writer(t, handle, w, N).done))
  await log.flush()
  t.true(log.stats.peakBuffers <= 1)
  for (const r of results) {
    t.true(r.stats.stalls > 0, `writer ${r.w} waited ${r.stats.stalls} times`)
    const addrs = r.addrs.map(BigInt)
    for (let i = 1; i < addrs.length; i++) t.true(addrs[i] > addrs[i - 1], 'a writer\'s appends keep their order')
    for (let i = 0; i < N; i += 13) t.deepEqual(await log.read(addrs[i]), payload(r.w, i))
  }
  await log.close()
})

test('writer.flush() resolves only once the writer\'s pages are committed to their segments', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 16, maxBuffers: 4 })
  const r = await writer(t, log.share(), 7, 800, { flush: true }).done
  // The owner has not sealed the active buffer: read the segments straight
  // from disk, as recovery after a crash would (sealed ones by their index,
  // the active one by a walk of its committed records).
  const disk = await recoverSegments(dir, { corrupt: 'list' })
  r.addrs.forEach((a, i) => t.deepEqual(disk.read(BigInt(a)), payload(7, i), `page ${i}`))
  t.true(disk.segments.some((s) => !s.sealed), 'the active segment is committed, not sealed')
  disk.close()
  await log.close()
})

test('a writer\'s flush() commits from its own thread: it resolves while the owner\'s thread is blocked, and the owner indexes the page when it next looks', async (t) => {
  const { dir, log } = await openBound(t)
  const flag = new SharedArrayBuffer(4)
  const worker = new Worker(path.resolve('__test__', 'fixtures', 'log-flush-here.js'), { workerData: { handle: log.share(), flag, pageId: 77n }, execArgv: [] })
  t.teardown(() => worker.terminate())
  const messages: { type: string; addr?: string; message?: string }[] = []
  const ready = new Promise<{ type: string; message?: string }>((resolve) => worker.once('message', resolve))
  worker.on('message', (m: { type: string }) => messages.push(m))
  t.is((await ready).type, 'ready')
  worker.postMessage('go')
  // This thread does not turn its event loop until the worker's flush has
  // resolved (or 20 s passed): a flush that needed the owner could not.
  const woke = Atomics.wait(new Int32Array(flag), 0, 0, 20_000)
  t.not(woke, 'timed-out', 'the writer\'s flush resolved while the owner was blocked')
  t.is(Atomics.load(new Int32Array(flag), 0), 1)
  while (!messages.some((m) => m.type === 'done' || m.type === 'error')) await new Promise((r) => setImmediate(r))
  const done = messages.find((m) => m.type === 'done')
  t.truthy(done, JSON.stringify(messages))
  const addr = BigInt(done?.addr ?? 0)
  t.is(log.addressOf(77n), addr, 'indexed by the owner without a commit of its own')
  t.is(log.pageCount, 3)
  // Durable: read from disk as recovery after a crash would.
  const disk = await recoverSegments(dir, { corrupt: 'list' })
  t.deepEqual(disk.read(addr), Buffer.from('flushed from the worker'))
  disk.close()
  await log.close()
})

test('a writer runs one commit of its own at a time: concurrent flush() calls share the next one, and each resolves with its pages durable', async (t) => {
  const { dir, log } = await openBound(t)
  const w = PageLog.attach(log.share()) // a writer on the owner's own thread
  const addrs: bigint[] = []
  const flushes: Promise<void>[] = []
  for (let i = 0; i < 32; i++) {
    // The first append waits for the buffer's handle (sent by the owner in the 'js' arena mode).
    addrs.push(i === 0 ? await w.append(100n, payload(9, 0)) : (w.tryAppend(100n + BigInt(i), payload(9, i)) as bigint))
    flushes.push(w.flush())
  }
  await Promise.all(flushes)
  t.true(w.stats.commits >= 1 && w.stats.commits <= 2, `${w.stats.commits} commits for 32 flush() calls`)
  const disk = await recoverSegments(dir, { corrupt: 'list' })
  addrs.forEach((a, i) => t.deepEqual(disk.read(a), payload(9, i), `page ${i}`))
  disk.close()
  w.close()
  await log.close()
})

test('after the owner closes, a writer\'s append throws ERR_CLOSED; bad handles are refused', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 16 })
  const { done, worker } = writer(t, log.share(), 3, 50, { holdOpen: true })
  const r = await done
  await log.close()
  const after = new Promise<{ code: string | null }>((resolve) => worker.once('message', resolve))
  worker.postMessage('closed')
  t.is((await after).code, 'ERR_CLOSED')
  const again = await PageLog.open(dir)
  t.deepEqual(await again.read(BigInt(r.addrs[49])), payload(3, 49), 'close() flushed the writer\'s pages')
  await again.close()
  t.throws(() => PageLog.attach({} as PageLogHandle), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => log.share(), { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
})

test('a writer callback that throws in a writer tombstones its record and reaches the caller', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 16 })
  const w = PageLog.attach(log.share()) // a writer on the owner's own thread works too
  const good = w.tryAppend(1n, Buffer.from('kept'))
  t.throws(() => w.tryAppend(2n, () => { throw new Error('boom') }, 16), { message: 'boom' })
  await t.throwsAsync(w.append(5n, () => { throw new Error('boom') }, 16), { message: 'boom' })
  // The same argument checks as PageLog's: tryAppend throws, append rejects.
  t.throws(() => w.tryAppend(4n, Buffer.alloc(4), 5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(w.append(4n, Buffer.alloc(4), 5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => w.tryAppend(4n, () => undefined), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => w.tryAppend(4n, Buffer.alloc(1 << 16)), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE', message: /^PageLogWriter\.tryAppend/ })
  await t.throwsAsync(w.append(4n, Buffer.alloc(1 << 16)), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE', message: /^PageLogWriter\.append/ })
  t.is(typeof good, 'bigint')
  await w.flush()
  t.is(log.addressOf(2n), undefined, 'the tombstoned page is not indexed')
  t.deepEqual(await log.read(good as bigint), Buffer.from('kept'))
  w.close()
  t.throws(() => w.tryAppend(3n, Buffer.alloc(1)), { code: 'ERR_CLOSED' })
  await t.throwsAsync(w.append(3n, Buffer.alloc(1)), { code: 'ERR_CLOSED' })
  await log.close()
})

test("a shared log works in the 'js' arena mode too (handles carry the arena's SharedArrayBuffer)", async (t) => {
  const { execFile } = await import('node:child_process')
  const { promisify } = await import('node:util')
  for (const mode of ['js', 'external']) {
    const dir = tempDir(t)
    const { stdout } = await promisify(execFile)(process.execPath, [path.resolve('__test__', 'fixtures', 'log-shared-child.js'), dir], {
      env: { ...process.env, PHOTON_WB_ARENA: mode },
      timeout: 60_000,
    })
    const r = JSON.parse(stdout) as { arenaMode: string; pages: number; bad: number; distinct: number }
    t.deepEqual(r, { arenaMode: mode, pages: 4000, bad: 0, distinct: 4000 })
  }
})
