// Smoke test of the package under Bun (a trial, not part of `npm test` or CI).
// Runs under node too, so the same assertions stay honest:
//   bun scripts/bun-smoke.mjs      (or `npm run smoke:bun`: the bun on PATH)
//   node --expose-gc scripts/bun-smoke.mjs
// Needs the built addon (`npm run build`). Exercises require and import of the
// package, WriteBuffer alloc / views / records / lanes / errors, flushTo and
// PageFile.open, waitFlushed/onFlushed, share()+attach() from a worker, the
// PageLog loop (open/append/flush/read/close/recovery) and the CLI. Ends with
// `N passed, N failed`; exit 1 on any failure.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

const self = fileURLToPath(import.meta.url)
const root = path.resolve(path.dirname(self), '..')
const require = createRequire(import.meta.url)
const isBun = typeof globalThis.Bun !== 'undefined'

// `node scripts/bun-smoke.mjs --bun` (what `npm run smoke:bun` runs): re-run
// this file under the `bun` found on PATH, or say how to get one.
if (!isBun && process.argv.includes('--bun')) {
  const names = process.platform === 'win32' ? ['bun.exe', 'bun.cmd', 'bun'] : ['bun']
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  const bun = dirs.flatMap((d) => names.map((n) => path.join(d, n))).find((f) => fs.existsSync(f))
  if (!bun) {
    console.error(
      'smoke:bun: no `bun` on PATH. Bun is not a dependency of this package (a trial, see README "Bun").\n' +
        'Get one outside the project and put it on PATH, e.g.:\n' +
        '  mkdir -p /tmp/bunwork && cd /tmp/bunwork && npm i bun\n' +
        '  PATH=/tmp/bunwork/node_modules/.bin:$PATH npm run smoke:bun\n' +
        '(or install it from https://bun.sh). The same checks run under node: node --expose-gc scripts/bun-smoke.mjs',
    )
    process.exit(1)
  }
  console.log(`smoke:bun: ${bun} ${path.relative(process.cwd(), self)}`)
  const r = spawnSync(bun, [self], { stdio: 'inherit' })
  if (r.error) throw r.error
  process.exit(r.status ?? 1)
}
const runtime = isBun ? `bun ${globalThis.Bun.version}` : `node ${process.version}`
const counts = { passed: 0, failed: 0, skipped: 0 }
class Skip {
  constructor(reason) {
    this.reason = reason
  }
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-smoke-'))

async function check(name, fn) {
  const t0 = Date.now()
  try {
    const note = await fn()
    if (note instanceof Skip) {
      counts.skipped++
      console.log(`SKIP ${name}: ${note.reason}`)
      return
    }
    counts.passed++
    console.log(`PASS ${name}${note ? `: ${note}` : ''} (${Date.now() - t0} ms)`)
  } catch (e) {
    counts.failed++
    const msg = String(e && e.stack ? e.stack : e).split('\n').slice(0, 4).join('\n  ')
    console.log(`FAIL ${name}: ${msg}`)
  }
}

// Like `check`, but a hang counts as a failure instead of wedging the run.
function withTimeout(ms, what, p) {
  let timer
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

console.log(`photon-write-buffer smoke test under ${runtime} (${process.platform}/${process.arch})`)

let cjs
let api
await check('require("photon-write-buffer") (CommonJS, self-reference)', () => {
  cjs = require('photon-write-buffer')
  for (const k of ['WriteBuffer', 'PageFile', 'PageLog', 'WriteBufferError', 'recordSize', 'liveArenas']) {
    assert.equal(typeof cjs[k], 'function', k)
  }
  assert.equal(cjs.HEADER_SIZE, 16)
})
await check('import("photon-write-buffer") (ESM, self-reference)', async () => {
  api = await import('photon-write-buffer')
  assert.equal(typeof api.WriteBuffer, 'function')
  assert.equal(typeof api.default, 'object')
  if (cjs) assert.equal(api.WriteBuffer, cjs.WriteBuffer, 'ESM and CJS export the same class')
})
if (!api) api = cjs
if (!api) {
  console.log(`\n${counts.passed} passed, ${counts.failed} failed`)
  process.exit(1)
}
const { WriteBuffer, PageFile, PageLog, WriteBufferError, recordSize, liveArenas } = api

await check('WriteBuffer: allocPage, zero-copy views, seal', () => {
  const wb = new WriteBuffer(3, 1 << 16)
  const { addr, page, header } = wb.allocPage(42n, 5, true)
  assert.equal(typeof addr, 'bigint')
  assert.equal(addr >> 32n, 3n)
  assert.ok(Buffer.isBuffer(page))
  assert.equal(page.length, 5)
  assert.deepEqual([...page], [0, 0, 0, 0, 0], 'arena is zeroed')
  page.write('hello')
  assert.equal(header.pageId, 42n)
  assert.equal(header.pageSize, 5)
  assert.equal(wb.allocated, recordSize(5))
  assert.equal(wb.writers, 1)
  assert.equal(wb.releaseWriter(), 'none')
  assert.equal(wb.seal(), 'flush')
  assert.ok(wb.isFlushable)
  const again = wb.page(addr)
  assert.equal(again.toString(), 'hello')
  again[0] = 0x48 // same memory: a write through one view shows in the other
  assert.equal(page.toString(), 'Hello')
})

await check('WriteBuffer: records(), dealloc, batch, tombstone', () => {
  const wb = new WriteBuffer(1, 1 << 16)
  const a = wb.allocPage(1n, 8, false)
  a.page.fill(1)
  const b = wb.allocPage(2n, 24, false)
  b.page.fill(2)
  b.header.setTombstone()
  const { pages, dealloc } = wb.batch([[3n, 4], [4n, 100]], [a.addr, 7n << 32n])
  pages[0].page.fill(3)
  pages[1].page.fill(4)
  assert.equal(wb.releaseWriter(), 'none')
  wb.seal()
  const recs = [...wb] // iteration skips tombstoned records
  assert.deepEqual(recs.map((r) => r.kind), ['page', 'page', 'page', 'dealloc'])
  assert.deepEqual(recs.filter((r) => r.kind === 'page').map((r) => r.pageId), [1n, 3n, 4n])
  assert.deepEqual(recs[3].addrs, [a.addr, 7n << 32n])
  assert.equal(dealloc.kind, 'dealloc')
  assert.ok(recs[0].page.every((x) => x === 1))
  assert.ok(recs[2].page.every((x) => x === 4))
})

await check('WriteBuffer: lanes and writer guards', () => {
  const wb = new WriteBuffer(1, 1 << 16)
  const lane = wb.lane(256)
  let n = 0
  while (lane.tryAllocPage(BigInt(n), 40) !== null) n++
  assert.equal(n, 256 / recordSize(40) | 0)
  assert.equal(lane.close(), 'none')
  const g = wb.acquire()
  g.allocPage(99n, 1).page[0] = 9
  assert.equal(g.release(), 'none')
  assert.equal(wb.seal(), 'flush')
  const pages = [...wb].filter((r) => r.kind === 'page' && !r.header.isTombstone)
  assert.equal(pages.length, n + 1)
})

await check('errors: WriteBufferError codes', () => {
  const wb = new WriteBuffer(1, 1024)
  assert.throws(() => wb.allocPage(1n, 4096, true), (e) => e instanceof WriteBufferError && e.code === 'ERR_TOO_LARGE_SIZE')
  wb.seal()
  assert.throws(() => wb.allocPage(1n, 8, true), (e) => e instanceof WriteBufferError && e.code === 'ERR_AGAIN')
  assert.throws(() => new WriteBuffer(1, 1000), (e) => e.code !== undefined)
})

let flushedPath
await check('flushTo + PageFile.open: pages at their old addresses', async () => {
  const wb = new WriteBuffer(5, 1 << 20)
  const want = new Map()
  for (let i = 0; i < 200; i++) {
    const { addr, page } = wb.allocPage(BigInt(i), 10 + i, true)
    page.fill(i & 0xff)
    want.set(addr, i)
    wb.releaseWriter()
  }
  wb.seal()
  const waited = wb.waitFlushed()
  const res = await wb.flushTo(path.join(tmp, '5.page'))
  await withTimeout(5000, 'waitFlushed after flushTo', waited)
  assert.equal(res.records, 200)
  flushedPath = res.path
  const file = await PageFile.open(res.path)
  assert.equal(file.groupId, 5)
  assert.equal(file.size, 200)
  for (const [addr, i] of want) {
    const p = file.page(addr)
    assert.equal(p.length, 10 + i)
    assert.ok(p.every((x) => x === (i & 0xff)))
  }
  assert.throws(() => file.records().next().value.header.setTombstone(), (e) => e.code === 'ERR_READ_ONLY')
  file.close()
  await assert.rejects(wb.flushTo(res.path), (e) => e.code === 'EEXIST')
  return `${res.bytes} bytes`
})

await check('PageFile.open: corrupt file is ERR_CORRUPT', async () => {
  assert.ok(flushedPath, 'needs the flushTo check')
  const bad = path.join(tmp, 'bad.page')
  const bytes = fs.readFileSync(flushedPath)
  bytes[bytes.length >> 1] ^= 0xff
  fs.writeFileSync(bad, bytes)
  await assert.rejects(PageFile.open(bad), (e) => e.code === 'ERR_CORRUPT')
})

await check('waitFlushed: AbortSignal rejects', async () => {
  const wb = new WriteBuffer(1, 1024)
  const ac = new AbortController()
  const p = wb.waitFlushed({ signal: ac.signal })
  ac.abort()
  await assert.rejects(withTimeout(5000, 'aborted waitFlushed', p), (e) => e.name === 'AbortError')
})

await check('share() + attach() from a worker_threads Worker', async () => {
  const wb = new WriteBuffer(9, 1 << 20)
  const src = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { WriteBuffer } = require(${JSON.stringify(root)})
    const wb = WriteBuffer.attach(workerData.handle)
    const lane = wb.lane(64 * 1024)
    let n = 0
    for (; n < 500; n++) {
      const a = lane.tryAllocPage(BigInt(workerData.index) << 32n | BigInt(n), 50)
      if (a === null) break
      a.page.fill(workerData.index + 1)
    }
    lane.close()
    parentPort.postMessage(n)
    wb.waitFlushed().then(() => parentPort.postMessage('flushed'))
  `
  const workers = [0, 1].map((index) => new Worker(src, { eval: true, workerData: { handle: wb.share(), index } }))
  const exited = workers.map((w) => new Promise((r) => w.once('exit', r)))
  try {
    const msgs = workers.map((w) => {
      const got = []
      let wake
      w.on('message', (m) => { got.push(m); if (wake) wake() })
      w.on('error', (e) => { got.push(e); if (wake) wake() })
      return async () => {
        while (got.length === 0) await new Promise((r) => { wake = r })
        const m = got.shift()
        if (m instanceof Error) throw m
        return m
      }
    })
    const written = await withTimeout(20000, 'worker pages', Promise.all(msgs.map((next) => next())))
    assert.deepEqual(written, [500, 500])
    assert.equal(wb.seal(), 'flush')
    const pages = [...wb].filter((r) => r.kind === 'page' && !r.header.isTombstone)
    assert.equal(pages.length, 1000)
    for (const r of pages) assert.ok(r.page.every((x) => x === Number(r.pageId >> 32n) + 1))
    wb.onFlushed()
    const woken = await withTimeout(20000, 'worker waitFlushed woken by onFlushed', Promise.all(msgs.map((next) => next())))
    assert.deepEqual(woken, ['flushed', 'flushed'])
    await withTimeout(20000, 'worker exit', Promise.all(exited))
  } finally {
    for (const w of workers) w.terminate()
  }
})

await check('share() + attach() from a web Worker (global Worker, ESM module)', async () => {
  if (typeof globalThis.Worker !== 'function') return new Skip('no global Worker in this runtime (node 20)')
  const file = path.join(tmp, 'web-worker.mjs')
  fs.writeFileSync(
    file,
    `import { WriteBuffer } from ${JSON.stringify(path.join(root, 'index.mjs'))}
    self.onmessage = async ({ data }) => {
      const wb = WriteBuffer.attach(data)
      const { page } = wb.allocPage(77n, 16, true)
      page.fill(0xab)
      wb.releaseWriter()
      self.postMessage('written')
      await wb.waitFlushed()
      self.postMessage('flushed')
    }\n`,
  )
  const wb = new WriteBuffer(11, 1 << 16)
  const w = new globalThis.Worker(pathToFileURL(file).href, { type: 'module' })
  try {
    const inbox = []
    let wake
    w.onmessage = ({ data }) => { inbox.push(data); if (wake) wake() }
    w.onerror = (e) => { inbox.push(new Error(e.message || String(e))); if (wake) wake() }
    const next = async () => {
      while (inbox.length === 0) await new Promise((r) => { wake = r })
      const m = inbox.shift()
      if (m instanceof Error) throw m
      return m
    }
    w.postMessage(wb.share())
    assert.equal(await withTimeout(20000, 'web worker page', next()), 'written')
    assert.equal(wb.seal(), 'flush')
    const [rec] = [...wb]
    assert.equal(rec.pageId, 77n)
    assert.ok(rec.page.every((x) => x === 0xab))
    wb.onFlushed()
    assert.equal(await withTimeout(20000, 'web worker waitFlushed', next()), 'flushed')
  } finally {
    w.terminate()
  }
})

await check('a pending waitFlushed() keeps the event loop alive', () => {
  const file = path.join(tmp, 'keepalive.mjs')
  fs.writeFileSync(
    file,
    `import { WriteBuffer } from ${JSON.stringify(path.join(root, 'index.mjs'))}
    const wb = new WriteBuffer(1, 1024)
    wb.waitFlushed().then(() => console.log('woken'))
    setTimeout(() => wb.onFlushed(), 200).unref() // only the wait may keep the process up\n`,
  )
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30000 })
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`)
  assert.equal(r.stdout.trim(), 'woken', 'the process exited before the unref\'d timer woke the wait')
})

await check('PageLog: open, append, flush, read, close, reopen', async () => {
  const dir = path.join(tmp, 'log')
  const log = await PageLog.open(dir, { bufferSize: 4096, maxBuffers: 2 })
  const addrs = []
  for (let i = 0; i < 100; i++) {
    const data = Buffer.alloc(100, i)
    addrs.push(await log.append(BigInt(i), data)) // always a Promise (tryAppend is the synchronous call)
  }
  addrs.push(await log.append(1000n, (view) => view.write('by writer'), 9))
  const mem = await log.read(addrs[addrs.length - 1])
  assert.equal(mem.toString(), 'by writer')
  await withTimeout(20000, 'PageLog flush', log.flush())
  for (let i = 0; i < 100; i++) {
    const p = await log.read(addrs[i])
    assert.equal(p.length, 100)
    assert.ok(p.every((x) => x === i))
  }
  const stats = log.stats
  assert.ok(stats.flushes >= 3, `flushes ${stats.flushes}`)
  await withTimeout(20000, 'PageLog close', log.close())
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.page'))
  const again = await PageLog.open(dir)
  assert.equal(again.stats.recoveredFiles, files.length)
  for (let i = 0; i < 100; i += 7) assert.ok((await again.read(addrs[i])).every((x) => x === i))
  assert.equal((await again.read(addrs[100])).toString(), 'by writer')
  await again.close()
  return `${files.length} page files, ${stats.stalls} stalls`
})

await check('CLI: photon-wb inspect --json (same runtime)', () => {
  assert.ok(flushedPath, 'needs the flushTo check')
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'photon-wb.js'), 'inspect', flushedPath, '--json'], {
    encoding: 'utf8',
    timeout: 30000,
  })
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`)
  const out = JSON.parse(r.stdout)
  assert.ok(JSON.stringify(out).includes('"groupId":5'), 'names group 5')
})

const gc = isBun ? () => globalThis.Bun.gc(true) : globalThis.gc
// liveArenas() once a few full collections in a row change nothing.
async function settle() {
  let n = liveArenas()
  for (let i = 0; i < 50; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 20))
    const m = liveArenas()
    if (m === n && i >= 4) break
    n = m
  }
  return liveArenas()
}

await check('views keep the arena alive; liveArenas() falls after GC', async () => {
  if (typeof gc !== 'function') return new Skip('no gc(): run node with --expose-gc')
  const before = await settle() // earlier checks' buffers may still be collectable
  let view
  ;(() => {
    const wb = new WriteBuffer(1, 1 << 16)
    view = wb.allocPage(1n, 8, false).page
    view.fill(7)
  })()
  const held = await settle()
  assert.equal(held, before + 1, `a view keeps its arena (${before} before, ${held} with the view)`)
  assert.ok(view.every((x) => x === 7))
  view = null
  const after = await settle()
  assert.equal(after, before, `arenas: ${before} before, ${after} after dropping the view`)
  return `${before} → ${held} → ${after}`
})

await check('workers that exit or are terminated holding views release the arena', async () => {
  if (typeof gc !== 'function') return new Skip('no gc(): run node with --expose-gc')
  const before = await settle()
  let wb = new WriteBuffer(12, 1 << 16)
  const src = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { WriteBuffer } = require(${JSON.stringify(root)})
    const wb = WriteBuffer.attach(workerData.handle)
    const views = [wb.allocPage(1n, 8, false).page]
    if (workerData.how === 'wait') wb.waitFlushed()
    parentPort.postMessage('ready')
    if (workerData.how === 'process.exit') process.exit(0)
    if (workerData.how === 'spin') {
      // Terminated mid-loop: a lane of its own, so it never takes the others' room.
      const lane = wb.lane(4096)
      for (;;) {
        const a = lane.tryAllocPage(2n, 8)
        if (a !== null) views.push(a.page)
      }
    }
  `
  const hows = ['natural', 'process.exit', 'wait', 'spin']
  const workers = hows.map((how) => new Worker(src, { eval: true, workerData: { handle: wb.share(), how } }))
  const exited = workers.map((w) => new Promise((r) => w.once('exit', r)))
  const ready = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) }))
  await withTimeout(20000, 'workers ready', Promise.all(ready))
  await workers[2].terminate()
  await workers[3].terminate()
  await withTimeout(20000, 'worker exit', Promise.all(exited))
  wb = null
  const after = await settle()
  assert.equal(after, before, `arenas: ${before} before, ${after} after the workers and the buffer are gone`)
})

fs.rmSync(tmp, { recursive: true, force: true })
console.log(`\nunder ${runtime}${counts.skipped ? `, ${counts.skipped} skipped` : ''}:`)
console.log(`${counts.passed} passed, ${counts.failed} failed`)
process.exitCode = counts.failed === 0 ? 0 : 1
