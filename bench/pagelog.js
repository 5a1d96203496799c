'use strict';
// PageLog, sustained: appends through a PageLog against sonic-boom writing
// the same bytes to a file, and the RSS of a PageLog over 1M appends. Run by
// bench/index.js (each mode in a child process of its own), or alone:
//   node --expose-gc bench/pagelog.js [--json]         append throughput
//   node --expose-gc bench/pagelog.js --rss [--json]   RSS over 1M appends
//
// Append throughput. One round of a variant appends PAGELOG_MIB (64) MiB of
// page bytes, as 100 B or 4 KiB pages, from a fresh directory:
//   PageLog      `PageLog.open(dir, { bufferSize: 4 MiB })` (maxBuffers 8),
//                `append(id, src)` per page (awaiting the Promise when the
//                log stalls on backpressure), so buffers rotate and flush in
//                the background; `await flush()` every 16 MiB and at the end.
//   sonic-boom   `new SonicBoom({ dest, contentMode: 'buffer' })` (its
//                defaults otherwise: async writes of up to 16 KiB),
//                `write(src)` per page; `await flush(cb)` (sonic-boom 5
//                writes everything out, then fsyncs) every 16 MiB and at the end.
// Both loops yield one event-loop turn (setImmediate) every 1 MiB, as a
// server between requests would, so background I/O can complete. The timed
// span runs from the first append to the last durability point: every page
// is durable when the clock stops. Page ids cycle through 64k ids (a store
// rewrites its pages), so the PageLog's index stays at 64k entries. sonic-boom
// writes the page bytes only (no headers, no index, no reads by address);
// it keeps a reference to each written Buffer (no copy) until written, while
// PageLog copies each page into its arena. MiB/s and pages/s count page
// bytes only; PageLog's files also hold a 16 B header per record.
// Rounds interleave the variants (order rotated every round), with a
// 200 ms settle, GC and fresh directory (untimed) before each run. Figures
// are medians of the rounds; ratio = median of per-round PageLog ÷ sonic-boom.
//
// RSS. A PageLog with 256 KiB buffers (maxBuffers 4) takes 1M appends of
// 100 B pages (page ids cycling through 4096), so it rotates and flushes
// ~440 times. RSS is sampled after a 100k-append warm-up (after a GC), every
// 10k appends (peak), and at the end after `flush()` and a GC. V8 grows its
// young generation under this allocation rate (heapTotal up, heapUsed flat),
// so the growth outside V8's heap is reported too; the result also has the
// RSS at every tenth of the run (a leak keeps growing, settling flattens).
//
// Environment: BENCH_PAGELOG_ROUNDS (default 7), BENCH_PAGELOG_MIB (default
// 64), BENCH_PAGELOG_DIR (default the OS temp dir), BENCH_RSS_APPENDS
// (default 1000000).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { printTable } = require('./harness');
const { once } = require('node:events');
const { performance } = require('node:perf_hooks');

const MiB = 1 << 20;
const SIZES = [100, 4096];
const BUFFER_SIZE = 4 * MiB;
const DURABLE_EVERY = 16 * MiB;
const YIELD_EVERY = MiB;
const IDS = 65536;
const SETTLE_MS = 200;
const RSS_LIMIT = 64 * MiB;
const RSS_AIM = 10 * MiB;

const gc = typeof global.gc === 'function' ? global.gc : () => {};
const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const quantile = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const baseDir = () => process.env.BENCH_PAGELOG_DIR || os.tmpdir();

/** `size` bytes of pseudo-random data (no run of zeros a file system could elide). */
function pageSource(size) {
  const b = Buffer.alloc(size);
  let x = 0x9e3779b9;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
}

/** The writers under test: open(dir) → { append(id, src) → Promise|null, durable() → Promise, close() → Promise, check(pages, bytes) }. */
const VARIANTS = {
  PageLog: async (dir) => {
    const { PageLog } = require('..');
    const log = await PageLog.open(dir, { bufferSize: BUFFER_SIZE });
    return {
      append(id, src) {
        return log.tryAppend(id, src) === null ? log.append(id, src) : null;
      },
      durable: () => log.flush(),
      close: () => log.close(),
      check(pages) {
        const s = log.stats;
        if (s.appends !== pages) throw new Error(`PageLog took ${s.appends} appends, not ${pages}`);
        return { flushes: s.flushes, stalls: s.stalls, peakBuffers: s.peakBuffers };
      },
    };
  },
  'sonic-boom': async (dir) => {
    const SonicBoom = require('sonic-boom');
    const file = path.join(dir, 'log');
    const sb = new SonicBoom({ dest: file, contentMode: 'buffer' });
    await once(sb, 'ready');
    return {
      append(id, src) {
        sb.write(src);
        return null;
      },
      durable: () => new Promise((resolve, reject) => sb.flush((err) => (err ? reject(err) : resolve()))),
      close: async () => {
        const closed = once(sb, 'close');
        sb.end();
        await closed;
      },
      check(pages, bytes) {
        const size = fs.statSync(file).size;
        if (size !== bytes) throw new Error(`sonic-boom wrote ${size} bytes, not ${bytes}`);
        return {};
      },
    };
  },
};

/** One timed run of `variant`: `pages` pages of `src`; returns { ms, ...its counters }. */
async function runOnce(variant, src, pages) {
  const dir = fs.mkdtempSync(path.join(baseDir(), 'pwb-bench-pagelog-'));
  try {
    const w = await VARIANTS[variant](dir);
    const size = src.length;
    const yieldEvery = Math.max(1, Math.floor(YIELD_EVERY / size));
    const durableEvery = Math.max(1, Math.floor(DURABLE_EVERY / size));
    const t0 = performance.now();
    for (let i = 0; i < pages;) {
      const stalled = w.append(i % IDS, src);
      if (stalled !== null) await stalled;
      i++;
      if (i % durableEvery === 0) await w.durable();
      else if (i % yieldEvery === 0) await turn();
    }
    await w.durable();
    const ms = performance.now() - t0;
    await w.close();
    return { ms, ...w.check(pages, pages * size) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function run({ rounds = Number(process.env.BENCH_PAGELOG_ROUNDS) || 7, log = console.error } = {}) {
  const total = (Number(process.env.BENCH_PAGELOG_MIB) || 64) * MiB;
  const names = Object.keys(VARIANTS);
  const sizes = SIZES.map((size) => ({ size, src: pageSource(size), pages: Math.floor(total / size) }));
  // Warm-up: one small run of each (JIT, first open of the addon, the fs).
  for (const s of sizes) for (const v of names) await runOnce(v, s.src, Math.min(s.pages, Math.floor(8 * MiB / s.size)));
  const ms = Object.fromEntries(sizes.map((s) => [s.size, Object.fromEntries(names.map((v) => [v, []]))]));
  const extra = {};
  for (let r = 0; r < rounds; r++) {
    for (const s of sizes) {
      for (let j = 0; j < names.length; j++) {
        const v = names[(r + j) % names.length];
        await sleep(SETTLE_MS);
        gc();
        await turn();
        const out = await runOnce(v, s.src, s.pages);
        ms[s.size][v].push(out.ms);
        if (v === 'PageLog') extra[s.size] = out;
      }
    }
    log(`pagelog: round ${r + 1}/${rounds}`);
  }
  const rows = sizes.map(({ size, pages }) => {
    const bytes = pages * size;
    const mibPerSec = (t) => bytes / MiB / (t / 1000);
    const perVariant = Object.fromEntries(names.map((v) => {
      const m = median(ms[size][v]);
      return [v, { ms: m, mibPerSec: mibPerSec(m), pagesPerSec: pages / (m / 1000), samplesMs: ms[size][v] }];
    }));
    // PageLog ÷ sonic-boom throughput, per round (> 1: PageLog faster).
    const ratios = ms[size].PageLog.map((t, i) => ms[size]['sonic-boom'][i] / t);
    const { ms: _ms, ...counters } = extra[size];
    return { pageSize: size, pages, bytes, variants: perVariant,
      ratio: median(ratios), ratioSpread: [quantile(ratios, 0.25), quantile(ratios, 0.75)], pageLog: counters };
  });
  return { rounds, totalBytes: total, bufferSize: BUFFER_SIZE, durableEvery: DURABLE_EVERY, yieldEvery: YIELD_EVERY,
    ids: IDS, dir: baseDir(), sonicBoom: require('sonic-boom/package.json').version, rows };
}

function print(res) {
  console.log(`\nPageLog sustained append vs sonic-boom ${res.sonicBoom} · ${res.totalBytes / MiB} MiB of pages per round · ` +
    `bufferSize ${res.bufferSize / MiB} MiB · durable (flush + fsync) every ${res.durableEvery / MiB} MiB · ` +
    `median of ${res.rounds} interleaved rounds · ${res.dir}`);
  const header = ['page', 'PageLog MiB/s', 'sonic-boom MiB/s', 'PageLog pages/s', 'sonic-boom pages/s', 'PageLog ÷ sonic-boom', '[p25–p75]', 'flushes', 'stalls'];
  const lines = res.rows.map((r) => [
    r.pageSize >= 1024 ? `${r.pageSize / 1024} KiB` : `${r.pageSize} B`,
    r.variants.PageLog.mibPerSec.toFixed(0), r.variants['sonic-boom'].mibPerSec.toFixed(0),
    Math.round(r.variants.PageLog.pagesPerSec).toLocaleString('en-US'), Math.round(r.variants['sonic-boom'].pagesPerSec).toLocaleString('en-US'),
    r.ratio.toFixed(2), `[${r.ratioSpread[0].toFixed(2)}–${r.ratioSpread[1].toFixed(2)}]`,
    String(r.pageLog.flushes), String(r.pageLog.stalls),
  ]);
  printTable(header, lines);
}

/** RSS of a PageLog over `appends` appends with small buffers (see the header). */
async function rss({ appends = Number(process.env.BENCH_RSS_APPENDS) || 1_000_000, log = console.error } = {}) {
  const { PageLog, liveArenas } = require('..');
  const warmup = Math.min(100_000, Math.floor(appends / 10));
  const bufferSize = 256 * 1024;
  const maxBuffers = 4;
  const ids = 4096;
  const src = pageSource(100);
  const dir = fs.mkdtempSync(path.join(baseDir(), 'pwb-bench-rss-'));
  const steps = 10;
  const stepEvery = Math.max(1, Math.floor(appends / steps));
  try {
    const plog = await PageLog.open(dir, { bufferSize, maxBuffers });
    const settle = async () => {
      gc();
      await turn();
      gc();
      return process.memoryUsage();
    };
    const start = await settle();
    let warm = null;
    let peak = 0;
    const curve = []; // [appends, rss] at every tenth of the run

    const t0 = performance.now();
    for (let i = 0; i < appends;) {
      if (plog.tryAppend(i % ids, src) === null) await plog.append(i % ids, src);
      i++;
      if (i % 10_000 === 0) {
        peak = Math.max(peak, process.memoryUsage.rss());
        await turn();
      }
      if (i === warmup) {
        await plog.flush();
        warm = await settle();
        peak = warm.rss;
      }
      if (i % stepEvery === 0 && i / stepEvery <= steps) {
        curve.push([i, process.memoryUsage.rss()]);
        log(`rss: round ${i / stepEvery}/${steps}`);
      }
    }
    await plog.flush();
    const ms = performance.now() - t0;
    const end = await settle();
    peak = Math.max(peak, end.rss);
    const stats = plog.stats;
    const pageCount = plog.pageCount;
    await plog.close();
    const files = fs.readdirSync(dir).length;
    const delta = (k) => end[k] - warm[k];
    // Growth over the second half of the run: a leak keeps growing there,
    // allocator and V8 heap sizing settle before it.
    const mid = curve[Math.floor(curve.length / 2) - 1];
    return {
      appends, warmup, pageSize: 100, bufferSize, maxBuffers, ids, dir: baseDir(), ms,
      rss: { start: start.rss, warm: warm.rss, end: end.rss, peak },
      growth: end.rss - warm.rss,
      peakGrowth: peak - warm.rss,
      secondHalfGrowth: mid ? end.rss - mid[1] : null,
      curve,
      heapUsedGrowth: delta('heapUsed'),
      heapTotalGrowth: delta('heapTotal'),
      // RSS growth outside V8's heap (committed heap pages may not all be
      // resident, so this is approximate): the PageLog's native memory, the
      // allocator's and the rest of the process.
      outsideHeapGrowth: end.rss - warm.rss - delta('heapTotal'),
      externalGrowth: delta('external'),
      arrayBuffersGrowth: delta('arrayBuffers'),
      flushes: stats.flushes, stalls: stats.stalls, peakBuffers: stats.peakBuffers, files, pageCount,
      liveArenasAfterClose: typeof liveArenas === 'function' ? liveArenas() : null,
      limit: RSS_LIMIT, aim: RSS_AIM,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function printRss(res) {
  const mib = (x) => `${(x / MiB).toFixed(1)} MiB`;
  const sign = (x) => (x >= 0 ? `+${mib(x)}` : `-${mib(-x)}`);
  const status = res.growth < res.limit ? 'PASS' : 'FAIL';
  console.log(`\nPageLog RSS · ${res.appends.toLocaleString('en-US')} appends of ${res.pageSize} B pages · ` +
    `bufferSize ${res.bufferSize / 1024} KiB, maxBuffers ${res.maxBuffers} · ${res.flushes} flushes, ${res.stalls} stalls · ` +
    `${(res.ms / 1000).toFixed(1)} s`);
  console.log(`RSS: start ${mib(res.rss.start)}, after ${res.warmup.toLocaleString('en-US')}-append warm-up ${mib(res.rss.warm)}, ` +
    `end ${mib(res.rss.end)}, peak ${mib(res.rss.peak)}`);
  console.log(`growth after warm-up ${sign(res.growth)} (peak ${sign(res.peakGrowth)}; V8 heap total ${sign(res.heapTotalGrowth)}, used ${sign(res.heapUsedGrowth)}, ` +
    `external ${sign(res.externalGrowth)}) · target < ${mib(res.limit)} (aim < ${mib(res.aim)}) · ${status}`);
  console.log(`outside V8's heap (RSS growth − heap total growth, approximate): ${sign(res.outsideHeapGrowth)}`);
  if (res.secondHalfGrowth != null) console.log(`second half of the run (${(res.appends / 2).toLocaleString('en-US')} appends): ${sign(res.secondHalfGrowth)}`);
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  const [go, show] = process.argv.includes('--rss') ? [rss, printRss] : [run, print];
  go().then(
    (res) => (json ? console.log(JSON.stringify(res)) : show(res)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

module.exports = { run, print, rss, printRss };
