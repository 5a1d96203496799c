import test from 'ava'

import {
  ALIGN,
  DEALLOC_PAGES,
  HEADER_SIZE,
  MAX_CAPACITY,
  MIN_CAPACITY,
  NORMAL_PAGE,
  TOMBSTONE,
  WriteBuffer,
  WriteBufferError,
  recordSize,
} from '../index.ts'

const roundUp8 = (n: number): number => Math.ceil(n / 8) * 8

/** The 16 header bytes in front of a page view, read straight from the arena. */
function headerOf(page: Buffer): { data: bigint; flags: number; pageSize: number; bytes: number[] } {
  const view = new DataView(page.buffer, page.byteOffset - 16, 16)
  return {
    data: view.getBigUint64(0, true),
    flags: view.getUint32(8, true),
    pageSize: view.getUint32(12, true),
    bytes: [...new Uint8Array(page.buffer, page.byteOffset - 16, 16)],
  }
}

function state(wb: WriteBuffer) {
  return {
    allocated: wb.allocated,
    writers: wb.writers,
    isSealed: wb.isSealed,
    isFlushable: wb.isFlushable,
    isEmpty: wb.isEmpty,
  }
}

test('the layout constants have the values of the contract', (t) => {
  t.is(HEADER_SIZE, 16)
  t.is(ALIGN, 8)
  t.is(NORMAL_PAGE, 0b1)
  t.is(DEALLOC_PAGES, 0b10)
  t.is(TOMBSTONE, 0b1000_0000)
  t.is(MIN_CAPACITY, 16)
  t.is(MAX_CAPACITY, 2 ** 31)
})

test('recordSize is 16 plus the body rounded up to a multiple of 8', (t) => {
  const table: [number, number][] = [
    [0, 16],
    [1, 24],
    [7, 24],
    [8, 24],
    [9, 32],
    [15, 32],
    [16, 32],
    [17, 40],
    [4095, 4112],
    [4096, 4112],
    [4097, 4120],
    [2 ** 31 - 16, 2 ** 31],
    [2 ** 32 - 8, 2 ** 32 + 8],
    [2 ** 32 - 1, 2 ** 32 + 16],
  ]
  for (const [body, size] of table) {
    t.is(recordSize(body), size, `recordSize(${body})`)
    t.is(recordSize(body), 16 + roundUp8(body), `recordSize(${body}) against the formula`)
  }
})

test('a page record header holds the page id, NORMAL_PAGE and the page size in little-endian order', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(0x0102030405060708n, 13, false)
  const h = headerOf(a.page)
  t.is(h.data, 0x0102030405060708n)
  t.is(h.flags, NORMAL_PAGE)
  t.is(h.pageSize, 13)
  t.deepEqual(h.bytes, [8, 7, 6, 5, 4, 3, 2, 1, 1, 0, 0, 0, 13, 0, 0, 0])
})

test('a page id of 2^64 - 1 and a page size above 2^24 are stored in full in the header', (t) => {
  const wb = new WriteBuffer(1, 1 << 25)
  const a = wb.allocPage(2n ** 64n - 1n, (1 << 24) + 3, false)
  const h = headerOf(a.page)
  t.is(h.data, 2n ** 64n - 1n)
  t.is(h.flags, NORMAL_PAGE)
  t.is(h.pageSize, (1 << 24) + 3)
  t.deepEqual(h.bytes, [255, 255, 255, 255, 255, 255, 255, 255, 1, 0, 0, 0, 3, 0, 0, 1])
})

test('the header of the record as seen by the header object matches the bytes', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(0xfedcba9876543210n, 77, true)
  t.is(a.header.kind, 'page')
  t.is(a.header.pageId, 0xfedcba9876543210n)
  t.is(a.header.pageSize, 77)
  t.false(a.header.isTombstone)
  t.is(headerOf(a.page).data, a.header.pageId)
  t.is(headerOf(a.page).pageSize, a.header.pageSize)
})

test('a dealloc record has data 0, DEALLOC_PAGES, 8 bytes per address and the addresses as its body', (t) => {
  const wb = new WriteBuffer(1, 1024)
  // An empty page at offset 0 gives access to the arena.
  const first = wb.allocPage(9n, 0, false)
  const arena = first.page.buffer
  const record = wb.allocated
  t.is(record, 16)
  const addrs = [0x1122334455667788n, 1n, 2n ** 64n - 1n]
  const header = wb.deallocPages(addrs, false)
  t.is(header.kind, 'dealloc')
  t.is(header.pageId, 0n)
  t.is(header.pageSize, 24)
  t.false(header.isTombstone)
  const base = first.page.byteOffset - 16 + record
  const view = new DataView(arena, base, 16 + 24)
  t.is(view.getBigUint64(0, true), 0n)
  t.is(view.getUint32(8, true), DEALLOC_PAGES)
  t.is(view.getUint32(12, true), 24)
  t.is(view.getBigUint64(16, true), 0x1122334455667788n)
  t.is(view.getBigUint64(24, true), 1n)
  t.is(view.getBigUint64(32, true), 2n ** 64n - 1n)
  t.deepEqual([...new Uint8Array(arena, base + 16, 8)], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
})

test('tombstoning a page record replaces its flags with TOMBSTONE and keeps its id and size', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(42n, 10, false)
  a.header.setTombstone()
  const h = headerOf(a.page)
  t.is(h.flags, TOMBSTONE)
  t.is(h.data, 42n)
  t.is(h.pageSize, 10)
  t.true(a.header.isTombstone)
})

test('tombstoning a dealloc record replaces its flags with TOMBSTONE and keeps its body', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const first = wb.allocPage(1n, 0, false)
  const header = wb.deallocPages([5n, 6n], false)
  header.setTombstone()
  t.true(header.isTombstone)
  const view = new DataView(first.page.buffer, first.page.byteOffset, 32)
  t.is(view.getBigUint64(0, true), 0n)
  t.is(view.getUint32(8, true), TOMBSTONE)
  t.is(view.getUint32(12, true), 16)
  t.is(view.getBigUint64(16, true), 5n)
  t.is(view.getBigUint64(24, true), 6n)
})

test('setPageId rewrites the data field of the page record header', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(0n, 8, false)
  a.header.setPageId(0xa0b0c0d0e0f00102n)
  t.is(headerOf(a.page).data, 0xa0b0c0d0e0f00102n)
  t.is(headerOf(a.page).flags, NORMAL_PAGE)
  t.is(headerOf(a.page).pageSize, 8)
  a.header.setPageId(12345)
  t.is(headerOf(a.page).data, 12345n)
})

test('the padding after a body reads as zero even when the whole view is filled', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const allocs = []
  for (let size = 0; size <= 17; size++) {
    const a = wb.allocPage(BigInt(size), size, false)
    a.page.fill(0xff)
    allocs.push(a)
  }
  for (const a of allocs) {
    const size = a.page.length
    const padding = new Uint8Array(a.page.buffer, a.page.byteOffset + size, roundUp8(size) - size)
    t.true(padding.every((b) => b === 0), `padding after a ${size}-byte body`)
  }
  // The neighbours' headers were not touched by the filled views.
  for (const a of allocs) {
    t.is(headerOf(a.page).pageSize, a.page.length)
    t.is(headerOf(a.page).data, BigInt(a.page.length))
    t.is(headerOf(a.page).flags, NORMAL_PAGE)
  }
})

test('an unfilled view reads as zero through the view, page(addr) and iteration', (t) => {
  const wb = new WriteBuffer(1, 4096)
  const a = wb.allocPage(1n, 300, false)
  const padded = new Uint8Array(a.page.buffer, a.page.byteOffset, roundUp8(300))
  t.true(padded.every((b) => b === 0))
  t.true(wb.page(a.addr).every((b) => b === 0))
  wb.seal()
  const [record] = [...wb]
  t.is(record.kind, 'page')
  if (record.kind === 'page') t.true(record.page.every((b) => b === 0))
})

test('the memory of a freed buffer never reaches the views of a new one', async (t) => {
  const capacity = 1 << 20
  for (let round = 0; round < 3; round++) {
    {
      const old = new WriteBuffer(round, capacity)
      for (let i = 0; i < 16; i++) old.allocPage(BigInt(i), capacity / 16 - 16, false).page.fill(0xee)
    }
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
    globalThis.gc?.()
    const wb = new WriteBuffer(round + 100, capacity)
    const a = wb.allocPage(1n, capacity - 16, false)
    t.true(a.page.every((b) => b === 0), `round ${round}`)
  }
})

test('addresses are the group id shifted left 32 bits ORed with the record offset plus 16', (t) => {
  const sizes = [0, 1, 8, 15, 16, 17, 100, 4096]
  for (const groupId of [0, 1, 7, 0x7fffffff, 0x80000000, 0xffffffff]) {
    const wb = new WriteBuffer(groupId, 1 << 16)
    let offset = 0
    for (const size of sizes) {
      const a = wb.allocPage(1n, size, false)
      const expected = (BigInt(groupId) << 32n) | BigInt(offset + 16)
      t.is(a.addr, expected, `group ${groupId}, record at ${offset}`)
      t.is(typeof a.addr, 'bigint')
      t.is(a.page.byteOffset, offset + 16)
      t.is(a.addr & 7n, 0n)
      t.is(wb.page(a.addr).byteOffset, offset + 16)
      offset += recordSize(size)
    }
  }
})

test('the address of the first page of group 0xffffffff is 0xffffffff00000010', (t) => {
  const wb = new WriteBuffer(0xffffffff, 64)
  t.is(wb.groupId, 0xffffffff)
  const a = wb.allocPage(1n, 4, false)
  t.is(a.addr, 0xffffffff00000010n)
  a.page.write('abcd')
  t.is(wb.page(0xffffffff00000010n).toString(), 'abcd')
})

test('allocated grows by recordSize of every reservation', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  let expected = 0
  for (const size of [0, 1, 7, 8, 9, 31, 250, 1000]) {
    wb.allocPage(1n, size, false)
    expected += recordSize(size)
    t.is(wb.allocated, expected)
  }
  for (const n of [1, 2, 5]) {
    wb.deallocPages(Array.from({ length: n }, (_, i) => BigInt(i)), false)
    expected += recordSize(8 * n)
    t.is(wb.allocated, expected)
  }
  wb.batch(
    [
      [1n, 3],
      [2n, 40],
    ],
    [7n, 8n, 9n],
  )
  expected += recordSize(3) + recordSize(40) + recordSize(24)
  t.is(wb.allocated, expected)
  t.is(wb.allocated % 8, 0)
})

test('a new buffer reads back its group id and capacity and is empty, unsealed and without writers', (t) => {
  const wb = new WriteBuffer(77, 512)
  t.is(wb.groupId, 77)
  t.is(wb.capacity, 512)
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: false, isFlushable: false, isEmpty: true })
})

test('the state follows allocations, seal and releases', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, false)
  t.deepEqual(state(wb), { allocated: 24, writers: 0, isSealed: false, isFlushable: false, isEmpty: false })
  wb.allocPage(2n, 1, true)
  t.deepEqual(state(wb), { allocated: 48, writers: 1, isSealed: false, isFlushable: false, isEmpty: false })
  wb.deallocPages([1n], true)
  t.deepEqual(state(wb), { allocated: 72, writers: 2, isSealed: false, isFlushable: false, isEmpty: false })
  t.is(wb.releaseWriter(), 'none')
  t.deepEqual(state(wb), { allocated: 72, writers: 1, isSealed: false, isFlushable: false, isEmpty: false })
  t.is(wb.seal(), 'none')
  t.deepEqual(state(wb), { allocated: 72, writers: 1, isSealed: true, isFlushable: false, isEmpty: false })
  t.is(wb.releaseWriter(), 'flush')
  t.deepEqual(state(wb), { allocated: 72, writers: 0, isSealed: true, isFlushable: true, isEmpty: false })
})

test('sealing a buffer with no writer makes it flushable at once, even when empty', (t) => {
  const wb = new WriteBuffer(1, 1024)
  t.is(wb.seal(), 'flush')
  t.deepEqual(state(wb), { allocated: 0, writers: 0, isSealed: true, isFlushable: true, isEmpty: true })
})

test('the writer count follows many acquiring reservations and releases', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  for (let i = 1; i <= 1000; i++) {
    wb.allocPage(BigInt(i), 0, true)
    t.is(wb.writers, i)
  }
  t.is(wb.allocated, 16_000)
  for (let i = 999; i >= 0; i--) {
    t.is(wb.releaseWriter(), 'none')
    t.is(wb.writers, i)
  }
  t.is(wb.allocated, 16_000)
  t.false(wb.isSealed)
})

test('a buffer of capacity 16 holds exactly one empty page', (t) => {
  const wb = new WriteBuffer(3, 16)
  t.is(wb.capacity, 16)
  t.throws(() => wb.allocPage(1n, 1, false), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  t.throws(() => wb.deallocPages([1n], false), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  t.true(wb.isEmpty)
  const a = wb.allocPage(5n, 0, false)
  t.is(a.addr, (3n << 32n) | 16n)
  t.is(a.page.length, 0)
  t.is(wb.allocated, 16)
  t.throws(() => wb.allocPage(6n, 0, false), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.is(wb.allocated, 16)
  t.is(wb.seal(), 'flush')
  const records = [...wb]
  t.is(records.length, 1)
  t.is(records[0].addr, a.addr)
  t.is(records[0].kind === 'page' ? records[0].pageId : -1n, 5n)
})

test('a buffer of capacity 2^31 allocates lazily and fills up exactly', (t) => {
  const wb = new WriteBuffer(2, 2 ** 31)
  t.is(wb.capacity, 2 ** 31)
  t.throws(() => wb.allocPage(1n, 2 ** 31 - 15, false), { instanceOf: WriteBufferError, code: 'ERR_TOO_LARGE_SIZE' })
  t.true(wb.isEmpty)
  const small = wb.allocPage(1n, 8, false)
  small.page.write('8 bytes!')
  const bigSize = 2 ** 31 - 24 - 16
  const big = wb.allocPage(2n, bigSize, false)
  t.is(big.addr, (2n << 32n) | 40n)
  t.is(big.page.length, bigSize)
  t.is(wb.allocated, 2 ** 31)
  big.page.write('head', 0)
  big.page.write('tail', bigSize - 4)
  const again = wb.page(big.addr)
  t.is(again.length, bigSize)
  t.is(again.toString('latin1', 0, 4), 'head')
  t.is(again.toString('latin1', bigSize - 4), 'tail')
  t.is(again[bigSize / 2], 0)
  t.is(headerOf(big.page).pageSize, bigSize)
  t.throws(() => wb.allocPage(3n, 0, false), { instanceOf: WriteBufferError, code: 'ERR_AGAIN' })
  t.is(wb.allocated, 2 ** 31)
  t.is(wb.seal(), 'flush')
  const records = [...wb]
  t.deepEqual(
    records.map((r) => r.addr),
    [small.addr, big.addr],
  )
  t.is(wb.page(small.addr).toString(), '8 bytes!')
})

test('a single page body of 2^31 - 16 bytes fills a 2^31 buffer', (t) => {
  const wb = new WriteBuffer(0, 2 ** 31)
  const a = wb.allocPage(1n, 2 ** 31 - 16, true)
  t.is(a.addr, 16n)
  t.is(wb.allocated, 2 ** 31)
  t.is(wb.writers, 1)
  a.page[a.page.length - 1] = 0x5a
  t.is(wb.page(16n)[2 ** 31 - 17], 0x5a)
  t.is(wb.seal(), 'none')
  t.is(wb.releaseWriter(), 'flush')
})

test('recordSize (computed in JS) agrees with the native layout for edge and random sizes', (t) => {
  // What the native side reserves for a page of n bytes, against recordSize(n)
  // (sizes that fit a 1 MiB buffer; the formula test above covers the rest).
  const capacity = 1 << 20
  const sizes = [0, 1, 7, 8, 9, 15, 16, 17, 4095, 4096, 4097, 65535, 65536, capacity - 16]
  for (let i = 0; i < 200; i++) sizes.push(Math.floor(Math.random() * (capacity - 16)))
  let wb = new WriteBuffer(1, capacity)
  for (const n of sizes) {
    if (wb.allocated + recordSize(n) > capacity) wb = new WriteBuffer(1, capacity)
    const before = wb.allocated
    const { addr } = wb.allocPage(1n, n, false)
    t.is(wb.allocated - before, recordSize(n), `recordSize(${n})`)
    t.is(addr, (1n << 32n) + BigInt(before + HEADER_SIZE), `the page of ${n} bytes starts after its header`)
  }
})
