"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.U64_RANGE = exports.U64_MAX = exports.U32_MAX = void 0;
exports.invalidType = invalidType;
exports.invalidValue = invalidValue;
exports.outOfRange = outOfRange;
exports.checkU32 = checkU32;
exports.checkBoolean = checkBoolean;
exports.checkInt = checkInt;
exports.toU64 = toU64;
/**
 * Argument checks with Node's error classes and codes (`TypeError` with
 * `ERR_INVALID_ARG_TYPE`, `RangeError` with `ERR_OUT_OF_RANGE`, `TypeError`
 * with `ERR_INVALID_ARG_VALUE`), shared by `index.ts` and `page-log.ts`.
 * Internal: not part of the package's API.
 */
const node_util_1 = require("node:util");
exports.U32_MAX = 0xffff_ffff;
exports.U64_MAX = (1n << 64n) - 1n;
exports.U64_RANGE = 'a non-negative safe integer or a bigint in [0, 2^64)';
function describe(value) {
    if (value === null)
        return 'null';
    if (typeof value === 'function')
        return `function ${value.name || '<anonymous>'}`;
    if (typeof value === 'object')
        return `an instance of ${value.constructor?.name ?? 'Object'}`;
    if (typeof value === 'bigint')
        return `type bigint (${value}n)`;
    return `type ${typeof value} (${(0, node_util_1.inspect)(value)})`;
}
function withCode(err, code) {
    ;
    err.code = code;
    return err;
}
function invalidType(name, expected, value) {
    return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE');
}
function invalidValue(name, expected, value) {
    return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE');
}
function outOfRange(name, range, value) {
    const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'string' ? value : (0, node_util_1.inspect)(value);
    return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE');
}
function checkU32(name, value) {
    if (typeof value === 'number' && value >>> 0 === value)
        return;
    if (typeof value !== 'number')
        throw invalidType(name, 'of type number', value);
    throw outOfRange(name, 'an integer >= 0 and <= 4294967295', value);
}
function checkBoolean(name, value) {
    if (typeof value !== 'boolean')
        throw invalidType(name, 'of type boolean', value);
}
/** A safe integer for which `ok` holds (`range` describes it in the error). */
function checkInt(name, value, ok, range) {
    if (typeof value !== 'number')
        throw invalidType(name, 'of type number', value);
    if (!Number.isSafeInteger(value) || !ok(value))
        throw outOfRange(name, range, value);
    return value;
}
function toU64(name, value) {
    if (typeof value === 'bigint') {
        if (value >= 0n && value <= exports.U64_MAX)
            return value;
        throw outOfRange(name, exports.U64_RANGE, value);
    }
    if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && value >= 0)
            return BigInt(value);
        throw outOfRange(name, exports.U64_RANGE, value);
    }
    throw invalidType(name, 'of type bigint or number', value);
}
