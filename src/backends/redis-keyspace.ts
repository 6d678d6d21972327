import { colocationPart, formatKey } from '../layers/keys.js';

/*
 * Where a store's keys live in the Redis keyspace: one Redis key per stored
 * entry, `<prefix>{<tag>}<key bytes>`, where `<tag>` is 8 hex digits of
 * FNV-1a 32 over the key's co-location part (src/layers/keys.ts). Redis
 * Cluster places a key by the text between its first `{` and the next `}`:
 * the keys of one call share a tag, hence a slot, and so can be written by
 * one atomic script. The tag is ours, at a fixed place right after the
 * prefix (which may hold no braces), so a module name with braces in it
 * cannot move a key.
 *
 * Beside the entries: the ordered index `<prefix>index{<tag of meta!format>}`
 * (a sorted set of every stored key, score 0, so ZRANGEBYLEX lists them in
 * unsigned byte order), in the format record's slot so that claiming an empty
 * store is one atomic step; and the pub/sub channel `<prefix>changed`.
 */

/** Bytes of the tag, braces included: `{xxxxxxxx}`. */
export const TAG_BYTES = 10;

/** The Redis names of one store. */
export class RedisKeyspace {
  readonly prefix: string;
  readonly #prefix: Buffer;
  /** The sorted set that orders every stored key. */
  readonly indexKey: Buffer;
  /** The channel a conditional write publishes its condition key on. */
  readonly channel: Buffer;
  /** The keys of the two-key layout of memostrata before format 2 on Redis (a hash and a sorted set). */
  readonly legacyKeys: readonly [string, string];

  constructor(prefix: string) {
    this.prefix = prefix;
    this.#prefix = Buffer.from(prefix, 'utf8');
    this.indexKey = Buffer.from(`${prefix}index{${slotTag(formatKey)}}`, 'utf8');
    this.channel = Buffer.from(`${prefix}changed`, 'utf8');
    this.legacyKeys = [`${prefix}values`, `${prefix}keys`];
  }

  /** The Redis key of a stored key. */
  entryKey(key: Uint8Array): Buffer {
    const tag = slotTag(key);
    const out = Buffer.allocUnsafe(this.#prefix.length + TAG_BYTES + key.length);
    this.#prefix.copy(out, 0);
    let at = this.#prefix.length;
    out[at++] = 0x7b;
    out.write(tag, at, 'latin1');
    at += 8;
    out[at++] = 0x7d;
    out.set(key, at);
    return out;
  }
}

/** The tag of a key: 8 hex digits of FNV-1a 32 over its co-location part. Keys with equal tags share a slot. */
export function slotTag(key: Uint8Array): string {
  const part = colocationPart(key);
  let hash = 0x811c9dc5;
  for (let i = 0; i < part.length; i += 1) {
    hash ^= part[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
