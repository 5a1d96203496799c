// The fault switch (PHOTON_WB_FAULT) lives in the test build of the addon.
import './use-test-addon.ts'

import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'

import { PageLog } from '../index.ts'
import logPayload from './fixtures/log-payload.js'
import { sealedGroups, segmentPath } from './log-files.ts'
import pattern from './fixtures/pattern.js'

// Promises of docs/page-log.md that no other spec checks: copy semantics of
// reads and of waiting appends, close() waiting for a writer in the middle
// of an append, and the I/O fault matrix (every step of a flush, on the
// owner and through a worker's writer.flush()).

const { payload, pageIdOf } = logPayload
const WORKER = path.join(path.dirname(pattern.LOG_LOOP), 'log-promise-worker.js')
/** The steps of a flush and the errno each one is made to fail with (PHOTON_WB_FAULT). */
const FAULTS = [
  ['open', 'EACCES'],
  ['write', 'ENOSPC'],
  ['sync', 'EIO'],
  ['rename', 'EDQUOT'],
  ['dirsync', 'EIO'],
] as const

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-promise-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function openLog(t: ExecutionContext, dir: string, opts?: Parameters<typeof PageLog.open>[1]): Promise<PageLog> {
  const log = await PageLog.open(dir, opts)
  t.teardown(() => (log.isClosed ? undefined : log.close().catch(() => undefined)))
  return log
}

/** Deterministic page bytes for (pageId, version). */
function content(pageId: number, size: number, version = 0): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (pageId * 31 + version * 7 + i) & 0xff
  return b
}

/** What a failed flush may not leave behind: page files or temp files (the lock file stays). */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n !== 'LOCK')

function setFault(t: ExecutionContext, spec: string): void {
  process.env.PHOTON_WB_FAULT = spec
  t.teardown(() => {
    delete process.env.PHOTON_WB_FAULT
  })
}

/** A worker running fixtures/log-promise-worker.js; `ask` sends one command and waits for its reply. */
function startWorker(t: ExecutionContext) {
  // execArgv: [] so that the worker does not inherit the TypeScript loader (it runs the compiled build).
  const worker = new Worker(WORKER, { execArgv: [] })
  t.teardown(() => worker.terminate())
  const ask = (m: object) =>
    new Promise<{ ok: boolean; code?: string; message?: string; addrs?: string[]; addr?: string; waited?: boolean }>((resolve, reject) => {
      const onError = (e: Error) => {
        worker.off('message', onMessage)
        reject(e)
      }
      const onMessage = (r: { ok: boolean }) => {
        worker.off('error', onError)
        resolve(r)
      }
      worker.once('message', onMessage)
      worker.once('error', onError)
      worker.postMessage(m)
    })
  return { worker, ask }
}

// ---------------------------------------------------------------------------
// Serial: the fault switch is process-wide.

for (const [op, code] of FAULTS) {
  test.serial(`a ${op} fault: flush() rejects with ${code} and the segment's path, leaves no temp file and seals nothing, a retry that fails again rejects again, pages read from memory, a clean retry makes all durable`, async (t) => {
    const dir = tempDir(t)
    // Opened before the fault: the first segment is prepared. Every other
    // one is prepared under it (open, write, sync, rename, dirsync: steps
    // of a preparation), sealed or committed under it (write, sync).
    const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 8 })
    setFault(t, `${op}:${code}`)
    const addrs: bigint[] = []
    for (let i = 0; i < 100; i++) addrs.push(log.tryAppend(i, content(i, 100)) as bigint) // 3 buffers
    // The flush's own files leave no temp file; the preparations of later
    // segments run in the background meanwhile (under the same fault) and
    // remove theirs when they fail: none is left once they have settled.
    const noTemp = async () => {
      const temps = () => leftovers(dir).filter((n) => n.includes('.tmp'))
      for (let waited = 0; temps().length > 0 && waited < 5000; waited += 10) await sleep(10)
      t.deepEqual(temps(), [])
    }
    const first = await t.throwsAsync(log.flush(), { code })
    t.true([1, 2, 3].map((g) => segmentPath(dir, g)).includes((first as Error & { path?: string }).path ?? ''), (first as Error).message)
    await noTemp()
    t.deepEqual(sealedGroups(dir), op === 'write' || op === 'sync' ? [] : [1], 'only a buffer whose segment was prepared before the fault is sealed')
    const errors = log.stats.flushErrors
    t.true(errors >= 1)
    // The retry runs and fails again: rejected with the new error, counted.
    await t.throwsAsync(log.flush(), { code })
    t.true(log.stats.flushErrors > errors)
    await noTemp()
    // Pages read back: from memory, or from the segment sealed before the fault.
    for (let i = 0; i < 100; i++) t.deepEqual(log.tryRead(addrs[i]) ?? (await log.read(addrs[i])), content(i, 100))
    // close() retries too: it rejects while the fault lasts, and the log stays usable for a retry.
    await t.throwsAsync(log.close(), { code })
    delete process.env.PHOTON_WB_FAULT
    await log.close()
    t.deepEqual(leftovers(dir).sort(), ['index.pwi', 'seg-00000001.pws', 'seg-00000002.pws', 'seg-00000003.pws'], 'close() wrote the index checkpoint')
    t.deepEqual(sealedGroups(dir), [1, 2, 3])
    const again = await openLog(t, dir)
    for (let i = 0; i < 100; i++) t.deepEqual(await again.read(addrs[i]), content(i, 100))
  })
}

// The steps a commit runs (the steps of a segment's preparation — open,
// rename, dirsync — fail a flush only when the buffer's segment is prepared
// under the fault: the owner-level tests above cover them).
const COMMIT_FAULTS = FAULTS.filter(([op]) => op === 'write' || op === 'sync')

test.serial("a worker's writer.flush() rejects with the fault of every step of a commit; the owner's clean retry makes the writer's pages durable", async (t) => {
  const dir = tempDir(t)
  // 40 pages of the writer fit one buffer.
  const log = await openLog(t, dir, { bufferSize: 16384, maxBuffers: 8 })
  const handle = log.share()
  const { ask } = startWorker(t)
  const pages: { w: number; i: number; addr: bigint }[] = []
  let from = 0
  for (const [op, code] of COMMIT_FAULTS) {
    // A fresh writer for each step (one that saw a failure is not what this checks).
    t.true((await ask({ cmd: 'attach', handle })).ok)
    setFault(t, `${op}:${code}`)
    const appended = await ask({ cmd: 'append', w: 1, from, count: 40 })
    t.true(appended.ok, appended.message)
    appended.addrs!.forEach((a, k) => pages.push({ w: 1, i: from + k, addr: BigInt(a) }))
    from += 40
    const flushed = await ask({ cmd: 'flush' })
    t.false(flushed.ok, `${op}: writer.flush() resolved under a fault`)
    t.is(flushed.code, code, `${op}: ${flushed.message}`)
    t.false(leftovers(dir).some((n) => n.includes('.tmp')), `${op}: a temp file was left`)
    delete process.env.PHOTON_WB_FAULT
    await log.flush()
  }
  await log.close()
  const again = await openLog(t, dir)
  for (const p of pages) {
    t.is(again.addressOf(pageIdOf(p.w, p.i)), p.addr)
    t.deepEqual(await again.read(p.addr), payload(p.w, p.i))
  }
})

// ---------------------------------------------------------------------------

test('a read from memory is a copy: it stays unchanged after its buffer was flushed and its arena reused', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 2 })
  const addrs: bigint[] = []
  for (let i = 0; i < 20; i++) addrs.push(log.tryAppend(i, content(i, 150)) as bigint)
  const held = addrs.map((a) => log.tryRead(a))
  t.true(held.every((b) => Buffer.isBuffer(b)), 'read synchronously from memory')
  await log.flush()
  // New pages with other bytes at the same offsets, in buffers that reuse the flushed arenas.
  for (let round = 1; round <= 4; round++) {
    for (let i = 0; i < 20; i++) void log.append(100 + i, content(i, 150, round))
    await log.flush()
  }
  t.true(log.stats.arenasReused > 0, 'no arena was reused')
  held.forEach((b, i) => t.deepEqual(b, content(i, 150), `page ${i}`))
})

test("a waiting append copies its source: bytes changed after the call are not what is stored (owner and worker writer)", async (t) => {
  const dir = tempDir(t)
  // One buffer: once it is sealed, every append waits for its flush.
  const log = await openLog(t, dir, { bufferSize: 4096, maxBuffers: 1 })
  const stored: { id: number; addr: bigint; want: Buffer }[] = []
  let waited = 0
  for (let i = 0; i < 80; i++) {
    const src = content(i, 100)
    const want = Buffer.from(src)
    let addr = log.tryAppend(i, src)
    if (addr === null) {
      const r = log.append(i, src)
      waited++
      src.fill(0xee) // the caller reuses its buffer while the append waits
      addr = await r
    }
    stored.push({ id: i, addr, want })
  }
  t.true(waited > 0, 'no append had to wait')
  // The same through a worker's writer.
  const { ask } = startWorker(t)
  t.true((await ask({ cmd: 'attach', handle: log.share() })).ok)
  let writerWaited = 0
  const mine: { i: number; addr: bigint }[] = []
  for (let i = 0; i < 80; i++) {
    const r = await ask({ cmd: 'append-mutated', w: 2, i })
    t.true(r.ok, r.message)
    if (r.waited) writerWaited++
    mine.push({ i, addr: BigInt(r.addr!) })
  }
  t.true(writerWaited > 0, 'no writer append had to wait')
  await log.close()
  const again = await openLog(t, dir)
  for (const s of stored) t.deepEqual(await again.read(s.addr), s.want, `page ${s.id}`)
  for (const m of mine) t.deepEqual(await again.read(m.addr), payload(2, m.i), `writer page ${m.i}`)
})

test("close() waits for a worker writer in the middle of an append, and that page is durable", async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { bufferSize: 1 << 16, maxBuffers: 2 })
  const { worker, ask } = startWorker(t)
  t.true((await ask({ cmd: 'attach', handle: log.share() })).ok)
  const flags = new Int32Array(new SharedArrayBuffer(8))
  const reply = new Promise<{ ok: boolean; addr?: string; message?: string }>((resolve) => worker.once('message', resolve))
  worker.postMessage({ cmd: 'append-blocking', w: 3, i: 7, flags: flags.buffer })
  // The worker is inside its writer callback: reserved, not released.
  while (Atomics.load(flags, 0) === 0) await sleep(5)
  let closed = false
  const closing = log.close().then(() => (closed = true))
  await sleep(100)
  t.false(closed, 'close() resolved while a writer was in the middle of an append')
  Atomics.store(flags, 1, 1)
  Atomics.notify(flags, 1)
  const r = await reply
  t.true(r.ok, r.message)
  await closing
  const again = await openLog(t, dir)
  t.deepEqual(await again.read(BigInt(r.addr!)), payload(3, 7))
  t.is(again.addressOf(pageIdOf(3, 7)), BigInt(r.addr!))
})
