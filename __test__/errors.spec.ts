import test, { type ExecutionContext } from 'ava'

import { WriteBuffer, WriteBufferError, recordSize } from '../index.ts'

/** Lets a spec pass a value of the wrong type where TypeScript would refuse it. */
const bad = <T>(value: unknown): T => value as T

function state(wb: WriteBuffer) {
  return { allocated: wb.allocated, writers: wb.writers, isSealed: wb.isSealed, isFlushable: wb.isFlushable }
}

type NodeErrorClass = typeof TypeError | typeof RangeError

/** Asserts `fn` throws `cls` with `code` and that the buffer's state did not change. */
function throwsUnchanged(
  t: ExecutionContext,
  wb: WriteBuffer,
  fn: () => unknown,
  cls: NodeErrorClass | typeof WriteBufferError,
  code: string,
  label: string,
): void {
  const before = state(wb)
  const err = t.throws(fn, { instanceOf: cls as typeof Error, code }, label)
  if (cls === WriteBufferError) {
    t.true(err instanceof Error, label)
    t.is(err?.name, 'WriteBufferError', label)
  }
  t.deepEqual(state(wb), before, `${label}: state unchanged`)
}

/** A buffer with a page, a dealloc record, a writer in progress and some room left. */
function busyBuffer(groupId = 1) {
  const wb = new WriteBuffer(groupId, 1024)
  const page = wb.allocPage(5n, 40, true)
  page.page.fill(0x5a)
  const dealloc = wb.deallocPages([1n, 2n], false)
  return { wb, page, dealloc }
}

// --- WriteBufferError itself -----------------------------------------------

test('WriteBufferError is an Error subclass with a name and a stable code', (t) => {
  const wb = new WriteBuffer(1, 16)
  wb.seal()
  const err = t.throws(() => wb.seal())
  t.true(err instanceof WriteBufferError)
  t.true(err instanceof Error)
  t.is(err?.name, 'WriteBufferError')
  t.is((err as WriteBufferError).code, 'ERR_AGAIN')
  t.is(typeof err?.message, 'string')
  t.true((err?.message.length ?? 0) > 0)
  t.is(typeof err?.stack, 'string')
})

// --- Constructor -------------------------------------------------------------

const badCapacities: [string, unknown, NodeErrorClass, string][] = [
  ['513 (not a power of two)', 513, RangeError, 'ERR_OUT_OF_RANGE'],
  ['3 << 10 (not a power of two)', 3 << 10, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^31 - 1 (not a power of two)', 2 ** 31 - 1, RangeError, 'ERR_OUT_OF_RANGE'],
  ['8 (not greater than 8)', 8, RangeError, 'ERR_OUT_OF_RANGE'],
  ['4 (below 16)', 4, RangeError, 'ERR_OUT_OF_RANGE'],
  ['1 (below 16)', 1, RangeError, 'ERR_OUT_OF_RANGE'],
  ['0', 0, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^32 (above 2^31)', 2 ** 32, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^33 (above 2^31)', 2 ** 33, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^53 (above 2^31)', 2 ** 53, RangeError, 'ERR_OUT_OF_RANGE'],
  ['NaN', NaN, RangeError, 'ERR_OUT_OF_RANGE'],
  ['Infinity', Infinity, RangeError, 'ERR_OUT_OF_RANGE'],
  ['16.5 (fractional)', 16.5, RangeError, 'ERR_OUT_OF_RANGE'],
  ['-16 (negative)', -16, RangeError, 'ERR_OUT_OF_RANGE'],
  ['-(2^31) (negative)', -(2 ** 31), RangeError, 'ERR_OUT_OF_RANGE'],
  ["the string '1024'", '1024', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['the bigint 1024n', 1024n, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a symbol', Symbol('1024'), TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [label, capacity, cls, code] of badCapacities) {
  test(`the constructor refuses a capacity of ${label}`, (t) => {
    t.throws(() => new WriteBuffer(1, bad<number>(capacity)), { instanceOf: cls, code })
  })
}

const badGroupIds: [string, unknown, NodeErrorClass, string][] = [
  ['-1 (negative)', -1, RangeError, 'ERR_OUT_OF_RANGE'],
  ['1.5 (fractional)', 1.5, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^32 (above u32)', 2 ** 32, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^53 (above u32)', 2 ** 53, RangeError, 'ERR_OUT_OF_RANGE'],
  ['NaN', NaN, RangeError, 'ERR_OUT_OF_RANGE'],
  ["the string '1'", '1', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['the bigint 1n', 1n, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a symbol', Symbol('1'), TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [label, groupId, cls, code] of badGroupIds) {
  test(`the constructor refuses a group id of ${label}`, (t) => {
    t.throws(() => new WriteBuffer(bad<number>(groupId), 1024), { instanceOf: cls, code })
  })
}

test('the constructor accepts the edge values of group id and capacity', (t) => {
  for (const [groupId, capacity] of [
    [0, 16],
    [0xffffffff, 32],
    [1, 1 << 20],
  ]) {
    const wb = new WriteBuffer(groupId, capacity)
    t.is(wb.groupId, groupId)
    t.is(wb.capacity, capacity)
  }
})

// --- Argument types of reservations --------------------------------------

const badPageSizes: [string, unknown, NodeErrorClass, string][] = [
  ['-1 (negative)', -1, RangeError, 'ERR_OUT_OF_RANGE'],
  ['8.5 (fractional)', 8.5, RangeError, 'ERR_OUT_OF_RANGE'],
  ['NaN', NaN, RangeError, 'ERR_OUT_OF_RANGE'],
  ['Infinity', Infinity, RangeError, 'ERR_OUT_OF_RANGE'],
  ['2^32 (above u32)', 2 ** 32, RangeError, 'ERR_OUT_OF_RANGE'],
  ["the string '8'", '8', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['the bigint 8n', 8n, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a symbol', Symbol('8'), TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [label, pageSize, cls, code] of badPageSizes) {
  test(`allocPage refuses a page size of ${label} and changes nothing`, (t) => {
    const { wb } = busyBuffer()
    throwsUnchanged(t, wb, () => wb.allocPage(1n, bad<number>(pageSize), true), cls, code, 'allocPage')
    throwsUnchanged(t, wb, () => wb.batch([[1n, bad<number>(pageSize)]], []), cls, code, 'batch')
  })
}

test('recordSize refuses page sizes that are not u32 integers', (t) => {
  for (const [, pageSize, cls, code] of badPageSizes) {
    t.throws(() => recordSize(bad<number>(pageSize)), { instanceOf: cls, code })
  }
})

const badPageIds: [string, unknown, NodeErrorClass, string][] = [
  ['the number -1', -1, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the fractional number 1.5', 1.5, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the number 2^53 (above MAX_SAFE_INTEGER)', 2 ** 53, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the number 2^64', 2 ** 64, RangeError, 'ERR_OUT_OF_RANGE'],
  ['NaN', NaN, RangeError, 'ERR_OUT_OF_RANGE'],
  ['Infinity', Infinity, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the bigint -1n', -1n, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the bigint 2^64', 2n ** 64n, RangeError, 'ERR_OUT_OF_RANGE'],
  ['the bigint 2^65 + 1', 2n ** 65n + 1n, RangeError, 'ERR_OUT_OF_RANGE'],
  ["the string '1'", '1', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an object', { valueOf: () => 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a symbol', Symbol('1'), TypeError, 'ERR_INVALID_ARG_TYPE'],
]

for (const [label, pageId, cls, code] of badPageIds) {
  test(`a page id of ${label} is refused by allocPage, batch and setPageId`, (t) => {
    const { wb, page } = busyBuffer()
    throwsUnchanged(t, wb, () => wb.allocPage(bad<bigint>(pageId), 8, true), cls, code, 'allocPage')
    throwsUnchanged(t, wb, () => wb.batch([[bad<bigint>(pageId), 8]], []), cls, code, 'batch')
    throwsUnchanged(t, wb, () => page.header.setPageId(bad<bigint>(pageId)), cls, code, 'setPageId')
    t.is(page.header.pageId, 5n)
  })
}

for (const [label, acquire] of [
  ['1', 1],
  ["'true'", 'true'],
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
] as const) {
  test(`acquireWriter of ${label} is refused as not a boolean`, (t) => {
    const { wb } = busyBuffer()
    throwsUnchanged(t, wb, () => wb.allocPage(1n, 8, bad<boolean>(acquire)), TypeError, 'ERR_INVALID_ARG_TYPE', 'allocPage')
    throwsUnchanged(t, wb, () => wb.deallocPages([1n], bad<boolean>(acquire)), TypeError, 'ERR_INVALID_ARG_TYPE', 'deallocPages')
  })
}

const badAddrLists: [string, unknown, NodeErrorClass, string][] = [
  ["the string '1,2'", '1,2', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['the number 1', 1, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a Set', new Set([1n]), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a Uint8Array', new Uint8Array([1, 2]), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a BigInt64Array', new BigInt64Array([1n]), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ["an array holding the string '1'", [1n, '1'], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding null', [null], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding undefined', [1n, undefined], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding -1', [1n, -1], RangeError, 'ERR_OUT_OF_RANGE'],
  ['an array holding -1n', [-1n], RangeError, 'ERR_OUT_OF_RANGE'],
  ['an array holding 1.5', [1.5], RangeError, 'ERR_OUT_OF_RANGE'],
  ['an array holding NaN', [NaN], RangeError, 'ERR_OUT_OF_RANGE'],
  ['an array holding 2^53', [2 ** 53], RangeError, 'ERR_OUT_OF_RANGE'],
  ['an array holding 2^64 as a bigint', [2n ** 64n], RangeError, 'ERR_OUT_OF_RANGE'],
]

for (const [label, addrs, cls, code] of badAddrLists) {
  test(`a dealloc list of ${label} is refused by deallocPages and batch`, (t) => {
    const { wb } = busyBuffer()
    throwsUnchanged(t, wb, () => wb.deallocPages(bad<bigint[]>(addrs), true), cls, code, 'deallocPages')
    throwsUnchanged(t, wb, () => wb.batch([[1n, 8]], bad<bigint[]>(addrs)), cls, code, 'batch')
  })
}

const badPageLists: [string, unknown, NodeErrorClass, string][] = [
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['undefined', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a string', '1,8', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a Map', new Map([[1n, 8]]), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding a number instead of a pair', [1], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding a one-element pair', [[1n]], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding a three-element pair', [[1n, 8, 0]], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding null', [[1n, 8], null], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an array holding an object pair', [{ 0: 1n, 1: 8, length: 2 }], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a valid pair then a pair with a string size', [[1n, 8], [2n, '8']], TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a valid pair then a pair with a negative id', [[1n, 8], [-2, 8]], RangeError, 'ERR_OUT_OF_RANGE'],
]

for (const [label, list, cls, code] of badPageLists) {
  test(`batch refuses a page list of ${label} and changes nothing`, (t) => {
    const { wb } = busyBuffer()
    throwsUnchanged(t, wb, () => wb.batch(bad<[bigint, number][]>(list), [1n]), cls, code, 'batch')
  })
}

// --- Reservation failures ----------------------------------------------------

test('a record that can never fit throws ERR_TOO_LARGE_SIZE and changes nothing', (t) => {
  const { wb } = busyBuffer()
  throwsUnchanged(t, wb, () => wb.allocPage(1n, 1024 - 15, true), WriteBufferError, 'ERR_TOO_LARGE_SIZE', 'allocPage')
  throwsUnchanged(t, wb, () => wb.allocPage(1n, 2 ** 32 - 1, false), WriteBufferError, 'ERR_TOO_LARGE_SIZE', 'allocPage u32 max')
  throwsUnchanged(t, wb, () => wb.deallocPages(new Array(127).fill(1n), true), WriteBufferError, 'ERR_TOO_LARGE_SIZE', 'deallocPages')
  throwsUnchanged(
    t,
    wb,
    () =>
      wb.batch(
        [
          [1n, 500],
          [2n, 500],
        ],
        [],
      ),
    WriteBufferError,
    'ERR_TOO_LARGE_SIZE',
    'batch',
  )
})

test('a record that fits a fresh buffer but not the room left throws ERR_AGAIN and changes nothing', (t) => {
  const { wb } = busyBuffer()
  const left = 1024 - wb.allocated
  throwsUnchanged(t, wb, () => wb.allocPage(1n, left - 15, true), WriteBufferError, 'ERR_AGAIN', 'allocPage')
  throwsUnchanged(t, wb, () => wb.deallocPages(new Array(left / 8 - 1).fill(1n), true), WriteBufferError, 'ERR_AGAIN', 'deallocPages')
  throwsUnchanged(t, wb, () => wb.batch([[1n, left - 16]], [1n]), WriteBufferError, 'ERR_AGAIN', 'batch')
  // The exact room left still fits.
  wb.allocPage(1n, left - 16, false)
  t.is(wb.allocated, 1024)
  throwsUnchanged(t, wb, () => wb.allocPage(1n, 0, false), WriteBufferError, 'ERR_AGAIN', 'allocPage when full')
})

test('every reservation on a sealed buffer throws ERR_AGAIN and changes nothing', (t) => {
  const { wb } = busyBuffer()
  wb.seal()
  throwsUnchanged(t, wb, () => wb.allocPage(1n, 0, true), WriteBufferError, 'ERR_AGAIN', 'allocPage')
  throwsUnchanged(t, wb, () => wb.allocPage(1n, 0, false), WriteBufferError, 'ERR_AGAIN', 'allocPage no writer')
  throwsUnchanged(t, wb, () => wb.deallocPages([1n], true), WriteBufferError, 'ERR_AGAIN', 'deallocPages')
  throwsUnchanged(t, wb, () => wb.batch([], []), WriteBufferError, 'ERR_AGAIN', 'empty batch')
  throwsUnchanged(t, wb, () => wb.batch([[1n, 8]], [1n]), WriteBufferError, 'ERR_AGAIN', 'batch')
})

test('sealing twice throws ERR_AGAIN and changes nothing, with or without writers', (t) => {
  const { wb } = busyBuffer()
  t.is(wb.seal(), 'none')
  throwsUnchanged(t, wb, () => wb.seal(), WriteBufferError, 'ERR_AGAIN', 'seal with a writer')
  wb.releaseWriter()
  throwsUnchanged(t, wb, () => wb.seal(), WriteBufferError, 'ERR_AGAIN', 'seal when flushable')
})

test('releaseWriter with no writer in progress throws ERR_NO_WRITER and changes nothing', (t) => {
  const wb = new WriteBuffer(1, 1024)
  throwsUnchanged(t, wb, () => wb.releaseWriter(), WriteBufferError, 'ERR_NO_WRITER', 'fresh buffer')
  wb.allocPage(1n, 8, false)
  throwsUnchanged(t, wb, () => wb.releaseWriter(), WriteBufferError, 'ERR_NO_WRITER', 'no acquiring reservation')
  wb.allocPage(1n, 8, true)
  wb.releaseWriter()
  throwsUnchanged(t, wb, () => wb.releaseWriter(), WriteBufferError, 'ERR_NO_WRITER', 'after the last release')
  wb.seal()
  throwsUnchanged(t, wb, () => wb.releaseWriter(), WriteBufferError, 'ERR_NO_WRITER', 'sealed')
})

// --- Iteration before the buffer is flushable -------------------------------

test('records() before seal throws ERR_NOT_FLUSHABLE and changes nothing', (t) => {
  const wb = new WriteBuffer(1, 1024)
  throwsUnchanged(t, wb, () => wb.records(), WriteBufferError, 'ERR_NOT_FLUSHABLE', 'empty')
  wb.allocPage(1n, 8, false)
  throwsUnchanged(t, wb, () => wb.records(), WriteBufferError, 'ERR_NOT_FLUSHABLE', 'records()')
  throwsUnchanged(t, wb, () => [...wb], WriteBufferError, 'ERR_NOT_FLUSHABLE', 'spread')
  throwsUnchanged(
    t,
    wb,
    () => {
      for (const r of wb) void r
    },
    WriteBufferError,
    'ERR_NOT_FLUSHABLE',
    'for of',
  )
})

test('records() while a writer is in progress throws ERR_NOT_FLUSHABLE and changes nothing', (t) => {
  const { wb } = busyBuffer()
  throwsUnchanged(t, wb, () => wb.records(), WriteBufferError, 'ERR_NOT_FLUSHABLE', 'unsealed with a writer')
  wb.seal()
  throwsUnchanged(t, wb, () => wb.records(), WriteBufferError, 'ERR_NOT_FLUSHABLE', 'sealed with a writer')
  throwsUnchanged(t, wb, () => [...wb], WriteBufferError, 'ERR_NOT_FLUSHABLE', 'spread')
  wb.releaseWriter()
  t.is([...wb.records()].length, 2)
})

// --- page(addr) --------------------------------------------------------------

test('page() of an address of another group throws ERR_INVALID_ADDR', (t) => {
  const { wb, page } = busyBuffer(1)
  const low = page.addr & 0xffffffffn
  for (const group of [0n, 2n, 0xffffffffn]) {
    throwsUnchanged(t, wb, () => wb.page((group << 32n) | low), WriteBufferError, 'ERR_INVALID_ADDR', `group ${group}`)
  }
  t.is(wb.page(page.addr).length, 40)
})

test('page() of a misaligned address throws ERR_INVALID_ADDR', (t) => {
  const { wb, page } = busyBuffer()
  for (const delta of [1n, 2n, 4n, 7n]) {
    throwsUnchanged(t, wb, () => wb.page(page.addr + delta), WriteBufferError, 'ERR_INVALID_ADDR', `addr + ${delta}`)
  }
})

test('page() of an address out of range throws ERR_INVALID_ADDR', (t) => {
  const { wb } = busyBuffer()
  const g = 1n << 32n
  for (const offset of [1024n, 1024n + 16n, 1024n + 8n, 2048n + 16n, 0xfffffff0n, 0xfffffff8n]) {
    throwsUnchanged(t, wb, () => wb.page(g | offset), WriteBufferError, 'ERR_INVALID_ADDR', `offset ${offset}`)
  }
  // Inside the arena but past what was allocated.
  const next = BigInt(wb.allocated + 16)
  throwsUnchanged(t, wb, () => wb.page(g | next), WriteBufferError, 'ERR_INVALID_ADDR', 'unallocated')
  throwsUnchanged(t, wb, () => wb.page(g | 1008n), WriteBufferError, 'ERR_INVALID_ADDR', 'last header slot')
})

test('page() of an address in the middle of a record throws ERR_INVALID_ADDR', (t) => {
  const { wb, page } = busyBuffer()
  for (const delta of [8n, 16n, 24n, 32n, 40n]) {
    throwsUnchanged(t, wb, () => wb.page(page.addr + delta), WriteBufferError, 'ERR_INVALID_ADDR', `addr + ${delta}`)
  }
})

test('page() of an address inside a body that holds a forged header throws ERR_INVALID_ADDR', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(1n, 64, false)
  // A perfect-looking page header in the middle of the body.
  a.page.writeBigUint64LE(99n, 16)
  a.page.writeUInt32LE(1, 24)
  a.page.writeUInt32LE(8, 28)
  throwsUnchanged(t, wb, () => wb.page(a.addr + 32n), WriteBufferError, 'ERR_INVALID_ADDR', 'forged header')
})

test('page() of a dealloc record throws ERR_INVALID_ADDR', (t) => {
  const { wb, page } = busyBuffer()
  const deallocAddr = page.addr + BigInt(recordSize(40))
  throwsUnchanged(t, wb, () => wb.page(deallocAddr), WriteBufferError, 'ERR_INVALID_ADDR', 'dealloc')
  wb.releaseWriter()
  wb.seal()
  const records = [...wb]
  t.is(records[1].kind, 'dealloc')
  t.is(records[1].addr, deallocAddr)
  throwsUnchanged(t, wb, () => wb.page(deallocAddr), WriteBufferError, 'ERR_INVALID_ADDR', 'dealloc after seal')
})

test('page() of a tombstoned page throws ERR_INVALID_ADDR', (t) => {
  const { wb, page } = busyBuffer()
  t.is(wb.page(page.addr).length, 40)
  page.header.setTombstone()
  throwsUnchanged(t, wb, () => wb.page(page.addr), WriteBufferError, 'ERR_INVALID_ADDR', 'tombstone')
})

test('page() of an offset below 16 throws ERR_INVALID_ADDR', (t) => {
  const { wb } = busyBuffer(0)
  for (const addr of [0n, 8n, 0]) {
    throwsUnchanged(t, wb, () => wb.page(addr), WriteBufferError, 'ERR_INVALID_ADDR', `addr ${addr}`)
  }
  t.is(wb.page(16).length, 40)
})

test('page() refuses addresses of the wrong type or out of u64 range', (t) => {
  const { wb } = busyBuffer()
  const cases: [unknown, NodeErrorClass, string][] = [
    [-16, RangeError, 'ERR_OUT_OF_RANGE'],
    [16.5, RangeError, 'ERR_OUT_OF_RANGE'],
    [NaN, RangeError, 'ERR_OUT_OF_RANGE'],
    [2 ** 53, RangeError, 'ERR_OUT_OF_RANGE'],
    [-1n, RangeError, 'ERR_OUT_OF_RANGE'],
    [2n ** 64n + 16n, RangeError, 'ERR_OUT_OF_RANGE'],
    ['4294967312', TypeError, 'ERR_INVALID_ARG_TYPE'],
    [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [addr, cls, code] of cases) {
    throwsUnchanged(t, wb, () => wb.page(bad<bigint>(addr)), cls, code, `addr ${String(addr)}`)
  }
})

test('page() accepts a valid address given as a safe-integer number', (t) => {
  const { wb, page } = busyBuffer()
  t.true(wb.page(Number(page.addr)).every((x) => x === 0x5a))
})

// --- Read-only headers -------------------------------------------------------

test('setTombstone and setPageId throw ERR_READ_ONLY once the buffer is flushable', (t) => {
  const { wb, page, dealloc } = busyBuffer()
  wb.releaseWriter()
  wb.seal()
  t.true(wb.isFlushable)
  throwsUnchanged(t, wb, () => page.header.setTombstone(), WriteBufferError, 'ERR_READ_ONLY', 'page setTombstone')
  throwsUnchanged(t, wb, () => page.header.setPageId(9n), WriteBufferError, 'ERR_READ_ONLY', 'page setPageId')
  throwsUnchanged(t, wb, () => dealloc.setTombstone(), WriteBufferError, 'ERR_READ_ONLY', 'dealloc setTombstone')
  const [first] = [...wb]
  throwsUnchanged(t, wb, () => first.header.setTombstone(), WriteBufferError, 'ERR_READ_ONLY', 'record header')
  t.false(page.header.isTombstone)
  t.false(dealloc.isTombstone)
  t.is(page.header.pageId, 5n)
  t.deepEqual(
    [...wb].map((r) => r.kind),
    ['page', 'dealloc'],
  )
})

test('setPageId on a dealloc record header throws a WriteBufferError and changes nothing', (t) => {
  const { wb, dealloc } = busyBuffer()
  throwsUnchanged(t, wb, () => dealloc.setPageId(7n), WriteBufferError, 'ERR_INVALID_ADDR', 'dealloc setPageId')
  t.is(dealloc.pageId, 0n)
  t.is(dealloc.kind, 'dealloc')
  wb.releaseWriter()
  wb.seal()
  const d = [...wb].find((r) => r.kind === 'dealloc')
  t.deepEqual(d?.kind === 'dealloc' ? d.addrs : null, [1n, 2n])
})

// --- Nothing leaks into the next call ---------------------------------------

test('a buffer keeps working normally after every kind of misuse', (t) => {
  const { wb, page } = busyBuffer()
  const misuses = [
    () => wb.allocPage(bad<bigint>('x'), 8, true),
    () => wb.allocPage(1n, -1, true),
    () => wb.allocPage(1n, 4096, true),
    () => wb.deallocPages(bad<bigint[]>([null]), true),
    () => wb.batch(bad<[bigint, number][]>([[1n]]), []),
    () => wb.page(page.addr + 8n),
    () => wb.records(),
  ]
  for (const misuse of misuses) t.throws(misuse)
  const a = wb.allocPage(6n, 8, false)
  t.is(a.addr, page.addr + BigInt(recordSize(40) + recordSize(16)))
  t.is(a.header.pageId, 6n)
  t.is(wb.writers, 1)
  t.is(wb.releaseWriter(), 'none')
  t.is(wb.seal(), 'flush')
  t.deepEqual(
    [...wb].map((r) => r.addr),
    [page.addr, page.addr + BigInt(recordSize(40)), a.addr],
  )
})
