#!/usr/bin/env node
// The demo run by `npm run demo`: a PageLog in a temp directory, shared with
// several worker threads that append pages through it (zero-copy views, one
// CAS per page) while the main thread rotates the buffers, seals them in
// group order into durable segment files and reuses their arenas. Then: flush,
// close, reopen (recovery reads each segment's index and trailer, not its
// pages), and check every page at the address its worker was given (32 reads
// in flight). Then durable commits, as a server acknowledging
// clients uses the log: DEMO_CLIENTS async clients in the main thread, each
// appending a 100 B record and awaiting flush() before its next one, for
// DEMO_COMMIT_MS, in a second log of its own (a temp directory): commits/s,
// latency, and the files the commits made. Prints a progress bar and a table.
//
//   DEMO_WORKERS=3 DEMO_PAGES=40000 node examples/demo.js   (pages per worker)
//   DEMO_CLIENTS=32 DEMO_COMMIT_MS=1500 node examples/demo.js
//   DEMO_DIR=/some/dir npm run demo   keeps the page files there (empty or new
//                                     dir), e.g. for `npx photon-wb inspect /some/dir`
'use strict'
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PageLog } = require('..')

const WORKERS = Number(process.env.DEMO_WORKERS || 3)
const PAGES = Number(process.env.DEMO_PAGES || 40_000) // per worker
const BUFFER_SIZE = 8 << 20 // 8 MiB buffers
const MAX_BUFFERS = 6
const SIZES = [64, 256, 1024, 4096]
const PROGRESS_EVERY = 2000
const READS_IN_FLIGHT = 32
const CLIENTS = Number(process.env.DEMO_CLIENTS || 32)
const COMMIT_MS = Number(process.env.DEMO_COMMIT_MS || 1500)

const pageIdOf = (w, i) => (BigInt(w + 1) << 32n) | BigInt(i)
const sizeOf = (w, i) => SIZES[(i + w) % SIZES.length]
/** Page bytes: (worker, seq) in the first 8 bytes, then a pattern derived from them. */
function fill(view, w, i) {
  view.writeUInt32LE(w, 0)
  view.writeUInt32LE(i, 4)
  view.fill((w * 131 + i * 7) & 0xff, 8)
}
function check(page, w, i) {
  if (page.length !== sizeOf(w, i) || page.readUInt32LE(0) !== w || page.readUInt32LE(4) !== i) return false
  const b = (w * 131 + i * 7) & 0xff
  return page[8] === b && page[page.length - 1] === b && page[page.length >> 1] === b
}

async function workerMain() {
  const { handle, w } = workerData
  const writer = PageLog.attach(handle)
  const addrs = new BigUint64Array(PAGES)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < PAGES; i++) {
    const write = (view) => fill(view, w, i)
    // tryAppend: the address now, or null when it must wait for a buffer (backpressure): then append.
    addrs[i] = writer.tryAppend(pageIdOf(w, i), write, sizeOf(w, i)) ?? (await writer.append(pageIdOf(w, i), write, sizeOf(w, i)))
    if ((i + 1) % PROGRESS_EVERY === 0) parentPort.postMessage({ type: 'progress', w, done: i + 1 })
  }
  const ns = Number(process.hrtime.bigint() - t0)
  const t1 = process.hrtime.bigint()
  await writer.flush() // everything this worker appended is durable now
  const flushNs = Number(process.hrtime.bigint() - t1)
  parentPort.postMessage({ type: 'done', w, ns, flushNs, stats: writer.stats, addrs }, [addrs.buffer])
  writer.close()
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const mib = (bytes) => bytes / 2 ** 20

/** A progress bar on a terminal, a line per quarter otherwise (logs). */
function progress(total) {
  const tty = process.stderr.isTTY
  let shown = 0
  return (done, label) => {
    const frac = done / total
    if (tty) {
      const width = 30
      const full = Math.round(frac * width)
      process.stderr.write(`\r  ${label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${fmt(frac * 100)}% ${fmt(done)}/${fmt(total)} pages`)
      if (done === total) process.stderr.write('\n')
    } else {
      const quarter = Math.floor(frac * 4)
      if (quarter > shown) {
        shown = quarter
        process.stderr.write(`  ${label}: ${fmt(frac * 100)}% (${fmt(done)}/${fmt(total)} pages)\n`)
      }
    }
  }
}

async function main() {
  const keep = process.env.DEMO_DIR
  if (keep) {
    fs.mkdirSync(keep, { recursive: true })
    if (fs.readdirSync(keep).length > 0) throw new Error(`DEMO_DIR ${keep} is not empty: give a new or empty directory`)
    await run(path.resolve(keep))
    console.log(`page files kept in ${path.resolve(keep)}: try \`npx photon-wb inspect ${path.resolve(keep)}\``)
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photon-wb-demo-'))
  try {
    await run(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function run(dir) {
  const total = WORKERS * PAGES
  const bytes = Array.from({ length: WORKERS }, (_, w) => {
    let s = 0
    for (let i = 0; i < PAGES; i++) s += sizeOf(w, i)
    return s
  }).reduce((a, b) => a + b, 0)
  console.log(
    `photon-write-buffer demo: ${WORKERS} worker threads append ${fmt(total)} pages (${fmt(mib(bytes), 1)} MiB) ` +
      `to one PageLog (${BUFFER_SIZE >> 20} MiB buffers, at most ${MAX_BUFFERS} unflushed) in ${dir}`,
  )
  const log = await PageLog.open(dir, { bufferSize: BUFFER_SIZE, maxBuffers: MAX_BUFFERS })
  const handle = log.share()
  const bar = progress(total)
  const done = new Array(WORKERS).fill(0)
  const results = []
  const t0 = process.hrtime.bigint()
  await new Promise((resolve, reject) => {
    for (let w = 0; w < WORKERS; w++) {
      const worker = new Worker(__filename, { workerData: { handle, w } })
      worker.on('error', reject)
      worker.on('message', (m) => {
        if (m.type === 'progress') done[m.w] = m.done
        else if (m.type === 'done') {
          done[m.w] = PAGES
          results[m.w] = m
          if (results.filter(Boolean).length === WORKERS) resolve()
        }
        bar(done.reduce((a, b) => a + b, 0), 'appending')
      })
    }
  })
  const appendNs = Number(process.hrtime.bigint() - t0)

  const t1 = process.hrtime.bigint()
  await log.rotate() // seals the last buffer into its segment (a flush() would only commit it)
  const flushNs = Number(process.hrtime.bigint() - t1)
  const stats = log.stats
  await log.close()

  // Reopen: recovery reads each segment's trailer and index (not the pages) and rebuilds the index.
  const t2 = process.hrtime.bigint()
  const again = await PageLog.open(dir)
  const recoverNs = Number(process.hrtime.bigint() - t2)
  const files = fs.readdirSync(dir).filter((n) => n.endsWith('.pws') || n.endsWith('.page'))
  const fileBytes = files.reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0)
  const t3 = process.hrtime.bigint()
  let bad = 0
  let checked = 0
  const vbar = progress(total)
  // READS_IN_FLIGHT reads at a time, as a server answering many clients would
  // issue them: each read of a sealed segment is a checked pread off the JS
  // thread, so one at a time would time the thread hops, not the reads.
  const verify = async (r, i) => {
    // tryRead: the page now when no I/O is needed, else null: read does the I/O.
    const page = again.tryRead(r.addrs[i]) ?? (await again.read(r.addrs[i]))
    if (!check(page, r.w, i) || again.addressOf(pageIdOf(r.w, i)) !== r.addrs[i]) bad++
    if (++checked % PROGRESS_EVERY === 0 || checked === total) vbar(checked, 'verifying')
  }
  const jobs = results.flatMap((r) => Array.from({ length: PAGES }, (_, i) => [r, i]))
  let next = 0
  const reader = async () => {
    while (next < jobs.length) {
      const [r, i] = jobs[next++]
      await verify(r, i)
    }
  }
  await Promise.all(Array.from({ length: READS_IN_FLIGHT }, reader))
  const verifyNs = Number(process.hrtime.bigint() - t3)
  const distinct = new Set(results.flatMap((r) => Array.from(r.addrs))).size
  await again.close()

  const commits = await durableCommits()

  const stalls = results.reduce((s, r) => s + r.stats.stalls, 0)
  const secs = appendNs / 1e9
  const rows = [
    ['pages appended', `${fmt(total)} by ${WORKERS} worker threads (${fmt(distinct)} distinct addresses)`],
    ['page bytes', `${fmt(mib(bytes), 1)} MiB (segment files on disk: ${fmt(mib(fileBytes), 1)} MiB in ${files.length} files)`],
    ['append rate', `${fmt(total / secs)} pages/s, ${fmt(mib(bytes) / secs, 1)} MiB/s (incl. worker start-up and background flushes)`],
    ['buffers flushed', `${stats.flushes} (group ids 1..${stats.flushes}), peak ${stats.peakBuffers} unflushed`],
    ['arenas', `${stats.arenasCreated} allocated, ${stats.arenasReused} reused from the pool`],
    ['stalls (waited for a buffer)', `${fmt(stalls)}`],
    ['flush time', `${fmt(Math.max(...results.map((r) => r.flushNs)) / 1e6, 1)} ms for a worker's flush() (a commit: pwrite + fdatasync), ${fmt(flushNs / 1e6, 1)} ms for the owner's final rotate() (a seal)`],
    ['reopen (indexes and trailers, no page read)', `${fmt(recoverNs / 1e6, 1)} ms`],
    ['verify every page', `${fmt(checked)} pages in ${fmt(verifyNs / 1e6, 1)} ms, ${bad} corrupt`],
    ['durable commits', `${fmt(commits.perSec)} commits/s by ${CLIENTS} clients (append 100 B + await flush() each), ` +
      `p50 ${fmt(commits.p50, 2)} ms, p99 ${fmt(commits.p99, 2)} ms`],
    ['files made by commits', `${commits.files} for ${fmt(commits.count)} commits (${fmt((commits.files / commits.count) * 1000, 1)} per 1000 commits)`],
  ]
  const w = Math.max(...rows.map((r) => r[0].length))
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`)
  if (bad !== 0 || checked !== total || distinct !== total) {
    console.error('demo: verification FAILED')
    process.exit(1)
  }
  console.log('demo: every page read back intact after close and reopen, at the address its worker was given.')
}

/**
 * CLIENTS async clients, each: append a 100 B record, await flush() (the
 * record is durable: acknowledge it), repeat, for COMMIT_MS; in a log of its
 * own. Returns commits/s, latency percentiles and the files the commits made.
 */
async function durableCommits() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photon-wb-demo-commits-'))
  try {
    process.stderr.write(`  committing: ${CLIENTS} clients, append + flush() each, for ${fmt(COMMIT_MS / 1000, 1)} s\n`)
    const log = await PageLog.open(dir)
    const before = fs.readdirSync(dir).length
    const record = Buffer.alloc(100, 0x2a)
    const lat = []
    const t0 = performance.now()
    const end = t0 + COMMIT_MS
    const client = async (c) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now()
        const id = c * 1_000_000 + i
        await log.append(id, record)
        await log.flush()
        lat.push(performance.now() - s)
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
    const secs = (performance.now() - t0) / 1000
    const files = fs.readdirSync(dir).length - before
    await log.close()
    lat.sort((a, b) => a - b)
    const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)]
    return { count: lat.length, perSec: lat.length / secs, p50: q(0.5), p99: q(0.99), files }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else {
  workerMain().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
