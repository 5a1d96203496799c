'use strict';
// Durable flush: WriteBuffer#flushTo of a 64 MiB buffer (4 KiB pages) against
// a bare synchronous write of the same bytes, on the same file system. Run by
// bench/index.js after the other cases, or alone: node bench/flush.js [--json].
//
// Variants, each writing exactly the bytes of the page file flushTo produces:
//   flushTo          encode off the JS thread, temp file, write, fdatasync,
//                    link to the final name + unlink the temp, fsync the dir
//   bare + rename    fs.writeSync + fs.fdatasyncSync of a temp file,
//                    rename, fsync the directory (the same durability steps)
//   bare             fs.writeSync + fs.fdatasyncSync of the final file only
//   bare + copy      (info) as "bare + rename", but first copies the bytes
//                    into a freshly allocated Buffer, as flushTo's encoder
//                    builds the file in a fresh allocation: shows what that
//                    copy costs (page faults of fresh memory, memcpy)
// Rounds interleave the variants (order rotated every round); files are
// deleted between runs, untimed, followed by a 200 ms pause (without it the
// kernel is still freeing the previous 64 MiB file while the next run starts,
// which costs the next run a few ms of throughput and of event-loop lag). MB/s = 10^6 bytes per second, median of the
// rounds; ratio = median of the per-round ratios flushTo ÷ bare.
//
// Event-loop lag: during each flushTo a 1 ms setInterval records the largest
// gap between two of its ticks (and from the start to the first tick, and
// from the last tick to the resolution). The bare variants block the loop by
// design and are not measured.
//
// Environment: BENCH_FLUSH_ROUNDS (default 7), BENCH_FLUSH_DIR (default the
// OS temp dir; a fresh directory is made and removed under it).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { report } = require('./harness');

const CAP = 64 << 20;
const PAGE = 4096;
const TARGET_RATIO = 0.7;
const TARGET_LAG_MS = 5;
const SETTLE_MS = 200;

/** A sealed 64 MiB buffer full of 4 KiB pages of pseudo-random bytes. */
function fullBuffer() {
  const { WriteBuffer } = require('..');
  const wb = new WriteBuffer(1, CAP);
  const src = Buffer.alloc(PAGE);
  let x = 0x9e3779b9;
  for (let i = 0; i < PAGE; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    src.writeInt32LE(x | 0, i);
  }
  let pages = 0;
  for (;;) {
    let a;
    try {
      a = wb.allocPage(BigInt(pages), PAGE, false);
    } catch (e) {
      if (e.code === 'ERR_AGAIN') break;
      throw e;
    }
    src.writeUInt32LE(pages, 0); // no two pages alike
    a.page.set(src);
    pages++;
  }
  if (wb.seal() !== 'flush') throw new Error('expected a flushable buffer');
  return { wb, pages };
}

/** Starts a 1 ms interval; the returned function stops it and gives the worst gap in ms. */
function lagMonitor() {
  let last = performance.now();
  let worst = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    ticks++;
  }, 1);
  return () => {
    clearInterval(timer);
    const now = performance.now();
    return { worst: Math.max(worst, now - last), ticks };
  };
}

function writeAll(fd, data) {
  for (let off = 0; off < data.length;) off += fs.writeSync(fd, data, off, data.length - off);
}

function bare(dir, file, data, rename, copy = false) {
  if (copy) data = Buffer.from(data); // a fresh allocation (mmap-sized), then memcpy
  const target = rename ? path.join(dir, `.${path.basename(file)}.tmp`) : file;
  const fd = fs.openSync(target, 'wx');
  try {
    writeAll(fd, data);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (rename) {
    fs.renameSync(target, file);
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}

async function run({ rounds = Number(process.env.BENCH_FLUSH_ROUNDS) || 7, log = console.error } = {}) {
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_FLUSH_DIR || os.tmpdir(), 'pwb-bench-flush-'));
  try {
    const { wb, pages } = fullBuffer();
    const file = path.join(dir, '1.page');
    // Warm-up, and the exact bytes the bare variants write.
    const first = await wb.flushTo(file);
    const data = fs.readFileSync(file);
    if (data.length !== first.bytes) throw new Error('size mismatch');
    fs.unlinkSync(file);
    bare(dir, file, data, true);
    fs.unlinkSync(file);

    const variants = {
      flushTo: async () => {
        const stop = lagMonitor();
        const t0 = performance.now();
        const r = await wb.flushTo(file);
        const ms = performance.now() - t0;
        const lag = stop();
        if (r.bytes !== data.length) throw new Error('flushTo wrote a different size');
        return { ms, lag };
      },
      bareRename: async () => {
        const t0 = performance.now();
        bare(dir, file, data, true);
        return { ms: performance.now() - t0 };
      },
      bare: async () => {
        const t0 = performance.now();
        bare(dir, file, data, false);
        return { ms: performance.now() - t0 };
      },
      bareCopy: async () => {
        const t0 = performance.now();
        bare(dir, file, data, true, true);
        return { ms: performance.now() - t0 };
      },
    };
    const names = Object.keys(variants);
    const samples = Object.fromEntries(names.map((n) => [n, []]));
    const lags = [];
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const name of order) {
        // Untimed: let the previous run's unlink and writeback settle, collect garbage.
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        if (typeof global.gc === 'function') global.gc();
        await new Promise((resolve) => setImmediate(resolve));
        const out = await variants[name]();
        samples[name].push(data.length / 1e6 / (out.ms / 1000));
        if (out.lag) lags.push(out.lag);
        fs.unlinkSync(file);
      }
      log(`flush: round ${r + 1}/${rounds}`);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const ratios = (ref) => median(samples.flushTo.map((x, i) => x / samples[ref][i]));
    return {
      bytes: data.length,
      pages,
      pageSize: PAGE,
      capacity: CAP,
      rounds,
      dir: path.dirname(dir),
      mbPerSec: Object.fromEntries(names.map((n) => [n, median(samples[n])])),
      samplesMbPerSec: samples,
      ratioVsBareRename: ratios('bareRename'),
      ratioVsBare: ratios('bare'),
      ratioVsBareCopy: ratios('bareCopy'),
      targetRatio: TARGET_RATIO,
      lagMs: { median: median(lags.map((l) => l.worst)), max: Math.max(...lags.map((l) => l.worst)), perRound: lags.map((l) => l.worst) },
      ticksPerFlush: median(lags.map((l) => l.ticks)),
      targetLagMs: TARGET_LAG_MS,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function print(res) {
  const mb = (x) => x.toFixed(0);
  console.log(`\ndurable flush · ${(res.bytes / 2 ** 20).toFixed(1)} MiB page file (${res.pages} × ${res.pageSize} B pages) · ` +
    `median of ${res.rounds} interleaved rounds · ${res.dir}`);
  console.log('variant                                   MB/s   flushTo ÷ it   target   status');
  const rows = [
    ['flushTo (async, temp+fdatasync+link+dir fsync)', res.mbPerSec.flushTo, null, null],
    ['bare writeSync+fdatasync+rename+dir fsync', res.mbPerSec.bareRename, res.ratioVsBareRename, res.targetRatio],
    ['bare writeSync+fdatasync', res.mbPerSec.bare, res.ratioVsBare, null],
    ['bare, fresh copy first, +rename+dir fsync', res.mbPerSec.bareCopy, res.ratioVsBareCopy, null],
  ];
  for (const [name, v, ratio, target] of rows) {
    const status = ratio == null ? '' : target == null ? 'info' : ratio >= target ? 'PASS' : 'FAIL';
    console.log(`${name.padEnd(48)} ${mb(v).padStart(6)}   ${ratio == null ? '—'.padStart(12) : ratio.toFixed(2).padStart(12)}   ` +
      `${(ratio == null ? '' : target == null ? '—' : `≥ ${target}`).padStart(6)}   ${status}`);
  }
  const lagStatus = res.lagMs.median < res.targetLagMs ? 'PASS' : 'FAIL';
  console.log(`event loop during flushTo: worst gap of a 1 ms interval, median of rounds ${res.lagMs.median.toFixed(2)} ms ` +
    `(worst round ${res.lagMs.max.toFixed(2)} ms); ~${res.ticksPerFlush} ticks per flush · target < ${res.targetLagMs} ms · ${lagStatus}`);
}

if (require.main === module) {
  report(run(), print);
}

module.exports = { run, print };
