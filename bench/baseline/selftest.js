'use strict';
// Self-check of the pure-JS baseline (not part of the test suite):
//   node bench/baseline/selftest.js
const assert = require('node:assert/strict');
const { JsWriteBuffer, recordSize, TOMBSTONE } = require('./js-write-buffer');

const code = (c) => (e) => e.code === c;

// recordSize and address layout.
assert.equal(recordSize(0), 16);
assert.equal(recordSize(1), 24);
assert.equal(recordSize(8), 24);
assert.equal(recordSize(100), 120);
assert.equal(recordSize(0xffff_ffff), 16 + 2 ** 32);

{
  // Fresh buffer, alloc with and without writer, header bytes, addresses.
  const wb = new JsWriteBuffer(7, 1024);
  assert.equal(wb.groupId, 7);
  assert.equal(wb.capacity, 1024);
  assert.ok(wb.isEmpty && !wb.isSealed && !wb.isFlushable);
  const a = wb.allocPage(42n, 5, true);
  assert.equal(a.addr, (7n << 32n) | 16n);
  assert.equal(a.page.length, 5);
  assert.equal(a.header.kind, 'page');
  assert.equal(a.header.pageId, 42n);
  assert.equal(a.header.pageSize, 5);
  assert.equal(a.header.isTombstone, false);
  a.page.set([1, 2, 3, 4, 5]);
  assert.equal(wb.allocated, 24);
  assert.equal(wb.writers, 1);
  const raw = Buffer.from(wb._sab, 0, 24);
  assert.equal(raw.readBigUInt64LE(0), 42n);
  assert.equal(raw.readUInt32LE(8), 1);
  assert.equal(raw.readUInt32LE(12), 5);
  assert.deepEqual([...raw.subarray(16)], [1, 2, 3, 4, 5, 0, 0, 0]); // padding reads zero

  const b = wb.allocPage(43, 100, false); // number id, no writer
  assert.equal(b.addr, (7n << 32n) | 40n);
  assert.equal(wb.writers, 1);
  assert.equal(wb.allocated, 24 + 120);

  // page(addr) round trip: same bytes, zero-copy both ways.
  b.page.fill(9);
  const view = wb.page(b.addr);
  assert.equal(view.length, 100);
  assert.ok(view.every((x) => x === 9));
  view[0] = 1;
  assert.equal(b.page[0], 1);
  assert.deepEqual(wb.page(Number(a.addr)), a.page);

  // Invalid addresses.
  for (const bad of [(8n << 32n) | 16n, (7n << 32n) | 8n, (7n << 32n) | 24n,
    (7n << 32n) | 48n, (7n << 32n) | 1000n, 0n]) {
    assert.throws(() => wb.page(bad), code('ERR_INVALID_ADDR'), String(bad));
  }

  // Not flushable yet.
  assert.throws(() => wb.records(), code('ERR_NOT_FLUSHABLE'));

  // seal with a writer in progress, then release -> flush.
  const before = wb.allocated;
  assert.equal(wb.seal(), 'none');
  assert.ok(wb.isSealed && !wb.isFlushable);
  assert.throws(() => wb.seal(), code('ERR_AGAIN'));
  assert.throws(() => wb.allocPage(1, 0, true), code('ERR_AGAIN'));
  assert.equal(wb.allocated, before);
  assert.equal(wb.writers, 1);
  assert.equal(wb.releaseWriter(), 'flush');
  assert.ok(wb.isFlushable);
  assert.throws(() => wb.releaseWriter(), code('ERR_NO_WRITER'));
  assert.deepEqual([...wb].map((r) => r.pageId), [42n, 43n]);
  assert.ok(wb.page(b.addr).length === 100); // page() works sealed too
}

{
  // Full buffer: ERR_AGAIN, state unchanged; too large: ERR_TOO_LARGE_SIZE.
  const wb = new JsWriteBuffer(1, 64);
  wb.allocPage(1, 24, true); // 40 bytes
  assert.throws(() => wb.allocPage(2, 16, true), code('ERR_AGAIN')); // 32 > 24 left
  assert.equal(wb.allocated, 40);
  assert.equal(wb.writers, 1);
  wb.allocPage(3, 8, false); // exactly 24 left
  assert.equal(wb.allocated, 64);
  assert.throws(() => wb.allocPage(4, 0, false), code('ERR_AGAIN'));
  assert.throws(() => wb.allocPage(4, 49, false), code('ERR_TOO_LARGE_SIZE'));
  assert.equal(wb.releaseWriter(), 'none'); // not sealed
  assert.throws(() => wb.releaseWriter(), code('ERR_NO_WRITER'));
  assert.equal(wb.seal(), 'flush');
}

{
  // Iteration order, tombstones skipped, dealloc records, batch.
  const wb = new JsWriteBuffer(3, 4096);
  const p1 = wb.allocPage(1, 10, true);
  const p2 = wb.allocPage(2, 0, false);
  const d = wb.deallocPages([(3n << 32n) | 16n, 99], false);
  assert.equal(d.kind, 'dealloc');
  assert.equal(d.pageId, 0n);
  assert.equal(d.pageSize, 16);
  const bt = wb.batch([[4n, 3], [5, 17]], new BigUint64Array([7n]));
  assert.equal(bt.pages.length, 2);
  assert.equal(bt.pages[1].page.length, 17);
  assert.equal(bt.dealloc.kind, 'dealloc');
  assert.equal(wb.writers, 2);
  assert.equal(wb.batch([], []).dealloc, null); // empty batch still takes a writer
  assert.equal(wb.writers, 3);
  p1.page.write('hello');
  p2.header.setTombstone();
  assert.ok(p2.header.isTombstone);
  assert.throws(() => wb.page(p2.addr), code('ERR_INVALID_ADDR'));
  assert.throws(() => wb.page((3n << 32n) | 64n), code('ERR_INVALID_ADDR')); // the dealloc record
  wb.allocPage(0, 0, false);
  bt.pages[0].header.setPageId(40n);
  assert.equal(bt.pages[0].header.pageId, 40n);
  assert.throws(() => p2.header.setPageId(1), code('ERR_INVALID_ADDR'));
  wb.seal();
  assert.equal(wb.releaseWriter(), 'none');
  assert.equal(wb.releaseWriter(), 'none');
  assert.equal(wb.releaseWriter(), 'flush');
  const recs = [...wb.records()];
  assert.deepEqual(recs.map((r) => r.kind), ['page', 'dealloc', 'page', 'page', 'dealloc', 'page']);
  assert.deepEqual(recs.filter((r) => r.kind === 'page').map((r) => r.pageId), [1n, 40n, 5n, 0n]);
  assert.equal(recs[0].page.toString('latin1', 0, 5), 'hello');
  assert.equal(recs[0].addr, p1.addr);
  assert.deepEqual(recs[1].addrs, [(3n << 32n) | 16n, 99n]);
  assert.deepEqual(recs[4].addrs, [7n]);
  assert.equal(recs[0].header.isTombstone, false);
  assert.equal(Buffer.from(wb._sab).readUInt32LE(32 + 8), TOMBSTONE);
  assert.throws(() => recs[0].header.setTombstone(), code('ERR_READ_ONLY'));
}

{
  // Argument validation.
  assert.throws(() => new JsWriteBuffer(0, 100), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => new JsWriteBuffer(0, 8), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => new JsWriteBuffer(-1, 64), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => new JsWriteBuffer('0', 64), code('ERR_INVALID_ARG_TYPE'));
  const wb = new JsWriteBuffer(0, 64);
  assert.throws(() => wb.allocPage(-1, 0, true), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wb.allocPage(1n << 64n, 0, true), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wb.allocPage(2 ** 53, 0, true), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wb.allocPage(1.5, 0, true), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wb.allocPage('1', 0, true), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => wb.allocPage(1, NaN, true), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wb.allocPage(1, 0, 1), code('ERR_INVALID_ARG_TYPE'));
  assert.equal(wb.allocated, 0);
  assert.equal(wb.allocPage(U64(), 0, false).header.pageId, U64());
}

function U64() { return (1n << 64n) - 1n; }

(async () => {
  // Flush latch: waiters before and after, idempotent onFlushed, abort.
  const wb = new JsWriteBuffer(0, 64);
  let n = 0;
  const early = wb.waitFlushed().then(() => n++);
  const ac = new AbortController();
  const aborted = wb.waitFlushed({ signal: ac.signal });
  ac.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  wb.onFlushed();
  wb.onFlushed();
  await early;
  await wb.waitFlushed();
  assert.equal(n, 1);
  await assert.rejects(wb.waitFlushed({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  console.log('baseline selftest: ok');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
