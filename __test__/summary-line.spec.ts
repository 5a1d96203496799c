import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import pattern from './fixtures/pattern.js'

// scripts/test-all.js's last line is what CI reports: it must count a runner
// that dies as failed. Here it runs fake runners (PHOTON_WB_TEST_RUNNERS),
// each a `node -e` script, so this takes well under a second per case.

const TEST_ALL = path.join(path.dirname(pattern.FLUSH_LOOP), '..', '..', 'scripts', 'test-all.js')
const node = process.execPath

interface Fake {
  name: string
  parse: 'tap' | 'cargo' | 'summary' | 'check'
  script?: string
  cmd?: string
}

const TAP_OK = `console.log('TAP version 13\\nok 1 - a › one\\nok 2 - b › two\\n\\n1..2\\n# tests 2\\n# pass 2\\n# fail 0')`
const CARGO_OK = `console.log('     Running unittests src/lib.rs (x)\\n\\nrunning 2 tests\\ntest a ... ok\\ntest b ... ok\\n\\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s')`
const FRESH_OK = `console.log('PASS one\\nPASS two\\nPASS three\\n3 passed, 0 failed')`

function runAll(t: { teardown: (fn: () => void) => void }, fakes: Fake[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-test-all-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const runners = fakes.map((f) => ({ name: f.name, parse: f.parse, cmd: f.cmd ?? node, args: f.script === undefined ? [] : ['-e', f.script] }))
  fs.writeFileSync(path.join(dir, 'runners.json'), JSON.stringify(runners))
  const summary = path.join(dir, 'summary')
  const r = spawnSync(node, [TEST_ALL], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PHOTON_WB_TEST_RUNNERS: path.join(dir, 'runners.json'),
      PHOTON_WB_TEST_LOG: path.join(dir, 'log'),
      PHOTON_WB_TEST_SUMMARY: summary,
    },
  })
  const lines = r.stdout.trimEnd().split('\n')
  return {
    status: r.status,
    stdout: r.stdout,
    last: lines[lines.length - 1],
    summary: fs.readFileSync(summary, 'utf8'),
    log: fs.readFileSync(path.join(dir, 'log'), 'utf8'),
  }
}

test('test-all sums passing runners of every kind and exits 0', (t) => {
  const r = runAll(t, [
    { name: 'tap', parse: 'tap', script: TAP_OK },
    { name: 'summary', parse: 'summary', script: FRESH_OK },
    { name: 'cargo', parse: 'cargo', script: CARGO_OK },
  ])
  t.is(r.last, '7 passed, 0 failed', r.stdout)
  t.is(r.summary, '7 passed, 0 failed\ncomplete\n')
  t.is(r.status, 0)
  t.regex(r.stdout, /^ {2}tap a: 1 passed, 0 failed$/m, 'one line per spec file')
  t.notRegex(r.stdout, /^problem:/m)
})

test('test-all counts a runner that crashes, is killed, prints nothing or cannot start as failed', (t) => {
  const r = runAll(t, [
    { name: 'passing', parse: 'tap', script: TAP_OK },
    // Two passing tests, then a crash before the plan line: exit 1, no `not ok`.
    { name: 'crashing', parse: 'tap', script: `console.log('TAP version 13\\nok 1 - a › x\\nok 2 - a › y'); throw new Error('boom')` },
    { name: 'silent', parse: 'tap', script: '' },
    { name: 'killed', parse: 'summary', script: `console.log('PASS one'); process.kill(process.pid, 'SIGKILL')` },
    { name: 'missing', parse: 'tap', cmd: path.join(os.tmpdir(), 'pwb-no-such-runner') },
  ])
  // 2 (passing) + 2 (crashing) + 1 (killed) passed; crashing, silent, killed, missing: 1 failed each.
  t.is(r.last, '5 passed, 4 failed', r.stdout)
  t.is(r.summary, '5 passed, 4 failed\ncomplete\n')
  t.is(r.status, 1)
  for (const name of ['crashing', 'silent', 'killed', 'missing']) t.regex(r.stdout, new RegExp(`^problem: ${name}: .*counted as 1 failed$`, 'm'), name)
  t.regex(r.stdout, /^problem: killed: was killed by SIGKILL/m)
  t.regex(r.stdout, /^problem: missing: could not start/m)
  t.regex(r.stdout, /Error: boom/, "the end of a dead runner's output is shown")
})

test('test-all counts the unfinished tests of a cargo test binary that aborted', (t) => {
  const r = runAll(t, [
    {
      name: 'cargo',
      parse: 'cargo',
      script: `console.log('     Running unittests src/lib.rs (x)\\n\\nrunning 5 tests\\ntest a ... ok\\ntest b ... ok'); process.abort()`,
    },
  ])
  // 2 finished and passed; the 3 that never reported count as failed.
  t.is(r.last, '2 passed, 3 failed', r.stdout)
  t.is(r.status, 1)
  t.regex(r.stdout, /^problem: cargo: was killed by SIGABRT.*counted as 3 failed$/m)
})

test("test-all lists a summary runner's SKIP lines with their reason and never counts them as passed", (t) => {
  const r = runAll(t, [
    {
      name: 'snippets',
      parse: 'summary',
      script: `console.log('PASS README.md:10\\nSKIP README.md:40: declarations, not a program\\n1 passed, 0 failed')`,
    },
  ])
  t.is(r.last, '1 passed, 0 failed', r.stdout)
  t.regex(r.stdout, /^1 skipped \(not counted as passed\):$/m)
  t.regex(r.stdout, /^ {2}snippets: README\.md:40 — declarations, not a program$/m)
  t.is(r.status, 0)
})

test('test-all reports skipped, ignored and todo tests with their reason and never counts them as passed', (t) => {
  const r = runAll(t, [
    {
      name: 'tap',
      parse: 'tap',
      script: `console.log('TAP version 13\\nok 1 - a › runs\\nok 2 - a › needs a mount (no permission) # SKIP\\nnot ok 3 - a › later # TODO\\n\\n1..3\\n# pass 1\\n# skip 1\\n# fail 1')`,
    },
    {
      name: 'cargo',
      parse: 'cargo',
      script: `console.log('     Running unittests src/lib.rs (x)\\n\\nrunning 2 tests\\ntest a ... ok\\ntest tmpfs ... ignored, needs PHOTON_WB_TMPFS_DIR\\n\\ntest result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s')`,
    },
  ])
  t.is(r.last, '2 passed, 0 failed', r.stdout)
  t.is(r.status, 0)
  t.regex(r.stdout, /^3 skipped \(not counted as passed\):$/m)
  t.regex(r.stdout, /^ {2}tap: a › needs a mount \(no permission\) — test\.skip$/m)
  t.regex(r.stdout, /^ {2}tap: a › later — todo$/m)
  t.regex(r.stdout, /^ {2}cargo: .*tmpfs — needs PHOTON_WB_TMPFS_DIR$/m)
})

test('test-all prints failures in full, keeps the whole output in its log, and its summary file says partial until the end', (t) => {
  const r = runAll(t, [
    {
      name: 'tap',
      parse: 'tap',
      // It also shows (in the log) what the summary file holds while it runs.
      script: `console.log(require('fs').readFileSync(process.env.PHOTON_WB_TEST_SUMMARY, 'utf8').replace(/\\n/g, ' / ')); console.log('TAP version 13\\nnoise from a spec\\nok 1 - a › fine\\nnot ok 2 - a › broken\\n  ---\\n    message: expected 1, got 2\\n  ...\\n\\n1..2\\n# pass 1\\n# fail 1'); process.exitCode = 1`,
    },
  ])
  t.is(r.last, '1 passed, 1 failed', r.stdout)
  t.regex(r.stdout, /not ok: a › broken\n.*---\n.*message: expected 1, got 2/)
  t.notRegex(r.stdout, /noise from a spec/)
  t.regex(r.log, /noise from a spec/)
  t.regex(r.stdout, /^full output: .*log$/m)
  t.regex(r.log, /^0 passed, 0 failed \/ partial \/ $/m)
  t.is(r.summary, '1 passed, 1 failed\ncomplete\n')
  t.notRegex(r.stdout, /^problem:/m, 'a runner with a failing test that exits 1 is not dead')
})

test('test-all counts a check (exit code only) as one test: passed on exit 0, failed with its output otherwise', (t) => {
  const r = runAll(t, [
    { name: 'clean', parse: 'check', script: `console.error('nothing to say')` },
    { name: 'dirty', parse: 'check', script: `console.log('src/lib.rs: needs formatting'); process.exit(1)` },
    { name: 'killed', parse: 'check', script: `process.kill(process.pid, 'SIGKILL')` },
  ])
  t.is(r.last, '1 passed, 2 failed', r.stdout)
  t.is(r.status, 1)
  t.regex(r.stdout, /src\/lib\.rs: needs formatting/)
  t.regex(r.stdout, /^problem: killed: was killed by SIGKILL: counted as 1 failed$/m)
  t.notRegex(r.stdout, /^problem: (clean|dirty)/m)
})

// .ci/run prints the line test-all wrote to its summary file: not the last
// `N passed, N failed` of the output, which is a runner's own (fresh-install
// prints one) when test-all dies after it. Run with a fake `npm` and `cargo`
// on PATH: `npm ci` does nothing, `npm test` runs test-all on fake runners.
const CI_RUN = path.join(path.dirname(TEST_ALL), '..', '.ci', 'run')

function ciRun(t: { teardown: (fn: () => void) => void }, fakes: Fake[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-ci-run-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const bin = path.join(dir, 'bin')
  fs.mkdirSync(bin)
  fs.writeFileSync(
    path.join(bin, 'npm'),
    `#!/bin/sh\ncase "$1" in\n  test) exec "${node}" "${TEST_ALL}" ;;\n  --version) echo 0 ;;\nesac\nexit 0\n`,
    { mode: 0o755 },
  )
  fs.writeFileSync(path.join(bin, 'cargo'), '#!/bin/sh\necho cargo 0\n', { mode: 0o755 })
  const runners = fakes.map((f) => ({ name: f.name, parse: f.parse, cmd: f.cmd ?? node, args: f.script === undefined ? [] : ['-e', f.script] }))
  fs.writeFileSync(path.join(dir, 'runners.json'), JSON.stringify(runners))
  const r = spawnSync('bash', [CI_RUN], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PHOTON_WB_TEST_RUNNERS: path.join(dir, 'runners.json') },
  })
  const lines = r.stdout.trimEnd().split('\n')
  return { status: r.status, stdout: r.stdout, last: lines[lines.length - 1] }
}

test(".ci/run ends with test-all's summary, also when test-all dies after a runner printed its own", (t) => {
  if (process.platform === 'win32') return t.pass() // .ci/run is a bash script for Linux CI
  const ok = ciRun(t, [
    { name: 'fresh', parse: 'summary', script: FRESH_OK },
    { name: 'tap', parse: 'tap', script: TAP_OK },
  ])
  t.is(ok.last, '5 passed, 0 failed', ok.stdout)
  t.is(ok.status, 0)
  // test-all is killed after fresh-install's `3 passed, 0 failed` line.
  const died = ciRun(t, [
    { name: 'fresh', parse: 'summary', script: FRESH_OK },
    { name: 'killer', parse: 'tap', script: `process.kill(process.ppid, 'SIGKILL')` },
  ])
  t.regex(died.stdout, /^3 passed, 0 failed$/m, "the runner's own line is in the output (the full log, shown on failure)")
  t.is(died.last, '3 passed, 1 failed', died.stdout)
  t.not(died.status, 0)
  // A dead runner inside a run that test-all finished.
  const dead = ciRun(t, [
    { name: 'fresh', parse: 'summary', script: FRESH_OK },
    { name: 'silent', parse: 'tap', script: '' },
  ])
  t.is(dead.last, '3 passed, 1 failed', dead.stdout)
  t.is(dead.status, 1)
})
