/** Options of {@link PageLog.open}. */
export interface PageLogOptions {
    /** Capacity of each write buffer: a power of two in [16, 2^31]. Default 4 MiB. */
    bufferSize?: number;
    /** Unflushed buffers at most (the active one included), ≥ 1. Default 8. */
    maxBuffers?: number;
    /**
     * What `open` does with a page file that fails validation: `'reject'`
     * (default) rejects with `ERR_CORRUPT` naming the file; `'quarantine'`
     * renames it to `<name>.corrupt` and goes on without it.
     */
    onCorrupt?: 'reject' | 'quarantine';
    /** Page files kept open (in memory) for reads, least recently used evicted. Default 16. */
    maxOpenFiles?: number;
}
/** Counters of a {@link PageLog} (a snapshot). */
export interface PageLogStats {
    /** Pages appended (addresses handed out). */
    readonly appends: number;
    /** Appends that had to wait for a flush (returned a `Promise`). */
    readonly stalls: number;
    /** Buffers flushed to page files by this log. */
    readonly flushes: number;
    /** Background flushes that failed (each is retried by the next `flush()`/`close()`). */
    readonly flushErrors: number;
    /** Unflushed buffers now (active + sealed and not yet durable). */
    readonly buffers: number;
    /** The most unflushed buffers there ever were at once (never above `maxBuffers`). */
    readonly peakBuffers: number;
    /** Page files found by recovery (quarantined ones excluded). */
    readonly recoveredFiles: number;
    /** Page files renamed to `.corrupt` by recovery. */
    readonly quarantined: number;
    /** Arenas allocated fresh for buffers (at most `maxBuffers` while the garbage collector keeps up: flushed arenas are reused). */
    readonly arenasCreated: number;
    /** Buffers that reused the arena of a flushed one (already faulted in). */
    readonly arenasReused: number;
}
type Writer = (view: Buffer) => void;
/**
 * What `PageLog#share()` returns: a plain, structured-cloneable object
 * (`workerData`, `postMessage`) for `PageLog.attach(handle)` in a worker.
 */
export interface PageLogHandle {
    /** The name of the log's BroadcastChannel. */
    readonly photonPageLog: string;
    /** The control words: the active buffer, its generation, closed/failed flags. */
    readonly control: SharedArrayBuffer;
    readonly dir: string;
    readonly bufferSize: number;
}
/** Counters of a {@link PageLogWriter} (a snapshot). */
export interface PageLogWriterStats {
    /** Pages appended through this writer. */
    readonly appends: number;
    /** Appends that had to wait (for the next buffer, or for a flush to free one). */
    readonly stalls: number;
}
/**
 * A log of pages over consecutive write buffers and their page files: see the
 * module comment for the loop, the README for the contract.
 */
export declare class PageLog {
    #private;
    /** The directory of the page files (absolute). */
    readonly dir: string;
    readonly bufferSize: number;
    readonly maxBuffers: number;
    private constructor();
    /**
     * Opens (creating it if missing) the log in `dir` and recovers its page
     * files: stale temp files of an interrupted flush (`.<name>.tmp-…`) are
     * deleted; every `<groupId>.page` is validated in group order (a corrupt
     * one rejects with `ERR_CORRUPT` naming it, or is renamed to
     * `<name>.corrupt` with `onCorrupt: 'quarantine'`); the index
     * page id → latest address is rebuilt; appends continue with the group
     * after the last file.
     */
    static open(dir: string, opts?: PageLogOptions): Promise<PageLog>;
    /**
     * Appends one page and returns its address: a `bigint` when it fits
     * without waiting, a `Promise<bigint>` when every buffer was in use and it
     * waited for a flush. `data` is copied in, or, as a function, is called
     * with the zero-copy view of `size` bytes (it must fill the view before
     * returning; if it throws, the record is tombstoned and the error thrown).
     * A waiting append copies `data` first, and calls a writer later.
     */
    append(pageId: bigint | number, data: Uint8Array | Writer, size?: number): bigint | Promise<bigint>;
    /**
     * Resolves once every page appended before the call is in a durable page
     * file (it seals the active buffer if it holds anything), appends that
     * were waiting for room at the time of the call included. If a background
     * flush failed, this retries it from the same buffer: it resolves if the
     * retry succeeds, and rejects with the error (`code` errno name, `path`)
     * if it fails again.
     */
    flush(): Promise<void>;
    /**
     * Flushes everything (appends still waiting for room included), then
     * forgets the buffers and page files: later calls throw `ERR_CLOSED`.
     * `close()` again returns the same promise; if the flush failed, `close()`
     * again retries it.
     */
    close(): Promise<void>;
    /**
     * A structured-cloneable handle for `PageLog.attach(handle)` in worker
     * threads: their appends go into this log's buffers (disjoint records,
     * one CAS each), and this log (the owner, on this thread) rotates,
     * flushes and indexes them. The owner's event loop must run for writers
     * to move to a new buffer or flush; reads stay on the owner.
     */
    share(): PageLogHandle;
    /** A writer for a log shared by `share()` (in any thread, usually a worker). */
    static attach(handle: PageLogHandle): PageLogWriter;
    /**
     * The page at `addr`: a `Buffer` at once when its buffer is in memory
     * (a copy: the arena is reused once the buffer is flushed) or its page
     * file is open (a zero-copy view of the file's bytes), a
     * `Promise<Buffer>` when the file must be opened. Views are read-only by
     * contract. `ERR_INVALID_ADDR` (thrown, or rejected after an open) for an
     * address that is no live page.
     */
    read(addr: bigint | number): Buffer | Promise<Buffer>;
    /** The latest address of `pageId` (appended by this log or recovered), if any. */
    addressOf(pageId: bigint | number): bigint | undefined;
    /** Page ids with an address. */
    get pageCount(): number;
    /** The group id the next installed buffer gets. */
    get nextGroupId(): number;
    get isClosed(): boolean;
    get stats(): PageLogStats;
}
/**
 * Appends into a {@link PageLog} owned by another thread (see
 * `PageLog#share()`): `PageLog.attach(handle)`. Same `append` shapes as the
 * log's: a `bigint` address when the active buffer has room, a
 * `Promise<bigint>` when it had to wait for the owner to install the next
 * buffer (or for a flush to free one); this writer's appends keep their
 * order. `flush()` asks the owner to flush and resolves once every page
 * appended through this writer before the call is durable.
 */
export declare class PageLogWriter {
    #private;
    readonly dir: string;
    readonly bufferSize: number;
    constructor(handle: PageLogHandle);
    get stats(): PageLogWriterStats;
    get isClosed(): boolean;
    /**
     * Appends one page: `data` copied in, or a writer callback filling the
     * zero-copy view of `size` bytes before it returns. Returns the address,
     * or a `Promise` of it when the append had to wait.
     */
    append(pageId: bigint | number, data: Uint8Array | Writer, size?: number): bigint | Promise<bigint>;
    /**
     * Resolves once every page appended through this writer before the call
     * (waiting appends included) is durable: the owner flushes its log.
     */
    flush(): Promise<void>;
    /** Lets go of the attached buffer and the channel. Appends must have settled. */
    close(): void;
    [Symbol.dispose](): void;
}
export {};
