'use strict';
// The benchmark cases. A driver takes a WriteBuffer class and returns
// { setup, fn } for the harness: `project` and `pure-JS` use the very same
// driver function (same API calls); each (case, implementation) pair runs in
// its own process (see index.js) so their call sites never share type feedback.
const { recordSize } = require('./baseline/js-write-buffer');

const MiB = 1 << 20;
// A fresh buffer of CAP bytes per round, created in the untimed setup; every
// round's ops fit in it (checked by fits()), so no ERR_AGAIN and no
// re-creation inside the timed loop. 16 MiB by default (the 4 KiB case fills
// 16.4 of its 16.8 MB). Arena memory never touched before costs a page fault
// at its first write (~1.5 µs per 4 KiB on the dev VM), inside the timed loop.
// The project hands a dropped buffer's arena to its reclaim thread, which keeps
// a few scrubbed in a process-wide cache: a round's fresh buffer usually gets
// the previous round's arena, warm (index.js waits, untimed, until the thread
// is idle). The pure-JS baseline gets whatever calloc gives a SharedArrayBuffer.
// No glibc tunables are set (the user's environment); faults/op and the 'cold
// copy' column show which regime a run was in.
const CAP = (Number(process.env.BENCH_CAP_MIB) || 16) * MiB;
const src100 = Buffer.alloc(100, 0xab);
const src4k = Buffer.alloc(4096, 0xcd);

function copy4k(ops, target) {
  for (let i = 0, off = 0; i < ops; i++, off += 4096) target.set(src4k, off);
}

function fits(ops, pageSize, cap = CAP) {
  if (ops * recordSize(pageSize) > cap) throw new Error(`${ops} × ${pageSize} B does not fit ${cap}`);
  return ops;
}

const CASES = {
  alloc0: {
    title: 'allocPage 0 B + releaseWriter',
    ops: fits(200_000, 0),
    drivers: {
      wb: (WB) => ({
        setup: () => new WB(1, CAP),
        fn(ops, wb) {
          for (let i = 0; i < ops; i++) {
            wb.allocPage(i, 0, true);
            wb.releaseWriter();
          }
        },
      }),
    },
  },

  alloc100: {
    title: 'allocPage 100 B + page.set',
    ops: fits(100_000, 100),
    drivers: {
      wb: (WB) => ({
        setup: () => new WB(1, CAP),
        fn(ops, wb) {
          for (let i = 0; i < ops; i++) wb.allocPage(i, 100, false).page.set(src100);
        },
      }),
    },
  },

  alloc4k: {
    title: 'allocPage 4 KiB + page.set',
    ops: fits(4_000, 4096),
    drivers: {
      wb: (WB) => ({
        setup: () => new WB(1, CAP),
        fn(ops, wb) {
          for (let i = 0; i < ops; i++) wb.allocPage(i, 4096, false).page.set(src4k);
        },
      }),
      // The floor: the same 4 KiB copies into a warm, preallocated CAP-byte Buffer
      // (filled once, so faulted in; reused every round, so it also stays in a
      // large L3).
      'bare copy': () => {
        const target = Buffer.alloc(CAP, 1);
        return { setup: () => target, fn: copy4k };
      },
      // For reference: the same copies into a fresh CAP-byte Buffer per round
      // (calloc, like an arena), i.e. into memory as cold as a new buffer's.
      'cold copy': () => ({ setup: () => Buffer.alloc(CAP), fn: copy4k }),
    },
  },

  records: {
    title: 'records() per record (100k × 100 B)',
    ops: 100_000, // records per round: one full iteration of the same sealed buffer
    drivers: {
      wb: (WB) => {
        let built = null;
        return {
          setup() {
            if (built) return built; // built once, untimed, then reused by every round
            const cap = Math.max(CAP, 16 * MiB);
            const n = fits(100_000, 100, cap);
            built = new WB(1, cap);
            for (let i = 0; i < n; i++) built.allocPage(i, 100, false).page.set(src100);
            if (built.seal() !== 'flush') throw new Error('expected a flushable buffer');
            return built;
          },
          fn(ops, wb) {
            let bytes = 0, n = 0, last;
            for (const rec of wb.records()) {
              bytes += rec.page.length;
              last = rec.pageId;
              n++;
            }
            if (n !== ops || bytes !== ops * 100 || last !== BigInt(ops - 1)) throw new Error('bad iteration');
          },
        };
      },
    },
  },
};

// Page-size sweep: allocPage(size) + page.set(src) for each size, against the
// pure-JS baseline and against the bare copy (`target.set(src, off)` into a
// warm CAP-byte Buffer at advancing offsets). One case per size (ids
// sweep16 … sweep64k, so BENCH_ONLY=sweep runs them all); each (case, impl)
// runs in its own child process with paired rounds, like the cases above.
// ops per round: every round fits one 16 MiB buffer (the 64 KiB case takes
// 255 pages = 16.7 MB of its 16.8 MB: a bigger buffer would be over the
// 32 MiB glibc mmap threshold that index.js sets and so fault in the timed
// loop); the small sizes are capped so the whole sweep stays under ~60 s.
const SWEEP_CAP = 16 * MiB;
const SWEEP = [
  [16, 200_000], // 32 B records: 6.4 MB
  [64, 150_000], // 80 B: 12.0 MB
  [256, 50_000], // 272 B: 13.6 MB
  [1024, 15_000], // 1040 B: 15.6 MB
  [4096, 4_000], // 4112 B: 16.4 MB
  [16384, 1_000], // 16400 B: 16.4 MB
  [65536, 255], // 65552 B: 16.7 MB
];
const sizeLabel = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);
const sweepId = (n) => `sweep${n >= 1024 ? `${n / 1024}k` : n}`;

for (const [size, ops] of SWEEP) {
  const src = Buffer.alloc(size, 0xcd);
  CASES[sweepId(size)] = {
    title: `sweep: allocPage ${sizeLabel(size)} + page.set`,
    ops: fits(ops, size, SWEEP_CAP),
    pageSize: size,
    sweep: true,
    drivers: {
      wb: (WB) => ({
        setup: () => new WB(1, SWEEP_CAP),
        fn(ops, wb) {
          for (let i = 0; i < ops; i++) wb.allocPage(i, size, false).page.set(src);
        },
      }),
      'bare copy': () => {
        const target = Buffer.alloc(SWEEP_CAP, 1);
        return {
          setup: () => target,
          fn(ops, t) {
            for (let i = 0, off = 0; i < ops; i++, off += size) t.set(src, off);
          },
        };
      },
    },
  };
}

// The table: one row per comparison. ratio = ref ÷ project (> 1: project faster).
const ROWS = [
  { from: 'alloc0', ref: 'pure-JS', target: 1.2 },
  { from: 'alloc100', ref: 'pure-JS', target: 1.2 },
  { from: 'alloc4k', ref: 'pure-JS', target: null },
  { from: 'alloc4k', ref: 'bare copy', target: 0.5, targetText: '≥ 0.50 (≤ 2× bare)' },
  { from: 'records', ref: 'pure-JS', target: 1.2 },
];

module.exports = { CASES, ROWS, CAP, SWEEP, sizeLabel };
