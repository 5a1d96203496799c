import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

import test from 'ava'

import { WriteBuffer, WriteBufferError } from '../index.ts'
import { CAPACITY_RANGE } from '../src/constants.ts'
import { WRITE_BUFFER_ERROR_CODES, outcomeError, statusError } from '../src/errors.ts'
import * as native from '../load-binding.js'

// The JS↔Rust contract has one definition on the Rust side (the core's error
// table `Code`, the binding's `layout` module); these tests check that the
// TypeScript side and the error table of docs/api.md agree with it.

const root = process.cwd()
const errorTableScript = createRequire(path.join(root, 'package.json'))('./scripts/error-table.js') as {
  generate(rows: native.ErrorInfo[]): string
  tableIn(text: string): string | null
}

/** Every .ts module of src/, with its text. */
function sources(): [string, string][] {
  const out: [string, string][] = []
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const p = path.posix.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push([p, fs.readFileSync(path.join(root, p), 'utf8')])
    }
  }
  walk('src')
  return out
}

// --- The error table -----------------------------------------------------------

test('the WriteBufferErrorCode union lists exactly the WriteBufferError codes of the binding error table', (t) => {
  const table = native.errorTable()
  t.deepEqual(
    [...WRITE_BUFFER_ERROR_CODES] as string[],
    table.filter((r) => r.class === 'WriteBufferError').map((r) => r.code),
  )
  t.is(new Set(table.map((r) => r.code)).size, table.length, 'each code once')
  for (const r of table) {
    t.regex(r.code, /^ERR_[A-Z_]+$/)
    t.true(['WriteBufferError', 'TypeError', 'RangeError', 'internal'].includes(r.class), r.class)
    t.true(r.message.length > 0 && r.when.length > 0, r.code)
  }
})

test('every status word of the table becomes its code, with the table message', (t) => {
  const table = native.errorTable()
  table.forEach((r, i) => {
    const err = statusError(-1 - i, 'op')
    if (r.class === 'WriteBufferError') {
      t.true(err instanceof WriteBufferError, r.code)
      t.is(String((err as WriteBufferError).code), r.code)
      t.is(err.message, `op: ${r.message}`)
    } else if (r.code === 'ERR_OUT_OF_RANGE') {
      t.true(err instanceof RangeError)
      t.is((err as Error & { code: string }).code, 'ERR_OUT_OF_RANGE')
    } else {
      t.regex(err.message, /internal error/, r.code)
    }
  })
  t.regex(statusError(-1 - table.length, 'op').message, /internal error/)
})

test('every ERR_ code that src/ names is a code of the error table', (t) => {
  const codes = new Set(native.errorTable().map((r) => r.code))
  for (const [file, text] of sources()) {
    for (const [, code] of text.matchAll(/['"`](ERR_[A-Z_]+)['"`]/g)) t.true(codes.has(code), `${file}: ${code}`)
  }
})

test('a coded native error becomes the class its table row names', (t) => {
  const cases: [string, (e: Error) => boolean][] = [
    ['ERR_CORRUPT', (e) => e instanceof WriteBufferError],
    ['ERR_INVALID_ARG_VALUE', (e) => e instanceof TypeError],
    ['ERR_OUT_OF_RANGE', (e) => e instanceof RangeError],
    ['ENOSPC', (e) => !(e instanceof WriteBufferError) && (e as Error & { path?: string }).path === '/p'],
  ]
  for (const [code, ok] of cases) {
    const err = outcomeError(code, 'm', 'op', '/p')
    t.true(ok(err), code)
    t.is((err as Error & { code?: string }).code, code)
    t.is(err.message, 'op: m')
  }
  t.regex(outcomeError('ERR_NAPI', 'm', 'op', '/p').message, /^op: internal error \(ERR_NAPI: m\)/)
})

test("the error table of docs/api.md is the one generated from the binding error table", (t) => {
  const readme = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8')
  const expected = errorTableScript.generate(native.errorTable())
  t.is(errorTableScript.tableIn(readme), expected, 'run `node scripts/error-table.js --write`')
  for (const code of WRITE_BUFFER_ERROR_CODES) t.true(expected.includes(`\`${code}\``), code)
})

test('a capacity error says the one capacity rule, on both sides', (t) => {
  t.is(CAPACITY_RANGE, 'a power of two in [16, 2^31]')
  // The native check, reached without the JS one in front of it.
  const native3 = t.throws(() => new native.NativeArenaPool(24, 1))
  t.is((native3 as Error & { code?: string }).code, 'ERR_OUT_OF_RANGE')
  t.true(native3?.message.endsWith(CAPACITY_RANGE), native3?.message)
  const js = t.throws(() => new WriteBuffer(1, 24), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.true(js?.message.includes(CAPACITY_RANGE), js?.message)
})

test('calls that take napi arguments throw coded errors: a disposed slot is ERR_CLOSED', (t) => {
  const slot = 1_000_000 // no buffer on this thread has it
  for (const call of [() => native.waitFlushed(slot), () => native.flushTo(slot, '/nonexistent/x', false)]) {
    const err = t.throws(call)
    t.is((err as Error & { code?: string }).code, 'ERR_CLOSED', err?.message)
  }
  native.dealloc(slot, new BigUint64Array(1), false)
  const s32 = new Int32Array(native.scratch() as ArrayBuffer)
  t.is(statusError(s32[native.S_STATUS], 'x').message, 'x: the WriteBuffer was disposed on this thread')
})

// --- The layout ------------------------------------------------------------------

test('the layout constants the binding exports are the ones of its layout table', (t) => {
  const layout = native.layout()
  const names = Object.keys(layout)
  t.true(names.length >= 30, names.join())
  const exported = native as unknown as Record<string, unknown>
  for (const [name, value] of Object.entries(layout)) t.is(exported[name], value, name)
})

test('src/layout.ts reads every word of the layout from the binding, and nothing else of it', (t) => {
  const layout = native.layout()
  const text = fs.readFileSync(path.join(root, 'src/layout.ts'), 'utf8')
  const read = new Set([...text.matchAll(/\bnative\.([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]))
  t.deepEqual([...read].sort(), Object.keys(layout).sort())
})

test('src/ indexes the scratch block, record entries and record headers by the layout names only', (t) => {
  const rules: [RegExp, string][] = [
    [/\bS(?:32|I32|64)\[[^\]]*\b\d+\b[^\]]*\]/, 'a scratch word by number'],
    [/\bS(?:32|I32|64)\[[^\]]*\]\s*&\s*\d/, 'a scratch flag by number'],
    [/\[\s*[ew]\s*(?:\/\s*2\s*)?\+\s*\d/, 'an entry word by number'],
    [/\[\s*i\s*\+\s*\d/, 'a record header word by number'],
    [/\bnative\.(?:S_|A_|O_|REC_|FILL_|STATE_|RELEASE_|H_)[A-Z_]*/, 'a layout constant outside src/layout.ts'],
  ]
  for (const [file, text] of sources()) {
    if (file === 'src/layout.ts') continue
    for (const [rule, what] of rules) {
      const m = text.match(rule)
      t.is(m, null, `${file}: ${what}: ${m?.[0]}`)
    }
  }
})

test("a buffer's record entries and its page file's entries have one word order", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-contract-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const s32 = new Int32Array(native.scratch() as ArrayBuffer)
  const nb = new native.NativeBuffer(3, 4096)
  const out = new Uint32Array(3)
  native.batch(nb.slot, new BigUint64Array([0x1_0000_0002n, 9n]), new Uint32Array([40, 3]), new BigUint64Array([5n, 6n]), out)
  t.is(s32[native.S_STATUS], 0)
  s32[native.S_SLOT] = nb.slot
  native.fastRelease()
  native.fastSeal()
  t.is(s32[native.S_STATUS], 0)
  t.is(s32[native.O_RELEASE], native.RELEASE_FLUSH)
  const words = new Uint32Array(native.REC_WORDS * 8)
  native.recordsFill(nb.slot, 0, words)
  t.is(s32[native.S_STATUS], 0)
  const count = words[native.FILL_COUNT]
  t.is(count, 3)
  const file = path.join(dir, '3.page')
  await native.flushTo(nb.slot, file, false)
  const nf = await native.openPageFile(file)
  const entries = nf.entries()
  t.is(entries.length, count * native.REC_WORDS)
  for (let i = 0; i < count; i++) {
    const fromBuffer = words.subarray((i + 1) * native.REC_WORDS, (i + 2) * native.REC_WORDS)
    const fromFile = entries.subarray(i * native.REC_WORDS, (i + 1) * native.REC_WORDS)
    for (const w of [native.REC_OFFSET, native.REC_FLAGS, native.REC_SIZE, native.REC_ID, native.REC_ID + 1]) {
      t.is(fromFile[w], fromBuffer[w], `record ${i}, word ${w}`)
    }
    t.is(fromBuffer[native.REC_POS], 0)
    t.true(fromFile[native.REC_POS] > 0, `record ${i} has a position in the file`)
  }
  // The first page: offset 0, a page, 40 bytes, id 0x1_0000_0002 (low word first).
  const first = words.subarray(native.REC_WORDS, 2 * native.REC_WORDS)
  t.deepEqual(
    [first[native.REC_OFFSET], first[native.REC_FLAGS], first[native.REC_SIZE], first[native.REC_ID], first[native.REC_ID + 1]],
    [0, native.NORMAL_PAGE, 40, 2, 1],
  )
  t.is(entries[native.REC_WORDS * 2 + native.REC_FLAGS], native.DEALLOC_PAGES, 'the dealloc record comes last')
  nb.dispose(undefined)
})

test('every error reason carries a WriteBufferError code of the table, and src/ names only those reasons', (t) => {
  const rows = new Map(native.errorTable().map((r) => [r.code, r]))
  const reasons = native.errorReasons()
  t.true(reasons.length > 0)
  for (const r of reasons) {
    t.is(rows.get(r.code)?.class, 'WriteBufferError', r.key)
    t.not(r.message, rows.get(r.code)?.message, `${r.key} says more than its code`)
  }
  const keys = new Set(reasons.map((r) => r.key))
  for (const [file, text] of sources()) {
    for (const [, key] of text.matchAll(/reasonError\('([A-Za-z]+)'/g)) t.true(keys.has(key), `${file}: ${key}`)
  }
})
