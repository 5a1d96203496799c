import fs from 'node:fs'
import path from 'node:path'

import test from 'ava'

// The README leads with code and its links hold; the changelog has versions
// and the versioning promise names the format version the code writes.
// (That every code block runs is scripts/doc-snippets.js, in npm test.)

const root = process.cwd()
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8')
const readme = read('README.md')
const docs = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

/** The text outside fenced code blocks. */
const prose = (text: string) => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1\s*$/gm, '')

/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

test('the README starts with a three-line intro, then exactly the two commands', (t) => {
  const lines = readme.split('\n')
  t.is(lines[0], '# photon-write-buffer')
  t.is(lines[1], '')
  t.true(lines.slice(2, 5).every((l) => l.trim() !== '' && !l.startsWith('#')), 'three lines of intro')
  t.deepEqual(lines.slice(5, 10), ['', '```sh', 'npm install && npm run demo', 'npm test', '```'])
})

test('the README shows a code example in its first 40 lines, then its sections in order', (t) => {
  const first = readme.split('\n').findIndex((l) => /^```(ts|js|mjs)$/.test(l))
  t.true(first >= 0 && first < 40, `first code example at line ${first + 1}`)
  const sections = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1])
  const order = ['Example', 'API at a glance', 'Durability contract', 'Threads', 'Install and platforms', 'Runtimes: Electron, Bun', 'Development']
  const at = order.map((s) => sections.indexOf(s))
  t.false(at.includes(-1), `missing: ${order.filter((_, i) => at[i] < 0).join(', ')} (sections: ${sections.join(', ')})`)
  t.deepEqual([...at].sort((a, b) => a - b), at, `in this order: ${order.join(' → ')}`)
})

test('the API table of the README links into docs/', (t) => {
  const table = readme.slice(readme.indexOf('## API at a glance'), readme.indexOf('## Durability contract'))
  t.true([...table.matchAll(/\]\(docs\/[\w.-]+\.md[^)]*\)/g)].length >= 5)
})

test('no README or docs page refers to a SPEC the repository does not have', (t) => {
  for (const f of docs) t.notRegex(read(f), /SPEC ?§/, f)
})

test('every relative link of the README and docs/ names a file that exists, and a heading in it', (t) => {
  for (const f of docs) {
    for (const [, target] of prose(read(f)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue // https:, mailto:
      const [file, anchor] = target.split('#')
      const full = file === '' ? path.join(root, f) : path.join(root, path.dirname(f), file)
      t.true(fs.existsSync(full), `${f}: ${target}: no such file`)
      if (anchor && full.endsWith('.md') && fs.existsSync(full)) {
        const headings = [...prose(fs.readFileSync(full, 'utf8')).matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]))
        t.true(headings.includes(anchor), `${f}: ${target}: no heading #${anchor} in ${path.relative(root, full)}`)
      }
    }
  }
})

test('the changelog has versions: Unreleased first, then semver headings, one for package.json', (t) => {
  const headings = [...read('CHANGELOG.md').matchAll(/^## (.+)$/gm)].map((m) => m[1])
  t.is(headings[0], 'Unreleased')
  const versions = headings.slice(1).map((h) => /^(\d+\.\d+\.\d+)\b/.exec(h)?.[1])
  t.true(versions.length > 0 && versions.every(Boolean), headings.join(' | '))
  const pkg = JSON.parse(read('package.json')) as { version: string }
  t.true(versions.includes(pkg.version), `no heading for ${pkg.version}`)
})

test('docs/versioning.md names the page file format version the code writes', (t) => {
  const format = fs.readFileSync(path.join(root, 'crate', 'core', 'src', 'page_file', 'format.rs'), 'utf8')
  const written = /pub const VERSION: u32 = (\d+);/.exec(format)?.[1]
  t.truthy(written)
  const segment = fs.readFileSync(path.join(root, 'crate', 'core', 'src', 'segment', 'format.rs'), 'utf8')
  const segmentVersion = /pub const VERSION: u32 = (\d+);/.exec(segment)?.[1]
  t.truthy(segmentVersion)
  const row = /^\| Unreleased[^|]*\| version (\d+) \(`flushTo` page files\), version (\d+) \(`PageLog` segments\) \|/m.exec(read('docs/versioning.md'))
  t.is(row?.[1], written, 'the Unreleased row says which page-file version flushTo writes')
  t.is(row?.[2], segmentVersion, 'and which segment version a PageLog writes')
  t.regex(readme, /\]\(docs\/versioning\.md\)/, 'the README links the promise')
})
