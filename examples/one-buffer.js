#!/usr/bin/env node
// One buffer, end to end (the PageLog demo is examples/demo.js): several worker threads write pages into one
// shared WriteBuffer (zero-copy views, one CAS per reservation), the main
// thread seals it, walks every record and checks every byte, flushes it to a
// durable page file (which wakes the workers waiting on the flush), reads the
// file back and checks every page again at its old address. Prints what it
// did and how fast.
'use strict'
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { WriteBuffer, PageFile } = require('..')

const WORKERS = Number(process.env.DEMO_WORKERS || 3)
const CAPACITY = 64 << 20 // 64 MiB
const PAGE_SIZES = [64, 256, 1024, 4096]

/** The byte every page `id` is filled with: derived from the id, checked on read. */
const fillByte = (id) => Number((id * 2654435761n) >> 24n) & 0xff

function workerMain() {
  const { handle, index } = workerData
  const wb = WriteBuffer.attach(handle)
  let pages = 0
  let bytes = 0
  let acquired = false
  const t0 = process.hrtime.bigint()
  for (let seq = 0; ; seq++) {
    const id = (BigInt(index + 1) << 32n) | BigInt(seq)
    const size = PAGE_SIZES[seq % PAGE_SIZES.length]
    let alloc
    try {
      // The first reservation also counts this thread as a writer.
      alloc = wb.allocPage(id, size, !acquired)
      acquired = true
    } catch (e) {
      if (e.code === 'ERR_AGAIN') break // full: a real store would move to the next buffer
      throw e
    }
    alloc.page.fill(fillByte(id))
    pages++
    bytes += size
  }
  const ns = Number(process.hrtime.bigint() - t0)
  const state = acquired ? wb.releaseWriter() : 'none'
  parentPort.postMessage({ type: 'done', index, pages, bytes, ns, state })
  wb.waitFlushed().then(() => parentPort.postMessage({ type: 'woken', index }))
}

function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

async function main() {
  console.log(`photon-write-buffer demo: ${WORKERS} worker threads, one ${CAPACITY >> 20} MiB buffer`)
  const wb = new WriteBuffer(1, CAPACITY)
  const handle = wb.share()
  const t0 = process.hrtime.bigint()
  const results = []
  let flushStates = 0
  const woken = []
  await new Promise((resolve, reject) => {
    for (let index = 0; index < WORKERS; index++) {
      const w = new Worker(__filename, { workerData: { handle, index } })
      w.on('error', reject)
      w.on('message', (m) => {
        if (m.type === 'done') {
          results.push(m)
          if (m.state === 'flush') flushStates++
          process.stdout.write(
            `  worker ${m.index}: ${fmt(m.pages)} pages, ${fmt(m.bytes / 2 ** 20, 1)} MiB in ${fmt(m.ns / 1e6, 1)} ms\n`,
          )
          if (results.length === WORKERS) resolve()
        } else if (m.type === 'woken') woken.push(m.index)
      })
    }
  })
  const writeNs = Number(process.hrtime.bigint() - t0)

  const seal = wb.seal()
  if (seal === 'flush') flushStates++
  console.log(`sealed: ${fmt(wb.allocated)} of ${fmt(wb.capacity)} bytes reserved, seal() said '${seal}'`)

  const t1 = process.hrtime.bigint()
  let records = 0
  let bad = 0
  let bytes = 0
  for (const r of wb) {
    records++
    bytes += r.page.length
    const want = fillByte(r.pageId)
    if (r.page.length > 0 && (r.page[0] !== want || r.page[r.page.length - 1] !== want || wb.page(r.addr).length !== r.page.length)) bad++
  }
  const readNs = Number(process.hrtime.bigint() - t1)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photon-wb-demo-'))
  const t2 = process.hrtime.bigint()
  const flushed = await wb.flushTo(path.join(dir, '1.page')) // durable, then onFlushed()
  const flushNs = Number(process.hrtime.bigint() - t2)
  await new Promise((r) => setTimeout(r, 50)) // let the workers report their wake-up

  const t3 = process.hrtime.bigint()
  const file = await PageFile.open(flushed.path)
  let fileRecords = 0
  let fileBad = 0
  for (const r of file) {
    fileRecords++
    const want = fillByte(r.pageId)
    const again = file.page(r.addr) // the address the buffer handed out
    if (r.page.length > 0 && (again[0] !== want || again[again.length - 1] !== want)) fileBad++
  }
  const reopenNs = Number(process.hrtime.bigint() - t3)
  file.close()
  fs.rmSync(dir, { recursive: true, force: true })

  const pages = results.reduce((s, m) => s + m.pages, 0)
  const rows = [
    ['pages written', fmt(pages)],
    ['page bytes', `${fmt(bytes / 2 ** 20, 1)} MiB`],
    ['write time (all workers)', `${fmt(writeNs / 1e6, 1)} ms (incl. worker start-up)`],
    ['write rate', `${fmt(pages / (writeNs / 1e9))} pages/s, ${fmt(bytes / 2 ** 20 / (writeNs / 1e9), 1)} MiB/s`],
    ['records iterated + checked', `${fmt(records)} in ${fmt(readNs / 1e6, 1)} ms (${fmt(records / (readNs / 1e9))} records/s)`],
    ['corrupt pages', String(bad)],
    ['flushTo (write, fdatasync, rename, dir fsync)', `${fmt(flushed.bytes / 2 ** 20, 1)} MiB, ${fmt(flushed.records)} records in ${fmt(flushNs / 1e6, 1)} ms (${fmt(flushed.bytes / 2 ** 20 / (flushNs / 1e9), 1)} MiB/s)`],
    ['page file reopened + checked', `${fmt(fileRecords)} records in ${fmt(reopenNs / 1e6, 1)} ms, ${fileBad} corrupt`],
    ["callers told 'flush'", `${flushStates} (must be exactly 1)`],
    ['workers woken by onFlushed', `${woken.length} of ${WORKERS}`],
  ]
  const w = Math.max(...rows.map((r) => r[0].length))
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`)
  if (bad !== 0 || fileBad !== 0 || records !== pages || fileRecords !== pages || flushStates !== 1 || woken.length !== WORKERS) {
    console.error('demo: verification FAILED')
    process.exit(1)
  }
  console.log('demo: every page read back intact, from memory and from the page file.')
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else {
  workerMain()
}
