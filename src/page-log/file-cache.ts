/**
 * The page files of a PageLog: which groups have one, and those kept open
 * for reads (least recently used closed first).
 */
import path from 'node:path'

import { pageFileName } from '../file-names.ts'
import { PageFile } from '../page-file.ts'
import { keyOf, type PageIndex } from './page-index.ts'

/** One live page of a PageLog: its id, its address (`read(addr)` gives its body) and its size in bytes. */
export interface LivePage {
  readonly pageId: bigint
  readonly addr: bigint
  readonly size: number
}

export class FileCache {
  readonly #dir: string
  readonly #maxOpen: number
  /** Groups with a page file. */
  readonly #files = new Set<number>()
  /** The page records of each page file (version-1 files are only read, never written again). */
  readonly #pages = new Map<number, LivePage[]>()
  /** Open page files for reads (LRU order: oldest first), or their pending open. */
  readonly #cache = new Map<number, PageFile | Promise<PageFile>>()

  constructor(dir: string, maxOpenFiles: number) {
    this.#dir = dir
    this.#maxOpen = maxOpenFiles
  }

  /** The path of group `g`'s page file. */
  pathOf(g: number): string {
    return path.join(this.#dir, pageFileName(g))
  }

  /** Whether group `g` has a page file. */
  has(g: number): boolean {
    return this.#files.has(g)
  }

  /** Group `g` has a page file (recovered: `pf`, open); its page records are noted for `livePages`. */
  add(g: number, pf: PageFile): void {
    this.#files.add(g)
    const list: LivePage[] = []
    for (const r of pf.records()) if (r.kind === 'page') list.push({ pageId: r.pageId, addr: r.addr, size: r.page.length })
    this.#pages.set(g, list)
    this.#remember(g, pf)
  }

  /** The page at `addr` of group `g`'s page file (`has(g)`) if the file is open, else `null`. */
  tryPage(g: number, addr: bigint): Buffer | null {
    const cached = this.#cache.get(g)
    if (!(cached instanceof PageFile)) return null
    this.#cache.delete(g)
    this.#cache.set(g, cached)
    return cached.page(addr)
  }

  /** The page at `addr` of group `g`'s page file (`has(g)`), opening the file if needed. */
  page(g: number, addr: bigint): Promise<Buffer> {
    const cached = this.#cache.get(g)
    if (cached instanceof PageFile) return Promise.resolve(this.tryPage(g, addr) as Buffer)
    return (cached ?? this.#open(g)).then((pf) => pf.page(addr))
  }

  /** Page files open now. */
  get openFiles(): number {
    let n = 0
    for (const c of this.#cache.values()) if (c instanceof PageFile) n++
    return n
  }

  /** Groups with a page file. */
  groups(): IterableIterator<number> {
    return this.#files.values()
  }

  /** The live pages (each id's latest address in `index`) of group `g`'s page file, in address order. */
  *livePages(g: number, index: PageIndex): IterableIterator<LivePage> {
    const list = this.#pages.get(g)
    if (list === undefined) return
    for (const p of list) if (index.get(keyOf(p.pageId)) === p.addr) yield p
  }

  /** Closes every open file and forgets them. */
  close(): void {
    for (const c of this.#cache.values()) if (c instanceof PageFile) c.close()
    this.#cache.clear()
  }

  #open(g: number): Promise<PageFile> {
    const opening = PageFile.open(this.pathOf(g)).then(
      (pf) => {
        if (this.#cache.get(g) === opening) this.#remember(g, pf)
        return pf
      },
      (err) => {
        if (this.#cache.get(g) === opening) this.#cache.delete(g)
        throw err
      },
    )
    this.#cache.set(g, opening)
    return opening
  }

  /** Caches an open file, evicting (closing) the least recently used open ones. */
  #remember(g: number, pf: PageFile): void {
    this.#cache.delete(g)
    this.#cache.set(g, pf)
    if (this.#cache.size <= this.#maxOpen) return
    for (const [k, v] of this.#cache) {
      if (this.#cache.size <= this.#maxOpen) break
      if (v instanceof PageFile && k !== g) {
        this.#cache.delete(k)
        v.close()
      }
    }
  }
}
