'use strict';
// Plots a results file of `npm run bench` as one plain SVG (no dependencies):
//  (a) a grouped bar chart of ns/op per single-thread case: project vs pure-JS
//      vs bare copy (where a case has one);
//  (b) a line chart of throughput (MB/s = 10^6 page bytes per second, log y)
//      against page size (log x) for the page-size sweep;
//  (c) bars of MiB/s of PageLog vs sonic-boom per page size (sustained
//      append with periodic fsync), with the RSS result below them.
// Title: machine, Node version and date of the run.
//
// bench/index.js calls writePlot() after writing bench/results/<date>.json;
// by hand: node bench/plot.js bench/results/<date>.json [--docs]
// writes bench/results/<date>.svg next to it (and, with --docs, docs/bench.svg).
const fs = require('node:fs');
const path = require('node:path');

const W = 960;
const COLORS = { project: '#1f5fa8', 'pure-JS': '#e07b00', 'bare copy': '#2e9a3c', PageLog: '#1f5fa8', 'sonic-boom': '#8e44ad' };
const SERIES = ['project', 'pure-JS', 'bare copy'];
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (x) => Math.round(x * 10) / 10;

function text(x, y, s, { size = 12, anchor = 'start', weight = 'normal', fill = '#222', rotate = null } = {}) {
  const t = rotate == null ? '' : ` transform="rotate(${rotate} ${r1(x)} ${r1(y)})"`;
  return `<text x="${r1(x)}" y="${r1(y)}" font-size="${size}" text-anchor="${anchor}" font-weight="${weight}" fill="${fill}"${t}>${esc(s)}</text>`;
}
const line = (x1, y1, x2, y2, stroke = '#ccc', width = 1, extra = '') =>
  `<line x1="${r1(x1)}" y1="${r1(y1)}" x2="${r1(x2)}" y2="${r1(y2)}" stroke="${stroke}" stroke-width="${width}"${extra}/>`;

/** Round tick step for a linear axis from 0 to max. */
function linearTicks(max, n = 6) {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/** 1-2-5 ticks spanning [lo, hi] on a log axis. */
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) ticks.push(m * 10 ** e);
  }
  const first = ticks.filter((t) => t <= lo).pop() ?? ticks[0];
  const last = ticks.find((t) => t >= hi) ?? ticks[ticks.length - 1];
  return ticks.filter((t) => t >= first && t <= last);
}

const fmtNs = (x) => (x === 0 ? '0' : x < 10 ? x.toFixed(2) : x < 100_000 ? x.toFixed(0) : `${(x / 1000).toFixed(0)}k`);
const fmtNum = (x) => (x >= 1000 ? `${x / 1000}k` : String(x));
const sizeLabel = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

function legend(x, y, names) {
  const out = [];
  let cx = x;
  for (const name of names) {
    out.push(`<rect x="${cx}" y="${y - 10}" width="14" height="12" fill="${COLORS[name]}"/>`);
    out.push(text(cx + 19, y, name, { size: 12 }));
    cx += 28 + name.length * 7.5;
  }
  return out.join('\n');
}

/** (a) grouped bars: ns/op per single-thread case. */
function barChart(rows, top) {
  const H = 330;
  const m = { left: 70, right: 20, top: top + 50, bottom: 58 };
  const plotW = W - m.left - m.right;
  const plotH = H - 50 - m.bottom;
  // One group per case id (a case may appear in several table rows).
  const cases = [];
  for (const r of rows) if (!cases.some((c) => c.id === r.id)) cases.push(r);
  const groups = cases.map((c) => ({
    title: c.case,
    bars: SERIES.filter((k) => c.values[k]).map((k) => ({ name: k, v: c.values[k].median })),
  }));
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.v)));
  const ticks = linearTicks(max);
  const yMax = ticks[ticks.length - 1];
  const y = (v) => m.top + plotH - (v / yMax) * plotH;
  const out = [text(W / 2, top + 18, '(a) single-thread cases: time per operation (lower is better)', { size: 14, anchor: 'middle', weight: 'bold' })];
  out.push(legend(m.left, top + 40, SERIES));
  for (const t of ticks) {
    out.push(line(m.left, y(t), m.left + plotW, y(t), '#e3e3e3'));
    out.push(text(m.left - 6, y(t) + 4, fmtNs(t), { size: 11, anchor: 'end' }));
  }
  out.push(text(18, m.top + plotH / 2, 'ns/op (median round)', { size: 12, anchor: 'middle', rotate: -90 }));
  const gw = plotW / groups.length;
  const bw = Math.min(60, (gw * 0.8) / 3);
  groups.forEach((g, i) => {
    const cx = m.left + gw * (i + 0.5);
    const x0 = cx - (bw * g.bars.length) / 2;
    g.bars.forEach((b, j) => {
      const x = x0 + j * bw;
      out.push(`<rect x="${r1(x + 1)}" y="${r1(y(b.v))}" width="${r1(bw - 2)}" height="${r1(m.top + plotH - y(b.v))}" fill="${COLORS[b.name]}"><title>${esc(`${g.title} · ${b.name}: ${b.v.toFixed(1)} ns/op`)}</title></rect>`);
      out.push(text(x + bw / 2, y(b.v) - 4, fmtNs(b.v), { size: 10, anchor: 'middle' }));
    });
    // Case title, wrapped in two lines at a word boundary near the middle.
    const words = g.title.split(' ');
    let l1 = g.title, l2 = '';
    if (g.title.length > gw / 6.5) {
      let best = 1;
      for (let k = 1; k < words.length; k++) {
        const a = words.slice(0, k).join(' ').length;
        const bestA = words.slice(0, best).join(' ').length;
        if (Math.abs(a - g.title.length / 2) < Math.abs(bestA - g.title.length / 2)) best = k;
      }
      l1 = words.slice(0, best).join(' ');
      l2 = words.slice(best).join(' ');
    }
    out.push(text(cx, m.top + plotH + 18, l1, { size: 11, anchor: 'middle' }));
    if (l2) out.push(text(cx, m.top + plotH + 32, l2, { size: 11, anchor: 'middle' }));
  });
  out.push(line(m.left, m.top + plotH, m.left + plotW, m.top + plotH, '#444'));
  out.push(line(m.left, m.top, m.left, m.top + plotH, '#444'));
  return { svg: out.join('\n'), height: H };
}

/** (b) lines: MB/s vs page size, both log scales. */
function sweepChart(sweep, top) {
  const H = 400;
  const m = { left: 70, right: 45, top: top + 50, bottom: 52 };
  const plotW = W - m.left - m.right;
  const plotH = H - 50 - m.bottom;
  const sizes = sweep.map((r) => r.pageSize);
  const all = sweep.flatMap((r) => SERIES.map((k) => r.mbPerSec[k]).filter((v) => v > 0));
  const yt = logTicks(Math.min(...all), Math.max(...all));
  const lx0 = Math.log2(sizes[0]), lx1 = Math.log2(sizes[sizes.length - 1]);
  const pad = 0.3;
  const x = (s) => m.left + ((Math.log2(s) - lx0 + pad) / (lx1 - lx0 + 2 * pad)) * plotW;
  const ly0 = Math.log10(yt[0]), ly1 = Math.log10(yt[yt.length - 1]);
  const y = (v) => m.top + plotH - ((Math.log10(v) - ly0) / (ly1 - ly0)) * plotH;
  const out = [text(W / 2, top + 18, '(b) page-size sweep: allocPage(size) + page.set(src), throughput (higher is better)', { size: 14, anchor: 'middle', weight: 'bold' })];
  out.push(legend(m.left, top + 40, SERIES));
  for (const t of yt) {
    out.push(line(m.left, y(t), m.left + plotW, y(t), '#e3e3e3'));
    out.push(text(m.left - 6, y(t) + 4, fmtNum(t), { size: 11, anchor: 'end' }));
  }
  for (const s of sizes) {
    out.push(line(x(s), m.top, x(s), m.top + plotH, '#f0f0f0'));
    out.push(text(x(s), m.top + plotH + 18, sizeLabel(s), { size: 11, anchor: 'middle' }));
  }
  out.push(text(18, m.top + plotH / 2, 'MB/s of page bytes (log scale)', { size: 12, anchor: 'middle', rotate: -90 }));
  out.push(text(m.left + plotW / 2, m.top + plotH + 40, 'page size (log scale)', { size: 12, anchor: 'middle' }));
  for (const k of SERIES) {
    const pts = sweep.filter((r) => r.mbPerSec[k] > 0).map((r) => [x(r.pageSize), y(r.mbPerSec[k]), r]);
    out.push(`<polyline fill="none" stroke="${COLORS[k]}" stroke-width="2.5" points="${pts.map(([a, b]) => `${r1(a)},${r1(b)}`).join(' ')}"/>`);
    for (const [a, b, r] of pts) {
      out.push(`<circle cx="${r1(a)}" cy="${r1(b)}" r="4" fill="${COLORS[k]}"><title>${esc(`${sizeLabel(r.pageSize)} · ${k}: ${r.mbPerSec[k].toFixed(0)} MB/s, ${r.nsPerOp[k].toFixed(1)} ns/op`)}</title></circle>`);
    }
  }
  // The project's MB/s next to its points.
  for (const r of sweep) {
    const v = r.mbPerSec.project;
    out.push(text(x(r.pageSize) + 6, y(v) + 15, v.toFixed(0), { size: 10, fill: COLORS.project }));
  }
  out.push(line(m.left, m.top + plotH, m.left + plotW, m.top + plotH, '#444'));
  out.push(line(m.left, m.top, m.left, m.top + plotH, '#444'));
  return { svg: out.join('\n'), height: H };
}

/** (c) grouped bars: MiB/s of PageLog vs sonic-boom per page size, and the RSS line. */
function pageLogChart(pagelog, rss, top) {
  const names = ['PageLog', 'sonic-boom'];
  const H = 300 + (rss ? 24 : 0);
  const m = { left: 70, right: 20, top: top + 50, bottom: 58 + (rss ? 24 : 0) };
  const plotW = W - m.left - m.right;
  const plotH = H - 50 - m.bottom;
  const rows = pagelog.rows;
  const max = Math.max(...rows.flatMap((r) => names.map((k) => r.variants[k].mibPerSec)));
  const ticks = linearTicks(max);
  const yMax = ticks[ticks.length - 1];
  const y = (v) => m.top + plotH - (v / yMax) * plotH;
  const out = [text(W / 2, top + 18, `(c) PageLog vs sonic-boom ${pagelog.sonicBoom || ''}: sustained append, fsync every ` +
    `${pagelog.durableEvery / 2 ** 20} MiB (higher is better)`, { size: 14, anchor: 'middle', weight: 'bold' })];
  out.push(legend(m.left, top + 40, names));
  for (const t of ticks) {
    out.push(line(m.left, y(t), m.left + plotW, y(t), '#e3e3e3'));
    out.push(text(m.left - 6, y(t) + 4, String(t), { size: 11, anchor: 'end' }));
  }
  out.push(text(18, m.top + plotH / 2, 'MiB/s of page bytes', { size: 12, anchor: 'middle', rotate: -90 }));
  const gw = plotW / rows.length;
  const bw = Math.min(80, (gw * 0.6) / names.length);
  rows.forEach((r, i) => {
    const cx = m.left + gw * (i + 0.5);
    const x0 = cx - (bw * names.length) / 2;
    names.forEach((k, j) => {
      const v = r.variants[k];
      const x = x0 + j * bw;
      out.push(`<rect x="${r1(x + 1)}" y="${r1(y(v.mibPerSec))}" width="${r1(bw - 2)}" height="${r1(m.top + plotH - y(v.mibPerSec))}" fill="${COLORS[k]}"><title>${esc(`${sizeLabel(r.pageSize)} · ${k}: ${v.mibPerSec.toFixed(0)} MiB/s, ${Math.round(v.pagesPerSec)} pages/s`)}</title></rect>`);
      out.push(text(x + bw / 2, y(v.mibPerSec) - 4, v.mibPerSec.toFixed(0), { size: 10, anchor: 'middle' }));
    });
    out.push(text(cx, m.top + plotH + 18, `${sizeLabel(r.pageSize)} pages · PageLog ÷ sonic-boom ${r.ratio.toFixed(2)}×`, { size: 11, anchor: 'middle' }));
  });
  out.push(line(m.left, m.top + plotH, m.left + plotW, m.top + plotH, '#444'));
  out.push(line(m.left, m.top, m.left, m.top + plotH, '#444'));
  if (rss) {
    const mib = (x) => (x / 2 ** 20).toFixed(1);
    const outside = rss.outsideHeapGrowth == null ? '' : ` (outside V8's heap ${rss.outsideHeapGrowth < 0 ? '' : '+'}${mib(rss.outsideHeapGrowth)})`;
    out.push(text(W / 2, m.top + plotH + 44, `PageLog RSS over ${rss.appends.toLocaleString('en-US')} appends, ${rss.flushes} flushes: ` +
      `+${mib(rss.growth)} MiB after warm-up${outside}, peak +${mib(rss.peakGrowth)} MiB · target < ${mib(rss.limit)} MiB`,
    { size: 12, anchor: 'middle', fill: '#333' }));
  }
  return { svg: out.join('\n'), height: H };
}

/** The SVG text for a parsed results file. */
function render(res) {
  const day = (res.date || '').slice(0, 10);
  const machine = `${res.cpu || '?'} × ${res.cpus || '?'}, ${res.platform || ''}, Node ${res.node || '?'}`;
  const parts = [
    text(W / 2, 28, `photon-write-buffer bench · ${day}${res.self ? ' · BENCH_SELF=1 (baseline on both sides)' : ''}`, { size: 18, anchor: 'middle', weight: 'bold' }),
    text(W / 2, 48, `${machine} · median of ${res.rounds} paired rounds per case`, { size: 12, anchor: 'middle', fill: '#555' }),
  ];
  let top = 60;
  const rows = (res.rows || []).filter((r) => r.values && r.values.project);
  if (rows.length) {
    const a = barChart(rows, top);
    parts.push(a.svg);
    top += a.height;
  }
  if (res.sweep && res.sweep.length) {
    const b = sweepChart(res.sweep, top);
    parts.push(b.svg);
    top += b.height;
  }
  if (res.pagelog && res.pagelog.rows && res.pagelog.rows.length) {
    const c = pageLogChart(res.pagelog, res.rss, top);
    parts.push(c.svg);
    top += c.height;
  }
  if (top === 60) parts.push(text(W / 2, 90, 'no single-thread cases or sweep in this results file', { size: 14, anchor: 'middle' }));
  const H = top + 10;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}

/**
 * Writes the plot of results file `jsonFile` next to it (same name, .svg);
 * with `docs`, also to docs/bench.svg. Returns the paths written.
 */
function writePlot(jsonFile, { docs = false } = {}) {
  const svg = render(JSON.parse(fs.readFileSync(jsonFile, 'utf8')));
  const out = [jsonFile.replace(/\.json$/, '') + '.svg'];
  if (docs) out.push(path.join(__dirname, '..', 'docs', 'bench.svg'));
  for (const f of out) fs.writeFileSync(f, svg);
  return out;
}

if (require.main === module) {
  const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
  if (!file) {
    console.error('usage: node bench/plot.js bench/results/<date>.json [--docs]');
    process.exit(2);
  }
  console.log(writePlot(file, { docs: process.argv.includes('--docs') }).join('\n'));
}

module.exports = { render, writePlot };
