import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageFile, WriteBuffer, WriteBufferError, recordSize } from '../index.ts'

/** A fresh temp directory, removed when the test ends. */
function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-page-file-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** mulberry32: a seeded 32-bit PRNG. */
function prng(seed: number) {
  let s = seed >>> 0
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return (z ^ (z >>> 14)) >>> 0
  }
  return {
    next,
    /** An integer in [0, n). */
    below: (n: number): number => Math.floor((next() / 2 ** 32) * n),
    chance: (p: number): boolean => next() / 2 ** 32 < p,
    u64: (): bigint => (BigInt(next()) << 32n) | BigInt(next()),
    bytes(n: number): Buffer {
      const out = Buffer.alloc(n)
      let v = 0
      for (let i = 0; i < n; i++) {
        if ((i & 3) === 0) v = next()
        out[i] = v >>> ((i & 3) * 8)
      }
      return out
    },
  }
}
type Rng = ReturnType<typeof prng>

const GROUP_SHIFT = 32n
const addrOf = (groupId: number, low: number) => (BigInt(groupId) << GROUP_SHIFT) | BigInt(low)
const groupOf = (addr: bigint) => Number(addr >> GROUP_SHIFT)

type Written =
  | { kind: 'page'; addr: bigint; pageId: bigint; bytes: Buffer; tomb: boolean }
  | { kind: 'dealloc'; addr: bigint; addrs: bigint[]; tomb: boolean }

type Expected =
  | { kind: 'page'; addr: bigint; pageId: bigint; bytes: Buffer }
  | { kind: 'dealloc'; addr: bigint; addrs: bigint[] }

/** A body size: mostly small, some page-sized, a few up to 64 KiB. */
function randomSize(rng: Rng): number {
  const roll = rng.below(10)
  if (roll < 5) return rng.below(257)
  if (roll < 9) return rng.below(4097)
  return rng.below(64 * 1024 + 1)
}

/**
 * Fills a buffer of `groupId` at random: pages (0 B..64 KiB, random bytes,
 * random u64 ids), dealloc records listing pages of this group (earlier
 * pages, and the page right after the record), addresses of this group that
 * name no page, addresses of other groups; some pages and dealloc records
 * tombstoned. Returns the buffer (sealed) and, computed independently of the
 * library, what a flush must keep, in buffer order.
 */
function scenario(seed: number, groupId: number, capacity: number) {
  const rng = prng(seed)
  const wb = new WriteBuffer(groupId, capacity)
  const written: Written[] = []
  const pages = () => written.filter((w): w is Extract<Written, { kind: 'page' }> => w.kind === 'page')
  const otherGroup = () => {
    const g = rng.next()
    return g === groupId ? (g + 1) >>> 0 : g
  }
  const addPage = (size: number) => {
    const pageId = rng.chance(0.1) ? [0n, (1n << 64n) - 1n, 1n << 63n][rng.below(3)] : rng.u64()
    const a = wb.allocPage(pageId, size, false)
    const bytes = rng.bytes(size)
    a.page.set(bytes)
    const w: Written = { kind: 'page', addr: a.addr, pageId, bytes, tomb: false }
    written.push(w)
    return { w, header: a.header }
  }
  // The extreme sizes at least once.
  addPage(0)
  addPage(64 * 1024)
  for (;;) {
    const room = capacity - wb.allocated
    const op = rng.below(10)
    if (op < 7) {
      const size = randomSize(rng)
      if (recordSize(size) > room) {
        if (room < recordSize(0)) break
        continue
      }
      const { header } = addPage(size)
      if (rng.chance(0.15)) {
        header.setTombstone()
        written[written.length - 1].tomb = true
      }
    } else {
      const addrs: bigint[] = []
      const known = pages()
      const n = rng.below(6)
      for (let i = 0; i < n; i++) {
        const kind = rng.below(4)
        if (kind === 0 && known.length > 0) addrs.push(known[rng.below(known.length)].addr)
        else if (kind === 1) addrs.push(addrOf(groupId, 8 * rng.below(capacity / 8))) // names no page (or by luck one)
        else addrs.push(addrOf(otherGroup(), rng.next()))
      }
      // Sometimes free the page that will follow this record (a dealloc before the page it frees).
      const forward = rng.chance(0.3)
      const k = addrs.length + (forward ? 1 : 0)
      const need = recordSize(8 * k) + (forward ? recordSize(64) : 0)
      if (need > room) {
        if (room < recordSize(0)) break
        continue
      }
      if (forward) addrs.push(addrOf(groupId, wb.allocated + recordSize(8 * k) + 16))
      const header = wb.deallocPages(addrs, false)
      const tomb = rng.chance(0.2)
      if (tomb) header.setTombstone()
      written.push({ kind: 'dealloc', addr: addrOf(groupId, wb.allocated - recordSize(8 * k) + 16), addrs, tomb })
      if (forward) addPage(64)
    }
  }
  assertFull(wb)
  wb.seal()

  // What the flush must keep (docs/page-file-format.md, "What a flush keeps").
  const freed = new Set<bigint>()
  for (const w of written) {
    if (w.kind === 'dealloc' && !w.tomb) for (const a of w.addrs) if (groupOf(a) === groupId) freed.add(a)
  }
  const expected: Expected[] = []
  for (const w of written) {
    if (w.tomb) continue
    if (w.kind === 'page') {
      if (!freed.has(w.addr)) expected.push({ kind: 'page', addr: w.addr, pageId: w.pageId, bytes: w.bytes })
    } else {
      const others = w.addrs.filter((a) => groupOf(a) !== groupId)
      if (others.length > 0) expected.push({ kind: 'dealloc', addr: w.addr, addrs: others })
    }
  }
  return { wb, written, freed, expected }
}

/** The scenario stops only when not even an empty record fits. */
function assertFull(wb: WriteBuffer): void {
  if (wb.capacity - wb.allocated >= recordSize(0)) throw new Error('scenario stopped early')
}

const cases: [seed: number, groupId: number][] = [
  [1, 7],
  [0xdecafbad, 0],
  [20240611, 0xffffffff],
]

for (const [seed, groupId] of cases) {
  test(`a random buffer (seed ${seed}, group ${groupId}) round-trips through flushTo and PageFile.open at the same addresses`, async (t) => {
    const dir = tempDir(t)
    const capacity = 1 << 21
    const { wb, written, freed, expected } = scenario(seed, groupId, capacity)
    // The scenario exercises every rule.
    t.true(written.some((w) => w.kind === 'page' && w.tomb), 'tombstoned pages')
    t.true(written.some((w) => w.kind === 'page' && !w.tomb && freed.has(w.addr)), 'freed pages')
    t.true(written.some((w) => w.kind === 'dealloc' && w.tomb), 'tombstoned dealloc records')
    t.true(expected.some((e) => e.kind === 'dealloc'), 'kept dealloc records')
    t.true(written.some((w) => w.kind === 'page' && w.bytes.length > 60 * 1024), 'pages near 64 KiB')

    const r = await wb.flushTo(path.join(dir, `${groupId}.page`))
    t.is(r.records, expected.length)
    t.is(r.bytes, fs.statSync(r.path).size)
    const pf = await PageFile.open(r.path)
    t.teardown(() => pf.close())
    t.is(pf.groupId, groupId)
    t.is(pf.size, expected.length)

    // records(): the expected records, in buffer order, byte for byte.
    const got = [...pf.records()]
    t.is(got.length, expected.length)
    const mismatches: string[] = []
    for (const [i, e] of expected.entries()) {
      const g = got[i]
      if (g === undefined || g.kind !== e.kind || g.addr !== e.addr) {
        mismatches.push(`#${i}: ${g?.kind} ${g?.addr} instead of ${e.kind} ${e.addr}`)
      } else if (g.kind === 'page' && e.kind === 'page') {
        if (g.pageId !== e.pageId) mismatches.push(`#${i}: page id ${g.pageId} instead of ${e.pageId}`)
        if (!Buffer.isBuffer(g.page) || !g.page.equals(e.bytes)) mismatches.push(`#${i}: page bytes differ`)
        if (g.header.kind !== 'page' || g.header.pageId !== e.pageId || g.header.pageSize !== e.bytes.length || g.header.isTombstone) {
          mismatches.push(`#${i}: page header differs`)
        }
      } else if (g.kind === 'dealloc' && e.kind === 'dealloc') {
        if (g.addrs.length !== e.addrs.length || g.addrs.some((a, k) => a !== e.addrs[k])) {
          mismatches.push(`#${i}: dealloc addresses differ`)
        }
        if (g.header.kind !== 'dealloc' || g.header.pageSize !== 8 * e.addrs.length) mismatches.push(`#${i}: dealloc header differs`)
      }
    }
    t.deepEqual(mismatches, [])
    // The same order as the buffer's own iteration.
    const keep = new Set(expected.map((e) => e.addr))
    t.deepEqual(
      got.map((g) => g.addr),
      [...wb.records()].map((b) => b.addr).filter((a) => keep.has(a)),
    )

    // page(addr): every live page at its old address; dropped ones absent.
    const live = expected.filter((e): e is Extract<Expected, { kind: 'page' }> => e.kind === 'page')
    t.true(live.every((e) => pf.page(e.addr).equals(e.bytes)))
    t.true(live.every((e) => pf.page(e.addr).length === e.bytes.length))
    const dropped = written.filter((w) => w.kind === 'page' && !keep.has(w.addr))
    t.true(dropped.length > 0)
    for (const w of dropped) t.throws(() => pf.page(w.addr), { instanceOf: WriteBufferError, code: 'ERR_INVALID_ADDR' })

    // Addresses that are not a live page of this file.
    const big = live.find((e) => e.bytes.length >= 16)!
    const low = Number(big.addr & 0xffffffffn)
    const notPages: [string, bigint][] = [
      ['another group', addrOf((groupId + 1) >>> 0, low)],
      ['the middle of a record', big.addr + 8n],
      ['a misaligned address', big.addr + 1n],
      ['the record header', big.addr - 16n],
      ['past the allocated bytes', addrOf(groupId, wb.allocated + 16)],
      ['past the capacity', addrOf(groupId, capacity + 16)],
      ['zero', 0n],
      ['2^64 - 1', (1n << 64n) - 1n],
    ]
    for (const w of written) if (w.kind === 'dealloc') notPages.push([`a dealloc record${keep.has(w.addr) ? ' (kept)' : ''}`, w.addr])
    for (const [what, addr] of notPages) t.throws(() => pf.page(addr), { code: 'ERR_INVALID_ADDR' }, what)
  })
}

test('page(addr) takes a safe-integer number and rejects other types with Node codes', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(5, 1024)
  const a = wb.allocPage(42n, 11, false)
  a.page.write('hello world')
  wb.seal()
  const pf = await PageFile.open((await wb.flushTo(path.join(dir, '5.page'))).path)
  t.is(pf.page(Number(a.addr)).toString(), 'hello world')
  t.throws(() => pf.page('1' as unknown as number), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => pf.page(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => pf.page(1.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => pf.page(1n << 64n), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
})

test('a buffer written through lanes flushes like one written by allocPage, without the lanes\' filler records', async (t) => {
  const dir = tempDir(t)
  const rng = prng(99)
  const wb = new WriteBuffer(2, 1 << 16)
  const pages: { addr: bigint; pageId: bigint; bytes: Buffer }[] = []
  for (let l = 0; l < 4; l++) {
    const lane = wb.lane(10_000)
    for (;;) {
      const size = rng.below(700)
      const pageId = rng.u64()
      const a = lane.tryAllocPage(pageId, size)
      if (a === null) break
      const bytes = rng.bytes(size)
      a.page.set(bytes)
      pages.push({ addr: a.addr, pageId, bytes })
    }
    lane.close()
  }
  wb.seal()
  const r = await wb.flushTo(path.join(dir, '2.page'))
  t.is(r.records, pages.length)
  const pf = await PageFile.open(r.path)
  const got = [...pf]
  t.deepEqual(
    got.map((g) => [g.kind, g.addr, g.kind === 'page' ? g.pageId : 0n]),
    pages.map((p) => ['page', p.addr, p.pageId]),
  )
  t.true(pages.every((p) => pf.page(p.addr).equals(p.bytes)))
})

test('an empty buffer and an all-tombstoned buffer flush to valid files with no records', async (t) => {
  const dir = tempDir(t)
  const empty = new WriteBuffer(1, 1024)
  empty.seal()
  const tombs = new WriteBuffer(2, 1024)
  const a = tombs.allocPage(1n, 10, false)
  a.header.setTombstone()
  tombs.deallocPages([a.addr], false).setTombstone()
  tombs.seal()
  for (const [wb, name] of [[empty, 'empty'], [tombs, 'tombs']] as const) {
    const r = await wb.flushTo(path.join(dir, name))
    t.is(r.records, 0, name)
    t.is(r.bytes, 72, name) // header and trailer only
    const pf = await PageFile.open(r.path)
    t.is(pf.groupId, wb.groupId, name)
    t.is(pf.size, 0, name)
    t.deepEqual([...pf.records()], [], name)
    t.throws(() => pf.page(a.addr), { code: 'ERR_INVALID_ADDR' }, name)
  }
})

test('a closed page file throws ERR_CLOSED, while its views outlive close() and garbage collection', async (t) => {
  const dir = tempDir(t)
  const rng = prng(7)
  const wb = new WriteBuffer(3, 1 << 18)
  const pages = Array.from({ length: 40 }, (_, i) => {
    const bytes = rng.bytes(rng.below(5000))
    const a = wb.allocPage(BigInt(i), bytes.length, false)
    a.page.set(bytes)
    return { addr: a.addr, bytes }
  })
  wb.seal()
  const file = (await wb.flushTo(path.join(dir, '3.page'))).path
  let pf: PageFile | undefined = await PageFile.open(file)
  const viaPage = pages.map((p) => pf!.page(p.addr))
  const viaRecords = [...pf.records()].map((r) => (r.kind === 'page' ? r.page : Buffer.alloc(0)))
  pf.close()
  t.throws(() => pf!.page(pages[0].addr), { instanceOf: WriteBufferError, code: 'ERR_CLOSED' })
  t.throws(() => [...pf!.records()], { code: 'ERR_CLOSED' })
  t.throws(() => [...pf!], { code: 'ERR_CLOSED' })
  t.throws(() => pf!.groupId, { code: 'ERR_CLOSED' })
  t.notThrows(() => pf!.close())
  // Drop the file object, the buffer and the file on disk; collect.
  pf = undefined
  fs.rmSync(file)
  for (let i = 0; i < 6; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve))
    globalThis.gc!()
  }
  t.true(pages.every((p, i) => viaPage[i].equals(p.bytes)))
  t.true(pages.every((p, i) => viaRecords[i].equals(p.bytes)))
  // Views dropped too: collecting them must not crash.
  viaPage.length = 0
  viaRecords.length = 0
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve))
    globalThis.gc!()
  }
  t.pass()
})

test('PageFile.open of a missing file rejects with ENOENT', async (t) => {
  const dir = tempDir(t)
  const err = await t.throwsAsync(PageFile.open(path.join(dir, 'missing.page')), { code: 'ENOENT' })
  t.is((err as Error & { path?: string }).path, path.join(dir, 'missing.page'))
})

test('PageFile.open of a directory rejects with ERR_CORRUPT (only regular files are page files)', async (t) => {
  const dir = tempDir(t)
  const err = await t.throwsAsync(PageFile.open(dir), { instanceOf: WriteBufferError, code: 'ERR_CORRUPT' })
  t.true(err?.message.includes('a directory'), err?.message)
})

test('a file larger than the format allows is refused with ERR_CORRUPT before it is read', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'huge.page')
  // Sparse: 6 GiB on paper, nothing on disk; MAX_FILE_LEN is about 5 GiB.
  fs.closeSync(fs.openSync(file, 'w'))
  fs.truncateSync(file, 6 * 2 ** 30)
  await t.throwsAsync(PageFile.open(file), { instanceOf: WriteBufferError, code: 'ERR_CORRUPT' })
})

test('PageFile.open rejects a non-string path with ERR_INVALID_ARG_TYPE', async (t) => {
  for (const bad of [undefined, null, 1, Buffer.from('x.page'), {}]) {
    await t.throwsAsync(PageFile.open(bad as unknown as string), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
})

// ---------------------------------------------------------------------------
// Power loss and bit rot: the format has no valid-prefix mode, so every torn
// or altered file is refused whole.

/** A flushed file's bytes: `pages` random pages and one dealloc record of another group. */
async function goodFile(t: ExecutionContext, dir: string, seed: number, pages: number, maxSize: number) {
  const rng = prng(seed)
  const wb = new WriteBuffer(11, 1 << 20)
  for (let i = 0; i < pages; i++) {
    const bytes = rng.bytes(rng.below(maxSize + 1))
    wb.allocPage(rng.u64(), bytes.length, false).page.set(bytes)
    if (i === 1) wb.deallocPages([addrOf(12, 4096), addrOf(13, 8)], false)
  }
  wb.seal()
  const r = await wb.flushTo(path.join(dir, `good-${seed}.page`))
  const pf = await PageFile.open(r.path)
  t.is(pf.size, pages + 1)
  pf.close()
  return fs.readFileSync(r.path)
}

test('a small page file cut at every offset is rejected with ERR_CORRUPT', async (t) => {
  const dir = tempDir(t)
  const good = await goodFile(t, dir, 1, 3, 40)
  t.true(good.length < 400)
  const file = path.join(dir, 'cut.page')
  for (let len = 0; len < good.length; len++) {
    fs.writeFileSync(file, good.subarray(0, len))
    await t.throwsAsync(PageFile.open(file), { instanceOf: WriteBufferError, code: 'ERR_CORRUPT' }, `cut at ${len}`)
  }
  // One byte too many is refused as well.
  fs.writeFileSync(file, Buffer.concat([good, Buffer.alloc(1)]))
  await t.throwsAsync(PageFile.open(file), { code: 'ERR_CORRUPT' }, 'extended by one byte')
  // And the uncut bytes still open.
  fs.writeFileSync(file, good)
  t.is((await PageFile.open(file)).size, 4)
})

test('a larger page file cut at every offset of its last 4 KiB is rejected with ERR_CORRUPT', async (t) => {
  const dir = tempDir(t)
  const good = await goodFile(t, dir, 2, 120, 5000)
  t.true(good.length > 64 * 1024)
  const file = path.join(dir, 'cut.page')
  fs.writeFileSync(file, good)
  let checked = 0
  // Shorten the same file step by step from the end.
  for (let len = good.length - 1; len >= good.length - 4096; len--) {
    fs.truncateSync(file, len)
    checked++
    await t.throwsAsync(PageFile.open(file), { code: 'ERR_CORRUPT' }, `cut at ${len}`)
  }
  t.is(checked, 4096)
})

test('a small page file with any one byte altered is rejected with ERR_CORRUPT', async (t) => {
  const dir = tempDir(t)
  const good = await goodFile(t, dir, 3, 3, 40)
  const file = path.join(dir, 'flipped.page')
  for (let i = 0; i < good.length; i++) {
    // One flipped bit, and the whole byte inverted.
    for (const mask of [1 << (i % 8), 0xff]) {
      const bad = Buffer.from(good)
      bad[i] ^= mask
      fs.writeFileSync(file, bad)
      await t.throwsAsync(PageFile.open(file), { code: 'ERR_CORRUPT' }, `byte ${i} ^ ${mask}`)
    }
  }
})

test('a larger page file with a sample of single bytes altered is rejected with ERR_CORRUPT each time', async (t) => {
  const dir = tempDir(t)
  const good = await goodFile(t, dir, 4, 120, 5000)
  const file = path.join(dir, 'flipped.page')
  fs.writeFileSync(file, good)
  const rng = prng(4)
  // Every byte of the header and the trailer, and 600 random positions.
  const positions = [
    ...Array.from({ length: 40 }, (_, i) => i),
    ...Array.from({ length: 32 }, (_, i) => good.length - 32 + i),
    ...Array.from({ length: 600 }, () => rng.below(good.length)),
  ]
  const fd = fs.openSync(file, 'r+')
  t.teardown(() => fs.closeSync(fd))
  for (const pos of positions) {
    const mask = 1 + rng.below(255)
    fs.writeSync(fd, Buffer.of(good[pos] ^ mask), 0, 1, pos)
    await t.throwsAsync(PageFile.open(file), { code: 'ERR_CORRUPT' }, `byte ${pos} ^ ${mask}`)
    fs.writeSync(fd, good.subarray(pos, pos + 1), 0, 1, pos)
  }
  // Restored: it opens again.
  t.is((await PageFile.open(file)).size, 121)
})

test("a page file's records, decoded in JS with lazy fields, equal the buffer's records and the native page(addr)", async (t) => {
  const dir = tempDir(t)
  const rnd = prng(17)
  const wb = new WriteBuffer(9, 1 << 16)
  const lane = wb.lane(8192)
  for (let i = 0; i < 60; i++) {
    const id = i % 4 === 0 ? rnd.u64() : BigInt(i)
    const size = rnd.below(300)
    ;(i % 2 === 0 ? lane.allocPage(id, size) : wb.allocPage(id, size, false)).page.set(rnd.bytes(size))
  }
  lane.close()
  wb.deallocPages([(3n << 32n) | 16n], false)
  wb.seal()
  const fromBuffer = [...wb.records()].map((r) =>
    r.kind === 'page' ? ['page', r.addr, r.pageId, Buffer.from(r.page)] : ['dealloc', r.addr, r.addrs],
  )
  const { path: file } = await wb.flushTo(path.join(dir, '9.page'))
  const pf = await PageFile.open(file)
  t.teardown(() => pf.close())
  const records = [...pf.records()]
  // Fields read after the walk, from the last record back.
  const fromFile = records
    .map((_, i) => records[records.length - 1 - i])
    .map((r) => (r.kind === 'page' ? ['page', r.addr, r.pageId, Buffer.from(r.page)] : ['dealloc', r.addr, r.addrs]))
    .reverse()
  t.deepEqual(fromFile, fromBuffer)
  let bad = 0
  for (const r of records) {
    if (r.kind !== 'page') continue
    if (!pf.page(r.addr).equals(r.page) || r.page !== r.page || r.header.pageId !== r.pageId) bad++
    if (r.header.pageSize !== r.page.length || r.header.kind !== 'page') bad++
  }
  t.is(bad, 0)
})

test("a page file's records() is its own iterable iterator: one result per record, then done for good", async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(4, 1 << 16)
  const a = wb.allocPage(1, 10, false)
  a.page.fill(1)
  wb.deallocPages([(3n << 32n) | 16n], false)
  const b = wb.allocPage(2, 20, false)
  b.page.fill(2)
  wb.seal()
  const { path: file } = await wb.flushTo(path.join(dir, '4.page'))
  const pf = await PageFile.open(file)
  t.teardown(() => pf.close())
  const it = pf.records()
  t.is(it[Symbol.iterator](), it)
  const first = it.next()
  t.is(first.done, false)
  t.is(first.value.kind, 'page')
  t.is(first.value.addr, a.addr)
  const second = it.next()
  t.is(second.done, false)
  t.is(second.value.kind, 'dealloc')
  t.deepEqual(second.value.kind === 'dealloc' && second.value.addrs, [(3n << 32n) | 16n])
  const third = it.next()
  t.is(third.done, false)
  t.is(third.value.kind === 'page' && third.value.page.toString('hex'), '02'.repeat(20))
  t.deepEqual(it.next(), { done: true, value: undefined })
  t.deepEqual(it.next(), { done: true, value: undefined })
})
