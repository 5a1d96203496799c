'use strict'
// The synchronous append path: CPU time per 100-byte append of
// `PageLog.tryAppend` against the same call of another build (BASELINE: the
// directory of a built checkout, e.g. the previous release's, whose `append`
// returned a bigint on this path), and against this build's `append` (a
// resolved Promise on this path). CPU time (process.cpuUsage, user + system)
// rather than wall time, each variant in its own process, the variants
// alternating, medians over the rounds: the machine may be loaded.
//
//   node bench/sync-append.js [rounds]            (BASELINE=/path/to/old/checkout)
//   BASELINE_CALL=tryAppend: the baseline's call (default append)
//   SYNC_APPEND_PAGES=n: appends measured per process (default 200000)
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const PAGES = Number(process.env.SYNC_APPEND_PAGES ?? 200_000)
const WARM = 50_000
const SIZE = 100

async function child(root, call) {
  const { PageLog } = require(path.join(root, 'index.js'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwb-sync-append-'))
  try {
    // Buffers large enough that the measured appends never wait for a flush.
    const log = await PageLog.open(dir, { bufferSize: 1 << 26, maxBuffers: 4 })
    const src = Buffer.alloc(SIZE, 7)
    const run = (from, n) => {
      for (let i = from; i < from + n; i++) {
        const r = log[call](i, src)
        if (r === null) throw new Error(`${call} would wait`)
      }
    }
    run(0, WARM)
    const t0 = process.cpuUsage()
    run(WARM, PAGES)
    const d = process.cpuUsage(t0)
    await log.close()
    process.stdout.write(`${JSON.stringify({ nsPerAppend: ((d.user + d.system) * 1000) / PAGES })}\n`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function main() {
  const rounds = Number(process.argv[2] ?? 9)
  const here = path.resolve(__dirname, '..')
  const variants = [{ name: 'tryAppend (this build)', root: here, call: 'tryAppend' }]
  if (process.env.BASELINE) {
    const call = process.env.BASELINE_CALL || 'append'
    variants.push({ name: `${call} (${process.env.BASELINE})`, root: path.resolve(process.env.BASELINE), call })
  }
  variants.push({ name: 'append (this build: a resolved Promise)', root: here, call: 'append' })
  const times = variants.map(() => [])
  for (let r = 0; r < rounds; r++) {
    variants.forEach((v, i) => {
      const out = spawnSync(process.execPath, [__filename, '--child', v.root, v.call], { encoding: 'utf8' })
      if (out.status !== 0) throw new Error(`${v.name}: ${out.stderr}`)
      times[i].push(JSON.parse(out.stdout).nsPerAppend)
    })
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
  console.log(`${PAGES} appends of ${SIZE} B per process, ${rounds} rounds, CPU ns per append (median [min, max]):`)
  variants.forEach((v, i) => {
    const t = times[i]
    console.log(`  ${v.name.padEnd(50)} ${median(t).toFixed(1)} [${Math.min(...t).toFixed(1)}, ${Math.max(...t).toFixed(1)}]`)
  })
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else {
  main()
}
