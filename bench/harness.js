'use strict';
// A tiny timing harness: timeRound()/measure() time rounds, compare() prints a
// table, printTable() prints any table of the bench, writeResults() saves JSON
// under bench/results/.
const fs = require('node:fs');
const path = require('node:path');

const gc = typeof global.gc === 'function' ? global.gc : () => {};

/** Median, quartiles, min and max of a list of numbers. */
function summarize(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p25: q(0.25), p75: q(0.75), min: s[0], max: s[s.length - 1] };
}

/**
 * One timed round of `fn(ops, ctx)`; `fn` runs the `ops` iterations itself
 * (the loop lives in `fn`, so no per-op callback is timed). Untimed before it:
 *  1. a full GC and one event-loop turn, so the previous rounds' buffers are
 *     freed (N-API finalizers run on the loop) and their memory can be reused;
 *  2. one priming run, `fn(ops, setup())`: right after a forced full GC, V8
 *     runs an allocation-heavy loop up to ~1.6× slower (its young generation
 *     starts over) until some MB have been allocated; priming restores the
 *     steady state a long-running process is in;
 *  3. `ctx = setup()` (a fresh buffer).
 * Returns ns/op and the minor page faults per op taken inside the timed region.
 */
async function timeRound(fn, ops, setup) {
  gc();
  await new Promise(setImmediate);
  fn(ops, setup ? setup() : undefined);
  const ctx = setup ? setup() : undefined;
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = process.hrtime.bigint();
  fn(ops, ctx);
  const t1 = process.hrtime.bigint();
  const f1 = process.resourceUsage().minorPageFault;
  return { ns: Number(t1 - t0) / ops, faults: (f1 - f0) / ops };
}

/**
 * `warmup` untimed rounds, then `rounds` timed rounds of `ops` iterations.
 * Resolves to { median, min, max (ns/op), samples, faultsPerOp, ... }.
 */
async function measure(name, fn, { ops, rounds = 7, warmup = 2, setup } = {}) {
  if (!(ops > 0)) throw new RangeError('ops must be > 0');
  for (let r = 0; r < warmup; r++) await timeRound(fn, ops, setup);
  const samples = [];
  const faults = [];
  for (let r = 0; r < rounds; r++) {
    const { ns, faults: f } = await timeRound(fn, ops, setup);
    samples.push(ns);
    faults.push(f);
  }
  return { name, ops, rounds, ...summarize(samples), faultsPerOp: summarize(faults).median, samples };
}

const fmt = (x) => (x == null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));

/**
 * rows: [{ case, values: { [impl]: stats }, ref, ratios?, target?, targetText? }]
 * `ratio` is ref ÷ project, > 1 when the project is faster: the median of the
 * per-round paired ratios `ratios` when given (robust to a noisy host), else
 * the ratio of the medians; [p25–p75] of the paired ratios shows the spread.
 * status: PASS/FAIL of `ratio` against `target` (a minimum), `info` without one.
 * Prints the table to stdout; returns the rows with ratio/status filled in.
 */
function compare(rows) {
  const impls = [];
  for (const row of rows) for (const k of Object.keys(row.values)) if (!impls.includes(k)) impls.push(k);
  const out = rows.map((row) => {
    const p = row.values.project, ref = row.values[row.ref];
    const paired = row.ratios && row.ratios.length ? summarize(row.ratios) : null;
    const ratio = paired ? paired.median : p && ref ? ref.median / p.median : null;
    const status = row.target == null || ratio == null ? 'info' : ratio >= row.target ? 'PASS' : 'FAIL';
    const targetText = row.targetText || (row.target == null ? '—' : `≥ ${row.target.toFixed(2)}`);
    return { ...row, ratio, ratioSpread: paired && [paired.p25, paired.p75], status, targetText };
  });
  const header = ['case', ...impls.map((k) => `${k} ns/op`), 'ratio', '[p25–p75]', 'vs', 'target', 'status'];
  const lines = out.map((r) => [
    r.case,
    ...impls.map((k) => fmt(r.values[k] && r.values[k].median)),
    r.ratio == null ? '—' : r.ratio.toFixed(2),
    r.ratioSpread ? `[${r.ratioSpread[0].toFixed(2)}–${r.ratioSpread[1].toFixed(2)}]` : '',
    r.ref,
    r.targetText,
    r.status,
  ]);
  // The first column and the last three (vs, target, status) are text.
  printTable(header, lines, { left: (i, n) => i === 0 || i >= n - 3 });
  return out;
}

/**
 * Prints a table to stdout: the header, a rule, one line per row; columns two
 * spaces apart, as wide as their widest cell. `left(i, n)` says which of the
 * `n` columns are left-aligned (default: the first); the others are
 * right-aligned (figures). Cells are strings (anything else is String()ed).
 */
function printTable(header, lines, { left = (i) => i === 0 } = {}) {
  const n = header.length;
  const widths = header.map((h, i) => Math.max(String(h).length, ...lines.map((l) => String(l[i]).length)));
  const render = (cells) => cells
    .map((c, i) => (left(i, n) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
    .join('  ').trimEnd();
  console.log(render(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(render(l));
}

/**
 * Writes `obj` as JSON to bench/results/<prefix><YYYY-MM-DD>.json (local
 * date; `dir` for tests); returns the path.
 */
function writeResults(obj, { prefix = '', dir = path.join(__dirname, 'results') } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const d = new Date();
  const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const file = path.join(dir, `${prefix}${day}.json`);
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
  return file;
}

/** A failure of a bench script or child: printed, exit code 1. */
function fail(e) {
  console.error(e);
  process.exit(1);
}

/** Ends a bench script run alone: `--json` prints its result as JSON, else `print(result)`. */
function report(promise, print) {
  promise.then((res) => (process.argv.includes('--json') ? console.log(JSON.stringify(res)) : print(res)), fail);
}

/** Ends a bench child process: its result as one JSON line for the parent. */
function reportChild(promise) {
  promise.then((r) => console.log(JSON.stringify(r)), fail);
}

module.exports = { measure, timeRound, summarize, compare, printTable, writeResults, fail, report, reportChild };
