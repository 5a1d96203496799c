#!/usr/bin/env node
// The "Error codes" table of docs/api.md, generated from the one error table (the
// core's `Code`, exported by the binding as `errorTable()`): codes that
// reach the caller, `WriteBufferError` first, then Node's, then the errno
// row. `node scripts/error-table.js` prints it; `--write` puts it into
// docs/api.md between the markers. `__test__/contract.spec.ts` fails when
// that table differs from this.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const BEGIN = "<!-- error-table: generated from the core's error table by scripts/error-table.js; do not edit -->"
const END = '<!-- /error-table -->'
const README = path.join(__dirname, '..', 'docs', 'api.md')

/** The errno failures of file operations: no code of the table, Node's own. */
const ERRNO_ROW =
  '| `ENOSPC`, `EIO`, `EEXIST`, `ENOENT`, `EACCES`, … | `Error` (`code`, `path`) | `flushTo` / `PageFile.open` I/O errors, as Node\'s `fs` reports them |'

/** The markdown table for `rows` (`errorTable()`'s rows). */
function generate(rows) {
  const shown = rows.filter((r) => r.class !== 'internal')
  const ordered = [...shown.filter((r) => r.class === 'WriteBufferError'), ...shown.filter((r) => r.class !== 'WriteBufferError')]
  return [
    '| code | class | when |',
    '| --- | --- | --- |',
    ...ordered.map((r) => `| \`${r.code}\` | \`${r.class}\` | ${r.when} |`),
    ERRNO_ROW,
  ].join('\n')
}

/** The table between the markers of `text`, or `null`. */
function tableIn(text) {
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  if (a < 0 || b < a) return null
  return text.slice(a + BEGIN.length, b).trim()
}

/** `text` with the table between its markers replaced by `table`. */
function withTable(text, table) {
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error(`docs/api.md has no ${BEGIN} … ${END} section`)
  return `${text.slice(0, a + BEGIN.length)}\n${table}\n${text.slice(b)}`
}

module.exports = { BEGIN, END, README, generate, tableIn, withTable }

if (require.main === module) {
  const table = generate(require('../load-binding.js').errorTable())
  if (process.argv.includes('--write')) {
    fs.writeFileSync(README, withTable(fs.readFileSync(README, 'utf8'), table))
  } else {
    console.log(table)
  }
}
