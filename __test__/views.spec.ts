import test from 'ava'

import { WriteBuffer, type BufferRecord } from '../index.ts'

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Full collections with a turn of the event loop between them. */
async function collect(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await tick()
    globalThis.gc!()
  }
  await tick()
}

function pattern(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i * 7) & 0xff
  return out
}

function pageRecords(records: BufferRecord[]) {
  return records.flatMap((r) => (r.kind === 'page' ? [r] : []))
}

test('the gc function is exposed to the specs', (t) => {
  t.is(typeof globalThis.gc, 'function')
})

test('bytes written through an allocation view are seen by page(addr) and by iteration', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  const sizes = [1, 7, 8, 64, 100, 4096]
  const allocs = sizes.map((size, i) => {
    const a = wb.allocPage(BigInt(i), size, false)
    a.page.set(pattern(i, size))
    return a
  })
  for (const [i, a] of allocs.entries()) t.deepEqual(wb.page(a.addr), pattern(i, sizes[i]))
  wb.seal()
  const records = pageRecords([...wb])
  t.is(records.length, sizes.length)
  for (const [i, r] of records.entries()) {
    t.is(r.addr, allocs[i].addr)
    t.deepEqual(r.page, pattern(i, sizes[i]))
  }
})

test('bytes written after page(addr) was taken are seen through that earlier view', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 16, false)
  const view = wb.page(a.addr)
  t.true(view.every((b) => b === 0))
  a.page.write('written later...')
  t.is(view.toString(), 'written later...')
})

test('writing through a view returned by page(addr) is seen by the original view', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 12, false)
  const other = wb.page(a.addr)
  other.write('same memory!')
  t.is(a.page.toString(), 'same memory!')
  other[0] = 0x53
  t.is(a.page[0], 0x53)
  a.page.writeUInt32LE(0xdeadbeef, 8)
  t.is(other.readUInt32LE(8), 0xdeadbeef)
})

test('views from iteration alias the same memory as the allocation views', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 8, false)
  a.page.write('original')
  wb.seal()
  const [record] = pageRecords([...wb])
  t.is(record.page.toString(), 'original')
  record.page.write('changed!')
  t.is(a.page.toString(), 'changed!')
  t.is(wb.page(a.addr).toString(), 'changed!')
})

test('every view has exactly pageSize bytes', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  const sizes = [0, 1, 2, 7, 8, 9, 15, 16, 17, 255, 1000, 4096]
  const allocs = sizes.map((size) => wb.allocPage(1n, size, false))
  for (const [i, a] of allocs.entries()) {
    t.is(a.page.length, sizes[i])
    t.is(a.page.byteLength, sizes[i])
    t.is(wb.page(a.addr).length, sizes[i])
    t.is(a.header.pageSize, sizes[i])
  }
  const batched = wb.batch(
    sizes.map((s) => [2n, s] as const),
    [],
  ).pages
  for (const [i, a] of batched.entries()) t.is(a.page.length, sizes[i])
  wb.releaseWriter()
  wb.seal()
  t.deepEqual(
    pageRecords([...wb]).map((r) => r.page.length),
    [...sizes, ...sizes],
  )
})

test('views are Buffers with the Buffer methods', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 16, false)
  const located = wb.page(a.addr)
  wb.seal()
  const [record] = pageRecords([...wb])
  for (const view of [a.page, located, record.page]) {
    t.true(Buffer.isBuffer(view))
    t.true(view instanceof Buffer)
    t.true(view instanceof Uint8Array)
    t.is(view.constructor, Buffer)
  }
  a.page.write('hello, buffer!', 'utf8')
  t.is(located.toString('utf8', 0, 14), 'hello, buffer!')
  t.is(record.page.toString('hex', 0, 5), '68656c6c6f')
  t.true(Buffer.from('hello').equals(record.page.subarray(0, 5)))
  t.is(Buffer.concat([located.subarray(0, 5), Buffer.from('!')]).toString(), 'hello!')
})

test('a slice of a view writes through to the arena', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 32, false)
  a.page.subarray(8, 12).write('abcd')
  t.is(wb.page(a.addr).toString('latin1', 8, 12), 'abcd')
})

test('views of adjacent records do not overlap', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const sizes = [13, 8, 0, 5, 24, 1]
  const allocs = sizes.map((size, i) => {
    const a = wb.allocPage(BigInt(100 + i), size, false)
    a.page.fill(0x10 + i)
    return a
  })
  const dealloc = wb.deallocPages([7n, 8n], false)
  const tail = wb.allocPage(200n, 9, false)
  tail.page.fill(0x77)
  // Fill each view to the brim with 0xff, one at a time, and check its neighbours.
  for (const [i, a] of allocs.entries()) {
    a.page.fill(0xff)
    for (const [j, b] of allocs.entries()) {
      if (j === i) continue
      const expected = j < i ? 0xff : 0x10 + j
      t.true(
        b.page.every((x) => x === expected),
        `view ${j} after filling view ${i}`,
      )
      t.is(b.header.pageId, BigInt(100 + j))
      t.is(b.header.pageSize, sizes[j])
      t.false(b.header.isTombstone)
    }
    if (i + 1 < allocs.length) t.true(a.page.byteOffset + a.page.length <= allocs[i + 1].page.byteOffset - 16)
  }
  t.is(dealloc.pageSize, 16)
  t.false(dealloc.isTombstone)
  t.true(tail.page.every((x) => x === 0x77))
  wb.seal()
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'page', 'page', 'page', 'page', 'page', 'dealloc', 'page'],
  )
  t.deepEqual(records[6].kind === 'dealloc' ? records[6].addrs : [], [7n, 8n])
})

test('views of the records of one batch do not overlap', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const sizes = [3, 16, 0, 31]
  const { pages, dealloc } = wb.batch(
    sizes.map((s, i) => [BigInt(i), s] as const),
    [42n],
  )
  for (const [i, a] of pages.entries()) a.page.fill(i + 1)
  for (const [i, a] of pages.entries()) {
    t.true(a.page.every((x) => x === i + 1))
    t.is(a.header.pageSize, sizes[i])
    t.is(a.header.pageId, BigInt(i))
  }
  t.is(dealloc?.pageSize, 8)
  wb.releaseWriter()
  wb.seal()
  const records = [...wb]
  t.is(records.length, 5)
  const last = records[records.length - 1]
  t.deepEqual(last.kind === 'dealloc' ? last.addrs : null, [42n])
})

/** Builds a buffer, writes pages, and returns only views and a weak reference to it. */
function viewsOfDroppedBuffer() {
  const wb = new WriteBuffer(9, 1 << 16)
  const a = wb.allocPage(1n, 64, false)
  a.page.set(pattern(1, 64))
  const b = wb.allocPage(2n, 100, true)
  b.page.set(pattern(2, 100))
  const c = wb.allocPage(3n, 3, false)
  c.page.set(pattern(3, 3))
  const located = wb.page(b.addr)
  wb.releaseWriter()
  wb.seal()
  const iterated = pageRecords([...wb]).map((r) => r.page)
  return { ref: new WeakRef(wb), views: [a.page, located, c.page], iterated }
}

test('views outlive their WriteBuffer and still read and write the right bytes', async (t) => {
  const { ref, views, iterated } = viewsOfDroppedBuffer()
  await collect()
  t.is(ref.deref(), undefined, 'the WriteBuffer itself was collected')
  const expected = [pattern(1, 64), pattern(2, 100), pattern(3, 3)]
  t.deepEqual(views, expected)
  t.deepEqual(iterated, expected)
  // Writing them does not crash, and the views still share one memory.
  views[1].fill(0xab)
  t.true(iterated[1].every((x) => x === 0xab))
  iterated[0].write('still alive')
  t.is(views[0].toString('latin1', 0, 11), 'still alive')
  await collect()
  t.true(views[1].every((x) => x === 0xab))
  t.is(iterated[0].toString('latin1', 0, 11), 'still alive')
})

test('a view kept alone keeps the arena alive after the others are collected', async (t) => {
  let kept: Buffer
  {
    const { views, iterated } = viewsOfDroppedBuffer()
    kept = views[0]
    // The other views and records are dropped with this block.
    t.is(iterated.length, 3)
  }
  await collect()
  // Churn the allocator so freed memory would be reused.
  const churn: WriteBuffer[] = []
  for (let i = 0; i < 16; i++) {
    const wb = new WriteBuffer(i, 1 << 16)
    wb.allocPage(1n, (1 << 16) - 16, false).page.fill(0xcc)
    churn.push(wb)
  }
  t.deepEqual(kept, pattern(1, 64))
  kept.fill(0x01)
  t.true(kept.every((x) => x === 1))
  t.true(churn.every((wb) => wb.page(16n + (BigInt(wb.groupId) << 32n))[0] === 0xcc))
})

test('dropping a buffer with a writer still in progress does not crash or free a live view', async (t) => {
  const views = ((): Buffer[] => {
    const wb = new WriteBuffer(1, 1 << 16)
    const a = wb.allocPage(1n, 32, true)
    const b = wb.batch([[2n, 32]], [5n]).pages[0]
    a.page.fill(0x11)
    b.page.fill(0x22)
    t.is(wb.writers, 2)
    return [a.page, b.page]
  })()
  await collect()
  t.true(views[0].every((x) => x === 0x11))
  t.true(views[1].every((x) => x === 0x22))
  views[0].fill(0x33)
  t.true(views[0].every((x) => x === 0x33))
  t.true(views[1].every((x) => x === 0x22))
})

test('many buffers created and dropped in a loop with gc do not crash', async (t) => {
  const survivors: Buffer[] = []
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 10; i++) {
      const wb = new WriteBuffer(round * 10 + i, 1 << 16)
      const a = wb.allocPage(BigInt(i), 40, i % 2 === 0)
      a.page.fill(round & 0xff)
      if (i % 2 === 0) wb.releaseWriter()
      if (i === 0) survivors.push(wb.page(a.addr))
      if (i === 1) {
        wb.seal()
        for (const r of wb) if (r.kind === 'page') r.page[0] = round
      }
    }
    if (round % 8 === 0) await collect(1)
  }
  await collect()
  t.is(survivors.length, 40)
  for (const [round, view] of survivors.entries()) {
    t.is(view.length, 40)
    t.true(
      view.every((x) => x === (round & 0xff)),
      `survivor of round ${round}`,
    )
  }
})
