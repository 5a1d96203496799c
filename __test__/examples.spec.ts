import { spawnSync } from 'node:child_process'

import test from 'ava'

// AVA runs specs with the project root as the working directory.
const root = process.cwd()

function run(script: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [script], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 })
}

test('the worker-thread example writes from two workers and flushes every page', (t) => {
  const r = run('examples/workers.mjs')
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /workers wrote 20000 pages; seal\(\) says 'flush'/)
  t.regex(r.stdout, /flushed 20000 records \(\d+ bytes\); the file holds 20000/)
})

test('the demo verifies every page from memory and from the page file', (t) => {
  const r = run('examples/demo.js', { DEMO_WORKERS: '2' })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /corrupt pages\s+0/)
  t.regex(r.stdout, /workers woken by onFlushed\s+2 of 2/)
  t.regex(r.stdout, /demo: every page read back intact, from memory and from the page file\./)
})
