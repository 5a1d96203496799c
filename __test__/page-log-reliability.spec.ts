// The fault switch (PHOTON_WB_FAULT) lives in the test build of the addon.
import './use-test-addon.ts'

// A shared PageLog under the conditions that used to crash or wedge it: a
// close() racing worker flush() requests, re-entrant appends inside a
// worker's writer callback, a writer after a transient flush error.
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

import { ArenaPool, PageLog, WriteBuffer, WriteBufferError, type PageLogHandle } from '../index.ts'
import logPayload from './fixtures/log-payload.js'

const { payload } = logPayload
const execFileP = promisify(execFile)
const SCRIPT = path.resolve('__test__', 'fixtures', 'log-script.js')
const CLOSE_RACE = path.resolve('__test__', 'fixtures', 'log-close-race.js')
/** Generous: a promise that has not settled by then never will. */
const BOUND_MS = 30_000

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-rel-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `p`, or a rejection naming `what` once BOUND_MS passed. */
function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${BOUND_MS} ms`)), BOUND_MS)
  })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly code?: string
  readonly message?: string
  readonly acked?: [number, string][]
  readonly errors?: string[]
  readonly innerErrors?: string[]
  readonly outerError?: string
  readonly outerMessage?: string
}

/** A scripted writer worker (fixtures/log-script.js). */
async function scripted(t: ExecutionContext, handle: PageLogHandle, w: number): Promise<(op: string, args?: object) => Promise<Reply>> {
  const worker = new Worker(SCRIPT, { workerData: { handle, w }, execArgv: [] })
  t.teardown(() => worker.terminate())
  const waiting = new Map<number, (r: Reply) => void>()
  let failure: Error | null = null
  worker.on('message', (m: Reply & { ready?: boolean }) => {
    if (m.ready === true) return
    waiting.get(m.id)?.(m)
    waiting.delete(m.id)
  })
  worker.once('error', (e) => {
    failure = e
  })
  await new Promise((r) => worker.once('message', r))
  let next = 0
  return (op, args = {}) => {
    if (failure !== null) return Promise.reject(failure)
    const id = ++next
    const reply = new Promise<Reply>((resolve) => waiting.set(id, resolve))
    worker.postMessage({ id, op, ...args })
    return bounded(reply, `worker ${w} ${op}`)
  }
}

/** Every acknowledged page of worker `w` reads back as its payload. */
async function checkPages(t: ExecutionContext, log: PageLog, w: number, acked: [number, string][]): Promise<void> {
  for (const [i, a] of acked) t.deepEqual(await log.read(BigInt(a)), payload(w, i), `page (${w}, ${i})`)
}

// ---------------------------------------------------------------------------
// close() while worker flush() requests are on their way

test('close() while workers loop append + writer.flush(): no crash, every flush settles (ok or ERR_CLOSED)', async (t) => {
  // In a child process: an unhandled rejection there ends it (strict mode).
  for (const delay of [10, 40, 120]) {
    const { stdout } = await bounded(
      execFileP(process.execPath, ['--unhandled-rejections=strict', CLOSE_RACE, '4', String(delay)], { timeout: BOUND_MS }),
      'the close-race child',
    )
    const results = JSON.parse(stdout.trim()) as { ok: boolean; flushed: number; closed: number; other: string[] }[]
    t.is(results.length, 4)
    for (const r of results) {
      t.true(r.ok, JSON.stringify(r))
      t.deepEqual(r.other, [], 'flushes settle with success or ERR_CLOSED only')
    }
    t.true(results.some((r) => r.flushed > 0), `some flushes were served before the close (delay ${delay} ms)`)
  }
})

// ---------------------------------------------------------------------------
// Re-entrant appends inside a worker's writer callback

test('a worker writer callback that appends enough to fill its buffer: no wedge, every page intact', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 8 })
  const run = await scripted(t, log.share(), 1)
  const r = await run('nested', { inner: 60 })
  t.true(r.ok, r.message)
  t.deepEqual(r.innerErrors, [])
  t.is(r.acked?.length, 61)
  await bounded(log.flush(), "the owner's flush()")
  await checkPages(t, log, 1, r.acked ?? [])
  // Again, after the buffer moved on.
  const r2 = await run('nested', { inner: 60 })
  t.true(r2.ok, r2.message)
  await bounded(log.flush(), "the owner's second flush()")
  await checkPages(t, log, 1, r2.acked ?? [])
  await run('close')
  await bounded(log.close(), "the owner's close()")
})

test('a worker writer callback that fills its buffer and then throws: its own error, the log goes on', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 8 })
  const run = await scripted(t, log.share(), 2)
  const r = await run('nested', { inner: 60, fail: true })
  t.true(r.ok, r.message)
  t.is(r.outerMessage, 'outer callback failed on purpose', 'the callback\'s own error, not ERR_CLOSED')
  t.deepEqual(r.innerErrors, [])
  await bounded(log.flush(), "the owner's flush()")
  await checkPages(t, log, 2, r.acked ?? [])
  const more = await run('append', { n: 200 })
  t.deepEqual(more.errors, [])
  await run('flush')
  await run('close')
  await bounded(log.close(), "the owner's close()")
  const again = await PageLog.open(dir)
  t.teardown(() => again.close())
  await checkPages(t, again, 2, [...(r.acked ?? []), ...(more.acked ?? [])])
})

// ---------------------------------------------------------------------------
// Serial: the native writer's fault switch is process-wide.

function setFault(t: ExecutionContext, spec: string): void {
  process.env.PHOTON_WB_FAULT = spec
  t.teardown(() => {
    delete process.env.PHOTON_WB_FAULT
  })
}

test.serial('a worker writer recovers once a failed flush is retried successfully', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 2 })
  const run = await scripted(t, log.share(), 3)
  setFault(t, 'write:ENOSPC')
  // More than two buffers' worth: the background flush fails, appends waiting for room reject.
  const first = await run('append', { n: 120 })
  t.true(first.ok, first.message)
  t.true((first.errors ?? []).length > 0, 'some appends waited and were rejected')
  t.true((first.errors ?? []).every((c) => c === 'ENOSPC'), String(first.errors))
  const failed = await run('flush')
  t.false(failed.ok)
  t.is(failed.code, 'ENOSPC')

  delete process.env.PHOTON_WB_FAULT
  await bounded(log.flush(), "the owner's retry") // the retry succeeds
  const after = await run('append', { n: 60 })
  t.deepEqual(after.errors, [], 'no stale ENOSPC after the recovery')
  t.is(after.acked?.length, 60)
  const flushed = await run('flush')
  t.true(flushed.ok, flushed.message)
  await checkPages(t, log, 3, [...(first.acked ?? []), ...(after.acked ?? [])])
  await run('close')
  await bounded(log.close(), "the owner's close()")
})

// ---------------------------------------------------------------------------
// Misuse: forged pools and handles, the last group id

test('a forged ArenaPool (ArenaPool.prototype, not the constructor) is refused with a coded TypeError', (t) => {
  const forged = Object.assign(Object.create(ArenaPool.prototype) as ArenaPool, { capacity: 4096, limit: 1 })
  const err = t.throws(() => new WriteBuffer(1, 4096, { pool: forged }), { instanceOf: TypeError })
  t.is((err as unknown as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  t.regex(err?.message ?? '', /made by new ArenaPool/)
  const bare = Object.create(ArenaPool.prototype) as ArenaPool
  t.is((t.throws(() => new WriteBuffer(1, 4096, { pool: bare })) as unknown as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
})

test('WriteBuffer.attach refuses a handle whose groupId or capacity is not its buffer\'s', (t) => {
  const wb = new WriteBuffer(5, 4096)
  t.teardown(() => wb.dispose())
  const h = wb.share()
  for (const bad of [{ ...h, groupId: 6 }, { ...h, capacity: 8192 }, { ...h, groupId: undefined as unknown as number }]) {
    const err = t.throws(() => WriteBuffer.attach(bad), { instanceOf: TypeError })
    t.is((err as unknown as { code?: string }).code, 'ERR_INVALID_ARG_VALUE', err?.message)
  }
  const ok = WriteBuffer.attach(h)
  t.is(ok.groupId, 5)
  ok.dispose()
})

test('PageLog.attach with a handle whose bufferSize is not the log\'s: appends are refused, nothing written', async (t) => {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096 })
  t.teardown(() => log.close())
  const forged = { ...log.share(), bufferSize: 1 << 20 }
  const writer = PageLog.attach(forged)
  t.teardown(() => writer.close())
  const err = t.throws(() => writer.tryAppend(1, Buffer.alloc(8000)), { instanceOf: TypeError })
  t.is((err as unknown as { code?: string }).code, 'ERR_INVALID_ARG_VALUE', err?.message)
  const honest = PageLog.attach(log.share())
  t.teardown(() => honest.close())
  t.is(typeof honest.tryAppend(1, Buffer.alloc(8)), 'bigint')
})

test('running out of group ids is ERR_GROUPS_EXHAUSTED, saying what to do; the log still reads and closes', async (t) => {
  const dir = tempDir(t)
  const last = new WriteBuffer(4294967295, 4096)
  const addr = last.writePage(1n, Buffer.from('last'), false)
  last.seal()
  await last.flushTo(path.join(dir, '4294967295.page'))
  last.dispose()
  const log = await PageLog.open(dir)
  t.is(log.nextGroupId, 2 ** 32)
  const err = t.throws(() => log.tryAppend(2, Buffer.from('no room')), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_GROUPS_EXHAUSTED')
  t.regex(err?.message ?? '', /new directory/)
  t.deepEqual(Buffer.from(await log.read(addr)), Buffer.from('last'))
  await log.close()
})
