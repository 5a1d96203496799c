'use strict';
// Entry point of `npm run bench` (node --expose-gc bench/index.js).
//
// Runs every case for the project's WriteBuffer (`require('..')`) and for the
// pure-JS baseline, each (case, implementation) in a fresh child process with
// the same flags, then prints the comparison table and writes
// bench/results/<YYYY-MM-DD>.json.
//
// Environment:
//   BENCH_SELF=1      substitute the baseline for the project (harness development)
//   BENCH_ONLY=re     run only the cases whose id matches the regexp
//   BENCH_ROUNDS=n    timed rounds per child (default 5)
//   BENCH_PASSES=n    passes over all (case, impl) pairs, interleaved so that slow
//                     drifts of a noisy host hit both sides; samples are pooled (default 5)
//   BENCH_CAP_MIB=n   buffer capacity in MiB (default 16; see cases.js)
const { fork } = require('node:child_process');
const os = require('node:os');
const { measure, summarize, compare, writeResults } = require('./harness');
const { CASES, ROWS, CAP } = require('./cases');

const SELF = process.env.BENCH_SELF === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 5;
const PASSES = Number(process.env.BENCH_PASSES) || 5;

function writeBufferClass(impl) {
  if (impl === 'pure-JS' || (impl === 'project' && SELF)) {
    return require('./baseline/js-write-buffer').JsWriteBuffer;
  }
  return require('..').WriteBuffer;
}

// Child: node bench/index.js --child <caseId> <impl>; reports one measurement.
async function child(caseId, impl) {
  const c = CASES[caseId];
  const { setup, fn } = impl in c.drivers ? c.drivers[impl]() : c.drivers.wb(writeBufferClass(impl));
  const result = await measure(`${caseId}/${impl}`, fn, { ops: c.ops, rounds: ROUNDS, setup });
  process.send(result, () => process.disconnect());
}

function runChild(caseId, impl) {
  return new Promise((resolve, reject) => {
    const cp = fork(__filename, ['--child', caseId, impl], { execArgv: process.execArgv });
    let result = null;
    cp.on('message', (m) => { result = m; });
    cp.on('error', reject);
    cp.on('exit', (code) => (result ? resolve(result) : reject(new Error(`${caseId}/${impl}: child exited with ${code}`))));
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
  const jobs = [];
  for (const id of ids) {
    for (const impl of ['project', 'pure-JS', ...Object.keys(CASES[id].drivers).filter((k) => k !== 'wb')]) {
      jobs.push([id, impl]);
    }
  }

  const results = {};
  const total = jobs.length * PASSES;
  let n = 0;
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const [id, impl] of jobs) {
      const r = await runChild(id, impl);
      const acc = ((results[id] ||= {})[impl] ||= { ops: r.ops, rounds: 0, samples: [], faultsPerOp: [] });
      acc.rounds += r.rounds;
      acc.samples.push(...r.samples);
      acc.faultsPerOp.push(r.faultsPerOp);
      Object.assign(acc, summarize(acc.samples));
      process.stderr.write(`[${++n}/${total}] ${CASES[id].title} · ${impl}: ${r.median.toFixed(1)} ns/op ` +
        `(min ${r.min.toFixed(1)}, max ${r.max.toFixed(1)}, ${r.rounds} × ${r.ops} ops, ` +
        `${r.faultsPerOp.toFixed(3)} faults/op)\n`);
    }
  }

  const project = SELF ? 'project (= pure-JS baseline, BENCH_SELF=1)' : 'project (native)';
  console.log(`\nphoton-write-buffer bench · ${project} · node ${process.version} · ${os.cpus()[0].model} × ${os.cpus().length}`);
  console.log(`ns/op = median of ${PASSES} × ${ROUNDS} rounds; capacity ${CAP / 2 ** 20} MiB; ` +
    'ratio = vs ÷ project (> 1: project faster)');
  console.log('min ratio: the same on the fastest rounds; median and min differ when the host is noisy\n');
  const rows = compare(ROWS.filter((r) => results[r.from]).map((r) => ({
    case: CASES[r.from].title, id: r.from, values: results[r.from],
    ref: r.ref, target: r.target, targetText: r.targetText,
  })));

  const file = writeResults({
    date: new Date().toISOString(),
    self: SELF,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0].model,
    cpus: os.cpus().length,
    rounds: ROUNDS,
    passes: PASSES,
    capacity: CAP,
    method: `each (case, impl) in its own child process, ${PASSES} interleaved passes of ${ROUNDS} timed rounds ` +
      '(after 2 warm-up rounds); before each round, untimed: GC, one event-loop turn, setup (a fresh buffer), GC; ' +
      'ns/op = median of the pooled rounds',
    rows,
  });
  console.log(`\nresults: ${file}`);
}

const run = process.argv[2] === '--child' ? () => child(process.argv[3], process.argv[4]) : main;
run().catch((e) => { console.error(e); process.exit(1); });
