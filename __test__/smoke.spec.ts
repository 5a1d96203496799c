import test from 'ava'

import { WriteBuffer } from '../index.ts'

test('a page written through its view reads back through page(addr)', (t) => {
  const wb = new WriteBuffer(1, 1024)
  const a = wb.allocPage(7n, 5, false)
  a.page.write('hello')
  t.is(wb.page(a.addr).toString(), 'hello')
  t.true(Buffer.isBuffer(a.page))
  t.is(a.page.constructor, Buffer)
})
