'use strict';
// Entry point of `npm run bench` (node --expose-gc bench/index.js).
//
// Runs every case for the project's WriteBuffer (`require('..')`) and for the
// pure-JS baseline, then thread scaling (bench/threads.js), the durable flush
// (bench/flush.js), PageLog sustained append vs sonic-boom and PageLog RSS
// over 1M appends (bench/pagelog.js), arena memory with buffers dropped without
// dispose() (bench/arena-memory.js), durable commits (bench/commit.js: 1 and 32
// clients, 4 worker threads; bench/open.js: open), the page index's bytes per page
// and ns/op, Rust vs JS Maps (bench/page-index.js), each in a child process of its own;
// prints every table, then writes bench/results/<YYYY-MM-DD>.json and its plot,
// bench/results/<YYYY-MM-DD>.svg (bench/plot.js), copied to docs/bench.svg when
// the run was complete (no BENCH_ONLY, no BENCH_SELF, no BENCH_QUICK).
// Progress goes to stderr (bench/progress.js): a status line redrawn in place
// on a TTY, one line per finished step otherwise.
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
//   BENCH_ONLY=re     run only the cases whose id matches the regexp (the
//                     child steps' ids: threads, flush, pagelog, buffersize, rss, arena,
//                     commit-1, commit-32, commit-workers, commit-open, index)
//   BENCH_QUICK=1     a short run while developing (figures not for the docs):
//                     5 rounds, 1 warm-up, 3 rounds for threads/flush/pagelog,
//                     16 MiB per pagelog round, 3 rounds of 500 ms per commit
//                     case and 64 / 16 MiB for open (unless set explicitly); results
//                     go to bench/results/tmp-<date>.json (git-ignored), as do
//                     those of a BENCH_ONLY run
//   BENCH_ROUNDS=n    timed rounds per implementation (default 21)
//   BENCH_WARMUP=n    untimed warm-up rounds per child (default 3)
//   BENCH_CAP_MIB=n   buffer capacity in MiB (default 16; see cases.js)
//   GLIBC_TUNABLES    not set by the bench: the children run in the environment a
//                     user's process has (a value set by the caller is passed on,
//                     and recorded in the results as a tuned run).
const { fork } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');
const { timeRound, summarize, compare, printTable, writeResults } = require('./harness');
const { CASES, ROWS, CAP, sizeLabel } = require('./cases');
const { Progress, parseRoundLine } = require('./progress');
const plot = require('./plot');

const SELF = process.env.BENCH_SELF === '1';
const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS) || (QUICK ? 5 : 21);
const WARMUP = Number(process.env.BENCH_WARMUP) || (QUICK ? 1 : 3);
// What BENCH_QUICK=1 gives the child steps (an explicit setting wins).
const QUICK_ENV = { BENCH_ARENA_SECONDS: '1', BENCH_THREAD_ROUNDS: '3', BENCH_FLUSH_ROUNDS: '3', BENCH_PAGELOG_ROUNDS: '3', BENCH_PAGELOG_MIB: '16', BENCH_BUFSIZE_ROUNDS: '2',
  BENCH_COMMIT_ROUNDS: '3', BENCH_COMMIT_MS: '500', BENCH_OPEN_4K_MIB: '64', BENCH_OPEN_100_MIB: '16', BENCH_INDEX_SIZES: '1e6' };
// The durable-commit steps (bench/commit.js --case <c>; open: bench/open.js).
const COMMIT_TITLES = { one: '1 client', many: '32 clients, files per commit', workers: '4 worker threads, p99', open: 'open vs reading every file, RSS' };

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
  const d = impl in c.drivers ? c.drivers[impl]() : c.drivers.wb(writeBufferClass(impl));
  const { fn } = d;
  // Untimed, before a round's fresh buffer: the project's reclaim thread has
  // finished with the arenas of the buffers just collected (so the new one
  // can reuse one), as the GC before it has finished with the heap.
  const stats = impl === 'project' && !SELF ? require('..').arenaCacheStats : null;
  const setup = d.setup && stats ? () => {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 200 && stats().pendingArenas > 0; i++) Atomics.wait(pause, 0, 0, 1);
    return d.setup();
  } : d.setup;
  for (let r = 0; r < WARMUP; r++) await timeRound(fn, c.ops, setup);
  process.on('message', async (m) => {
    if (m === 'round') process.send(await timeRound(fn, c.ops, setup));
    else process.disconnect();
  });
  process.send('ready');
}

function spawn(caseId, impl) {
  const cp = fork(__filename, ['--child', caseId, impl], { execArgv: process.execArgv, env: process.env });
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

/** Runs one case: every implementation, rounds interleaved; `onRound(r)` after each round. */
async function runCase(id, onRound = () => {}) {
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
    onRound(r + 1);
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
  printTable(header, lines);
  return rows;
}

/**
 * Runs `node [execArgv] bench/<script> --json ...args` in a child process:
 * its `<name>: round r/n` stderr lines become progress ticks, its other
 * stderr lines are passed on; resolves to the JSON of its last stdout line.
 */
function runChild(progress, script, args = [], { env = process.env, execArgv = [] } = {}) {
  const { spawn: spawnProcess } = require('node:child_process');
  return new Promise((resolve, reject) => {
    const cp = spawnProcess(process.execPath, [...execArgv, path.join(__dirname, script), '--json', ...args], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    cp.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    cp.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      let nl;
      while ((nl = err.indexOf('\n')) >= 0) {
        const line = err.slice(0, nl);
        err = err.slice(nl + 1);
        const tick = parseRoundLine(line);
        if (tick) progress.round(tick.round, tick.rounds);
        else progress.log(line);
      }
    });
    cp.on('error', reject);
    cp.on('close', (code) => {
      if (err) progress.log(err);
      if (code !== 0) return reject(new Error(`bench/${script} failed (exit ${code})`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`bench/${script}: no JSON result (${e.message})`));
      }
    });
  });
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
  const quickEnv = (env) => (QUICK ? { ...Object.fromEntries(Object.entries(QUICK_ENV).filter(([k]) => !(k in env))), ...env } : env);
  const mib = (x) => `${(x / 2 ** 20).toFixed(1)} MiB`;
  const childSteps = SELF ? [] : [
    { id: 'threads', title: 'thread scaling', script: 'threads.js', env: quickEnv(process.env),
      summary: (r) => Object.entries(r).map(([m, v]) => `${m} 2w÷1w ${Number(v.ratio).toFixed(2)}`).join(', ') },
    { id: 'flush', title: 'durable flush', script: 'flush.js', env: quickEnv(process.env), execArgv: ['--expose-gc'],
      summary: (r) => `flushTo ${r.mbPerSec.flushTo.toFixed(0)} MB/s, ÷ bare ${r.ratioVsBare.toFixed(2)}` },
    { id: 'pagelog', title: 'PageLog vs sonic-boom', script: 'pagelog.js', env: quickEnv(process.env), execArgv: ['--expose-gc'],
      summary: (r) => r.rows.map((x) => `${sizeLabel(x.pageSize)} ${x.variants.PageLog.mibPerSec.toFixed(0)} vs ` +
        `${x.variants['sonic-boom'].mibPerSec.toFixed(0)} MiB/s (${x.ratio.toFixed(2)}×)`).join(', ') },
    { id: 'buffersize', title: 'cost vs buffer size', script: 'buffer-size.js', env: quickEnv(process.env), execArgv: ['--expose-gc'],
      summary: (r) => r.rows.map((x) => `${x.capacity >> 10} KiB ${x.pooled.nsPerPage.toFixed(0)} ns/page`).join(', ') },
    { id: 'rss', title: 'PageLog RSS', script: 'pagelog.js', args: ['--rss'],
      env: quickEnv(process.env), execArgv: ['--expose-gc'],
      summary: (r) => `${r.appends} appends: growth ${mib(r.growth)} after warm-up (outside V8's heap ${mib(r.outsideHeapGrowth)}), ` +
        `peak +${mib(r.peakGrowth)}` },
    { id: 'arena', title: 'arena memory (buffers dropped without dispose)', script: 'arena-memory.js', env: quickEnv(process.env),
      summary: (r) => r.rows.map((x) => `${x.key} ${x.projectText} (${x.pass ? 'PASS' : 'FAIL'})`).join(', ') },
    ...['one', 'many', 'workers', 'open'].map((c) => ({
      id: `commit-${c === 'one' ? '1' : c === 'many' ? '32' : c}`, title: `durable commits: ${COMMIT_TITLES[c]}`,
      script: c === 'open' ? 'open.js' : 'commit.js', args: c === 'open' ? [] : ['--case', c],
      env: quickEnv(process.env), execArgv: ['--expose-gc'],
      summary: (r) => r.rows.map((x) => `${x.ratio === '—' ? x.project : x.ratio} (${x.pass === null ? 'info' : x.pass ? 'PASS' : 'FAIL'})`).join(', ') })),
    { id: 'index', title: 'page index: Rust vs JS Maps', script: 'page-index.js', env: quickEnv(process.env),
      summary: (r) => r.rows.map((x) => `${x.n} ${x.keys} ${x.rust.bytesPerPage.rss.toFixed(0)} vs ` +
        `${x.js.bytesPerPage.rss.toFixed(0)} B/page (${x.ratio.rss.toFixed(2)}× smaller)`).join(', ') },
  ].filter((st) => !only || only.test(st.id));

  const progress = new Progress({ count: ids.length + childSteps.length });
  const results = {};
  for (const id of ids) {
    progress.start(CASES[id].title, ROUNDS);
    results[id] = await runCase(id, (r) => progress.round(r, ROUNDS));
    const v = results[id].values;
    progress.end(Object.entries(v).map(([k, s]) => `${k} ${s.median.toFixed(1)} ns/op (${s.faultsPerOp.toFixed(3)} faults/op)`).join(', ') +
      ` · ${ROUNDS} rounds × ${CASES[id].ops} ops`);
  }
  const child = {};
  for (const st of childSteps) {
    progress.start(st.title);
    child[st.id] = await runChild(progress, st.script, st.args, { env: st.env, execArgv: st.execArgv });
    progress.end(st.summary(child[st.id]));
  }
  progress.close();

  const project = SELF ? 'project (= pure-JS baseline, BENCH_SELF=1)' : 'project (native)';
  console.log(`\nphoton-write-buffer bench · ${project} · node ${process.version} · ${os.cpus()[0].model} × ${os.cpus().length}` +
    (QUICK ? ' · BENCH_QUICK=1 (short run, not for the docs)' : ''));
  // (No case table when BENCH_ONLY picked child steps only.)
  if (ids.length) {
    console.log(`ns/op = median of ${ROUNDS} rounds; capacity ${CAP / 2 ** 20} MiB; ` +
      'ratio = vs ÷ project (> 1: project faster), median of per-round paired ratios\n');
  }
  const rows = !ids.length ? [] : compare(ROWS.filter((r) => results[r.from]).map((r) => ({
    case: CASES[r.from].title, id: r.from, values: results[r.from].values,
    ratios: results[r.from].ratios(r.ref), ref: r.ref, target: r.target, targetText: r.targetText,
  })));

  const sweep = sweepTable(results);
  const { threads = null, flush = null, pagelog = null, rss = null, buffersize = null, arena = null, index = null } = child;
  if (threads) require('./threads').print(threads);
  if (flush) require('./flush').print(flush);
  if (pagelog) require('./pagelog').print(pagelog);
  if (rss) require('./pagelog').printRss(rss);
  if (buffersize) require('./buffer-size').print(buffersize);
  if (arena) require('./arena-memory').print(arena);
  const commits = ['commit-1', 'commit-32', 'commit-workers', 'commit-open'].map((id) => child[id]).filter(Boolean);
  if (commits.length) require('./commit').print(commits);
  if (index) require('./page-index').print(index);

  // A quick or partial run must not replace the day's results: it goes to
  // tmp-<date>.json (git-ignored).
  const file = writeResults({
    arena,
    index,
    buffersize,
    threads,
    flush,
    pagelog,
    rss,
    commits: commits.length ? commits : null,
    sweep,
    date: new Date().toISOString(),
    self: SELF,
    quick: QUICK,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0].model,
    cpus: os.cpus().length,
    loadavg: os.loadavg(),
    rounds: ROUNDS,
    warmup: WARMUP,
    capacity: CAP,
    glibcTunables: process.env.GLIBC_TUNABLES ?? null,
    method: `each (case, impl) in its own child process, ${WARMUP} warm-up rounds, then ${ROUNDS} timed rounds ` +
      'taken in turns across the implementations (order rotated per round); before each round, untimed: GC, ' +
      'one event-loop turn, setup (a fresh buffer), GC; ns/op = median round; ratio = median of per-round ratios',
    rows,
  }, { prefix: QUICK || only ? 'tmp-' : '' });
  console.log(`\nresults: ${file}`);
  const svg = plot.writePlot(file, { docs: !SELF && !only && !QUICK });
  console.log(`plot: ${svg.join(', ')}`);
}

const run = process.argv[2] === '--child' ? () => child(process.argv[3], process.argv[4]) : main;
run().catch((e) => { console.error(e); process.exit(1); });
