/**
 * Argument checks with Node's error classes and codes (`TypeError` with
 * `ERR_INVALID_ARG_TYPE`, `RangeError` with `ERR_OUT_OF_RANGE`, `TypeError`
 * with `ERR_INVALID_ARG_VALUE`), shared by every module of `src/`.
 * Internal: not part of the package's API.
 */
import { inspect } from 'node:util'

export const U32_MAX = 0xffff_ffff
export const U64_MAX = (1n << 64n) - 1n
export const U64_RANGE = 'a non-negative safe integer or a bigint in [0, 2^64)'

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  if (typeof value === 'bigint') return `type bigint (${value}n)`
  return `type ${typeof value} (${inspect(value)})`
}

function withCode<E extends Error>(err: E, code: string): E {
  ;(err as E & { code: string }).code = code
  return err
}

export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE')
}

export function invalidValue(name: string, expected: string, value: unknown): TypeError {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE')
}

/** How many single-character edits turn `a` into `b` (for "did you mean"). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]
}

/**
 * Refuses an options object `opts` (the argument `name`) with a key that is
 * not one of `known`: a misspelt option is an error, never silently ignored.
 * `ERR_INVALID_ARG_VALUE`, naming the key, the nearest known one and all of them.
 */
export function checkOptionNames(name: string, opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? known.find((k) => editDistance(k, key) <= 2)
    const hint = near === undefined ? '' : ` (did you mean "${near}"?)`
    const list = known.length === 0 ? 'it takes no option' : `known options: ${known.join(', ')}`
    throw withCode(new TypeError(`The "${name}" argument has an unknown option "${key}"${hint}: ${list}`), 'ERR_INVALID_ARG_VALUE')
  }
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'string' ? value : inspect(value)
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE')
}

export function checkU32(name: string, value: unknown): asserts value is number {
  if (typeof value === 'number' && value >>> 0 === value) return
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  throw outOfRange(name, 'an integer >= 0 and <= 4294967295', value)
}

export function checkBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidType(name, 'of type boolean', value)
}

/** A safe integer for which `ok` holds (`range` describes it in the error). */
export function checkInt(name: string, value: unknown, ok: (n: number) => boolean, range: string): number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || !ok(value)) throw outOfRange(name, range, value)
  return value
}

/** A list of u64 values (`addrs`): a `BigUint64Array` as it is, an Array checked and copied. */
export function toU64Array(name: string, value: unknown): BigUint64Array {
  if (value instanceof BigUint64Array) return value
  if (!Array.isArray(value)) throw invalidType(name, 'an Array or a BigUint64Array', value)
  const out = new BigUint64Array(value.length)
  for (let i = 0; i < value.length; i++) out[i] = toU64(`${name}[${i}]`, value[i])
  return out
}

export function toU64(name: string, value: unknown): bigint {
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return value
    throw outOfRange(name, U64_RANGE, value)
  }
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return BigInt(value)
    throw outOfRange(name, U64_RANGE, value)
  }
  throw invalidType(name, 'of type bigint or number', value)
}
