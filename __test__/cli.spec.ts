import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { WriteBuffer } from '../index.ts'

// AVA runs specs with the project root as the working directory.
const CLI = path.join(process.cwd(), 'bin', 'photon-wb.js')

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 })
}

async function pageDir(t: { teardown(fn: () => void): void }, groups: number[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const g of groups) {
    const wb = new WriteBuffer(g, 4096)
    wb.allocPage(BigInt(g) * 100n, 10, false).page.fill(g)
    wb.allocPage(7n, 0, false)
    wb.deallocPages([(99n << 32n) | 16n], false)
    wb.seal()
    await wb.flushTo(path.join(dir, `${g}.page`))
  }
  return dir
}

/** The address the API hands out for (group, offset). */
const addr = (g: number, offset: number) => (BigInt(g) << 32n) | BigInt(offset)

/** The checksum stored in the head of the record whose body is at `bodyPos`. */
const storedCrc = (file: Buffer, bodyPos: number) => `0x${file.readUInt32LE(bodyPos - 4).toString(16).padStart(8, '0')}`

test('inspect --json of a page file lists every record with its decimal address, kind, page id, size and its own checksum', async (t) => {
  const dir = await pageDir(t, [3])
  const file = path.join(dir, '3.page')
  const r = cli('inspect', file, '--json')
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.like(out, { ok: true, groupId: 3, records: 3, pages: 2, deallocs: 1 })
  t.deepEqual(
    out.list.map((x: { addr: string; kind: string; pageId?: string; size: number }) => [x.addr, x.kind, x.pageId, x.size]),
    [
      [String(addr(3, 0x10)), 'page', '300', 10],
      [String(addr(3, 0x30)), 'page', '7', 0],
      [String(addr(3, 0x40)), 'dealloc', undefined, 8],
    ],
  )
  t.deepEqual(out.list[2].frees, [String(addr(99, 16))])
  // The checksum column is each record's own, as stored in the file.
  const bytes = fs.readFileSync(file)
  const bodies = [40 + 24, 40 + 24 + 16 + 24, 40 + 24 + 16 + 24 + 0 + 24]
  t.deepEqual(
    out.list.map((x: { crc: string; checksum: string }) => [x.checksum, x.crc]),
    bodies.map((p) => ['ok', storedCrc(bytes, p)]),
  )
  t.is(new Set(out.list.map((x: { crc: string }) => x.crc)).size, 3)
})

test('inspect of a page file prints a table with decimal addresses and a summary', async (t) => {
  const dir = await pageDir(t, [4])
  const r = cli('inspect', path.join(dir, '4.page'))
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`${addr(4, 0x10)}\\s+page\\s+400\\s+10\\s+ok 0x[0-9a-f]{8}`))
  t.regex(r.stdout, new RegExp(`frees ${addr(99, 16)}`))
  t.notRegex(r.stdout, /0x0000/)
  t.regex(r.stdout, /group 4: 3 records \(2 pages, 1 dealloc\), \d+ bytes, every checksum ok/)
})

/** A page file of group `g` with `n` pages of 40 bytes (page id i, bytes `p<i>…`); returns its path. */
async function pagesFile(t: { teardown(fn: () => void): void }, g: number, n: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const wb = new WriteBuffer(g, 4096)
  for (let i = 0; i < n; i++) wb.allocPage(BigInt(i), 40, false).page.write(`p${i} hello world`.padEnd(40, '.'))
  wb.seal()
  const file = path.join(dir, `${g}.page`)
  await wb.flushTo(file)
  return file
}

const RECORD = 24 + 40 // each record of pagesFile in the file

test('inspect of a damaged page file lists the valid records before the damage and says where the walk stops', async (t) => {
  const file = await pagesFile(t, 2, 5)
  const bytes = fs.readFileSync(file)
  const third = 40 + 2 * RECORD
  bytes[third + 24 + 3] ^= 0x01 // a bit of record 2's body
  fs.writeFileSync(file, bytes)
  const r = cli('inspect', file)
  t.is(r.status, 1, r.stderr)
  t.regex(r.stdout, new RegExp(`0\\s+${addr(2, 16)}\\s+page\\s+0\\s+40\\s+ok`))
  t.regex(r.stdout, new RegExp(`1\\s+${addr(2, 16 + 56)}\\s+page\\s+1\\s+40\\s+ok`))
  t.regex(r.stdout, /2\s+\?\s+\?\s+\?\s+\?\s+BAD: the walk stops here/)
  t.regex(r.stdout, /damaged: ERR_CORRUPT: .*record 2 at 168: checksum mismatch/)
  t.regex(r.stdout, new RegExp(`salvage: 2 valid records \\(2 pages, 0 dealloc\\) before the damage; the walk stops at file offset ${third}: record 2 at ${third}: checksum mismatch \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\)`))
  const json = JSON.parse(cli('inspect', file, '--json').stdout)
  t.like(json, { ok: false, records: 2, damage: { code: 'ERR_CORRUPT', stopPos: third, validRecords: 2 } })

  // Cut short in the middle of record 3 (no index, no trailer): records 0-2 survive.
  const cut = await pagesFile(t, 5, 5)
  fs.truncateSync(cut, 40 + 3 * RECORD + 30)
  const c = JSON.parse(cli('inspect', cut, '--json').stdout)
  t.like(c, { ok: false, records: 3, groupId: 5, damage: { stopPos: 40 + 3 * RECORD } })
  t.regex(c.damage.stop, /record 3 at 232: 40 body bytes run past the end of the file/)
  t.deepEqual(c.list.map((x: { pageId: string }) => x.pageId), ['0', '1', '2'])

  // Every record intact, the trailer damaged: all listed, the damage named.
  const tail = await pagesFile(t, 6, 2)
  const tb = fs.readFileSync(tail)
  tb[tb.length - 1] ^= 0xff
  fs.writeFileSync(tail, tb)
  const d = cli('inspect', tail)
  t.is(d.status, 1)
  t.regex(d.stdout, /salvage: 2 valid records .*every record passed its checks: the damage is in the index or the trailer/)
})

test('inspect --page dumps a page as hex with a text preview, by decimal or hex address, from a file or a directory', async (t) => {
  const file = await pagesFile(t, 7, 3)
  const a = addr(7, 16 + 56)
  let r = cli('inspect', file, '--page', String(a))
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`^${a} \\(group 7, offset 72\\) in .*7\\.page: page id 1, 40 bytes, record checksum ok 0x[0-9a-f]{8}`))
  t.regex(r.stdout, /00000000  70 31 20 68 65 6c 6c 6f  20 77 6f 72 6c 64 2e 2e  \|p1 hello world\.\.\|/)
  t.regex(r.stdout, /00000020  2e 2e 2e 2e 2e 2e 2e 2e +\|\.{8}\|/)
  r = cli('inspect', path.dirname(file), '--page', `0x${a.toString(16)}`, '--limit', '4')
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /00000000  70 31 20 68 +\|p1 h\|\n… 36 more bytes \(--limit 0 shows all\)/)
  const j = JSON.parse(cli('inspect', file, '--page', String(a), '--json').stdout)
  t.like(j, { addr: String(a), pageId: '1', size: 40, checksum: 'ok', fileDamaged: false })
  t.is(Buffer.from(j.hex, 'hex').toString(), 'p1 hello world'.padEnd(40, '.'))

  t.is(cli('inspect', file, '--page', String(a + 8n)).status, 1, 'no record starts there')
  t.regex(cli('inspect', path.dirname(file), '--page', String(addr(9, 16))).stderr, /no page file or segment of group 9/)
  t.is(cli('inspect', file, '--page', 'zz').status, 2)

  // A page before the damage of a damaged file is still shown; one after it is not.
  const bytes = fs.readFileSync(file)
  bytes[40 + 2 * RECORD + 30] ^= 1
  fs.writeFileSync(file, bytes)
  r = cli('inspect', file, '--page', String(a))
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /the file is damaged further on: record 2 at 168: checksum mismatch/)
  r = cli('inspect', file, '--page', String(addr(7, 16 + 112)))
  t.is(r.status, 1)
  t.regex(r.stderr, /not among the 2 valid records before the damage/)
})

test('progress goes to stderr with --progress (or on a terminal), never into the output', async (t) => {
  const dir = await pageDir(t, [1, 2, 3])
  const env = { ...process.env, PHOTON_WB_PROGRESS_AFTER_MS: '0' }
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env })
  let r = run('inspect', dir, '--json', '--progress')
  t.is(r.status, 0, r.stderr)
  t.regex(r.stderr, /photon-wb inspect: 3 of 3 page files/)
  t.like(JSON.parse(r.stdout).summary, { files: 3 })
  r = run('inspect', path.join(dir, '2.page'), '--progress')
  t.regex(r.stderr, /photon-wb inspect: 2\.page: 3 of 3 records checked/)
  r = run('inspect', dir)
  t.is(r.stderr, '', 'stderr is not a terminal and no --progress')
})

test('--version prints the package version; --help documents every command and option; bench is not shipped', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) as { version: string }
  for (const flag of ['--version', '-v']) {
    const r = cli(flag)
    t.is(r.status, 0)
    t.is(r.stdout, `photon-wb ${pkg.version}\n`)
  }
  const help = cli('--help')
  t.is(help.status, 0)
  for (const word of ['inspect <file|dir>', '--json', '--progress', '--page <addr>', '--limit', '--version', '--help', 'decimal', 'npm run bench']) {
    t.true(help.stdout.includes(word), word)
  }
  const bench = cli('bench')
  t.is(bench.status, 2)
  t.regex(bench.stderr, /not part of the package: in a clone, `npm run bench`/)
})

test('inspect of a directory summarises every page file and exits 1 when one is corrupt', async (t) => {
  const dir = await pageDir(t, [1, 2])
  let r = cli('inspect', dir, '--json')
  t.is(r.status, 0, r.stderr)
  t.like(JSON.parse(r.stdout).summary, { files: 2, corrupt: 0, records: 6 })
  const good = fs.readFileSync(path.join(dir, '2.page'))
  good[good.length - 40] ^= 0xff
  fs.writeFileSync(path.join(dir, '3.page'), good)
  r = cli('inspect', dir)
  t.is(r.status, 1)
  t.regex(r.stdout, /3\.page.*ERR_CORRUPT: \d+ valid before the damage/)
  t.regex(r.stdout, /3 page files, 6 records, \d+ bytes, 1 corrupt/)
})

test('the CLI explains bad usage with exit code 2', (t) => {
  for (const args of [[], ['frob'], ['inspect'], ['inspect', 'a', 'b'], ['inspect', 'x', '--nope']]) {
    const r = cli(...args)
    t.is(r.status, 2, args.join(' '))
    t.regex(r.stdout + r.stderr, /usage:/)
  }
  t.is(cli('--help').status, 0)
  t.is(cli('inspect', path.join(os.tmpdir(), 'no-such-photon-wb-file.page')).status, 1)
})

test("inspect reads the demo's page files: one group per flushed buffer, every appended page", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-cli-demo-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const demo = spawnSync(process.execPath, ['examples/demo.js'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DEMO_WORKERS: '2', DEMO_PAGES: '5000', DEMO_DIR: dir },
  })
  t.is(demo.status, 0, demo.stderr)
  const flushed = Number(/buffers flushed\s+(\d+)/.exec(demo.stdout)?.[1])
  t.true(flushed >= 1)
  const r = cli('inspect', dir, '--json')
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.is(out.files.length, flushed)
  t.deepEqual(out.files.map((f: { groupId: number }) => f.groupId), Array.from({ length: flushed }, (_, i) => i + 1))
  t.like(out.summary, { files: flushed, corrupt: 0, records: 10_000 })
  const table = cli('inspect', dir)
  t.is(table.status, 0)
  t.regex(table.stdout, new RegExp(`${flushed} page files, 10000 records, \\d+ bytes, 0 corrupt`))
})
