// Files planted under a page file's name: FIFOs, directories, symlink loops,
// huge sparse files. Each must be refused at once with a typed error (and be
// quarantinable by PageLog), never hang, never read gigabytes.
import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageFile, PageLog, WriteBuffer, WriteBufferError } from '../index.ts'

// AVA runs specs with the project root as the working directory.
const ROOT = process.cwd()
const CLI = path.join(ROOT, 'bin', 'photon-wb.js')
const HUGE = 3 * 2 ** 30
const unix = process.platform !== 'win32'

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-hostile-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`mkfifo ${file}: ${r.stderr || r.error}`)
}

/** A valid page file of group `g` at `dir/<g>.page`. */
async function pageFile(dir: string, g: number): Promise<string> {
  const wb = new WriteBuffer(g, 4096)
  wb.allocPage(BigInt(g), 10, false).page.fill(g)
  wb.seal()
  const file = path.join(dir, `${g}.page`)
  await wb.flushTo(file)
  return file
}

/**
 * `p`, or a failure if it has not settled within `ms` (liveness, not speed: a
 * blocked open never settles at all). `release` then unblocks what hangs.
 */
async function settles<T>(t: ExecutionContext, p: Promise<T>, release: () => void, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      release()
      reject(new Error(`did not settle within ${ms} ms`))
    }, ms)
  })
  try {
    return await Promise.race([p, hung])
  } finally {
    clearTimeout(timer)
  }
}

/** Opens a FIFO for writing without blocking, so a reader stuck in open(2) returns. */
function releaseFifo(file: string): () => void {
  return () => {
    try {
      fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK))
    } catch {
      // nobody was blocked
    }
  }
}

const unixOnly = unix ? test : test.skip // mkfifo, symlink loops: Unix only (no FIFOs on Windows)

unixOnly('PageFile.open of a FIFO named like a page file rejects ERR_CORRUPT at once', async (t) => {
  const dir = tempDir(t)
  const fifo = path.join(dir, '1.page')
  mkfifo(fifo)
  // Four at once: before, each held a libuv thread for ever (the pool has four).
  const opens = [1, 2, 3, 4].map(() => PageFile.open(fifo))
  const errs = await settles(t, Promise.allSettled(opens), releaseFifo(fifo))
  for (const r of errs) {
    t.is(r.status, 'rejected')
    const err = (r as PromiseRejectedResult).reason
    t.true(err instanceof WriteBufferError, String(err))
    t.is(err.code, 'ERR_CORRUPT')
    t.true(err.message.includes(fifo) && err.message.includes('a FIFO'), err.message)
  }
  // The pool is free: an unrelated fs call completes.
  t.true((await fs.promises.stat(dir)).isDirectory())
})

test('PageFile.open of a directory named like a page file rejects ERR_CORRUPT (not EISDIR)', async (t) => {
  const dir = tempDir(t)
  const sub = path.join(dir, '2.page')
  fs.mkdirSync(sub)
  const err = await t.throwsAsync(PageFile.open(sub), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.true(err?.message.includes(sub) && err?.message.includes('a directory'), err?.message)
})

unixOnly('PageFile.open of a symlink loop named like a page file rejects ELOOP, as Node fs does', async (t) => {
  const dir = tempDir(t)
  const link = path.join(dir, '3.page')
  fs.symlinkSync(link, link)
  const nodeErr = t.throws(() => fs.readFileSync(link)) as NodeJS.ErrnoException
  const err = (await t.throwsAsync(PageFile.open(link))) as NodeJS.ErrnoException
  t.is(err.code, 'ELOOP', err.message)
  t.is(err.code, nodeErr.code)
  t.is(err.path, link)
  // A link to a valid file is followed.
  const real = await pageFile(dir, 4)
  const alias = path.join(dir, '5.page')
  fs.symlinkSync(real, alias)
  const pf = await PageFile.open(alias)
  t.is(pf.groupId, 4)
})

unixOnly("PageLog.open: a FIFO and a directory named like page files are quarantined ('quarantine') or named ('reject')", async (t) => {
  const dir = tempDir(t)
  await pageFile(dir, 1)
  const fifo = path.join(dir, '2.page')
  mkfifo(fifo)
  const sub = path.join(dir, '3.page')
  fs.mkdirSync(sub)

  const err = await settles(t, t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError }), releaseFifo(fifo))
  t.is(err?.code, 'ERR_CORRUPT')
  t.true(err?.message.includes(fifo) || err?.message.includes(sub), err?.message)

  const log = await settles(t, PageLog.open(dir, { onCorrupt: 'quarantine' }), releaseFifo(fifo))
  t.teardown(() => log.close())
  t.is(log.stats.quarantined, 2)
  t.is(log.stats.recoveredFiles, 1)
  t.true(fs.lstatSync(`${fifo}.corrupt`).isFIFO())
  t.true(fs.statSync(`${sub}.corrupt`).isDirectory())
  t.deepEqual(await log.read((1n << 32n) | 16n), Buffer.alloc(10, 1))
})

unixOnly('photon-wb inspect of a directory holding a FIFO page file reports it corrupt and exits', async (t) => {
  const dir = tempDir(t)
  await pageFile(dir, 1)
  const fifo = path.join(dir, '2.page')
  mkfifo(fifo)
  const r = spawnSync(process.execPath, [CLI, 'inspect', dir], { encoding: 'utf8', timeout: 60_000 })
  t.is(r.signal, null, 'not killed by the timeout')
  t.is(r.status, 1, r.stderr)
  t.true(r.stdout.includes('a FIFO'), r.stdout)
})

/** Runs `PageFile.open` of each file in a fresh process; returns its peak RSS growth and the errors. */
function openInChild(files: string[]): { grewBytes: number; errors: { code: string; message: string }[] } {
  const script = `
    const { PageFile } = require(${JSON.stringify(ROOT)})
    ;(async () => {
      const before = process.resourceUsage().maxRSS
      const errors = []
      for (const f of ${JSON.stringify(files)}) {
        try { await PageFile.open(f); errors.push({ code: 'none', message: '' }) }
        catch (e) { errors.push({ code: e.code, message: e.message }) }
      }
      const grewBytes = (process.resourceUsage().maxRSS - before) * 1024
      process.stdout.write(JSON.stringify({ grewBytes, errors }))
    })()`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`child: status ${r.status} signal ${r.signal}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

test('PageFile.open of a 3 GiB sparse file checks its header and trailer first: refused, peak RSS barely moves', async (t) => {
  const dir = tempDir(t)
  // All zeros: the magic fails.
  const zeros = path.join(dir, '1.page')
  fs.closeSync(fs.openSync(zeros, 'w'))
  fs.truncateSync(zeros, HUGE)
  // A valid page file's header and trailer, the gap between them a hole:
  // the trailer's file length no longer matches.
  const small = fs.readFileSync(await pageFile(dir, 2))
  const spread = path.join(dir, '2.page')
  const fd = fs.openSync(spread, 'r+')
  fs.ftruncateSync(fd, HUGE)
  fs.writeSync(fd, small.subarray(small.length - 32), 0, 32, HUGE - 32)
  fs.closeSync(fd)

  const { grewBytes, errors } = openInChild([zeros, spread])
  t.deepEqual(
    errors.map((e) => e.code),
    ['ERR_CORRUPT', 'ERR_CORRUPT'],
  )
  t.true(errors[0].message.includes('magic'), errors[0].message)
  t.true(errors[1].message.includes('trailer'), errors[1].message)
  // Reading either whole would take 3 GiB.
  t.true(grewBytes < 256 * 2 ** 20, `peak RSS grew by ${grewBytes} bytes`)
})

test('PageFile records: header.setTombstone() and header.setPageId() throw ERR_READ_ONLY', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(6, 4096)
  wb.allocPage(9n, 4, false).page.fill(9)
  wb.deallocPages([(7n << 32n) | 16n], false)
  wb.seal()
  const file = path.join(dir, '6.page')
  await wb.flushTo(file)
  const pf = await PageFile.open(file)
  const records = [...pf]
  t.deepEqual(
    records.map((r) => r.kind),
    ['page', 'dealloc'],
  )
  for (const r of records) {
    for (const call of [() => r.header.setTombstone(), () => r.header.setPageId(1n)]) {
      const err = t.throws(call, { instanceOf: WriteBufferError })
      t.is(err?.code, 'ERR_READ_ONLY')
    }
    t.false(r.header.isTombstone)
  }
  // Nothing changed, in memory or on disk.
  const again = await PageFile.open(file)
  t.is([...again][0].header.pageId, 9n)
  t.is([...pf][0].header.pageId, 9n)
})

test('flushTo while the caller scribbles on released pages: the file always validates, every other page reads back', async (t) => {
  // A contract violation (views are read-only once released) that JS makes
  // easy: it may cost the scribbled pages, never the file or other pages.
  const dir = tempDir(t)
  const PAGE = 4096
  for (let round = 0; round < 4; round++) {
    const wb = new WriteBuffer(round + 1, 16 << 20)
    const victims: Buffer[] = []
    const kept: { addr: bigint; fill: number }[] = []
    for (let id = 0; ; id++) {
      let a
      try {
        a = wb.allocPage(BigInt(id), PAGE, false)
      } catch (e) {
        if ((e as WriteBufferError).code === 'ERR_AGAIN') break
        throw e
      }
      a.page.fill(id & 0xff)
      if (id % 16 === 3) victims.push(a.page)
      else kept.push({ addr: a.addr, fill: id & 0xff })
    }
    wb.seal()
    const file = path.join(dir, `${round + 1}.page`)
    let done = false
    const flushed = wb.flushTo(file).finally(() => {
      done = true
    })
    let x = 0
    while (!done) {
      // Scribble for a few ms at a time while the flush runs on the pool.
      const until = Date.now() + 5
      while (Date.now() < until) {
        x = (x + 1) & 0xff
        for (const v of victims) for (let i = 0; i < PAGE; i += 61) v[i] = x
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    await flushed
    const pf = await PageFile.open(file)
    const wrong = kept.filter(({ addr, fill }) => !pf.page(addr).every((b) => b === fill))
    t.deepEqual(
      wrong.map((k) => k.addr),
      [],
      `round ${round}`,
    )
  }
})

test('PageLog: writer-callback views scribbled after append returned cost only their own pages; the log reopens whole', async (t) => {
  // The caller bug of a background flush racing writes through a view kept
  // past its callback: every other acknowledged page must survive.
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 1 << 23 })
  const SIZE = 4000
  let views: Buffer[] = []
  const kept = new Map<number, Buffer>()
  let x = 0
  for (let id = 0; id < 40_000; id++) {
    const body = Buffer.alloc(SIZE, id & 0xff)
    let data: Buffer | ((view: Buffer) => void)
    if (id % 50 === 7) {
      data = (view: Buffer) => {
        body.copy(view)
        views.push(view)
      }
    } else {
      data = body
      kept.set(id, body)
    }
    if (log.tryAppend(id, data, SIZE) === null) await log.append(id, data, SIZE)
    // Scribble on the views of the last few buffers (older ones are detached
    // or reused: a view outlives nothing).
    x = (x + 1) & 0xff
    views = views.slice(-60)
    for (const v of views) for (let i = 0; i < v.length; i += 97) v[i] = x
    if (id % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await log.close()
  t.true(log.stats.flushes >= 10, `${log.stats.flushes} flushes`)

  const again = await PageLog.open(dir)
  t.teardown(() => again.close())
  const wrong: number[] = []
  for (const [id, body] of kept) {
    const addr = again.addressOf(id)
    if (addr === undefined || !(await again.read(addr)).equals(body)) wrong.push(id)
  }
  t.deepEqual(wrong, [])
})
