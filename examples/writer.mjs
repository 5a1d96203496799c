// The worker of examples/workers.mjs.
import { parentPort, workerData } from 'node:worker_threads'
import { WriteBuffer } from 'photon-write-buffer'

const wb = WriteBuffer.attach(workerData.handle) // same arena, state word and flush latch
let lane = wb.lane(64 * 1024) // one CAS for the chunk; pages inside touch no shared atomic
let n = 0
for (; n < 10_000; n++) {
  const id = (BigInt(workerData.index + 1) << 32n) | BigInt(n)
  let page = lane.tryAllocPage(id, 100)
  if (page === null) {
    lane.close() // tombstone filler over the tail, releases the lane's writer
    lane = wb.lane(64 * 1024)
    page = lane.allocPage(id, 100)
  }
  page.page.fill(workerData.index + 1)
}
lane.close()
parentPort.postMessage(n)
await wb.waitFlushed() // resolves once the main thread's flushTo has synced the file
