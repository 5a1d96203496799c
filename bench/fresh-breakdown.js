'use strict';
// Where the time of the arena-memory `fresh4` row goes (docs/BENCHMARKS.md,
// "fresh4: where the time goes"): 4 KiB allocPage + copy with a new 4 MiB
// WriteBuffer every ~1000 pages, against a bare copy into a warm buffer.
//
// Everything runs in one process, the phases alternating (order rotated
// every round) over many rounds, each timed in CPU time (process.cpuUsage:
// a loaded host's preemption is not counted; the reclaim thread is idle when
// a phase starts, see `settle`). Medians (and p10) over the rounds, in ns
// per 4 KiB page (1000-page phases) or per call (constructor phases).
//
//   node bench/fresh-breakdown.js [rounds, default 60] [--json]
//   PWB_PKG=<dir of another checkout> node bench/fresh-breakdown.js   (before/after)
//
// Phases:
//   bare         1000 × dst.set(src, off) into one 4 MiB Buffer, warmed by an
//                untimed pass just before (the row's reference)
//   poolPages    1000 × allocPage(4 KiB) + page.set into a 4 MiB buffer from
//                an ArenaPool of one arena, i.e. the same arena every time,
//                scrubbed by the (untimed) constructor just before: the
//                project's per-page cost into warm memory, the floor
//   warm1g       the same into one 1 GiB buffer faulted in before timing: no
//                new buffer, but every page goes to memory not in any cache
//   hotCtor      new WriteBuffer(1, 4 MiB) when the process-wide cache holds
//                one arena, written all over (4 MiB dirty) just before
//   cleanCtor    the same when that arena's buffer wrote one page (nothing
//                to zero: the constructor's fixed cost)
//   native, arenaAB, views   hotCtor's parts: the NativeBuffer constructor
//                (arena from the cache, registry, V8 external-memory charge),
//                owner.arena() (the external ArrayBuffer), Handle's three
//                typed-array views
//   coldCtor, coldPages   the fresh4 situation: the cache holds 10 arenas
//                written all over and dropped, the newest first written 10
//                buffers (40 MiB) ago; one new buffer (the constructor) and
//                its 1000 pages
//   freshCtor, freshPages   the same with the cache off: a new mapping, every
//                page touched for the first time (page faults)
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

/** Process CPU time in ns (getrusage: exact, not tick-sampled). */
function cpu() {
  const c = process.cpuUsage();
  return (c.user + c.system) * 1000;
}

/** Until the reclaim thread has nothing left to do (it is then asleep). */
function settle() {
  const end = Date.now() + 2000;
  while (m.arenaCacheStats().pendingArenas > 0 && Date.now() < end) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

function fill(wb, n = PAGES) {
  for (let k = 0; k < n; k++) wb.allocPage(k, PAGE, false).page.set(src);
}

/** A buffer written all over (pages, then garbage through `.buffer`), disposed. */
function used(pages = CAP / 4112) {
  const wb = new m.WriteBuffer(1, CAP);
  fill(wb, Math.floor(pages));
  if (pages > 1) new Uint8Array(wb.allocPage(0, 0, false).page.buffer).fill(7);
  wb.dispose();
}

const results = {};
function rec(name, ns) {
  (results[name] ??= []).push(ns);
}

const dst = Buffer.alloc(CAP, 1);
function bare() {
  for (let off = 0; off + PAGE <= CAP; off += PAGE) dst.set(src, off);
  const t = cpu();
  for (let k = 0, off = 0; k < PAGES; k++, off += PAGE) dst.set(src, off);
  rec('bare', (cpu() - t) / PAGES);
}

const pool = new m.ArenaPool(CAP, 1);
function poolPages() {
  const wb = new m.WriteBuffer(1, CAP, { pool });
  const t = cpu();
  fill(wb);
  rec('poolPages', (cpu() - t) / PAGES);
  wb.dispose();
}

const big = new m.WriteBuffer(1, 1 << 30);
new Uint8Array(big.allocPage(0, 0, false).page.buffer).fill(0); // fault the arena in
function warm1g() {
  const t = cpu();
  for (let k = 0; k < PAGES; k++) big.allocPage(k, PAGE, false).page.set(src);
  rec('warm1g', (cpu() - t) / PAGES);
}

function ctor(name, prevPages) {
  used(prevPages);
  settle();
  const hits = m.arenaCacheStats().hits;
  const t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec(name, cpu() - t);
  if (m.arenaCacheStats().hits !== hits + 1) throw new Error('no cache hit');
  wb.dispose();
  settle();
}
const hotCtor = () => ctor('hotCtor');
const cleanCtor = () => ctor('cleanCtor', 1);

function parts() {
  used();
  settle();
  let t = cpu();
  const owner = new native.NativeBuffer(1, CAP, undefined, undefined);
  rec('native', cpu() - t);
  t = cpu();
  const ab = owner.arena();
  rec('arenaAB', cpu() - t);
  t = cpu();
  const v = [new DataView(ab, 0, CAP), new Uint8Array(ab, 0, CAP), new Uint32Array(ab, 0, CAP >>> 2)];
  rec('views', cpu() - t);
  owner.dispose(ab);
  settle();
  return v;
}

function cold() {
  m.configureArenaCache({}); // empty
  settle();
  const held = [];
  for (let i = 0; i < 10; i++) {
    const wb = new m.WriteBuffer(1, CAP);
    fill(wb, Math.floor(CAP / 4112));
    held.push(wb);
  }
  for (const wb of held) wb.dispose();
  settle();
  let t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec('coldCtor', cpu() - t);
  t = cpu();
  fill(wb);
  rec('coldPages', (cpu() - t) / PAGES);
  wb.dispose();
  settle();
}

function fresh() {
  m.configureArenaCache({ maxBytes: 0 });
  settle();
  let t = cpu();
  const wb = new m.WriteBuffer(1, CAP);
  rec('freshCtor', cpu() - t);
  t = cpu();
  fill(wb);
  rec('freshPages', (cpu() - t) / PAGES);
  wb.dispose();
  m.configureArenaCache({ maxBytes: 256 << 20 });
  settle();
}

const phases = [bare, poolPages, warm1g, hotCtor, cleanCtor, parts, cold, fresh];
for (let r = 0; r < ROUNDS + 2; r++) {
  if (r === 2) for (const k of Object.keys(results)) results[k] = []; // warm-up done
  for (let i = 0; i < phases.length; i++) phases[(i + r) % phases.length]();
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const out = {};
for (const [k, xs] of Object.entries(results)) {
  const s = sorted(xs);
  out[k] = { median: s[s.length >> 1], p10: s[Math.floor(s.length / 10)] };
}
out.loadavg = require('node:os').loadavg();
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else {
  for (const [k, v] of Object.entries(out)) {
    if (k === 'loadavg') continue;
    const unit = /Ctor|native|arenaAB|views/.test(k) ? 'ns/call' : 'ns/page';
    console.log(`${k.padEnd(11)} median ${v.median.toFixed(0).padStart(8)}   p10 ${v.p10.toFixed(0).padStart(8)}  ${unit}`);
  }
  console.log(`load average ${out.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
}
