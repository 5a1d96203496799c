// ESM entry: the CommonJS build of index.ts, re-exported by name.
import api from './index.js'

export const {
  WriteBuffer,
  WriteBufferError,
  PageFile,
  PageLog,
  PageLogWriter,
  ArenaPool,
  recordSize,
  liveArenas,
  arenaCacheStats,
  configureArenaCache,
  trimArenaCache,
  arenaMode,
  HEADER_SIZE,
  ALIGN,
  NORMAL_PAGE,
  DEALLOC_PAGES,
  TOMBSTONE,
  MIN_CAPACITY,
  MAX_CAPACITY,
} = api
export default api
