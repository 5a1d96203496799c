// The fault switch (PHOTON_WB_FAULT) lives in the test build of the addon.
import './use-test-addon.ts'

// The PageLog chaos test: seeded random appends (bytes, writer callbacks,
// throwing and re-entrant ones), flushes, reads, close + reopen, worker
// writers attaching, appending, flushing and being terminated, I/O faults
// and slow disks, checked against a model (fixtures/log-chaos.js says what).
// Each run is a child process with --unhandled-rejections=strict.
//
// Short by default (CI): a few seeds, a few thousand operations.
// Long: PHOTON_WB_CHAOS_OPS=100000 (and PHOTON_WB_CHAOS_SEED=<n> to pick the
// seed); the counts are logged. Workers are terminated in the middle of
// operations too (PHOTON_WB_CHAOS_TERMINATE=0: only idle ones).
import test from 'ava'
import { spawn } from 'node:child_process'
import path from 'node:path'

const CHAOS = path.resolve('__test__', 'fixtures', 'log-chaos.js')

interface Outcome {
  readonly ok: boolean
  readonly seed: number
  readonly error?: string
  readonly counts: Record<string, unknown>
}

/** Runs the chaos child; resolves with its outcome line, exit code and stderr. */
function chaos(seed: number, ops: number, timeoutMs: number): Promise<{ outcome: Outcome | null; code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', CHAOS, String(seed), String(ops)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').pop() ?? ''
      let outcome: Outcome | null = null
      try {
        outcome = JSON.parse(line) as Outcome
      } catch {
        outcome = null
      }
      resolve({ outcome, code, signal, stderr: stderr.slice(-4000) })
    })
  })
}

const longOps = Number(process.env.PHOTON_WB_CHAOS_OPS ?? 0)
const seeds = process.env.PHOTON_WB_CHAOS_SEED !== undefined ? [Number(process.env.PHOTON_WB_CHAOS_SEED)] : [1, 2, 3]

for (const seed of seeds) {
  const ops = longOps > 0 ? longOps : 3000
  test(`chaos: seed ${seed}, ${ops} operations: no crash, no unhandled rejection, no hang, every durable page reads back`, async (t) => {
    t.timeout(longOps > 0 ? 4 * 3600_000 : 120_000)
    const r = await chaos(seed, ops, longOps > 0 ? 4 * 3600_000 : 110_000)
    t.is(r.code, 0, `exit ${r.code} ${r.signal ?? ''}: ${r.outcome?.error ?? ''}\n${r.stderr}`)
    t.not(r.outcome, null, r.stderr)
    t.true(r.outcome?.ok, r.outcome?.error)
    const c = r.outcome?.counts as { appendsAcked: number; pagesVerified: number; reopens: number; flushOk: number; flushErrors: number } | undefined
    t.true((c?.appendsAcked ?? 0) > 0, 'pages were acknowledged')
    t.true((c?.flushErrors ?? 0) > 0, 'injected faults made flushes fail (is the fault switch live in this build?)')
    t.true((c?.pagesVerified ?? 0) >= (c?.appendsAcked ?? 0), 'every acknowledged page was verified after the last reopen')
    t.log(JSON.stringify(r.outcome?.counts))
  })
}
