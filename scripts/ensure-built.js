#!/usr/bin/env node
// Builds the addon (release) and compiles the TypeScript (index.ts and src/)
// when the outputs are missing or older than their sources. Run by `demo`, `bench`, `test`,
// `smoke:bun` and `prepack` (so `npm pack`/`npm publish` pack a fresh build), so a fresh clone
// needs only `npm install && npm run demo`. Not an install script: a consumer's `npm install`
// of the published package runs nothing (its scripts/ is not shipped). With `--test` (what
// scripts/test-all.js runs) it also builds the test build of the addon
// (`npm run build:test`, cargo feature test-hooks) that the fault specs load.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const rel = (p) => path.join(root, p)

function newest(dir, exts) {
  let t = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, newest(p, exts))
    else if (exts.some((x) => e.name.endsWith(x))) t = Math.max(t, fs.statSync(p).mtimeMs)
  }
  return t
}

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs
  } catch {
    return 0
  }
}

function run(script) {
  const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', script], {
    cwd: root,
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    console.error(`photon-write-buffer: \`npm run ${script}\` failed (exit ${r.status}).`)
    if (script === 'build:native' || script === 'build:test') {
      console.error('Building from source needs a Rust toolchain (https://rustup.rs): cargo must be on PATH.')
    }
    process.exit(r.status ?? 1)
  }
}

const nodes = fs.readdirSync(root).filter((f) => f.endsWith('.node'))
const native = Math.min(...nodes.map((f) => mtime(rel(f))), mtime(rel('binding.js')))
const sources = Math.max(newest(rel('crate'), ['.rs', '.toml']), mtime(rel('Cargo.toml')))
if (nodes.length === 0 || native < sources) {
  console.error('photon-write-buffer: building the native addon (cargo, release)...')
  run('build:native')
}
const { TEST_ADDON } = require('./test-addon.js')
if (process.argv.includes('--test') && mtime(TEST_ADDON) < sources) {
  console.error('photon-write-buffer: building the test build of the addon (cargo, release, feature test-hooks)...')
  run('build:test')
}
// The TypeScript sources: every .ts file at the root and under src/, tests
// and declaration files excepted (binding.d.ts, generated, counts apart).
function tsSources() {
  const isSource = (f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !/\.(spec|test)\.ts$/.test(f)
  const found = fs.readdirSync(root).filter(isSource)
  const walk = (dir) => {
    for (const e of fs.readdirSync(rel(dir), { withFileTypes: true })) {
      const p = path.posix.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (isSource(e.name)) found.push(p)
    }
  }
  if (fs.existsSync(rel('src'))) walk('src')
  return found
}

// Each source's output must be newer than the source and than binding.d.ts
// (tsc writes every output of a build, so the oldest one decides).
const tsFiles = tsSources()
const outputs = tsFiles.map((f) => mtime(rel(f.replace(/\.ts$/, '.js'))))
const inputs = Math.max(mtime(rel('binding.d.ts')), ...tsFiles.map((f) => mtime(rel(f))))
if (tsFiles.length === 0 || Math.min(...outputs) < inputs) {
  run('build:ts')
}
