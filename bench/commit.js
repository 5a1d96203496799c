'use strict';
// Durable commits (docs/BENCHMARKS.md, "Durable commits"): what a database, a
// queue or a logger built on PageLog gets when it acknowledges a client only
// once the client's record is durable, against what a user writes by hand on
// one file. Public API only, default options unless a user would set one, the
// environment a user's process has. Run by bench/index.js (each case in a child
// process of its own: steps commit-1, commit-32, commit-workers; commit-open is
// bench/open.js, printed in the same table), or alone:
//   node --expose-gc bench/commit.js --case one|many|workers [--json]
//
// Cases (each prints rows "case | project | baseline | ratio | must | status"):
// A client appends with `await log.append(id, data)` (the plain call; its
// promise resolves at once when the page fits) and then awaits `flush()`.
//   one       1 client: append 100 B + `await log.flush()` per commit, commits/s,
//             vs `fs.writeSync` of the same 100 B behind a 16 B header +
//             `fs.fdatasyncSync` on one file. Ratio project ÷ baseline, ≥ 0.8.
//   many      32 async clients in one process, each looping append +
//             `await log.flush()`: commits/s and p50/p99 latency (append to
//             flush resolved), vs the hand-written group commit of
//             bench/baseline/group-commit.js (queue; when idle: one writev of
//             everything queued + one fdatasync; resolve all). Ratio ≥ 1.0.
//             Also files created per 1000 commits (directory entries after the
//             last commit resolved, before close(), minus those after open),
//             ≤ 1. An info row: the same clients appending with the
//             synchronous fast path, `log.tryAppend(id, data) ?? await
//             log.append(id, data)`, which leaves no turn between a client's
//             append and its flush(): a log whose flush() seals at once then
//             makes one file per client instead of one per batch.
//   workers   4 worker threads, each `PageLog.attach(log.share())` and looping
//             `PageLogWriter.append` + `await flush()`: commit p99, vs the
//             p99 of `fdatasyncSync` in the bare loop of `one` (measured in the
//             same process, rounds interleaved): ≤ 2 × fdatasync p99 + 1 ms.
// Rounds alternate project and baseline (order rotated every round), each from
// a fresh directory, a 100 ms settle and a GC before each, untimed. Many short
// rounds rather than a few long ones: the disk's latency drifts with the rest
// of the machine's I/O, and a median of paired short rounds follows it.
// Throughput: median of the rounds; ratio: median of the per-round ratios;
// latency percentiles: over every commit of every round.
//
// Environment: BENCH_COMMIT_ROUNDS (default 10), BENCH_COMMIT_MS (ms per round,
// default 500), BENCH_COMMIT_CLIENTS (32), BENCH_COMMIT_WORKERS (4),
// BENCH_COMMIT_DIR (default the OS temp dir; fresh directories are made and
// removed under it). BENCH_QUICK=1 (bench/index.js) sets 3 rounds of 500 ms.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { printTable, report } = require('./harness');
const { GroupCommit } = require('./baseline/group-commit');

const MiB = 1 << 20;
const PAYLOAD = 100;
const HEADER = 16;
const IDS = 65536;
const SETTLE_MS = 100;

const env = (name, def) => Number(process.env[name]) || def;
const ROUNDS = env('BENCH_COMMIT_ROUNDS', 10);
const ROUND_MS = env('BENCH_COMMIT_MS', 500);
const CLIENTS = env('BENCH_COMMIT_CLIENTS', 32);
const WORKERS = env('BENCH_COMMIT_WORKERS', 4);

const gc = typeof global.gc === 'function' ? global.gc : () => {};
const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** The p-quantile (0..1) of `xs`, nearest rank. */
function quantile(xs, p) {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}
const baseDir = () => process.env.BENCH_COMMIT_DIR || os.tmpdir();
const freshDir = (tag) => fs.mkdtempSync(path.join(baseDir(), `pwb-bench-${tag}-`));
const entries = (dir) => fs.readdirSync(dir).length;

/** `size` bytes of pseudo-random data. */
function payload(size, seed = 0x9e3779b9) {
  const b = Buffer.alloc(size);
  let x = seed | 0;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
}

/** A baseline record: a 16 B header (id, length, sequence) and the 100 B payload. */
function record(src, id, seq) {
  const r = Buffer.allocUnsafe(HEADER + src.length);
  r.writeBigUInt64LE(BigInt(id), 0);
  r.writeUInt32LE(src.length, 8);
  r.writeUInt32LE(seq >>> 0, 12);
  src.copy(r, HEADER);
  return r;
}

/** Runs `rounds` rounds of every variant, order rotated per round; `log` ticks. */
async function interleave(name, variants, rounds, log) {
  const names = Object.keys(variants);
  const out = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < names.length; j++) {
      const v = names[(r + j) % names.length];
      await sleep(SETTLE_MS);
      gc();
      await turn();
      out[v].push(await variants[v]());
    }
    log(`${name}: round ${r + 1}/${rounds}`);
  }
  return out;
}

// ---------------------------------------------------------------- one client

/** The project, 1 client: append + await flush() per commit for `ms`. */
async function oneProject(ms) {
  const { PageLog } = require('..');
  const dir = freshDir('commit1');
  try {
    const log = await PageLog.open(dir);
    const files0 = entries(dir);
    const src = payload(PAYLOAD);
    const lat = [];
    const t0 = performance.now();
    const end = t0 + ms;
    let t = t0;
    while (t < end) {
      await log.append(lat.length % IDS, src);
      await log.flush();
      const s = t;
      t = performance.now();
      lat.push(t - s);
    }
    const elapsed = t - t0;
    const files = entries(dir) - files0;
    await log.close();
    return { commits: lat.length, ms: elapsed, perSec: lat.length / (elapsed / 1000), files, lat };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The bare baseline: writeSync(header + 100 B) + fdatasyncSync per commit, on
 * one file, for `ms`; `lat` the commits' latencies, `syncs` the fdatasyncs'.
 */
function oneBare(ms) {
  const dir = freshDir('commit1-bare');
  const fd = fs.openSync(path.join(dir, 'log'), 'w');
  try {
    const src = payload(PAYLOAD);
    const lat = [];
    const syncs = [];
    const t0 = performance.now();
    const end = t0 + ms;
    let t = t0;
    while (t < end) {
      const r = record(src, lat.length % IDS, lat.length);
      fs.writeSync(fd, r);
      const s0 = performance.now();
      fs.fdatasyncSync(fd);
      const s = t;
      t = performance.now();
      syncs.push(t - s0);
      lat.push(t - s);
    }
    const elapsed = t - t0;
    return { commits: lat.length, ms: elapsed, perSec: lat.length / (elapsed / 1000), files: 1, lat, syncs };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function caseOne({ log = console.error } = {}) {
  await oneProject(Math.min(200, ROUND_MS)); // warm-up (JIT, the addon, the fs)
  oneBare(Math.min(200, ROUND_MS));
  const res = await interleave('commit-1', { project: () => oneProject(ROUND_MS), baseline: async () => oneBare(ROUND_MS) }, ROUNDS, log);
  const ratio = median(res.project.map((p, i) => p.perSec / res.baseline[i].perSec));
  const p = median(res.project.map((x) => x.perSec));
  const b = median(res.baseline.map((x) => x.perSec));
  const filesPer1000 = median(res.project.map((x) => (x.files / x.commits) * 1000));
  // Latency percentiles are less shaken by the rest of the machine's I/O than
  // commits/s (a few slow fdatasyncs decide a round's throughput): shown beside it.
  const pLat = res.project.flatMap((x) => x.lat);
  const bLat = res.baseline.flatMap((x) => x.lat);
  const lat = (xs) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) });
  const strip = (xs) => xs.map(({ lat: _l, syncs: _s, ...x }) => x);
  const text = (perSec, l) => `${fmtN(perSec)} commits/s, p50 ${fmtMs(quantile(l, 0.5))}, p99 ${fmtMs(quantile(l, 0.99))}`;
  return {
    case: 'one', rounds: ROUNDS, roundMs: ROUND_MS, payload: PAYLOAD, dir: baseDir(),
    project: { commitsPerSec: p, filesPer1000, ...lat(pLat), samples: strip(res.project) },
    baseline: { commitsPerSec: b, ...lat(bLat), samples: strip(res.baseline) },
    ratio,
    rows: [{
      case: '1 client: 100 B append + flush() vs writeSync + fdatasync',
      project: text(p, pLat), baseline: text(b, bLat),
      ratio: `${ratio.toFixed(2)}×`, must: '≥ 0.8×', pass: ratio >= 0.8,
    }],
  };
}

// ------------------------------------------------------------- many clients

/** `clients` async loops of `one()` (resolves when a commit is durable) for `ms`; commits, latencies. */
async function clientLoops(clients, ms, one) {
  const lat = [];
  let commits = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  const client = async (c) => {
    for (let i = 0; performance.now() < end; i++) {
      const s = performance.now();
      await one(c, i);
      lat.push(performance.now() - s);
      commits++;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const elapsed = performance.now() - t0;
  return { commits, ms: elapsed, perSec: commits / (elapsed / 1000), lat };
}

/** The project, `CLIENTS` clients; `fast`: append with `tryAppend(id, data) ?? await append(id, data)`. */
async function manyProject(ms, fast = false) {
  const { PageLog } = require('..');
  const dir = freshDir('commit32');
  try {
    const log = await PageLog.open(dir);
    const files0 = entries(dir);
    const src = payload(PAYLOAD);
    const out = await clientLoops(CLIENTS, ms, async (c, i) => {
      const id = (c * 2048 + i) % IDS;
      if (!fast) await log.append(id, src);
      else if (log.tryAppend(id, src) === null) await log.append(id, src);
      await log.flush();
    });
    out.files = entries(dir) - files0;
    await log.close();
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function manyBaseline(ms) {
  const dir = freshDir('commit32-gc');
  const fd = fs.openSync(path.join(dir, 'log'), 'w');
  try {
    const files0 = entries(dir);
    const src = payload(PAYLOAD);
    const g = new GroupCommit(fd);
    const out = await clientLoops(CLIENTS, ms, (c, i) => g.commit(record(src, (c * 2048 + i) % IDS, i)));
    out.files = entries(dir) - files0 + 1; // the log file itself, made before
    out.batches = g.batches;
    return out;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function caseMany({ log = console.error } = {}) {
  await manyProject(Math.min(200, ROUND_MS));
  await manyProject(Math.min(200, ROUND_MS), true);
  await manyBaseline(Math.min(200, ROUND_MS));
  const res = await interleave('commit-32', {
    project: () => manyProject(ROUND_MS),
    fast: () => manyProject(ROUND_MS, true),
    baseline: () => manyBaseline(ROUND_MS),
  }, ROUNDS, log);
  const ratioOf = (v) => median(res[v].map((p, i) => p.perSec / res.baseline[i].perSec));
  const ratio = ratioOf('project');
  const fastRatio = ratioOf('fast');
  const summary = (xs) => {
    const lat = xs.flatMap((x) => x.lat);
    return { commitsPerSec: median(xs.map((x) => x.perSec)), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), commits: lat.length };
  };
  const p = summary(res.project);
  const f = summary(res.fast);
  const b = summary(res.baseline);
  const per1000 = (xs) => (xs.reduce((s, x) => s + x.files, 0) / xs.reduce((s, x) => s + x.commits, 0)) * 1000;
  const filesPer1000 = per1000(res.project);
  const fastFilesPer1000 = per1000(res.fast);
  const batchesPerCommit = res.baseline.reduce((s, x) => s + x.batches, 0) / res.baseline.reduce((s, x) => s + x.commits, 0);
  const strip = (xs) => xs.map(({ lat, ...x }) => x);
  return {
    case: 'many', clients: CLIENTS, rounds: ROUNDS, roundMs: ROUND_MS, payload: PAYLOAD, dir: baseDir(),
    project: { ...p, filesPer1000, samples: strip(res.project) },
    fastPath: { ...f, filesPer1000: fastFilesPer1000, ratio: fastRatio, samples: strip(res.fast) },
    baseline: { ...b, commitsPerBatch: 1 / batchesPerCommit, samples: strip(res.baseline) },
    ratio,
    rows: [
      {
        case: `${CLIENTS} clients: append + flush() each vs hand-rolled group commit`,
        project: `${fmtN(p.commitsPerSec)} commits/s, p50 ${fmtMs(p.p50)}, p99 ${fmtMs(p.p99)}`,
        baseline: `${fmtN(b.commitsPerSec)} commits/s, p50 ${fmtMs(b.p50)}, p99 ${fmtMs(b.p99)}`,
        ratio: `${ratio.toFixed(2)}×`, must: '≥ 1.0×', pass: ratio >= 1.0,
      },
      {
        case: `files created per 1000 commits (${CLIENTS} clients)`,
        project: filesPer1000.toFixed(1), baseline: `1 file in all (${(1 / batchesPerCommit).toFixed(1)} commits per fdatasync)`,
        ratio: '—', must: '≤ 1', pass: filesPer1000 <= 1,
      },
      {
        case: `${CLIENTS} clients, tryAppend() ?? await append(), + flush() each`,
        project: `${fmtN(f.commitsPerSec)} commits/s, p50 ${fmtMs(f.p50)}, p99 ${fmtMs(f.p99)}, ${fastFilesPer1000.toFixed(1)} files/1000`,
        baseline: 'as above', ratio: `${fastRatio.toFixed(2)}×`, must: '—', pass: null,
      },
    ],
  };
}

// ----------------------------------------------------------- worker threads

/** Worker: attach, say ready, loop append + flush() until `end` (performance.timeOrigin based), post latencies. */
async function workerMain() {
  const { PageLog } = require('..');
  const { handle, w } = workerData;
  const writer = PageLog.attach(handle);
  const src = payload(PAYLOAD, 0x1234567 + w);
  parentPort.postMessage({ type: 'ready' });
  const { endEpoch } = await new Promise((resolve) => parentPort.once('message', resolve));
  const end = endEpoch - performance.timeOrigin;
  const lat = [];
  for (let i = 0; performance.now() < end; i++) {
    const s = performance.now();
    const id = (w << 16) + (i % IDS);
    await writer.append(id, src);
    await writer.flush();
    lat.push(performance.now() - s);
  }
  const out = Float64Array.from(lat);
  parentPort.postMessage({ type: 'done', lat: out }, [out.buffer]);
  writer.close();
}

async function workersProject(ms) {
  const { PageLog } = require('..');
  const dir = freshDir('commit-workers');
  const workers = [];
  try {
    const log = await PageLog.open(dir);
    const handle = log.share();
    const ready = [];
    for (let w = 0; w < WORKERS; w++) {
      const worker = new Worker(__filename, { workerData: { handle, w } });
      workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }));
    }
    await Promise.all(ready); // start-up untimed
    const done = workers.map((worker) => new Promise((resolve, reject) => {
      worker.on('message', (m) => m.type === 'done' && resolve(m.lat));
      worker.once('error', reject);
    }));
    const t0 = performance.now();
    const endEpoch = performance.timeOrigin + t0 + ms;
    for (const worker of workers) worker.postMessage({ endEpoch });
    const lats = await Promise.all(done);
    const elapsed = performance.now() - t0;
    // The workers closed their writers and exit; a stuck one is terminated (finally).
    await Promise.race([Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)))), sleep(2000)]);
    await log.close();
    const lat = lats.flatMap((l) => Array.from(l));
    return { commits: lat.length, ms: elapsed, perSec: lat.length / (elapsed / 1000), lat };
  } finally {
    for (const worker of workers) worker.terminate();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function caseWorkers({ log = console.error } = {}) {
  await workersProject(Math.min(200, ROUND_MS));
  oneBare(Math.min(200, ROUND_MS));
  const res = await interleave('commit-workers', {
    project: () => workersProject(ROUND_MS),
    baseline: async () => {
      const { lat: _l, syncs, ...out } = oneBare(ROUND_MS);
      return { ...out, lat: syncs };
    },
  }, ROUNDS, log);
  const lat = res.project.flatMap((x) => x.lat);
  const sync = res.baseline.flatMap((x) => x.lat);
  const p99 = quantile(lat, 0.99);
  const syncP99 = quantile(sync, 0.99);
  const limit = 2 * syncP99 + 1;
  const strip = (xs) => xs.map(({ lat: _l, ...x }) => x);
  return {
    case: 'workers', workers: WORKERS, rounds: ROUNDS, roundMs: ROUND_MS, payload: PAYLOAD, dir: baseDir(),
    project: { p50: quantile(lat, 0.5), p99, commits: lat.length, commitsPerSec: median(res.project.map((x) => x.perSec)), samples: strip(res.project) },
    baseline: { fdatasyncP50: quantile(sync, 0.5), fdatasyncP99: syncP99, syncs: sync.length, samples: strip(res.baseline) },
    limitMs: limit,
    rows: [{
      case: `commit p99, ${WORKERS} worker threads: append + flush() vs fdatasync p99`,
      project: `p99 ${fmtMs(p99)} (p50 ${fmtMs(quantile(lat, 0.5))}, ${fmtN(median(res.project.map((x) => x.perSec)))} commits/s)`,
      baseline: `fdatasync p99 ${fmtMs(syncP99)} (p50 ${fmtMs(quantile(sync, 0.5))})`,
      ratio: `${(p99 / syncP99).toFixed(2)}×`, must: `≤ 2× + 1 ms = ${fmtMs(limit)}`, pass: p99 <= limit,
    }],
  };
}

// ------------------------------------------------------------------ output

const fmtN = (x) => Math.round(x).toLocaleString('en-US');
const fmtMs = (x) => `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`;
const fmtMiB = (x) => `${(x / MiB).toFixed(1)} MiB`;

/** Prints the results of any of the cases (one or a list) as one table. */
function print(results) {
  const list = (Array.isArray(results) ? results : [results]).filter(Boolean);
  if (list.length === 0) return;
  const r0 = list[0];
  console.log(`\ndurable commits · ${PAYLOAD} B records unless said · default PageLog options (open: bufferSize 8 MiB) · ` +
    `rounds alternate project and baseline · ${r0.dir}`);
  const header = ['case', 'project', 'baseline', 'ratio', 'must', 'status'];
  const status = (pass) => (pass === null ? 'info' : pass ? 'PASS' : 'FAIL');
  const lines = list.flatMap((r) => r.rows).map((x) => [x.case, x.project, x.baseline, x.ratio, x.must, status(x.pass)]);
  printTable(header, lines, { left: (i, n) => i === 0 || i >= n - 2 });
  for (const r of list) {
    if (r.case === 'one' || r.case === 'many') {
      console.log(`${r.case === 'one' ? '1 client' : `${r.clients} clients`}: ${r.rounds} rounds of ${r.roundMs} ms; ` +
        `PageLog files per 1000 commits ${r.project.filesPer1000.toFixed(1)}`);
    }
    if (r.case === 'open') console.log(`open: ${r.rounds} rounds; page cache warm for both sides (it cannot be dropped without root)`);
  }
}

const CASES = { one: caseOne, many: caseMany, workers: caseWorkers };

if (!isMainThread) {
  workerMain().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (require.main === module) {
  const i = process.argv.indexOf('--case');
  const name = i >= 0 ? process.argv[i + 1] : null;
  const go = CASES[name];
  if (!go) {
    console.error(`usage: node --expose-gc bench/commit.js --case ${Object.keys(CASES).join('|')} [--json]`);
    process.exit(2);
  }
  report(go(), print);
}

module.exports = {
  print, quantile, CASES,
  // For bench/open.js:
  MiB, env, median, interleave, payload, freshDir, baseDir, fmtN, fmtMs, fmtMiB,
};
