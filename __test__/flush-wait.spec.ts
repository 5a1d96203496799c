import test from 'ava'

import { WriteBuffer } from '../index.ts'

/** A few turns of the event loop, enough for a settled native promise to be seen. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Tracks whether a promise settled, and how. */
function track(promise: Promise<void>) {
  const status = { settled: false, resolved: false, reason: undefined as unknown }
  const done = promise.then(
    (value) => {
      status.settled = true
      status.resolved = true
      return value
    },
    (err: unknown) => {
      status.settled = true
      status.reason = err
      throw err
    },
  )
  // The tracked promise is awaited by the tests; keep this one from being unhandled.
  done.catch(() => undefined)
  return { status, done }
}

function flushable(groupId = 1): WriteBuffer {
  const wb = new WriteBuffer(groupId, 1024)
  wb.allocPage(1n, 8, false).page.write('flushed!')
  wb.seal()
  return wb
}

test('waitFlushed resolves after onFlushed is called later, and not before', async (t) => {
  const wb = flushable()
  const { status, done } = track(wb.waitFlushed())
  await turns()
  t.false(status.settled)
  wb.onFlushed()
  t.is(await done, undefined)
  t.true(status.resolved)
})

test('waitFlushed resolves when onFlushed was called before the wait began', async (t) => {
  const wb = flushable()
  wb.onFlushed()
  t.is(await wb.waitFlushed(), undefined)
  t.is(await wb.waitFlushed({}), undefined)
  t.is(await wb.waitFlushed({ signal: new AbortController().signal }), undefined)
})

test('several waiters all resolve on one onFlushed', async (t) => {
  const wb = flushable()
  const waits = Array.from({ length: 20 }, () => track(wb.waitFlushed()))
  const withSignal = Array.from({ length: 5 }, () => track(wb.waitFlushed({ signal: new AbortController().signal })))
  await turns()
  t.true([...waits, ...withSignal].every(({ status }) => !status.settled))
  wb.onFlushed()
  const results = await Promise.all([...waits, ...withSignal].map(({ done }) => done))
  t.is(results.length, 25)
  t.true([...waits, ...withSignal].every(({ status }) => status.resolved))
})

test('onFlushed called twice is a no-op', async (t) => {
  const wb = flushable()
  const first = wb.waitFlushed()
  wb.onFlushed()
  t.notThrows(() => wb.onFlushed())
  await first
  t.notThrows(() => wb.onFlushed())
  await wb.waitFlushed()
  // The buffer itself is untouched by the flush notifications.
  t.true(wb.isFlushable)
  t.is(wb.allocated, 24)
  t.is([...wb].length, 1)
})

test('onFlushed of one buffer does not wake the waiters of another', async (t) => {
  const a = flushable(1)
  const b = flushable(2)
  const waitA = track(a.waitFlushed())
  const waitB = track(b.waitFlushed())
  b.onFlushed()
  await waitB.done
  await turns()
  t.false(waitA.status.settled)
  a.onFlushed()
  await waitA.done
  t.true(waitA.status.resolved)
})

test('waitFlushed with an already aborted signal rejects with the signal reason', async (t) => {
  const wb = flushable()
  const controller = new AbortController()
  controller.abort()
  const err = await t.throwsAsync(wb.waitFlushed({ signal: controller.signal }), { any: true, name: 'AbortError' })
  t.is(err, controller.signal.reason)
  await t.throwsAsync(wb.waitFlushed({ signal: AbortSignal.abort() }), { any: true, name: 'AbortError' })
  // A flushed buffer with an aborted signal: the signal still wins.
  wb.onFlushed()
  await t.throwsAsync(wb.waitFlushed({ signal: controller.signal }), { any: true, name: 'AbortError' })
})

test('waitFlushed with a signal aborted with a custom reason rejects with that exact reason', async (t) => {
  const wb = flushable()
  const reason = new Error('gave up')
  const before = new AbortController()
  before.abort(reason)
  await t.throwsAsync(wb.waitFlushed({ signal: before.signal }), { is: reason })
  const later = new AbortController()
  const pending = wb.waitFlushed({ signal: later.signal })
  later.abort(reason)
  await t.throwsAsync(pending, { is: reason })
  wb.onFlushed()
})

test('aborting a pending wait rejects it with the reason and a later onFlushed does not throw', async (t) => {
  const wb = flushable()
  const controller = new AbortController()
  const aborted = track(wb.waitFlushed({ signal: controller.signal }))
  const other = track(wb.waitFlushed())
  await turns()
  t.false(aborted.status.settled)
  controller.abort()
  const err = await t.throwsAsync(aborted.done, { any: true, name: 'AbortError' })
  t.is(err, controller.signal.reason)
  t.false(other.status.settled)
  t.notThrows(() => wb.onFlushed())
  await other.done
  t.true(other.status.resolved)
  // The aborted promise stays rejected.
  await turns()
  t.false(aborted.status.resolved)
  t.is(await wb.waitFlushed(), undefined)
})

test('aborting after the wait resolved changes nothing', async (t) => {
  const wb = flushable()
  const controller = new AbortController()
  const wait = track(wb.waitFlushed({ signal: controller.signal }))
  wb.onFlushed()
  await wait.done
  t.notThrows(() => controller.abort())
  await turns()
  t.true(wait.status.resolved)
  t.is(wait.status.reason, undefined)
})

test('a signal that is not an AbortSignal rejects with ERR_INVALID_ARG_TYPE', async (t) => {
  const wb = flushable()
  for (const signal of [{}, { aborted: true, reason: 'x' }, 'signal', 1, new EventTarget()]) {
    await t.throwsAsync(() => wb.waitFlushed({ signal: signal as unknown as AbortSignal }), {
      instanceOf: TypeError,
      code: 'ERR_INVALID_ARG_TYPE',
    })
  }
  wb.onFlushed()
})

test('waitFlushed also works on a buffer that was never sealed', async (t) => {
  const wb = new WriteBuffer(3, 64)
  const wait = track(wb.waitFlushed())
  await turns()
  t.false(wait.status.settled)
  wb.onFlushed()
  await wait.done
  t.true(wait.status.resolved)
})
