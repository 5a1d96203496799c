#!/usr/bin/env node
// Fresh-install test: what a user gets from `npm install photon-write-buffer`
// with a prebuilt platform package and no Rust toolchain.
//
// Needs the build (`node scripts/ensure-built.js`). Packs the main package and
// this host's platform package (from a temp copy of `npm/<triple>/` plus the
// built `.node`; nothing is written into `npm/`), installs the two tarballs
// into an empty temp project with cargo/rustc stripped from PATH, then
// requires and imports the package there (npm may print no warning about it),
// round-trips a page through a page file, and type-checks a consumer .ts/.mts
// against the shipped types with this repo's TypeScript and with the oldest
// one the README promises (MIN_TYPESCRIPT, installed once into
// target/typescript-<version>/: the first run needs the registry). Also runs
// `npm publish --dry-run` of both packages.
// Ends with `N passed, N failed`; exit 1 on any failure.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
// The oldest TypeScript the shipped types support (README, "Install and platforms").
const MIN_TYPESCRIPT = '4.9.5'
const typeRoots = path.join(root, 'node_modules', '@types')
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const started = Date.now()
const counts = { passed: 0, failed: 0 }

function check(name, fn) {
  const t0 = Date.now()
  try {
    const note = fn()
    counts.passed++
    console.log(`PASS ${name}${note ? `: ${note}` : ''} (${Date.now() - t0} ms)`)
    return true
  } catch (e) {
    counts.failed++
    console.log(`FAIL ${name}: ${e.message}`)
    return false
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (r.error) throw r.error
  if (r.status !== 0 && !opts.allowFail) {
    const out = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n  ')
    throw new Error(`\`${path.basename(cmd)} ${args.join(' ')}\` exited ${r.status}\n  ${out}`)
  }
  return r
}

// npm's warnings in a command's stderr (`npm warn …`, `npm WARN …`), except
// the one a dry-run publish prints when nobody is logged in to the registry.
function npmWarnings(stderr) {
  return stderr
    .split('\n')
    .filter((l) => /^npm warn/i.test(l))
    .filter((l) => !/requires you to be logged in/.test(l))
}

// `npm publish --dry-run --json`'s entry for `name` (npm 11 keys the output
// by package name; older npm printed the entry itself).
function publishedJson(stdout, name) {
  const json = JSON.parse(stdout.slice(stdout.indexOf('{')))
  const entry = json[name] ?? json
  if (!Array.isArray(entry.files)) throw new Error(`no file list in npm's output: ${stdout.slice(0, 300)}`)
  return entry
}

const { packAll, hostTriple } = require('./pack.js')

// PATH without any directory that holds cargo or rustc; node stays reachable.
function pathWithoutRust() {
  const exe = process.platform === 'win32' ? ['cargo.exe', 'rustc.exe'] : ['cargo', 'rustc']
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  const kept = dirs.filter((d) => !exe.some((x) => fs.existsSync(path.join(d, x))))
  const nodeDir = path.dirname(process.execPath)
  if (!kept.includes(nodeDir)) {
    throw new Error(`node's own directory ${nodeDir} also holds cargo or rustc; cannot strip them from PATH`)
  }
  return kept.join(path.delimiter)
}

const triple = hostTriple()
const nodeFile = `${pkg.napi.binaryName}.${triple}.node`
const platformName = `${pkg.name}-${triple}`
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-fresh-'))
const app = path.join(tmp, 'app')
let mainTgz
let platformTgz
let env

// What users need: the entry points named by package.json and every module
// they reach through relative require/import/export specifiers (in .js, .mjs
// and .d.ts); npm adds README/LICENSE itself. Addon candidates (`.node`, WASI)
// that the generated loader tries inside try/catch are not followed.
const ALLOWED = /^(README(\.md)?|LICEN[CS]E(\.md|\.txt)?)$/i
const SPECIFIER = /(?:require\(|import\(|from\s+)\s*['"](\.\.?\/[^'"]+)['"]/g
function reachable() {
  const entries = new Set(['package.json', pkg.main, pkg.types])
  const walk = (v) => (typeof v === 'string' ? entries.add(v) : v && Object.values(v).forEach(walk))
  walk(pkg.exports)
  walk(pkg.bin)
  const seen = new Map() // file -> the file that first named it
  const queue = [...entries].map((f) => [path.posix.normalize(f), 'package.json'])
  while (queue.length) {
    const [file, from] = queue.shift()
    if (seen.has(file)) continue
    seen.set(file, from)
    if (!/\.(c?js|mjs|d\.ts)$/.test(file) || !fs.existsSync(path.join(root, file))) continue
    const dts = file.endsWith('.d.ts')
    for (const [, spec] of fs.readFileSync(path.join(root, file), 'utf8').matchAll(SPECIFIER)) {
      if (/\.node$|\.wasi\.cjs$|\.wasm$/.test(spec)) continue
      let target = path.posix.join(path.posix.dirname(file), spec)
      // TypeScript resolves './x.js' and './x.ts' in a .d.ts to x.d.ts.
      if (dts) target = target.replace(/\.[jt]s$/, '.d.ts').replace(/\.m[jt]s$/, '.d.mts').replace(/\.c[jt]s$/, '.d.cts')
      queue.push([target, file])
    }
  }
  return seen
}
try {
  const ok = check('build exists', () => {
    for (const f of [nodeFile, 'binding.js', 'index.js', 'index.d.ts']) {
      if (!fs.existsSync(path.join(root, f))) throw new Error(`${f} missing: run \`node scripts/ensure-built.js\` first`)
    }
    if (!fs.existsSync(path.join(root, 'npm', triple, 'package.json'))) throw new Error(`no npm/${triple}/package.json`)
    return `${nodeFile}, npm/${triple}/`
  })
  if (!ok) throw new Error('stop')

  check('npm pack --dry-run ships only what users need', () => {
    const r = run(npmCmd, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
    const files = JSON.parse(r.stdout)[0].files.map((f) => f.path).sort()
    const needed = reachable()
    const missing = [...needed].filter(([f]) => !files.includes(f)).map(([f, from]) => `${f} (named by ${from})`)
    // Each shipped module may carry its types beside it (binding.d.ts, ...).
    const typesOf = (f) => needed.has(f.replace(/\.d\.ts$/, '.js'))
    const extra = files.filter((f) => !needed.has(f) && !ALLOWED.test(f) && !typesOf(f))
    if (missing.length || extra.length) {
      throw new Error(`missing [${missing.join(', ')}], not needed [${extra.join(', ')}]`)
    }
    return files.join(' ')
  })

  check('npm pack: main package and platform package', () => {
    // The pre-release recipe (`npm run pack:local`, README "Install and platforms").
    const packed = packAll(path.join(tmp, 'tgz'))
    const packedTgz = packed.main
    platformTgz = packed.platform
    // Give it the optionalDependencies that `napi prepublish` adds at publish
    // time (one per napi.targets entry, none of them on the registry yet), so
    // the install below sees the published shape. npm treats a platform
    // package it cannot fetch (offline here; a 404 online) as a skipped
    // optional dependency, and the local platform tarball satisfies ours.
    const pub = path.join(tmp, 'main')
    fs.mkdirSync(pub)
    run('tar', ['-xzf', packedTgz, '-C', pub])
    const pubJson = path.join(pub, 'package', 'package.json')
    const manifest = JSON.parse(fs.readFileSync(pubJson, 'utf8'))
    manifest.optionalDependencies = {}
    for (const t of fs.readdirSync(path.join(root, 'npm'))) {
      manifest.optionalDependencies[require(path.join(root, 'npm', t, 'package.json')).name] = pkg.version
    }
    fs.writeFileSync(pubJson, JSON.stringify(manifest, null, 2))
    const r = run(npmCmd, ['pack', '--json', '--ignore-scripts', '--pack-destination', pub], { cwd: path.join(pub, 'package') })
    mainTgz = path.join(pub, JSON.parse(r.stdout)[0].filename)
    if (!packed.platformPacked.files.some((f) => f.path === nodeFile)) throw new Error(`${nodeFile} not in ${path.basename(platformTgz)}`)
    if (fs.readdirSync(path.join(root, 'npm', triple)).some((f) => f.endsWith('.node'))) {
      throw new Error(`a .node file is inside npm/${triple}/`)
    }
    return `${path.basename(mainTgz)}, ${path.basename(platformTgz)} (${(packed.platformPacked.size / 1024).toFixed(0)} KiB)`
  })

  check('PATH without cargo/rustc: `which cargo` fails', () => {
    env = { ...process.env, PATH: pathWithoutRust(), npm_config_update_notifier: 'false' }
    for (const k of Object.keys(env)) if (/^(CARGO|RUSTUP|RUSTC)/.test(k)) delete env[k]
    for (const tool of ['cargo', 'rustc']) {
      const r = run('sh', ['-c', `command -v ${tool}`], { env, allowFail: true })
      if (r.status === 0) throw new Error(`${tool} still found at ${r.stdout.trim()}`)
    }
    return 'cargo: not found, rustc: not found'
  })

  // --offline: npm may not fetch anything, so the install proves that the two
  // tarballs are all it needs. Install scripts stay enabled: a script that
  // wanted cargo would fail here.
  check('npm install of the two tarballs (offline, no Rust on PATH, no npm warning)', () => {
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    const r = run(npmCmd, ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', mainTgz, platformTgz], { cwd: app, env })
    const warned = npmWarnings(r.stderr)
    if (warned.length) throw new Error(`npm warned:\n  ${warned.join('\n  ')}`)
    const installed = path.join(app, 'node_modules', pkg.name)
    const stray = fs.readdirSync(installed).filter((f) => f.endsWith('.node'))
    if (stray.length) throw new Error(`main package carries ${stray.join(', ')}`)
    const nested = path.join(installed, 'node_modules')
    if (fs.existsSync(nested)) throw new Error(`npm installed a nested copy: ${fs.readdirSync(nested).join(', ')}`)
    return fs.readdirSync(path.join(app, 'node_modules')).filter((f) => !f.startsWith('.')).join(', ')
  })

  const roundTrip = (load) => `
    const fs = require('node:fs'), os = require('node:os'), path = require('node:path'), assert = require('node:assert')
    ;(async () => {
      const { WriteBuffer, PageFile, WriteBufferError } = ${load}
      const wb = new WriteBuffer(3, 1 << 16)
      const { addr, page } = wb.allocPage(42n, 5, true)
      page.write('hello')
      assert.strictEqual(wb.releaseWriter(), 'none')
      assert.strictEqual(wb.seal(), 'flush')
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-app-'))
      try {
        const res = await wb.flushTo(path.join(dir, 'p.pwb'))
        assert.strictEqual(res.records, 1)
        const pf = await PageFile.open(res.path)
        const recs = [...pf]
        assert.strictEqual(recs.length, 1)
        assert.strictEqual(recs[0].kind, 'page')
        assert.strictEqual(recs[0].pageId, 42n)
        assert.strictEqual(recs[0].addr, addr)
        assert.strictEqual(pf.page(addr).toString(), 'hello')
        assert.strictEqual(pf.groupId, 3)
        pf.close()
        assert.throws(() => wb.page(1n), (e) => e instanceof WriteBufferError && e.code === 'ERR_INVALID_ADDR')
      } finally { fs.rmSync(dir, { recursive: true, force: true }) }
      const native = Object.keys(require.cache).find((f) => f.endsWith('.node'))
      const self = require.resolve('${pkg.name}')
      assert.ok(self.startsWith(${JSON.stringify(app)}), 'resolved outside the app: ' + self)
      assert.ok(native && native.includes(path.join('node_modules', '${platformName}')), 'addon not from the platform package: ' + native)
      console.log('ok ' + path.relative(${JSON.stringify(app)}, native))
    })().catch((e) => { console.error(e); process.exit(1) })
  `

  check("require('photon-write-buffer'): alloc, seal, flushTo, PageFile.open, bytes", () => {
    fs.writeFileSync(path.join(app, 'cjs.cjs'), roundTrip(`require('${pkg.name}')`))
    return run(process.execPath, ['cjs.cjs'], { cwd: app, env }).stdout.trim()
  })

  check("import 'photon-write-buffer' (ESM): same round trip", () => {
    const body = roundTrip(`await import('${pkg.name}')`).replace(
      "const fs = require('node:fs')",
      "import { createRequire } from 'node:module'\n    const require = createRequire(import.meta.url)\n    const fs = require('node:fs')",
    )
    fs.writeFileSync(path.join(app, 'esm.mjs'), body)
    return run(process.execPath, ['esm.mjs'], { cwd: app, env }).stdout.trim()
  })

  check('the installed photon-wb CLI: --version, inspect of a page file, --page; no bench (not shipped)', () => {
    const bin = path.join(app, 'node_modules', '.bin', 'photon-wb')
    const version = run(bin, ['--version'], { cwd: app, env }).stdout.trim()
    if (version !== `photon-wb ${pkg.version}`) throw new Error(`--version said '${version}'`)
    const file = path.join(app, 'cli-3.page')
    fs.writeFileSync(
      path.join(app, 'cli.cjs'),
      `const { WriteBuffer } = require('${pkg.name}')
      const wb = new WriteBuffer(3, 4096); wb.allocPage(7n, 5, false).page.write('hello'); wb.seal()
      wb.flushTo(${JSON.stringify(file)}).then(() => console.log('ok'))`,
    )
    run(process.execPath, ['cli.cjs'], { cwd: app, env })
    const listed = run(bin, ['inspect', file], { cwd: app, env }).stdout
    if (!/12884901904\s+page\s+7\s+5\s+ok 0x/.test(listed)) throw new Error(`inspect printed:\n${listed}`)
    const page = run(bin, ['inspect', file, '--page', '12884901904'], { cwd: app, env }).stdout
    if (!page.includes('|hello|')) throw new Error(`--page printed:\n${page}`)
    const bench = run(bin, ['bench'], { cwd: app, env, allowFail: true })
    if (bench.status !== 2 || !bench.stderr.includes('npm run bench')) throw new Error(`bench: exit ${bench.status}, ${bench.stderr}`)
    return `${version}; inspect and --page ok; bench refused (exit 2)`
  })

  // A consumer of the shipped types, compiled as CommonJS (.ts) and as ESM
  // (.mts); the .mts also takes the default export, as index.mjs gives it.
  const consumerSrc = `
import { WriteBuffer, WriteBufferError, PageFile } from '${pkg.name}'
import type { PageAlloc, BufferRecord, WriteBufferErrorCode, FlushResult } from '${pkg.name}'

const wb = new WriteBuffer(1, 1 << 16)
const a: PageAlloc = wb.allocPage(1n, 8, true)
const addr: bigint = a.addr
a.page.writeUInt32LE(7, 0)

function describe(r: BufferRecord): string {
  if (r.kind === 'page') return \`\${r.pageId}: \${r.page.length} bytes\`
  const freed: bigint[] = r.addrs
  // @ts-expect-error: a dealloc record has no page
  r.page
  return \`dealloc \${freed.length}\`
}

function codeOf(e: unknown): WriteBufferErrorCode | undefined {
  if (e instanceof WriteBufferError) {
    if (e.code === 'ERR_AGAIN') return e.code
    return e.code
  }
  return undefined
}
// @ts-expect-error: not a WriteBufferError code
const bad: WriteBufferErrorCode = 'ERR_NOPE'

export async function main(path: string): Promise<number> {
  try { wb.allocPage(2n, 1 << 20, false) } catch (e) { codeOf(e) }
  wb.releaseWriter()
  wb.seal()
  const res: FlushResult = await wb.flushTo(path, { overwrite: true })
  const pf = await PageFile.open(res.path)
  for (const r of pf) describe(r)
  pf.page(addr)
  return res.records + (bad ? 0 : 1)
}
`
  const consumerDefault = `
import api, { WriteBuffer } from '${pkg.name}'
const wb: InstanceType<typeof api.WriteBuffer> = new WriteBuffer(1, 1 << 16)
export const headerSize: number = api.HEADER_SIZE + wb.capacity
`
  /** tsc --noEmit --strict over the consumer files; throws with tsc's output. */
  const typeCheck = (tscPath, lib) => {
    fs.writeFileSync(path.join(app, 'consumer.ts'), consumerSrc)
    fs.writeFileSync(path.join(app, 'consumer.mts'), consumerSrc)
    fs.writeFileSync(path.join(app, 'consumer-default.mts'), consumerDefault)
    const args = [tscPath, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'node16', '--moduleResolution', 'node16',
      '--lib', lib, '--types', 'node', '--typeRoots', typeRoots, 'consumer.ts', 'consumer.mts', 'consumer-default.mts']
    const r = run(process.execPath, args, { cwd: app, env, allowFail: true })
    if (r.status !== 0) throw new Error(`tsc exited ${r.status}\n  ${(r.stdout + r.stderr).trim().split('\n').join('\n  ')}`)
    return `no errors (TypeScript ${run(process.execPath, [tscPath, '--version']).stdout.trim().replace(/^Version /, '')})`
  }

  check('tsc --noEmit on a consumer .ts (CJS) and .mts (ESM) using the shipped types', () =>
    typeCheck(tsc, 'ES2022,ESNext.Disposable'))

  check(`the same consumer type-checks with TypeScript ${MIN_TYPESCRIPT}, the oldest supported`, () => {
    // Kept in target/ (not a devDependency: two packages named `tsc` in one
    // node_modules/.bin would fight); fetched from the registry once.
    const dir = path.join(root, 'target', `typescript-${MIN_TYPESCRIPT}`)
    const oldTsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc')
    if (!fs.existsSync(oldTsc)) {
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'typescript-min', private: true }))
      run(npmCmd, ['install', '--no-audit', '--no-fund', '--no-package-lock', `typescript@${MIN_TYPESCRIPT}`], { cwd: dir })
    }
    return typeCheck(oldTsc, 'ES2022')
  })

  // What `npm publish` would do (it runs `prepack`, which only checks the
  // build here), minus the upload; npm may warn about nothing but the missing
  // login. The platform package is published from a copy of npm/<triple>/
  // with the built addon, as the release workflow does.
  check('npm publish --dry-run: main package', () => {
    const r = run(npmCmd, ['publish', '--dry-run', '--json'], { cwd: root, env: { ...process.env, npm_config_update_notifier: 'false' } })
    const warned = npmWarnings(r.stderr)
    if (warned.length) throw new Error(`npm warned:\n  ${warned.join('\n  ')}`)
    const out = publishedJson(r.stdout, pkg.name)
    return `${out.files.length} files, ${(out.size / 1024).toFixed(0)} KiB`
  })

  check(`npm publish --dry-run: ${platformName}`, () => {
    const dir = path.join(tmp, 'platform')
    fs.cpSync(path.join(root, 'npm', triple), dir, { recursive: true })
    fs.copyFileSync(path.join(root, nodeFile), path.join(dir, nodeFile))
    const r = run(npmCmd, ['publish', '--dry-run', '--json'], { cwd: dir, env: { ...process.env, npm_config_update_notifier: 'false' } })
    const warned = npmWarnings(r.stderr)
    if (warned.length) throw new Error(`npm warned:\n  ${warned.join('\n  ')}`)
    const out = publishedJson(r.stdout, platformName)
    if (!out.files.some((f) => f.path === nodeFile)) throw new Error(`${nodeFile} not in the dry-run's files`)
    return `${out.files.length} files, ${nodeFile} included`
  })

  check('without the platform package: ERR_PHOTON_WB_NO_BINDING naming the fix', () => {
    const bare = path.join(tmp, 'bare')
    fs.mkdirSync(bare)
    fs.writeFileSync(path.join(bare, 'package.json'), JSON.stringify({ name: 'bare', version: '1.0.0', private: true }))
    run(npmCmd, ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', mainTgz], { cwd: bare, env })
    const probe = `try { require('${pkg.name}') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
    const out = run(process.execPath, ['-e', probe], { cwd: bare, env }).stdout.trim()
    if (!out.startsWith('{')) throw new Error(`loaded without a platform package: ${out}`)
    const e = JSON.parse(out)
    if (e.code !== 'ERR_PHOTON_WB_NO_BINDING') throw new Error(`code ${e.code}: ${e.message}`)
    for (const part of [`${process.platform}/${process.arch}`, `npm install ${platformName}@${pkg.version}`, 'npm run build']) {
      if (!e.message.includes(part)) throw new Error(`message lacks "${part}": ${e.message}`)
    }
    return e.message.split('\n')[0]
  })
} catch (e) {
  if (e.message !== 'stop') {
    counts.failed++
    console.log(`FAIL unexpected: ${e.stack}`)
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true })
}

console.log(`fresh install: ${((Date.now() - started) / 1000).toFixed(1)} s`)
console.log(`${counts.passed} passed, ${counts.failed} failed`)
process.exit(counts.failed > 0 ? 1 : 0)
