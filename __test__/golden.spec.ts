// Golden page files (format version 1), committed bytes made once by
// fixtures/golden/generate.js from fixed seeds and described in
// expected.json from the generator's own model. The test never writes a
// file: a format change made to the writer and the reader together still
// fails here, until the goldens are deliberately replaced.
import test from 'ava'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import { PageFile } from '../index.ts'

// AVA runs specs with the project root as the working directory.
const DIR = path.join(process.cwd(), '__test__', 'fixtures', 'golden')

interface ExpectedRecord {
  kind: 'page' | 'dealloc'
  addr: string
  size: number
  pageId?: string
  sha256?: string
  addrs?: string[]
}
interface ExpectedFile {
  name: string
  groupId: number
  capacity: number
  allocated: number
  bytes: number
  sha256: string
  records: ExpectedRecord[]
}

const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as { version: number; files: ExpectedFile[] }
const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const hex = (a: bigint) => `0x${a.toString(16)}`

test('the golden files are the committed bytes, and every case is present', (t) => {
  t.is(expected.version, 1)
  t.deepEqual(expected.files.map((f) => f.name).sort(), ['1.page', '3.page', '4.page', '4000000000.page'])
  const kinds = expected.files.flatMap((f) => f.records.map((r) => r.kind))
  t.true(kinds.includes('page') && kinds.includes('dealloc'))
  t.true(expected.files.some((f) => f.records.length === 0), 'an empty file')
  for (const f of expected.files) {
    const bytes = fs.readFileSync(path.join(DIR, f.name))
    t.is(bytes.length, f.bytes, f.name)
    t.is(sha256(bytes), f.sha256, f.name)
  }
})

test('golden files: header and trailer fields at their documented offsets', (t) => {
  for (const f of expected.files) {
    const b = fs.readFileSync(path.join(DIR, f.name))
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
    t.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x57, 0x42, 0x0d, 0x0a, 0x1a, 0x0a], f.name)
    t.deepEqual(
      [v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true), v.getUint32(20, true), v.getUint32(24, true), v.getUint32(28, true), v.getUint32(32, true)],
      [1, 40, f.groupId, f.capacity, f.allocated, f.records.length, 0],
      f.name,
    )
    const t0 = b.length - 32
    t.is(Number(v.getBigUint64(t0 + 8, true)), b.length, f.name)
    t.is(v.getUint32(t0 + 16, true), f.records.length, f.name)
    t.is(Number(v.getBigUint64(t0, true)), b.length - 32 - 16 * f.records.length, `${f.name}: index offset`)
    t.is(b.subarray(b.length - 4).toString('latin1'), 'PWBE', f.name)
  }
})

test('golden files: the reader decodes every record byte for byte', async (t) => {
  for (const f of expected.files) {
    const pf = await PageFile.open(path.join(DIR, f.name))
    t.is(pf.groupId, f.groupId, f.name)
    t.is(pf.size, f.records.length, f.name)
    const got: ExpectedRecord[] = [...pf.records()].map((r) =>
      r.kind === 'page'
        ? { kind: 'page', addr: hex(r.addr), pageId: r.pageId.toString(), size: r.page.length, sha256: sha256(r.page) }
        : { kind: 'dealloc', addr: hex(r.addr), size: r.addrs.length * 8, addrs: r.addrs.map(hex) },
    )
    t.deepEqual(got, f.records, f.name)
    for (const r of f.records) {
      if (r.kind === 'page') t.is(sha256(pf.page(BigInt(r.addr))), String(r.sha256), `${f.name} page(${r.addr})`)
    }
    pf.close()
  }
})
