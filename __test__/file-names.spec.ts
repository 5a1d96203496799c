import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import test from 'ava'

import { PageLog, WriteBuffer } from '../index.ts'
import { LOCK_FILE, groupOfPageFile, isTempFile, pageFileName, quarantinePath } from '../src/file-names.ts'

// One set of file-name rules (src/file-names.ts) for PageLog recovery and
// photon-wb; the lock file's name comes from the native side that makes it.

test('page file names: canonical decimal group ids up to 2^32 - 1, nothing else', (t) => {
  t.is(pageFileName(12), '12.page')
  t.is(groupOfPageFile('12.page'), 12)
  t.is(groupOfPageFile('0.page'), 0)
  t.is(groupOfPageFile('4294967295.page'), 4294967295)
  for (const name of ['007.page', '4294967296.page', '12.page.corrupt', '.12.page.tmp-1-0', 'x.page', '12.pages', LOCK_FILE]) {
    t.is(groupOfPageFile(name), null, name)
  }
  t.true(isTempFile('.12.page.tmp-123-4'))
  t.false(isTempFile('12.page'))
  t.is(quarantinePath('/d/3.page'), '/d/3.page.corrupt')
})

test('PageLog and photon-wb agree on which files of a directory are page files; LOCK is the lock', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-names-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const wb = new WriteBuffer(1, 4096)
  wb.allocPage(1n, 8, false)
  wb.seal()
  await wb.flushTo(path.join(dir, pageFileName(1)))
  // Names that look like page files but are none: neither side may read them.
  fs.copyFileSync(path.join(dir, '1.page'), path.join(dir, '001.page'))
  fs.copyFileSync(path.join(dir, '1.page'), path.join(dir, '4294967296.page'))
  fs.writeFileSync(path.join(dir, '.2.page.tmp-1-0'), 'partial')

  const cli = spawnSync(process.execPath, [path.join(process.cwd(), 'bin', 'photon-wb.js'), 'inspect', dir, '--json'], { encoding: 'utf8' })
  t.is(cli.status, 0, cli.stderr)
  const listed = (JSON.parse(cli.stdout) as { files: { path: string }[] }).files.map((f) => path.basename(f.path))
  t.deepEqual(listed, ['1.page'])

  const log = await PageLog.open(dir)
  t.is(log.stats.recoveredFiles, 1)
  t.is(log.nextGroupId, 2)
  t.false(fs.existsSync(path.join(dir, '.2.page.tmp-1-0')), 'the stale temp file is gone')
  t.is(LOCK_FILE, 'LOCK')
  t.true(fs.existsSync(path.join(dir, LOCK_FILE)), fs.readdirSync(dir).join(', '))
  await log.close()
})
