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
}

/**
 * Runs `script` and kills it with SIGKILL: 3 times in 4 0–2 ms after its
 * `nth` `FLUSH` line (a flush takes milliseconds: most of these land in
 * it), else at a random moment 150–600 ms after the start (recovery,
 * start-up, appends). Resolves once the child is dead.
 */
function runAndKill(script: string, args: string[], rand: () => number): Promise<Kill> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: string[] = []
    let out = ''
    let stderr = ''
    let flushes = 0
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    const atFlush = rand() % 4 !== 0
    const nth = 1 + (rand() % 6)
    const timer = setTimeout(kill, atFlush ? 30_000 : 150 + (rand() % 450))
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        lines.push(line)
        if (atFlush && line.startsWith('FLUSH ') && ++flushes === nth) setTimeout(kill, rand() % 3)
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ lines, signal, code, stderr })
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
  const { lines, signal, code, stderr } = await run()
  t.is(signal, 'SIGKILL', `child ${k} ended by ${signal ?? `exit ${code}`}: ${stderr}`)
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
    `${tally.kills} kills (${tally.killsInFlush} during a flush), ${tally.recoveries} recoveries by a child, ` +
      `${tally.batches} batches acknowledged, ${tally.acked.length} pages acknowledged and read back`,
  )
  t.is(tally.kills, iterations, 'every child died by SIGKILL')
  t.true(tally.recoveries > 0, 'children got past PageLog.open (recovery)')
  t.true(tally.acked.length > 0, 'some batches were acknowledged before a kill')
  // 3 in 4 kills aim at a flush; at least half must have landed in one.
  const min = Math.ceil(iterations / 2)
  t.true(tally.killsInFlush >= min, `${tally.killsInFlush} kills during a flush, fewer than ${min}`)
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
  const tally: Tally = { kills: 0, recoveries: 0, batches: 0, acked: [], killsInFlush: 0 }
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
  const tally: Tally = { kills: 0, recoveries: 0, batches: 0, acked: [], killsInFlush: 0 }
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
