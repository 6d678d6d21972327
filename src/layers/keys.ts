import { MemostrataError } from '../errors.js';

/*
 * The on-disk key layout: one keyspace split by short ASCII prefixes
 * (documented in docs/store-format.md).
 *
 *   v!<uuid>                     a stored value (CBOR), shared by every module
 *   m!<module>!<call digest>     a memo record: inputs and result by UUID, metadata
 *   s!<module>!<call digest>     the saved state of an unfinished call
 *   c!<module>!<call digest>!<writer>  hit counters of a call, one key per writer
 *   l!<module>!<call digest>     the lease of a call running now (stores shared by processes)
 *   u!<used module>!<used call>!<user module>!<user call>
 *                                lineage, reverse direction: the user call's computation used the
 *                                used call (format 3; the forward list is the user record's `uses`)
 *   p!<module>!<call digest>     a stored pin: the call's entry is never removed to save space
 *   meta!pin!<module>            a stored pin of a whole module (every entry, present and future)
 *   b!<blob id>                  a blob kept as chunks (stores without blob files): its size, as JSON
 *   b!<blob id>!<chunk index>    one chunk of it (index: 8 hex digits)
 *   meta!format                  the store format version
 *   meta!module!<module>         per-module metadata
 *   meta!types                   names of registered types the store uses
 */

/**
 * The store format this code writes and reads. 3: records may list the calls
 * they used (`uses`), and `u!` keys index them the other way. 4: a value over
 * the large-value threshold is a reference to a blob (CBOR tag 41009), kept
 * as a file beside the store or as `b!` chunks (see docs/store-format.md).
 */
export const FORMAT_VERSION = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The prefixes of the kinds of keys. */
export const KeyPrefix = {
  value: 'v!',
  record: 'm!',
  state: 's!',
  counter: 'c!',
  lease: 'l!',
  usedBy: 'u!',
  blob: 'b!',
  pin: 'p!',
  moduleMeta: 'meta!module!',
  modulePin: 'meta!pin!',
} as const;

/** The prefix of the memo records of `module`, or of every module. */
export function recordPrefix(module?: string): string {
  return module === undefined ? KeyPrefix.record : `${KeyPrefix.record}${module}!`;
}

/** The prefix of the saved states of `module`. */
export function statePrefix(module: string): string {
  return `${KeyPrefix.state}${module}!`;
}

/** The prefix of the hit counters of one call, of `module`, or of every module. */
export function counterPrefix(module?: string, callHex?: string): string {
  if (module === undefined) return KeyPrefix.counter;
  return callHex === undefined ? `${KeyPrefix.counter}${module}!` : `${KeyPrefix.counter}${module}!${callHex}!`;
}

/**
 * The key of one writer's hit counters of a call. A store one process holds
 * at a time has one writer, `0`; on a shared store each open cache writes its
 * own key, so that processes add up instead of overwriting each other.
 */
export function counterKey(module: string, callHex: string, writer: string): Uint8Array {
  return encoder.encode(`${counterPrefix(module, callHex)}${writer}`);
}

/** The key of the value with this UUID. */
export function valueKey(uuid: string): Uint8Array {
  return encoder.encode(`${KeyPrefix.value}${uuid}`);
}

/** The key of a memo record. */
export function memoKey(module: string, callHex: string): Uint8Array {
  return encoder.encode(`${recordPrefix(module)}${callHex}`);
}

/** The key of an unfinished call's saved state. */
export function stateKey(module: string, callHex: string): Uint8Array {
  return encoder.encode(`${statePrefix(module)}${callHex}`);
}

/** The prefix of the leases of `module`, or of every module. */
export function leasePrefix(module?: string): string {
  return module === undefined ? KeyPrefix.lease : `${KeyPrefix.lease}${module}!`;
}

/** The key of the lease of a call that a process is computing now. */
export function leaseKey(module: string, callHex: string): Uint8Array {
  return encoder.encode(`${leasePrefix(module)}${callHex}`);
}

/** The key of a blob kept as chunks: what it is (see KeyedBlobStore). */
export function blobKey(id: string): Uint8Array {
  return encoder.encode(`${KeyPrefix.blob}${id}`);
}

/** The key of chunk `index` of a blob kept as chunks. */
export function blobChunkKey(id: string, index: number): Uint8Array {
  return encoder.encode(`${KeyPrefix.blob}${id}!${index.toString(16).padStart(8, '0')}`);
}

/** The key of a module's metadata. */
export function moduleMetaKey(module: string): Uint8Array {
  return encoder.encode(`${KeyPrefix.moduleMeta}${module}`);
}

/** The prefix of the pins of `module`'s calls, or of every module's. */
export function pinPrefix(module?: string): string {
  return module === undefined ? KeyPrefix.pin : `${KeyPrefix.pin}${module}!`;
}

/**
 * The key of a stored pin of one call: its entry is kept out of size limits
 * (`maxBytes` eviction, `prune --max-size`) by every process. Removed with the entry.
 */
export function pinKey(module: string, callHex: string): Uint8Array {
  return encoder.encode(`${pinPrefix(module)}${callHex}`);
}

/** The key of a stored pin of a whole module: every entry of it, stored now or later, is pinned. */
export function modulePinKey(module: string): Uint8Array {
  return encoder.encode(`${KeyPrefix.modulePin}${module}`);
}

/** The key of the format version. */
export const formatKey: Uint8Array = encoder.encode('meta!format');

/** Range bounds covering every key that starts with `prefix`. */
export function prefixRange(prefix: string): { gte: Uint8Array; lt: Uint8Array } {
  const start = encoder.encode(prefix);
  const end = start.slice();
  // Prefixes here are ASCII ending in '!', so bumping the last byte cannot overflow.
  end[end.length - 1]! += 1;
  return { gte: start, lt: end };
}

/** The text of a key, for messages and listings. */
export function keyText(key: Uint8Array): string {
  return decoder.decode(key);
}

/** The first unpaired UTF-16 surrogate in `text` (which has no UTF-8 form), or `null`. */
export function loneSurrogate(text: string): RegExpExecArray | null {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
}

/**
 * Throws `INVALID_ARGUMENT` unless `name` can name a module: non-empty, at
 * most 200 characters, free of `!` and control characters, which the key
 * layout reserves, and free of unpaired UTF-16 surrogates, which have no UTF-8
 * form: keys are UTF-8, where `'calc\uDBFF'` and `'calc\uFFFD'` would be one name.
 */
export function assertModuleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200 || /[!\u0000-\u001f\u007f]/.test(name)) {
    throw new MemostrataError(
      'INVALID_ARGUMENT',
      `A module name must be a non-empty string of at most 200 characters without '!' or control characters; got ${JSON.stringify(name)}.`,
    );
  }
  const lone = loneSurrogate(name);
  if (lone !== null) {
    throw new MemostrataError(
      'INVALID_ARGUMENT',
      `A module name must be valid Unicode: ${JSON.stringify(name)} has an unpaired surrogate (\\u${lone[0].charCodeAt(0).toString(16).toUpperCase()}) ` +
        `at index ${lone.index}, which cannot be written as UTF-8 and would share its entries with other names. Remove it or pair it.`,
    );
  }
}

/**
 * The part of `key` that decides which keys a store that spreads its keys
 * over nodes (Redis Cluster) keeps together: the keys of one call
 * (`m!`, `s!`, `c!`, `l!` and `p!` with the same `<module>!<call>`) share it, so that
 * one atomic step can write a call's record, delete its saved state and
 * release its lease, or remove its record with its pin. Any other key is its own part. This is the one home of
 * that rule; the backend hashes the part into a slot tag of its own.
 */
export function colocationPart(key: Uint8Array): Uint8Array {
  const BANG = 0x21;
  // u: a lineage key goes with its user call (the record it is written with), its last two parts.
  if (key[0] === 0x75 && key[1] === BANG) return usedByColocation(key);
  // m, s, c, l, p: record, saved state, counters, lease, pin.
  if (key.length < 5 || key[1] !== BANG || ![0x6d, 0x73, 0x63, 0x6c, 0x70].includes(key[0]!)) return key;
  const moduleEnd = key.indexOf(BANG, 2);
  if (moduleEnd <= 2 || moduleEnd === key.length - 1) return key;
  const callEnd = key.indexOf(BANG, moduleEnd + 1);
  if (callEnd === moduleEnd + 1) return key;
  return key.subarray(2, callEnd === -1 ? key.length : callEnd);
}

/** The prefix of the lineage keys of the calls that used `module`'s call `callHex` (or any call of `module`, or anything). */
export function usedByPrefix(module?: string, callHex?: string): string {
  if (module === undefined) return KeyPrefix.usedBy;
  return callHex === undefined ? `${KeyPrefix.usedBy}${module}!` : `${KeyPrefix.usedBy}${module}!${callHex}!`;
}

/**
 * The lineage key saying that call `userCall` of `userModule` used call
 * `usedCall` of `usedModule` while it ran: the reverse of the user record's
 * `uses`, so that the calls computed from a call are found by one range read.
 */
export function usedByKey(usedModule: string, usedCall: string, userModule: string, userCall: string): Uint8Array {
  return encoder.encode(`${usedByPrefix(usedModule, usedCall)}${userModule}!${userCall}`);
}

/** `u!<used>!<call>!<user>!<call>` goes with `<user>!<call>`: written in one atomic step with the user's record. */
function usedByColocation(key: Uint8Array): Uint8Array {
  const BANG = 0x21;
  const callStart = key.lastIndexOf(BANG) + 1;
  const moduleStart = key.lastIndexOf(BANG, callStart - 2) + 1;
  // Malformed (fewer parts): its own part.
  return moduleStart <= 2 || callStart === key.length ? key : key.subarray(moduleStart);
}
