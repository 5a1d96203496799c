import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import { PageFile, PageLog, WriteBuffer } from '../index.ts'
import payloadModule from './fixtures/log-payload.js'

// A worker terminated in the middle of an append (between a reservation
// that counts a writer and its release, inside a lane, inside a PageLog
// writer callback) must not wedge the owner: its environment's teardown
// gives up the writer counts it still holds, after tombstoning the records
// they cover. Every run is seeded; each checks that the owner can flush or
// close, that no torn page reaches a page file, and that every page whose
// append returned (acknowledged through shared memory) reads back intact.

const { pageIdOf, payload } = payloadModule as {
  pageIdOf: (w: number, i: number) => bigint
  payload: (w: number, i: number) => Buffer
}

const FIXTURE = path.resolve('__test__', 'fixtures', 'teardown-writer.js')
const RUNS = Number(process.env.PHOTON_WB_TEARDOWN_RUNS ?? 30)
const SEED = Number(process.env.PHOTON_WB_TEARDOWN_SEED ?? 12)
/** Bound on any settle this file waits for. */
const BOUND_MS = 20_000

/** A small seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `p`, or a rejection naming `what` after BOUND_MS. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${BOUND_MS} ms`)), BOUND_MS)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

function idOf(pageId: bigint): [number, number] {
  return [Number(pageId >> 40n), Number(pageId & 0xff_ffff_ffffn)]
}

type Shape = 'acquire' | 'lane' | 'log'

interface Run {
  acked: bigint[]
  /** Whether the worker was in the middle of an append when it died. */
  midAppend: boolean
}

/** Starts a writer of `shape` on `handle`, terminates it after a random delay. */
async function runWorker(
  t: ExecutionContext,
  shape: Shape,
  handle: unknown,
  delayMs: number,
  beforeTerminate: () => void = () => {},
): Promise<Run> {
  const acks = new SharedArrayBuffer(8 * (1 + 200_000))
  const state = new SharedArrayBuffer(8)
  const worker = new Worker(FIXTURE, { workerData: { shape, handle, acks, state, w: 1 }, execArgv: [] })
  let failure: Error | undefined
  worker.on('message', (m) => {
    if (m.type === 'error') failure = new Error(`worker: ${m.message}`)
  })
  worker.on('error', (e) => (failure = e))
  await within(
    new Promise<void>((resolve, reject) => {
      worker.once('message', (m) => (m.type === 'ready' ? resolve() : reject(new Error(JSON.stringify(m)))))
      worker.once('exit', (code) => reject(new Error(`worker exited early (${code})`)))
    }),
    'the worker start',
  )
  await new Promise((r) => setTimeout(r, delayMs))
  beforeTerminate()
  t.is(await within(worker.terminate(), 'terminate()'), 1)
  if (failure !== undefined) throw failure
  const words = new BigUint64Array(acks)
  const n = Number(words[0])
  return { acked: Array.from(words.subarray(1, 1 + n)), midAppend: new Int32Array(state)[0] === 1 }
}

function tmpDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photon-teardown-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Every live page of `file` is whole, and every acknowledged page reads back intact. */
function checkFile(t: ExecutionContext, file: PageFile, acked: bigint[], label: string): void {
  let torn = 0
  for (const r of file.records()) {
    if (r.kind !== 'page') continue
    const [w, i] = idOf(r.pageId)
    if (!payload(w, i).equals(r.page)) torn++
  }
  t.is(torn, 0, `${label}: no torn page in the file`)
  let lost = 0
  for (const addr of acked) {
    let page: Buffer | undefined
    try {
      page = file.page(addr)
    } catch {}
    const [w, i] = idOf(page === undefined ? 0n : pageIdOfPage(page))
    if (page === undefined || !payload(w, i).equals(page)) lost++
  }
  t.is(lost, 0, `${label}: every acknowledged page is intact`)
}

/** The (w, i) a payload starts with, as a page id. */
function pageIdOfPage(page: Buffer): bigint {
  return page.length < 8 ? 0n : pageIdOf(page.readUInt32LE(0), page.readUInt32LE(4))
}

for (const shape of ['acquire', 'lane'] as const) {
  test.serial(`a worker terminated at random points of ${shape === 'acquire' ? 'acquireWriter appends' : 'lane appends'} leaves the buffer flushable, with no torn page (${RUNS} seeded runs)`, async (t) => {
    t.timeout(RUNS * 5_000 + 30_000)
    const next = rng(SEED + shape.length)
    const dir = tmpDir(t)
    let landed = 0
    for (let run = 0; run < RUNS; run++) {
      const wb = new WriteBuffer(7, 1 << 20)
      // Half the runs seal while the worker may hold a writer, half after.
      const sealFirst = next() < 0.5
      const { acked, midAppend } = await runWorker(t, shape, wb.share(), Math.floor(next() * 25), () => {
        if (sealFirst) wb.seal()
      })
      if (midAppend) landed++
      const label = `run ${run}`
      t.is(wb.writers, 0, `${label}: the terminated writer's count was given up`)
      if (!sealFirst) t.is(wb.seal(), 'flush', `${label}: sealing leaves it flushable`)
      t.true(wb.isFlushable, `${label}: flushable`)
      const out = await within(wb.flushTo(path.join(dir, `${run}.page`)), 'flushTo')
      wb.dispose()
      const file = await PageFile.open(out.path)
      checkFile(t, file, acked, label)
      file.close()
    }
    t.log(`${landed} of ${RUNS} terminations landed in the middle of an append`)
    t.true(landed >= RUNS / 4, `terminations landed mid-append in ${landed} of ${RUNS} runs`)
  })
}

test.serial(`a worker terminated at random points of PageLog writer callbacks never wedges the owner's flush() or close() (${RUNS} seeded runs)`, async (t) => {
  t.timeout(RUNS * 8_000 + 30_000)
  const next = rng(SEED + 3)
  let landed = 0
  for (let run = 0; run < RUNS; run++) {
    const dir = tmpDir(t)
    const label = `run ${run}`
    const log = await PageLog.open(dir, { bufferSize: 1 << 16, maxBuffers: 4 })
    // The owner's flush() starts while the worker may be in the middle of
    // an append (so the buffer it seals may still count the worker's
    // writer); then the worker dies.
    let flushing: Promise<void> | undefined
    const { acked, midAppend } = await runWorker(t, 'log', log.share(), Math.floor(next() * 40), () => {
      flushing = log.flush()
    })
    if (midAppend) landed++
    await within(flushing!, `${label}: log.flush() begun before the termination`)
    // The owner keeps appending, then flushes and closes: both settle.
    const own = payload(0, run)
    const ownAddr = await log.append(pageIdOf(0, run), own)
    await within(log.flush(), `${label}: log.flush()`)
    await within(log.close(), `${label}: log.close()`)

    const back = await PageLog.open(dir)
    t.deepEqual(await back.read(ownAddr), own, `${label}: the owner's page`)
    let lost = 0
    for (const addr of acked) {
      const page = await back.read(addr)
      const [w, i] = idOf(pageIdOfPage(page))
      if (!payload(w, i).equals(page)) lost++
    }
    t.is(lost, 0, `${label}: every acknowledged page is intact after reopen`)
    await back.close()
    // No torn page in any file.
    for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.page'))) {
      const file = await PageFile.open(path.join(dir, name))
      checkFile(t, file, [], `${label}: ${name}`)
      file.close()
    }
  }
  t.log(`${landed} of ${RUNS} terminations landed inside a writer callback`)
  t.true(landed >= RUNS / 4, `terminations landed inside a callback in ${landed} of ${RUNS} runs`)
})

// The writer must not dispose the buffer it leaves full (PageLogWriter
// #leaveFull) while an outer writer callback still holds a view of it and a
// writer count on it: the outer append would fail (its view detached, the
// tombstoning of its record throwing ERR_CLOSED in place of the real outcome).
test('a re-entrant append inside a worker\'s writer callback that fills the buffer keeps the outer append (the writer disposes a buffer it still writes into)', async (t) => {
  const dir = tmpDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 4 })
  const worker = new Worker(path.resolve('__test__', 'fixtures', 'reentrant-writer.js'), {
    workerData: { handle: log.share() },
    execArgv: [],
  })
  t.teardown(() => worker.terminate())
  const m = await within(new Promise<any>((resolve) => worker.once('message', resolve)), 'the worker')
  // The owner is never wedged (the disposed buffer's writer count is given up).
  await within(log.flush(), 'log.flush()')
  await within(log.close(), 'log.close()')
  t.is(m.error, null, `the outer append failed: ${JSON.stringify(m.error)}`)
  const back = await PageLog.open(dir)
  t.deepEqual(await back.read(BigInt(m.outer)), Buffer.alloc(500, 0xaa))
  for (const [i, a] of m.nested.entries()) t.deepEqual(await back.read(BigInt(a)), Buffer.alloc(1000, i + 1))
  await back.close()
})

test('dispose() of the object a writer count was acquired through gives the count up and tombstones its records', (t) => {
  const wb = new WriteBuffer(11, 4096)
  const twin = WriteBuffer.attach(wb.share())
  wb.allocPage(1n, 8, false)
  const half = twin.allocPage(2n, 64, true)
  half.page.fill(1) // half written: its writer never releases
  const lane = twin.lane(256)
  lane.allocPage(3n, 16)
  t.is(wb.writers, 2)
  twin.dispose()
  t.is(wb.writers, 0)
  t.is(wb.seal(), 'flush')
  t.deepEqual(
    [...wb.records()].map((r) => (r.kind === 'page' ? r.pageId : -1n)),
    [1n],
    'only the page reserved without a writer survives',
  )
})

test('a writer count is released on the thread that acquired it, through any of its objects for the buffer; never by another thread', async (t) => {
  const wb = new WriteBuffer(12, 4096)
  const handle = wb.share()
  // Through a second object of this thread: fine.
  const twin = WriteBuffer.attach(handle)
  wb.allocPage(1n, 8, true)
  t.is(twin.releaseWriter(), 'none')
  t.throws(() => wb.releaseWriter(), { code: 'ERR_NO_WRITER' })

  // A worker's count: this thread cannot release it (it would make the
  // buffer flushable under the worker's unfinished record).
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { WriteBuffer } = require(workerData.index)
     const wb = WriteBuffer.attach(workerData.handle)
     wb.allocPage(2n, 8, true)
     parentPort.postMessage('held')
     parentPort.once('message', () => parentPort.postMessage(wb.releaseWriter()))`,
    { eval: true, workerData: { handle, index: path.resolve('index.js') } },
  )
  t.teardown(() => worker.terminate())
  await new Promise((r) => worker.once('message', r))
  t.is(wb.writers, 1)
  t.throws(() => wb.releaseWriter(), { code: 'ERR_NO_WRITER', message: /this thread/ })
  t.is(wb.writers, 1, 'state unchanged')
  worker.postMessage('release')
  t.is(await new Promise((r) => worker.once('message', r)), 'none')
  t.is(wb.writers, 0)
})

test("a worker terminated in the middle of an append in the 'js' arena mode gives its count up too", async (t) => {
  const r = spawnSync(process.execPath, [path.resolve('__test__', 'fixtures', 'teardown-js-child.js')], {
    env: { ...process.env, PHOTON_WB_ARENA: 'js' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.is(r.status, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { mode: 'js', writers: 0, sealed: 'flush', torn: 0, lost: 0, midAppend: true })
})

test('an object collected while it holds a writer count gives the count up', async (t) => {
  const wb = new WriteBuffer(13, 4096)
  const handle = wb.share()
  ;(() => {
    const twin = WriteBuffer.attach(handle)
    twin.allocPage(1n, 8, true)
  })()
  t.is(wb.writers, 1)
  for (let i = 0; i < 200 && wb.writers !== 0; i++) {
    ;(globalThis as { gc?: () => void }).gc?.()
    await new Promise((r) => setTimeout(r, 5))
  }
  t.is(wb.writers, 0)
  t.is(wb.seal(), 'flush')
  t.is([...wb.records()].length, 0, 'its page was tombstoned')
})
