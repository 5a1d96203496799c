import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { PageFile, PageLog, WriteBufferError } from '../index.ts'

// The on-disk promise (docs/versioning.md): a directory written by 0.1.0 in
// page file format version 1 stays readable by every later release. The
// fixture was written once by 0.1.0 (fixtures/format-v1/make.js says how)
// and is never regenerated: 12 pages in groups 1 and 2 (page 5 written
// twice), and group 3 holding one dealloc record that frees page 2.

const FIXTURE = path.resolve('__test__', 'fixtures', 'format-v1', 'log')
const ADDRS = [4294967312n, 4294967344n, 4294967384n, 4294967408n, 4294967440n, 4294967480n, 4294967504n,
  8589934608n, 8589934648n, 8589934672n, 8589934704n, 8589934744n]
const body = (i: number) => `page ${i} `.repeat((i % 3) + 1)

function copy(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-v1-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(FIXTURE, dir, { recursive: true })
  return dir
}

test('PageLog.open recovers a version-1 directory written by 0.1.0: every page at its address', async (t) => {
  const log = await PageLog.open(copy(t))
  t.is(log.nextGroupId, 4)
  t.is(log.pageCount, 11, 'twelve page ids, page 2 freed by the dealloc record of group 3')
  t.is(log.addressOf(2n), undefined)
  t.is(log.addressOf(5n), 8589934768n, 'the later write of page 5 wins')
  t.is((await log.read(8589934768n)).toString(), 'page 5, second version')
  for (let i = 1; i <= 12; i++) {
    t.is((await log.read(ADDRS[i - 1])).toString(), body(i), `page ${i}`)
    if (i !== 2 && i !== 5) t.is(log.addressOf(BigInt(i)), ADDRS[i - 1])
  }
  // And it keeps writing after them.
  const next = await log.append(13n, Buffer.from('after'))
  await log.flush()
  t.is(next >> 32n, 4n)
  await log.close()
})

test('PageFile.open reads each version-1 file of the fixture, checksums and all', async (t) => {
  const sizes: number[] = []
  for (const name of ['1.page', '2.page', '3.page']) {
    const pf = await PageFile.open(path.join(FIXTURE, name))
    sizes.push(pf.size)
    t.is(pf.groupId, Number(name[0]))
    pf.close()
  }
  t.deepEqual(sizes, [7, 6, 1])
})

test('a page file of a format version this release does not know is refused as ERR_CORRUPT, naming the version', async (t) => {
  const dir = copy(t)
  const file = path.join(dir, '1.page')
  const bytes = fs.readFileSync(file)
  bytes.writeUInt32LE(2, 8) // the version field
  fs.writeFileSync(file, bytes)
  const e = await t.throwsAsync(PageFile.open(file), { instanceOf: WriteBufferError })
  t.is(e?.code, 'ERR_CORRUPT')
  t.regex(e?.message ?? '', /version 2/)
})
