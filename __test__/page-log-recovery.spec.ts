// Recovery of a log directory holding files the log did not expect: a page
// file of another group, user files named like temp files, directories
// named like page or temp files, an existing quarantine name.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PageLog, WriteBuffer, WriteBufferError } from '../index.ts'
import { segmentPath } from './log-files.ts'

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-log-recovery-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function bytes(seed: number, size = 100): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (seed * 31 + i) & 0xff
  return b
}

/** A directory with two sealed segments (groups 1 and 2: page 1, page 2). */
async function twoFiles(t: ExecutionContext): Promise<{ dir: string; a: bigint; b: bigint }> {
  const dir = tempDir(t)
  const log = await PageLog.open(dir, { bufferSize: 4096 })
  const a = log.tryAppend(1, bytes(1)) as bigint
  await log.rotate()
  const b = log.tryAppend(2, bytes(2)) as bigint
  await log.close()
  return { dir, a, b }
}

/** A valid page file of group `g` (one page) at `file`. */
async function pageFileOfGroup(g: number, file: string): Promise<void> {
  const wb = new WriteBuffer(g, 4096)
  wb.writePage(9n, bytes(9), false)
  wb.seal()
  await wb.flushTo(file, { overwrite: true })
  wb.dispose()
}

test('recovery: a valid page file of another group rejects ERR_CORRUPT naming the file (with path)', async (t) => {
  const { dir } = await twoFiles(t)
  const file = path.join(dir, '2.page')
  await pageFileOfGroup(7, file)
  const err = await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT', err?.message)
  t.true(err?.message.includes(file), err?.message)
  t.true(err?.message.includes('group 7'), err?.message)
  t.is((err as unknown as { path?: string }).path, file)
})

test("recovery: a valid page file of another group is quarantined with onCorrupt: 'quarantine'", async (t) => {
  const { dir, a } = await twoFiles(t)
  const file = path.join(dir, '2.page')
  await pageFileOfGroup(7, file)
  const log = await PageLog.open(dir, { onCorrupt: 'quarantine' })
  t.false(fs.existsSync(file))
  t.true(fs.existsSync(`${file}.corrupt`))
  t.is(log.stats.quarantined, 1)
  t.deepEqual(await log.read(a), bytes(1))
  await log.close()
})

test('recovery: only temp files the product makes are deleted; look-alikes are left alone', async (t) => {
  const { dir } = await twoFiles(t)
  const ours = ['.3.page.tmp-1234-0', '.1.page.tmp-99-17']
  const users = ['.notes.tmp-keep', '.3.page.tmp-keep', '.x.tmp-1-2', '.3.page.tmp-1-2.bak', '.03.page.tmp-1-2']
  for (const n of [...ours, ...users]) fs.writeFileSync(path.join(dir, n), 'x')
  const log = await PageLog.open(dir)
  for (const n of ours) t.false(fs.existsSync(path.join(dir, n)), `${n} deleted`)
  for (const n of users) t.true(fs.existsSync(path.join(dir, n)), `${n} kept`)
  await log.close()
})

test('recovery: quarantine never replaces an existing .corrupt file; it picks a free name', async (t) => {
  const { dir, b } = await twoFiles(t)
  const file = segmentPath(dir, 1)
  fs.writeFileSync(`${file}.corrupt`, 'quarantined earlier')
  fs.writeFileSync(`${file}.corrupt.1`, 'and again')
  fs.truncateSync(file, 10)
  const log = await PageLog.open(dir, { onCorrupt: 'quarantine' })
  t.is(log.stats.quarantined, 1)
  t.false(fs.existsSync(file))
  t.is(fs.readFileSync(`${file}.corrupt`, 'utf8'), 'quarantined earlier')
  t.is(fs.readFileSync(`${file}.corrupt.1`, 'utf8'), 'and again')
  t.is(fs.statSync(`${file}.corrupt.2`).size, 10)
  t.deepEqual(await log.read(b), bytes(2))
  await log.close()
})

test('recovery: a directory named like a segment is ERR_CORRUPT (with path), or quarantined', async (t) => {
  const { dir, a } = await twoFiles(t)
  const bogus = segmentPath(dir, 2)
  fs.rmSync(bogus)
  fs.mkdirSync(bogus)
  fs.writeFileSync(path.join(bogus, 'inside'), 'user data')
  const err = await t.throwsAsync(PageLog.open(dir), { instanceOf: WriteBufferError })
  t.is(err?.code, 'ERR_CORRUPT', err?.message)
  t.is((err as unknown as { path?: string }).path, bogus)
  const log = await PageLog.open(dir, { onCorrupt: 'quarantine' })
  t.is(log.stats.quarantined, 1)
  t.is(fs.readFileSync(path.join(`${bogus}.corrupt`, 'inside'), 'utf8'), 'user data')
  t.deepEqual(await log.read(a), bytes(1))
  t.is(log.nextGroupId, 3, 'the quarantined group is not reused')
  await log.close()
})

test('recovery: a directory named like a temp file is left alone', async (t) => {
  const { dir } = await twoFiles(t)
  const d = path.join(dir, '.3.page.tmp-1234-0')
  fs.mkdirSync(d)
  fs.writeFileSync(path.join(d, 'inside'), 'user data')
  const log = await PageLog.open(dir)
  t.is(fs.readFileSync(path.join(d, 'inside'), 'utf8'), 'user data')
  await log.close()
})

test('recovery: a dealloc record frees only the latest address of a page id; one freeing an address already replaced by a newer one changes nothing', async (t) => {
  const dir = tempDir(t)
  const flush = async (wb: WriteBuffer): Promise<void> => {
    wb.seal()
    await wb.flushTo(path.join(dir, `${wb.groupId}.page`))
    wb.dispose()
  }
  // Group 1: pages 5 and 6.
  const g1 = new WriteBuffer(1, 4096)
  const a1 = g1.writePage(5n, bytes(51), false)
  const b1 = g1.writePage(6n, bytes(61), false)
  await flush(g1)
  // Group 2: page 5 again (its latest address now), and a dealloc record
  // freeing page 5's first address, which is no longer its latest.
  const g2 = new WriteBuffer(2, 4096)
  const a2 = g2.writePage(5n, bytes(52), false)
  g2.deallocPages([a1], false)
  await flush(g2)
  // Group 3: a dealloc record freeing page 6's latest (and only) address.
  const g3 = new WriteBuffer(3, 4096)
  g3.deallocPages([b1], false)
  await flush(g3)

  const log = await PageLog.open(dir, { bufferSize: 4096 })
  t.teardown(() => log.close())
  t.is(log.addressOf(5n), a2, 'page 5 keeps its newer address: the dealloc of the older one changes nothing')
  t.is(log.addressOf(6n), undefined, 'page 6 is gone: its latest address was freed')
  t.is(log.pageCount, 1)
  t.deepEqual(Buffer.from(await log.read(a2)), bytes(52))
})
