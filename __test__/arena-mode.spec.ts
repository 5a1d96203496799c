import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { WriteBuffer, arenaMode, type ArenaMode } from '../index.ts'
import payload from './fixtures/thread-payload.js'
import { testAddonEnv } from './test-addon.ts'

// Arena modes (docs/runtimes.md, "Electron and runtimes without external buffers").
// Each mode runs in its own child process (fixtures/arena-mode-child.js, on
// the compiled build), because the mode is process-wide and one-way: the
// environment of the child picks it. The child does the work (alloc, views,
// records, page(), lanes, two attached worker threads, flushTo + PageFile,
// misuse, GC) and reports what it saw as one JSON line.

const ROOT = path.join(payload.DIR, '..', '..')
const CHILD = path.join(payload.DIR, 'arena-mode-child.js')
const MODE_VARS = ['PHOTON_WB_ARENA', 'PHOTON_WB_SIMULATE_NO_EXTERNAL', 'PHOTON_WB_FLUSH_DELAY_MS']

/**
 * The environment of this process without the mode switches, plus `extra`,
 * loading the test build of the addon: the flush delay and the simulated
 * refusal exist only there.
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of MODE_VARS) delete env[k]
  return { ...env, ...testAddonEnv(), ...extra }
}

type Report = { [key: string]: any }

function runChild(t: ExecutionContext, extra: Record<string, string>): Report {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-arena-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  // The flush delay holds every flush 300 ms before it reads the arena, so
  // the child can collect everything JS holds while the flush runs.
  const r = spawnSync(process.execPath, ['--expose-gc', CHILD, dir], {
    env: childEnv({ PHOTON_WB_FLUSH_DELAY_MS: '300', ...extra }),
    encoding: 'utf8',
    timeout: 120_000,
  })
  t.is(r.signal, null, `child killed by ${r.signal}: ${r.stderr}`)
  t.is(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as Report
  t.true(report.done)
  return report
}

/** What every mode must do the same way. */
function assertWorks(t: ExecutionContext, r: Report, mode: ArenaMode): void {
  t.is(r.nativeMode, mode)
  t.is(r.modeAfterFirstBuffer, mode)
  // Views: Buffers over the arena's memory, of the mode's kind.
  t.is(r.viewBuffer, mode === 'js' ? 'SharedArrayBuffer' : 'ArrayBuffer')
  t.true(r.viewIsBuffer)
  t.true(r.viewAlignedTo8)
  t.is(r.utf8, 'hello')
  // Workers attached the same memory and saw the main thread's page.
  t.deepEqual(r.workerModes, [mode, mode])
  const kind = mode === 'js' ? '[object SharedArrayBuffer]' : '[object ArrayBuffer]'
  t.deepEqual(r.workerArenaKinds, [kind, kind])
  t.deepEqual(r.workerSawMainPage, [100, 100])
  t.is(r.handleArena, mode === 'js' ? 'SharedArrayBuffer' : null)
  // records() and page() saw every page written on every thread (6 plain,
  // 3 lane, 2 × 5 from the workers), plus the 'hello' page.
  t.is(r.expected, 19)
  t.is(r.matched, 19)
  t.is(r.records, 20)
  // The page file has the same bytes at the same addresses.
  t.is(r.flushed, 20)
  t.is(r.filePagesEqual, 20)
  t.is(r.fileBuffer, 'ArrayBuffer')
  t.is(r.fileGroup, 7)
  // GC: views outlive their collected buffers; a flush outlives its
  // collected buffer.
  t.true(r.keptViewsIntact)
  t.deepEqual(r.lateFlushPages, [64, 64])
}

function assertJsOnly(t: ExecutionContext, r: Report): void {
  // attach checks the handle's SharedArrayBuffer is the arena.
  t.is(r.forgedAttach, 'TypeError:ERR_INVALID_ARG_VALUE')
  t.is(r.bareAttach, 'TypeError:ERR_INVALID_ARG_VALUE')
  t.is(r.offsetAttach, 'TypeError:ERR_INVALID_ARG_VALUE')
  // The native side borrows exactly the bytes of a Uint8Array with a
  // non-zero byteOffset: a header it wrote shows up at that offset.
  t.true(r.nativeBorrowed)
  t.is(r.headerAtOffset, '0807060504030201')
  t.true(r.headerBefore)
  // It refuses detachable memory, a misaligned arena and a wrong length.
  t.is(r.plainArrayBuffer, 'Error:ERR_INVALID_ARG_TYPE')
  t.is(r.misaligned, 'Error:ERR_INVALID_ARG_VALUE')
  t.is(r.wrongLength, 'Error:ERR_INVALID_ARG_VALUE')
  // A native flush whose buffer and arena JS dropped and collected mid-flush
  // still wrote the right bytes: its own reference kept the memory.
  t.true(r.nativeLateFlush)
}

test('this process: the default mode is external (PHOTON_WB_ARENA unset)', (t) => {
  // (Only the test build of the addon reads the simulated refusal.)
  const sim = process.env.NAPI_RS_NATIVE_LIBRARY_PATH ? process.env.PHOTON_WB_SIMULATE_NO_EXTERNAL : undefined
  const forced = process.env.PHOTON_WB_ARENA === 'js' || (sim !== undefined && sim !== '' && sim !== '0')
  const wb = new WriteBuffer(1, 1 << 10)
  const { page } = wb.allocPage(1n, 8, false)
  // (Read after a buffer exists: a refusal first met by it switches the mode.)
  t.is(arenaMode, forced ? 'js' : 'external')
  t.is(Object.prototype.toString.call(page.buffer), forced ? '[object SharedArrayBuffer]' : '[object ArrayBuffer]')
})

test('default: external arenas, no fallback taken', (t) => {
  const r = runChild(t, {})
  t.is(r.modeAtLoad, 'external')
  assertWorks(t, r, 'external')
  t.is(r.forgedAttach, undefined)
})

test('PHOTON_WB_ARENA=js: js arenas from the start', (t) => {
  const r = runChild(t, { PHOTON_WB_ARENA: 'js' })
  t.is(r.modeAtLoad, 'js')
  assertWorks(t, r, 'js')
  assertJsOnly(t, r)
})

test('PHOTON_WB_ARENA=external is the default', (t) => {
  const r = runChild(t, { PHOTON_WB_ARENA: 'external' })
  t.is(r.modeAtLoad, 'external')
  assertWorks(t, r, 'external')
})

test('a runtime refusing every external buffer: detected at load, js mode', (t) => {
  const r = runChild(t, { PHOTON_WB_SIMULATE_NO_EXTERNAL: '1' })
  t.is(r.modeAtLoad, 'js')
  assertWorks(t, r, 'js')
  assertJsOnly(t, r)
})

test('a refusal first met by new WriteBuffer: that buffer works, js mode from then on', (t) => {
  const r = runChild(t, { PHOTON_WB_SIMULATE_NO_EXTERNAL: 'arena' })
  t.is(r.modeAtLoad, 'external')
  assertWorks(t, r, 'js')
  assertJsOnly(t, r)
})

test('an unknown PHOTON_WB_ARENA value throws at load, naming the allowed values', (t) => {
  const r = spawnSync(process.execPath, ['-e', "require('./index.js')"], {
    cwd: ROOT,
    env: childEnv({ PHOTON_WB_ARENA: 'shared' }),
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.not(r.status, 0)
  t.regex(r.stderr, /PHOTON_WB_ARENA must be 'external' or 'js' \(or unset\); got "shared"/)
  t.regex(r.stderr, /ERR_INVALID_ARG_VALUE/)
})

test('ESM: arenaMode is re-exported by index.mjs', (t) => {
  const run = (extra: Record<string, string>) =>
    spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import { arenaMode } from './index.mjs'; console.log(arenaMode)"],
      { cwd: ROOT, env: childEnv(extra), encoding: 'utf8', timeout: 60_000 },
    )
  const js = run({ PHOTON_WB_ARENA: 'js' })
  t.is(js.status, 0, js.stderr)
  t.is(js.stdout.trim(), 'js')
  const external = run({})
  t.is(external.status, 0, external.stderr)
  t.is(external.stdout.trim(), 'external')
})
