#!/usr/bin/env node
// Packs what a pre-release user installs: the main package and this host's
// platform package (a temp copy of npm/<triple>/ plus the built addon;
// nothing is written into npm/), after building if needed.
//
//   npm run pack:local [-- <dir>]    (default target/pack/)
//   cd my-app && npm install <dir>/photon-write-buffer-<v>.tgz <dir>/photon-write-buffer-<triple>-<v>.tgz
//
// It prints the two paths and that install command. scripts/fresh-install.js
// packs with the same function (then installs the tarballs in a temp app).
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** This host's napi platform triple, spelled like the `npm/` dirs. */
function hostTriple() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report.getReport().header.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function npmPack(cwd, dest) {
  const r = spawnSync(npmCmd, ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`\`npm pack\` in ${cwd} exited ${r.status}\n  ${(r.stderr || '').trim()}`)
  return JSON.parse(r.stdout)[0]
}

/**
 * Packs the main package and the host's platform package into `dest` (the
 * build must exist). Returns `{ main, platform, triple, nodeFile }`: the
 * tarballs' paths, and npm's entry for the platform one in `platformPacked`.
 */
function packAll(dest) {
  const triple = hostTriple()
  const nodeFile = `${pkg.napi.binaryName}.${triple}.node`
  if (!fs.existsSync(path.join(root, nodeFile))) throw new Error(`${nodeFile} missing: run \`node scripts/ensure-built.js\``)
  if (!fs.existsSync(path.join(root, 'npm', triple, 'package.json'))) throw new Error(`no npm/${triple}/package.json`)
  fs.mkdirSync(dest, { recursive: true })
  const main = path.join(dest, npmPack(root, dest).filename)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-pack-'))
  try {
    const dir = path.join(tmp, triple)
    fs.cpSync(path.join(root, 'npm', triple), dir, { recursive: true })
    fs.copyFileSync(path.join(root, nodeFile), path.join(dir, nodeFile))
    const platformPacked = npmPack(dir, dest)
    return { main, platform: path.join(dest, platformPacked.filename), platformPacked, triple, nodeFile }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

module.exports = { packAll, hostTriple }

if (require.main === module) {
  const dest = path.resolve(process.argv[2] || path.join(root, 'target', 'pack'))
  const built = spawnSync(process.execPath, [path.join(__dirname, 'ensure-built.js')], { stdio: 'inherit' })
  if (built.status !== 0) process.exit(built.status ?? 1)
  const { main, platform } = packAll(dest)
  console.log(main)
  console.log(platform)
  console.log(`\nIn your app: npm install ${main} ${platform}`)
}
