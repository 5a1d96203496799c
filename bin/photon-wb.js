#!/usr/bin/env node
'use strict'
// photon-wb: look into page files.
//
//   photon-wb inspect <file|dir> [--json]   records of a page file, or a summary of a directory
//   photon-wb bench [--quick]               the benchmark suite (in a source checkout)
const { parseArgs } = require('node:util')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const USAGE = `usage:
  photon-wb inspect <file|dir> [--json]   records of a page file (address, kind, page id, size),
                                          or one line per page file of a directory (PageLog)
  photon-wb bench [--quick]               run the benchmark suite (source checkout only);
                                          progress on stderr, results in bench/results/;
                                          --quick: a short run (BENCH_QUICK=1)
  photon-wb --help`

function fail(message, code = 2) {
  process.stderr.write(`photon-wb: ${message}\n`)
  process.exit(code)
}

const hex = (v) => `0x${v.toString(16).padStart(16, '0')}`

function table(rows, headers) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => String(c).padStart(widths[i])).join('  ')
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** One page file: { path, ok, groupId, records, bytes, list } or { path, ok: false, code, message }. */
async function inspectFile(PageFile, file, withRecords) {
  const bytes = fs.statSync(file).size
  try {
    const pf = await PageFile.open(file)
    const list = []
    let pages = 0
    let deallocs = 0
    for (const r of pf) {
      let row
      switch (r.kind) {
        case 'page':
          pages++
          row = { addr: hex(r.addr), kind: 'page', pageId: r.pageId.toString(), size: r.page.length, checksum: 'ok' }
          break
        case 'dealloc':
          deallocs++
          row = { addr: hex(r.addr), kind: 'dealloc', frees: r.addrs.map(hex), size: r.addrs.length * 8, checksum: 'ok' }
          break
        default:
          // A kind this tool does not know: never count it as another one.
          throw new Error(`${file}: a record of unknown kind ${JSON.stringify(r.kind)} at ${hex(r.addr)}: is photon-wb older than the file?`)
      }
      if (withRecords) list.push(row)
    }
    const groupId = pf.groupId
    pf.close()
    return { path: file, ok: true, groupId, records: pages + deallocs, pages, deallocs, bytes, list }
  } catch (e) {
    if (e && e.code === 'ERR_CORRUPT') return { path: file, ok: false, code: e.code, message: e.message, bytes }
    throw e
  }
}

async function inspect(target, json) {
  const { PageFile } = require('..')
  const { groupOfPageFile } = require('../src/file-names.js')
  let stat
  try {
    stat = fs.statSync(target)
  } catch (e) {
    fail(`cannot read '${target}': ${e.code || e.message}`, 1)
  }
  if (stat.isDirectory()) {
    // The page files a PageLog would recover, in group order.
    const names = fs
      .readdirSync(target)
      .filter((n) => groupOfPageFile(n) !== null)
      .sort((a, b) => groupOfPageFile(a) - groupOfPageFile(b))
    const files = []
    for (const n of names) files.push(await inspectFile(PageFile, path.join(target, n), false))
    const good = files.filter((f) => f.ok)
    const summary = {
      files: files.length,
      corrupt: files.length - good.length,
      records: good.reduce((s, f) => s + f.records, 0),
      bytes: files.reduce((s, f) => s + f.bytes, 0),
    }
    if (json) {
      process.stdout.write(`${JSON.stringify({ dir: target, files: files.map(({ list, ...f }) => f), summary }, null, 2)}\n`)
    } else {
      const rows = files.map((f) =>
        f.ok ? [path.basename(f.path), f.groupId, f.pages, f.deallocs, f.bytes, 'ok'] : [path.basename(f.path), '?', '?', '?', f.bytes, f.code],
      )
      console.log(table(rows, ['file', 'group', 'pages', 'deallocs', 'bytes', 'checksums']))
      console.log(`\n${summary.files} page files, ${summary.records} records, ${summary.bytes} bytes, ${summary.corrupt} corrupt`)
      for (const f of files) if (!f.ok) console.log(`  ${path.basename(f.path)}: ${f.message}`)
    }
    return summary.corrupt === 0 ? 0 : 1
  }
  const f = await inspectFile(PageFile, target, true)
  if (json) {
    process.stdout.write(`${JSON.stringify(f, null, 2)}\n`)
  } else if (!f.ok) {
    console.log(`${f.path}: ${f.code}: ${f.message}`)
  } else {
    const rows = f.list.map((r, i) => [i, r.addr, r.kind, r.kind === 'page' ? r.pageId : `frees ${r.frees.length}`, r.size, r.checksum])
    console.log(table(rows, ['#', 'address', 'kind', 'page id', 'size', 'checksum']))
    console.log(`\ngroup ${f.groupId}: ${f.records} records (${f.pages} pages, ${f.deallocs} dealloc), ${f.bytes} bytes, all checksums ok`)
  }
  return f.ok ? 0 : 1
}

function bench(quick) {
  const script = path.join(__dirname, '..', 'bench', 'index.js')
  if (!fs.existsSync(script)) fail('the benchmark suite ships with the source checkout only (bench/ is not in the package)', 1)
  const env = quick ? { ...process.env, BENCH_QUICK: '1' } : process.env
  const r = spawnSync(process.execPath, ['--expose-gc', script], { stdio: 'inherit', env })
  return r.status ?? 1
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  } catch (e) {
    fail(`${e.message}\n${USAGE}`)
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help || command === undefined) {
    console.log(USAGE)
    return command === undefined && !values.help ? 2 : 0
  }
  if (command === 'inspect') {
    if (rest.length !== 1) fail(`inspect takes one file or directory\n${USAGE}`)
    return inspect(rest[0], values.json === true)
  }
  if (command === 'bench') {
    if (rest.length !== 0) fail(`bench takes no argument\n${USAGE}`)
    return bench(values.quick === true)
  }
  fail(`unknown command '${command}'\n${USAGE}`)
}

main().then(
  (code) => process.exit(code),
  (e) => fail(e && e.stack ? e.stack : String(e), 1),
)
