/**
 * The public types of the buffer API (SPEC §2): what the classes take and
 * hand out. Types only: this module has no runtime code.
 */

/** `'flush'`: sealed and no writer left: flush it now. */
export type ReleaseState = 'none' | 'flush'

/** A page id or address: a `bigint`, or a non-negative safe-integer `number`. */
export type U64Like = bigint | number

/** The header of a record in the buffer. */
export interface RecordHeader {
  readonly kind: 'page' | 'dealloc'
  /** The page id; `0n` for a dealloc record. */
  readonly pageId: bigint
  /** Body bytes, before padding. */
  readonly pageSize: number
  readonly isTombstone: boolean
  /** Replaces the record's flags with `TOMBSTONE`: iteration and flushes skip it. */
  setTombstone(): void
  /** Sets the page id of a page record. */
  setPageId(pageId: U64Like): void
}

/** A reserved page: its address and a writable, zero-copy view of its body. */
export interface PageAlloc {
  readonly addr: bigint
  readonly page: Buffer
  readonly header: RecordHeader
}

/** A live record met by iteration. */
export type BufferRecord =
  | { readonly kind: 'page'; readonly addr: bigint; readonly pageId: bigint; readonly page: Buffer; readonly header: RecordHeader }
  | { readonly kind: 'dealloc'; readonly addr: bigint; readonly addrs: bigint[]; readonly header: RecordHeader }

/**
 * What `share()` returns: a plain, structured-cloneable object naming the
 * buffer; pass it to a worker (`postMessage`, `workerData`) and call
 * `WriteBuffer.attach(handle)` there.
 */
export interface WriteBufferHandle {
  readonly photonWriteBuffer: number
  readonly groupId: number
  readonly capacity: number
  /** `'js'` arena mode only: the arena itself (shared memory, not a copy). */
  readonly arena?: SharedArrayBuffer
  /** `'js'` arena mode only: where the arena starts in `arena` (16-byte alignment). */
  readonly arenaOffset?: number
}

/**
 * How arenas are exposed to JS (see docs/runtimes.md, "Electron and
 * runtimes without external buffers"): `'external'` (the default), Rust-owned memory
 * seen as external `ArrayBuffer`s; `'js'`, JS-owned `SharedArrayBuffer`s
 * whose memory the native side borrows, for runtimes that refuse external
 * buffers (Electron's V8 sandbox).
 */
export type ArenaMode = 'external' | 'js'

/** What `flushTo` resolves with. */
export interface FlushResult {
  /** The page file's absolute path. */
  readonly path: string
  /** Bytes in the file. */
  readonly bytes: number
  /** Records written (live pages and kept dealloc records). */
  readonly records: number
}

/**
 * A writer's private chunk of a buffer (`WriteBuffer#lane`): reserved with
 * one CAS that counts one writer; `allocPage` then bump-allocates inside it
 * without touching the shared state word. `close()` (or `using`) covers the
 * unused tail with a tombstone filler record and releases the writer.
 */
export interface Lane extends Disposable {
  /** Free bytes left in the lane. */
  readonly remaining: number
  readonly isClosed: boolean
  /** A page record in the lane; `ERR_AGAIN` when it does not fit what is left: close the lane and take another. */
  allocPage(pageId: U64Like, pageSize: number): PageAlloc
  /**
   * As `allocPage`, but `null` instead of `ERR_AGAIN` when the page does not
   * fit: the fast way to detect a full lane in a loop (throwing costs
   * microseconds).
   */
  tryAllocPage(pageId: U64Like, pageSize: number): PageAlloc | null
  /** Writes the filler, releases the writer. `ERR_CLOSED` the second time. */
  close(): ReleaseState
}

/**
 * One writer in progress (`WriteBuffer#acquire`): the buffer cannot become
 * flushable until it is released. `release()` or `using` releases it once;
 * a second `release()` throws `ERR_CLOSED` instead of releasing another
 * writer's count.
 */
export interface WriterGuard extends Disposable {
  readonly isReleased: boolean
  /** `allocPage(pageId, pageSize, false)`: covered by this guard's writer. */
  allocPage(pageId: U64Like, pageSize: number): PageAlloc
  /** `deallocPages(addrs, false)`: covered by this guard's writer. */
  deallocPages(addrs: readonly U64Like[] | BigUint64Array): RecordHeader
  release(): ReleaseState
}
