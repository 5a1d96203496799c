'use strict';
// Where a 1-client commit's time goes besides the disk: the same commit loop
// (a 116 B write + fdatasync per commit, one file) with the sync made four
// ways, rounds alternated, median µs per commit:
//   sync          fs.fdatasyncSync on the JS thread (the baseline of the
//                 1-client row: wakes nobody, blocks the event loop)
//   pool          fs.fdatasync (libuv's pool: a sleeping pool thread is woken,
//                 then the loop is woken with the result, as PageLog's commit is)
//   thread        a worker thread of its own sleeping in Atomics.wait until the
//                 JS thread posts a commit, answered through Atomics.waitAsync
//   thread-spin   the same thread polling for 200 µs after each commit before
//                 it sleeps (no wake needed when the next commit comes soon)
// The question it answers: would a commit thread that polls instead of
// sleeping close the 1-client row's gap (docs/BENCHMARKS.md, "Durable commits")?
//
//   node bench/commit-wake.js [--json]     (BENCH_WAKE_ROUNDS, BENCH_WAKE_MS)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { summarize, report } = require('./harness');

const ROUNDS = Number(process.env.BENCH_WAKE_ROUNDS) || 7;
const ROUND_MS = Number(process.env.BENCH_WAKE_MS) || 500;
const SPIN_US = 200;

/** The commit thread: f[0] is the last commit asked for (-1: stop), f[1] the last done. */
function commitThread() {
  const { sab, fd, spinUs } = workerData;
  const f = new Int32Array(sab);
  for (;;) {
    const t0 = process.hrtime.bigint();
    let asked;
    while ((asked = Atomics.load(f, 0)) === Atomics.load(f, 1)) {
      if (Number(process.hrtime.bigint() - t0) > spinUs * 1000) Atomics.wait(f, 0, asked);
    }
    if (asked < 0) return;
    fs.fdatasyncSync(fd);
    Atomics.store(f, 1, asked);
    Atomics.notify(f, 1);
  }
}

async function startThread(fd, spinUs) {
  const sab = new SharedArrayBuffer(8);
  const f = new Int32Array(sab);
  const worker = new Worker(__filename, { workerData: { sab, fd, spinUs } });
  await new Promise((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
  });
  let seq = 0;
  return {
    async sync() {
      seq++;
      Atomics.store(f, 0, seq);
      Atomics.notify(f, 0);
      for (let done = Atomics.load(f, 1); done !== seq; done = Atomics.load(f, 1)) {
        const w = Atomics.waitAsync(f, 1, done);
        if (w.async) await w.value;
      }
    },
    async stop() {
      Atomics.store(f, 0, -1);
      Atomics.notify(f, 0);
      await worker.terminate();
    },
  };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-wake-'));
  const fd = fs.openSync(path.join(dir, 'log'), 'w');
  const record = Buffer.alloc(116, 1);
  const threads = { thread: await startThread(fd, 0), 'thread-spin': await startThread(fd, SPIN_US) };
  const ways = {
    sync: () => fs.fdatasyncSync(fd),
    pool: () => new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))),
    thread: () => threads.thread.sync(),
    'thread-spin': () => threads['thread-spin'].sync(),
  };
  const names = Object.keys(ways);
  const us = Object.fromEntries(names.map((k) => [k, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(r + j) % names.length];
        const sync = ways[name];
        const t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < ROUND_MS) {
          fs.writeSync(fd, record);
          await sync();
          n++;
        }
        us[name].push(((performance.now() - t0) / n) * 1000);
      }
      process.stderr.write(`commit-wake: round ${r + 1}/${ROUNDS}\n`);
    }
  } finally {
    for (const t of Object.values(threads)) await t.stop();
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows = names.map((name) => ({ name, ...summarize(us[name]) }));
  const sync = rows[0].median;
  for (const row of rows) row.ofSync = sync / row.median;
  return { rounds: ROUNDS, roundMs: ROUND_MS, spinUs: SPIN_US, rows };
}

if (!isMainThread) commitThread();
else {
  report(main(), (res) => {
    console.log(`\n1-client commit, the sync made four ways · ${res.rounds} rounds of ${res.roundMs} ms, alternated · µs per commit (median, min)`);
    for (const r of res.rows) {
      console.log(`${r.name.padEnd(12)} ${r.median.toFixed(1).padStart(7)} ${r.min.toFixed(1).padStart(7)}   ${r.ofSync.toFixed(2)}× the commits/s of sync`);
    }
  });
}
