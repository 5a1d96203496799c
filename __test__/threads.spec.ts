import test, { type ExecutionContext } from 'ava'
import path from 'node:path'
import { inspect } from 'node:util'
import { Worker } from 'node:worker_threads'

import { HEADER_SIZE, WriteBuffer, liveArenas, recordSize, type ReleaseState } from '../index.ts'
import payload from './fixtures/thread-payload.js'

// SPEC §4–5 across worker_threads: one buffer shared by several threads.
//
// The workers are plain CommonJS fixtures (fixtures/thread-*.js) on the
// compiled build (index.js); this file uses index.ts. Both load the same
// native addon, so they share its process-wide table of shared buffers.

// Messages from the fixtures: plain objects whose fields each test knows.
type Message = { [key: string]: any }

/**
 * A worker and every message it posted. `waitFor` resolves with the first
 * message (past or future) that matches; it rejects if the worker fails or
 * exits first. `call` drives fixtures/thread-peer.js.
 */
class Thread {
  readonly worker: Worker
  readonly exited: Promise<number>
  readonly messages: Message[] = []
  #waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void; reject: (e: Error) => void }[] = []
  #ended: Error | undefined
  #nextId = 1

  constructor(fixture: string, workerData?: unknown) {
    // execArgv: [] so that the worker does not inherit the AVA process's
    // TypeScript loader: the fixtures are plain CommonJS.
    this.worker = new Worker(path.join(payload.DIR, fixture), { workerData, execArgv: [] })
    this.worker.on('message', (m: Message) => {
      this.messages.push(m)
      const waiting = this.#waiters
      this.#waiters = []
      for (const w of waiting) {
        if (w.match(m)) w.resolve(m)
        else this.#waiters.push(w)
      }
    })
    this.worker.on('error', (e) => this.#end(e))
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.#end(new Error(`${fixture} exited (code ${code}) before posting the message waited for`))
        resolve(code)
      }),
    )
  }

  #end(e: Error): void {
    this.#ended ??= e
    for (const w of this.#waiters) w.reject(e)
    this.#waiters = []
  }

  waitFor(match: (m: Message) => boolean): Promise<Message> {
    const seen = this.messages.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    if (this.#ended !== undefined) return Promise.reject(this.#ended)
    return new Promise((resolve, reject) => this.#waiters.push({ match, resolve, reject }))
  }

  count(match: (m: Message) => boolean): number {
    return this.messages.filter(match).length
  }

  async call(op: string, args: object = {}): Promise<Message> {
    const id = this.#nextId++
    this.worker.postMessage({ id, op, ...args })
    const reply = await this.waitFor((m) => m.id === id)
    if (reply.error !== undefined) throw Object.assign(new Error(`${op}: ${reply.error.message}`), reply.error)
    return reply
  }

  /** Asks a thread-peer.js worker to exit holding its views; resolves with the exit code. */
  async exit(how: 'natural' | 'process.exit' = 'natural'): Promise<number> {
    await this.call('exit', { how })
    return this.exited
  }
}

/** A worker that is terminated when the test ends, whatever happened. */
function spawn(t: ExecutionContext, fixture: string, workerData?: unknown): Thread {
  const thread = new Thread(fixture, workerData)
  t.teardown(async () => {
    await thread.worker.terminate()
  })
  return thread
}

const isType = (type: string) => (m: Message) => m.type === type

/** A few turns of the event loop. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error('run with --expose-gc (the AVA config passes it)')
  collect()
}

/** Runs gc and a few event-loop turns until `done()`, for up to `ms`; whether it got there. */
async function collectUntil(done: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    gc()
    await turns(3)
    if (done()) return true
    if (Date.now() >= deadline) return false
    await sleep(10)
  }
}

/** `liveArenas()` once whatever earlier tests left behind has been collected. */
async function settledArenas(): Promise<number> {
  let last = -1
  let still = 0
  for (let i = 0; i < 100 && still < 3; i++) {
    gc()
    await turns(3)
    const now = liveArenas()
    still = now === last ? still + 1 : 0
    last = now
  }
  return last
}

/** A copy of a view's bytes, as a plain Uint8Array (what a worker posts back). */
const bytesOf = (view: Uint8Array) => Uint8Array.from(view)

const pattern = (seed: number, length: number) => Uint8Array.from({ length }, (_, i) => (seed * 29 + i * 13 + 1) & 0xff)

// ---------------------------------------------------------------------------
// Four writers on one buffer

const WRITERS = 4
const CAPACITY = 1 << 22 // 4 MiB: some 35,000 pages of 0..199 bytes
const GROUP = 7

/**
 * Four workers attach one buffer and allocate until ERR_AGAIN, each counting
 * one writer from its first allocation to its release; `sealWhen` decides
 * when the main thread seals. Then: exactly one 'flush' among the seal and
 * the releases, every record intact, disjoint and where its worker said,
 * the counts as reported, and every worker's waitFlushed() resolving only
 * after onFlushed() in the main thread.
 */
async function fourWriters(t: ExecutionContext, sealWhen: 'first-full' | 'mid-write'): Promise<void> {
  const wb = new WriteBuffer(GROUP, CAPACITY)
  const gate = new Int32Array(new SharedArrayBuffer(4))
  const threads = Array.from(
    { length: WRITERS },
    (_, index) => spawn(t, 'thread-writer.js', { handle: wb.share(), index, gate: gate.buffer }),
  )
  await Promise.all(threads.map((w) => w.waitFor(isType('ready'))))
  Atomics.store(gate, 0, 1)
  Atomics.notify(gate, 0)

  let sealed: ReleaseState
  if (sealWhen === 'mid-write') {
    // Busy-wait (the workers write on their own threads meanwhile) until a
    // quarter is reserved, then seal under the writers' feet.
    const deadline = Date.now() + 20_000
    while (wb.allocated < CAPACITY / 4 && Date.now() < deadline);
    t.true(wb.allocated >= CAPACITY / 4, 'the writers reserved a quarter of the buffer')
    sealed = wb.seal()
  } else {
    // The first worker to finish stopped because the buffer was full: seal
    // while the others may still be finishing their last pages.
    await Promise.race(threads.map((w) => w.waitFor(isType('done'))))
    sealed = wb.seal()
  }
  const dones = await Promise.all(threads.map((w) => w.waitFor(isType('done'))))

  const states = [sealed, ...dones.map((d) => d.state as ReleaseState)]
  t.log(`pages per worker ${inspect(dones.map((d) => d.pages))}, ${wb.allocated} of ${CAPACITY} bytes, seal: ${sealed}`)
  t.is(states.filter((s) => s === 'flush').length, 1, `exactly one 'flush' among ${inspect(states)}`)
  t.true(wb.isSealed)
  t.is(wb.writers, 0)
  t.true(wb.isFlushable)
  for (const d of dones) t.is(d.acquired, d.pages > 0, `worker ${d.index} counted itself a writer iff it wrote`)
  if (sealWhen === 'first-full') {
    t.true(CAPACITY - wb.allocated < recordSize(199), 'the buffer is full to within one record')
  }

  // Walk the records: allocation order, no gap, no overlap, each one a page
  // some worker reported at that address, with its bytes intact; each
  // worker's pages in its own order.
  const seen = new Array<number>(WRITERS).fill(0)
  const problems: string[] = []
  let offset = 0
  for (const r of wb.records()) {
    if (r.kind !== 'page') {
      problems.push(`a ${r.kind} record at ${offset}`)
      break
    }
    const [w, seq] = payload.ownerOf(r.pageId)
    const where = `record at ${offset} (worker ${w}, page ${seq})`
    if (r.addr !== ((BigInt(GROUP) << 32n) | BigInt(offset + HEADER_SIZE))) problems.push(`${where}: address ${r.addr}`)
    if (!(w >= 0 && w < WRITERS)) {
      problems.push(`${where}: page id ${r.pageId}`)
      break
    }
    if (seq !== seen[w]) problems.push(`${where}: expected page ${seen[w]} of that worker`)
    if (dones[w].addrs[seq] !== r.addr) problems.push(`${where}: the worker reported ${dones[w].addrs[seq]}`)
    if (!payload.isPayload(r.page, w, seq)) problems.push(`${where}: bytes differ`)
    seen[w] = seq + 1
    offset += recordSize(r.page.length)
    if (problems.length > 10) break
  }
  t.deepEqual(problems, [])
  t.is(offset, wb.allocated, 'the records tile the reserved bytes exactly')
  t.deepEqual(
    seen,
    dones.map((d) => d.pages),
    'every page each worker reported, and no other',
  )

  // Every worker waits on the flush; none is woken before onFlushed().
  await turns(10)
  await sleep(50)
  t.is(
    threads.reduce((n, w) => n + w.count(isType('woken')), 0),
    0,
    'no worker woken before onFlushed()',
  )
  wb.onFlushed()
  const woken = await Promise.all(threads.map((w) => w.waitFor(isType('woken'))))
  t.deepEqual(
    woken.map((m) => m.index),
    [0, 1, 2, 3],
  )
  // Woken, each worker has nothing left to do and exits on its own.
  t.deepEqual(await Promise.all(threads.map((w) => w.exited)), [0, 0, 0, 0])
}

test('four workers fill one buffer until ERR_AGAIN: records intact and disjoint, one flush, all woken', async (t) => {
  await fourWriters(t, 'first-full')
})

test('four workers write while the main thread seals: records intact and disjoint, one flush, all woken', async (t) => {
  await fourWriters(t, 'mid-write')
})

// ---------------------------------------------------------------------------
// Views and flush waits across threads

test('a page written in one worker reads the same in main and in another worker: one memory, not copies', async (t) => {
  const wb = new WriteBuffer(21, 1 << 16)
  const [a, b] = [spawn(t, 'thread-peer.js'), spawn(t, 'thread-peer.js')]
  t.like(await a.call('attach', { handle: wb.share() }), { groupId: 21, capacity: 1 << 16 })
  t.like(await b.call('attach', { handle: wb.share() }), { groupId: 21, capacity: 1 << 16 })

  const written = pattern(3, 45)
  const { addr, held: heldByA } = await a.call('alloc', { pageId: 77n, bytes: written })
  t.is(typeof addr, 'bigint')
  t.deepEqual(bytesOf(wb.page(addr)), written)
  const readByB = await b.call('read', { addr })
  t.deepEqual(readByB.bytes, written)

  // The main thread writes through its own view; the views the workers hold
  // (A's from allocPage, B's from page()) see the new bytes.
  const rewritten = pattern(4, 45)
  wb.page(addr).set(rewritten)
  t.deepEqual((await a.call('readHeld', { index: heldByA })).bytes, rewritten)
  t.deepEqual((await b.call('readHeld', { index: readByB.held })).bytes, rewritten)

  // And the header A wrote is what the main thread iterates.
  t.is(wb.seal(), 'flush')
  const records = [...wb.records()]
  t.is(records.length, 1)
  t.like(records[0], { kind: 'page', addr, pageId: 77n })
  t.deepEqual(await Promise.all([a.exit(), b.exit()]), [0, 0])
})

test('onFlushed() in a worker wakes the waiters in the main thread and in the other workers', async (t) => {
  const wb = new WriteBuffer(22, 1024)
  wb.allocPage(1n, 8, false)
  t.is(wb.seal(), 'flush')
  const [a, b, c] = [spawn(t, 'thread-peer.js'), spawn(t, 'thread-peer.js'), spawn(t, 'thread-peer.js')]
  await Promise.all([a, b, c].map((w) => w.call('attach', { handle: wb.share() })))
  await b.call('wait')
  await c.call('wait')
  let mainWoken = false
  const mainWait = wb.waitFlushed().then(() => {
    mainWoken = true
  })

  await turns(10)
  await sleep(50)
  t.false(mainWoken)
  t.is(b.count(isType('woken')) + c.count(isType('woken')), 0)

  await a.call('onFlushed')
  await mainWait
  t.true(mainWoken)
  await Promise.all([b.waitFor(isType('woken')), c.waitFor(isType('woken'))])
  // The latch stays set: a wait that begins later, anywhere, resolves at once.
  await a.call('wait')
  await a.waitFor(isType('woken'))
  await wb.waitFlushed()
  t.deepEqual(await Promise.all([a.exit(), b.exit(), c.exit()]), [0, 0, 0])
})

test('a worker terminated while it waits on the flush crashes nothing: onFlushed() still wakes everyone else', async (t) => {
  const wb = new WriteBuffer(23, 1024)
  const [gone, stays] = [spawn(t, 'thread-peer.js'), spawn(t, 'thread-peer.js')]
  await Promise.all([gone, stays].map((w) => w.call('attach', { handle: wb.share() })))
  await gone.call('wait')
  await stays.call('wait')
  t.is(await gone.worker.terminate(), 1)

  // The terminated worker's wait is still registered with the buffer's latch.
  wb.allocPage(1n, 8, false)
  t.is(wb.seal(), 'flush')
  wb.onFlushed()
  await stays.waitFor(isType('woken'))
  await wb.waitFlushed()
  t.is(gone.count(isType('woken')), 0)
  t.is(await stays.exit(), 0)
})

// ---------------------------------------------------------------------------
// Lifetime (serial: liveArenas() is process-wide)

test.serial('workers terminated mid-write or mid-wait, or exiting with views, crash nothing; the arena goes with the last holder', async (t) => {
  t.timeout(90_000, 'a terminate() that never completes must fail the test, not hang the suite')
  const start = await settledArenas()
  let wb: WriteBuffer | undefined = new WriteBuffer(31, 1 << 24)
  t.is(liveArenas(), start + 1)
  const handle = wb.share()

  // Two workers attach, write a page and will exit holding their views; one
  // waits on a flush that never comes and will be terminated; two allocate
  // in an endless loop (the buffer fills, then they spin on ERR_AGAIN) until
  // terminated.
  const holders = [spawn(t, 'thread-peer.js'), spawn(t, 'thread-peer.js')]
  await Promise.all(holders.map((h) => h.call('attach', { handle })))
  const held = await Promise.all(holders.map((h, i) => h.call('alloc', { pageId: 900 + i, bytes: pattern(i, 24 + i) })))
  const waiter = spawn(t, 'thread-peer.js')
  await waiter.call('attach', { handle })
  await waiter.call('wait')
  const spinners = [0, 1].map((index) => spawn(t, 'thread-spinner.js', { handle, index, sampleAfter: 500 }))
  // Each spinner's sample: an address and a copy of its bytes (not the view).
  const samples = await Promise.all(spinners.map((s) => s.waitFor(isType('sample'))))
  // Views taken in the main thread while the spinners are still writing.
  let views: Buffer[] | undefined = samples.map((s) => wb!.page(s.addr))

  t.deepEqual(await Promise.all([holders[0].exit('natural'), holders[1].exit('process.exit')]), [0, 0])
  t.deepEqual(await Promise.all([...spinners, waiter].map((s) => s.worker.terminate())), [1, 1, 1])
  t.is(liveArenas(), start + 1, 'one arena, still held by the main thread')

  // The main thread's views outlive the writers and still read what they
  // wrote; so do the pages written by the workers that exited.
  for (const [i, s] of samples.entries()) {
    t.true(payload.isPayload(views[i], s.index, s.seq), `spinner ${s.index}'s page ${s.seq}`)
    t.deepEqual(bytesOf(views[i]), s.bytes)
    // Written under a writer its thread never released: the teardown gave
    // the writer up and tombstoned the page (it may be half written).
    t.throws(() => wb!.page(s.addr), { code: 'ERR_INVALID_ADDR' })
  }
  for (const [i, h] of held.entries()) t.deepEqual(bytesOf(wb.page(h.addr)), pattern(i, 24 + i))
  // The terminated spinners' writers were released by their teardown.
  t.is(wb.writers, 0)
  t.true(wb.allocated > 0)

  // Drop the buffer, keep one view: the arena stays, and the view reads right.
  let kept: Buffer | undefined = views[0]
  views = undefined
  wb = undefined
  t.false(await collectUntil(() => liveArenas() !== start + 1, 300), 'a live view keeps the arena')
  t.is(liveArenas(), start + 1)
  t.true(payload.isPayload(kept, samples[0].index, samples[0].seq))
  t.deepEqual(bytesOf(kept), samples[0].bytes)

  // Last holder gone: the arena is freed.
  kept = undefined
  t.true(await collectUntil(() => liveArenas() === start), `liveArenas() back to ${start}: ${liveArenas()}`)
  t.is(liveArenas(), start)
})

test.serial('a view held by a worker keeps the arena after the main thread drops the buffer; attach still works until it exits', async (t) => {
  const start = await settledArenas()
  let wb: WriteBuffer | undefined = new WriteBuffer(32, 1 << 16)
  const handle = wb.share()
  const peer = spawn(t, 'thread-peer.js')
  await peer.call('attach', { handle })
  const written = pattern(9, 100)
  const { addr, held } = await peer.call('alloc', { pageId: 5n, bytes: written })
  await peer.call('dropBuffer')
  wb = undefined

  t.false(await collectUntil(() => liveArenas() !== start + 1, 300), "the worker's view keeps the arena")
  t.is(liveArenas(), start + 1)
  t.deepEqual((await peer.call('readHeld', { index: held })).bytes, written)
  // The buffer is not gone while a view lives: the handle attaches again.
  let back: WriteBuffer | undefined = WriteBuffer.attach(handle)
  t.is(back.groupId, 32)
  t.deepEqual(bytesOf(back.page(addr)), written)
  back = undefined

  t.is(await peer.exit('natural'), 0)
  t.true(await collectUntil(() => liveArenas() === start), `liveArenas() back to ${start}: ${liveArenas()}`)
  t.is(liveArenas(), start)
})

test.serial('attach of a handle whose buffer is gone throws a TypeError ERR_INVALID_ARG_VALUE, on any thread', async (t) => {
  const start = await settledArenas()
  let wb: WriteBuffer | undefined = new WriteBuffer(33, 1024)
  const handle = wb.share()
  let twin: WriteBuffer | undefined = WriteBuffer.attach(handle) // the same handle works while the buffer lives
  t.is(twin.capacity, 1024)
  twin = undefined
  wb = undefined
  t.true(await collectUntil(() => liveArenas() === start), 'the buffer was collected')

  t.throws(() => WriteBuffer.attach(handle), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  const peer = spawn(t, 'thread-peer.js')
  t.like(await peer.call('attachError', { handle }), { threw: true, isTypeError: true, code: 'ERR_INVALID_ARG_VALUE' })
  t.is(await peer.exit(), 0)
})

test('attach of anything but a share() handle throws a TypeError ERR_INVALID_ARG_TYPE', (t) => {
  const garbage: unknown[] = [
    undefined,
    null,
    42,
    'handle',
    Symbol('handle'),
    () => 1,
    {},
    [],
    { photonWriteBuffer: '1' },
    { photonWriteBuffer: 1n },
    { photonWriteBuffer: -1 },
    { photonWriteBuffer: 1.5 },
    { photonWriteBuffer: NaN },
    { photonWriteBuffer: 2 ** 32 },
  ]
  for (const bad of garbage) {
    t.throws(() => WriteBuffer.attach(bad as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, inspect(bad))
  }
  // A well-formed handle that no buffer was ever shared under names nothing.
  t.throws(() => WriteBuffer.attach({ photonWriteBuffer: 0xffffffff, groupId: 0, capacity: 16 }), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
  })
})
