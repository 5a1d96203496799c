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

test('inspect --json of a page file lists every record with its address, kind, page id and size', async (t) => {
  const dir = await pageDir(t, [3])
  const r = cli('inspect', path.join(dir, '3.page'), '--json')
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.like(out, { ok: true, groupId: 3, records: 3, pages: 2, deallocs: 1 })
  t.deepEqual(
    out.list.map((x: { addr: string; kind: string; pageId?: string; size: number }) => [x.addr, x.kind, x.pageId, x.size]),
    [
      ['0x0000000300000010', 'page', '300', 10],
      ['0x0000000300000030', 'page', '7', 0],
      ['0x0000000300000040', 'dealloc', undefined, 8],
    ],
  )
  t.deepEqual(out.list[2].frees, ['0x0000006300000010'])
})

test('inspect of a page file prints a table and a summary', async (t) => {
  const dir = await pageDir(t, [4])
  const r = cli('inspect', path.join(dir, '4.page'))
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /0x0000000400000010\s+page\s+400\s+10\s+ok/)
  t.regex(r.stdout, /group 4: 3 records \(2 pages, 1 dealloc\)/)
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
  t.regex(r.stdout, /3\.page.*ERR_CORRUPT/)
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
