import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'

import { PageLog } from '../index.ts'
import pattern from './fixtures/pattern.js'

// A child (fixtures/log-loop.js, on the compiled build) appends batches of
// pages through a PageLog and prints `ACK n` only after `flush()` resolved
// for batch n. It is killed with SIGKILL at a random moment, then the next
// child reopens the same directory (recovery) and goes on. After every kill
// the parent reopens the log and reads back every page acknowledged by that
// child; at the end, every page acknowledged by any child.
const ITERATIONS = Number(process.env.LOG_CRASH_ITERATIONS) || 20
const BATCH = 40 // as in log-loop.js

test.serial('a PageLog killed with SIGKILL at random moments loses no page a resolved flush() acknowledged', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-crash-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const seed = Number(process.env.LOG_CRASH_SEED) || (Date.now() >>> 0)
  const rand = pattern.prng(seed)
  t.log(`seed ${seed} (LOG_CRASH_SEED to replay), ${ITERATIONS} kills`)
  const acked: bigint[] = []
  let opened = 0

  async function check(ids: bigint[], when: string): Promise<void> {
    const log = await PageLog.open(dir)
    let bad = 0
    for (const id of ids) {
      const addr = log.addressOf(id)
      if (addr === undefined || !pattern.isPage(await log.read(addr), id)) bad++
    }
    await log.close()
    t.is(bad, 0, `${when}: ${bad} of ${ids.length} acknowledged pages missing or wrong`)
  }

  let batches = 0
  for (let k = 0; k < ITERATIONS; k++) {
    const salt = (k % 255) + 1
    const child = spawn(process.execPath, [pattern.LOG_LOOP, dir, String(salt)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const exited = once(child, 'exit')
    // Past start-up (node, addon, recovery of a growing directory) most of the time.
    await sleep(150 + (rand() % 450))
    child.kill('SIGKILL')
    await exited
    t.notRegex(err, /log-loop:/, `child ${k} failed on its own: ${err}`)
    const mine: bigint[] = []
    for (const line of out.split('\n')) {
      if (line === 'OPEN') opened++
      const m = /^ACK (\d+)$/.exec(line)
      if (m === null) continue
      batches++
      for (let i = 0; i < BATCH; i++) mine.push(pattern.pageId(salt, Number(m[1]), i))
    }
    await check(mine, `after kill ${k}`)
    acked.push(...mine)
  }
  await check(acked, 'at the end')
  t.log(`${ITERATIONS} kills, ${opened} recoveries by a child, ${batches} batches acknowledged, ${acked.length} pages acknowledged and read back`)
  t.true(opened > 0, 'children got past PageLog.open (recovery)')
  t.true(acked.length > 0, 'some batches were acknowledged before a kill')
})
