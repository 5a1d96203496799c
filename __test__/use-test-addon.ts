// Import this FIRST in a spec that needs the test hooks (fault switch, flush
// delay, simulated refusal, durability trace): it points the generated
// loader at the test build of the addon (NAPI_RS_NATIVE_LIBRARY_PATH) before
// anything else loads the addon, for this process and the children it
// starts, and fails the spec if that build is missing or has no hooks.
// ES modules run in import order, so the specs' own imports of index.ts
// come after this.
import { requireFromRoot, testAddonPath, type TestHooks } from './test-addon.ts'

process.env.NAPI_RS_NATIVE_LIBRARY_PATH = testAddonPath()
const native = requireFromRoot('./load-binding.js') as Partial<TestHooks>
if (typeof native.traceDurability !== 'function' || typeof native.takeDurabilityTrace !== 'function') {
  throw new Error(`${process.env.NAPI_RS_NATIVE_LIBRARY_PATH} is not the test build of the addon (no test hooks)`)
}

/** The test build's hooks (the addon this process loaded). */
export const hooks = native as TestHooks
