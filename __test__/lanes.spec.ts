import test from 'ava'

import { WriteBuffer, WriteBufferError, recordSize, TOMBSTONE } from '../index.ts'

test('a lane reserves one chunk with one writer and allocates inside it', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(1000)
  t.is(wb.allocated, 1000)
  t.is(wb.writers, 1)
  const a = lane.allocPage(7n, 10)
  const b = lane.allocPage(8, 0)
  t.is(a.addr, (2n << 32n) | 16n)
  t.is(b.addr, (2n << 32n) | BigInt(recordSize(10) + 16))
  t.is(lane.remaining, 1000 - recordSize(10) - recordSize(0))
  t.is(wb.allocated, 1000, 'lane allocations do not touch the state word')
  a.page.write('0123456789')
  t.is(wb.page(a.addr).toString(), '0123456789')
})

test('closing a lane writes a tombstone filler over the tail and releases the writer', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(200)
  const a = lane.allocPage(1n, 8)
  t.is(lane.close(), 'none')
  t.true(lane.isClosed)
  t.is(wb.writers, 0)
  const view = new DataView(a.page.buffer, a.page.byteOffset - 16)
  const filler = recordSize(8)
  t.is(view.getUint32(filler + 8, true), TOMBSTONE)
  t.is(16 + view.getUint32(filler + 12, true), 200 - filler)
  t.is(wb.seal(), 'flush')
  t.deepEqual(
    [...wb].map((r) => r.kind === 'page' && r.pageId),
    [1n],
  )
})

test('a lane refuses a page that does not fit with ERR_AGAIN and stays usable', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(64)
  t.throws(() => lane.allocPage(1, 64), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  // A 56-byte record would leave an 8-byte tail that no filler header fits: refused too.
  t.throws(() => lane.allocPage(1, 40), { code: 'ERR_AGAIN' })
  t.is(lane.remaining, 64)
  lane.allocPage(1, 32)
  lane.allocPage(2, 0)
  t.is(lane.remaining, 0)
  t.is(lane.close(), 'none')
  wb.seal()
  t.is([...wb].length, 2)
})

test('closing a lane twice is ERR_CLOSED and releases nothing more', (t) => {
  const wb = new WriteBuffer(2, 4096)
  wb.acquire()
  const lane = wb.lane(64)
  t.is(wb.writers, 2)
  lane.close()
  t.throws(() => lane.close(), { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.throws(() => lane.allocPage(1, 1), { code: 'ERR_CLOSED' })
  t.is(wb.writers, 1)
})

test('a lane closes itself at the end of a using block, once', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(128)
  lane.allocPage(1, 1)
  lane[Symbol.dispose]()
  lane[Symbol.dispose]()
  t.true(lane.isClosed)
  t.is(wb.writers, 0)
})

test('a lane on a sealed buffer keeps its chunk and its close says flush', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(256)
  t.is(wb.seal(), 'none')
  t.throws(() => wb.lane(16), { code: 'ERR_AGAIN' })
  lane.allocPage(5, 5)
  t.is(lane.close(), 'flush')
  t.true(wb.isFlushable)
})

test('lane sizes round up, and a lane larger than the room left is ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(2, 64)
  const a = wb.lane(1)
  t.is(a.remaining, 16)
  t.throws(() => wb.lane(64), { code: 'ERR_AGAIN' })
  t.throws(() => wb.lane(128), { code: 'ERR_TOO_LARGE_SIZE' })
  t.throws(() => wb.lane(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => wb.lane('8' as unknown as number), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.is(wb.writers, 1)
})

test('a buffer written through lanes iterates like one written by allocPage', (t) => {
  const viaLanes = new WriteBuffer(9, 1 << 16)
  const direct = new WriteBuffer(9, 1 << 16)
  const sizes = [0, 1, 7, 8, 100, 300, 17, 64]
  let lane = viaLanes.lane(512)
  for (let i = 0; i < 200; i++) {
    const size = sizes[i % sizes.length]
    let a
    try {
      a = lane.allocPage(i, size)
    } catch (e) {
      t.is((e as WriteBufferError).code, 'ERR_AGAIN')
      lane.close()
      lane = viaLanes.lane(512)
      a = lane.allocPage(i, size)
    }
    a.page.fill(i & 0xff)
    direct.allocPage(i, size, false).page.fill(i & 0xff)
  }
  lane.close()
  viaLanes.seal()
  direct.seal()
  const got = [...viaLanes].map((r) => (r.kind === 'page' ? [r.pageId, r.page.toString('hex')] : null))
  const want = [...direct].map((r) => (r.kind === 'page' ? [r.pageId, r.page.toString('hex')] : null))
  t.deepEqual(got, want)
})

test('a writer guard counts one writer and releases it once', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const g = wb.acquire()
  t.is(wb.writers, 1)
  t.is(wb.allocated, 0)
  const a = g.allocPage(3n, 4)
  g.deallocPages([a.addr])
  t.is(wb.writers, 1)
  t.is(wb.seal(), 'none')
  t.is(g.release(), 'flush')
  t.true(g.isReleased)
  t.throws(() => g.release(), { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.throws(() => g.allocPage(1, 1), { code: 'ERR_CLOSED' })
  g[Symbol.dispose]()
  t.is(wb.writers, 0)
})

test('a writer guard released by dispose does not release another writer', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const other = wb.acquire()
  const g = wb.acquire()
  g[Symbol.dispose]()
  g[Symbol.dispose]()
  t.is(wb.writers, 1)
  other.release()
  t.is(wb.writers, 0)
})

test('acquire on a sealed buffer is ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(2, 4096)
  wb.seal()
  t.throws(() => wb.acquire(), { code: 'ERR_AGAIN' })
  t.is(wb.writers, 0)
})

test('tryAllocPage returns null where allocPage would throw ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(2, 4096)
  const lane = wb.lane(48)
  t.is(lane.tryAllocPage(1, 64), null)
  t.is(lane.tryAllocPage(1, 40), null)
  t.is(lane.remaining, 48)
  const a = lane.tryAllocPage(1, 32)
  t.not(a, null)
  t.is(a?.addr, (2n << 32n) | 16n)
  t.throws(() => lane.tryAllocPage(1, -1), { code: 'ERR_OUT_OF_RANGE' })
  lane.close()
  t.throws(() => lane.tryAllocPage(1, 1), { code: 'ERR_CLOSED' })
})
