// The fault switch exists only in the test build of the addon: load it first.
import './use-test-addon.ts'

import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import { PageFile, WriteBuffer, WriteBufferError } from '../index.ts'

// The test-only fault switch of the native writer (docs/page-file-format.md):
// read from this process's environment at the start of every flush. Tests that
// set it are serial (AVA runs every serial test of a file before the concurrent
// ones), and they clear it before the next flush starts.
const FAULT = 'PHOTON_WB_FAULT'
const OPS = ['open', 'write', 'sync', 'rename', 'dirsync'] as const
const ERRNOS = ['ENOSPC', 'EIO'] as const

/** A fresh temp directory, removed when the test ends. */
function tempDir(t: ExecutionContext, tag = 'flush'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pwb-${tag}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function setFault(t: ExecutionContext, spec: string): void {
  process.env[FAULT] = spec
  t.teardown(() => {
    delete process.env[FAULT]
  })
}

/** A few turns of the event loop, enough for a settled native promise to be seen. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Tracks whether a promise settled, and how. */
function track(promise: Promise<void>) {
  const status = { settled: false, resolved: false, reason: undefined as unknown }
  const done = promise.then(
    () => {
      status.settled = true
      status.resolved = true
    },
    (err: unknown) => {
      status.settled = true
      status.reason = err
    },
  )
  return { status, done }
}

/**
 * A waiter with an AbortSignal: `isPending()` after turns of the loop,
 * `abort()` to end it. Aborted at the end of the test at the latest: a
 * pending wait keeps the event loop alive.
 */
function abortableWait(t: ExecutionContext, wb: WriteBuffer) {
  const ac = new AbortController()
  t.teardown(() => ac.abort())
  const w = track(wb.waitFlushed({ signal: ac.signal }))
  return {
    ...w,
    async isPending(): Promise<boolean> {
      await turns()
      return !w.status.settled
    },
    async abort(): Promise<unknown> {
      ac.abort()
      await w.done
      return w.status.reason
    },
  }
}

/** Deterministic bytes for page `i`. */
function pattern(i: number, length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let k = 0; k < length; k++) out[k] = (i * 131 + k * 7 + (k >> 8)) & 0xff
  return out
}

/** A sealed, flushable buffer of `count` pages of `size` bytes; returns it and its pages. */
function flushable(groupId = 3, count = 20, size = 1000, capacity = 1 << 16) {
  const wb = new WriteBuffer(groupId, capacity)
  const pages = Array.from({ length: count }, (_, i) => {
    const a = wb.allocPage(BigInt(1000 + i), size, false)
    a.page.set(pattern(i, size))
    return { addr: a.addr, bytes: pattern(i, size) }
  })
  wb.seal()
  return { wb, pages }
}

/** Opens `file` and checks every page is there, byte for byte; returns the record count. */
async function checkFile(t: ExecutionContext, file: string, groupId: number, pages: { addr: bigint; bytes: Buffer }[]) {
  const pf = await PageFile.open(file)
  t.is(pf.groupId, groupId)
  t.is(pf.size, pages.length)
  t.true(pages.every((p) => pf.page(p.addr).equals(p.bytes)))
  pf.close()
}

const ls = (dir: string) => fs.readdirSync(dir).sort()

/** Whether this process may mount a small tmpfs (root with CAP_SYS_ADMIN): probed once, at load. */
function canMountTmpfs(): boolean {
  if (process.platform !== 'linux') return false
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-mount-probe-'))
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' }).status === 0
    if (mounted) spawnSync('umount', [probe], { stdio: 'ignore' })
    return mounted
  } catch {
    return false
  } finally {
    fs.rmSync(probe, { recursive: true, force: true })
  }
}
const TMPFS = canMountTmpfs()

// ---------------------------------------------------------------------------
// I/O faults (serial: they set the process-wide fault switch)

for (const op of OPS) {
  for (const code of ERRNOS) {
    test.serial(`an injected ${op} fault with ${code} rejects, leaves no file and keeps the buffer unflushed for a retry`, async (t) => {
      const dir = tempDir(t)
      const file = path.join(dir, '3.page')
      const { wb, pages } = flushable()
      const before = abortableWait(t, wb)
      setFault(t, `${op}:${code}`)
      await t.throwsAsync(wb.flushTo(file), { code })
      delete process.env[FAULT]
      // No file under the final name, no temp file left behind.
      t.deepEqual(ls(dir), [])
      // Still flushable, and not flushed: a waiter (registered before) is still pending.
      t.true(wb.isFlushable)
      t.true(await before.isPending())
      const late = abortableWait(t, wb)
      t.true(await late.isPending())
      t.is(((await late.abort()) as Error).name, 'AbortError')
      // A retry with the switch cleared succeeds, and wakes the earlier waiter.
      const waiter = track(wb.waitFlushed())
      const r = await wb.flushTo(file)
      await waiter.done
      t.true(waiter.status.resolved)
      t.is(r.path, file)
      t.is(r.bytes, fs.statSync(file).size)
      t.deepEqual(ls(dir), ['3.page'])
      await checkFile(t, file, 3, pages)
      // The signal-carrying waiter registered before the failed attempt is woken by the retry.
      await before.done
      t.true(before.status.resolved)
    })
  }
}

test.serial('an injected fault while overwriting leaves the existing file untouched, except a dirsync fault which leaves no file', async (t) => {
  for (const op of OPS) {
    const { wb, pages } = flushable()
    const dir = tempDir(t)
    const file = path.join(dir, '3.page')
    fs.writeFileSync(file, 'precious')
    setFault(t, `${op}:ENOSPC`)
    await t.throwsAsync(wb.flushTo(file, { overwrite: true }), { code: 'ENOSPC' }, op)
    delete process.env[FAULT]
    if (op === 'dirsync') {
      // Documented: the rename already replaced the old file, and the new one is taken back.
      t.deepEqual(ls(dir), [], op)
    } else {
      t.deepEqual(ls(dir), ['3.page'], op)
      t.is(fs.readFileSync(file, 'utf8'), 'precious', op)
    }
    t.true(await abortableWait(t, wb).isPending(), op)
    await wb.flushTo(file, { overwrite: true })
    await checkFile(t, file, 3, pages)
  }
})

test.serial('a malformed fault switch makes flushTo reject with EINVAL instead of being ignored', async (t) => {
  const dir = tempDir(t)
  const { wb } = flushable()
  for (const spec of ['write', 'write:ENOPE', 'scribble:EIO', 'sync=EIO']) {
    setFault(t, spec)
    await t.throwsAsync(wb.flushTo(path.join(dir, 'x.page')), { code: 'EINVAL' }, spec)
    delete process.env[FAULT]
  }
  t.deepEqual(ls(dir), [])
  t.true(await abortableWait(t, wb).isPending())
})

if (TMPFS) {
  test.serial('a flush into a full 64 KiB tmpfs rejects ENOSPC, leaves no file there, and a retry elsewhere succeeds', async (t) => {
    const mnt = tempDir(t, 'tmpfs')
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { encoding: 'utf8' })
    t.is(mount.status, 0, mount.stderr)
    // Teardowns run last-registered first: unmount before the directory is removed.
    t.teardown(() => {
      spawnSync('umount', [mnt], { stdio: 'ignore' })
    })
    const { wb, pages } = flushable(9, 50, 4000, 1 << 18) // ~200 KiB of pages
    await t.throwsAsync(wb.flushTo(path.join(mnt, '9.page')), { code: 'ENOSPC' })
    t.deepEqual(ls(mnt), [])
    t.true(wb.isFlushable)
    t.true(await abortableWait(t, wb).isPending())
    // The space of the failed attempt was given back: a small flush fits there now.
    const small = flushable(10, 5, 1000)
    const s = await small.wb.flushTo(path.join(mnt, '10.page'))
    t.is(s.bytes, fs.statSync(s.path).size)
    await checkFile(t, s.path, 10, small.pages)
    // And the big buffer flushes fine on a file system with room.
    const dir = tempDir(t)
    const r = await wb.flushTo(path.join(dir, '9.page'))
    t.is(r.bytes, fs.statSync(r.path).size)
    t.true(r.bytes > 64 * 1024)
    await checkFile(t, r.path, 9, pages)
    await wb.waitFlushed()
  })
} else {
  // No permission to mount here: the real full disk cannot be produced, so
  // this test asserts the same outcome through the fault switch instead.
  test.serial('(no tmpfs mount allowed: fault switch instead) a write ENOSPC leaves no file and a retry succeeds', async (t) => {
    const dir = tempDir(t)
    const { wb, pages } = flushable(9, 50, 4000, 1 << 18)
    setFault(t, 'write:ENOSPC')
    await t.throwsAsync(wb.flushTo(path.join(dir, '9.page')), { code: 'ENOSPC' })
    delete process.env[FAULT]
    t.deepEqual(ls(dir), [])
    t.true(await abortableWait(t, wb).isPending())
    const r = await wb.flushTo(path.join(dir, '9.page'))
    await checkFile(t, r.path, 9, pages)
  })
}

// A read-only directory: root ignores directory permissions, so as root the
// read-only place is a tmpfs mounted read-only (EROFS); as another user it is
// a directory without write permission (EACCES). Root without the right to
// mount (a container without CAP_SYS_ADMIN) can produce neither: the test is
// then reported as skipped, with that reason in its title.
const ROOT = process.getuid?.() === 0
const RO_TITLE = 'a flush into a read-only directory rejects, leaves no file, and a retry elsewhere succeeds'
if (ROOT && !TMPFS) {
  test.skip(`${RO_TITLE} (skipped: running as root without permission to mount a read-only tmpfs)`, () => {})
} else {
  test.serial(RO_TITLE, async (t) => {
    const ro = tempDir(t, 'ro')
    let code: string
    if (ROOT) {
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { encoding: 'utf8' })
      t.is(mount.status, 0, mount.stderr)
      t.teardown(() => {
        spawnSync('umount', [ro], { stdio: 'ignore' })
      })
      code = 'EROFS'
    } else {
      fs.chmodSync(ro, 0o555)
      t.teardown(() => fs.chmodSync(ro, 0o755))
      code = 'EACCES'
    }
    const { wb, pages } = flushable(11, 20, 500)
    const err = await t.throwsAsync(wb.flushTo(path.join(ro, '11.page')), { code })
    t.is((err as Error & { path?: string }).path, path.join(ro, '11.page'))
    t.deepEqual(ls(ro), [])
    t.true(wb.isFlushable)
    t.true(await abortableWait(t, wb).isPending())
    const dir = tempDir(t)
    const r = await wb.flushTo(path.join(dir, '11.page'))
    await checkFile(t, r.path, 11, pages)
  })
}

// ---------------------------------------------------------------------------
// Concurrent tests (no fault switch)

test('flushTo rejects ERR_NOT_FLUSHABLE on a buffer that is not sealed', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, false)
  const err = await t.throwsAsync(wb.flushTo(path.join(dir, '1.page')), { code: 'ERR_NOT_FLUSHABLE' })
  t.true(err instanceof WriteBufferError)
  t.deepEqual(ls(dir), [])
  t.is(wb.allocated, 24)
  t.false(wb.isSealed)
})

test('flushTo rejects ERR_NOT_FLUSHABLE on a sealed buffer with a writer in progress, and succeeds once it is released', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, '1.page')
  const wb = new WriteBuffer(1, 1024)
  wb.allocPage(1n, 8, true).page.write('in flux!')
  t.is(wb.seal(), 'none')
  await t.throwsAsync(wb.flushTo(file), { instanceOf: WriteBufferError, code: 'ERR_NOT_FLUSHABLE' })
  t.deepEqual(ls(dir), [])
  t.true(await abortableWait(t, wb).isPending())
  t.is(wb.writers, 1)
  t.is(wb.releaseWriter(), 'flush')
  const r = await wb.flushTo(file)
  t.is(r.records, 1)
})

test('flushTo resolves with the absolute path, the file size on disk and the record count', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(4, 1 << 16)
  const kept = wb.allocPage(1n, 333, false)
  kept.page.set(pattern(1, 333))
  const freed = wb.allocPage(2n, 100, false)
  wb.deallocPages([freed.addr, (99n << 32n) | 16n], false) // frees a page of this group, keeps the other group's address
  wb.allocPage(3n, 10, false).header.setTombstone()
  wb.seal()
  // A relative path comes back resolved against the working directory.
  const rel = path.relative(process.cwd(), path.join(dir, '4.page'))
  t.false(path.isAbsolute(rel))
  const r = await wb.flushTo(rel)
  t.true(path.isAbsolute(r.path))
  t.is(r.path, path.resolve(rel))
  t.is(r.bytes, fs.statSync(r.path).size)
  t.is(r.records, 2) // the kept page and the dealloc record (other group only)
  t.deepEqual(Object.keys(r).sort(), ['bytes', 'path', 'records'])
  t.deepEqual(ls(dir), ['4.page'])
  const pf = await PageFile.open(r.path)
  t.is(pf.size, r.records)
  t.true(pf.page(kept.addr).equals(pattern(1, 333)))
})

test('the buffer is flushed only once the file is durable, waking a waiter registered before the flush', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, '3.page')
  const { wb, pages } = flushable()
  // Registered before the flush starts; when it wakes, the file must already be complete under its final name.
  let sizeWhenWoken = -1
  const early = track(
    wb.waitFlushed().then(() => {
      sizeWhenWoken = fs.existsSync(file) ? fs.statSync(file).size : 0
    }),
  )
  await turns()
  t.false(early.status.settled)
  const r = await wb.flushTo(file)
  await early.done
  t.true(early.status.resolved)
  t.is(sizeWhenWoken, r.bytes)
  // Waiters that come later resolve too.
  t.is(await wb.waitFlushed(), undefined)
  t.is(await wb.waitFlushed({ signal: new AbortController().signal }), undefined)
  await checkFile(t, file, 3, pages)
})

test('flushTo wakes a waiter on another thread that shares the buffer', async (t) => {
  const dir = tempDir(t)
  const { wb } = flushable()
  // AVA runs specs in the project directory. The worker is plain CommonJS on
  // the compiled build: no TypeScript loader (execArgv) for it.
  const script = path.resolve('__test__/fixtures/wait-flushed-worker.js')
  const worker = new Worker(script, { workerData: wb.share(), execArgv: [] })
  t.teardown(() => worker.terminate())
  const messages: string[] = []
  const next = () => new Promise<string>((resolve, reject) => {
    worker.once('message', (m: string) => {
      messages.push(m)
      resolve(m)
    })
    worker.once('error', reject)
  })
  t.is(await next(), 'waiting')
  const woken = next()
  await turns()
  t.deepEqual(messages, ['waiting'])
  await wb.flushTo(path.join(dir, '3.page'))
  t.is(await woken, 'woken')
})

test('flushTo refuses an existing file with EEXIST, leaves it untouched and does not flush the buffer', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, '3.page')
  fs.writeFileSync(file, 'precious bytes')
  const { wb } = flushable()
  const waiter = abortableWait(t, wb)
  const err = await t.throwsAsync(wb.flushTo(file), { code: 'EEXIST' })
  t.is((err as Error & { path?: string }).path, file)
  t.is(fs.readFileSync(file, 'utf8'), 'precious bytes')
  t.deepEqual(ls(dir), ['3.page'])
  await t.throwsAsync(wb.flushTo(file, { overwrite: false }), { code: 'EEXIST' })
  t.is(fs.readFileSync(file, 'utf8'), 'precious bytes')
  t.true(wb.isFlushable)
  t.true(await waiter.isPending())
  t.is(((await waiter.abort()) as Error).name, 'AbortError')
})

test('flushTo with overwrite: true replaces an existing file', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, '3.page')
  fs.writeFileSync(file, 'old contents')
  const { wb, pages } = flushable()
  const r = await wb.flushTo(file, { overwrite: true })
  t.is(r.bytes, fs.statSync(file).size)
  t.deepEqual(ls(dir), ['3.page'])
  await checkFile(t, file, 3, pages)
  await wb.waitFlushed()
  // A second flush of the same (still flushable) buffer over its own file works too.
  const again = await wb.flushTo(file, { overwrite: true })
  t.is(again.bytes, r.bytes)
  await checkFile(t, file, 3, pages)
})

test('flushTo rejects bad argument types with a TypeError coded ERR_INVALID_ARG_TYPE', async (t) => {
  const dir = tempDir(t)
  const { wb } = flushable()
  const file = path.join(dir, 'x.page')
  const call = wb.flushTo.bind(wb) as (...args: unknown[]) => Promise<unknown>
  const bad: [string, unknown[]][] = [
    ['number path', [42]],
    ['missing path', []],
    ['null path', [null]],
    ['Buffer path', [Buffer.from(file)]],
    ['URL path', [new URL(`file://${file}`)]],
    ['null opts', [file, null]],
    ['string opts', [file, 'overwrite']],
    ['boolean opts', [file, true]],
    ['string overwrite', [file, { overwrite: 'yes' }]],
    ['number overwrite', [file, { overwrite: 1 }]],
  ]
  for (const [what, args] of bad) {
    await t.throwsAsync(call(...args), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, what)
  }
  t.deepEqual(ls(dir), [])
  t.true(await abortableWait(t, wb).isPending())
})

test('a flush into a directory that does not exist rejects ENOENT and creates nothing', async (t) => {
  const dir = tempDir(t)
  const { wb } = flushable()
  const missing = path.join(dir, 'no', 'such', 'dir')
  await t.throwsAsync(wb.flushTo(path.join(missing, '3.page')), { code: 'ENOENT' })
  t.false(fs.existsSync(path.join(dir, 'no')))
  t.deepEqual(ls(dir), [])
  t.true(wb.isFlushable)
  t.true(await abortableWait(t, wb).isPending())
})

test('the event loop keeps running while a 64 MiB buffer is flushed', async (t) => {
  const dir = tempDir(t)
  const wb = new WriteBuffer(5, 64 << 20)
  const fill = Buffer.alloc(4096)
  let count = 0
  for (;;) {
    let a
    try {
      a = wb.allocPage(BigInt(count), 4096, false)
    } catch (e) {
      t.is((e as WriteBufferError).code, 'ERR_AGAIN')
      break
    }
    fill.fill(count & 0xff)
    a.page.set(fill)
    count++
  }
  wb.seal()
  let inFlight = true
  let ticks = 0
  const timer = setInterval(() => {
    if (inFlight) ticks++
  }, 1)
  t.teardown(() => clearInterval(timer))
  const r = await wb.flushTo(path.join(dir, '5.page'))
  inFlight = false
  clearInterval(timer)
  t.true(ticks >= 1, `the interval ticked ${ticks} times during the flush`)
  t.is(r.records, count)
  t.true(r.bytes > 64 * 1000 * 1000)
  t.is(r.bytes, fs.statSync(r.path).size)
  fs.rmSync(r.path)
})
