export declare const U32_MAX = 4294967295;
export declare const U64_MAX: bigint;
export declare const U64_RANGE = "a non-negative safe integer or a bigint in [0, 2^64)";
export declare function invalidType(name: string, expected: string, value: unknown): TypeError;
export declare function invalidValue(name: string, expected: string, value: unknown): TypeError;
export declare function outOfRange(name: string, range: string, value: unknown): RangeError;
export declare function checkU32(name: string, value: unknown): asserts value is number;
export declare function checkBoolean(name: string, value: unknown): asserts value is boolean;
/** A safe integer for which `ok` holds (`range` describes it in the error). */
export declare function checkInt(name: string, value: unknown, ok: (n: number) => boolean, range: string): number;
export declare function toU64(name: string, value: unknown): bigint;
