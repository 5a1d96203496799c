// v8ExternalMemory() is a diagnostic of the test build of the addon.
import './use-test-addon.ts'

import test from 'ava'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

import { WriteBuffer, arenaCacheStats, configureArenaCache, liveArenas, trimArenaCache } from '../index.ts'
import { hooks } from './use-test-addon.ts'

// Arena memory (docs/ARCHITECTURE.md, "Arena memory"): arenas of buffers
// that are gone go to a background thread, which frees them or scrubs a
// bounded few into a process-wide cache for the next buffers of their size;
// V8 is told what a buffer costs. The cache is process-wide: these tests
// are serial.

const execFileP = promisify(execFile)
const FIXTURES = path.join(path.resolve('__test__'), 'fixtures')
const MiB = 1 << 20
const src = Buffer.alloc(4096, 0x5a)

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error('run with --expose-gc (the AVA config passes it)')
  collect()
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Until the background thread has processed every arena handed to it (up to 5 s). */
async function reclaimed(): Promise<void> {
  for (let i = 0; i < 500 && arenaCacheStats().pendingArenas > 0; i++) await sleep(10)
}

/** gc + a few turns until `done()` (up to `rounds` × ~30 ms); whether it got there. */
async function collectUntil(done: () => boolean, rounds = 100): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    gc()
    for (let k = 0; k < 3; k++) await turn()
    if (done()) return true
    await sleep(20)
  }
  return false
}

/** Every byte of the arena of `wb`, through a page view's `.buffer` (as JS can). */
function arenaBytes(wb: WriteBuffer): Uint8Array {
  const page = wb.allocPage(0, 8, false).page
  return new Uint8Array(page.buffer, 0, wb.capacity)
}

/** Whether the arena reads as a fresh one with that one 8-byte page. */
const fresh = (bytes: Uint8Array) => bytes.subarray(16).every((b) => b === 0)

for (const capacity of [64 * 1024, 2 * MiB]) {
  test.serial(`a fresh ${capacity >> 10} KiB buffer reads all zeroes, also from an arena the cache hands back`, async (t) => {
    configureArenaCache({}) // empties the cache: this test sees only its own arenas
    await reclaimed()
    const hits0 = arenaCacheStats().hits
    for (let round = 0; round < 4; round++) {
      const wb = new WriteBuffer(round, capacity)
      const bytes = arenaBytes(wb)
      t.true(fresh(bytes), `round ${round}: no byte of an earlier buffer`)
      // Pages up to half the arena, then garbage over all of it: what a
      // caller can write through a view's `.buffer`.
      for (let p = 0; p < capacity / 2 / 4112; p++) wb.allocPage(p, 4096, false).page.set(src)
      bytes.fill(0xee)
      wb.dispose()
      await reclaimed()
    }
    t.true(arenaCacheStats().hits - hits0 >= 3, 'the cache served the later rounds')
  })
}

test.serial('a buffer made right after another is dropped reads all zeroes, whoever scrubs the arena', (t) => {
  // No wait for the background thread: the next buffer takes the arena
  // while it is still queued, being zeroed, dirty or zeroed, and must read
  // as fresh in every case.
  const capacity = 2 * MiB
  configureArenaCache({})
  const hits0 = arenaCacheStats().hits
  for (let round = 0; round < 24; round++) {
    const wb = new WriteBuffer(round, capacity)
    const bytes = arenaBytes(wb)
    t.true(fresh(bytes), `round ${round}: no byte of an earlier buffer`)
    for (let p = 0; p < ((round % 3) + 1) * 100; p++) wb.allocPage(p, 4096, false).page.set(src)
    bytes.fill(0xee)
    wb.dispose()
  }
  t.true(arenaCacheStats().hits - hits0 >= 12, 'later buffers reused the earlier arenas')
})

test.serial('V8 is told what a buffer costs, and given it back', (t) => {
  const capacity = 16 * MiB
  // V8's own counter (`process.memoryUsage().external` is not it on Node 20).
  const ext = () => hooks.v8ExternalMemory()
  const before = ext()
  const wb = new WriteBuffer(1, capacity)
  const charged = ext() - before
  // The arena (Node reports the external ArrayBuffer) and the record-start
  // bitmap (capacity / 64, reported by the addon).
  t.true(charged >= capacity + capacity / 64, `external grew by ${charged}`)
  wb.dispose()
  t.true(ext() - before < capacity / 64, `external back to ${ext() - before} over the start`)
})

test.serial('a worker that ends without disposing its buffers gives no trouble', async (t) => {
  const code = `
    const { WriteBuffer } = require(${JSON.stringify(path.join(path.resolve('__test__'), '..', 'index.js'))})
    const keep = []
    for (let i = 0; i < 8; i++) keep.push(new WriteBuffer(i, 1 << 20))
    for (let i = 0; i < 8; i++) new WriteBuffer(i, 1 << 20)
    require('node:worker_threads').parentPort.postMessage('made')
    setInterval(() => {}, 1000)
  `
  const live0 = liveArenas()
  const w = new Worker(code, { eval: true, execArgv: [] })
  await new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  t.true(liveArenas() >= live0 + 8)
  await w.terminate() // the env goes away with charges outstanding
  t.true(await collectUntil(() => liveArenas() <= live0), `liveArenas() ${liveArenas()}, was ${live0}`)
  // The main thread still works, and its own charges still balance.
  const wb = new WriteBuffer(1, MiB)
  wb.allocPage(1, 10, false)
  wb.dispose()
})

test.serial('a view of a dropped buffer keeps its arena until the view goes', async (t) => {
  const capacity = 4 * MiB
  configureArenaCache({})
  await reclaimed()
  const live0 = liveArenas()
  let wb: WriteBuffer | null = new WriteBuffer(7, capacity)
  const held: { view: Buffer | null } = { view: wb.allocPage(1, 4096, false).page }
  held.view!.fill(0x42)
  wb = null
  // The buffer object is collected; the view holds the arena.
  t.false(await collectUntil(() => liveArenas() === live0, 15), 'the view keeps the arena')
  t.is(liveArenas(), live0 + 1)
  // New buffers of the same size never get that arena, and writing them
  // all over never reaches the view.
  for (let i = 0; i < 6; i++) {
    const other = new WriteBuffer(8 + i, capacity)
    arenaBytes(other).fill(0x99)
    other.dispose()
    await reclaimed()
  }
  t.true(held.view!.every((b) => b === 0x42), 'the view still reads its own bytes')
  // Once the view goes, so does the arena (freed or cached, off-thread).
  held.view = null
  t.true(await collectUntil(() => liveArenas() === live0), `liveArenas() ${liveArenas()}, was ${live0}`)
})

test.serial('buffers dropped without dispose(), no --expose-gc: RSS and liveArenas() stay bounded', async (t) => {
  // 160 buffers of 4 MiB (640 MiB made in all), a yield every 1000 pages.
  const { stdout } = await execFileP(process.execPath, [path.join(FIXTURES, 'arena-drop.js'), String(4 * MiB), '160', '1000'], {
    timeout: 120_000,
  })
  const r = JSON.parse(stdout.trim().split('\n').pop()!)
  t.log(`peak RSS +${((r.peakRss - r.baseRss) / MiB).toFixed(0)} MiB, peak liveArenas() ${r.peakLive}, cache ${JSON.stringify(r.cache)}`)
  t.is(r.made, 161)
  t.true(r.peakRss - r.baseRss < 320 * MiB, 'RSS bounded well under the 640 MiB made')
  t.true(r.peakLive - r.baseLive < 64, 'dropped arenas are released while the loop runs')
  t.true(r.cache.cachedBytes <= 64 * MiB, 'the cache keeps its bound for one size')
  t.true(r.cache.hits > 0, 'new buffers got cached arenas')
})

test.serial('configureArenaCache: bounds, the escape hatch and argument checks', async (t) => {
  const defaults = configureArenaCache({})
  try {
    t.deepEqual(configureArenaCache({ maxBytes: 0 }), { ...defaults, maxBytes: 0 })
    await reclaimed()
    const s0 = arenaCacheStats()
    new WriteBuffer(1, MiB).dispose()
    await reclaimed()
    const s1 = arenaCacheStats()
    t.is(s1.cachedArenas, 0, 'maxBytes: 0 keeps nothing')
    t.is(s1.freed, s0.freed + 1, 'the arena was freed')
    configureArenaCache(defaults)
    new WriteBuffer(1, MiB).dispose()
    await reclaimed()
    t.is(arenaCacheStats().cachedArenas, 1)
    trimArenaCache()
    await reclaimed()
    t.is(arenaCacheStats().cachedArenas, 0, 'trim frees the cache')
    t.is(arenaCacheStats().cachedBytes, 0)
  } finally {
    configureArenaCache(defaults)
  }
  t.throws(() => configureArenaCache({ maxBytes: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => configureArenaCache({ maxBytesPerSize: 1.5 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => configureArenaCache({ minArenasPerSize: '2' as unknown as number }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => configureArenaCache(null as unknown as object), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

test.serial('PHOTON_WB_ARENA_CACHE_MIB sets the bound at load (0 turns the cache off)', async (t) => {
  const index = JSON.stringify(path.join(path.resolve('__test__'), '..', 'index.js'))
  const { stdout } = await execFileP(
    process.execPath,
    ['-e', `const m = require(${index}); console.log(JSON.stringify(m.configureArenaCache()))`],
    { env: { ...process.env, PHOTON_WB_ARENA_CACHE_MIB: '0' } },
  )
  t.is(JSON.parse(stdout).maxBytes, 0)
})

test.serial("'js' arena mode: the SharedArrayBuffer and the bitmap are reported, and given back", async (t) => {
  const root = path.join(path.resolve('__test__'), '..')
  const code = `
    const m = require(${JSON.stringify(path.join(root, 'index.js'))})
    const native = require(${JSON.stringify(path.join(root, 'load-binding.js'))})
    const cap = 16 << 20
    const e0 = native.v8ExternalMemory()
    const wb = new m.WriteBuffer(1, cap)
    const e1 = native.v8ExternalMemory()
    wb.dispose()
    const e2 = native.v8ExternalMemory()
    console.log(JSON.stringify({ mode: m.arenaMode, cap, charged: e1 - e0, after: e2 - e0, live: m.liveArenas() }))
  `
  const { stdout } = await execFileP(process.execPath, ['-e', code], { env: { ...process.env, PHOTON_WB_ARENA: 'js' } })
  const r = JSON.parse(stdout)
  t.is(r.mode, 'js')
  // V8 charges a SharedArrayBuffer to no isolate: the addon reports it, with the bitmap.
  t.true(r.charged >= r.cap + r.cap / 64, `the arena and its bitmap are reported: ${r.charged}`)
  t.true(r.after <= r.charged - r.cap - r.cap / 64, `and given back on dispose(): ${r.after}`)
  t.is(r.live, 0, 'a borrowed arena is not a Rust-owned arena')
})
