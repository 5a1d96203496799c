// The PageLog's page-id index holds any number of page ids that fits in
// memory: V8's Map stops at 2^24 - 1 entries, so the index splits into
// shards. Tests inject a small shard limit; the real size runs through a
// PageLog with PHOTON_WB_BIG_INDEX=1 (16.8 M appends, a reopen: minutes).
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageLog } from '../index.ts'
import { PageIndex } from '../src/page-log/page-index.ts'
import { ShardedMap, hashKey } from '../src/page-log/sharded-map.ts'

test('PageIndex: past its shard limit it splits, and every page id keeps its latest address', (t) => {
  const limit = 1000
  const index = new PageIndex(limit)
  const n = 50_000
  for (let i = 0; i < n; i++) index.setLatest(i, BigInt(i) << 8n)
  t.is(index.size, n)
  t.true(index.shards > 1, `${index.shards} shards`)
  // Rewrites, bigint keys above 2^53, and onlyIfLater.
  for (let i = 0; i < n; i += 3) index.setLatest(i, (BigInt(i) << 8n) + 1n)
  const big = 2n ** 60n
  for (let i = 0n; i < 5000n; i++) index.setLatest(big + i, (1n << 40n) + i)
  index.setLatest(7, 1n, true) // older: ignored
  t.is(index.size, n + 5000)
  for (let i = 0; i < n; i++) t.is(index.get(i), (BigInt(i) << 8n) + (i % 3 === 0 ? 1n : 0n))
  for (let i = 0n; i < 5000n; i++) t.is(index.get(big + i), (1n << 40n) + i)
  t.is(index.get(n), undefined)
  // A dealloc frees the latest address only (the inverse map is sharded too).
  index.forget(3n << 8n) // superseded address of page 3: nothing happens
  t.is(index.get(3), (3n << 8n) + 1n)
  index.forget((3n << 8n) + 1n)
  t.is(index.get(3), undefined)
  t.is(index.size, n + 4999)
})

test('ShardedMap: no Map over the limit, entries iterate once each, hashes spread sequential and strided ids', (t) => {
  const m = new ShardedMap<number, number>(256)
  for (let i = 0; i < 20_000; i++) m.set(i * 4096, i) // strided ids (low bits all zero)
  t.true(m.largestShard < 256, `largest ${m.largestShard}`)
  t.is(m.size, 20_000)
  t.is([...m].length, 20_000)
  t.true(m.delete(4096))
  t.false(m.delete(4096))
  t.is(m.size, 19_999)
  t.is(hashKey(2 ** 40), hashKey(2n ** 40n), 'a number and a bigint of the same value hash alike')
})

// Skipped unless PHOTON_WB_BIG_INDEX=1: 16.8 M appends and a reopen take
// minutes and ~3 GB of RAM, too much for every CI run (the tests above
// cover the splitting with a small limit).
const bigTest = process.env.PHOTON_WB_BIG_INDEX === '1' ? test : test.skip

bigTest('PageLog: more than 2^24 page ids, appended and then recovered at open (PHOTON_WB_BIG_INDEX=1)', async (t) => {
  t.timeout(30 * 60_000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-big-index-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const n = 2 ** 24 + 16
  const t0 = Date.now()
  const log = await PageLog.open(dir, { bufferSize: 1 << 26, maxBuffers: 4 })
  const page = Buffer.alloc(0)
  let last = 0n
  let first = 0n
  for (let i = 0; i < n; i++) {
    last = log.tryAppend(i, page) ?? (await log.append(i, page))
    if (i === 0) first = last
  }
  t.is(log.pageCount, n)
  t.is(log.addressOf(n - 1), last)
  await log.close()
  const t1 = Date.now()
  const again = await PageLog.open(dir)
  t.is(again.pageCount, n)
  t.is(again.addressOf(n - 1), last)
  t.is(again.addressOf(0), first)
  await again.close()
  t.log(`${n} appends + close: ${((t1 - t0) / 1000).toFixed(1)} s; reopen: ${((Date.now() - t1) / 1000).toFixed(1)} s`)
})
