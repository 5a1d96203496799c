'use strict';
// Arena memory: what a user's process gets when write buffers are created and
// dropped without dispose() (docs/BENCHMARKS.md, "Arena memory"). Each
// (case, implementation) runs in a child process of its own, with the plain
// environment of the parent (no glibc tunables are added) and no
// --expose-gc in the timed loops. The user's loop, in every case:
//
//   if full: wb = new WriteBuffer(1, cap)   // the old one is just dropped
//   wb.allocPage(i, 4096, false).page.set(src)
//   every 1000 pages: await setImmediate    // the process serves other work
//
// Cases (the rows of the table):
//   drop64    64 MiB buffers, 4 rounds of 2 s: ns/page per round, peak RSS,
//             peak liveArenas(); last round ÷ first round
//   fresh4    4 MiB buffers (a new one every ~1000 pages), 4 rounds of 1 s:
//             ns/page, against `bare copy`, the same loop copying 4 KiB into
//             one warm 4 MiB Buffer (no allocPage, no new buffers); `pooled`
//             is the project with an ArenaPool and dispose(), for reference
//   rss256    256 × 16 MiB buffers, 1 MiB of each touched, dropped, with gc()
//             between (this child runs with --expose-gc: nothing is timed);
//             RSS growth once they are collected and freed
//   gap       after 256 × 4 MiB buffers were filled and dropped (no yields:
//             they pile up), one gc() (taken through v8.setFlagsFromString,
//             untimed), then a flushTo of a 4 MiB buffer while a setImmediate
//             ticker records the event loop's worst gap over 300 ms, when the
//             dropped arenas are released; beside it the floor, the same
//             measurement before any buffer was dropped (this host's noise),
//             and the project's release turn (the turn whose finalizers let
//             the 256 arenas go). Median of 5 repetitions.
// Implementations: `project` (require('..')) and `pure-JS` (the SharedArrayBuffer
// baseline in bench/baseline, whose flushTo stand-in writes the arena with
// fs.promises + datasync).
//
// Run by bench/index.js (step `arena`), or alone:
//   node bench/arena-memory.js [--json]
// Environment: BENCH_ARENA_SECONDS (seconds per drop64 round, default 2;
// fresh4 rounds are half of it), BENCH_ARENA_DIR (default the OS temp dir).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { printTable, report, reportChild } = require('./harness');

const MiB = 1 << 20;
const PAGE = 4096;
const YIELD_EVERY = 1000;
const SECONDS = Number(process.env.BENCH_ARENA_SECONDS) || 2;
const src = Buffer.alloc(PAGE, 0x5a);
const tick = () => new Promise((resolve) => setImmediate(resolve));
const now = () => Number(process.hrtime.bigint());

function impl(name) {
  if (name === 'pure-JS') {
    const { JsWriteBuffer } = require('./baseline/js-write-buffer');
    return {
      WB: JsWriteBuffer,
      live: () => null,
      async flush(wb, file) {
        const fh = await fs.promises.open(file, 'w');
        try {
          await fh.write(new Uint8Array(wb._sab, 0, wb.allocated));
          await fh.datasync();
        } finally {
          await fh.close();
        }
      },
    };
  }
  const m = require('..');
  return {
    WB: m.WriteBuffer,
    live: () => m.liveArenas(),
    pending: () => (typeof m.arenaCacheStats === 'function' ? m.arenaCacheStats().pendingArenas : 0),
    flush: (wb, file) => wb.flushTo(file),
  };
}

/** The user's loop for `ms` milliseconds; returns ns/page and the peaks seen at each yield. */
async function userLoop(I, cap, ms, state) {
  const t0 = now();
  const end = t0 + ms * 1e6;
  let pages = 0;
  let peakRss = 0;
  let peakLive = 0;
  for (;;) {
    for (let k = 0; k < YIELD_EVERY; k++) {
      let a;
      try {
        a = state.wb.allocPage(state.id++, PAGE, false);
      } catch (e) {
        if (e.code !== 'ERR_AGAIN') throw e;
        if (state.make) state.wb = state.make(state.wb);
        else state.wb = new I.WB(1, cap); // the full one is dropped, not disposed
        a = state.wb.allocPage(state.id++, PAGE, false);
      }
      a.page.set(src);
    }
    pages += YIELD_EVERY;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakLive = Math.max(peakLive, I.live() ?? 0);
    await tick();
    if (now() >= end) break;
  }
  return { nsPerPage: (now() - t0) / pages, pages, peakRss, peakLive };
}

/** The same loop copying into one warm buffer. */
async function bareLoop(cap, ms) {
  const dst = Buffer.alloc(cap, 1);
  const t0 = now();
  const end = t0 + ms * 1e6;
  let pages = 0;
  let off = 0;
  for (;;) {
    for (let k = 0; k < YIELD_EVERY; k++) {
      if (off + PAGE > cap) off = 0;
      dst.set(src, off);
      off += PAGE;
    }
    pages += YIELD_EVERY;
    await tick();
    if (now() >= end) break;
  }
  return { nsPerPage: (now() - t0) / pages, pages };
}

const CASES = {
  async drop64(name) {
    const I = impl(name);
    const state = { wb: new I.WB(1, 64 * MiB), id: 0 };
    const rounds = [];
    for (let r = 0; r < 4; r++) rounds.push(await userLoop(I, 64 * MiB, SECONDS * 1000, state));
    return {
      rounds: rounds.map((r) => r.nsPerPage),
      peakRss: Math.max(...rounds.map((r) => r.peakRss)),
      peakLive: I.live() === null ? null : Math.max(...rounds.map((r) => r.peakLive)),
      lastOverFirst: rounds[3].nsPerPage / rounds[0].nsPerPage,
    };
  },

  async fresh4(name) {
    const ms = (SECONDS * 1000) / 2;
    const rounds = [];
    if (name === 'bare copy') {
      for (let r = 0; r < 4; r++) rounds.push(await bareLoop(4 * MiB, ms));
    } else if (name === 'pooled') {
      // The explicit way: an ArenaPool and dispose() (the best reuse there is).
      const I = impl('project');
      const { ArenaPool } = require('..');
      const pool = new ArenaPool(4 * MiB, 2);
      const make = (old) => {
        old.dispose();
        return new I.WB(1, 4 * MiB, { pool });
      };
      const state = { wb: new I.WB(1, 4 * MiB, { pool }), id: 0, make };
      for (let r = 0; r < 4; r++) rounds.push(await userLoop(I, 4 * MiB, ms, state));
    } else {
      const I = impl(name);
      const state = { wb: new I.WB(1, 4 * MiB), id: 0 };
      for (let r = 0; r < 4; r++) rounds.push(await userLoop(I, 4 * MiB, ms, state));
    }
    const ns = rounds.map((r) => r.nsPerPage).sort((a, b) => a - b);
    return { rounds: rounds.map((r) => r.nsPerPage), nsPerPage: (ns[1] + ns[2]) / 2 };
  },

  async rss256(name) {
    const I = impl(name);
    const settle = async () => {
      for (let i = 0; i < 4; i++) {
        global.gc();
        for (let k = 0; k < 8; k++) await tick();
      }
      for (let k = 0; k < 200 && I.pending && I.pending() > 0; k++) await new Promise((r) => setTimeout(r, 5));
    };
    // One round first, so that the code, the cache classes and the heap are warm.
    const once = async () => {
      for (let i = 0; i < 256; i++) {
        let wb = new I.WB(1, 16 * MiB);
        for (let p = 0; p < 256; p++) wb.allocPage(p, PAGE - 16, false).page.set(src.subarray(16));
        wb = null;
        global.gc();
        await tick();
      }
      await settle();
    };
    await settle();
    const rss0 = process.memoryUsage.rss();
    await once();
    const rss1 = process.memoryUsage.rss();
    return { growth: rss1 - rss0, rssBefore: rss0, rssAfter: rss1, liveAfter: I.live() };
  },

  async gap(name) {
    const v8 = require('node:v8');
    const vm = require('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const I = impl(name);
    const dir = fs.mkdtempSync(path.join(process.env.BENCH_ARENA_DIR || os.tmpdir(), 'pwb-arena-'));
    try {
      const sealed = (g) => {
        const wb = new I.WB(g, 4 * MiB);
        for (let p = 0; p < 900; p++) wb.allocPage(p, PAGE, false).page.set(src);
        wb.seal();
        return wb;
      };
      // The worst gap over 300 ms from a flushTo of `wb` on; and, for the
      // project, the gap of the turn in which liveArenas() fell most (the
      // finalizers of the dropped buffers ran in it).
      const worstGap = async (wb, file) => {
        let worst = 0;
        let release = { arenas: 0, ms: null };
        let last = now();
        let live = I.live();
        let ticking = true;
        const ticker = (async () => {
          while (ticking) {
            await tick();
            const t = now();
            const l = I.live();
            worst = Math.max(worst, t - last);
            if (l !== null && live - l > release.arenas) release = { arenas: live - l, ms: (t - last) / 1e6 };
            last = t;
            live = l;
          }
        })();
        const t0 = now();
        await I.flush(wb, path.join(dir, file));
        const flushMs = (now() - t0) / 1e6;
        while (now() - t0 < 300e6) await new Promise((r) => setTimeout(r, 5));
        ticking = false;
        await ticker;
        return { worstGapMs: worst / 1e6, flushMs, release };
      };
      const reps = [];
      for (let rep = 0; rep < 5; rep++) {
        // The floor: the same measurement with nothing to free (what this
        // host's scheduler and V8 cost on their own).
        const floorBuffer = sealed(3);
        gc();
        const floor = await worstGap(floorBuffer, `floor-${rep}.page`);
        const keep = sealed(2);
        // Fill and drop 256 × 4 MiB buffers without yielding: they pile up.
        (() => {
          for (let i = 0; i < 256; i++) {
            const wb = new I.WB(1, 4 * MiB);
            for (let p = 0; p < 1000; p++) wb.allocPage(p, PAGE, false).page.set(src);
          }
        })();
        const liveBefore = I.live();
        gc(); // untimed: V8 finds them dead; their finalizers run on the next turns
        const r = await worstGap(keep, `gap-${rep}.page`);
        reps.push({ ...r, floorMs: floor.worstGapMs, liveBefore, liveAfter: I.live() });
      }
      const med = (f) => {
        const xs = reps.map(f).filter((x) => x !== null).sort((a, b) => a - b);
        return xs.length ? xs[xs.length >> 1] : null;
      };
      return { worstGapMs: med((r) => r.worstGapMs), floorMs: med((r) => r.floorMs), flushMs: med((r) => r.flushMs),
        releaseTurnMs: med((r) => r.release.ms), releasedArenas: med((r) => r.release.arenas || null),
        liveBefore: reps[0].liveBefore, liveAfter: reps[reps.length - 1].liveAfter, reps };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

const IMPLS = { drop64: ['project', 'pure-JS'], fresh4: ['project', 'pure-JS', 'bare copy', 'pooled'], rss256: ['project', 'pure-JS'], gap: ['project', 'pure-JS'] };

function runChild(id, name) {
  const execArgv = id === 'rss256' ? ['--expose-gc'] : [];
  return new Promise((resolve, reject) => {
    const cp = spawn(process.execPath, [...execArgv, __filename, '--child', id, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    cp.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    cp.on('error', reject);
    cp.on('close', (code) => {
      if (code !== 0) return reject(new Error(`arena-memory ${id}/${name}: exit ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

async function run({ log = console.error } = {}) {
  const res = { seconds: SECONDS, yieldEvery: YIELD_EVERY, glibcTunables: process.env.GLIBC_TUNABLES ?? null, cases: {} };
  const ids = Object.keys(CASES);
  let n = 0;
  for (const id of ids) {
    res.cases[id] = {};
    for (const name of IMPLS[id]) res.cases[id][name] = await runChild(id, name);
    log(`arena-memory: round ${++n}/${ids.length}`);
  }
  res.rows = rows(res.cases);
  return res;
}

const MUST = {
  peakRss: (v) => v < 1024 * MiB,
  lastOverFirst: (v) => v <= 1.2,
  vsBare: (v) => v <= 2,
  growth: (v) => v < 64 * MiB,
  gap: (v) => v < 5,
};

function rows(c) {
  const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;
  const r = [];
  const add = (name, key, p, j, fmt, must) => r.push({ name, key, project: p, pureJs: j, fmt, must,
    pass: MUST[key](p), ahead: p <= j });
  add('64 MiB dropped, 4 KiB loop, 8 s: peak RSS', 'peakRss', c.drop64.project.peakRss, c.drop64['pure-JS'].peakRss, mib, '< 1 GiB');
  add('same loop: last round ÷ first (ns/page)', 'lastOverFirst', c.drop64.project.lastOverFirst, c.drop64['pure-JS'].lastOverFirst, (x) => x.toFixed(2), '≤ 1.2');
  const bare = c.fresh4['bare copy'].nsPerPage;
  add('4 KiB + new 4 MiB buffer per ~1000 pages ÷ bare warm copy', 'vsBare', c.fresh4.project.nsPerPage / bare, c.fresh4['pure-JS'].nsPerPage / bare, (x) => x.toFixed(2), '≤ 2');
  add('256 × 16 MiB, 1 MiB touched, dropped: RSS growth after GC', 'growth', c.rss256.project.growth, c.rss256['pure-JS'].growth, mib, '< 64 MiB');
  add('worst event-loop gap while dropped arenas are freed (ms)', 'gap', c.gap.project.worstGapMs, c.gap['pure-JS'].worstGapMs, (x) => x.toFixed(2), '< 5 ms');
  return r.map(({ fmt, ...x }) => ({ ...x, projectText: fmt(x.project), pureJsText: fmt(x.pureJs) }));
}

function print(res) {
  console.log(`\narena memory · buffers dropped without dispose() · GLIBC_TUNABLES ${res.glibcTunables === null ? 'unset' : `'${res.glibcTunables}'`} · ` +
    `yield every ${res.yieldEvery} pages · ${res.seconds} s rounds`);
  const header = ['case', 'project', 'pure-JS', 'must', 'status', 'vs pure-JS'];
  const lines = res.rows.map((x) => [x.name, x.projectText, x.pureJsText, x.must, x.pass ? 'PASS' : 'FAIL', x.ahead ? 'ahead' : 'BEHIND']);
  printTable(header, lines);
  const d = res.cases.drop64;
  const ns = (xs) => xs.map((x) => x.toFixed(0)).join(' / ');
  console.log(`drop64 ns/page per round: project ${ns(d.project.rounds)}; pure-JS ${ns(d['pure-JS'].rounds)}; ` +
    `peak liveArenas() ${d.project.peakLive}`);
  const f = res.cases.fresh4;
  console.log(`fresh4 ns/page: project ${f.project.nsPerPage.toFixed(0)}, pure-JS ${f['pure-JS'].nsPerPage.toFixed(0)}, ` +
    `bare copy ${f['bare copy'].nsPerPage.toFixed(0)}, project with ArenaPool + dispose() ${f.pooled.nsPerPage.toFixed(0)}; gap floor (nothing dropped): project ${res.cases.gap.project.floorMs.toFixed(2)} ms, ` +
    `pure-JS ${res.cases.gap['pure-JS'].floorMs.toFixed(2)} ms; project release turn ` +
    `${res.cases.gap.project.releaseTurnMs?.toFixed(2)} ms (${res.cases.gap.project.releasedArenas} arenas); ` +
    `flushTo ${res.cases.gap.project.flushMs.toFixed(1)} ms, ` +
    `liveArenas() ${res.cases.gap.project.liveBefore} → ${res.cases.gap.project.liveAfter}`);
}

if (process.argv[2] === '--child') {
  reportChild(CASES[process.argv[3]](process.argv[4]));
} else if (require.main === module) {
  report(run(), print);
}

module.exports = { run, print };
