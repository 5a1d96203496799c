/**
 * photon-write-buffer: the photondb page store's write buffer for Node.
 *
 * The package's one entry point: it only re-exports the public API from
 * `src/` (docs/ARCHITECTURE.md, "The TypeScript layer", says which module
 * holds what). Nothing inside `src/` imports this file.
 */
export type {
  ArenaMode,
  BufferRecord,
  FlushResult,
  Lane,
  PageAlloc,
  RecordHeader,
  ReleaseState,
  U64Like,
  WriteBufferHandle,
  WriterGuard,
} from './src/types.ts'
export { WriteBufferError, type WriteBufferErrorCode } from './src/errors.ts'
export {
  ALIGN,
  DEALLOC_PAGES,
  HEADER_SIZE,
  MAX_CAPACITY,
  MIN_CAPACITY,
  NORMAL_PAGE,
  TOMBSTONE,
  liveArenas,
  recordSize,
} from './src/constants.ts'
export { arenaMode } from './src/arena-mode.ts'
export { ArenaPool, type ArenaPoolStats } from './src/pool.ts'
export { arenaCacheStats, configureArenaCache, trimArenaCache, type ArenaCacheOptions, type ArenaCacheStats } from './src/arena-cache.ts'
export { WriteBuffer, type WriteBufferOptions } from './src/write-buffer.ts'
export { PageFile } from './src/page-file.ts'
export { PageLog } from './src/page-log/owner.ts'
export { PageLogWriter } from './src/page-log/writer.ts'
export type { PageLogOptions } from './src/page-log/options.ts'
export type { PageLogHandle } from './src/page-log/protocol.ts'
export type { PageLogStats, PageLogWriterStats } from './src/page-log/stats.ts'
