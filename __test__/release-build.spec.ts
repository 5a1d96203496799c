// The release addon holds no test switch: the fault switch, the segment pauses, the flush delay,
// the simulated refusal of external buffers, the durability trace, the
// sample/fuzz harnesses of the core and the test-only native recordSize
// exist only in the test build (cargo feature `test-hooks`). A user who sets
// PHOTON_WB_FAULT by accident gets no failing flushes. The same scan of the
// test build finds the names (so a scan that finds nothing is not blind).
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import payload from './fixtures/thread-payload.js'
import { requireFromRoot, testAddonPath } from './test-addon.ts'

const ROOT = path.join(payload.DIR, '..', '..')

/** Strings only test code would put in the binary (Windows paths have backslashes). */
const SWITCHES = ['PHOTON_WB_FAULT', 'PHOTON_WB_FLUSH_DELAY_MS', 'PHOTON_WB_SIMULATE_NO_EXTERNAL', 'PHOTON_WB_SEGMENT_PAUSE']
const TEST_ONLY = [
  ...SWITCHES,
  'injected fault',
  'photon-wb pause',
  'traceDurability',
  'takeDurabilityTrace',
  'v8ExternalMemory',
  'recordSize',
  ...['fault', 'fuzz', 'sample'].flatMap((m) => [`page_file/${m}.rs`, `page_file\\${m}.rs`]),
]

/** The release builds next to the loader (what `npm run build` makes and CI downloads). */
function releaseBuilds(): string[] {
  return fs
    .readdirSync(ROOT)
    .filter((n) => /^photon-write-buffer\..+\.node$/.test(n))
    .map((n) => path.join(ROOT, n))
}

const found = (file: string, names: string[]): string[] => {
  const bytes = fs.readFileSync(file)
  return names.filter((n) => bytes.includes(Buffer.from(n, 'utf8')))
}

test('the release addon contains none of the test switches, hooks or harnesses', (t) => {
  const builds = releaseBuilds()
  t.true(builds.length > 0, `no release build in ${ROOT}`)
  for (const file of builds) t.deepEqual(found(file, TEST_ONLY), [], path.basename(file))
})

test('the release addon exports no test hook and no native recordSize', (t) => {
  for (const file of releaseBuilds()) {
    let exports: Record<string, unknown>
    try {
      exports = requireFromRoot(file)
    } catch {
      continue // another platform's build
    }
    for (const name of ['traceDurability', 'takeDurabilityTrace', 'v8ExternalMemory', 'recordSize']) t.false(name in exports, `${path.basename(file)} exports ${name}`)
    t.is(typeof exports.flushTo, 'function', 'it is the addon')
  }
})

test('the scan finds the switches in the test build', (t) => {
  t.deepEqual(found(testAddonPath(), [...SWITCHES, 'traceDurability', 'takeDurabilityTrace']), [...SWITCHES, 'traceDurability', 'takeDurabilityTrace'])
})
