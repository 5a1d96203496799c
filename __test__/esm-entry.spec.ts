import { spawnSync } from 'node:child_process'

import test from 'ava'

// index.d.mts gives ESM consumers `export * from './index.js'`: every value
// the CommonJS entry exports must therefore be a named export of index.mjs,
// which lists them by hand. Checked in a plain node child (the compiled
// entries, as a consumer loads them).

test('index.mjs exports by name every value the CommonJS entry exports, and the whole API as default', (t) => {
  const script = `
    import * as esm from './index.mjs'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('./index.js')
    const missing = Object.keys(cjs).filter((k) => !(k in esm))
    console.log(JSON.stringify({ missing, same: esm.default === cjs, names: Object.keys(cjs).length }))
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { missing: string[]; same: boolean; names: number }
  t.deepEqual(out.missing, [], 'add them to index.mjs')
  t.true(out.same)
  t.true(out.names > 10)
})
