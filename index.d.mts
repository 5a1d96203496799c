// Types of the ESM entry (index.mjs): the same API as the CommonJS entry's
// index.d.ts, named exports plus the whole API as the default export, so
// that `import` resolves to ESM types for an ESM file (TypeScript's node16 /
// nodenext / bundler resolution; checked by `attw --pack` and publint).
import api = require('./index.js')

export * from './index.js'
export default api
