// Two worker threads write through lanes into one shared buffer; the main
// thread seals it and flushes it to a page file, which wakes the workers.
// Run: node examples/workers.mjs
import { Worker } from 'node:worker_threads'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WriteBuffer, PageFile } from 'photon-write-buffer'

const wb = new WriteBuffer(1, 16 << 20)
const workers = [0, 1].map(
  (index) => new Worker(new URL('./writer.mjs', import.meta.url), { workerData: { handle: wb.share(), index } }),
)
const done = workers.map((w) => new Promise((resolve) => w.once('message', resolve)))
// Listen for 'exit' now: a worker may exit (once woken) before we get to wait for it.
const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))
const written = (await Promise.all(done)).reduce((sum, n) => sum + n, 0)

console.log(`workers wrote ${written} pages; seal() says '${wb.seal()}'`)
const dir = mkdtempSync(join(tmpdir(), 'photon-wb-example-'))
const { path, bytes, records } = await wb.flushTo(join(dir, '1.page')) // wakes the workers' waitFlushed()
const file = await PageFile.open(path)
console.log(`flushed ${records} records (${bytes} bytes); the file holds ${file.size}`)
await Promise.all(exited)
rmSync(dir, { recursive: true, force: true })
