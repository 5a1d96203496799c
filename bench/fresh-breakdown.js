'use strict';
// Where the time of the arena-memory `fresh4` row goes (docs/BENCHMARKS.md,
// "fresh4: where the time goes"): 4 KiB allocPage + copy with a new 4 MiB
// WriteBuffer every ~1000 pages, against a bare copy into a warm buffer.
//
// Everything runs in one process, the variants alternating phase by phase
// over many rounds, and each phase is timed in CPU time (process.cpuUsage:
// a loaded host's preemption is not counted; the reclaim thread is idle
// while a phase is timed).
// Medians over the rounds; ns per 4 KiB page (phases of 1000 pages) or per
// call (constructor phases).
//
//   node bench/fresh-breakdown.js [rounds, default 60] [--json]
//
// Phases:
//   bare          1000 × dst.set(src, off) into one warm 4 MiB Buffer
//   warm1g        1000 × allocPage(4 KiB) + page.set into one 1 GiB buffer
//                 whose arena was faulted in before timing (the floor of the
//                 project's per-page cost; no new buffer)
//   pooledPages   the 1000 pages of a 4 MiB buffer from an ArenaPool (its
//                 arena reused, scrubbed by the constructor)
//   cachedCtor    new WriteBuffer(1, 4 MiB) when the process-wide cache holds
//                 a scrubbed-on-take arena whose buffer used all 4 MiB
//   cachedPages   the 1000 pages of that buffer
//   cleanCtor     the same constructor when the cached arena's buffer used
//                 one page (nothing to zero: the constructor's fixed cost)
//   freshCtor     new WriteBuffer(1, 4 MiB) with the cache off (a new mapping)
//   freshPages    the 1000 pages of that buffer (first touch of every page)
//   native*       the constructor's parts, with a cached arena: the
//                 NativeBuffer constructor (arena from the cache, registry,
//                 V8 external-memory charge), owner.arena() (the external
//                 ArrayBuffer), the three typed-array views of Handle
//   dispose       dispose() of a full 4 MiB buffer (the arena goes to the
//                 reclaim thread)
const path = require('node:path');

// PWB_PKG: another checkout's package directory (a before/after comparison).
const PKG = process.env.PWB_PKG || path.join(__dirname, '..');
const m = require(PKG);
const native = require(path.join(PKG, 'load-binding.js'));

const ROUNDS = Number(process.argv[2]) || 60;
const PAGE = 4096;
const PAGES = 1000;
const CAP = 4 << 20;
const src = Buffer.alloc(PAGE, 0x5a);

// CPU time of the process in ns (user + system, getrusage: exact, not
// tick-sampled). The reclaim thread is idle whenever a phase is timed
// (`waitIdle` before), so this is the JS thread's time, plus V8's helper
// threads (a GC that a phase triggers is the phase's cost).
function cpu() {
  const c = process.cpuUsage();
  return (c.user + c.system) * 1000;
}

function waitIdle() {
  // The reclaim thread finishes an arena in well under a millisecond.
  const end = Date.now() + 2000;
  while (m.arenaCacheStats().pendingArenas > 0 && Date.now() < end) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

function fill(wb, id, n = PAGES) {
  for (let k = 0; k < n; k++) wb.allocPage(id + k, PAGE, false).page.set(src);
}

const results = {};
function rec(name, ns) {
  (results[name] ??= []).push(ns);
}

const dst = Buffer.alloc(CAP, 1);
let off = 0;
function bare() {
  const t = cpu();
  for (let k = 0; k < PAGES; k++) {
    if (off + PAGE > CAP) off = 0;
    dst.set(src, off);
    off += PAGE;
  }
  rec('bare', (cpu() - t) / PAGES);
}

const big = new m.WriteBuffer(1, 1 << 30);
new Uint8Array(big.allocPage(0, 0, false).page.buffer).fill(0); // fault the arena in
let bigId = 1;
function warm1g() {
  const t = cpu();
  fill(big, bigId);
  rec('warm1g', (cpu() - t) / PAGES);
  bigId += PAGES;
}

const pool = new m.ArenaPool(CAP, 2);
function pooled() {
  let t = cpu();
  const wb = new m.WriteBuffer(1, CAP, { pool });
  rec('pooledCtor', cpu() - t);
  t = cpu();
  fill(wb, 0);
  rec('pooledPages', (cpu() - t) / PAGES);
  wb.dispose();
}

function cached() {
  // A full buffer disposed: its arena (dirty over ~4 MiB) goes to the cache.
  const prev = new m.WriteBuffer(1, CAP);
  fill(prev, 0);
  let t = cpu();
  prev.dispose();
  rec('dispose', cpu() - t);
  waitIdle();
  const hits = m.arenaCacheStats().hits;
  t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec('cachedCtor', cpu() - t);
  if (m.arenaCacheStats().hits !== hits + 1) throw new Error('no cache hit');
  t = cpu();
  fill(wb, 0);
  rec('cachedPages', (cpu() - t) / PAGES);
  wb.dispose();
  waitIdle();
}

function clean() {
  const prev = new m.WriteBuffer(1, CAP);
  prev.allocPage(0, 16, false);
  prev.dispose();
  waitIdle();
  const t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec('cleanCtor', cpu() - t);
  wb.dispose();
  waitIdle();
}

function parts() {
  const prev = new m.WriteBuffer(1, CAP);
  fill(prev, 0);
  prev.dispose();
  waitIdle();
  let t = cpu();
  const owner = new native.NativeBuffer(1, CAP, undefined, undefined);
  rec('nativeCtor', cpu() - t);
  t = cpu();
  const ab = owner.arena();
  rec('nativeArena', cpu() - t);
  t = cpu();
  const v = [new DataView(ab, 0, CAP), new Uint8Array(ab, 0, CAP), new Uint32Array(ab, 0, CAP >>> 2)];
  rec('views', cpu() - t);
  owner.dispose(ab);
  waitIdle();
  return v;
}

function fresh() {
  m.configureArenaCache({ maxBytes: 0 });
  waitIdle();
  let t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec('freshCtor', cpu() - t);
  t = cpu();
  fill(wb, 0);
  rec('freshPages', (cpu() - t) / PAGES);
  wb.dispose();
  m.configureArenaCache({ maxBytes: 256 << 20 });
  waitIdle();
}

const phases = [bare, warm1g, pooled, cached, clean, parts, fresh];
for (let r = 0; r < ROUNDS + 3; r++) {
  if (r === 3) for (const k of Object.keys(results)) results[k] = []; // warm-up done
  for (let i = 0; i < phases.length; i++) phases[(i + r) % phases.length]();
}

const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
const out = {};
for (const [k, xs] of Object.entries(results)) out[k] = { median: med(xs), p10: [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 10)] };
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else {
  for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(12)} median ${v.median.toFixed(0).padStart(9)} ns   p10 ${v.p10.toFixed(0).padStart(9)} ns`);
  console.log(`load average ${require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}
