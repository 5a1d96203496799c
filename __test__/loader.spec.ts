import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

// AVA runs specs with the project root as the working directory.
const root = process.cwd()
const host = `${process.platform}/${process.arch}`

// Runs node with `args`; the child prints the load error as one JSON line.
function loadFails(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 })
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'))
  if (!line) throw new Error(`no error reported (exit ${r.status}): ${r.stdout}${r.stderr}`)
  return JSON.parse(line) as { code: string; message: string; cause: string | null }
}

const report =
  "(e) => { console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause ? e.cause.message : null })); process.exit(0) }"

test('a NAPI_RS_NATIVE_LIBRARY_PATH that does not exist gives one error naming the host, what was tried and the fix', (t) => {
  const missing = join(tmpdir(), 'photon-write-buffer-no-such-addon.node')
  const e = loadFails(
    root,
    // The built entry (index.js), not index.ts: the variable is read by every
    // napi-rs loader in the process, @oxc-node/core's (the TS hook) included.
    ['-e', `try { require('./index.js'); console.log('loaded') } catch (e) { (${report})(e) }`],
    { NAPI_RS_NATIVE_LIBRARY_PATH: missing },
  )
  t.is(e.code, 'ERR_PHOTON_WB_NO_BINDING')
  t.true(e.message.includes(`for ${host}`), e.message)
  t.true(e.message.includes(`Tried: NAPI_RS_NATIVE_LIBRARY_PATH=${missing}`), e.message)
  t.true(e.message.includes('npm run build'), e.message)
  t.regex(e.message, /Rust toolchain \(cargo/)
  t.regex(e.cause ?? '', /Cannot find native binding/)
})

test('a package copy with no addon and no platform package gives the same error, naming the platform package', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pwb-loader-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The shipped CommonJS entry and its loaders, without any .node beside them.
  for (const f of ['index.js', 'load-binding.js', 'binding.js', 'package.json']) copyFileSync(join(root, f), join(dir, f))
  cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true })
  const e = loadFails(dir, ['-e', `try { require('./index.js'); console.log('loaded') } catch (e) { (${report})(e) }`])
  t.is(e.code, 'ERR_PHOTON_WB_NO_BINDING')
  t.true(e.message.includes(`for ${host}`), e.message)
  if (process.platform === 'linux') t.regex(e.message, /\((glibc [\d.]+|musl)\)/)
  t.regex(e.message, /Tried: \.\/photon-write-buffer\.[\w-]+\.node \(a build from source\), then the package photon-write-buffer-[\w-]+/)
  t.regex(e.message, /npm install photon-write-buffer-[\w-]+@\d/)
  t.true(e.message.includes('npm run build'), e.message)
  t.regex(e.cause ?? '', /Cannot find native binding/)
})
