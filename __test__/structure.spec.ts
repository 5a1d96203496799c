import fs from 'node:fs'
import path from 'node:path'

import test from 'ava'

// The TypeScript layer's shape (docs/ARCHITECTURE.md, "The TypeScript
// layer"): index.ts is the one public entry and only re-exports; the modules
// of src/ stay small and import each other without a cycle, and never import
// index.ts.

const root = process.cwd()
const MAX_LINES = 500

/** Every .ts module of the layer (declarations excepted), as paths relative to the root. */
function modules(): string[] {
  const out = ['index.ts']
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const p = path.posix.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
    }
  }
  walk('src')
  return out
}

// `import … from './x.ts'`, `export … from './x.ts'`, `import './x.ts'`,
// `import type …` included: a cycle of types is still a cycle of concepts.
const SPECIFIER = /^\s*(?:import|export)\b[^'"]*?(?:\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm

/** The modules of the layer that `file` imports (relative specifiers to .ts files only). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8')
  const out: string[] = []
  for (const [, spec] of text.matchAll(SPECIFIER)) {
    if (!spec.endsWith('.ts')) continue // the native loader (load-binding.js) and other plain JS
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)))
  }
  return out
}

/** A cycle of `graph`, as the list of modules along it, or `null`. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (m: string): string[] | null => {
    if (state.get(m) === 'done') return null
    if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m]
    state.set(m, 'open')
    stack.push(m)
    for (const d of graph.get(m) ?? []) {
      const c = visit(d)
      if (c !== null) return c
    }
    stack.pop()
    state.set(m, 'done')
    return null
  }
  for (const m of graph.keys()) {
    const c = visit(m)
    if (c !== null) return c
  }
  return null
}

const files = modules()
const graph = new Map(files.map((f) => [f, importsOf(f)]))

test('the cycle finder finds a cycle, and none in a tree', (t) => {
  t.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a'])
  t.is(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), null)
})

test('the import scan sees the modules index.ts re-exports', (t) => {
  const deps = graph.get('index.ts') ?? []
  t.true(deps.includes('src/write-buffer.ts'), deps.join(', '))
  t.true(deps.includes('src/page-log/owner.ts'), deps.join(', '))
  t.true((graph.get('src/page-log/owner.ts') ?? []).includes('src/page-log/writer.ts'))
})

test('no import cycle between the modules of the TypeScript layer', (t) => {
  const cycle = findCycle(graph)
  t.is(cycle, null, cycle === null ? '' : `import cycle: ${cycle.join(' -> ')}`)
})

test('every import of the layer names a module that exists', (t) => {
  for (const [file, deps] of graph) {
    for (const d of deps) t.true(fs.existsSync(path.join(root, d)), `${file} imports ${d}, which does not exist`)
  }
})

test('no module of src/ imports index.ts', (t) => {
  const offenders = [...graph].filter(([f, deps]) => f !== 'index.ts' && deps.includes('index.ts')).map(([f]) => f)
  t.deepEqual(offenders, [])
})

test(`no module of the TypeScript layer is over ${MAX_LINES} lines`, (t) => {
  const long = files
    .map((f) => [f, fs.readFileSync(path.join(root, f), 'utf8').split('\n').length - 1] as const)
    .filter(([, n]) => n > MAX_LINES)
    .map(([f, n]) => `${f}: ${n} lines`)
  t.deepEqual(long, [])
})

test('index.ts only re-exports', (t) => {
  const text = fs.readFileSync(path.join(root, 'index.ts'), 'utf8')
  // Drop comments, then every `export … from '…'` statement: nothing may be left.
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/export\s+(type\s+)?\{[^}]*\}\s*from\s*'[^']+'/g, '')
    .replace(/export\s+\*\s+(as\s+\w+\s+)?from\s*'[^']+'/g, '')
  t.is(code.trim(), '')
})

test("docs/ARCHITECTURE.md lists every module of src/, each importing only modules above it", (t) => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'ARCHITECTURE.md'), 'utf8')
  const listed = [...doc.matchAll(/^\| `([\w/.-]+\.ts)` \|/gm)].map((m) => `src/${m[1]}`)
  t.deepEqual([...listed].sort(), files.filter((f) => f !== 'index.ts').sort(), 'the table of modules and src/ differ')
  const rank = new Map(listed.map((f, i) => [f, i]))
  for (const f of listed) {
    for (const d of graph.get(f) ?? []) {
      t.true((rank.get(d) ?? Infinity) < (rank.get(f) ?? -1), `${f} imports ${d}, listed below it`)
    }
  }
})
