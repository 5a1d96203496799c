import test from 'ava'
import { spawn } from 'node:child_process'
import path from 'node:path'

import { WriteBuffer } from '../index.ts'

// A pending waitFlushed() holds its buffer only weakly: once the buffer is
// dropped unflushed on every thread (disposed or collected, no view, no
// flush in progress) nothing can flush it any more, so its waits reject with
// ERR_CLOSED, its arena is freed, and the event loop is no longer held for
// it. A buffer still attached on another thread can still be flushed there:
// its waits stay pending until it is. The GC-dependent parts run in a child
// process (fixtures/lifetime-child.js, --expose-gc) that must also exit on
// its own.

const CHILD = path.resolve('__test__', 'fixtures', 'lifetime-child.js')
const BOUND_MS = 30_000

interface ChildResult {
  /** `null` when the child was killed for not exiting within the bound. */
  code: number | null
  out: any
  stderr: string
}

function runChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').pop() ?? ''
      let out: unknown
      try {
        out = JSON.parse(line)
      } catch {
        out = line
      }
      resolve({ code: signal === 'SIGKILL' ? null : code, out, stderr })
    })
  })
}

for (const mode of ['external', 'js'] as const) {
  test(`dropped buffers with pending waits free their arenas and their waits reject ERR_CLOSED (${mode} arena mode)`, async (t) => {
    const n = mode === 'js' ? 50 : 200
    const r = await runChild(['drop-many', String(n)], mode === 'js' ? { PHOTON_WB_ARENA: 'js' } : {})
    t.is(r.code, 0, `the child exits on its own: ${r.stderr}`)
    t.like(r.out, { live: 0, settled: n, closed: n })
    if (mode === 'external') t.is(r.out.peak, n, 'every buffer had its arena before the drop')
  })
}

test('a process whose only pending work is a wait on a dropped buffer exits, and the wait rejects ERR_CLOSED', async (t) => {
  const r = await runChild(['exit'])
  t.is(r.code, 0, `the child exits on its own: ${r.stderr}`)
  t.deepEqual(r.out, { outcomes: ['ERR_CLOSED'] })
})

test('a wait on a buffer dropped here but attached in a worker stays pending, and the worker\'s onFlushed() resolves it', async (t) => {
  const r = await runChild(['shared'])
  t.is(r.code, 0, `the child exits on its own: ${r.stderr}`)
  t.deepEqual(r.out, { pendingWhileHeld: true, liveWhileHeld: 1, outcomes: ['resolved'] })
})

test('dispose() of the last holder rejects a pending wait with ERR_CLOSED at once; a flushed buffer\'s wait still resolves', async (t) => {
  const wb = new WriteBuffer(8, 1024)
  const waiting = wb.waitFlushed()
  wb.dispose()
  await t.throwsAsync(waiting, { code: 'ERR_CLOSED', message: /dropped on every thread before it was flushed/ })

  const done = new WriteBuffer(9, 1024)
  const resolved = done.waitFlushed()
  done.seal()
  done.onFlushed()
  done.dispose()
  await t.notThrowsAsync(resolved)
})

test('a wait with a signal on a dropped buffer rejects ERR_CLOSED, and aborting afterwards changes nothing', async (t) => {
  const ac = new AbortController()
  const wb = new WriteBuffer(10, 1024)
  const waiting = wb.waitFlushed({ signal: ac.signal })
  wb.dispose()
  await t.throwsAsync(waiting, { code: 'ERR_CLOSED' })
  ac.abort()
})
