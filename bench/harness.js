'use strict';
// A tiny timing harness: measure() times rounds, compare() prints a table,
// writeResults() saves JSON under bench/results/.
const fs = require('node:fs');
const path = require('node:path');

const gc = typeof global.gc === 'function' ? global.gc : () => {};

/** Median, min and max of ns/op samples. */
function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Times `fn(ops, ctx)`, which must run `ops` iterations of the operation
 * itself (the loop lives in `fn`, so no per-op callback is timed).
 * Before every round (warm-up included), untimed: a GC and one event-loop turn
 * (so the previous round's buffers are freed, N-API finalizers included, and
 * their memory can be reused), then `setup()`, whose result is passed as
 * `ctx`, then another GC. Resolves to the median ns/op over `rounds` timed
 * rounds, plus min, max, the samples and the minor page faults per op taken
 * inside the timed region (median round).
 */
async function measure(name, fn, { ops, rounds = 7, warmup = 2, setup } = {}) {
  if (!(ops > 0)) throw new RangeError('ops must be > 0');
  const samples = [];
  const faults = [];
  for (let r = -warmup; r < rounds; r++) {
    gc();
    await new Promise(setImmediate);
    const ctx = setup ? setup() : undefined;
    gc();
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = process.hrtime.bigint();
    fn(ops, ctx);
    const t1 = process.hrtime.bigint();
    const f1 = process.resourceUsage().minorPageFault;
    if (r >= 0) {
      samples.push(Number(t1 - t0) / ops);
      faults.push((f1 - f0) / ops);
    }
  }
  return { name, ops, rounds, ...summarize(samples), faultsPerOp: summarize(faults).median, samples };
}

const fmt = (x) => (x == null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));

/**
 * rows: [{ case, values: { [impl]: stats }, ref, target, targetText? }]
 * The first column after `case` is `project`; `ratio` = values[ref] ÷ values.project
 * on medians (so > 1 means the project is faster); `min ratio` is the same on the
 * fastest rounds (less sensitive to a noisy host). status is PASS/FAIL of `ratio`
 * against `target` (a minimum ratio), or `info` without one. Prints the table to stdout and
 * returns the rows with `ratio` and `status` filled in.
 */
function compare(rows) {
  const impls = [];
  for (const row of rows) for (const k of Object.keys(row.values)) if (!impls.includes(k)) impls.push(k);
  const out = rows.map((row) => {
    const p = row.values.project, ref = row.values[row.ref];
    const ratio = p && ref ? ref.median / p.median : null;
    const minRatio = p && ref ? ref.min / p.min : null;
    const status = row.target == null || ratio == null ? 'info' : ratio >= row.target ? 'PASS' : 'FAIL';
    const targetText = row.targetText || (row.target == null ? '—' : `≥ ${row.target.toFixed(2)}`);
    return { ...row, ratio, minRatio, status, targetText };
  });
  const header = ['case', ...impls.map((k) => `${k} ns/op`), 'ratio', 'min ratio', 'vs', 'target', 'status'];
  const lines = out.map((r) => [
    r.case,
    ...impls.map((k) => fmt(r.values[k] && r.values[k].median)),
    r.ratio == null ? '—' : r.ratio.toFixed(2),
    r.minRatio == null ? '—' : r.minRatio.toFixed(2),
    r.ref,
    r.targetText,
    r.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const render = (cells) => cells
    .map((c, i) => (i === 0 || i >= cells.length - 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
    .join('  ').trimEnd();
  console.log(render(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(render(l));
  return out;
}

/** Writes `obj` as JSON to bench/results/<YYYY-MM-DD>.json; returns the path. */
function writeResults(obj) {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const d = new Date();
  const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const file = path.join(dir, `${day}.json`);
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
  return file;
}

module.exports = { measure, summarize, compare, writeResults };
