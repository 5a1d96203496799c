import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { PageFile, PageLog, WriteBuffer, WriteBufferError, NORMAL_PAGE } from '../index.ts'
import * as native from '../load-binding.js'

// Every place that branches on a record's kind knows both kinds (page,
// dealloc) and fails loudly on any other: a kind added later must never be
// read as a dealloc record. Native validation refuses unknown kinds today,
// so these tests hand the JS side one through a stand-in.

const root = process.cwd()
/** Flags of no kind there is. */
const UNKNOWN_FLAGS = 0x40

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-kinds-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A page file of group `g` with one page (id 1000, 40 bytes) in `dir`. */
async function onePageFile(dir: string, g: number): Promise<string> {
  const wb = new WriteBuffer(g, 4096)
  wb.allocPage(1000n, 40, false).page.fill(7)
  wb.seal()
  const { path: file } = await wb.flushTo(path.join(dir, `${g}.page`))
  wb.dispose()
  return file
}

test('PageFile: a record of unknown kind is ERR_CORRUPT naming the file, not a dealloc record', async (t) => {
  const file = await onePageFile(tmpDir(t), 1)
  const nf = await native.openPageFile(file)
  const entries = Uint32Array.from(nf.entries())
  // The flags word of the one entry.
  t.is(entries[native.REC_FLAGS], NORMAL_PAGE, `entry words ${[...entries]}`)
  entries[native.REC_FLAGS] = UNKNOWN_FLAGS
  const standIn = { groupId: nf.groupId, bytes: () => nf.bytes(), entries: () => entries, locate: () => nf.locate() }
  const Ctor = PageFile as unknown as new (nf: unknown, path: string) => PageFile
  const pf = new Ctor(standIn, file)
  const err = t.throws(() => [...pf.records()], { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.regex(err?.message ?? '', /unknown kind \(flags 64\)/)
  t.true(err?.message.includes(file), err?.message)
})

test.serial('PageLog.open: a recovered record of unknown kind rejects with ERR_CORRUPT', async (t) => {
  const dir = tmpDir(t)
  await onePageFile(dir, 1)
  const records = Object.getOwnPropertyDescriptor(PageFile.prototype, 'records') as PropertyDescriptor
  Object.defineProperty(PageFile.prototype, 'records', {
    ...records,
    value: function* (this: PageFile) {
      yield* (records.value as () => Iterable<unknown>).call(this)
      yield { kind: 'delta', addr: (1n << 32n) | 64n }
    },
  })
  try {
    const err = await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError })
    t.is(err?.code, 'ERR_CORRUPT')
    t.regex(err?.message ?? '', /unknown kind \(kind 'delta'\)/)
  } finally {
    Object.defineProperty(PageFile.prototype, 'records', records)
  }
  const log = await PageLog.open(dir)
  t.is(log.pageCount, 1, 'the directory itself is fine')
  await log.close()
})

test('WriteBuffer#records: a record header of unknown kind in the arena is ERR_CORRUPT, not read as another kind', (t) => {
  // Records are decoded in JS from the arena: a header whose flags were
  // overwritten (through a view's .buffer) is met there.
  const wb = new WriteBuffer(1, 4096)
  const a = wb.allocPage(5n, 8, false)
  wb.allocPage(6n, 8, false)
  new DataView(a.page.buffer, a.page.byteOffset - 16).setUint32(8, UNKNOWN_FLAGS, true)
  wb.seal()
  const err = t.throws(() => [...wb.records()].map((r) => r.kind), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.regex(err?.message ?? '', new RegExp(`unknown kind \\(flags ${UNKNOWN_FLAGS}\\)`))
})

test('photon-wb inspect: a record of unknown kind fails the command instead of counting as a dealloc', async (t) => {
  const dir = tmpDir(t)
  const pages = path.join(dir, 'log')
  fs.mkdirSync(pages)
  await onePageFile(pages, 1)
  // Loaded before the CLI: the native walk reports its first record with flags 64 (no kind).
  const preload = path.join(dir, 'unknown-kind.js')
  fs.writeFileSync(
    preload,
    `const native = require(${JSON.stringify(path.join(root, 'load-binding.js'))})
     const { REC_FLAGS } = require(${JSON.stringify(path.join(root, 'src', 'layout.js'))})
     const walk = native.salvagePageFile
     native.salvagePageFile = (...args) => { const s = walk(...args); if (s.entries.length > 0) s.entries[REC_FLAGS] = 64; return s }`,
  )
  for (const target of [pages, path.join(pages, '1.page')]) {
    const r = spawnSync(process.execPath, ['-r', preload, path.join(root, 'bin', 'photon-wb.js'), 'inspect', target], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    t.is(r.status, 1, `${target}: ${r.stdout}`)
    t.regex(r.stderr, /1\.page: a record of unknown kind \(flags 64\)/, target)
  }
})

test('PageFile: an entry whose body runs past the file is ERR_CORRUPT naming the file, never a short or out-of-range view', async (t) => {
  const file = await onePageFile(tmpDir(t), 2)
  const nf = await native.openPageFile(file)
  const entries = Uint32Array.from(nf.entries())
  const bytes = nf.bytes()
  // The one page's size, grown to end one byte past the file.
  const pos = entries[native.REC_POS] + entries[native.REC_POS + 1] * 2 ** 32
  entries[native.REC_SIZE] = bytes.byteLength - pos + 1
  const standIn = { groupId: nf.groupId, bytes: () => bytes, entries: () => entries, locate: () => nf.locate() }
  const Ctor = PageFile as unknown as new (nf: unknown, path: string) => PageFile
  const pf = new Ctor(standIn, file)
  const err = t.throws(() => [...pf.records()], { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT')
  t.regex(err?.message ?? '', /past the file/)
  t.true(err?.message.includes(file), err?.message)
})
