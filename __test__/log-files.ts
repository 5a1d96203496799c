// What a PageLog directory holds, for the specs: sealed segments (format
// v2: a trailer with its end magic at the end of the file) and version-1
// page files, by group id.
import fs from 'node:fs'
import path from 'node:path'

const SEGMENT = /^seg-([0-9a-f]{8})\.pws$/
const PAGE_FILE = /^(\d+)\.page$/

/** Whether the segment file at `file` ends with a trailer's end magic (it was sealed). */
export function isSealed(file: string): boolean {
  const fd = fs.openSync(file, 'r')
  try {
    const size = fs.fstatSync(fd).size
    if (size < 48) return false
    const end = Buffer.alloc(4)
    fs.readSync(fd, end, 0, 4, size - 4)
    return end.toString('latin1') === 'PWSE'
  } finally {
    fs.closeSync(fd)
  }
}

/** Groups with a sealed segment or a version-1 page file in `dir`, ascending. */
export function sealedGroups(dir: string): number[] {
  const out: number[] = []
  for (const name of fs.readdirSync(dir)) {
    const seg = SEGMENT.exec(name)
    if (seg !== null && isSealed(path.join(dir, name))) out.push(parseInt(seg[1], 16))
    const v1 = PAGE_FILE.exec(name)
    if (v1 !== null) out.push(Number(v1[1]))
  }
  return out.sort((a, b) => a - b)
}

/** Groups with a segment file in `dir` (sealed or not), ascending. */
export function segmentGroups(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .map((n) => SEGMENT.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => parseInt(m[1], 16))
    .sort((a, b) => a - b)
}

/** The path of group `g`'s segment in `dir`. */
export function segmentPath(dir: string, g: number): string {
  return path.join(dir, `seg-${g.toString(16).padStart(8, '0')}.pws`)
}
