'use strict';
// What a `records()`-shaped iteration costs on this Node at best: the same
// walk over 100k × 100 B records (16-byte headers in an ArrayBuffer, the
// project's layout) written several ways in plain JS with none of the
// project's checks, each shape in a process of its own, beside the project's
// own `records()`. Every shape reads what the `records` case of
// `npm run bench` reads: `page.length` (a `Buffer` view) and `pageId` (a
// bigint). It answers "how far is `records()` from the floor of its shape"
// (docs/BENCHMARKS.md, "The floor of records()").
//
//   node --expose-gc bench/records-floor.js [--json]
//
// Shapes:
//   loop-inline   a plain loop: header read, view, bigint and a record object
//                 made in the loop (no iterator, no try region)
//   loop-call     the same, the view made by a call V8 does not inline
//   forof-lazy    for…of over an iterator class: one result object made at one
//                 place, a record whose view is made on first read by a call
//                 V8 does not inline (the project's shape, without its checks)
//   forof-eager   the same, the record and its view made in next()
//   view-only     a plain loop making views and nothing else
//   try-derived   views of a Uint8Array subclass (a PageView) made in a try block
//   try-uint8     plain Uint8Arrays made in a try block
//   project       the project's records(): the `records` case of bench/cases.js, its driver
//                 (loop-inline and loop-call differ only in how the view is made: kept
//                 apart, not shared through a callback, which would change what they time)
const { fork } = require('node:child_process');
const { summarize, report, reportChild } = require('./harness');

const N = 100_000;
const ROUNDS = 41;
const kept = [];
const SHAPES = ['loop-inline', 'loop-call', 'forof-lazy', 'forof-eager', 'view-only', 'try-derived', 'try-uint8', 'project'];

function shapes() {
  const ab = new ArrayBuffer(16 << 20);
  const w = new Uint32Array(ab);
  class PageView extends Uint8Array {}
  Object.setPrototypeOf(PageView.prototype, Buffer.prototype);
  // Records as the project lays them out: id (u64), flags, size, then the body, 8-aligned.
  let end = 0;
  for (let i = 0; i < N; i++) {
    w[end >>> 2] = i;
    w[(end >>> 2) + 2] = 1;
    w[(end >>> 2) + 3] = 100;
    end += 16 + 104;
  }
  const END = end;
  // Kept over V8's inlining limit by a branch never taken (as the project's viewOutsideTry).
  function view(at, size) {
    if (size > 0xffffffff) {
      let n = size;
      n = (n * 31 + 1) | 0;
      n = (n * 31 + 2) | 0;
      n = (n * 31 + 3) | 0;
      n = (n * 31 + 4) | 0;
      n = (n * 31 + 5) | 0;
      n = (n * 31 + 6) | 0;
      n = (n * 31 + 7) | 0;
      n = (n * 31 + 8) | 0;
      n = (n * 31 + 9) | 0;
      n = (n * 31 + 10) | 0;
      n = (n * 31 + 11) | 0;
      n = (n * 31 + 12) | 0;
      n = (n * 31 + 13) | 0;
      n = (n * 31 + 14) | 0;
      n = (n * 31 + 15) | 0;
      n = (n * 31 + 16) | 0;
      n = (n * 31 + 17) | 0;
      n = (n * 31 + 18) | 0;
      n = (n * 31 + 19) | 0;
      n = (n * 31 + 20) | 0;
      n = (n * 31 + 21) | 0;
      n = (n * 31 + 22) | 0;
      n = (n * 31 + 23) | 0;
      n = (n * 31 + 24) | 0;
      n = (n * 31 + 25) | 0;
      n = (n * 31 + 26) | 0;
      n = (n * 31 + 27) | 0;
      n = (n * 31 + 28) | 0;
      n = (n * 31 + 29) | 0;
      n = (n * 31 + 30) | 0;
      n = (n * 31 + 31) | 0;
      n = (n * 31 + 32) | 0;
      n = (n * 31 + 33) | 0;
      n = (n * 31 + 34) | 0;
      n = (n * 31 + 35) | 0;
      n = (n * 31 + 36) | 0;
      n = (n * 31 + 37) | 0;
      n = (n * 31 + 38) | 0;
      n = (n * 31 + 39) | 0;
      n = (n * 31 + 40) | 0;
      n = (n * 31 + 41) | 0;
      n = (n * 31 + 42) | 0;
      n = (n * 31 + 43) | 0;
      n = (n * 31 + 44) | 0;
      n = (n * 31 + 45) | 0;
      n = (n * 31 + 46) | 0;
      n = (n * 31 + 47) | 0;
      n = (n * 31 + 48) | 0;
      n = (n * 31 + 49) | 0;
      n = (n * 31 + 50) | 0;
      throw new RangeError(`size ${n}`);
    }
    return new PageView(ab, at + 16, size);
  }
  class Eager {
    constructor(page, pageId) {
      this.page = page;
      this.pageId = pageId;
    }
  }
  class Lazy {
    constructor(at, size) {
      this.at = at;
      this.size = size;
      this.cached = undefined;
    }
    get page() {
      let p = this.cached;
      if (p === undefined) p = this.cached = view(this.at, this.size);
      return p;
    }
    get pageId() {
      return BigInt(w[this.at >>> 2]);
    }
  }
  function iteratorOf(make) {
    return class {
      constructor() {
        this.at = 0;
      }
      [Symbol.iterator]() {
        return this;
      }
      next() {
        let at = this.at;
        let value;
        while (at < END) {
          const i = at >>> 2;
          const size = w[i + 3];
          const next = at + 16 + size + (-size & 7);
          if (w[i + 2] === 1) {
            value = make(at, size, i);
            at = next;
            break;
          }
          at = next;
        }
        this.at = at;
        return { done: value === undefined, value };
      }
    };
  }
  const LazyIt = iteratorOf((at, size) => new Lazy(at, size));
  const EagerIt = iteratorOf((at, size, i) => new Eager(view(at, size), BigInt(w[i])));
  // One object of each class kept alive: the full GC before each round would
  // otherwise drop their hidden classes and the loops' optimized code with
  // them (the project keeps its own the same way: keepShapes).
  kept.push(new Lazy(0, 0), new Eager(null, 0n), new LazyIt(), new EagerIt(), new PageView(ab, 0, 1));
  const check = (n, bytes, last) => {
    if (n !== N || bytes !== N * 100 || last !== BigInt(N - 1)) throw new Error('bad iteration');
  };
  const forOf = (It) => () => {
    let bytes = 0, n = 0, last;
    for (const r of new It()) {
      bytes += r.page.length;
      last = r.pageId;
      n++;
    }
    check(n, bytes, last);
  };
  const viewsIn = (make) => () => {
    let s = 0;
    for (let i = 0; i < N; i++) s += make(i * 120 + 16);
    if (s !== N * 100) throw new Error('bad views');
  };
  return {
    'loop-inline': () => {
      let bytes = 0, n = 0, last;
      for (let at = 0; at < END;) {
        const i = at >>> 2;
        const size = w[i + 3];
        if (w[i + 2] === 1) {
          const r = new Eager(new PageView(ab, at + 16, size), BigInt(w[i]));
          bytes += r.page.length;
          last = r.pageId;
          n++;
        }
        at += 16 + size + (-size & 7);
      }
      check(n, bytes, last);
    },
    'loop-call': () => {
      let bytes = 0, n = 0, last;
      for (let at = 0; at < END;) {
        const i = at >>> 2;
        const size = w[i + 3];
        if (w[i + 2] === 1) {
          const r = new Eager(view(at, size), BigInt(w[i]));
          bytes += r.page.length;
          last = r.pageId;
          n++;
        }
        at += 16 + size + (-size & 7);
      }
      check(n, bytes, last);
    },
    'forof-lazy': forOf(LazyIt),
    'forof-eager': forOf(EagerIt),
    'view-only': viewsIn((off) => new PageView(ab, off, 100).length),
    'try-derived': viewsIn((off) => {
      try {
        return new PageView(ab, off, 100).length;
      } finally {
        w[0] |= 0;
      }
    }),
    'try-uint8': viewsIn((off) => {
      try {
        return new Uint8Array(ab, off, 100).length;
      } finally {
        w[0] |= 0;
      }
    }),
  };
}

/** The project's records(): the `records` case of `npm run bench`, its own driver. */
function projectShape() {
  const { CASES } = require('./cases');
  const d = CASES.records.drivers.wb(require('..').WriteBuffer);
  const wb = d.setup();
  return () => d.fn(N, wb);
}

async function child(shape) {
  const fn = shape === 'project' ? projectShape() : shapes()[shape];
  const ns = [];
  for (let r = 0; r < ROUNDS + 5; r++) {
    if (typeof gc === 'function') gc();
    const t = process.hrtime.bigint();
    fn();
    if (r >= 5) ns.push(Number(process.hrtime.bigint() - t) / N);
  }
  return { shape, ...summarize(ns) };
}

function runChild(shape) {
  return new Promise((resolve, reject) => {
    const cp = fork(__filename, ['--child', shape], { execArgv: process.execArgv, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    cp.stdout.on('data', (d) => (out += d));
    cp.on('error', reject);
    cp.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${shape}: exit ${code}`))));
  });
}

async function main() {
  const rows = [];
  for (const shape of SHAPES) {
    process.stderr.write(`records-floor: ${shape}\n`);
    rows.push(await runChild(shape));
  }
  return { node: process.version, v8: process.versions.v8, records: N, rounds: ROUNDS, rows };
}

if (process.argv[2] === '--child') reportChild(child(process.argv[3]));
else {
  report(main(), (res) => {
    console.log(`\nthe floor of records() · ${res.records} × 100 B records, page.length + pageId · node ${res.node} (V8 ${res.v8}) · ns per record, ${res.rounds} rounds`);
    console.log(`${'shape'.padEnd(14)} ${'median'.padStart(8)} ${'min'.padStart(8)}`);
    for (const r of res.rows) console.log(`${r.shape.padEnd(14)} ${r.median.toFixed(1).padStart(8)} ${r.min.toFixed(1).padStart(8)}`);
  });
}
