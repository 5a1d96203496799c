'use strict';
// Thread scaling: 1 vs 2 worker threads writing 100 B pages (+ copy) into one
// shared WriteBuffer, with plain allocPage (one CAS on the shared state word
// per page) and with lanes (one CAS per 64 KiB chunk). Run by bench/index.js
// after the single-thread cases, or alone: node bench/threads.js.
//
// A third mode, `control`, is the ceiling this machine allows: the same loop
// shape (an object + a 100 B view + copy per page) into a private
// ArrayBuffer per worker, sharing nothing; its 2w ÷ 1w ratio is the best
// any shared-buffer mode can reach here.
//
// Each round: main takes a 16 MiB buffer from an ArenaPool (so rounds after
// the first reuse an arena that is already faulted in, as a PageLog does:
// first-touch page faults of a fresh arena serialise two threads of one
// process on its memory map) and shares it; the workers
// (started once, warmed up) attach, wait on a SharedArrayBuffer barrier, run
// their loop, and report start/end from the process-wide monotonic clock.
// Aggregate throughput = total pages / (last end - first start). Rounds of
// the four configurations are interleaved; the ratio is the median over
// rounds of (2 workers ÷ 1 worker) throughput.
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
const os = require('node:os');
const { report } = require('./harness');

const PAGE = 100;
const LANE = 64 * 1024;
const CAP = 16 << 20;
const PER_WORKER = 50_000; // 2 × 50k × 120 B = 12 MB: fits one 16 MiB buffer

function workerLoop() {
  const { WriteBuffer } = require('..');
  const src = Buffer.alloc(PAGE, 0x5a);
  const { barrier, index } = workerData;
  const flag = new Int32Array(barrier);
  const own = new ArrayBuffer(CAP);
  parentPort.on('message', ({ handle, mode, ops, gen }) => {
    const wb = WriteBuffer.attach(handle);
    const guard = mode === 'plain' ? wb.acquire() : null;
    let lane = mode === 'lane' ? wb.lane(LANE) : null;
    parentPort.postMessage({ ready: true });
    Atomics.wait(flag, 0, gen - 1); // until main bumps the generation
    const t0 = process.hrtime.bigint();
    const base = BigInt(index) << 32n;
    if (mode === 'plain') {
      for (let i = 0; i < ops; i++) wb.allocPage(base | BigInt(i), PAGE, false).page.set(src);
      guard.release();
    } else if (mode === 'control') {
      let sink;
      for (let i = 0, off = 0; i < ops; i++, off += PAGE + 24) {
        const v = new Uint8Array(own, off, PAGE);
        v.set(src);
        sink = { id: base | BigInt(i), v };
      }
      if (sink === undefined) throw new Error('unreachable');
    } else {
      for (let i = 0; i < ops; i++) {
        let a = lane.tryAllocPage(base | BigInt(i), PAGE);
        if (a === null) {
          lane.close();
          lane = wb.lane(LANE);
          a = lane.allocPage(base | BigInt(i), PAGE);
        }
        a.page.set(src);
      }
      lane.close();
    }
    const t1 = process.hrtime.bigint();
    wb.dispose(); // so the arena goes back to the pool once main is done too
    parentPort.postMessage({ t0, t1 });
  });
}

async function run({ rounds = Number(process.env.BENCH_THREAD_ROUNDS) || 9, log = console.error } = {}) {
  const { WriteBuffer, ArenaPool } = require('..');
  // BENCH_THREAD_FRESH=1: a fresh arena every round (no pool), to see the
  // first-touch page faults that a pool avoids.
  const fresh = process.env.BENCH_THREAD_FRESH === '1';
  const pool = new ArenaPool(CAP, 2);
  const barrier = new SharedArrayBuffer(4);
  const flag = new Int32Array(barrier);
  const workers = [0, 1].map((index) => new Worker(__filename, { workerData: { barrier, index } }));
  const once = (w) =>
    new Promise((resolve, reject) => {
      const onMessage = (m) => {
        w.off('error', reject);
        resolve(m);
      };
      w.once('message', onMessage);
      w.once('error', reject);
    });
  let gen = 0;

  async function round(mode, n) {
    const wb = fresh ? new WriteBuffer(1, CAP) : new WriteBuffer(1, CAP, { pool });
    const handle = wb.share();
    gen++;
    const used = workers.slice(0, n);
    const ready = used.map(once);
    for (const w of used) w.postMessage({ handle, mode, ops: PER_WORKER, gen });
    await Promise.all(ready);
    const done = used.map(once);
    Atomics.store(flag, 0, gen);
    Atomics.notify(flag, 0);
    const times = await Promise.all(done);
    const start = times.reduce((m, t) => (t.t0 < m ? t.t0 : m), times[0].t0);
    const end = times.reduce((m, t) => (t.t1 > m ? t.t1 : m), times[0].t1);
    if (wb.seal() !== 'flush') throw new Error('expected flushable');
    let records = 0;
    for (const r of wb) if (r.kind === 'page') records++;
    if (records !== (mode === 'control' ? 0 : n * PER_WORKER)) throw new Error(`lost pages: ${records}`);
    wb.dispose();
    return (n * PER_WORKER) / (Number(end - start) / 1e9); // pages per second
  }

  const configs = [['plain', 1], ['plain', 2], ['lane', 1], ['lane', 2], ['control', 1], ['control', 2]];
  for (const [mode, n] of configs) await round(mode, n); // warm-up
  const samples = new Map(configs.map((c) => [c.join(':'), []]));
  for (let r = 0; r < rounds; r++) {
    for (const [mode, n] of r % 2 ? [...configs].reverse() : configs) samples.get(`${mode}:${n}`).push(await round(mode, n));
    log(`threads: round ${r + 1}/${rounds}`);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const { created, reused } = pool.stats;
  if (!fresh && reused === 0) throw new Error(`the pool reused no arena (created ${created})`);
  pool.close();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const out = {};
  for (const mode of ['plain', 'lane', 'control']) {
    const one = samples.get(`${mode}:1`);
    const two = samples.get(`${mode}:2`);
    out[mode] = {
      oneWorkerPagesPerSec: median(one),
      twoWorkersPagesPerSec: median(two),
      ratio: median(one.map((x, i) => two[i] / x)),
    };
  }
  return out;
}

function print(res) {
  const f = (x) => Math.round(x).toLocaleString('en-US');
  const arena = process.env.BENCH_THREAD_FRESH === '1' ? 'fresh arena each round' : 'pooled, warm arena';
  console.log(`\nthread scaling · 100 B pages + copy into one shared 16 MiB buffer (${arena}) · ${os.cpus().length} CPUs`);
  console.log('mode                   1 worker pages/s   2 workers pages/s   2w ÷ 1w   target   status');
  // Lanes: at least 0.9× the control's scaling (the machine's ceiling, which
  // a loaded host lowers for both alike).
  const laneTarget = 0.9 * res.control.ratio;
  const rows = [
    ['allocPage (shared CAS)', res.plain, null],
    ['lanes (64 KiB chunks)', res.lane, laneTarget],
    ['control (nothing shared)', res.control, null],
  ];
  for (const [name, r, target] of rows) {
    const status = target == null ? 'info' : r.ratio >= target ? 'PASS' : 'FAIL';
    console.log(
      `${name.padEnd(22)} ${f(r.oneWorkerPagesPerSec).padStart(17)}   ${f(r.twoWorkersPagesPerSec).padStart(17)}   ${r.ratio.toFixed(2).padStart(7)}   ${(target ? `≥ ${target.toFixed(2)}` : '—').padStart(6)}   ${status}`,
    );
  }
  console.log('(lanes target: 0.9 × the control\'s 2w ÷ 1w)');
}

if (!isMainThread) workerLoop();
else if (require.main === module) {
  report(run(), print);
}

module.exports = { run, print };
