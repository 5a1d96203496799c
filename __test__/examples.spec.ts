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

test('the one-buffer example verifies every page from memory and from the page file', (t) => {
  const r = run('examples/one-buffer.js', { DEMO_WORKERS: '2' })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /corrupt pages\s+0/)
  t.regex(r.stdout, /workers woken by onFlushed\s+2 of 2/)
  t.regex(r.stdout, /demo: every page read back intact, from memory and from the page file\./)
})

test('the demo: worker threads append through one PageLog; every page reads back after reopen', (t) => {
  const r = run('examples/demo.js', { DEMO_WORKERS: '3', DEMO_PAGES: '6000' })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /pages appended\s+18,000 by 3 worker threads \(18,000 distinct addresses\)/)
  t.regex(r.stdout, /verify every page\s+18,000 pages in [\d.,]+ ms, 0 corrupt/)
  t.regex(r.stdout, /buffers flushed\s+\d+ \(group ids 1\.\.\d+\), peak [1-6] unflushed/)
  t.regex(r.stdout, /append rate\s+[\d,]+ pages\/s, [\d.,]+ MiB\/s/)
  t.regex(r.stderr, /appending: 100% \(18,000\/18,000 pages\)/, 'progress is shown')
  t.regex(r.stdout, /demo: every page read back intact after close and reopen/)
})

test('the demo: async clients commit durably (append + flush() each); it shows commits/s, latency and the files made', (t) => {
  const r = run('examples/demo.js', { DEMO_WORKERS: '1', DEMO_PAGES: '2000', DEMO_CLIENTS: '4', DEMO_COMMIT_MS: '300' })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /durable commits\s+[\d,]+ commits\/s by 4 clients \(append 100 B \+ await flush\(\) each\), p50 [\d.,]+ ms, p99 [\d.,]+ ms/)
  t.regex(r.stdout, /files made by commits\s+\d+ for [\d,]+ commits \([\d.,]+ per 1000 commits\)/)
  t.regex(r.stderr, /committing: 4 clients, append \+ flush\(\) each, for 0\.3 s/)
})
