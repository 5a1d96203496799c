#!/usr/bin/env node
// After `tsc -p tsconfig.build.json`: rewrites the relative `.ts` specifiers
// that tsc keeps in the declarations it emits (`from './types.ts'`) to the
// `.js` files they stand for (`from './types.js'`), as it already does in the
// JavaScript (`rewriteRelativeImportExtensions`). TypeScript before 5.0
// refuses a `.ts` specifier in a declaration file, and a consumer's
// TypeScript must not need `allowImportingTsExtensions` to read ours.
// Part of `npm run build:ts`; `scripts/fresh-install.js` type-checks a
// consumer against the result with the oldest TypeScript the README names.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const SPECIFIER = /((?:\bfrom|\bimport)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.(m?)ts(['"])/g

function declarations() {
  const out = ['index.d.ts']
  const walk = (dir) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const p = path.posix.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.d.ts')) out.push(p)
    }
  }
  walk('src')
  return out
}

let changed = 0
for (const file of declarations()) {
  const full = path.join(root, file)
  const text = fs.readFileSync(full, 'utf8')
  const fixed = text.replace(SPECIFIER, (_, head, stem, m, quote) => `${head}${stem}.${m}js${quote}`)
  if (fixed !== text) {
    fs.writeFileSync(full, fixed)
    changed++
  }
}
if (process.argv.includes('-v')) console.log(`dts-specifiers: ${changed} declaration files rewritten`)
