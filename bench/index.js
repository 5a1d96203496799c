'use strict';
// Entry point of `npm run bench` (node --expose-gc bench/index.js).
//
// Runs every case for the project's WriteBuffer (`require('..')`) and for the
// pure-JS baseline and prints the comparison table, then thread scaling
// (bench/threads.js) and the durable flush (bench/flush.js), each in a child
// process of its own, then writes bench/results/<YYYY-MM-DD>.json and its plot,
// bench/results/<YYYY-MM-DD>.svg (bench/plot.js), copied to docs/bench.svg when
// the run was complete (no BENCH_ONLY, no BENCH_SELF).
//
// Method: each (case, implementation) runs in its own child process (same
// flags, same driver source, so no call site ever sees both classes). The
// children of a case stay alive side by side and take turns: round r runs one
// timed round in each child, one at a time, in an order rotated every round.
// A noisy host's slow spells then hit both sides alike, and the ratio is the
// median of the per-round paired ratios.
//
// Environment:
//   BENCH_SELF=1      substitute the baseline for the project (harness development)
//   BENCH_ONLY=re     run only the cases whose id matches the regexp
//   BENCH_ROUNDS=n    timed rounds per implementation (default 21)
//   BENCH_WARMUP=n    untimed warm-up rounds per child (default 3)
//   BENCH_CAP_MIB=n   buffer capacity in MiB (default 16; see cases.js)
//   GLIBC_TUNABLES    unless set, the children get TUNABLES below: arenas up to
//                     32 MiB come from the malloc heap and freed memory is kept, so
//                     a round's fresh arena (calloc, in the untimed setup) is reused,
//                     pre-zeroed memory, instead of being, at random, untouched pages
//                     that fault inside the timed loop. Both implementations allocate
//                     through glibc malloc; no effect elsewhere. GLIBC_TUNABLES= (empty)
//                     restores glibc's defaults.
const { fork } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');
const { timeRound, summarize, compare, writeResults } = require('./harness');
const { CASES, ROWS, CAP, sizeLabel } = require('./cases');
const plot = require('./plot');

const SELF = process.env.BENCH_SELF === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 21;
const WARMUP = Number(process.env.BENCH_WARMUP) || 3;
// Arenas up to 32 MiB from the heap (not fresh mmaps), and freed memory kept.
const TUNABLES = `glibc.malloc.mmap_threshold=${32 * 2 ** 20}:glibc.malloc.trim_threshold=${16 * 2 ** 30}`;

function writeBufferClass(impl) {
  if (impl === 'pure-JS' || (impl === 'project' && SELF)) {
    return require('./baseline/js-write-buffer').JsWriteBuffer;
  }
  return require('..').WriteBuffer;
}

// Child: node bench/index.js --child <caseId> <impl>. Warms up, says 'ready',
// then answers each 'round' with one timed round; anything else ends it.
async function child(caseId, impl) {
  const c = CASES[caseId];
  const { setup, fn } = impl in c.drivers ? c.drivers[impl]() : c.drivers.wb(writeBufferClass(impl));
  for (let r = 0; r < WARMUP; r++) await timeRound(fn, c.ops, setup);
  process.on('message', async (m) => {
    if (m === 'round') process.send(await timeRound(fn, c.ops, setup));
    else process.disconnect();
  });
  process.send('ready');
}

function spawn(caseId, impl) {
  const env = 'GLIBC_TUNABLES' in process.env ? process.env
    : { ...process.env, GLIBC_TUNABLES: TUNABLES };
  const cp = fork(__filename, ['--child', caseId, impl], { execArgv: process.execArgv, env });
  const inbox = [];
  const waiters = [];
  let exit = null;
  cp.on('message', (m) => (waiters.length ? waiters.shift().resolve(m) : inbox.push(m)));
  cp.on('exit', (code) => {
    exit = new Error(`${caseId}/${impl}: child exited with ${code}`);
    for (const w of waiters.splice(0)) w.reject(exit);
  });
  const recv = () => (inbox.length ? Promise.resolve(inbox.shift())
    : exit ? Promise.reject(exit) : new Promise((resolve, reject) => waiters.push({ resolve, reject })));
  return { recv, send: (m) => cp.send(m) };
}

/** Runs one case: every implementation, rounds interleaved. */
async function runCase(id) {
  const c = CASES[id];
  const impls = ['project', 'pure-JS', ...Object.keys(c.drivers).filter((k) => k !== 'wb')];
  const kids = {};
  for (const impl of impls) { // warm up one at a time
    kids[impl] = spawn(id, impl);
    if ((await kids[impl].recv()) !== 'ready') throw new Error(`${id}/${impl}: no ready`);
  }
  const ns = Object.fromEntries(impls.map((k) => [k, []]));
  const faults = Object.fromEntries(impls.map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < impls.length; j++) {
      const impl = impls[(r + j) % impls.length];
      kids[impl].send('round');
      const s = await kids[impl].recv();
      ns[impl].push(s.ns);
      faults[impl].push(s.faults);
    }
  }
  for (const impl of impls) kids[impl].send('exit');
  const values = {};
  for (const impl of impls) {
    values[impl] = { ops: c.ops, rounds: ROUNDS, ...summarize(ns[impl]),
      faultsPerOp: summarize(faults[impl]).median, samples: ns[impl] };
  }
  const ratios = (ref) => ns[ref].map((x, r) => x / ns.project[r]);
  return { values, ratios };
}

/**
 * The page-size sweep (cases with `sweep: true`): ns/op and MB/s (10^6 page
 * bytes per second) per size and implementation, and the paired ratios
 * pure-JS ÷ project and bare copy ÷ project. Prints the table; returns the
 * rows for the results file (null when no sweep case ran).
 */
function sweepTable(results) {
  const ids = Object.keys(results).filter((id) => CASES[id].sweep);
  if (!ids.length) return null;
  const paired = (id, ref) => {
    const s = summarize(results[id].ratios(ref));
    return { median: s.median, p25: s.p25, p75: s.p75 };
  };
  const rows = ids.map((id) => {
    const c = CASES[id];
    const v = results[id].values;
    const nsPerOp = Object.fromEntries(Object.entries(v).map(([k, s]) => [k, s.median]));
    const mbPerSec = Object.fromEntries(Object.entries(v).map(([k, s]) => [k, (c.pageSize / s.median) * 1000]));
    return { id, pageSize: c.pageSize, ops: c.ops, nsPerOp, mbPerSec,
      vsPureJs: paired(id, 'pure-JS'), vsBareCopy: paired(id, 'bare copy') };
  });
  const f = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  console.log(`\npage-size sweep · allocPage(size) + page.set(src) · ns/op = median of ${ROUNDS} rounds · ` +
    'MB/s = 10^6 page bytes/s · ratios: median of per-round paired ratios');
  const header = ['page', 'ops', 'project ns/op', 'pure-JS ns/op', 'bare ns/op', 'project MB/s', 'pure-JS MB/s',
    'bare MB/s', 'pure-JS ÷ project', 'project ÷ bare'];
  const lines = rows.map((r) => [sizeLabel(r.pageSize), String(r.ops), f(r.nsPerOp.project), f(r.nsPerOp['pure-JS']),
    f(r.nsPerOp['bare copy']), r.mbPerSec.project.toFixed(0), r.mbPerSec['pure-JS'].toFixed(0),
    r.mbPerSec['bare copy'].toFixed(0), r.vsPureJs.median.toFixed(2), (1 / r.vsBareCopy.median).toFixed(2)]);
  const w = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  console.log(render(header));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const l of lines) console.log(render(l));
  return rows;
}

async function main() {
  if (!SELF) {
    let mod;
    try {
      mod = require('..');
    } catch (e) {
      console.error(`build first: npm run build\n  (require('..') failed: ${e.message.split('\n')[0]})`);
      process.exit(1);
    }
    if (typeof mod.WriteBuffer !== 'function') {
      console.error("build first: npm run build\n  (require('..').WriteBuffer is not a class)");
      process.exit(1);
    }
  }
  if (typeof global.gc !== 'function') console.error('note: run with --expose-gc to GC between rounds');

  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
  const ids = Object.keys(CASES).filter((id) => !only || only.test(id));
  const results = {};
  for (const [n, id] of ids.entries()) {
    const t0 = Date.now();
    results[id] = await runCase(id);
    const v = results[id].values;
    process.stderr.write(`[${n + 1}/${ids.length}] ${CASES[id].title}: ` +
      Object.entries(v).map(([k, s]) => `${k} ${s.median.toFixed(1)} ns/op (${s.faultsPerOp.toFixed(3)} faults/op)`).join(', ') +
      ` · ${ROUNDS} rounds × ${CASES[id].ops} ops · ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }

  const project = SELF ? 'project (= pure-JS baseline, BENCH_SELF=1)' : 'project (native)';
  console.log(`\nphoton-write-buffer bench · ${project} · node ${process.version} · ${os.cpus()[0].model} × ${os.cpus().length}`);
  console.log(`ns/op = median of ${ROUNDS} rounds; capacity ${CAP / 2 ** 20} MiB; ` +
    'ratio = vs ÷ project (> 1: project faster), median of per-round paired ratios\n');
  const rows = compare(ROWS.filter((r) => results[r.from]).map((r) => ({
    case: CASES[r.from].title, id: r.from, values: results[r.from].values,
    ratios: results[r.from].ratios(r.ref), ref: r.ref, target: r.target, targetText: r.targetText,
  })));

  const sweep = sweepTable(results);

  let threads = null;
  if (!SELF && (!only || only.test('threads'))) {
    // In a child of its own, with the same glibc tunables as the other cases.
    const env = 'GLIBC_TUNABLES' in process.env ? process.env : { ...process.env, GLIBC_TUNABLES: TUNABLES };
    const r = require('node:child_process').spawnSync(process.execPath, [path.join(__dirname, 'threads.js'), '--json'], {
      env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`bench/threads.js failed (exit ${r.status})`);
    threads = JSON.parse(r.stdout.trim().split('\n').pop());
    require('./threads').print(threads);
  }

  let flush = null;
  if (!SELF && (!only || only.test('flush'))) {
    // Durable flush vs a bare write + fdatasync, in a child of its own.
    const r = require('node:child_process').spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'flush.js'), '--json'], {
      env: process.env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`bench/flush.js failed (exit ${r.status})`);
    flush = JSON.parse(r.stdout.trim().split('\n').pop());
    require('./flush').print(flush);
  }

  const file = writeResults({
    threads,
    flush,
    sweep,
    date: new Date().toISOString(),
    self: SELF,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0].model,
    cpus: os.cpus().length,
    rounds: ROUNDS,
    warmup: WARMUP,
    capacity: CAP,
    glibcTunables: process.env.GLIBC_TUNABLES ?? TUNABLES,
    method: `each (case, impl) in its own child process, ${WARMUP} warm-up rounds, then ${ROUNDS} timed rounds ` +
      'taken in turns across the implementations (order rotated per round); before each round, untimed: GC, ' +
      'one event-loop turn, setup (a fresh buffer), GC; ns/op = median round; ratio = median of per-round ratios',
    rows,
  });
  console.log(`\nresults: ${file}`);
  const svg = plot.writePlot(file, { docs: !SELF && !only });
  console.log(`plot: ${svg.join(', ')}`);
}

const run = process.argv[2] === '--child' ? () => child(process.argv[3], process.argv[4]) : main;
run().catch((e) => { console.error(e); process.exit(1); });
