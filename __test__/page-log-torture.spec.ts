// The test build first: it points this process and its children at the
// build with PHOTON_WB_SEGMENT_PAUSE (the pause windows of scenario d).
import './use-test-addon.ts'

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test, { type ExecutionContext } from 'ava'

import { PageLog } from '../index.ts'
import pattern from './fixtures/pattern.js'
import tp from './fixtures/torture-page.js'
import { requireFromRoot } from './test-addon.ts'

/** The native segment recovery (what segment.ts wraps), as scenario (e)'s child uses it. */
interface NativeRecovery {
  errorCode?: string | null
  errorMessage?: string | null
  /** Files named like segments that are not valid ones (where recovery lists them). */
  corrupt?: () => { path: string; message: string }[]
  count: number
  segment(i: number): { path: string; pageIds: BigUint64Array; addrs: BigUint64Array; flags: Uint32Array }
  read(addr: bigint): ArrayBuffer
}
const native = requireFromRoot('./load-binding.js') as { recoverSegments(dir: string, maxOpenFiles: number): Promise<NativeRecovery> }

// kill -9 torture of PageLog: "a resolved flush() is durable, and nothing
// the log holds is garbage", through recovery after recovery.
//
// A child (fixtures/torture-child.js) appends versions of pages drawn from
// one universe of ids (fixtures/torture-page.js: every version says what it
// is, 0 bytes to almost a whole 64 KiB buffer) and writes `A <id> <seq>
// <addr>` for each page only after the flush() that covers it resolved. The
// parent kills it with SIGKILL at a moment drawn from a seeded PRNG, then
// opens the directory itself (open must never reject) and checks:
// - every page acknowledged by that child reads back byte for byte at its
//   address, and addressOf(its id) is at or after that address (the same
//   for every page acknowledged since the scenario began, by id);
// - every page the log holds (the address of each id of the universe that
//   changed since the last check; all of them at the end) is an intact
//   version of its page: 0 garbage; and pageCount counts exactly them.
// The next child goes on in the same directory. At the end of a scenario
// every acknowledged page of every child is read back again.
//
// Scenarios: (a) the owner thread alone, one append + flush loop; (b) 32
// concurrent append + flush clients in one process; (c) 4 worker threads,
// PageLog.attach writers acknowledging after writer.flush(); (d) kills aimed
// at the segment core's commit, seal and preparation windows: the child runs
// with PHOTON_WB_SEGMENT_PAUSE (the test build sleeps there and says so on
// stderr) and the parent kills it as it enters one. Where the log makes no
// segment (v1 page files) there is no window and (d) kills at random.
//
// TORTURE_KILLS (default 220) kills in all, shared by the scenarios;
// TORTURE_SEED to draw the same kill moments again (only approximately the
// same run: the children's progress depends on the machine).

const KILLS = Number(process.env.TORTURE_KILLS) || 220
const SEED = Number(process.env.TORTURE_SEED) || Date.now() % 2 ** 31
/** Microseconds of each pause of scenario (d). */
const PAUSE_US = { commit: 20_000, seal: 50_000, prepare: 50_000 }
const POINTS = ['commit', 'seal', 'prepare'] as const
type Point = (typeof POINTS)[number]

type Mode = 'owner' | 'clients' | 'workers' | 'windows' | 'segments'
/** Scenarios whose kills aim at the pause windows. */
const aimed = (mode: Mode) => mode === 'windows' || mode === 'segments'

/** When to kill a child. */
type Plan =
  | { at: 'spawn' | 'open'; delay: number }
  /** As it enters the `nth` pause at `point` (after `delay` ms); if the log shows no pause at all, `fallback` ms after OPEN. */
  | { at: 'pause'; point: Point; nth: number; delay: number; fallback: number }

interface Ack {
  id: bigint
  seq: number
  addr: bigint
}

interface Death {
  acks: Ack[]
  opened: boolean
  signal: NodeJS.Signals | null
  code: number | null
  /** stderr without the pause markers, and any stdout line that is not an ack. */
  stderr: string
  /** Pause markers seen, and the windows the kill landed in (a pause without its resume). */
  pauses: number
  landedIn: Point[]
  hung: boolean
}

/** Runs the child and kills it as `plan` says; resolves once it is dead. */
function runAndKill(dir: string, mode: Mode, seed: number, plan: Plan): Promise<Death> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env }
    if (aimed(mode)) env.PHOTON_WB_SEGMENT_PAUSE = POINTS.map((p) => `${p}:${PAUSE_US[p]}`).join(',')
    const args = mode === 'segments' ? [tp.SEGMENT_CHILD, dir, String(seed)] : [tp.TORTURE_CHILD, dir, mode, String(seed)]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    const acks: Ack[] = []
    let opened = false
    let out = ''
    let err = ''
    let pauses = 0
    const strange: string[] = []
    const seen = new Map<Point, number>()
    const timers: NodeJS.Timeout[] = []
    const later = (ms: number, f: () => void) => timers.push(setTimeout(f, ms))
    let hung = false
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    // No child lives a minute: one that does is stuck.
    later(60_000, () => {
      hung = true
      kill()
    })
    if (plan.at === 'spawn') later(plan.delay, kill)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (line === 'OPEN') {
          opened = true
          if (plan.at === 'open') later(plan.delay, kill)
          if (plan.at === 'pause') later(plan.fallback, () => pauses === 0 && kill())
          // Whatever the pauses do, a kill within 3 s of OPEN.
          if (plan.at === 'pause') later(plan.fallback + 3000, kill)
          continue
        }
        const m = /^A (\d+) (\d+) (\d+)$/.exec(line)
        if (m === null) strange.push(line)
        else acks.push({ id: BigInt(m[1]), seq: Number(m[2]), addr: BigInt(m[3]) })
      }
    })
    child.stderr.setEncoding('utf8')
    let errLines = 0 // complete stderr lines looked at
    child.stderr.on('data', (chunk: string) => {
      err += chunk
      if (plan.at !== 'pause') return
      const lines = err.split('\n')
      for (; errLines < lines.length - 1; errLines++) {
        const m = /^photon-wb pause (\w+)$/.exec(lines[errLines])
        if (m === null) continue
        pauses++
        const p = m[1] as Point
        seen.set(p, (seen.get(p) ?? 0) + 1)
        if (p === plan.point && seen.get(p) === plan.nth) later(plan.delay, kill)
      }
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer)
      const open = new Map<string, number>()
      const rest: string[] = []
      for (const line of err.split('\n')) {
        const m = /^photon-wb (pause|resume) (\w+)$/.exec(line)
        if (m) open.set(m[2], (open.get(m[2]) ?? 0) + (m[1] === 'pause' ? 1 : -1))
        else if (line !== '') rest.push(line)
      }
      for (const line of strange) rest.push(`stdout: ${line}`)
      const landedIn = POINTS.filter((p) => (open.get(p) ?? 0) > 0)
      const markers = [...err.matchAll(/^photon-wb pause /gm)].length
      resolve({ acks, opened, signal, code, stderr: rest.join('\n'), pauses: markers, landedIn, hung })
    })
  })
}

interface Scenario {
  dir: string
  seed: number
  rand: () => number
  /** Every page acknowledged so far. */
  acked: Ack[]
  /** The largest acknowledged address of each id. */
  maxAcked: Map<bigint, bigint>
  /** Checked intact: the address of each id at the last check; (e): the page id at each address. */
  checked: Map<bigint, bigint>
  kills: number
  opened: number
  landed: Record<Point, number>
  /** Kills that landed in at least one window. */
  inWindow: number
  pauses: number
  checks: number
  /** Time spent in children (spawn to death) and in checks. */
  childMs: number
  checkMs: number
}

const UNIVERSE_IDS = Array.from({ length: tp.UNIVERSE }, (_, k) => tp.idOf(k))

/**
 * Opens the log (it must not reject) and checks `acks` and every page it
 * holds whose address changed since the last check (`all`: every page).
 * Returns the problems found.
 */
async function check(s: Scenario, acks: Ack[], all: boolean): Promise<string[]> {
  const problems: string[] = []
  let log: PageLog
  try {
    log = await PageLog.open(s.dir, { bufferSize: tp.BUFFER_SIZE })
  } catch (e) {
    return [`PageLog.open rejected: ${(e as Error).stack}`]
  }
  try {
    for (const a of [...acks].sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0))) {
      let page: Buffer
      try {
        page = await log.read(a.addr)
      } catch (e) {
        problems.push(`acknowledged page ${a.id} v${a.seq} at ${a.addr}: read rejected ${(e as { code?: string }).code}: ${(e as Error).message}`)
        continue
      }
      if (!page.equals(tp.makePage(a.id, a.seq))) problems.push(`acknowledged page ${a.id} v${a.seq} at ${a.addr}: wrong bytes (${tp.whyNotPage(page, a.id) ?? 'another intact version'})`)
    }
    for (const [id, max] of s.maxAcked) {
      const addr = log.addressOf(id)
      if (addr === undefined || addr < max) problems.push(`page ${id}: addressOf ${addr}, before its acknowledged ${max}`)
    }
    let held = 0
    for (const id of UNIVERSE_IDS) {
      const addr = log.addressOf(id)
      if (addr === undefined) continue
      held++
      if (!all && s.checked.get(id) === addr) continue
      try {
        const why = tp.whyNotPage(await log.read(addr), id)
        if (why !== null) problems.push(`page ${id} at ${addr}: garbage (${why})`)
      } catch (e) {
        problems.push(`page ${id} at ${addr}: read rejected ${(e as { code?: string }).code}: ${(e as Error).message}`)
      }
      s.checked.set(id, addr)
      s.checks++
    }
    if (log.pageCount !== held) problems.push(`pageCount ${log.pageCount}, but ${held} page ids of the universe have an address`)
  } finally {
    await log.close()
  }
  return problems
}

/**
 * Scenario (e): recovers the segments (it must not reject) and checks `acks`
 * and every recovered page not checked before (`all`: every one). A segment
 * left unsealed stays so (the next child seals it).
 */
async function checkSegments(s: Scenario, acks: Ack[], all: boolean): Promise<string[]> {
  const problems: string[] = []
  let r: NativeRecovery
  try {
    r = await native.recoverSegments(s.dir, 8)
  } catch (e) {
    return [`recoverSegments rejected: ${(e as Error).stack}`]
  }
  if (r.errorCode != null) return [`recoverSegments failed: ${r.errorCode}: ${r.errorMessage}`]
  for (const c of r.corrupt?.() ?? []) problems.push(`recoverSegments found a corrupt segment ${c.path}: ${c.message}`)
  const read = (addr: bigint, what: string): Buffer | undefined => {
    try {
      return Buffer.from(r.read(addr))
    } catch (e) {
      problems.push(`${what} at ${addr}: read threw ${(e as { code?: string }).code}: ${(e as Error).message}`)
    }
  }
  for (const a of acks) {
    const page = read(a.addr, `acknowledged page ${a.id} v${a.seq}`)
    if (page && !page.equals(tp.makePage(a.id, a.seq))) problems.push(`acknowledged page ${a.id} v${a.seq} at ${a.addr}: wrong bytes (${tp.whyNotPage(page, a.id) ?? 'another intact version'})`)
  }
  for (let g = 0; g < r.count; g++) {
    const seg = r.segment(g)
    for (let i = 0; i < seg.addrs.length; i++) {
      const [id, addr] = [seg.pageIds[i], seg.addrs[i]]
      if (!all && s.checked.get(addr) === id) continue
      const name = path.basename(seg.path)
      if (seg.flags[i] !== 1) {
        problems.push(`record at ${addr} of ${name}: flags ${seg.flags[i]}, the child writes pages only`)
        continue
      }
      const page = read(addr, `page ${id} of ${name}`)
      const why = page && (tp.kOf(id) < tp.UNIVERSE && id === tp.idOf(tp.kOf(id)) ? tp.whyNotPage(page, id) : 'an id never written')
      if (why) problems.push(`page ${id} at ${addr} of ${name}: garbage (${why})`)
      s.checked.set(addr, id)
      s.checks++
    }
  }
  return problems
}

/** The kill plan of child `k` of scenario `mode`. */
function planOf(mode: Mode, k: number, rand: () => number): Plan {
  if (aimed(mode)) {
    return { at: 'pause', point: POINTS[k % 3], nth: 1 + (rand() % 3), delay: rand() % 5, fallback: 50 + (rand() % 150) }
  }
  // Now and then early: during start-up, recovery or the first appends.
  if (rand() % 100 < 15) return { at: 'spawn', delay: rand() % 300 }
  return { at: 'open', delay: rand() % 150 }
}

async function torture(t: ExecutionContext, mode: Mode, index: number, kills: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pwb-torture-${mode}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const seed = (SEED + index * 0x9e3779b1) >>> 0
  const s: Scenario = {
    dir,
    seed,
    rand: pattern.prng(seed),
    acked: [],
    maxAcked: new Map(),
    checked: new Map(),
    kills: 0,
    opened: 0,
    landed: { commit: 0, seal: 0, prepare: 0 },
    inWindow: 0,
    pauses: 0,
    checks: 0,
    childMs: 0,
    checkMs: 0,
  }
  const replay = `TORTURE_SEED=${SEED} (scenario ${mode}, seed ${seed})`
  t.log(`${kills} kills, ${replay}`)
  for (let k = 0; k < kills; k++) {
    const plan = planOf(mode, k, s.rand)
    const t0 = Date.now()
    const d = await runAndKill(dir, mode, s.rand(), plan)
    const t1 = Date.now()
    s.childMs += t1 - t0
    const where = `child ${k} (${JSON.stringify(plan)}), ${replay}`
    t.false(d.hung, `${where}: no kill for 60 s`)
    t.is(d.signal, 'SIGKILL', `${where}: ended by ${d.signal ?? `exit ${d.code}`}: ${d.stderr}`)
    t.is(d.stderr, '', `${where}: wrote to stderr`)
    if (d.signal === 'SIGKILL') s.kills++
    if (d.opened) s.opened++
    s.pauses += d.pauses
    for (const p of d.landedIn) s.landed[p]++
    if (d.landedIn.length > 0) s.inWindow++
    for (const a of d.acks) {
      s.acked.push(a)
      const max = s.maxAcked.get(a.id)
      if (max === undefined || a.addr > max) s.maxAcked.set(a.id, a.addr)
    }
    const problems = await (mode === 'segments' ? checkSegments(s, d.acks, false) : check(s, d.acks, false))
    s.checkMs += Date.now() - t1
    t.deepEqual(problems.slice(0, 10), [], `after ${where}: ${problems.length} problems`)
    if (problems.length > 0) return
  }
  const problems = await (mode === 'segments' ? checkSegments(s, s.acked, true) : check(s, s.acked, true))
  t.deepEqual(problems.slice(0, 10), [], `at the end, ${replay}: ${problems.length} problems`)
  const segments = fs.readdirSync(dir).filter((f) => /^seg-[0-9a-f]+\.pws$/.test(f)).length
  const landed = POINTS.map((p) => `${s.landed[p]} in ${p}`).join(', ')
  t.log(
    `${s.kills} kills, ${s.opened} children got past open (recovery), ${s.acked.length} pages acknowledged and read back, ` +
      `${s.checks} page versions checked intact, ${fs.readdirSync(dir).length} files (${segments} segments); ` +
      `${(s.childMs / 1000).toFixed(1)} s in children, ${(s.checkMs / 1000).toFixed(1)} s in checks` +
      (aimed(mode) ? `; ${s.pauses} pauses, ${s.inWindow} kills landed in a window: ${landed}` : ''),
  )
  t.is(s.kills, kills, 'every child died by SIGKILL')
  t.true(s.opened > kills / 2, `only ${s.opened} of ${kills} children got past open`)
  t.true(s.acked.length > 0, 'no page was acknowledged')
  if (aimed(mode) && segments > 0) {
    // Segments were made: the windows exist, and most kills must land in one.
    t.true(s.inWindow >= kills / 2, `only ${s.inWindow} of ${kills} kills landed in a window (${landed})`)
    for (const p of POINTS) t.true(s.landed[p] > 0, `no kill landed in a ${p} window (${landed})`)
  }
}

// The scenarios share the kills: a fifth each.
const share = (i: number) => Math.floor(KILLS / 5) + (i < KILLS % 5 ? 1 : 0)

test('(a) owner thread, one append + flush loop: kill -9 loses no acknowledged page, leaves no garbage', (t) => torture(t, 'owner', 0, share(0)))
test('(b) 32 concurrent append + flush clients: kill -9 loses no acknowledged page, leaves no garbage', (t) => torture(t, 'clients', 1, share(1)))
test('(c) 4 worker threads appending through PageLog.attach, acknowledged after writer.flush(): kill -9 loses none, no garbage', (t) =>
  torture(t, 'workers', 2, share(2)))
test('(d) PageLog: kills aimed at the commit, seal and segment preparation windows lose no acknowledged page, leave no garbage', (t) =>
  torture(t, 'windows', 3, share(3)))
test('(e) segments: kills in the prepare, commit and seal windows (recovered segments sealed by the next child) lose no committed page, leave no garbage', (t) =>
  torture(t, 'segments', 4, share(4)))
