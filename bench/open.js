'use strict';
// Durable commits, start-up (docs/BENCHMARKS.md, "Durable commits"):
// `PageLog.open` of a directory holding BENCH_OPEN_4K_MIB (1024) MiB of 4 KiB
// pages, and of one holding BENCH_OPEN_100_MIB (256) MiB of 100 B pages
// (distinct page ids, bufferSize 8 MiB: ~130 and ~40 files in the format of
// one page file per buffer), written by PageLog once, untimed; against reading
// every file of the directory once (`fs.readFileSync` of each; not the index
// checkpoint `index.pwi`, which is no part of the data). Ratio open ÷
// read-all: ≤ 0.1 (4 KiB pages) and ≤ 0.5 (100 B). Both sides run with a warm
// page cache (the files were just written, and each side runs once untimed
// first; without root the cache cannot be dropped). Rounds alternate the two
// (order rotated), BENCH_OPEN_ROUNDS (3) of them; medians, ratio = median of
// the per-round ratios.
// RSS growth during open, in a fresh process: the kernel's high-water mark
// of the process's memory (VmHWM of /proc/self/status; `maxRSS` where there is
// none — on Linux that one keeps the parent's RSS at the fork that spawned the
// child, so it measured the bench's own process) after open minus the RSS
// before it (after a GC); must ≤ index size
// + 32 MiB, the index size being what the opened log's index holds
// (`stats.indexBytes`: a hash table of page id → address, 16 B an entry at
// up to 7/8 load, with a control byte each).
// Run by bench/index.js (step commit-open; printed in the durable-commits
// table of bench/commit.js), or alone: node --expose-gc bench/open.js [--json]
// BENCH_QUICK=1 (bench/index.js) sets 64 / 16 MiB; BENCH_COMMIT_DIR (default
// the OS temp dir) is where the directories are made (and removed).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { report } = require('./harness');
const { MiB, env, median, interleave, payload, freshDir, baseDir, fmtN, fmtMs, fmtMiB, print } = require('./commit');

const OPEN_BUFFER_SIZE = 8 * MiB;
const OPEN_ROUNDS = env('BENCH_OPEN_ROUNDS', 3);

/** Writes `mib` MiB of `size`-byte pages (distinct ids) into a fresh directory through PageLog; returns it. */
async function buildDir(size, mib, log) {
  const { PageLog } = require('..');
  const dir = freshDir(`open-${size}`);
  const plog = await PageLog.open(dir, { bufferSize: OPEN_BUFFER_SIZE });
  const pages = Math.floor((mib * MiB) / size);
  const src = payload(size);
  const t0 = performance.now();
  for (let i = 0; i < pages; i++) {
    src.writeUInt32LE(i, 0);
    if (plog.tryAppend(i, src) === null) await plog.append(i, src);
  }
  await plog.close();
  const files = dataFiles(dir);
  const bytes = files.reduce((s, n) => s + fs.statSync(path.join(dir, n)).size, 0);
  log(`commit-open: wrote ${pages} pages of ${size} B (${files.length} files, ${(bytes / MiB).toFixed(0)} MiB) in ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { dir, pages, files: files.length, bytes };
}

/** The files of the data: every file but the index checkpoint `close()` writes (not something a hand-rolled log would have). */
const dataFiles = (dir) => fs.readdirSync(dir).filter((n) => n !== 'index.pwi');

/** Reads every file of `dir` once, whole (the index checkpoint excepted). */
function readAll(dir) {
  let bytes = 0;
  for (const n of dataFiles(dir)) {
    const p = path.join(dir, n);
    if (fs.statSync(p).isFile()) bytes += fs.readFileSync(p).length;
  }
  return bytes;
}

/** In a fresh process: RSS before, PageLog.open, maxRSS after (see the header). */
function openRss(dir) {
  const code = `
    const { PageLog } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const hwm = () => {
      try {
        const m = /VmHWM:\\s+(\\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
        if (m !== null) return Number(m[1]) * 1024;
      } catch {}
      return process.resourceUsage().maxRSS * 1024;
    };
    (async () => {
      global.gc(); await new Promise((r) => setImmediate(r)); global.gc();
      const before = process.memoryUsage.rss();
      const t0 = performance.now();
      const log = await PageLog.open(${JSON.stringify(dir)});
      const ms = performance.now() - t0;
      const after = process.memoryUsage.rss();
      const peak = hwm();
      const pageCount = log.pageCount;
      const indexBytes = log.stats.indexBytes;
      await log.close();
      console.log(JSON.stringify({ before, after, peak, ms, pageCount, indexBytes }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`open RSS child failed: ${r.stderr}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...o, growth: Math.max(o.after, o.peak) - o.before };
}

async function caseOpen({ log = console.error } = {}) {
  const { PageLog } = require('..');
  const sets = [
    { size: 4096, mib: env('BENCH_OPEN_4K_MIB', 1024), must: 0.1 },
    { size: 100, mib: env('BENCH_OPEN_100_MIB', 256), must: 0.5 },
  ];
  const out = [];
  for (const s of sets) {
    const built = await buildDir(s.size, s.mib, log);
    try {
      const open = async () => {
        const t0 = performance.now();
        const plog = await PageLog.open(built.dir);
        const ms = performance.now() - t0;
        const pageCount = plog.pageCount;
        await plog.close();
        if (pageCount !== built.pages) throw new Error(`open found ${pageCount} pages, not ${built.pages}`);
        return { ms };
      };
      const read = async () => {
        const t0 = performance.now();
        const bytes = readAll(built.dir);
        const ms = performance.now() - t0;
        if (bytes !== built.bytes) throw new Error(`read ${bytes} bytes, not ${built.bytes}`);
        return { ms };
      };
      await open(); // warm: both sides read a directory in the page cache
      await read();
      const res = await interleave(`commit-open-${s.size}`, { project: open, baseline: read }, OPEN_ROUNDS, log);
      const ratio = median(res.project.map((p, i) => p.ms / res.baseline[i].ms));
      const rss = openRss(built.dir);
      out.push({ ...s, pages: built.pages, files: built.files, bytes: built.bytes,
        openMs: median(res.project.map((x) => x.ms)), readAllMs: median(res.baseline.map((x) => x.ms)), ratio,
        samples: res, rss, indexBytes: rss.indexBytes });
    } finally {
      fs.rmSync(built.dir, { recursive: true, force: true });
    }
  }
  const label = (s) => `${s.mib >= 1024 ? `${s.mib / 1024} GiB` : `${s.mib} MiB`} of ${s.size >= 1024 ? `${s.size / 1024} KiB` : `${s.size} B`} pages`;
  const rows = [];
  for (const s of out) {
    rows.push({
      case: `open ${label(s)} (${fmtN(s.pages)} pages, ${s.files} files) vs reading every file (warm cache)`,
      project: `${fmtMs(s.openMs)}`, baseline: `${fmtMs(s.readAllMs)}`,
      ratio: `${s.ratio.toFixed(2)}×`, must: `≤ ${s.must}×`, pass: s.ratio <= s.must,
    });
  }
  for (const s of out) {
    const limit = s.indexBytes + 32 * MiB;
    rows.push({
      case: `RSS growth during open, ${label(s)} (fresh process)`,
      project: `+${fmtMiB(s.rss.growth)} (${(s.rss.growth / s.pages).toFixed(0)} B/page)`, baseline: '—',
      ratio: '—', must: `≤ index ${fmtMiB(s.indexBytes)} + 32 MiB`, pass: s.rss.growth <= limit,
    });
  }
  return { case: 'open', rounds: OPEN_ROUNDS, bufferSize: OPEN_BUFFER_SIZE, dir: baseDir(), cache: 'warm (both sides)', sets: out, rows };
}

if (require.main === module) {
  report(caseOpen(), print);
}

module.exports = { caseOpen };
