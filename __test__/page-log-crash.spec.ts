import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test, { type ExecutionContext } from 'ava'

import { PageLog } from '../index.ts'
import pattern from './fixtures/pattern.js'

// A child appends batches of pages through a PageLog and prints `ACK …` for
// a batch only after `flush()` resolved for it. It is killed with SIGKILL,
// most of the time while a flush is in progress (it prints `FLUSH …` as one
// starts, and the parent kills it on such a line); then the next child
// reopens the same directory (recovery) and goes on. After every kill the
// parent reopens the log and reads back every page acknowledged by that
// child; at the end, every page acknowledged by any child. Where each kill
// landed is read from the child's whole output after its death, and a
// minimum of kills must have landed during a flush.
//
// - fixtures/log-loop.js: the owner thread appends (`OPEN`, `FLUSH n`, `ACK n`).
// - fixtures/log-shared-loop.js: worker writers on a shared log
//   (`PageLog.share`/`attach`) append, each flushes its own batches with
//   `writer.flush()` (`OPEN`, `FLUSH w n`, `ACK w n`).
const ITERATIONS = Number(process.env.LOG_CRASH_ITERATIONS) || 20
const SHARED_ITERATIONS = Number(process.env.LOG_CRASH_SHARED_ITERATIONS) || 12
const WORKERS = 2
const BATCH = 40 // as in log-loop.js and log-shared-loop-worker.js

interface Kill {
  /** The child's stdout lines up to its death (a line the kill cut is dropped). */
  lines: string[]
  signal: NodeJS.Signals | null
  code: number | null
  stderr: string
  /** Killed by the 60 s watchdog: it never reached the moment it was to be killed at. */
  hung: boolean
  /** Killed on a FLUSH line (aimed at a flush in progress). */
  aimed: boolean
}

/**
 * Runs `script` and kills it with SIGKILL: 3 times in 4 as soon as it has
 * printed `nth` or more `FLUSH` lines and the newest one is a `FLUSH` (a
 * flush takes milliseconds, so these land in it),
 * else at a random moment up to 400 ms after its start (start-up, recovery)
 * or after its `OPEN` (appends, background flushes). Resolves once the
 * child is dead.
 */
function runAndKill(script: string, args: string[], rand: () => number): Promise<Kill> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    let out = ''
    let stderr = ''
    let flushes = 0
    let aimed = false
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    const mode = ['flush', 'flush', 'flush', rand() % 2 === 0 ? 'start' : 'open'][rand() % 4]
    const nth = 1 + (rand() % 6)
    const delay = rand() % 400
    let hung = false
    const watchdog = () => {
      hung = true
      kill()
    }
    const timers = [setTimeout(mode === 'start' ? kill : watchdog, mode === 'start' ? delay : 60_000)]
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        lines.push(line)
        if (line.startsWith('FLUSH ')) flushes++
        if (mode === 'open' && line === 'OPEN') timers.push(setTimeout(kill, delay))
      }
      // Only while the newest line is a FLUSH: when this process lags behind,
      // a chunk may already hold that flush's ACK.
      if (mode === 'flush' && !aimed && flushes >= nth && out === '' && lines[lines.length - 1].startsWith('FLUSH ')) {
        aimed = true
        kill()
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer)
      resolve({ lines, signal, code, stderr, hung, aimed })
    })
  })
}

/** Reopens the log in `dir` and counts the pages of `ids` that are missing or wrong. */
async function countBad(dir: string, ids: bigint[]): Promise<number> {
  const log = await PageLog.open(dir)
  let bad = 0
  for (const id of ids) {
    const addr = log.addressOf(id)
    if (addr === undefined || !pattern.isPage(await log.read(addr), id)) bad++
  }
  await log.close()
  return bad
}

interface Tally {
  kills: number
  recoveries: number
  batches: number
  acked: bigint[]
  killsInFlush: number
  /** Kills aimed at a flush (on a FLUSH line). */
  aimed: number
}

/**
 * One kill of the torture: run, kill, check that the child died by SIGKILL
 * and on its own never failed, and that every page it acknowledged reads back.
 * `ack` maps the words after `ACK` to the page ids that line acknowledges
 * (`FLUSH x` and `ACK x` with the same words are one flush).
 */
async function oneKill(
  t: ExecutionContext,
  dir: string,
  k: number,
  run: () => Promise<Kill>,
  ack: (m: string[]) => bigint[],
  tally: Tally,
): Promise<void> {
  const { lines, signal, code, stderr, hung, aimed } = await run()
  if (aimed) tally.aimed++
  t.is(signal, 'SIGKILL', `child ${k} ended by ${signal ?? `exit ${code}`}: ${stderr}`)
  t.false(hung, `child ${k} made no progress for 60 s: ${lines.slice(-3).join(' | ')}`)
  t.is(stderr, '', `child ${k} wrote to stderr`)
  if (signal === 'SIGKILL') tally.kills++
  const mine: bigint[] = []
  const inFlight = new Set<string>()
  for (const line of lines) {
    if (line === 'OPEN') tally.recoveries++
    const f = /^FLUSH (.+)$/.exec(line)
    if (f) inFlight.add(f[1])
    const m = /^ACK (.+)$/.exec(line)
    if (m === null) continue
    inFlight.delete(m[1])
    tally.batches++
    mine.push(...ack(m[1].split(' ')))
  }
  // A flush started and never acknowledged: the kill landed in it.
  if (inFlight.size > 0) tally.killsInFlush++
  t.is(await countBad(dir, mine), 0, `after kill ${k}: acknowledged pages missing or wrong`)
  tally.acked.push(...mine)
}

async function report(t: ExecutionContext, dir: string, iterations: number, tally: Tally): Promise<void> {
  t.log(
    `${tally.kills} kills (${tally.aimed} aimed at a flush, ${tally.killsInFlush} landed in one), ${tally.recoveries} recoveries by a child, ` +
      `${tally.batches} batches acknowledged, ${tally.acked.length} pages acknowledged and read back`,
  )
  t.is(tally.kills, iterations, 'every child died by SIGKILL')
  t.true(tally.recoveries > 0, 'children got past PageLog.open (recovery)')
  t.true(tally.acked.length > 0, 'some batches were acknowledged before a kill')
  // About 3 in 4 kills aim at a flush: most must land in one (the others may too).
  t.true(tally.aimed > 0, 'no kill was aimed at a flush')
  const min = Math.ceil((tally.aimed * 3) / 4)
  t.true(tally.killsInFlush >= min, `${tally.killsInFlush} kills during a flush, fewer than ${min} (3/4 of ${tally.aimed} aimed)`)
  const bad = await countBad(dir, tally.acked)
  t.is(bad, 0, `at the end: ${bad} of ${tally.acked.length} acknowledged pages missing or wrong`)
}

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-crash-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function seeded(t: ExecutionContext, iterations: number): () => number {
  const seed = Number(process.env.LOG_CRASH_SEED) || (Date.now() >>> 0)
  t.log(`seed ${seed} (LOG_CRASH_SEED to replay), ${iterations} kills`)
  return pattern.prng(seed)
}

test.serial('a PageLog killed with SIGKILL, mostly during a flush, loses no page a resolved flush() acknowledged', async (t) => {
  const dir = tempDir(t)
  const rand = seeded(t, ITERATIONS)
  const tally: Tally = { kills: 0, recoveries: 0, batches: 0, acked: [], killsInFlush: 0, aimed: 0 }
  for (let k = 0; k < ITERATIONS; k++) {
    const salt = (k % 255) + 1
    await oneKill(
      t,
      dir,
      k,
      () => runAndKill(pattern.LOG_LOOP, [dir, String(salt)], rand),
      ([n]) => Array.from({ length: BATCH }, (_, i) => pattern.pageId(salt, Number(n), i)),
      tally,
    )
  }
  await report(t, dir, ITERATIONS, tally)
})

test.serial('a shared PageLog killed with SIGKILL while worker writers append and flush loses no page a resolved writer.flush() acknowledged', async (t) => {
  const dir = tempDir(t)
  const rand = seeded(t, SHARED_ITERATIONS)
  const tally: Tally = { kills: 0, recoveries: 0, batches: 0, acked: [], killsInFlush: 0, aimed: 0 }
  for (let k = 0; k < SHARED_ITERATIONS; k++) {
    const salt = (k % 255) + 1
    await oneKill(
      t,
      dir,
      k,
      () => runAndKill(pattern.LOG_SHARED_LOOP, [dir, String(salt), String(WORKERS)], rand),
      ([w, n]) => Array.from({ length: BATCH }, (_, i) => pattern.pageId(salt, Number(n), Number(w) * 4096 + i)),
      tally,
    )
  }
  await report(t, dir, SHARED_ITERATIONS, tally)
})
