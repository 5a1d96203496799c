#!/usr/bin/env node
// Runs every JavaScript/TypeScript code block of README.md and docs/*.md as
// printed, against the built package: a user who copies a block gets what
// the block shows. Part of `npm test` (scripts/test-all.js).
//
// - A fenced block tagged js, javascript, mjs, cjs, ts, typescript or mts is
//   a program. Other tags (sh, text, none) are not run.
// - A block that cannot run says why in an HTML comment on the line before
//   its fence: `<!-- not run: declarations, not a program -->`. It is
//   reported as `SKIP <file>:<line>: <reason>` and never counted as passed.
// - A block whose first line is a file name comment (`// writer.mjs`) is
//   written under that name beside every other block of its document, so a
//   block can start it as a worker (`new Worker('./writer.mjs')`) or import
//   it. Such a module, when another block of the document names it, is run
//   through that block only.
// - Each block runs in its own empty directory (under one temp dir whose
//   node_modules/photon-write-buffer links to this repository; its
//   package.json says "type": "module"): `.js` blocks that use `require` and
//   no `import` run as CommonJS, other `.js` blocks as ESM, TypeScript ones
//   as ESM once TypeScript's transpileModule has stripped their types. A
//   block passes when it exits 0 within DOC_SNIPPET_TIMEOUT_MS (default
//   60000) milliseconds.
// - The TypeScript blocks that run are also type-checked, together, with
//   `tsc --strict` against the package's types (one more PASS/FAIL line).
//
// Prints `PASS`/`FAIL`/`SKIP` lines and `N passed, N failed`; exit 1 on any
// failure. Needs the build (`node scripts/ensure-built.js`).
//   node scripts/doc-snippets.js [file.md …]   only these documents
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))
const timeout = Number(process.env.DOC_SNIPPET_TIMEOUT_MS || 60_000)
const ts = require(path.join(root, 'node_modules', 'typescript'))

const LANGS = {
  js: 'js',
  javascript: 'js',
  mjs: 'mjs',
  cjs: 'cjs',
  ts: 'ts',
  typescript: 'ts',
  mts: 'mts',
}
const NAMED = /^\/\/ ([\w.-]+\.(?:[cm]?[jt]s))(?:\s.*)?$/
const NOT_RUN = /^<!--\s*not run:\s*([\s\S]*?)\s*-->$/

/** The code blocks of one Markdown file: { line, lang, code, name, skip }. */
function blocksOf(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const out = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i])
    if (!open) continue
    const [, indent, fence, tag] = open
    let j = i + 1
    while (j < lines.length && !lines[j].startsWith(`${indent}${fence}`)) j++
    const code = lines
      .slice(i + 1, j)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join('\n')
    const lang = LANGS[tag.toLowerCase()]
    if (lang) {
      let k = i - 1
      while (k >= 0 && lines[k].trim() === '') k--
      const note = k >= 0 ? NOT_RUN.exec(lines[k].trim()) : null
      const first = code.split('\n')[0]
      const named = NAMED.exec(first)
      out.push({ line: i + 1, lang, code: `${code}\n`, name: named ? named[1] : null, skip: note ? note[1] : null })
    }
    i = j
  }
  return out
}

/** The file name a block runs under. */
function fileNameOf(block, doc) {
  if (block.name) return block.name
  const stem = `${path.basename(doc, '.md')}-${block.line}`
  if (block.lang === 'ts') return `${stem}.mts`
  if (block.lang !== 'js') return `${stem}.${block.lang}`
  const esm = /^\s*(import|export)\s/m.test(block.code) || /\bawait\b/.test(block.code.replace(/async[\s\S]*$/, ''))
  const cjs = /\brequire\(/.test(block.code)
  return cjs && !esm ? `${stem}.cjs` : `${stem}.mjs`
}

/** Writes a block into `dir`; a TypeScript one as the JavaScript it compiles to. Returns the file to run. */
function write(dir, name, code) {
  const m = /^(.*)\.([cm]?)ts$/.exec(name)
  if (!m) {
    fs.writeFileSync(path.join(dir, name), code)
    return name
  }
  fs.writeFileSync(path.join(dir, name), code)
  typed.push(path.join(dir, name))
  const out = `${m[1]}.${m[2] === 'c' ? 'cjs' : 'mjs'}`
  const js = ts.transpileModule(code, {
    fileName: name,
    compilerOptions: { module: m[2] === 'c' ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText
  fs.writeFileSync(path.join(dir, out), js)
  return out
}

function docs() {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  if (args.length) return args.map((a) => path.resolve(a))
  const dir = path.join(root, 'docs')
  return [path.join(root, 'README.md'), ...fs.readdirSync(dir).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(dir, f))]
}

const counts = { passed: 0, failed: 0, skipped: 0 }
const typed = [] // the TypeScript blocks written, for one tsc run
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-snippets-'))
const started = Date.now()
try {
  fs.mkdirSync(path.join(tmp, 'node_modules'))
  fs.symlinkSync(root, path.join(tmp, 'node_modules', pkg.name), 'junction')
  fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'snippets', private: true, type: 'module' }))

  for (const doc of docs()) {
    const rel = path.relative(root, doc)
    const blocks = blocksOf(doc)
    const modules = blocks.filter((b) => b.name && !b.skip)
    // A named block that another block of the document refers to by name.
    const usedBy = (b) => blocks.find((o) => o !== b && !o.skip && o.code.includes(`./${b.name}`))
    for (const block of blocks) {
      const where = `${rel}:${block.line}`
      if (block.skip) {
        counts.skipped++
        console.log(`SKIP ${where}: ${block.skip}`)
        continue
      }
      if (block.name && usedBy(block)) continue // runs through its user
      const dir = path.join(tmp, `${path.basename(doc, '.md')}-${block.line}`)
      fs.mkdirSync(dir)
      for (const m of modules) write(dir, m.name, m.code)
      const file = fileNameOf(block, doc)
      const args = [write(dir, file, block.code)]
      const t0 = Date.now()
      const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout, killSignal: 'SIGKILL', maxBuffer: 64 << 20 })
      const ms = Date.now() - t0
      const via = modules.filter((m) => usedBy(m) === block).map((m) => m.name)
      const label = `${where} (${file}${via.length ? ` + ${via.join(', ')}` : ''})`
      if (r.status === 0) {
        counts.passed++
        console.log(`PASS ${label} (${ms} ms)`)
      } else {
        counts.failed++
        const why = r.error?.code === 'ETIMEDOUT' || r.signal ? `did not finish within ${timeout} ms (${r.signal})` : `exited ${r.status}`
        const out = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n  ')
        console.log(`FAIL ${label}: ${why}\n  ${out}`)
      }
    }
  }
  if (typed.length > 0) {
    // Against the package as linked: its exports lead tsc to the sources
    // (index.ts), hence allowImportingTsExtensions; the shipped .d.ts files
    // are type-checked by scripts/fresh-install.js.
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const args = [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'node16', '--moduleResolution', 'node16',
      '--lib', 'ES2022,ESNext.Disposable', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'),
      '--skipLibCheck', '--allowImportingTsExtensions', ...typed]
    const t0 = Date.now()
    const r = spawnSync(process.execPath, args, { cwd: tmp, encoding: 'utf8', maxBuffer: 64 << 20 })
    const label = `tsc --strict over the ${typed.length} TypeScript blocks`
    if (r.status === 0) {
      counts.passed++
      console.log(`PASS ${label} (${Date.now() - t0} ms)`)
    } else {
      counts.failed++
      console.log(`FAIL ${label}: exited ${r.status}\n  ${`${r.stdout}${r.stderr}`.trim().split('\n').join('\n  ')}`)
    }
  }
} catch (e) {
  counts.failed++
  console.log(`FAIL unexpected: ${e.stack}`)
} finally {
  fs.rmSync(tmp, { recursive: true, force: true })
}
console.log(`doc snippets: ${((Date.now() - started) / 1000).toFixed(1)} s, ${counts.skipped} not run`)
console.log(`${counts.passed} passed, ${counts.failed} failed`)
process.exit(counts.failed > 0 ? 1 : 0)
