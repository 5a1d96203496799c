/**
 * The live pages of a PageLog (`PageLog#pages()`): every page id's latest
 * address, in address order (group by group, records in buffer order),
 * from the records of the version-1 page files, the sealed segments (their
 * index, as recovery or the seal left it: no page is read) and the buffers
 * in memory.
 */
import type { Recovery } from '../segment.ts'
import type { WriteBuffer } from '../write-buffer.ts'
import type { FileCache, LivePage } from './file-cache.ts'
import { keyOf, type PageIndex } from './page-index.ts'

export type { LivePage }

export function* livePages(
  index: PageIndex,
  live: ReadonlyMap<number, WriteBuffer>,
  files: FileCache,
  segments: ReadonlySet<number>,
  reader: Recovery,
): IterableIterator<LivePage> {
  const groups = [...new Set([...files.groups(), ...segments, ...live.keys()])].sort((a, b) => a - b)
  // The pages of the buffers in memory (other threads may still be filling
  // records there, so they are not walked): from the index, in one pass.
  const inMemory = new Map<number, LivePage[]>()
  if (live.size > 0) {
    for (const [key, addr] of index.entries(false)) {
      const wb = live.get(Number(addr >> 32n))
      if (wb === undefined) continue
      let list = inMemory.get(wb.groupId)
      if (list === undefined) inMemory.set(wb.groupId, (list = []))
      list.push({ pageId: BigInt(key), addr, size: wb.page(addr).length })
    }
    for (const list of inMemory.values()) list.sort((a, b) => (a.addr < b.addr ? -1 : 1))
  }
  for (const g of groups) {
    if (live.has(g)) {
      yield* inMemory.get(g) ?? []
    } else if (segments.has(g)) {
      const recs = reader.groupRecords(g)
      if (recs === null) continue
      const { pageIds, addrs, sizes, flags } = recs
      for (let i = 0; i < pageIds.length; i++) {
        if (flags[i] === 1 && index.get(keyOf(pageIds[i])) === addrs[i]) yield { pageId: pageIds[i], addr: addrs[i], size: sizes[i] }
      }
    } else {
      yield* files.livePages(g, index)
    }
  }
}
