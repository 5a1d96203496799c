'use strict';
// CPU time per op of the hot paths, for a loaded host: `npm run bench` times
// wall clock (paired rounds), which a busy machine inflates by preemption;
// this measures the process's own CPU time (process.cpuUsage, user + system)
// around each round instead, each (case, implementation) in a process of its
// own, and prints the median and p10 of 30 rounds.
//
//   node --expose-gc bench/cpu-time.js [package dir, default: this checkout]
//
// Cases: lane.allocPage 100 B + page.set and allocPage 100 B + page.set in
// one warm 1 GiB buffer (its arena written once before timing, so no page
// fault and no arena recycling in the timed loop: the cost of the calls
// themselves); records() per record over a sealed buffer of 100k × 100 B
// pages; the JS floor (a bare bump allocator over an ArrayBuffer).
const { fork } = require('node:child_process');
const path = require('node:path');

const ROUNDS = 30;
const N = 50_000;
const src = Buffer.alloc(100, 0xab);

function cpuRound(fn) {
  const t = process.cpuUsage();
  fn();
  const c = process.cpuUsage(t);
  return ((c.user + c.system) * 1000) / N;
}

function child(caseId, impl, pkg) {
  const WB = impl === 'pure-JS' ? require('./baseline/js-write-buffer').JsWriteBuffer : require(pkg).WriteBuffer;
  let fn;
  if (caseId === 'floor') {
    class View extends Uint8Array {}
    Object.setPrototypeOf(View.prototype, Buffer.prototype);
    const ab = new ArrayBuffer(1 << 30);
    new Uint8Array(ab).fill(1);
    const w = new Uint32Array(ab);
    let cur = 0;
    fn = () => {
      for (let i = 0; i < N; i++, cur += 120) {
        const k = cur >>> 2;
        w[k] = i;
        w[k + 1] = 0;
        w[k + 2] = 1;
        w[k + 3] = 100;
        new View(ab, cur + 16, 100).set(src);
      }
    };
  } else if (caseId === 'records') {
    const wb = new WB(1, 16 << 20);
    for (let i = 0; i < 2 * N; i++) wb.allocPage(i, 100, false).page.set(src);
    wb.seal();
    fn = () => {
      let n = 0;
      let last;
      for (const r of wb.records()) {
        n += r.page.length;
        last = r.pageId;
      }
      if (n !== 2 * N * 100 || last !== BigInt(2 * N - 1)) throw new Error('bad iteration');
    };
  } else {
    const wb = new WB(1, 1 << 30);
    new Uint8Array(wb.allocPage(0, 0, false).page.buffer).fill(0); // fault the arena in
    fn = caseId === 'lane'
      ? () => {
        let lane = wb.lane(64 * 1024);
        for (let i = 0; i < N; i++) {
          let a = lane.tryAllocPage(i, 100);
          if (a === null) {
            lane.close();
            lane = wb.lane(64 * 1024);
            a = lane.allocPage(i, 100);
          }
          a.page.set(src);
        }
        lane.close();
      }
      : () => {
        for (let i = 0; i < N; i++) wb.allocPage(i, 100, false).page.set(src);
      };
  }
  const per = caseId === 'records' ? 2 : 1;
  const res = [];
  for (let r = 0; r < ROUNDS; r++) res.push(cpuRound(fn) / per);
  res.sort((a, b) => a - b);
  process.send({ median: res[ROUNDS >> 1], p10: res[Math.floor(ROUNDS / 10)] });
}

async function main() {
  const pkg = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const runs = [
    ['lane', 'project'], ['lane', 'pure-JS'],
    ['alloc', 'project'], ['alloc', 'pure-JS'],
    ['records', 'project'], ['records', 'pure-JS'],
    ['floor', 'JS floor'],
  ];
  console.log(`CPU ns/op (median [p10] of ${ROUNDS} rounds), package ${pkg}`);
  for (const [caseId, impl] of runs) {
    const cp = fork(__filename, ['--child', caseId, impl, pkg], { execArgv: ['--expose-gc'] });
    const r = await new Promise((resolve, reject) => {
      cp.once('message', resolve);
      cp.once('exit', (code) => reject(new Error(`${caseId}/${impl} exited with ${code}`)));
    });
    cp.kill();
    console.log(`${caseId.padEnd(8)} ${impl.padEnd(9)} ${r.median.toFixed(1).padStart(7)} [${r.p10.toFixed(1)}]`);
  }
}

if (process.argv[2] === '--child') child(process.argv[3], process.argv[4], process.argv[5]);
else main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
