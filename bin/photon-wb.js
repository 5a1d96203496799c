#!/usr/bin/env node
'use strict'
// photon-wb: look into page files (see USAGE). The benchmark suite is not
// part of the package: in a clone, `npm run bench`.
const { parseArgs } = require('node:util')
const fs = require('node:fs')
const path = require('node:path')

const USAGE = `usage:
  photon-wb inspect <file|dir> [--json] [--progress]
      A page file: every record from the start, with its address, kind, page id,
      size and its own checksum, checked record by record. A damaged file lists
      the valid records before the damage and says where the walk stops and why
      (the rest of the file cannot be trusted). Exit 1 if the file is damaged.
      A directory (a PageLog): one line per page file, in group order, with the
      records before the damage of each damaged one. Exit 1 if one is damaged.
  photon-wb inspect <file|dir> --page <addr> [--limit <bytes>] [--json]
      The page at address <addr> (decimal as the API prints it, or 0x hex): its
      record and its bytes as hex with a text preview (the first 1024 bytes;
      --limit 0 for all). In a directory, the page file of the address's group.
  photon-wb --version     the package's version
  photon-wb --help        this text

  Addresses are printed as the API prints them: decimal bigints, e.g. 12884901904
  (group 3, offset 16: groupId * 2^32 + offset). --json prints them as decimal strings.
  --progress: progress on stderr for an inspect that takes more than a second
  (the default when stderr is a terminal).
  The benchmark suite is not part of the package: in a clone, \`npm run bench\`.`

class UsageError extends Error {}

function fail(message, code = 2) {
  process.stderr.write(`photon-wb: ${message}\n`)
  process.exit(code)
}

function table(rows, headers) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => String(c).padStart(widths[i])).join('  ')
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

const crcHex = (v) => `0x${v.toString(16).padStart(8, '0')}`

/**
 * Progress on stderr for work that takes more than a second
 * (`PHOTON_WB_PROGRESS_AFTER_MS`, for tests): with --progress, or when
 * stderr is a terminal. A terminal gets one line rewritten in place, a file
 * or pipe one line per second.
 */
function progress(enabled) {
  const tty = process.stderr.isTTY === true
  const on = enabled || tty
  const after = Number(process.env.PHOTON_WB_PROGRESS_AFTER_MS ?? 1000)
  const start = Date.now()
  let last = -Infinity
  let shown = false
  return {
    update(text) {
      if (!on) return
      const now = Date.now()
      if (now - start < after || (now - last < (tty ? 100 : 1000) && after > 0)) return
      last = now
      shown = true
      process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`)
    },
    done() {
      if (shown && tty) process.stderr.write('\r\x1b[K')
    },
  }
}

/**
 * The salvage walk of one page file (the native helper: each record checked
 * on its own, from the start, up to the first that fails): the valid records
 * and where the walk stopped; with the whole file's verdict from
 * `PageFile.open` (index and trailer included).
 */
async function walkFile(file, bar) {
  const native = require('../load-binding.js')
  const { PageFile } = require('..')
  const { REC_WORDS, REC_OFFSET, REC_FLAGS, REC_SIZE, REC_ID, REC_ID_HI, REC_POS, REC_POS_HI } = require('../src/layout.js')
  const { kindOf } = require('../src/records.js')
  const records = []
  let step
  let cursor = [0, 0, 0]
  for (;;) {
    try {
      step = native.salvagePageFile(file, cursor[0], cursor[1], cursor[2], 4096)
    } catch (e) {
      // Not a regular file (a FIFO, a device, …): nothing to walk.
      if (!e || e.code !== 'ERR_CORRUPT') throw e
      const damage = { code: e.code, message: e.message, headerError: null, stopPos: null, stop: e.message }
      return { path: file, groupId: null, bytes: fs.statSync(file).size, records, damage }
    }
    const e = step.entries
    for (let w = 0; w < e.length; w += REC_WORDS) {
      const group = step.groupId ?? null
      const offset = e[w + REC_OFFSET]
      const kind = kindOf(e[w + REC_FLAGS], `photon-wb: ${file}`, true)
      records.push({
        addr: group === null ? null : (BigInt(group) << 32n) | BigInt(offset + 16),
        offset,
        kind,
        pageId: kind === 'page' ? (BigInt(e[w + REC_ID_HI]) << 32n) | BigInt(e[w + REC_ID]) : null,
        size: e[w + REC_SIZE],
        pos: e[w + REC_POS] + e[w + REC_POS_HI] * 2 ** 32,
        crc: step.crcs[w / REC_WORDS],
      })
    }
    const total = step.recordCount == null ? '' : ` of ${step.recordCount}`
    bar.update(`photon-wb inspect: ${path.basename(file)}: ${records.length}${total} records checked`)
    if (step.done) break
    cursor = [step.nextPos, step.nextIndex, step.nextPrevEnd]
  }
  let damage = null
  try {
    ;(await PageFile.open(file)).close()
  } catch (e) {
    if (!e || e.code !== 'ERR_CORRUPT') throw e
    damage = { code: e.code, message: e.message }
  }
  if (damage === null && step.stop != null) {
    // The walk and the full check must agree; say so if they do not.
    damage = { code: 'ERR_CORRUPT', message: step.stop }
  }
  if (damage !== null) {
    damage.headerError = step.headerError ?? null
    damage.stopPos = step.stopPos ?? null
    damage.stop = step.stop ?? 'every record passed its checks: the damage is in the index or the trailer'
  }
  return { path: file, groupId: step.groupId ?? null, bytes: step.fileLen, records, damage }
}

/** The group of segment file `name` (format v2: `seg-<8 hex digits>.pws`), or `null`. */
function segmentGroupOf(name) {
  const m = /^seg-([0-9a-f]{8})\.pws$/.exec(name)
  return m === null ? null : parseInt(m[1], 16)
}

/**
 * The segments of `dir` (format v2; only group `only` unless it is `null`),
 * as recovery sees them — a sealed one from its index, an unsealed one by a
 * walk of its records — with each page then read and checked against its
 * checksum (one `pread` each), up to the first that fails. Same shape as
 * `walkFile`, plus `sealed` and `torn` (an unsealed tail cut by recovery).
 */
async function walkSegments(dir, only, bar) {
  const { recoverSegments } = require('../src/segment.js')
  const { kindOf } = require('../src/records.js')
  const r = await recoverSegments(dir, { corrupt: 'list', maxOpenFiles: 4 })
  const out = []
  const sizeOf = (f) => fs.statSync(f).size
  for (const c of r.corrupt) {
    if (only !== null && c.group !== only) continue
    const damage = { code: 'ERR_CORRUPT', message: c.message, headerError: null, stopPos: null, stop: 'the header, index or trailer does not check: no record can be trusted' }
    out.push({ path: c.path, groupId: c.group, bytes: sizeOf(c.path), records: [], damage, sealed: false, torn: 0 })
  }
  for (let i = 0; i < r.count; i++) {
    const s = r.segment(i)
    if (only !== null && s.groupId !== only) continue
    const records = []
    let damage = null
    for (let k = 0; k < s.pageIds.length; k++) {
      const kind = kindOf(s.flags[k], `photon-wb: ${s.path}`, true)
      const addr = s.addrs[k]
      const rec = { addr, offset: Number(addr & 0xffffffffn) - 16, kind, pageId: kind === 'page' ? s.pageIds[k] : null, size: s.sizes[k], pos: s.filePos[k] + 24, crc: s.crcs[k] }
      if (kind === 'page') {
        try {
          r.read(addr)
        } catch (e) {
          if (!e || e.code !== 'ERR_CORRUPT') throw e
          damage = { code: e.code, message: e.message, headerError: null, stopPos: s.filePos[k], stop: `the record of page ${rec.pageId} at ${addr} does not check` }
          break
        }
      }
      records.push(rec)
      if (k % 4096 === 0) bar.update(`photon-wb inspect: ${path.basename(s.path)}: ${k} of ${s.pageIds.length} records checked`)
    }
    out.push({ path: s.path, groupId: s.groupId, bytes: sizeOf(s.path), records, damage, sealed: s.sealed, torn: s.torn })
  }
  r.close()
  return out.sort((a, b) => a.groupId - b.groupId)
}

function summary(w) {
  let pages = 0
  let deallocs = 0
  const { unknownKind } = require('../src/records.js')
  for (const r of w.records) {
    switch (r.kind) {
      case 'page':
        pages++
        break
      case 'dealloc':
        deallocs++
        break
      default:
        // A kind this tool does not know: never count it as another one.
        throw unknownKind(r.kind, `photon-wb: ${w.path}`, true)
    }
  }
  return { pages, deallocs }
}

/** A record as --json prints it: addresses and ids as decimal strings. */
function jsonRecord(r, fd) {
  const out = { addr: r.addr === null ? null : r.addr.toString(), offset: r.offset, kind: r.kind, size: r.size, checksum: 'ok', crc: crcHex(r.crc) }
  if (r.kind === 'page') out.pageId = r.pageId.toString()
  else out.frees = deallocAddrs(fd, r).map(String)
  return out
}

function deallocAddrs(fd, r) {
  const b = Buffer.alloc(r.size)
  fs.readSync(fd, b, 0, r.size, r.pos)
  const out = []
  for (let i = 0; i < r.size; i += 8) out.push(b.readBigUInt64LE(i))
  return out
}

async function inspectFile(file, json, bar) {
  const g = segmentGroupOf(path.basename(file))
  const w = g === null ? await walkFile(file, bar) : (await walkSegments(path.dirname(path.resolve(file)), g, bar))[0]
  if (w === undefined) fail(`'${file}' is named like a segment but is not one of its directory`, 1)
  bar.done()
  const { pages, deallocs } = summary(w)
  const fd = fs.openSync(file, 'r')
  try {
    if (json) {
      const out = { path: w.path, ok: w.damage === null, groupId: w.groupId, records: w.records.length, pages, deallocs, bytes: w.bytes }
      out.list = w.records.map((r) => jsonRecord(r, fd))
      if (w.damage !== null) out.damage = { ...w.damage, validRecords: w.records.length }
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
      return w.damage === null ? 0 : 1
    }
    const rows = w.records.map((r, i) => [
      i,
      r.addr ?? `? +${r.offset + 16}`,
      r.kind,
      r.kind === 'page' ? r.pageId : `frees ${deallocAddrs(fd, r).join(' ')}`,
      r.size,
      `ok ${crcHex(r.crc)}`,
    ])
    if (w.damage !== null && w.damage.stopPos !== null) rows.push([w.records.length, '?', '?', '?', '?', 'BAD: the walk stops here'])
    console.log(table(rows, ['#', 'address', 'kind', 'page id', 'size', 'checksum']))
    if (w.damage === null) {
      console.log(`\ngroup ${w.groupId}: ${w.records.length} records (${pages} pages, ${deallocs} dealloc), ${w.bytes} bytes, every checksum ok`)
      return 0
    }
    console.log(`\n${w.path}: damaged: ${w.damage.code}: ${w.damage.message}`)
    if (w.damage.headerError !== null) console.log(`the file header fails (${w.damage.headerError}): addresses unknown, records walked anyway`)
    const where = w.damage.stopPos === null ? '' : ` at file offset ${w.damage.stopPos}`
    console.log(`salvage: ${w.records.length} valid records (${pages} pages, ${deallocs} dealloc) before the damage; the walk stops${where}: ${w.damage.stop}`)
    return 1
  } finally {
    fs.closeSync(fd)
  }
}

async function inspectDir(dir, json, bar) {
  const { groupOfPageFile } = require('../src/file-names.js')
  const names = fs
    .readdirSync(dir)
    .filter((n) => groupOfPageFile(n) !== null)
    .sort((a, b) => groupOfPageFile(a) - groupOfPageFile(b))
  const files = []
  for (const [i, n] of names.entries()) {
    bar.update(`photon-wb inspect: ${i + 1} of ${names.length} page files`)
    const w = await walkFile(path.join(dir, n), { update() {} })
    const { pages, deallocs } = summary(w)
    files.push({ path: w.path, ok: w.damage === null, groupId: w.groupId, records: w.records.length, pages, deallocs, bytes: w.bytes, damage: w.damage })
  }
  // Segments (format v2): an unsealed one (a crash before its seal, or a
  // log still open) is listed with what recovery would keep of it.
  for (const w of await walkSegments(dir, null, bar)) {
    const { pages, deallocs } = summary(w)
    const state = w.sealed ? 'sealed' : w.torn ? 'unsealed, torn tail' : 'unsealed'
    files.push({ path: w.path, ok: w.damage === null, groupId: w.groupId, records: w.records.length, pages, deallocs, bytes: w.bytes, state, damage: w.damage })
  }
  files.sort((a, b) => (a.groupId ?? 0) - (b.groupId ?? 0))
  bar.done()
  const good = files.filter((f) => f.ok)
  const sum = {
    files: files.length,
    corrupt: files.length - good.length,
    records: good.reduce((s, f) => s + f.records, 0),
    bytes: files.reduce((s, f) => s + f.bytes, 0),
  }
  if (json) {
    const out = files.map(({ damage, ...f }) => (damage === null ? f : { ...f, code: damage.code, message: damage.message, damage }))
    process.stdout.write(`${JSON.stringify({ dir, files: out, summary: sum }, null, 2)}\n`)
  } else {
    const rows = files.map((f) => [path.basename(f.path), f.groupId ?? '?', f.pages, f.deallocs, f.bytes, (f.ok ? 'ok' : `${f.damage.code}: ${f.records} valid before the damage`) + (f.state === undefined || f.state === 'sealed' ? '' : ` (${f.state})`)])
    console.log(table(rows, ['file', 'group', 'pages', 'deallocs', 'bytes', 'checksums']))
    console.log(`\n${sum.files} page files, ${sum.records} records, ${sum.bytes} bytes, ${sum.corrupt} corrupt`)
    for (const f of files) if (!f.ok) console.log(`  ${path.basename(f.path)}: ${f.damage.message}; the walk stops: ${f.damage.stop}`)
  }
  return sum.corrupt === 0 ? 0 : 1
}

function parseAddr(text) {
  if (!/^(0x[0-9a-f]+|\d+)n?$/i.test(text)) throw new UsageError(`--page takes an address (decimal, or 0x hex): '${text}'`)
  const a = BigInt(text.replace(/n$/, ''))
  if (a >= 1n << 64n) throw new UsageError(`--page: ${text} is not a u64 address`)
  return a
}

/** Hex dump with a text preview, 16 bytes a line (offsets within the page). */
function hexdump(bytes) {
  const lines = []
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.subarray(i, i + 16)
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0'))
    const left = hex.slice(0, 8).join(' ')
    const right = hex.slice(8).join(' ')
    const text = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
    lines.push(`${i.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${text}|`)
  }
  return lines.join('\n')
}

async function inspectPage(target, isDir, addrText, limit, json, bar) {
  const addr = parseAddr(addrText)
  const group = Number(addr >> 32n)
  let file = target
  let w
  if (isDir) {
    file = path.join(target, `${group}.page`)
    if (!fs.existsSync(file)) {
      w = (await walkSegments(target, group, bar))[0]
      if (w === undefined) fail(`no page file or segment of group ${group} in ${target} (address ${addr}): not written yet, or not of this log`, 1)
      file = w.path
    }
  } else if (segmentGroupOf(path.basename(file)) !== null) {
    w = (await walkSegments(path.dirname(path.resolve(file)), segmentGroupOf(path.basename(file)), bar))[0]
    if (w === undefined) fail(`'${file}' is named like a segment but is not one of its directory`, 1)
  }
  w ??= await walkFile(file, bar)
  bar.done()
  if (w.groupId !== null && w.groupId !== group) fail(`${file} holds group ${w.groupId}, not the group of address ${addr} (${group})`, 1)
  const r = w.records.find((x) => x.addr === addr)
  if (r === undefined) {
    const why = w.damage === null ? 'no record starts there' : `not among the ${w.records.length} valid records before the damage (${w.damage.stop})`
    fail(`address ${addr}: ${why}`, 1)
  }
  const fd = fs.openSync(file, 'r')
  try {
    const shown = limit === 0 ? r.size : Math.min(r.size, limit)
    const body = Buffer.alloc(shown)
    fs.readSync(fd, body, 0, shown, r.pos)
    if (json) {
      process.stdout.write(`${JSON.stringify({ path: file, ...jsonRecord(r, fd), hex: body.toString('hex'), shownBytes: shown, fileDamaged: w.damage !== null }, null, 2)}\n`)
      return 0
    }
    const what = r.kind === 'page' ? `page id ${r.pageId}` : `dealloc record, frees ${deallocAddrs(fd, r).join(' ')}`
    console.log(`${addr} (group ${group}, offset ${r.offset + 16}) in ${file}: ${what}, ${r.size} bytes, record checksum ok ${crcHex(r.crc)}`)
    if (w.damage !== null) console.log(`(the file is damaged further on: ${w.damage.stop})`)
    if (shown > 0) console.log(hexdump(body))
    if (shown < r.size) console.log(`… ${r.size - shown} more bytes (--limit 0 shows all)`)
    return 0
  } finally {
    fs.closeSync(fd)
  }
}

async function inspect(target, values) {
  let stat
  try {
    stat = fs.statSync(target)
  } catch (e) {
    fail(`cannot read '${target}': ${e.code || e.message}`, 1)
  }
  const bar = progress(values.progress === true)
  const json = values.json === true
  if (values.page !== undefined) {
    const limit = values.limit === undefined ? 1024 : Number(values.limit)
    if (!Number.isSafeInteger(limit) || limit < 0) throw new UsageError(`--limit takes a number of bytes >= 0: '${values.limit}'`)
    return inspectPage(target, stat.isDirectory(), values.page, limit, json, bar)
  }
  if (values.limit !== undefined) throw new UsageError('--limit goes with --page')
  return stat.isDirectory() ? inspectDir(target, json, bar) : inspectFile(target, json, bar)
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        progress: { type: 'boolean' },
        page: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (e) {
    throw new UsageError(e.message)
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.version) {
    console.log(`photon-wb ${require('../package.json').version}`)
    return 0
  }
  if (values.help || command === undefined) {
    console.log(USAGE)
    return command === undefined && !values.help ? 2 : 0
  }
  if (command === 'inspect') {
    if (rest.length !== 1) throw new UsageError('inspect takes one file or directory')
    return inspect(rest[0], values)
  }
  if (command === 'bench') throw new UsageError('the benchmark suite is not part of the package: in a clone, `npm run bench`')
  throw new UsageError(`unknown command '${command}'`)
}

main().then(
  (code) => process.exit(code),
  (e) => (e instanceof UsageError ? fail(`${e.message}\n${USAGE}`) : fail(e && e.stack ? e.stack : String(e), 1)),
)
