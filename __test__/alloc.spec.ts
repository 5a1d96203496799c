import test from 'ava'

import { WriteBuffer, WriteBufferError, recordSize, type BufferRecord } from '../index.ts'

function state(wb: WriteBuffer) {
  return { allocated: wb.allocated, writers: wb.writers, isSealed: wb.isSealed, isFlushable: wb.isFlushable }
}

function pages(records: BufferRecord[]) {
  return records.flatMap((r) => (r.kind === 'page' ? [r] : []))
}

function deallocs(records: BufferRecord[]) {
  return records.flatMap((r) => (r.kind === 'dealloc' ? [r] : []))
}

// --- The seed's WriteBuffer tests, one by one ---------------------------------

test('a buffer of capacity 512 is constructed and dropped', async (t) => {
  const ref = ((): WeakRef<WriteBuffer> => {
    const wb = new WriteBuffer(1, 512)
    t.is(wb.groupId, 1)
    t.is(wb.capacity, 512)
    t.true(wb.isEmpty)
    return new WeakRef(wb)
  })()
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    globalThis.gc!()
  }
  t.is(ref.deref(), undefined)
})

test('a capacity that is not a power of two is refused', (t) => {
  t.throws(() => new WriteBuffer(1, 513), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
})

test('sealing a buffer with no writer returns flush', (t) => {
  const wb = new WriteBuffer(1, 512)
  t.is(wb.seal(), 'flush')
  t.true(wb.isSealed)
})

test('sealing a sealed buffer throws ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(1, 512)
  wb.seal()
  t.throws(() => wb.seal(), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.true(wb.isSealed)
  t.true(wb.isFlushable)
})

test('a sealed buffer with a writer in flight still needs the release, which returns flush', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const { pages: allocs, dealloc } = wb.batch([], [1n])
  t.is(allocs.length, 0)
  t.not(dealloc, null)
  t.is(wb.writers, 1)
  t.is(wb.seal(), 'none')
  t.false(wb.isFlushable)
  t.is(wb.releaseWriter(), 'flush')
  t.true(wb.isFlushable)
})

test('releasing a writer of a sealed buffer with no writer throws ERR_NO_WRITER', (t) => {
  const wb = new WriteBuffer(1, 512)
  wb.seal()
  t.throws(() => wb.releaseWriter(), { instanceOf: WriteBufferError, code: 'ERR_NO_WRITER' })
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: true, isFlushable: true })
})

test('iteration yields the live pages and dealloc records and skips tombstoned ones', (t) => {
  const wb = new WriteBuffer(1, 1024)
  // 1. add pages
  wb.batch(
    [
      [1n, 20],
      [3n, 40],
      [5n, 60],
      [7n, 80],
      [9n, 100],
    ],
    [11n, 12n, 13n, 14n, 15n],
  )
  wb.releaseWriter()
  // 2. add tombstones
  const { pages: tombPages, dealloc: tombDealloc } = wb.batch([[16n, 17]], [1n, 2n])
  for (const p of tombPages) p.header.setTombstone()
  t.not(tombDealloc, null)
  tombDealloc?.setTombstone()
  wb.releaseWriter()
  wb.seal()

  const records = [...wb]
  const active = new Set([1n, 3n, 5n, 7n, 9n])
  for (const r of pages(records)) t.true(active.delete(r.pageId), `unexpected page ${r.pageId}`)
  t.is(active.size, 0)
  const d = deallocs(records)
  t.is(d.length, 1)
  t.deepEqual(d[0].addrs, [11n, 12n, 13n, 14n, 15n])
  t.is(records.length, 6)
})

test('iteration yields the addresses allocPage returned, in order', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  const addrs: bigint[] = []
  for (let i = 4; i < 12; i++) addrs.push(wb.allocPage(0n, 1 << i, false).addr)
  wb.seal()
  t.deepEqual(
    [...wb].map((r) => r.addr),
    addrs,
  )
})

test('pages, dealloc records and tombstoned records are allocated side by side', (t) => {
  const wb = new WriteBuffer(1, 1 << 20)
  // 1. alloc normal pages
  const first = wb.allocPage(1n, 123, true)
  // 2. dealloc pages
  wb.deallocPages([5n, 6n, 7n], false)
  // 3. alloc but set page as tombstone
  wb.allocPage(2n, 222, false).header.setTombstone()
  wb.deallocPages([1n, 3n, 4n], false).setTombstone()
  t.is(wb.writers, 1)
  t.is(wb.allocated, recordSize(123) + recordSize(24) + recordSize(222) + recordSize(24))
  t.is(wb.releaseWriter(), 'none')

  wb.seal()
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'dealloc'],
  )
  t.is(records[0].addr, first.addr)
  t.deepEqual(deallocs(records)[0].addrs, [5n, 6n, 7n])
})

test('a reservation that does not fit the rest of the buffer throws ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(1, 8 << 10)
  // alloc 6 of 8
  wb.allocPage(1n, 4 << 10, true)
  wb.allocPage(2n, 2 << 10, false)
  const before = state(wb)
  // +4 does not fit: try the next buffer
  t.throws(() => wb.allocPage(3n, 4 << 10, false), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.deepEqual(state(wb), before)
  t.is(wb.releaseWriter(), 'none')
})

test('a record larger than the capacity throws ERR_TOO_LARGE_SIZE', (t) => {
  const wb = new WriteBuffer(1, 2 << 10)
  t.throws(() => wb.allocPage(1n, 4 << 10, true), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: false, isFlushable: false })
})

// --- Beyond the seed --------------------------------------------------------

test('batch with an empty dealloc list reserves no dealloc record', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const { pages: allocs, dealloc } = wb.batch(
    [
      [1n, 10],
      [2n, 20],
    ],
    [],
  )
  t.is(dealloc, null)
  t.is(allocs.length, 2)
  t.is(wb.allocated, recordSize(10) + recordSize(20))
  t.is(wb.writers, 1)
  wb.releaseWriter()
  wb.seal()
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'page'],
  )
})

test('batch with an empty BigUint64Array of dealloc addresses reserves no dealloc record', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const { dealloc } = wb.batch([[1n, 8]], new BigUint64Array(0))
  t.is(dealloc, null)
  t.is(wb.allocated, recordSize(8))
})

test('batch with neither pages nor dealloc addresses reserves nothing and acquires one writer', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const { pages: allocs, dealloc } = wb.batch([], [])
  t.deepEqual(allocs, [])
  t.is(dealloc, null)
  t.deepEqual(state(wb), { allocated: 0, writers: 1, isSealed: false, isFlushable: false })
  t.is(wb.seal(), 'none')
  t.is(wb.releaseWriter(), 'flush')
  t.deepEqual([...wb], [])
})

test('batch is one contiguous reservation with the dealloc record after the pages', (t) => {
  const wb = new WriteBuffer(7, 4096)
  wb.allocPage(100n, 5, false)
  const start = wb.allocated
  const sizes = [0, 1, 9, 64, 13]
  const { pages: allocs, dealloc } = wb.batch(
    sizes.map((s, i) => [BigInt(i + 1), s] as const),
    [21n, 22n],
  )
  let offset = start
  for (const [i, a] of allocs.entries()) {
    t.is(a.addr, (7n << 32n) | BigInt(offset + 16))
    t.is(a.page.length, sizes[i])
    t.is(a.header.pageId, BigInt(i + 1))
    t.is(a.header.pageSize, sizes[i])
    offset += recordSize(sizes[i])
  }
  t.not(dealloc, null)
  t.is(dealloc?.kind, 'dealloc')
  t.is(dealloc?.pageSize, 16)
  offset += recordSize(16)
  t.is(wb.allocated, offset)
  t.is(wb.writers, 1)
  wb.releaseWriter()
  wb.seal()
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'page', 'page', 'page', 'page', 'page', 'dealloc'],
  )
  t.is(records[6].addr, (7n << 32n) | BigInt(offset - recordSize(16) + 16))
})

test('every batch acquires exactly one writer', (t) => {
  const wb = new WriteBuffer(1, 4096)
  wb.batch([[1n, 8]], [])
  t.is(wb.writers, 1)
  wb.batch([], [1n, 2n])
  t.is(wb.writers, 2)
  wb.batch(
    [
      [1n, 8],
      [2n, 8],
      [3n, 8],
    ],
    [4n],
  )
  t.is(wb.writers, 3)
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.writers, 0)
})

test('a batch that does not fit the rest of the buffer throws ERR_AGAIN and changes nothing', (t) => {
  const wb = new WriteBuffer(1, 256)
  wb.allocPage(1n, 100, false)
  const before = state(wb)
  t.throws(
    () =>
      wb.batch(
        [
          [2n, 48],
          [3n, 48],
        ],
        [1n],
      ),
    { instanceOf: WriteBufferError, code: 'ERR_AGAIN' },
  )
  t.deepEqual(state(wb), before)
  // The room the failed batch did not take is still there.
  const next = wb.allocPage(4n, 48, false)
  t.is(next.addr, (1n << 32n) | BigInt(recordSize(100) + 16))
  wb.seal()
  t.deepEqual(
    [...wb].map((r) => (r.kind === 'page' ? r.pageId : -1n)),
    [1n, 4n],
  )
})

test('a batch whose records together exceed the capacity throws ERR_TOO_LARGE_SIZE', (t) => {
  const wb = new WriteBuffer(1, 64)
  t.throws(
    () =>
      wb.batch(
        [
          [1n, 24],
          [2n, 24],
        ],
        [],
      ),
    { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' },
  )
  t.throws(() => wb.batch([[1n, 24]], [1n, 2n]), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: false, isFlushable: false })
})

test('a reservation that fills the buffer exactly succeeds and the next one throws ERR_AGAIN', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 1024 - 16 - recordSize(8), false)
  const d = wb.deallocPages([9n], true)
  t.is(d.pageSize, 8)
  t.is(wb.allocated, 1024)
  t.is(wb.writers, 1)
  for (const attempt of [
    () => wb.allocPage(2n, 0, true),
    () => wb.deallocPages([], true),
    () => wb.batch([], [1n]),
    () => wb.batch([[1n, 0]], []),
  ]) {
    t.throws(attempt, { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
    t.deepEqual(state(wb), { allocated: 1024, writers: 1, isSealed: false, isFlushable: false })
  }
})

test('failed reservations leave allocated and writers unchanged', (t) => {
  const wb = new WriteBuffer(1, 512)
  wb.allocPage(1n, 200, true)
  const before = state(wb)
  const failures: [() => unknown, string][] = [
    [() => wb.allocPage(2n, 400, true), 'ERR_AGAIN'],
    [() => wb.allocPage(2n, 400, false), 'ERR_AGAIN'],
    [() => wb.allocPage(2n, 600, true), 'ERR_TOO_LARGE_SIZE'],
    [() => wb.allocPage(2n, 2 ** 32 - 1, true), 'ERR_TOO_LARGE_SIZE'],
    [() => wb.deallocPages(new Array(40).fill(1n), true), 'ERR_AGAIN'],
    [() => wb.deallocPages(new Array(80).fill(1n), true), 'ERR_TOO_LARGE_SIZE'],
    [() => wb.batch([[2n, 300]], []), 'ERR_AGAIN'],
    [() => wb.batch([[2n, 600]], []), 'ERR_TOO_LARGE_SIZE'],
  ]
  for (const [attempt, code] of failures) {
    t.throws(attempt, { instanceOf: WriteBufferError, code })
    t.deepEqual(state(wb), before)
  }
  wb.seal()
  const sealed = state(wb)
  for (const attempt of [
    () => wb.allocPage(2n, 8, true),
    () => wb.deallocPages([1n], true),
    () => wb.batch([[2n, 8]], [1n]),
  ]) {
    t.throws(attempt, { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
    t.deepEqual(state(wb), sealed)
  }
})

test('a page size whose record size overflows 32 bits is too large, not a tiny record', (t) => {
  const wb = new WriteBuffer(1, 1024)
  for (const size of [2 ** 32 - 1, 2 ** 32 - 8, 2 ** 32 - 16]) {
    t.throws(() => wb.allocPage(1n, size, false), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
    t.throws(() => wb.batch([[1n, size]], []), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  }
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: false, isFlushable: false })
})

test('allocPage counts a writer only when asked to', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, false)
  t.is(wb.writers, 0)
  wb.allocPage(2n, 8, true)
  t.is(wb.writers, 1)
  wb.deallocPages([1n], false)
  t.is(wb.writers, 1)
  wb.deallocPages([1n], true)
  t.is(wb.writers, 2)
})

test('setPageId later shows in the header and in iteration', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(0n, 16, true)
  const b = wb.allocPage(0n, 16, true)
  a.header.setPageId(1234)
  b.header.setPageId(2n ** 60n + 5n)
  t.is(a.header.pageId, 1234n)
  t.is(b.header.pageId, 2n ** 60n + 5n)
  wb.seal()
  // Headers may still change while writers are in progress.
  a.header.setPageId(4321n)
  wb.releaseWriter()
  wb.releaseWriter()
  t.deepEqual(
    pages([...wb]).map((r) => [r.addr, r.pageId]),
    [
      [a.addr, 4321n],
      [b.addr, 2n ** 60n + 5n],
    ],
  )
  t.deepEqual(
    pages([...wb]).map((r) => r.header.pageId),
    [4321n, 2n ** 60n + 5n],
  )
})

test('tombstoned page and dealloc records are skipped by iteration', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const p1 = wb.allocPage(1n, 8, true)
  const p2 = wb.allocPage(2n, 8, false)
  const d1 = wb.deallocPages([10n], false)
  const p3 = wb.allocPage(3n, 8, false)
  const d2 = wb.deallocPages([20n, 21n], false)
  const { pages: b, dealloc: d3 } = wb.batch(
    [
      [4n, 8],
      [5n, 8],
    ],
    [30n],
  )
  p2.header.setTombstone()
  d1.setTombstone()
  b[0].header.setTombstone()
  t.not(d3, null)
  d3?.setTombstone()
  wb.seal()
  // An aborted writer tombstones its records after the seal, before it releases.
  p1.header.setTombstone()
  t.true(p1.header.isTombstone)
  wb.releaseWriter()
  wb.releaseWriter()
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.addr),
    [p3.addr, records[1].addr, b[1].addr],
  )
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'dealloc', 'page'],
  )
  t.deepEqual(deallocs(records)[0].addrs, [20n, 21n])
  t.false(d2.isTombstone)
  t.true(d1.isTombstone)
  t.deepEqual(
    pages(records).map((r) => r.pageId),
    [3n, 5n],
  )
})

test('a header reports its kind, page id, page size and tombstone state', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const a = wb.allocPage(77n, 33, false)
  t.like(a.header, { kind: 'page', pageId: 77n, pageSize: 33, isTombstone: false })
  const d = wb.deallocPages([1n, 2n, 3n], false)
  t.like(d, { kind: 'dealloc', pageId: 0n, pageSize: 24, isTombstone: false })
  a.header.setTombstone()
  d.setTombstone()
  t.true(a.header.isTombstone)
  t.true(d.isTombstone)
  t.is(a.header.pageSize, 33)
  t.is(d.pageSize, 24)
})

test('dealloc record addresses round-trip as bigints, including values of 2^53 and above', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const given = [0, 1, Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 53n + 1n, 0xdeadbeefcafebaben, 2n ** 64n - 1n]
  const expected = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 0xdeadbeefcafebaben, 2n ** 64n - 1n]
  wb.deallocPages(given, false)
  wb.deallocPages(BigUint64Array.from(expected), false)
  const { dealloc } = wb.batch([], given)
  t.is(dealloc?.pageSize, 8 * given.length)
  wb.releaseWriter()
  wb.seal()
  const d = deallocs([...wb])
  t.is(d.length, 3)
  for (const r of d) {
    t.deepEqual(r.addrs, expected)
    t.true(Array.isArray(r.addrs))
    t.true(r.addrs.every((a) => typeof a === 'bigint'))
  }
})

test('an empty dealloc list given to deallocPages reserves an empty dealloc record', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const d = wb.deallocPages([], false)
  t.is(d.pageSize, 0)
  t.is(wb.allocated, 16)
  wb.seal()
  const records = [...wb]
  t.is(records.length, 1)
  t.is(records[0].kind, 'dealloc')
  t.deepEqual(deallocs(records)[0].addrs, [])
})

test('page ids of 2^53 and above round-trip exactly as bigints', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const ids = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]
  const allocs = ids.map((id) => wb.allocPage(id, 8, false))
  const batched = wb.batch(
    ids.map((id) => [id, 0] as const),
    [],
  ).pages
  wb.releaseWriter()
  t.deepEqual(
    allocs.map((a) => a.header.pageId),
    ids,
  )
  t.deepEqual(
    batched.map((a) => a.header.pageId),
    ids,
  )
  wb.seal()
  t.deepEqual(
    pages([...wb]).map((r) => r.pageId),
    [...ids, ...ids],
  )
})

test('a page id given as a safe-integer number reads back as the same bigint', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const ids = [0, 1, 0xffffffff, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]
  const allocs = ids.map((id) => wb.allocPage(id, 0, false))
  t.deepEqual(
    allocs.map((a) => a.header.pageId),
    ids.map(BigInt),
  )
  allocs[0].header.setPageId(Number.MAX_SAFE_INTEGER)
  t.is(allocs[0].header.pageId, BigInt(Number.MAX_SAFE_INTEGER))
})

test('a sealed buffer refuses every reservation with ERR_AGAIN but still serves its pages', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 4, false)
  a.page.write('live')
  wb.seal()
  t.throws(() => wb.allocPage(2n, 0, false), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.throws(() => wb.deallocPages([1n], false), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.throws(() => wb.batch([], []), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.is(wb.page(a.addr).toString(), 'live')
  t.is(wb.writers, 0)
})

test('releaseWriter returns none until the buffer is sealed and the last writer leaves', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, true)
  wb.allocPage(2n, 8, true)
  wb.allocPage(3n, 8, true)
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.seal(), 'none')
  t.is(wb.releaseWriter(), 'none')
  t.false(wb.isFlushable)
  t.is(wb.releaseWriter(), 'flush')
  t.true(wb.isFlushable)
  t.throws(() => wb.releaseWriter(), { instanceOf: WriteBufferError, code: 'ERR_NO_WRITER' })
})

test('writePage copies the bytes into a new page record and returns its address', (t) => {
  const wb = new WriteBuffer(9, 4096)
  const data = Buffer.from('hello, page')
  const addr = wb.writePage(42n, data, true)
  t.is(addr, (9n << 32n) | 16n)
  t.is(wb.writers, 1, 'acquireWriter counts a writer')
  t.deepEqual(wb.page(addr), data)
  const second = wb.writePage(2 ** 40, new Uint8Array([1, 2, 3]), false)
  t.is(second, addr + BigInt(recordSize(data.length)))
  t.is(wb.writers, 1)
  t.is(wb.allocated, recordSize(data.length) + recordSize(3))
  const empty = wb.writePage(7, Buffer.alloc(0), false)
  t.is(wb.page(empty).length, 0)
  // A source that is a view of this very arena (overlapping copy) works.
  const again = wb.writePage(8, wb.page(addr), false)
  t.deepEqual(wb.page(again), data)
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.seal(), 'flush')
  const recs = [...wb.records()]
  t.deepEqual(recs.map((r) => (r.kind === 'page' ? r.pageId : -1n)), [42n, 2n ** 40n, 7n, 8n])
})

test('writePage errors leave the state word unchanged', (t) => {
  const wb = new WriteBuffer(1, 64)
  t.throws(() => wb.writePage(1, 'text' as unknown as Uint8Array, false), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => wb.writePage(-1, Buffer.alloc(1), false), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => wb.writePage(1, Buffer.alloc(1), 1 as unknown as boolean), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => wb.writePage(1, Buffer.alloc(64), true), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  wb.writePage(1, Buffer.alloc(40, 1), false)
  t.throws(() => wb.writePage(2, Buffer.alloc(8), true), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.is(wb.allocated, 56)
  t.is(wb.writers, 0)
  wb.dispose()
  t.throws(() => wb.writePage(3, Buffer.alloc(1), false), { code: 'ERR_CLOSED' })
})
