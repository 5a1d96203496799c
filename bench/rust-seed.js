'use strict';
// The Rust core alone against the seed's own code (photondb 0.0.4's write
// buffer, vendored in crate/bench/benches/seed/), side by side in one
// process: `alloc_page` 100 B + copy, without and with a writer, on 1 and on
// 2 threads sharing one 16 MiB buffer. Run by bench/index.js as the step
// `seed`, or alone: node bench/rust-seed.js.
//
// It runs `cargo bench -p photon-write-buffer-bench --bench seed_vs_core`
// with SEED_BENCH=paired (the paired rounds only, a few seconds; the first run
// compiles the bench in the release profile, about a minute and a half) and
// reads its `paired …` lines: ns/op of each side (median of the rounds) and
// core ÷ seed, the median of the per-round ratios with its p25–p75.
// Criterion's own report of the same cases: `npm run bench:seed`.
//
// Environment: BENCH_SEED_ROUNDS=n paired rounds per case (default 201).
// Without cargo on the PATH the step is reported as skipped.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');

// Issue targets for core ÷ seed: must ≤ 1.5, aim ≤ 1.1.
const MUST = 1.5;
const AIM = 1.1;

function run() {
  const root = path.join(__dirname, '..');
  const args = ['bench', '-p', 'photon-write-buffer-bench', '--bench', 'seed_vs_core'];
  const env = { ...process.env, SEED_BENCH: 'paired' };
  if (process.env.BENCH_SEED_ROUNDS) env.SEED_ROUNDS = process.env.BENCH_SEED_ROUNDS;
  const r = spawnSync('cargo', args, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const command = `SEED_BENCH=paired cargo ${args.join(' ')}`;
  if (r.error && r.error.code === 'ENOENT') return { skipped: 'cargo is not on the PATH', command };
  if (r.status !== 0) {
    throw new Error(`${command} failed (exit ${r.status}):\n${(r.stderr || '').split('\n').slice(-30).join('\n')}`);
  }
  const rows = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^paired (\S+) (seed_ns=.*)$/.exec(line);
    if (!m) continue;
    const kv = Object.fromEntries(m[2].split(' ').map((x) => x.split('=')).map(([k, v]) => [k, Number(v)]));
    rows.push({
      case: m[1], seedNs: kv.seed_ns, coreNs: kv.core_ns, ratio: kv.ratio, p25: kv.p25, p75: kv.p75,
      rounds: kv.rounds, pass: kv.ratio <= MUST, aim: kv.ratio <= AIM,
    });
  }
  if (rows.length === 0) throw new Error(`${command}: no 'paired' line in its output`);
  return { rows, command, must: MUST, aimAt: AIM };
}

function print(res) {
  console.log(`\nRust core alone vs the seed's own code (photondb 0.0.4), side by side · ${os.cpus()[0].model} × ${os.cpus().length}`);
  if (res.skipped) {
    console.log(`skipped: ${res.skipped}`);
    return;
  }
  console.log(`${res.command}; ratio = core ÷ seed (< 1: core faster), median of per-round paired ratios`);
  console.log('case                                   seed ns/op   core ns/op   core ÷ seed [p25–p75]   target          status');
  for (const x of res.rows) {
    const status = !x.pass ? 'FAIL' : x.aim ? 'PASS, aim met' : 'PASS';
    console.log(
      `${x.case.padEnd(38)} ${x.seedNs.toFixed(1).padStart(10)}   ${x.coreNs.toFixed(1).padStart(10)}   ` +
      `${`${x.ratio.toFixed(2)} [${x.p25.toFixed(2)}–${x.p75.toFixed(2)}]`.padStart(21)}   ` +
      `${`≤ ${res.must} (aim ${res.aimAt})`.padEnd(14)}  ${status}`,
    );
  }
}

if (require.main === module) {
  try {
    const res = run();
    if (process.argv.includes('--json')) console.log(JSON.stringify(res));
    else print(res);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

module.exports = { run, print };
