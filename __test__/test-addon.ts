// The test build of the addon (cargo feature `test-hooks`, `npm run
// build:test`): the only build with the fault switch PHOTON_WB_FAULT, the
// segment pauses PHOTON_WB_SEGMENT_PAUSE, the
// flush delay PHOTON_WB_FLUSH_DELAY_MS, the simulated refusal
// PHOTON_WB_SIMULATE_NO_EXTERNAL and the durability trace. The release
// addon has none of them (__test__/release-build.spec.ts checks), so a spec
// that needs them loads this build: in its own process by importing
// ./use-test-addon.ts first, in a child by passing testAddonEnv().
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

import payload from './fixtures/thread-payload.js'

/** `require` from the project root. */
export const requireFromRoot = createRequire(path.join(payload.DIR, '..', '..', 'package.json'))

/** Where `npm run build:test` puts the test build (scripts/test-addon.js). */
export const TEST_ADDON: string = requireFromRoot('./scripts/test-addon.js').TEST_ADDON

/** The path of the test build; throws (failing the spec) if it was not built. */
export function testAddonPath(): string {
  if (!fs.existsSync(TEST_ADDON)) {
    throw new Error(`the test build of the addon is missing (${TEST_ADDON}): run \`npm run build:test\` (npm test builds it)`)
  }
  return TEST_ADDON
}

/** Environment entries that make a child process load the test build. */
export function testAddonEnv(): { NAPI_RS_NATIVE_LIBRARY_PATH: string } {
  return { NAPI_RS_NATIVE_LIBRARY_PATH: testAddonPath() }
}

/** One durability call of a flush, recorded after the real call returned. */
export interface DurabilityCall {
  /** `open`, `write`, `fdatasync`, `link`, `rename`, `unlink`, `fsync` (a directory), or `resolve` (the outcome handed to JS). */
  call: string
  path: string
  /** The new name, for `link` and `rename`. */
  to?: string | null
  /** The errno name if the call failed. */
  error?: string | null
}

/** The hooks only the test build exports. */
export interface TestHooks {
  traceDurability(on: boolean): void
  takeDurabilityTrace(): DurabilityCall[]
  /** V8's external-memory counter of this isolate. */
  v8ExternalMemory(): number
}
