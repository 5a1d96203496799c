import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

// The three lists of platforms must agree: `napi.targets` in package.json
// (what the workflow builds), the build matrix of the CI workflow, and the
// per-platform packages in npm/ (what users install).

const root = process.cwd()
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string
  napi: { binaryName: string; targets: string[] }
}
const workflow = fs.readFileSync(path.join(root, '.github', 'workflows', 'ci.yml'), 'utf8')

/** napi-rs's platform name, os, cpu and libc for each Rust target triple we ship. */
const PLATFORMS: Record<string, { dir: string; os: string; cpu: string; libc?: string }> = {
  'x86_64-unknown-linux-gnu': { dir: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { dir: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'aarch64-unknown-linux-gnu': { dir: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'aarch64-unknown-linux-musl': { dir: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'x86_64-apple-darwin': { dir: 'darwin-x64', os: 'darwin', cpu: 'x64' },
  'aarch64-apple-darwin': { dir: 'darwin-arm64', os: 'darwin', cpu: 'arm64' },
  'x86_64-pc-windows-msvc': { dir: 'win32-x64-msvc', os: 'win32', cpu: 'x64' },
}

test('napi.targets, the CI build matrix and npm/ list the same platforms', (t) => {
  const targets = [...pkg.napi.targets].sort()
  t.true(targets.length >= 6, 'at least the six platforms issue 7 asks for')
  const job = (name: string): string => {
    const start = workflow.indexOf(`\n  ${name}:\n`)
    if (start < 0) return ''
    const next = workflow.slice(start + 1).search(/\n  [a-z-]+:\n/)
    return next < 0 ? workflow.slice(start) : workflow.slice(start, start + 1 + next)
  }
  const targetsOf = (text: string): string[] => [...text.matchAll(/^\s*- target: (\S+)\s*$/gm)].map((m) => m[1]).sort()
  t.deepEqual(targetsOf(job('build')), targets, 'the build job builds every napi target, and nothing else')
  t.deepEqual(targetsOf(job('test') + job('test-musl')), targets, 'every built binary is tested on a host that loads it')
  const dirs = fs.readdirSync(path.join(root, 'npm')).sort()
  t.deepEqual(dirs, targets.map((x) => PLATFORMS[x]?.dir ?? `unknown target ${x}`).sort())
})

test('each npm/ package names its binary, platform and version right, and carries the license', (t) => {
  for (const target of pkg.napi.targets) {
    const p = PLATFORMS[target]
    const dir = path.join(root, 'npm', p.dir)
    const sub = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
    const binary = `${pkg.napi.binaryName}.${p.dir}.node`
    t.is(sub.name, `${pkg.napi.binaryName}-${p.dir}`, target)
    t.is(sub.version, pkg.version, `${target}: same version as the main package`)
    t.is(sub.main, binary, target)
    t.deepEqual(sub.files, [binary], target)
    t.deepEqual(sub.os, [p.os], target)
    t.deepEqual(sub.cpu, [p.cpu], target)
    t.deepEqual(sub.libc, p.libc === undefined ? undefined : [p.libc], target)
    t.true(fs.existsSync(path.join(dir, 'LICENSE')), `${target}: LICENSE`)
  }
})

test('the workflow publishes with provenance on tags, after napi prepublish fills optionalDependencies', (t) => {
  t.regex(workflow, /tags: \['v\*'\]/)
  t.regex(workflow, /napi prepublish/)
  t.regex(workflow, /--provenance/)
  t.regex(workflow, /node-version: \[20, 22\]|node: \[20, 22\]|\[ ?20, ?22 ?\]/)
})
