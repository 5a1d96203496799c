// The benchmark suite's testable parts (bench/progress.js, the results
// writer, the plot's PageLog panel); the benchmarks themselves run with
// `npm run bench`, never as tests.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { PageLog } from '../index.ts'

// AVA runs specs with the project root as the working directory.
const require = createRequire(path.join(process.cwd(), 'package.json'))

interface StatusArgs {
  index: number
  count: number
  label: string
  round?: number
  rounds?: number
  elapsedMs?: number
  columns?: number
}
interface FakeStream {
  isTTY?: boolean
  columns?: number
  out: string
  write(s: string): boolean
}
const progress = require('./bench/progress.js') as {
  formatDuration(ms: number): string
  formatBar(frac: number, width?: number): string
  estimateRemaining(elapsedMs: number, done: number, total: number): number | null
  formatStatus(a: StatusArgs): string
  formatDone(a: { index: number; count: number; label: string; summary?: string; elapsedMs?: number }): string
  parseRoundLine(line: string): { name: string; round: number; rounds: number } | null
  Progress: new (o: { count: number; stream: FakeStream; tty?: boolean; now?: () => number }) => {
    start(label: string, rounds?: number): void
    round(r: number, rounds?: number): void
    log(text: string): void
    end(summary?: string): void
    close(): void
  }
}
const harness = require('./bench/harness.js') as {
  writeResults(obj: unknown, o?: { prefix?: string; dir?: string }): string
}
const plot = require('./bench/plot.js') as { render(res: unknown): string }

function fakeStream(isTTY: boolean): FakeStream {
  return {
    isTTY,
    columns: 80,
    out: '',
    write(s: string) {
      this.out += s
      return true
    },
  }
}

test('formatDuration writes m:ss, h:mm:ss, and ? for no duration', (t) => {
  t.is(progress.formatDuration(7_000), '0:07')
  t.is(progress.formatDuration(65_400), '1:05')
  t.is(progress.formatDuration(3_723_000), '1:02:03')
  t.is(progress.formatDuration(-1), '?')
  t.is(progress.formatDuration(Number.NaN), '?')
})

test('formatBar fills its share of the cells and clamps to [0, 1]', (t) => {
  t.is(progress.formatBar(0.5, 10), '[#####.....]')
  t.is(progress.formatBar(2, 4), '[####]')
  t.is(progress.formatBar(Number.NaN, 4), '[....]')
})

test('estimateRemaining extrapolates the time per unit, and has nothing before the first', (t) => {
  t.is(progress.estimateRemaining(10_000, 5, 20), 30_000)
  t.is(progress.estimateRemaining(10_000, 0, 20), null)
  t.is(progress.estimateRemaining(10_000, 20, 20), 0)
})

test('formatStatus keeps round, bar and ETA within the width by cutting the title', (t) => {
  const long = 'sweep: allocPage 16 KiB + page.set with a title far longer than any terminal line'
  const line = progress.formatStatus({ index: 3, count: 14, label: long, round: 7, rounds: 21, elapsedMs: 12_000, columns: 80 })
  t.true(line.length <= 79)
  t.true(line.startsWith('[3/14] sweep: '))
  t.true(line.includes('round 7/21'))
  t.true(line.endsWith('· 0:12 · ETA 0:24'))
  const warm = progress.formatStatus({ index: 1, count: 2, label: 'alloc0', round: 0, rounds: 21, elapsedMs: 1_000 })
  t.is(warm, '[1/2] alloc0 · warming up [....................] · 0:01')
})

test("parseRoundLine reads a child's `name: round r/n` line and nothing else", (t) => {
  t.deepEqual(progress.parseRoundLine('flush: round 3/7'), { name: 'flush', round: 3, rounds: 7 })
  t.is(progress.parseRoundLine('flush: round 3 of 7'), null)
  t.is(progress.parseRoundLine('Error: round 1/2 failed'), null)
})

test('Progress off a TTY writes one plain line per finished step and passes log lines on', (t) => {
  const s = fakeStream(false)
  let now = 0
  const p = new progress.Progress({ count: 2, stream: s, now: () => now })
  p.start('alloc0', 5)
  p.round(1)
  p.round(5)
  now = 2_500
  p.end('project 80 ns/op')
  p.start('flush')
  p.log('a warning')
  now = 4_000
  p.end()
  p.close()
  t.is(s.out, '[1/2] alloc0: project 80 ns/op · 2.5 s\na warning\n[2/2] flush · 1.5 s\n')
})

test('Progress on a TTY redraws one status line in place and leaves the done lines', (t) => {
  const s = fakeStream(true)
  let now = 0
  const p = new progress.Progress({ count: 1, stream: s, now: () => now })
  p.start('alloc0', 4)
  now = 1_000
  p.round(1)
  t.true(s.out.endsWith('\r\x1b[K[1/1] alloc0 · round 1/4 [#####...............] 25% · 0:01 · ETA 0:03'))
  now = 4_000
  p.end('done')
  p.close()
  t.true(s.out.endsWith('\r\x1b[K[1/1] alloc0: done · 4.0 s\n'))
})

test('writeResults writes <prefix><date>.json that reads back', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-bench-results-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = harness.writeResults({ rows: [1, 2], quick: true }, { prefix: 'tmp-', dir })
  t.regex(path.basename(file), /^tmp-\d{4}-\d{2}-\d{2}\.json$/)
  t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { rows: [1, 2], quick: true })
})

test("the plot draws the PageLog vs sonic-boom panel and the RSS line from a results file's figures", (t) => {
  const variants = (a: number, b: number) => ({
    PageLog: { mibPerSec: a, pagesPerSec: a * 10 },
    'sonic-boom': { mibPerSec: b, pagesPerSec: b * 10 },
  })
  const svg = plot.render({
    date: '2026-11-26T00:00:00Z',
    rounds: 3,
    pagelog: {
      sonicBoom: '5.0.2',
      durableEvery: 16 * 2 ** 20,
      rows: [
        { pageSize: 100, ratio: 0.25, variants: variants(50, 200) },
        { pageSize: 4096, ratio: 1.5, variants: variants(450, 300) },
      ],
    },
    rss: { appends: 1_000_000, bufferSize: 262_144, flushes: 459, growth: 5 * 2 ** 20, outsideHeapGrowth: 2 ** 20, peakGrowth: 9 * 2 ** 20, limit: 64 * 2 ** 20 },
  })
  t.true(svg.includes('(c) PageLog vs sonic-boom 5.0.2'))
  t.true(svg.includes('100 B pages · PageLog ÷ sonic-boom 0.25×'))
  t.true(svg.includes('4 KiB pages · PageLog ÷ sonic-boom 1.50×'))
  t.true(svg.includes("459 flushes: +5.0 MiB after warm-up (outside V8's heap +1.0), peak +9.0 MiB"))
  t.false(svg.includes('no single-thread cases or sweep'))
})

test('bench/pagelog.js exports its two runs', (t) => {
  const pagelog = require('./bench/pagelog.js') as Record<string, unknown>
  for (const k of ['run', 'print', 'rss', 'printRss']) t.is(typeof pagelog[k], 'function', k)
  // The suite measures the public API: PageLog.open from the package root.
  t.is(typeof PageLog.open, 'function')
})

// bench/baseline/group-commit.js: the hand-written group commit the durable
// commit case measures PageLog against (bench/commit.js). Its logic, without timing.
type Callback = (err: Error | null, n?: number) => void
interface GroupCommitT {
  batches: number
  bytes: number
  commit(buf: Buffer): Promise<void>
}
interface Io {
  writev(fd: number, bufs: Buffer[], position: number, cb: Callback): void
  fdatasync(fd: number, cb: (err: Error | null) => void): void
}
const { GroupCommit } = require('./bench/baseline/group-commit.js') as {
  GroupCommit: new (fd: number, io?: Io) => GroupCommitT
}

test('the group commit baseline writes every commit in order and resolves every waiter, one fdatasync per batch', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-bench-gc-'))
  const fd = fs.openSync(path.join(dir, 'log'), 'w')
  t.teardown(() => {
    fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const g = new GroupCommit(fd)
  const bufs = Array.from({ length: 100 }, (_, i) => Buffer.from(`record ${i};`))
  // The first commit starts a batch of its own; the 99 that arrive while it is
  // in flight share the next one.
  await Promise.all(bufs.map((b) => g.commit(b)))
  t.is(g.batches, 2)
  t.is(fs.readFileSync(path.join(dir, 'log'), 'utf8'), Buffer.concat(bufs).toString('utf8'))
  // Later commits go on at the end of the file.
  await g.commit(Buffer.from('last'))
  t.is(g.batches, 3)
  t.true(fs.readFileSync(path.join(dir, 'log'), 'utf8').endsWith('record 99;last'))
})

/** An in-memory file whose writev writes at most `chunk` bytes per call; `failSync` fails the next fdatasync. */
function memoryIo(chunk: number) {
  const file: number[] = []
  const io = {
    syncs: 0,
    failSync: false,
    file,
    writev(_fd: number, bufs: Buffer[], position: number, cb: Callback) {
      const all = Buffer.concat(bufs).subarray(0, chunk)
      for (let i = 0; i < all.length; i++) file[position + i] = all[i]
      setImmediate(() => cb(null, all.length))
    },
    fdatasync(_fd: number, cb: (err: Error | null) => void) {
      const fail = io.failSync
      io.failSync = false
      io.syncs++
      setImmediate(() => cb(fail ? new Error('EIO') : null))
    },
  }
  return io
}

test('the group commit baseline finishes short writes before it syncs', async (t) => {
  const io = memoryIo(5)
  const g = new GroupCommit(3, io)
  const bufs = ['abcdefgh', 'ij', '', 'klmnopqrstu'].map((s) => Buffer.from(s))
  await Promise.all(bufs.map((b) => g.commit(b)))
  t.is(Buffer.from(io.file).toString(), 'abcdefghijklmnopqrstu')
  t.is(g.bytes, 21)
  t.is(io.syncs, 2)
})

test('the group commit baseline rejects every waiter of a failed batch and goes on with the next', async (t) => {
  const io = memoryIo(1 << 20)
  const g = new GroupCommit(3, io)
  io.failSync = true
  const first = [g.commit(Buffer.from('a')), g.commit(Buffer.from('b'))]
  // 'a' is its own batch (fails); 'b' waits for the next one (succeeds).
  const settled = await Promise.allSettled(first)
  t.deepEqual(settled.map((s) => s.status), ['rejected', 'fulfilled'])
  io.failSync = true
  const second = await Promise.allSettled([g.commit(Buffer.from('c'))])
  t.is(second[0].status, 'rejected')
  await g.commit(Buffer.from('d'))
  t.is(Buffer.from(io.file).toString(), 'abcd')
})

test('printTable aligns text left and figures right, two spaces apart', (t) => {
  const { printTable } = require('./bench/harness.js') as {
    printTable(h: string[], l: string[][], o?: { left?: (i: number, n: number) => boolean }): void
  }
  const out: string[] = []
  const log = console.log
  console.log = (s: string) => out.push(s)
  try {
    printTable(['case', 'x', 'status'], [['a', '1.5', 'PASS'], ['long case', '10', 'FAIL']], { left: (i, n) => i === 0 || i === n - 1 })
  } finally {
    console.log = log
  }
  t.deepEqual(out, ['case         x  status', '---------  ---  ------', 'a          1.5  PASS', 'long case   10  FAIL'])
})

test('bench/commit.js: the nearest-rank quantile', (t) => {
  const { quantile } = require('./bench/commit.js') as { quantile(xs: number[], p: number): number }
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i) // 100..1
  t.is(quantile(xs, 0.5), 50)
  t.is(quantile(xs, 0.99), 99)
  t.is(quantile(xs, 1), 100)
  t.is(quantile([7], 0.99), 7)
})
