'use strict';
// Cost vs buffer size: for arenas of 64 KiB … 64 MiB, fill buffers with
// 100 B pages (allocPage + page.set, the single-thread case's loop) until
// ERR_AGAIN — as many buffers as make 16 MiB of records, so small sizes pay
// their per-buffer costs (construction, the ERR_AGAIN that ends a buffer)
// once per buffer, as a rotating log does — then seal the last one and
// flush it to a page file, in two regimes:
//   fresh    a new WriteBuffer each round: a new arena, whose pages fault in
//            on first touch inside the fill (and are unmapped afterwards)
//   pooled   the buffer's arena comes from an ArenaPool and goes back to it
//            after the round (dispose()): warm memory, re-zeroed over what
//            the last buffer used
// Reported per size and regime: ns per page of the fill (median of rounds),
// and flushTo MB/s (page file bytes ÷ time, including fdatasync, link and
// directory fsync). Run by bench/index.js (step `buffer-size`), or alone:
//   node --expose-gc bench/buffer-size.js [--json]
// Environment: BENCH_BUFSIZE_ROUNDS (default 5), BENCH_BUFSIZE_DIR (default
// the OS temp dir).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { report } = require('./harness');

const SIZES = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20];
const PAGE = 100;

async function run({ rounds = Number(process.env.BENCH_BUFSIZE_ROUNDS) || 5, log = console.error } = {}) {
  const { WriteBuffer, ArenaPool } = require('..');
  const src = Buffer.alloc(PAGE, 0x5a);
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_BUFSIZE_DIR || os.tmpdir(), 'pwb-bufsize-'));
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const rows = [];
  try {
    for (const cap of SIZES) {
      const pool = new ArenaPool(cap, 1);
      const samples = { fresh: { fill: [], flush: [] }, pooled: { fill: [], flush: [] } };
      for (let r = 0; r <= rounds; r++) { // round 0 warms up (and fills the pool)
        for (const regime of r % 2 ? ['pooled', 'fresh'] : ['fresh', 'pooled']) {
          global.gc?.();
          // Fill enough buffers for 16 MiB of records per sample (one for the
          // big sizes), back to back; flush the last one.
          const count = Math.max(1, (16 << 20) / cap);
          let pages = 0;
          let fillNs = 0;
          let wb;
          for (let k = 0; k < count; k++) {
            if (wb !== undefined) wb.dispose();
            wb = regime === 'pooled' ? new WriteBuffer(k + 1, cap, { pool }) : new WriteBuffer(k + 1, cap);
            const t0 = process.hrtime.bigint();
            for (;;) {
              let a;
              try {
                a = wb.allocPage(pages, PAGE, false);
              } catch (e) {
                if (e.code === 'ERR_AGAIN') break;
                throw e;
              }
              a.page.set(src);
              pages++;
            }
            fillNs += Number(process.hrtime.bigint() - t0);
          }
          wb.seal();
          const file = path.join(dir, `${cap}-${regime}-${r}.page`);
          const t2 = process.hrtime.bigint();
          const res = await wb.flushTo(file);
          const t3 = process.hrtime.bigint();
          wb.dispose();
          fs.rmSync(file);
          if (r > 0) {
            samples[regime].fill.push(fillNs / pages);
            samples[regime].flush.push(res.bytes / (Number(t3 - t2) / 1e3)); // MB/s
          }
        }
      }
      pool.close();
      rows.push({
        capacity: cap,
        fresh: { nsPerPage: median(samples.fresh.fill), flushMBps: median(samples.fresh.flush) },
        pooled: { nsPerPage: median(samples.pooled.fill), flushMBps: median(samples.pooled.flush) },
      });
      log(`buffer-size: round ${rows.length}/${SIZES.length}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { pageSize: PAGE, rounds, rows };
}

function print(res) {
  const size = (b) => (b >= 1 << 20 ? `${b >> 20} MiB` : `${b >> 10} KiB`);
  console.log(`\ncost vs buffer size · fill buffers (16 MiB of records per sample) with ${res.pageSize} B pages (allocPage + page.set); seal and flushTo the last · median of ${res.rounds} rounds`);
  console.log('buffer   fresh ns/page  pooled ns/page  fresh ÷ pooled  flushTo MB/s fresh  flushTo MB/s pooled');
  for (const r of res.rows) {
    console.log(
      `${size(r.capacity).padEnd(7)}  ${r.fresh.nsPerPage.toFixed(1).padStart(13)}  ${r.pooled.nsPerPage.toFixed(1).padStart(14)}  ` +
        `${(r.fresh.nsPerPage / r.pooled.nsPerPage).toFixed(2).padStart(14)}  ${r.fresh.flushMBps.toFixed(0).padStart(18)}  ${r.pooled.flushMBps.toFixed(0).padStart(19)}`,
    );
  }
}

if (require.main === module) {
  report(run(), print);
}

module.exports = { run, print };
