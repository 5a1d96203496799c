#!/usr/bin/env node
// Runs every test runner of the project, quietly: one line per AVA spec file
// and per runner, every failure in full, the whole output in a log file
// (its path is printed at the end). The last line is `N passed, N failed`,
// summing all runners: the AVA specs (counted from the TAP lines), the
// fresh-install test and the README/docs code blocks (their own summary
// lines), publint and attw (one check each), `cargo test` and the loom models
// (their `test result:` lines), `cargo fmt --check` and clippy (one each),
// after the build of the addon, its test build and the TypeScript (one
// check). A new runner goes into projectRunners() with
// the parser of its output; a linter or formatter check is `parse: 'check'`
// (one test: its exit code).
//
// The last line never lies: a runner that dies (could not start, killed by a
// signal, exits non-zero without a failing test, prints no result, or stops
// before its summary) counts as failed, with the tests it announced and never
// finished (cargo's `running N tests`), at least 1. Skipped, ignored and todo
// tests are listed with their reason (AVA: the title; cargo: the #[ignore]
// reason) and counted as skipped, never as passed. Exit code 1 if anything
// failed.
//
//   -v / --verbose             also stream every runner's output to the console
//   PHOTON_WB_TEST_LOG=<file>  where the full output goes (default target/test-all.log)
//   PHOTON_WB_TEST_SUMMARY=<file>  also write the summary there: `N passed, N failed`
//                              and a second line `complete` (or `partial` while runners
//                              are still to come): .ci/run prints that line, not a
//                              line that some runner printed
//   PHOTON_WB_TMPFS_DIR=<dir>  a small tmpfs (.ci/run mounts one): cargo also runs the
//                              #[ignore]d tests, which need it; without it they are
//                              reported as skipped with their reason
//   PHOTON_WB_TEST_RUNNERS=<file.json>  replaces the runner list (the self-test in
//                              __test__/summary-line.spec.ts): [{ name, cmd, args, parse, env? }]
//                              with parse one of 'tap', 'cargo', 'summary', 'check'
'use strict'
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const verbose = process.argv.includes('-v') || process.argv.includes('--verbose')
const logPath = path.resolve(process.env.PHOTON_WB_TEST_LOG || path.join(root, 'target', 'test-all.log'))
const summaryPath = process.env.PHOTON_WB_TEST_SUMMARY ? path.resolve(process.env.PHOTON_WB_TEST_SUMMARY) : null

fs.mkdirSync(path.dirname(logPath), { recursive: true })
const log = fs.openSync(logPath, 'w')
const toLog = (s) => fs.writeSync(log, s)
/** A line for the console and the log. */
const say = (s = '') => {
  process.stdout.write(`${s}\n`)
  toLog(`${s}\n`)
}

const totals = { passed: 0, failed: 0 }
const skipped = [] // `runner: what — reason`
const problems = []

function writeSummary(state) {
  if (summaryPath) fs.writeFileSync(summaryPath, `${totals.passed} passed, ${totals.failed} failed\n${state}\n`)
}

const tail = (out, n) => out.trimEnd().split('\n').slice(-n).join('\n')
const indent = (s) => s.replace(/^/gm, '    ')

// ---------------------------------------------------------------------------
// Parsers: output → { passed, failed, skipped: [{ what, reason }], failures:
// [text], units: [{ name, passed, failed, skipped }], complete, expected }.
// `complete`: the runner's own end-of-run summary was seen; `expected`: how
// many tests it announced (when it says so), for counting a runner that died.

/**
 * AVA's TAP (`--tap`): `ok N - file › title [# SKIP]`, `not ok N - … [# TODO]`
 * (a crash, an unhandled rejection or a file exiting early is a `not ok` line
 * too), a YAML block after a failure, `1..N` at the end.
 */
function parseTap(out) {
  const r = { passed: 0, failed: 0, skipped: [], failures: [], units: [], complete: false, expected: undefined }
  const units = new Map()
  const unitOf = (title) => {
    const m = /^(\S+?\.(?:spec|test)\.[cm]?[jt]s) (?:exited|did not)/.exec(title)
    const name = m ? path.basename(m[1]).replace(/\.(spec|test)\.[cm]?[jt]s$/, '') : title.includes(' › ') ? title.split(' › ')[0] : '(ava)'
    if (!units.has(name)) units.set(name, { name, passed: 0, failed: 0, skipped: 0 })
    return units.get(name)
  }
  let current = null // the failure whose YAML block / comments follow
  for (const line of out.split('\n')) {
    const m = /^(ok|not ok) \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$/.exec(line)
    if (m) {
      current = null
      const [, status, title, directive] = m
      const unit = unitOf(title)
      if (directive) {
        r.skipped.push({ what: title, reason: directive === 'TODO' ? 'todo' : 'test.skip' })
        unit.skipped++
      } else if (status === 'ok') {
        r.passed++
        unit.passed++
      } else {
        r.failed++
        unit.failed++
        current = [`not ok: ${title}`]
        r.failures.push(current)
      }
    } else if (/^1\.\.\d+$/.test(line)) {
      r.complete = true
      current = null
    } else if (current && (line.startsWith('  ') || line.startsWith('#   '))) {
      current.push(line)
    } else if (line !== '') {
      current = null
    }
  }
  r.failures = r.failures.map((f) => f.join('\n'))
  r.units = [...units.values()].sort((a, b) => a.name.localeCompare(b.name))
  return r
}

/**
 * scripts/fresh-install.js, scripts/doc-snippets.js: `PASS name…` / `FAIL name: why` /
 * `SKIP name: reason` lines, then `N passed, N failed`.
 */
function parseSummary(out) {
  const r = { passed: 0, failed: 0, skipped: [], failures: [], units: [], complete: false, expected: undefined }
  const lines = out.split('\n')
  lines.forEach((line, i) => {
    const skip = /^SKIP (.+?): (.+)$/.exec(line)
    if (skip) r.skipped.push({ what: skip[1], reason: skip[2] })
    if (line.startsWith('FAIL ')) {
      let text = line
      for (let k = i + 1; k < lines.length && lines[k].startsWith('  '); k++) text += `\n${lines[k]}`
      r.failures.push(text)
    }
  })
  const m = out.match(/^(\d+) passed, (\d+) failed$/m)
  if (m) Object.assign(r, { passed: Number(m[1]), failed: Number(m[2]), complete: true })
  else {
    r.passed = lines.filter((l) => l.startsWith('PASS ')).length
    r.failed = r.failures.length
  }
  return r
}

/**
 * cargo test: per test binary `running N tests`, `test name ... ok|FAILED|ignored[, reason]`,
 * a `failures:` section, `test result: …`. A binary that aborts never prints its
 * result: its unfinished tests count as failed.
 */
function parseCargo(out) {
  const r = { passed: 0, failed: 0, skipped: [], failures: [], units: [], complete: true, expected: 0 }
  let open = null // the binary whose result line is still to come
  let failures = null
  const close = () => {
    if (open === null) return
    // Died before its result: what it finished counts, what it did not is failed.
    const done = open.passed + open.failed + open.skipped
    r.passed += open.passed
    r.failed += open.failed
    r.units.push(open)
    r.complete = false
    r.unfinished = (r.unfinished || 0) + Math.max(0, open.expected - done)
    open = null
  }
  let binary = ''
  for (const line of out.split('\n')) {
    let m
    if ((m = /^\s+Running (?:unittests )?(\S+)(?: \((.+)\))?/.exec(line)) || (m = /^\s+Doc-tests (\S+)/.exec(line))) {
      // `Running unittests src/lib.rs (target/…/deps/photon_wb_core-<hash>)`: name it by its crate.
      const crate = m[2] ? path.basename(m[2]).replace(/-[0-9a-f]{16}$/, '') : null
      const previous = binary
      binary = crate && crate !== path.basename(m[1], '.rs') ? `${crate} ${m[1]}` : m[1]
      // cargo prints this line on stderr and the binary its results on
      // stdout: the two interleave, so this line may come after the binary's
      // `running N tests`. It never ends a binary (its result line or the next
      // `running N tests` does); it names the open one if nothing of it has
      // been seen yet.
      if (open && open.passed + open.failed + open.skipped === 0 && open.name === (previous || '(cargo)')) open.name = binary
    } else if ((m = /^running (\d+) tests?$/.exec(line))) {
      close()
      open = { name: binary || '(cargo)', expected: Number(m[1]), passed: 0, failed: 0, skipped: 0 }
      r.expected += open.expected
    } else if (open && (m = /^test (.+?) \.\.\. (ok|FAILED|ignored)(?:, (.*))?$/.exec(line))) {
      if (m[2] === 'ok') open.passed++
      else if (m[2] === 'FAILED') open.failed++
      else {
        open.skipped++
        r.skipped.push({ what: `${binary} ${m[1]}`, reason: m[3] || '#[ignore] without a reason' })
      }
    } else if (open && /^failures:$/.test(line) && failures === null) {
      failures = [`${binary}:`]
    } else if ((m = /^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/.exec(line))) {
      if (failures) r.failures.push(failures.join('\n'))
      failures = null
      const unit = open ?? { name: binary, expected: 0, passed: 0, failed: 0, skipped: 0 }
      Object.assign(unit, { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) })
      r.passed += unit.passed
      r.failed += unit.failed
      if (unit.passed + unit.failed + unit.skipped > 0) r.units.push(unit)
      open = null
    } else if (failures) {
      failures.push(line)
    }
  }
  if (failures) r.failures.push(failures.join('\n'))
  close()
  return r
}

/**
 * A check that is one test: a linter, a formatter check, a build. Passed if
 * it exits 0, failed (the end of its output shown) if it exits non-zero; one
 * killed by a signal or that cannot start is a dead runner like any other.
 */
function parseCheck(out, { code, signal, error }) {
  const r = { passed: 0, failed: 0, skipped: [], failures: [], units: [], complete: true, expected: 1 }
  if (error || signal) return r
  if (code === 0) r.passed = 1
  else {
    r.failed = 1
    r.failures.push(`exit ${code}; the end of its output:\n${indent(tail(out, 30) || '(nothing)')}`)
  }
  return r
}

const PARSERS = { tap: parseTap, summary: parseSummary, cargo: parseCargo, check: parseCheck }
// What each parser reads: AVA's TAP and fresh-install's lines are on stdout
// (specs write to stderr); cargo names each test binary on stderr and its
// results on stdout, one binary at a time, so it reads both.
const READS_ALL = new Set(['cargo', 'check'])

// ---------------------------------------------------------------------------

/** The project's runners. */
function projectRunners() {
  // With a small tmpfs at hand (.ci/run mounts one) the #[ignore]d tests run
  // too: an #[ignore] in this workspace means "needs an environment", never
  // "slow" (slow tests sit behind an env var or in bench/).
  const ignored = process.env.PHOTON_WB_TMPFS_DIR ? ['--', '--include-ignored'] : []
  // `napi build` builds the addon with an explicit `--target <host>`, into
  // target/<host>/: the same flag here reuses those compiled dependencies
  // instead of building them all again into target/release/.
  const host = /^host: (\S+)$/m.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout ?? '')
  const target = host ? ['--target', host[1]] : []
  // The loom models of the state word (crate/core/tests/loom.rs). `--cfg loom`
  // changes every crate's build, so they get their own target dir.
  const loomFlags = [process.env.RUSTFLAGS, '--cfg loom'].filter(Boolean).join(' ')
  return [
    // The release addon and TS if stale, plus the test build of the addon
    // (cargo feature test-hooks) that the fault specs load: one check.
    { name: 'build', cmd: process.execPath, args: [path.join(root, 'scripts', 'ensure-built.js'), '--test'], parse: 'check' },
    { name: 'ava', cmd: process.execPath, args: [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--tap'], parse: 'tap' },
    { name: 'fresh install', cmd: process.execPath, args: [path.join(root, 'scripts', 'fresh-install.js')], parse: 'summary' },
    // Every code block of README.md and docs/*.md, run as printed.
    { name: 'doc snippets', cmd: process.execPath, args: [path.join(root, 'scripts', 'doc-snippets.js')], parse: 'summary' },
    // What publish tools say of the packed package: publint (warnings are
    // errors) and attw (types vs JavaScript for every resolution mode).
    { name: 'publint', cmd: process.execPath, args: [path.join(root, 'node_modules', 'publint', 'src', 'cli.js'), '--strict'], parse: 'check' },
    {
      name: 'attw',
      cmd: process.execPath,
      args: [path.join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'), '--pack', '.', '--format', 'ascii'],
      parse: 'check',
    },
    { name: 'cargo test', cmd: 'cargo', args: ['test', '--workspace', '--release', ...target, '--no-fail-fast', ...ignored], parse: 'cargo' },
    {
      name: 'loom',
      cmd: 'cargo',
      args: ['test', '-p', 'photon-write-buffer-core', '--release', '--test', 'loom', '--target-dir', 'target/loom'],
      parse: 'cargo',
      env: { RUSTFLAGS: loomFlags },
    },
    // Declared lints are enforced (clippy denies undocumented unsafe blocks).
    { name: 'cargo fmt', cmd: 'cargo', args: ['fmt', '--all', '--check'], parse: 'check' },
    { name: 'clippy', cmd: 'cargo', args: ['clippy', '--workspace', '--all-targets', ...target, '--', '-D', 'warnings'], parse: 'check' },
  ]
}


/**
 * Spawns one runner; resolves with its stdout (what is parsed: a stderr chunk
 * cannot cut a result line there), its whole output, and how it ended (never
 * rejects).
 */
function spawnRunner({ name, cmd, args, env = {} }) {
  return new Promise((resolve) => {
    const shown = Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)} `).join('')
    toLog(`\n=== ${name}: ${shown}${cmd} ${args.join(' ')}\n`)
    let child
    try {
      child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    } catch (error) {
      resolve({ stdout: '', out: '', error })
      return
    }
    let out = ''
    let stdout = ''
    const take = (stream, isStdout) =>
      stream.on('data', (d) => {
        out += d
        if (isStdout) stdout += d
        toLog(d)
        if (verbose) process.stdout.write(d)
      })
    take(child.stdout, true)
    take(child.stderr, false)
    let error = null
    child.on('error', (e) => (error = e))
    child.on('close', (code, signal) => resolve({ stdout, out, error, code, signal }))
  })
}

async function run(runner) {
  const started = Date.now()
  const { stdout, out, error, code, signal } = await spawnRunner(runner)
  const r = PARSERS[runner.parse](READS_ALL.has(runner.parse) ? out : stdout, { code, signal, error })
  const ran = r.passed + r.failed + r.skipped.length
  const dead = []
  if (error) dead.push(`could not start (${error.message})`)
  else if (signal) dead.push(`was killed by ${signal}`)
  else if (code !== 0 && r.failed === 0) dead.push(`exited with ${code} without a failing test`)
  if (!error && !signal && ran === 0) dead.push('printed no test result')
  else if (!error && !r.complete) dead.push('stopped before its end-of-run summary')
  let failed = r.failed
  if (dead.length > 0) {
    // What it announced and never finished, at least 1: the runner itself.
    const lost = Math.max(1, r.unfinished ?? 0, (r.expected ?? 0) - ran)
    failed += lost
    problems.push(`${runner.name}: ${dead.join(', ')}: counted as ${lost} failed`)
  }
  totals.passed += r.passed
  totals.failed += failed
  for (const s of r.skipped) skipped.push(`${runner.name}: ${s.what} — ${s.reason}`)

  const secs = ((Date.now() - started) / 1000).toFixed(1)
  const counts = (u) => `${u.passed} passed, ${u.failed} failed${u.skipped ? `, ${u.skipped} skipped` : ''}`
  if (runner.parse !== 'summary' || r.units.length > 1) {
    for (const u of r.units) say(`  ${runner.name} ${u.name}: ${counts(u)}`)
  }
  for (const f of r.failures) say(indent(f))
  if (dead.length > 0) {
    say(`  ${runner.name} ${dead.join(', ')}; the end of its output:`)
    say(indent(tail(out, 20) || '(nothing)'))
  }
  say(`${runner.name}: ${counts({ passed: r.passed, failed, skipped: r.skipped.length })} (${signal ?? `exit ${code ?? '-'}`}, ${secs} s)`)
  writeSummary('partial')
}

async function main() {
  const runners = process.env.PHOTON_WB_TEST_RUNNERS
    ? JSON.parse(fs.readFileSync(process.env.PHOTON_WB_TEST_RUNNERS, 'utf8'))
    : projectRunners()
  writeSummary('partial')
  say(`test-all: ${runners.map((r) => r.name).join(', ')} (full output: ${logPath})`)
  for (const runner of runners) await run(runner)
  say()
  if (skipped.length > 0) {
    say(`${skipped.length} skipped (not counted as passed):`)
    for (const s of skipped) say(`  ${s}`)
  }
  for (const p of problems) say(`problem: ${p}`)
  say(`full output: ${logPath}`)
  say(`${totals.passed} passed, ${totals.failed} failed`)
  writeSummary('complete')
  fs.closeSync(log)
  process.exitCode = totals.failed > 0 ? 1 : 0
}

main().catch((e) => {
  // test-all itself broke: say so in the one line too.
  totals.failed++
  say(`problem: test-all: ${e && e.stack}`)
  say(`${totals.passed} passed, ${totals.failed} failed`)
  writeSummary('complete')
  process.exitCode = 1
})
