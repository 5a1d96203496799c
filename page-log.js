"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.PageLogWriter = exports.PageLog = void 0;
/**
 * PageLog (SPEC §7): the loop around the write buffers, as the photondb page
 * store drives them.
 *
 * - One active `WriteBuffer`. `append` reserves a page record in it (one CAS,
 *   counting one writer), copies the data in (or hands the zero-copy view to
 *   a writer callback), releases the writer and returns the page's address.
 * - On `ERR_AGAIN` (buffer full) the appender seals the active buffer and
 *   installs the next one, `groupId + 1`: group ids are consecutive.
 * - A buffer whose `seal()`/last `releaseWriter()` says `'flush'` is queued;
 *   one background job flushes the queue in group-id order, one buffer at a
 *   time, to `<dir>/<groupId>.page`. Once its file is durable the buffer
 *   leaves memory and its pages are read from the file, at the same address.
 * - At most `maxBuffers` buffers are unflushed (the active one included):
 *   when all are used, `append` waits for a flush (it returns a `Promise`).
 * - `open` on an existing directory recovers the page files: it validates
 *   every file, builds the index page id → latest address, and continues
 *   with the group after the last file.
 *
 * Sync/async shapes (documented in the README):
 * - `append` returns the `bigint` address synchronously when the page fits
 *   without waiting (the fast path), and a `Promise<bigint>` when it had to
 *   wait for a flush to free a buffer. Argument errors and
 *   `ERR_TOO_LARGE_SIZE` / `ERR_CLOSED` always throw synchronously.
 * - `read` returns a `Buffer` synchronously when the page is in memory or its
 *   page file is already open, and a `Promise<Buffer>` when the file must be
 *   opened first. An address of no known group throws `ERR_INVALID_ADDR`
 *   synchronously; one that is not a page of its file rejects with it.
 */
const node_fs_1 = __importDefault(require("node:fs"));
const node_path_1 = __importDefault(require("node:path"));
const node_worker_threads_1 = require("node:worker_threads");
const index_ts_1 = require("./index.js");
const args_ts_1 = require("./args.js");
const native = __importStar(require("./load-binding.js"));
// Control words of a shared log (Int32Array over `PageLogHandle.control`).
/** Bumped (and broadcast) every time the active buffer changes. */
const C_GEN = 0;
/** Share id of the active buffer; 0 when none (every buffer in use, or closed). */
const C_ACTIVE = 1;
/** 1 once the log is closing: appends throw `ERR_CLOSED`. */
const C_CLOSED = 2;
const C_WORDS = 4;
let nextLogId = 1;
const PAGE_FILE = /^(\d+)\.page$/;
const TEMP_FILE = /^\..*\.tmp-/;
/** An `Error` with a `code` (an errno name, or the owner's error code). */
function withCode(err, code) {
    ;
    err.code = code;
    return err;
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function keyOf(id) {
    return typeof id === 'number' || id > MAX_SAFE ? id : Number(id);
}
/** Checks a page id (Node's errors) and returns it as a key (see `Key`). */
function checkPageId(value) {
    if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && value >= 0)
            return value;
    }
    else if (typeof value === 'bigint') {
        if (value >= 0n && value <= args_ts_1.U64_MAX)
            return value > MAX_SAFE ? value : Number(value);
    }
    return (0, args_ts_1.toU64)('pageId', value); // throws Node's TypeError/RangeError
}
/**
 * Checks the `data` and `size` arguments of an `append` (Node's errors, and
 * `ERR_TOO_LARGE_SIZE` when no buffer of `bufferSize` can hold the page);
 * returns the page size.
 */
function checkPageData(what, bufferSize, data, size) {
    let n;
    if (typeof data === 'function') {
        if (size === undefined) {
            throw (0, args_ts_1.invalidType)('size', 'of type number with a writer callback', size);
        }
        n = (0, args_ts_1.checkInt)('size', size, (v) => v >= 0 && v <= args_ts_1.U32_MAX, 'an integer in [0, 2^32 - 1]');
    }
    else if (data instanceof Uint8Array) {
        n = data.byteLength;
        if (size !== undefined && size !== n) {
            throw (0, args_ts_1.outOfRange)('size', `data.byteLength (${n})`, size);
        }
    }
    else {
        throw (0, args_ts_1.invalidType)('data', 'a Uint8Array or a function', data);
    }
    if ((0, index_ts_1.recordSize)(n) > bufferSize) {
        throw new index_ts_1.WriteBufferError('ERR_TOO_LARGE_SIZE', `${what}: a ${n}-byte page can never fit a ${bufferSize}-byte buffer`);
    }
    return n;
}
/**
 * Runs a writer callback on a page reserved under a writer count, then
 * `release`s that writer; a callback that throws gets its record
 * tombstoned (never flushed, never indexed) and its error passed on.
 */
function fillWith(alloc, writer, release) {
    try {
        writer(alloc.page);
    }
    catch (err) {
        alloc.header.setTombstone();
        release();
        throw err;
    }
    release();
    return alloc.addr;
}
/** Locks `dir` for this log: `ERR_LOCKED` when another PageLog (here or in another process) has it open. */
function lockDir(dir) {
    try {
        return new native.NativeDirLock(dir);
    }
    catch (err) {
        if (isCode(err, 'ERR_LOCKED')) {
            throw new index_ts_1.WriteBufferError('ERR_LOCKED', `PageLog.open: ${dir} is open in another PageLog (this process or another one holds ${node_path_1.default.join(dir, 'LOCK')}); close that one first`);
        }
        throw err;
    }
}
function isCode(err, code) {
    return err instanceof Error && err.code === code;
}
/**
 * A log of pages over consecutive write buffers and their page files: see the
 * module comment for the loop, the README for the contract.
 */
class PageLog {
    /** The directory of the page files (absolute). */
    dir;
    bufferSize;
    maxBuffers;
    #maxOpenFiles;
    /** Arenas of flushed buffers, reused by the next ones (at most `maxBuffers`). */
    #pool;
    /** The directory's lock (`<dir>/LOCK`), held from open to close. */
    #lock;
    /** The buffer appends go to; `null` until the next append installs one. */
    #active = null;
    #nextGroup;
    /** Every unflushed buffer (active + sealed), by group id. */
    #live = new Map();
    /** Sealed, not yet flushed, in group order (= seal order). */
    #sealed = [];
    /** Sealed groups with no writer left: the flush job may take them. */
    #ready = new Set();
    /** Every group ≤ this one is on disk (or was never used). */
    #flushedUpTo;
    /** Groups with a page file. */
    #files = new Set();
    /** Open page files for reads (LRU order: oldest first), or their pending open. */
    #cache = new Map();
    /** Page id → latest address, and its inverse for the addresses it holds. */
    // Keys are page ids as numbers when they are safe integers (a Map hashes
    // those far faster than bigints), else as bigints: see `keyOf`.
    #index = new Map();
    /** Address → key: built only when a dealloc record is met (recovery), then kept up to date. */
    #owner = null;
    #stalled = [];
    /** Sequence numbers of waiting appends: the last given out, the last settled. */
    #stallSeq = 0;
    #settledSeq = 0;
    #waiters = [];
    #flushing = false;
    /** The last background flush error, kept until `flush()`/`close()` retries. */
    #error = null;
    #closed = false;
    #closing = null;
    /** Set by `share()`: the channel and control words that worker writers use. */
    #shared = null;
    /** The handle of the active buffer, once shared (null: none). */
    #activeHandle = null;
    #appends = 0;
    #stalls = 0;
    #flushes = 0;
    #flushErrors = 0;
    #peakBuffers = 0;
    #recoveredFiles = 0;
    #quarantined = 0;
    constructor(dir, lock, bufferSize, maxBuffers, maxOpenFiles, nextGroup) {
        this.dir = dir;
        this.#lock = lock;
        this.bufferSize = bufferSize;
        this.maxBuffers = maxBuffers;
        this.#maxOpenFiles = maxOpenFiles;
        this.#pool = new index_ts_1.ArenaPool(bufferSize, maxBuffers);
        this.#nextGroup = nextGroup;
        this.#flushedUpTo = nextGroup - 1;
    }
    /**
     * Opens (creating it if missing) the log in `dir` and recovers its page
     * files: stale temp files of an interrupted flush (`.<name>.tmp-…`) are
     * deleted; every `<groupId>.page` is validated in group order (a corrupt
     * one rejects with `ERR_CORRUPT` naming it, or is renamed to
     * `<name>.corrupt` with `onCorrupt: 'quarantine'`); the index
     * page id → latest address is rebuilt; appends continue with the group
     * after the last file.
     */
    static async open(dir, opts = {}) {
        if (typeof dir !== 'string') {
            throw (0, args_ts_1.invalidType)('dir', 'of type string', dir);
        }
        if (opts === null || typeof opts !== 'object') {
            throw (0, args_ts_1.invalidType)('opts', 'of type object', opts);
        }
        const bufferSize = (0, args_ts_1.checkInt)('bufferSize', opts.bufferSize ?? 1 << 22, (n) => n >= 16 && n <= 2 ** 31 && 2 ** Math.round(Math.log2(n)) === n, 'a power of two in [16, 2^31]');
        const maxBuffers = (0, args_ts_1.checkInt)('maxBuffers', opts.maxBuffers ?? 8, (n) => n >= 1, '>= 1');
        const maxOpenFiles = (0, args_ts_1.checkInt)('maxOpenFiles', opts.maxOpenFiles ?? 16, (n) => n >= 1, '>= 1');
        const onCorrupt = opts.onCorrupt ?? 'reject';
        if (onCorrupt !== 'reject' && onCorrupt !== 'quarantine') {
            throw (0, args_ts_1.invalidValue)('opts.onCorrupt', "'reject' or 'quarantine'", onCorrupt);
        }
        const full = node_path_1.default.resolve(dir);
        await node_fs_1.default.promises.mkdir(full, { recursive: true });
        const lock = lockDir(full);
        try {
            return await PageLog.#recoverDir(full, lock, bufferSize, maxBuffers, maxOpenFiles, onCorrupt);
        }
        catch (err) {
            lock.release();
            throw err;
        }
    }
    static async #recoverDir(full, lock, bufferSize, maxBuffers, maxOpenFiles, onCorrupt) {
        const groups = [];
        for (const name of await node_fs_1.default.promises.readdir(full)) {
            if (TEMP_FILE.test(name)) {
                await node_fs_1.default.promises.rm(node_path_1.default.join(full, name), { force: true });
                continue;
            }
            const m = PAGE_FILE.exec(name);
            if (m === null)
                continue;
            const g = Number(m[1]);
            if (g <= args_ts_1.U32_MAX && String(g) === m[1])
                groups.push(g);
        }
        groups.sort((a, b) => a - b);
        const last = groups.length === 0 ? 0 : groups[groups.length - 1];
        const log = new PageLog(full, lock, bufferSize, maxBuffers, maxOpenFiles, last + 1);
        for (const g of groups) {
            const file = node_path_1.default.join(full, `${g}.page`);
            let pf;
            try {
                pf = await index_ts_1.PageFile.open(file);
                if (pf.groupId !== g) {
                    pf.close();
                    throw new index_ts_1.WriteBufferError('ERR_CORRUPT', `holds group ${pf.groupId}, not ${g}`);
                }
            }
            catch (err) {
                if (!(err instanceof index_ts_1.WriteBufferError) || err.code !== 'ERR_CORRUPT')
                    throw err;
                if (onCorrupt === 'quarantine') {
                    await node_fs_1.default.promises.rename(file, `${file}.corrupt`);
                    log.#quarantined++;
                    continue;
                }
                const e = new index_ts_1.WriteBufferError('ERR_CORRUPT', `PageLog.open: corrupt page file ${file}: ${err.message}`);
                e.path = file;
                e.cause = err;
                throw e;
            }
            log.#recover(pf);
        }
        return log;
    }
    /** Indexes one recovered file (files come in group order, records in buffer order). */
    #recover(pf) {
        const g = pf.groupId;
        for (const r of pf.records()) {
            if (r.kind === 'page')
                this.#setLatest(keyOf(r.pageId), r.addr);
            else
                for (const a of r.addrs)
                    this.#forget(a);
        }
        this.#files.add(g);
        this.#recoveredFiles++;
        this.#remember(g, pf);
    }
    #setLatest(key, addr, onlyIfLater = false) {
        const owner = this.#owner;
        if (onlyIfLater || owner !== null) {
            const old = this.#index.get(key);
            if (onlyIfLater && old !== undefined && old >= addr)
                return;
            if (owner !== null) {
                if (old !== undefined)
                    owner.delete(old);
                owner.set(addr, key);
            }
        }
        this.#index.set(key, addr);
    }
    /** A dealloc record frees `addr`: the page id whose latest address it is loses its entry. */
    #forget(addr) {
        let owner = this.#owner;
        if (owner === null) {
            owner = new Map();
            for (const [key, a] of this.#index)
                owner.set(a, key);
            this.#owner = owner;
        }
        const key = owner.get(addr);
        if (key === undefined)
            return;
        owner.delete(addr);
        this.#index.delete(key);
    }
    // -------------------------------------------------------------------------
    // Appends
    /**
     * Appends one page and returns its address: a `bigint` when it fits
     * without waiting, a `Promise<bigint>` when every buffer was in use and it
     * waited for a flush. `data` is copied in, or, as a function, is called
     * with the zero-copy view of `size` bytes (it must fill the view before
     * returning; if it throws, the record is tombstoned and the error thrown).
     * A waiting append copies `data` first, and calls a writer later.
     */
    append(pageId, data, size) {
        this.#checkOpen('append');
        const id = checkPageId(pageId);
        const n = checkPageData('PageLog.append', this.bufferSize, data, size);
        if (this.#stalled.length === 0) {
            const addr = this.#tryAppend(id, data, n);
            if (addr !== null)
                return addr;
        }
        // Every buffer is in use: wait for a flush (behind earlier waiters).
        if (this.#error !== null)
            return Promise.reject(this.#error);
        this.#stalls++;
        const kept = typeof data === 'function' ? data : Buffer.from(data);
        return new Promise((resolve, reject) => {
            this.#stalled.push({ seq: ++this.#stallSeq, pageId: id, data: kept, size: n, resolve, reject });
        });
    }
    /** Appends into the active buffer, rotating when full; `null` when no buffer may be installed. */
    #tryAppend(pageId, data, size) {
        for (;;) {
            let wb = this.#active;
            if (wb === null) {
                if (!this.#install())
                    return null;
                wb = this.#active;
            }
            // Bytes: one reservation and a copy, no writer count. Only this
            // thread flushes, and nothing between the reservation and the end of
            // the copy yields to it. A writer callback is user code (it could
            // call flush()): it runs under a writer count.
            let alloc = null;
            let addr = 0n;
            try {
                if (typeof data === 'function')
                    alloc = wb.allocPage(pageId, size, true);
                else
                    addr = wb.writePage(pageId, data, false);
            }
            catch (err) {
                if (!isCode(err, 'ERR_AGAIN'))
                    throw err;
                if (wb.isEmpty)
                    throw err; // cannot happen: the size was checked against the capacity
                this.#sealActive();
                continue;
            }
            if (alloc !== null)
                addr = fillWith(alloc, data, () => this.#release(wb));
            this.#setLatest(pageId, addr);
            this.#appends++;
            return addr;
        }
    }
    #release(wb) {
        if (wb.releaseWriter() === 'flush')
            this.#markReady(wb);
    }
    /** Installs the next buffer (`groupId + 1`) if fewer than `maxBuffers` are unflushed. */
    #install() {
        if (this.#live.size >= this.maxBuffers)
            return false;
        if (this.#nextGroup > args_ts_1.U32_MAX)
            throw new RangeError('PageLog: group ids exhausted (2^32 - 1)');
        const wb = new index_ts_1.WriteBuffer(this.#nextGroup++, this.bufferSize, { pool: this.#pool });
        this.#live.set(wb.groupId, wb);
        this.#active = wb;
        if (this.#live.size > this.#peakBuffers)
            this.#peakBuffers = this.#live.size;
        if (this.#shared !== null)
            this.#publish();
        return true;
    }
    /**
     * Shared log: tells the writers which buffer is active now (none when
     * `#active` is null) and wakes those waiting for one.
     */
    #publish() {
        const sh = this.#shared;
        if (sh === null)
            return;
        const wb = this.#active;
        const handle = wb === null ? null : wb.share();
        this.#activeHandle = handle;
        Atomics.store(sh.control, C_ACTIVE, handle === null ? 0 : handle.photonWriteBuffer);
        Atomics.add(sh.control, C_GEN, 1);
        // The handle rides along: in the 'js' arena mode it carries the arena's
        // SharedArrayBuffer, which attach needs.
        sh.channel.postMessage({ type: 'installed', handle });
    }
    /** Shared log: the writers wait for a buffer: install one as soon as there is room. */
    #installEagerly() {
        if (this.#shared !== null && this.#active === null && !this.#closed && this.#error === null)
            this.#install();
    }
    /** Seals the active buffer and queues it for the flush; the next append installs a new one. */
    #sealActive() {
        const wb = this.#active;
        if (wb === null)
            return;
        this.#active = null;
        if (this.#shared !== null) {
            this.#publish();
            this.#installEagerly();
        }
        this.#sealed.push(wb);
        let state;
        try {
            state = wb.seal();
        }
        catch (err) {
            // Already sealed (only through the buffer itself, never by this log):
            // it is flushable once its writers release it.
            if (!isCode(err, 'ERR_AGAIN'))
                throw err;
            state = wb.isFlushable ? 'flush' : 'none';
        }
        if (state === 'flush')
            this.#markReady(wb);
    }
    #markReady(wb) {
        this.#ready.add(wb.groupId);
        this.#pump();
    }
    // -------------------------------------------------------------------------
    // The flush job
    /** Starts flushing the oldest sealed buffer if it is ready and nothing else runs. */
    #pump() {
        if (this.#flushing || this.#error !== null)
            return;
        const wb = this.#sealed[0];
        if (wb === undefined || !this.#ready.has(wb.groupId))
            return;
        this.#flushing = true;
        void this.#flushOne(wb);
    }
    async #flushOne(wb) {
        const g = wb.groupId;
        // Worker writers' pages are indexed here, from the records (a page's
        // latest address is its highest one).
        if (this.#shared !== null)
            for (const r of wb.records())
                if (r.kind === 'page')
                    this.#setLatest(keyOf(r.pageId), r.addr, true);
        try {
            await wb.flushTo(this.#pathOf(g));
        }
        catch (err) {
            this.#flushing = false;
            this.#fail(err);
            return;
        }
        this.#flushing = false;
        this.#sealed.shift();
        this.#ready.delete(g);
        this.#live.delete(g);
        // Its pages are read from the file now: give the arena back to the pool.
        wb.dispose();
        this.#files.add(g);
        this.#flushedUpTo = g;
        this.#flushes++;
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
            const w = this.#waiters[i];
            if (w.target <= g) {
                this.#waiters.splice(i, 1);
                w.resolve();
            }
        }
        this.#drain();
        this.#installEagerly();
        this.#pump();
    }
    /** A flush failed: keep the buffer queued, stop, tell every waiter. */
    #fail(err) {
        this.#error = err;
        this.#flushErrors++;
        this.#shared?.channel.postMessage({
            type: 'failed',
            message: err instanceof Error ? err.message : String(err),
            code: err.code,
        });
        for (const w of this.#waiters.splice(0))
            w.reject(err);
        for (const s of this.#stalled.splice(0))
            s.reject(err);
        this.#settledSeq = this.#stallSeq;
    }
    /** Appends that waited for room, in order, while room exists. */
    #drain() {
        while (this.#stalled.length > 0) {
            const s = this.#stalled[0];
            let addr;
            try {
                addr = this.#tryAppend(s.pageId, s.data, s.size);
            }
            catch (err) {
                this.#stalled.shift();
                this.#settledSeq = s.seq;
                s.reject(err);
                continue;
            }
            if (addr === null)
                return;
            this.#stalled.shift();
            this.#settledSeq = s.seq;
            s.resolve(addr);
        }
    }
    #pathOf(g) {
        return node_path_1.default.join(this.dir, `${g}.page`);
    }
    /**
     * Seals the active buffer if it holds anything and waits until every
     * buffer up to it is durable. Clears a kept flush error, so the job retries.
     */
    #flushAll() {
        if (this.#active !== null && !this.#active.isEmpty)
            this.#sealActive();
        const last = this.#sealed[this.#sealed.length - 1];
        const target = last === undefined ? this.#flushedUpTo : last.groupId;
        if (target <= this.#flushedUpTo)
            return Promise.resolve();
        this.#error = null;
        const done = new Promise((resolve, reject) => {
            this.#waiters.push({ target, resolve, reject });
        });
        this.#pump();
        return done;
    }
    /**
     * Waits until every append made so far (waiting ones included: the
     * `append` calls up to waiting append `want`) is durable.
     */
    async #flushThrough(want) {
        for (;;) {
            // Once every waiting append up to `want` has its address, one more
            // round seals the buffer they went to and waits for it.
            const settled = this.#settledSeq >= want;
            await this.#flushAll();
            if (settled)
                return;
        }
    }
    /**
     * Resolves once every page appended before the call is in a durable page
     * file (it seals the active buffer if it holds anything), appends that
     * were waiting for room at the time of the call included. If a background
     * flush failed, this retries it from the same buffer: it resolves if the
     * retry succeeds, and rejects with the error (`code` errno name, `path`)
     * if it fails again.
     */
    async flush() {
        this.#checkOpen('flush');
        await this.#flushThrough(this.#stallSeq);
    }
    /**
     * Flushes everything (appends still waiting for room included), then
     * forgets the buffers and page files: later calls throw `ERR_CLOSED`.
     * `close()` again returns the same promise; if the flush failed, `close()`
     * again retries it.
     */
    close() {
        if (this.#closing !== null)
            return this.#closing;
        this.#closed = true;
        const sh = this.#shared;
        if (sh !== null) {
            Atomics.store(sh.control, C_CLOSED, 1);
            sh.channel.postMessage({ type: 'closed' });
        }
        const closing = this.#closeAll().then(() => {
            // Only the active buffer can be left, empty: the rest were flushed.
            for (const wb of this.#live.values())
                wb.dispose();
            this.#pool.close();
            this.#lock.release();
            if (sh !== null) {
                Atomics.store(sh.control, C_ACTIVE, 0);
                sh.channel.close();
            }
            this.#active = null;
            this.#live.clear();
            for (const c of this.#cache.values())
                if (c instanceof index_ts_1.PageFile)
                    c.close();
            this.#cache.clear();
        }, (err) => {
            this.#closing = null;
            throw err;
        });
        this.#closing = closing;
        return closing;
    }
    async #closeAll() {
        // No append starts once closed: every waiting one is up to #stallSeq.
        await this.#flushThrough(this.#stallSeq);
    }
    // -------------------------------------------------------------------------
    // Sharing with worker threads
    /**
     * A structured-cloneable handle for `PageLog.attach(handle)` in worker
     * threads: their appends go into this log's buffers (disjoint records,
     * one CAS each), and this log (the owner, on this thread) rotates,
     * flushes and indexes them. The owner's event loop must run for writers
     * to move to a new buffer or flush; reads stay on the owner.
     */
    share() {
        this.#checkOpen('share');
        if (this.#shared === null) {
            const name = `photon-write-buffer:page-log:${process.pid}:${nextLogId++}:${Math.random().toString(36).slice(2)}`;
            const control = new Int32Array(new SharedArrayBuffer(C_WORDS * 4));
            const channel = new node_worker_threads_1.BroadcastChannel(name);
            // The owner listens without keeping the process alive by itself.
            channel.unref();
            channel.onmessage = (ev) => this.#onMessage(ev.data);
            const handle = { photonPageLog: name, control: control.buffer, dir: this.dir, bufferSize: this.bufferSize };
            this.#shared = { channel, control, handle };
            if (this.#active === null)
                this.#install();
            else
                this.#publish();
        }
        return this.#shared.handle;
    }
    /** A writer for a log shared by `share()` (in any thread, usually a worker). */
    static attach(handle) {
        return new PageLogWriter(handle);
    }
    #onMessage(m) {
        if (m.type === 'look')
            this.#look(m.group);
        else if (m.type === 'need')
            this.#shared?.channel.postMessage({ type: 'installed', handle: this.#activeHandle });
        else if (m.type === 'flush') {
            const reply = (error) => this.#shared?.channel.postMessage({ type: 'flushed', to: m.from, req: m.req, error });
            const flushing = this.#closing ?? (this.#closed ? Promise.resolve() : this.flush());
            flushing.then(() => reply(), (err) => reply({ message: err instanceof Error ? err.message : String(err), code: err.code }));
        }
    }
    /** A writer sealed group `g`, or released its last writer. */
    #look(g) {
        const wb = this.#live.get(g);
        if (wb === undefined)
            return;
        if (wb === this.#active) {
            if (wb.isSealed)
                this.#sealActive(); // sealed by a writer: rotate
            return;
        }
        if (!this.#ready.has(g) && wb.isFlushable)
            this.#markReady(wb);
    }
    // -------------------------------------------------------------------------
    // Reads
    /**
     * The page at `addr`: a `Buffer` at once when its buffer is in memory
     * (a copy: the arena is reused once the buffer is flushed) or its page
     * file is open (a zero-copy view of the file's bytes), a
     * `Promise<Buffer>` when the file must be opened. Views are read-only by
     * contract. `ERR_INVALID_ADDR` (thrown, or rejected after an open) for an
     * address that is no live page.
     */
    read(addr) {
        this.#checkOpen('read');
        const a = (0, args_ts_1.toU64)('addr', addr);
        const g = Number(a >> 32n);
        const wb = this.#live.get(g);
        if (wb !== undefined)
            return Buffer.from(wb.page(a));
        if (!this.#files.has(g)) {
            throw new index_ts_1.WriteBufferError('ERR_INVALID_ADDR', `PageLog.read(${a}): no buffer or page file of group ${g}`);
        }
        const cached = this.#cache.get(g);
        if (cached instanceof index_ts_1.PageFile) {
            this.#cache.delete(g);
            this.#cache.set(g, cached);
            return cached.page(a);
        }
        return (cached ?? this.#openFile(g)).then((pf) => pf.page(a));
    }
    #openFile(g) {
        const opening = index_ts_1.PageFile.open(this.#pathOf(g)).then((pf) => {
            if (this.#cache.get(g) === opening)
                this.#remember(g, pf);
            return pf;
        }, (err) => {
            if (this.#cache.get(g) === opening)
                this.#cache.delete(g);
            throw err;
        });
        this.#cache.set(g, opening);
        return opening;
    }
    /** Caches an open file, evicting (closing) the least recently used open ones. */
    #remember(g, pf) {
        this.#cache.delete(g);
        this.#cache.set(g, pf);
        if (this.#cache.size <= this.#maxOpenFiles)
            return;
        for (const [k, v] of this.#cache) {
            if (this.#cache.size <= this.#maxOpenFiles)
                break;
            if (v instanceof index_ts_1.PageFile && k !== g) {
                this.#cache.delete(k);
                v.close();
            }
        }
    }
    // -------------------------------------------------------------------------
    // Introspection
    /** The latest address of `pageId` (appended by this log or recovered), if any. */
    addressOf(pageId) {
        return this.#index.get(keyOf(checkPageId(pageId)));
    }
    /** Page ids with an address. */
    get pageCount() {
        return this.#index.size;
    }
    /** The group id the next installed buffer gets. */
    get nextGroupId() {
        return this.#nextGroup;
    }
    get isClosed() {
        return this.#closed;
    }
    get stats() {
        const pool = this.#pool.stats;
        return {
            appends: this.#appends,
            stalls: this.#stalls,
            flushes: this.#flushes,
            flushErrors: this.#flushErrors,
            buffers: this.#live.size,
            peakBuffers: this.#peakBuffers,
            recoveredFiles: this.#recoveredFiles,
            quarantined: this.#quarantined,
            arenasCreated: pool.created,
            arenasReused: pool.reused,
        };
    }
    #checkOpen(what) {
        if (this.#closed)
            throw new index_ts_1.WriteBufferError('ERR_CLOSED', `PageLog.${what}: the log is closed`);
    }
}
exports.PageLog = PageLog;
/**
 * Appends into a {@link PageLog} owned by another thread (see
 * `PageLog#share()`): `PageLog.attach(handle)`. Same `append` shapes as the
 * log's: a `bigint` address when the active buffer has room, a
 * `Promise<bigint>` when it had to wait for the owner to install the next
 * buffer (or for a flush to free one); this writer's appends keep their
 * order. `flush()` asks the owner to flush and resolves once every page
 * appended through this writer before the call is durable.
 */
class PageLogWriter {
    dir;
    bufferSize;
    #control;
    #channel;
    #id = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    /** The attached active buffer and its share id. */
    #wb = null;
    #wbId = 0;
    /** Appends waiting in order (the tail of the chain), or null when none waits. */
    #tail = null;
    #pendingWaits = 0;
    #wakers = [];
    #flushes = new Map();
    #req = 0;
    #failed = null;
    /** Handles of the buffers the owner installed, by share id (only the latest few are kept). */
    #handles = new Map();
    #closed = false;
    #appends = 0;
    #stalls = 0;
    constructor(handle) {
        if (handle === null ||
            typeof handle !== 'object' ||
            typeof handle.photonPageLog !== 'string' ||
            !(handle.control instanceof SharedArrayBuffer) ||
            handle.control.byteLength !== C_WORDS * 4) {
            throw (0, args_ts_1.invalidType)('handle', 'a PageLogHandle from PageLog#share()', handle);
        }
        this.dir = handle.dir;
        this.bufferSize = handle.bufferSize;
        this.#control = new Int32Array(handle.control);
        this.#channel = new node_worker_threads_1.BroadcastChannel(handle.photonPageLog);
        this.#unrefChannel();
        this.#channel.onmessage = (ev) => this.#onMessage(ev.data);
    }
    get stats() {
        return { appends: this.#appends, stalls: this.#stalls };
    }
    get isClosed() {
        return this.#closed;
    }
    // The channel keeps this thread alive only while something waits on it.
    #refChannel() {
        if (this.#pendingWaits++ === 0)
            this.#channel.ref();
    }
    #unrefChannel() {
        if (this.#pendingWaits > 0)
            this.#pendingWaits--;
        if (this.#pendingWaits === 0)
            this.#channel.unref();
    }
    #onMessage(m) {
        if (m.type === 'installed' && m.handle !== null) {
            this.#handles.set(m.handle.photonWriteBuffer, m.handle);
            if (this.#handles.size > 4)
                this.#handles.delete(this.#handles.keys().next().value);
        }
        if (m.type === 'installed' || m.type === 'closed' || m.type === 'failed') {
            if (m.type === 'failed')
                this.#failed = withCode(new Error(`PageLog: a flush failed in the owner thread: ${m.message}`), m.code ?? 'ERR_IO');
            for (const wake of this.#wakers.splice(0))
                wake();
        }
        else if (m.type === 'flushed' && m.to === this.#id) {
            const f = this.#flushes.get(m.req);
            if (f === undefined)
                return;
            this.#flushes.delete(m.req);
            this.#unrefChannel();
            if (m.error === undefined)
                f.resolve();
            else
                f.reject(withCode(new Error(`PageLog.flush (owner): ${m.error.message}`), m.error.code ?? 'ERR_IO'));
        }
    }
    #checkOpen(what) {
        if (this.#closed)
            throw new index_ts_1.WriteBufferError('ERR_CLOSED', `PageLogWriter.${what}: the writer is closed`);
        if (Atomics.load(this.#control, C_CLOSED) === 1)
            throw new index_ts_1.WriteBufferError('ERR_CLOSED', `PageLogWriter.${what}: the log is closed`);
    }
    /**
     * Appends one page: `data` copied in, or a writer callback filling the
     * zero-copy view of `size` bytes before it returns. Returns the address,
     * or a `Promise` of it when the append had to wait.
     */
    append(pageId, data, size) {
        this.#checkOpen('append');
        const id = checkPageId(pageId);
        const n = checkPageData('PageLogWriter.append', this.bufferSize, data, size);
        if (this.#tail === null) {
            const addr = this.#tryAppend(id, data, n);
            if (addr !== null)
                return addr;
        }
        // Wait for a buffer, behind this writer's earlier waiting appends.
        this.#stalls++;
        const kept = typeof data === 'function' ? data : Buffer.from(data);
        const prev = this.#tail ?? Promise.resolve();
        const mine = prev.then(() => this.#appendWaiting(id, kept, n), () => this.#appendWaiting(id, kept, n));
        const tail = mine.finally(() => {
            if (this.#tail === tail)
                this.#tail = null;
        });
        this.#tail = tail;
        tail.catch(() => undefined);
        return mine;
    }
    async #appendWaiting(id, data, n) {
        for (;;) {
            this.#checkOpen('append');
            if (this.#failed !== null)
                throw this.#failed;
            const gen = Atomics.load(this.#control, C_GEN);
            const addr = this.#tryAppend(id, data, n);
            if (addr !== null)
                return addr;
            await this.#changed(gen);
        }
    }
    /** Resolves once the active buffer changed since generation `gen` (or the log closed or failed). */
    #changed(gen) {
        return new Promise((resolve) => {
            this.#refChannel();
            const wake = () => {
                this.#unrefChannel();
                resolve();
            };
            // Registered before the re-check: a broadcast after it wakes us.
            this.#wakers.push(wake);
            if (Atomics.load(this.#control, C_GEN) !== gen || Atomics.load(this.#control, C_CLOSED) === 1 || this.#failed !== null) {
                this.#wakers.splice(this.#wakers.indexOf(wake), 1);
                wake();
            }
        });
    }
    /** One try on the active buffer; `null` when there is none with room (seals a full one). */
    #tryAppend(pageId, data, size) {
        const active = Atomics.load(this.#control, C_ACTIVE);
        if (active === 0)
            return null;
        let wb = this.#wb;
        if (wb === null || this.#wbId !== active) {
            wb?.dispose();
            this.#wb = null;
            // The owner's broadcast has the full handle (in the 'js' arena mode
            // attach needs its SharedArrayBuffer); the id alone does otherwise.
            const handle = this.#handles.get(active) ?? { photonWriteBuffer: active, groupId: 0, capacity: this.bufferSize };
            try {
                wb = index_ts_1.WriteBuffer.attach(handle);
            }
            catch {
                // Gone (flushed: the owner has moved on), or its handle has not
                // reached this writer yet: ask for it; the reply wakes us.
                if (!this.#handles.has(active))
                    this.#channel.postMessage({ type: 'need' });
                return null;
            }
            this.#wb = wb;
            this.#wbId = active;
        }
        // Bytes: reserve + copy under a writer count (the owner may flush
        // concurrently), no view object. A writer callback fills a view.
        let alloc = null;
        let addr = 0n;
        try {
            if (typeof data === 'function')
                alloc = wb.allocPage(pageId, size, true);
            else
                addr = wb.writePage(pageId, data, true);
        }
        catch (err) {
            if (!isCode(err, 'ERR_AGAIN'))
                throw err;
            this.#leaveFull(wb);
            return null;
        }
        if (alloc === null)
            this.#release(wb);
        else
            addr = fillWith(alloc, data, () => this.#release(wb));
        this.#appends++;
        return addr;
    }
    /** The buffer `wb` is full (or sealed by another thread): seal it, let the owner rotate, let go of it. */
    #leaveFull(wb) {
        let sealed = false;
        try {
            wb.seal();
            sealed = true;
        }
        catch (e) {
            if (!isCode(e, 'ERR_AGAIN'))
                throw e;
        }
        if (sealed)
            this.#channel.postMessage({ type: 'look', group: wb.groupId });
        // This writer is done with it: let its arena go back to the pool as
        // soon as the owner has flushed it.
        wb.dispose();
        this.#wb = null;
    }
    #release(wb) {
        if (wb.releaseWriter() === 'flush')
            this.#channel.postMessage({ type: 'look', group: wb.groupId });
    }
    /**
     * Resolves once every page appended through this writer before the call
     * (waiting appends included) is durable: the owner flushes its log.
     */
    async flush() {
        this.#checkOpen('flush');
        if (this.#tail !== null)
            await this.#tail.catch(() => undefined);
        const req = ++this.#req;
        const done = new Promise((resolve, reject) => this.#flushes.set(req, { resolve, reject }));
        this.#refChannel();
        this.#channel.postMessage({ type: 'flush', from: this.#id, req });
        return done;
    }
    /** Lets go of the attached buffer and the channel. Appends must have settled. */
    close() {
        if (this.#closed)
            return;
        this.#closed = true;
        this.#wb?.dispose();
        this.#wb = null;
        for (const wake of this.#wakers.splice(0))
            wake();
        for (const f of this.#flushes.values())
            f.reject(new index_ts_1.WriteBufferError('ERR_CLOSED', 'PageLogWriter.flush: the writer was closed'));
        this.#flushes.clear();
        this.#channel.close();
    }
    [Symbol.dispose]() {
        this.close();
    }
}
exports.PageLogWriter = PageLogWriter;
