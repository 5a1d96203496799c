import test from 'ava'

import { WriteBuffer, WriteBufferError, recordSize, type BufferRecord, type PageAlloc } from '../index.ts'

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function body(id: bigint, size: number): Buffer {
  const out = Buffer.alloc(size)
  const seed = Number(id & 0xffffn)
  for (let i = 0; i < size; i++) out[i] = (seed + i * 13) & 0xff
  return out
}

/** Every string property an object offers, own or inherited, short of Object.prototype. */
function propertyNames(value: object): string[] {
  const names = new Set<string>()
  for (let o: object | null = value; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) if (name !== 'constructor') names.add(name)
  }
  return [...names].sort()
}

type Expected =
  | { kind: 'page'; addr: bigint; pageId: bigint; size: number }
  | { kind: 'dealloc'; addr: bigint; addrs: bigint[] }

function check(t: import('ava').ExecutionContext, records: BufferRecord[], expected: Expected[]): void {
  t.is(records.length, expected.length)
  // Compare cheaply first so a mismatch reports one clear diff.
  t.deepEqual(
    records.map((r) => r.addr),
    expected.map((e) => e.addr),
  )
  t.deepEqual(
    records.map((r) => r.kind),
    expected.map((e) => e.kind),
  )
  let bad = 0
  for (const [i, r] of records.entries()) {
    const e = expected[i]
    if (r.kind === 'page' && e.kind === 'page') {
      if (r.pageId !== e.pageId || r.page.length !== e.size || !r.page.equals(body(e.pageId, e.size))) bad++
    } else if (r.kind === 'dealloc' && e.kind === 'dealloc') {
      if (r.addrs.length !== e.addrs.length || r.addrs.some((a, j) => a !== e.addrs[j])) bad++
    } else {
      bad++
    }
  }
  t.is(bad, 0, 'records whose id, size, bytes or addresses differ')
}

/** Fills a flushable buffer of `n` records of a few bytes each, one page per record. */
function nPages(n: number, groupId = 5): { wb: WriteBuffer; allocs: PageAlloc[] } {
  const wb = new WriteBuffer(groupId, 1 << 20)
  const allocs: PageAlloc[] = []
  for (let i = 0; i < n; i++) {
    const a = wb.allocPage(BigInt(i), i % 17, false)
    a.page.set(body(BigInt(i), i % 17))
    allocs.push(a)
  }
  wb.seal()
  return { wb, allocs }
}

test('iteration order equals allocation order over thousands of mixed records', (t) => {
  const rand = prng(0xc0ffee)
  const wb = new WriteBuffer(0x1234, 1 << 22)
  const expected: Expected[] = []
  let nextId = 1n
  while (expected.length < 4000) {
    const r = rand()
    if (r < 0.7) {
      const size = Math.floor(rand() * 301)
      const id = nextId++ * 0x1_0000_0001n
      const a = wb.allocPage(id, size, rand() < 0.1)
      a.page.set(body(id, size))
      expected.push({ kind: 'page', addr: a.addr, pageId: id, size })
    } else if (r < 0.85) {
      const n = Math.floor(rand() * 6)
      const addrs = Array.from({ length: n }, () => BigInt(Math.floor(rand() * 2 ** 32)) << BigInt(Math.floor(rand() * 32)))
      const offset = wb.allocated
      wb.deallocPages(addrs, false)
      expected.push({ kind: 'dealloc', addr: (0x1234n << 32n) | BigInt(offset + 16), addrs })
    } else {
      const sizes = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 301))
      const ids = sizes.map(() => nextId++)
      const addrs = rand() < 0.5 ? [] : [BigInt(expected.length), 2n ** 64n - 1n]
      const offset = wb.allocated
      const { pages, dealloc } = wb.batch(
        sizes.map((s, i) => [ids[i], s] as const),
        addrs,
      )
      for (const [i, a] of pages.entries()) {
        a.page.set(body(ids[i], sizes[i]))
        expected.push({ kind: 'page', addr: a.addr, pageId: ids[i], size: sizes[i] })
      }
      if (dealloc !== null) {
        const at = offset + sizes.reduce((sum, s) => sum + recordSize(s), 0)
        expected.push({ kind: 'dealloc', addr: (0x1234n << 32n) | BigInt(at + 16), addrs })
      }
      t.is(dealloc === null, addrs.length === 0)
    }
  }
  while (wb.writers > 0) wb.releaseWriter()
  wb.seal()
  t.true(wb.isFlushable)
  check(t, [...wb.records()], expected)
  // A second walk sees the same records.
  check(t, [...wb], expected)
})

test('spreading the buffer yields the same records as records()', (t) => {
  const wb = new WriteBuffer(2, 1 << 16)
  for (let i = 0; i < 50; i++) {
    if (i % 7 === 3) wb.deallocPages([BigInt(i)], false)
    else wb.allocPage(BigInt(i), i * 3, false)
  }
  wb.seal()
  const spread = [...wb]
  const iterated = [...wb.records()]
  t.is(spread.length, 50)
  t.deepEqual(
    spread.map((r) => r.addr),
    iterated.map((r) => r.addr),
  )
  t.deepEqual(
    spread.map((r) => r.kind),
    iterated.map((r) => r.kind),
  )
  const forOf: bigint[] = []
  for (const r of wb) forOf.push(r.addr)
  t.deepEqual(
    forOf,
    iterated.map((r) => r.addr),
  )
})

test('records() returns an iterator that is its own iterable', (t) => {
  const { wb, allocs } = nPages(3)
  const it = wb.records()
  t.is(it[Symbol.iterator](), it)
  t.is(typeof it.next, 'function')
  const first = it.next()
  t.false(first.done)
  t.is(first.value.addr, allocs[0].addr)
  t.deepEqual(
    [...it].map((r) => r.addr),
    [allocs[1].addr, allocs[2].addr],
  )
  t.deepEqual(it.next(), { done: true, value: undefined })
  t.deepEqual(it.next(), { done: true, value: undefined })
})

test('two iterators over one buffer walk independently', (t) => {
  const { wb, allocs } = nPages(600)
  const a = wb.records()
  const b = wb.records()
  const seenA: bigint[] = []
  const seenB: bigint[] = []
  for (let i = 0; i < 600; i++) {
    seenA.push(a.next().value.addr)
    if (i % 2 === 0) seenB.push(b.next().value.addr)
  }
  for (let r = b.next(); !r.done; r = b.next()) seenB.push(r.value.addr)
  t.true(a.next().done)
  const expected = allocs.map((x) => x.addr)
  t.deepEqual(seenA, expected)
  t.deepEqual(seenB, expected)
})

test('a page record has exactly the properties kind, addr, pageId, page and header', (t) => {
  const wb = new WriteBuffer(6, 1024)
  const a = wb.allocPage(2n ** 60n, 10, false)
  a.page.write('0123456789')
  wb.seal()
  const [r] = [...wb]
  t.deepEqual(propertyNames(r), ['addr', 'header', 'kind', 'page', 'pageId'])
  t.is(r.kind, 'page')
  if (r.kind !== 'page') return
  t.is(typeof r.addr, 'bigint')
  t.is(r.addr, a.addr)
  t.is(typeof r.pageId, 'bigint')
  t.is(r.pageId, 2n ** 60n)
  t.true(Buffer.isBuffer(r.page))
  t.is(r.page.toString(), '0123456789')
  t.false('addrs' in r)
  t.like(r.header, { kind: 'page', pageId: 2n ** 60n, pageSize: 10, isTombstone: false })
  t.is(typeof r.header.setTombstone, 'function')
  t.is(typeof r.header.setPageId, 'function')
})

test('a dealloc record has exactly the properties kind, addr, addrs and header', (t) => {
  const wb = new WriteBuffer(6, 1024)
  wb.deallocPages([3n, 2n ** 63n], false)
  wb.seal()
  const [r] = [...wb]
  t.deepEqual(propertyNames(r), ['addr', 'addrs', 'header', 'kind'])
  t.is(r.kind, 'dealloc')
  if (r.kind !== 'dealloc') return
  t.is(r.addr, (6n << 32n) | 16n)
  t.deepEqual(r.addrs, [3n, 2n ** 63n])
  t.false('pageId' in r)
  t.false('page' in r)
  t.like(r.header, { kind: 'dealloc', pageId: 0n, pageSize: 16, isTombstone: false })
})

test('a page allocation has exactly the properties addr, page and header', (t) => {
  const wb = new WriteBuffer(6, 1024)
  const a = wb.allocPage(1n, 4, false)
  t.deepEqual(propertyNames(a), ['addr', 'header', 'page'])
  t.is(typeof a.addr, 'bigint')
  t.true(Buffer.isBuffer(a.page))
  t.deepEqual(propertyNames(a.header).filter((n) => !n.startsWith('set')), ['isTombstone', 'kind', 'pageId', 'pageSize'])
})

test('an empty sealed buffer yields no record', (t) => {
  const wb = new WriteBuffer(1, 1024)
  wb.seal()
  t.deepEqual([...wb], [])
  t.true(wb.records().next().done)
})

test('a buffer holding only tombstones yields no record', (t) => {
  const wb = new WriteBuffer(1, 1 << 16)
  for (let i = 0; i < 300; i++) wb.allocPage(BigInt(i), 8, false).header.setTombstone()
  wb.deallocPages([1n], false).setTombstone()
  wb.seal()
  t.deepEqual([...wb], [])
})

for (const n of [1, 255, 256, 257, 511, 512, 513, 1000]) {
  test(`iteration yields all ${n} records across the 256-record fetch batches`, (t) => {
    const { wb, allocs } = nPages(n)
    const expected: Expected[] = allocs.map((a, i) => ({ kind: 'page', addr: a.addr, pageId: BigInt(i), size: i % 17 }))
    check(t, [...wb], expected)
  })
}

test('tombstones around the 256-record fetch boundaries are skipped', (t) => {
  const wb = new WriteBuffer(8, 1 << 20)
  const live: Expected[] = []
  for (let i = 0; i < 1030; i++) {
    const id = BigInt(i)
    // Tombstone a run straddling each boundary, and every record of the second batch.
    const dead = (i >= 250 && i < 262) || (i >= 256 && i < 512) || i === 767 || i === 768 || i === 1029
    if (i % 5 === 4) {
      const offset = wb.allocated
      const h = wb.deallocPages([id], false)
      if (dead) h.setTombstone()
      else live.push({ kind: 'dealloc', addr: (8n << 32n) | BigInt(offset + 16), addrs: [id] })
    } else {
      const a = wb.allocPage(id, i % 11, false)
      a.page.set(body(id, i % 11))
      if (dead) a.header.setTombstone()
      else live.push({ kind: 'page', addr: a.addr, pageId: id, size: i % 11 })
    }
  }
  wb.seal()
  check(t, [...wb], live)
})

test('dealloc records exactly at the 256-record fetch boundaries keep their addresses', (t) => {
  const wb = new WriteBuffer(9, 1 << 20)
  const expected: Expected[] = []
  for (let i = 0; i < 520; i++) {
    if (i === 255 || i === 256 || i === 511 || i === 512) {
      const addrs = Array.from({ length: 40 }, (_, j) => (BigInt(i) << 40n) | BigInt(j))
      const offset = wb.allocated
      wb.deallocPages(addrs, false)
      expected.push({ kind: 'dealloc', addr: (9n << 32n) | BigInt(offset + 16), addrs })
    } else {
      const a = wb.allocPage(BigInt(i), 5, false)
      a.page.set(body(BigInt(i), 5))
      expected.push({ kind: 'page', addr: a.addr, pageId: BigInt(i), size: 5 })
    }
  }
  wb.seal()
  check(t, [...wb], expected)
})

test('page ids above 2^32 and 2^53 survive the batched fetch exactly', (t) => {
  const wb = new WriteBuffer(1, 1 << 20)
  const ids: bigint[] = []
  for (let i = 0; i < 700; i++) {
    const id = (BigInt(i) << 52n) | (0xfffffn << 20n) | BigInt(i)
    ids.push(id & (2n ** 64n - 1n))
    wb.allocPage(ids[i], 0, false)
  }
  wb.allocPage(2n ** 64n - 1n, 0, false)
  ids.push(2n ** 64n - 1n)
  wb.seal()
  t.deepEqual(
    [...wb].map((r) => (r.kind === 'page' ? r.pageId : -1n)),
    ids,
  )
})

test('record headers from iteration read the same values as the allocation headers', (t) => {
  const { wb, allocs } = nPages(300)
  const records = [...wb]
  for (const [i, r] of records.entries()) {
    t.is(r.header.pageId, allocs[i].header.pageId)
    t.is(r.header.pageSize, allocs[i].header.pageSize)
    t.is(r.header.kind, 'page')
    t.false(r.header.isTombstone)
  }
})

test('lazy record fields read late, twice and in any order equal what allocPage, lanes and batches wrote', (t) => {
  const wb = new WriteBuffer(7, 1 << 16)
  const expected: { addr: bigint; pageId: bigint; bytes: Buffer }[] = []
  const put = (a: PageAlloc, pageId: bigint, size: number): void => {
    const bytes = body(pageId, size)
    a.page.set(bytes)
    expected.push({ addr: a.addr, pageId, bytes })
  }
  const lane = wb.lane(4096)
  for (let i = 0; i < 20; i++) {
    const id = i % 3 === 0 ? (BigInt(i) << 33n) | 5n : BigInt(i) // high words too
    put(i % 2 === 0 ? lane.allocPage(id, i * 5) : wb.allocPage(id, i * 5, false), id, i * 5)
  }
  const { pages } = wb.batch([[2n ** 64n - 1n, 9], [0n, 0]], [])
  put(pages[0], 2n ** 64n - 1n, 9)
  put(pages[1], 0n, 0)
  lane.close()
  wb.releaseWriter()
  wb.seal()
  // (Records come in buffer order: the lane's chunk first.)
  expected.sort((a, b) => (a.addr < b.addr ? -1 : 1))
  const records = [...wb.records()]
  t.is(records.length, expected.length)
  // Read after the walk, from the last record back, each field twice.
  let bad = 0
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]
    const e = expected[i]
    if (r.kind !== 'page') {
      bad++
      continue
    }
    if (!r.page.equals(e.bytes) || r.pageId !== e.pageId || r.addr !== e.addr) bad++
    if (r.pageId !== e.pageId || r.page !== r.page || r.addr !== e.addr || r.header.pageId !== e.pageId) bad++
  }
  t.is(bad, 0)
})

test("a record's pageId and page read after the buffer's dispose() are ERR_CLOSED", (t) => {
  const wb = new WriteBuffer(3, 1024)
  wb.allocPage(41n, 8, false).page.fill(1)
  wb.allocPage(42n, 8, false).page.fill(2)
  wb.seal()
  const [first, second] = [...wb.records()]
  if (first.kind !== 'page' || second.kind !== 'page') return t.fail('two page records')
  const kept = first.page // made before: stays a view (detached or not, by arena mode)
  wb.dispose()
  t.is(second.addr, (3n << 32n) | 40n) // the address needs no arena
  t.throws(() => second.pageId, { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.throws(() => second.page, { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.throws(() => first.pageId, { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.is(first.page, kept)
})

test('a record size overwritten through a view to run past the allocated bytes is ERR_CORRUPT, and the iteration ends', (t) => {
  for (const size of [4096, 0xffff_fff0]) {
    const wb = new WriteBuffer(2, 1 << 16)
    const first = wb.allocPage(1n, 8, false)
    wb.allocPage(2n, 8, false)
    wb.seal()
    // The first header's size word, through the view's ArrayBuffer.
    new DataView(first.page.buffer, first.page.byteOffset - 16).setUint32(12, size, true)
    const it = wb.records()
    const err = t.throws(() => it.next(), { instanceOf: WriteBufferError })
    t.is(err?.code, 'ERR_CORRUPT', `size ${size}`)
    t.regex(err?.message ?? '', new RegExp(`claims ${size} bytes past the ${wb.allocated} allocated`))
    t.true(it.next().done, 'nothing after the break')
  }
})

test('next() hands out page and dealloc records with done false, then done for good; a dispose() mid-walk ends it with ERR_CLOSED', (t) => {
  const wb = new WriteBuffer(6, 1 << 16)
  const a = wb.allocPage(1, 8, false)
  wb.deallocPages([(2n << 32n) | 16n], false)
  wb.allocPage(2, 8, false).header.setTombstone()
  wb.deallocPages([(3n << 32n) | 32n], false)
  t.is(wb.seal(), 'flush')
  const it = wb.records()
  const kinds: [boolean | undefined, string | undefined][] = []
  for (let r = it.next(); ; r = it.next()) {
    kinds.push([r.done, r.value?.kind])
    if (r.done) break
  }
  t.deepEqual(kinds, [
    [false, 'page'],
    [false, 'dealloc'],
    [false, 'dealloc'],
    [true, undefined],
  ])
  t.deepEqual(it.next(), { done: true, value: undefined })

  const walk = wb.records()
  t.is(walk.next().value?.addr, a.addr)
  wb.dispose()
  t.throws(() => walk.next(), { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.deepEqual(walk.next(), { done: true, value: undefined })
})
