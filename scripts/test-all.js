#!/usr/bin/env node
// Runs every test runner of the project and ends with one line
// `N passed, N failed` summing all of them: the AVA specs (TAP counts), the
// fresh-install test (its own summary line), `cargo test` and the loom models
// (their `test result:` lines), `cargo fmt --check` and clippy (one each).
// Exit code 1
// if anything failed or a runner could not run.
'use strict'
const { spawn, spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const totals = { passed: 0, failed: 0 }
const problems = []

function run(name, cmd, args, parse, env = {}) {
  return new Promise((resolve) => {
    const shown = Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)} `).join('')
    console.log(`\n=== ${name}: ${shown}${cmd} ${args.join(' ')}`)
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let out = ''
    const take = (stream, sink) =>
      stream.on('data', (d) => {
        out += d
        sink.write(d)
      })
    take(child.stdout, process.stdout)
    take(child.stderr, process.stderr)
    child.on('error', (e) => {
      problems.push(`${name}: could not start (${e.message})`)
      resolve()
    })
    child.on('close', (code) => {
      const { passed, failed } = parse(out, code)
      totals.passed += passed
      totals.failed += failed
      if (code !== 0 && failed === 0) problems.push(`${name}: exited with ${code} without a failing test`)
      if (passed + failed === 0) problems.push(`${name}: ran no test`)
      console.log(`=== ${name}: ${passed} passed, ${failed} failed (exit ${code})`)
      resolve()
    })
  })
}

function parseTap(out) {
  const num = (re) => Number((out.match(re) || [])[1] || 0)
  return { passed: num(/^# pass (\d+)/m), failed: num(/^# fail (\d+)/m) }
}

// scripts/fresh-install.js ends with its own `N passed, N failed` line.
function parseSummary(out) {
  const m = out.match(/^(\d+) passed, (\d+) failed$/m)
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 0 }
}

function parseCargo(out) {
  let passed = 0
  let failed = 0
  for (const m of out.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed/gm)) {
    passed += Number(m[1])
    failed += Number(m[2])
  }
  return { passed, failed }
}

// A check that passes or fails as a whole (cargo fmt, clippy): one test.
const parseExit = (out, code) => (code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 })

/** The host's target triple: `cargo test` then shares napi build's target dir (no second build of the dependencies). */
function hostTriple() {
  const r = spawnSync('rustc', ['-vV'], { encoding: 'utf8' })
  const m = /^host: (\S+)$/m.exec(r.stdout || '')
  return m ? m[1] : null
}

async function main() {
  // The release addon and TS if stale (npm test's ensure-built did), plus the
  // test build of the addon (cargo feature test-hooks) that the fault specs
  // load. A failed build is a failed check.
  console.log('\n=== build: node scripts/ensure-built.js --test')
  const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'ensure-built.js'), '--test'], { cwd: root, stdio: 'inherit' })
  if (built.status !== 0) {
    totals.failed += 1
    problems.push(`build: ensure-built --test exited with ${built.status ?? built.signal}`)
  }
  await run('ava', process.execPath, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--tap'], parseTap)
  await run('fresh install', process.execPath, [path.join(root, 'scripts', 'fresh-install.js')], parseSummary)
  const triple = hostTriple()
  await run('cargo test', 'cargo', ['test', '--workspace', '--release', ...(triple ? ['--target', triple] : [])], parseCargo)
  // The loom models of the state word (crate/core/tests/loom.rs). `--cfg loom`
  // changes every crate's build, so they get their own target dir.
  const rustflags = [process.env.RUSTFLAGS, '--cfg loom'].filter(Boolean).join(' ')
  await run(
    'loom',
    'cargo',
    ['test', '-p', 'photon-write-buffer-core', '--release', '--test', 'loom', '--target-dir', 'target/loom'],
    parseCargo,
    { RUSTFLAGS: rustflags },
  )
  // Declared lints are enforced (clippy denies undocumented unsafe blocks).
  await run('cargo fmt', 'cargo', ['fmt', '--all', '--check'], parseExit)
  await run('clippy', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'], parseExit)
  for (const p of problems) console.log(`problem: ${p}`)
  console.log(`${totals.passed} passed, ${totals.failed} failed`)
  process.exit(totals.failed > 0 || problems.length > 0 ? 1 : 0)
}

main()
