'use strict';
// The PageLog's page index (page id → latest address): memory per indexed
// page and ns per operation, the project's index (Rust, src/page-log/page-index.ts
// over crate/core/src/page_index.rs) against the JS one it replaced
// (bench/baseline/js-page-index.js: `Map`s with bigint values, sharded past 2^23).
//
//   node bench/page-index.js [--json]          every configuration, a table
//   node bench/page-index.js --one <impl> <keys> <n>   one configuration (JSON)
//
// Each (impl, keys, n) runs in a fresh process (`--expose-gc`): memory is
// the growth of RSS, and of V8's heap + external memory, after a full GC,
// divided by n; the key and address arrays are allocated before the
// baseline and reused (chunks of 64 Ki entries). keys: `seq` (page ids
// 0..n-1, numbers) or `rnd` (random 64-bit ids, bigints above 2^53, as
// PageLog hands them over). Timed in CPU time (process.cpuUsage: user +
// system of the whole process, GC threads included; a loaded host steals
// less from it than from wall time) (ns/op, the loop's own cost — reading the
// ids and addresses from typed arrays, a bigint per address — subtracted,
// measured by the same loop without the index call; get, update and the
// loop: the fastest of 3 passes):
//   set      setLatest of n new page ids (the table grows meanwhile; one pass)
//   get      get of the n page ids, in insertion order
//   update   setLatest(id, a later address, onlyIfLater) of the n ids
//   bulk     addEntries of n new entries in 64 Ki chunks (a fresh index)
// Then one forget() builds the inverse map (address → page id), and memory
// is measured again ("with inverse").
//
// Env: BENCH_INDEX_SIZES=1e6,1e7 (default; BENCH_QUICK=1: 1e6 only).
const { spawn } = require('node:child_process');
const { report, reportChild } = require('./harness');

const CHUNK = 1 << 16;
/** Passes of get, update and the loop alone; the fastest counts. */
const PASSES = 3;
const NORMAL_PAGE = 1;

function implOf(name) {
  if (name === 'js') return require('./baseline/js-page-index');
  const { PageIndex, keyOf } = require('../src/page-log/page-index.js');
  return { JsPageIndex: PageIndex, keyOf };
}

/** Fills chunk `c` of the key sequence: seq → numbers in `f64`, rnd → 64-bit ids in `u64` (through `u32`). */
function fillKeys(kind, c, f64, u32) {
  if (kind === 'seq') {
    for (let i = 0, k = c * CHUNK; i < CHUNK; i++, k++) f64[i] = k;
    return;
  }
  // A Weyl sequence (period 2^32) through a bijective mixer: chunk c
  // continues where chunk c - 1 stopped, so no two words repeat.
  let s = Math.imul(c * 2 * CHUNK, 0x9e3779b9);
  const next = () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  for (let i = 0; i < 2 * CHUNK; i++) u32[i] = next();
}

/** Addresses of chunk `c`: group 1 + round, 16-byte records (words written directly: no bigint made here). */
function fillAddrs(c, round, u32) {
  for (let i = 0; i < CHUNK; i++) {
    const k = c * CHUNK + i;
    u32[2 * i] = (k * 16) >>> 0;
    u32[2 * i + 1] = 1 + round + Math.floor((k * 16) / 2 ** 32);
  }
}

function mem() {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

async function one(implName, kind, n) {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  const { JsPageIndex, keyOf } = implOf(implName);
  const f64 = new Float64Array(CHUNK);
  const keyWords = new Uint32Array(2 * CHUNK);
  const keyBig = new BigUint64Array(keyWords.buffer);
  const addrWords = new Uint32Array(2 * CHUNK);
  const addrs = new BigUint64Array(addrWords.buffer);
  const flags = new Uint32Array(CHUNK).fill(NORMAL_PAGE);
  const chunks = Math.ceil(n / CHUNK);
  const len = (c) => Math.min(CHUNK, n - c * CHUNK);
  const key = kind === 'seq' ? (i) => f64[i] : (i) => keyOf(keyBig[i]);
  let sink = 0n;

  // One pass over the sequence: `op(index, i)` per entry, timed per chunk
  // (the chunk's fill untimed). Returns CPU ns per entry.
  const pass = (index, round, op) => {
    let us = 0;
    for (let c = 0; c < chunks; c++) {
      fillKeys(kind, c, f64, keyWords);
      fillAddrs(c, round, addrWords);
      const m = len(c);
      const t0 = process.cpuUsage();
      for (let i = 0; i < m; i++) op(index, i);
      const d = process.cpuUsage(t0);
      us += d.user + d.system;
    }
    return (us * 1000) / n;
  };
  const set = (ix, i) => ix.setLatest(key(i), addrs[i]);
  const update = (ix, i) => ix.setLatest(key(i), addrs[i], true);
  const get = (ix, i) => {
    sink ^= ix.get(key(i)) ?? 1n;
  };
  const floor = (_, i) => {
    sink ^= addrs[i];
    return key(i);
  };

  const m0 = mem();
  const index = new JsPageIndex();
  const nsSet = pass(index, 0, set);
  const m1 = mem();
  if (index.size !== n) throw new Error(`${index.size} pages indexed, ${n} expected (duplicate random ids?)`);
  // The best of PASSES passes (a loaded host slows some passes down).
  const best = (f) => Math.min(...Array.from({ length: PASSES }, (_, r) => f(r)));
  const nsGet = best(() => pass(index, 0, get));
  const nsUpdate = best((r) => pass(index, 1 + r, update));
  const nsFloor = best(() => pass(null, 0, floor));
  const nativeBytes = typeof index.bytes === 'number' ? index.bytes : null;
  const t0 = process.hrtime.bigint();
  index.forget(1n); // no page has it: builds the inverse map only
  const msInverse = Number(process.hrtime.bigint() - t0) / 1e6;
  const m2 = mem();
  const nativeBytesWithInverse = typeof index.bytes === 'number' ? index.bytes : null;

  // Bulk: a fresh index (the first one dropped), n entries in chunks.
  let usBulk = 0;
  {
    const bulk = new JsPageIndex();
    for (let c = 0; c < chunks; c++) {
      fillKeys(kind, c, f64, keyWords);
      if (kind === 'seq') for (let i = 0; i < CHUNK; i++) keyBig[i] = BigInt(f64[i]);
      fillAddrs(c, 0, addrWords);
      const m = len(c);
      const t = process.cpuUsage();
      bulk.addEntries(keyBig.subarray(0, m), addrs.subarray(0, m), flags.subarray(0, m));
      const d = process.cpuUsage(t);
      usBulk += d.user + d.system;
    }
    if (bulk.size !== n) throw new Error('bulk: wrong size');
  }
  return {
    impl: implName, keys: kind, n,
    bytesPerPage: { rss: (m1.rss - m0.rss) / n, heap: (m1.heap - m0.heap) / n },
    withInverse: { rss: (m2.rss - m0.rss) / n, heap: (m2.heap - m0.heap) / n },
    nativeBytesPerPage: nativeBytes === null ? null : nativeBytes / n,
    nativeBytesWithInverse: nativeBytesWithInverse === null ? null : nativeBytesWithInverse / n,
    ns: {
      floor: nsFloor,
      set: nsSet - nsFloor,
      get: nsGet - nsFloor,
      update: nsUpdate - nsFloor,
      bulk: (usBulk * 1000) / n,
    },
    msInverse,
    sink: String(sink & 1n),
  };
}

function runOne(impl, keys, n) {
  return new Promise((resolve, reject) => {
    const cp = spawn(process.execPath, ['--expose-gc', __filename, '--one', impl, keys, String(n)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    cp.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    cp.on('error', reject);
    cp.on('close', (code) => {
      if (code !== 0) return reject(new Error(`page-index ${impl} ${keys} ${n}: exit ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

async function run() {
  const sizes = (process.env.BENCH_INDEX_SIZES || (process.env.BENCH_QUICK === '1' ? '1e6' : '1e6,1e7'))
    .split(',').map(Number);
  const configs = [];
  for (const n of sizes) for (const keys of ['seq', 'rnd']) configs.push({ n, keys });
  const rows = [];
  let r = 0;
  for (const { n, keys } of configs) {
    const js = await runOne('js', keys, n);
    const rust = await runOne('rust', keys, n);
    rows.push({ n, keys, js, rust, ratio: { rss: js.bytesPerPage.rss / rust.bytesPerPage.rss,
      withInverse: js.withInverse.rss / rust.withInverse.rss } });
    console.error(`page-index: round ${++r}/${configs.length}`);
  }
  return { node: process.version, chunk: CHUNK, rows };
}

function print(res) {
  const f = (x) => (x == null ? '—' : x.toFixed(1));
  console.log(`\npage index · bytes per page (RSS growth after GC ÷ n; own: JS, V8 heap + external growth; ` +
    `Rust, its tables' bytes) and ns/op · node ${res.node}`);
  const header = ['n', 'keys', 'impl', 'B/page rss', 'own', '+inverse rss', 'set ns', 'get ns', 'update ns', 'bulk ns', 'loop ns'];
  const lines = [];
  for (const row of res.rows) {
    for (const x of [row.js, row.rust]) {
      lines.push([String(row.n), row.keys, x.impl, f(x.bytesPerPage.rss), f(x.nativeBytesPerPage ?? x.bytesPerPage.heap), f(x.withInverse.rss),
        f(x.ns.set), f(x.ns.get), f(x.ns.update), f(x.ns.bulk), f(x.ns.floor)]);
    }
    lines.push(['', '', 'js ÷ rust', `${row.ratio.rss.toFixed(2)}×`, '', `${row.ratio.withInverse.toFixed(2)}×`,
      `${(row.js.ns.set / row.rust.ns.set).toFixed(2)}×`, `${(row.js.ns.get / row.rust.ns.get).toFixed(2)}×`,
      `${(row.js.ns.update / row.rust.ns.update).toFixed(2)}×`, `${(row.js.ns.bulk / row.rust.ns.bulk).toFixed(2)}×`, '']);
  }
  const w = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) => cells.map((s, i) => (i < 3 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  console.log(render(header));
  console.log(w.map((k) => '-'.repeat(k)).join('  '));
  for (const l of lines) console.log(render(l));
}

if (process.argv[2] === '--one') {
  reportChild(one(process.argv[3], process.argv[4], Number(process.argv[5])));
} else if (require.main === module) {
  report(run(), print);
}

module.exports = { run, print };
