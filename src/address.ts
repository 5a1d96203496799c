/**
 * Addresses: `groupId << 32 | offset of the page body` (the offset of the
 * record plus `HEADER_SIZE`). The one place that composes and splits them on
 * the JS side (the core's `addr_of` is the native one).
 */
import { HEADER_SIZE } from './constants.ts'

// A local constant, read once (not from the imported module object per call).
const HEADER = HEADER_SIZE

/** The high half every address of group `groupId` shares. */
export function groupHigh(groupId: number): bigint {
  return BigInt(groupId) << 32n
}

/** The address of the record at `record` in the group whose high half is `high` (see `groupHigh`). */
export function addrOf(high: bigint, record: number): bigint {
  return high | BigInt(record + HEADER)
}

/** The group id of an address. */
export function groupOf(addr: bigint): number {
  return Number(addr >> 32n)
}
