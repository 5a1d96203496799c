// Where the test build of the addon lives (`npm run build:test`: cargo
// feature `test-hooks`, with the fault switch, flush delay, simulated refusal
// of external buffers and durability trace). Never shipped: it is outside the
// package's `files` and named unlike the release `.node` files the loader
// looks for. The specs that need the hooks load it through
// NAPI_RS_NATIVE_LIBRARY_PATH (__test__/test-addon.ts).
'use strict'
const path = require('node:path')

const TEST_ADDON_DIR = path.resolve(__dirname, '..', 'target', 'test-addon')
const TEST_ADDON = path.join(TEST_ADDON_DIR, 'photon-write-buffer.node')

module.exports = { TEST_ADDON, TEST_ADDON_DIR }
