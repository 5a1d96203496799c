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
  for (const g of groups) {
    const wb = live.get(g)
    if (wb !== undefined) {
      for (const r of wb.records()) {
        if (r.kind === 'page' && index.get(keyOf(r.pageId)) === r.addr) yield { pageId: r.pageId, addr: r.addr, size: r.page.length }
      }
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
