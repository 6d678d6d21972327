import type { Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { assertModuleName, KeyPrefix, keyText, modulePinKey, pinKey, pinPrefix, prefixRange } from '../layers/keys.js';

/*
 * Stored pins: `p!<module>!<call>` pins one call's entry, `meta!pin!<module>`
 * every entry of a module. A pinned entry is never removed to save space
 * (`maxBytes` eviction, `prune --max-size`) by any process that reads the
 * store; it still counts towards the size, and `rm`, `prune` by age and
 * version, invalidation and `f.delete` remove it (with its pin). Pins live
 * in the store, not in a process, so that a pin set by one process (the
 * CLI, the inspector, a job) is honoured by every other.
 */

/** What a pin key holds: a CBOR map `{ pinnedAt }`. */
export interface PinRecord {
  /** When the pin was set (ms since the epoch). */
  pinnedAt: number;
}

/** Which stored pin: a whole module, or one call of it. */
export interface PinTarget {
  /** The module name. */
  module: string;
  /** The call digest (32 hex digits); omitted for the whole module. */
  call?: string;
}

/** `value` as a pin record, or `undefined` when it is not one (damaged). */
export function asPinRecord(value: unknown): PinRecord | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { pinnedAt } = value as { pinnedAt?: unknown };
  const keys = Object.keys(value);
  return keys.length === 1 && typeof pinnedAt === 'number' && Number.isFinite(pinnedAt) && pinnedAt >= 0 ? { pinnedAt } : undefined;
}

/**
 * The pins a store holds, read at one moment: ask {@link StoredPins.has}
 * whether an entry is pinned, by its own pin or its module's.
 */
export class StoredPins {
  /** Modules pinned whole. */
  readonly modules: ReadonlySet<string>;
  /** Pinned calls, by module. */
  readonly calls: ReadonlyMap<string, ReadonlySet<string>>;

  constructor(modules: ReadonlySet<string>, calls: ReadonlyMap<string, ReadonlySet<string>>) {
    this.modules = modules;
    this.calls = calls;
  }

  /** Whether the entry of `call` of `module` is pinned, by itself or by its module. */
  has(module: string, call: string): boolean {
    return this.modules.has(module) || this.calls.get(module)?.has(call) === true;
  }

  /** Whether the entry has a pin of its own (not only its module's). */
  hasOwn(module: string, call: string): boolean {
    return this.calls.get(module)?.has(call) === true;
  }

  /** Whether there is no pin at all: a size limit needs to check nothing. */
  get empty(): boolean {
    return this.modules.size === 0 && this.calls.size === 0;
  }
}

/** Reads the pins of `module`, or of every module: one range read each of `p!` and `meta!pin!` (pins are few). */
export async function readPins(store: Store, module?: string): Promise<StoredPins> {
  const modules = new Set<string>();
  const calls = new Map<string, Set<string>>();
  if (module === undefined) {
    for await (const key of store.backend.keys(prefixRange(KeyPrefix.modulePin))) modules.add(keyText(key).slice(KeyPrefix.modulePin.length));
  } else if (await store.backend.has(modulePinKey(module))) {
    modules.add(module);
  }
  for await (const key of store.backend.keys(prefixRange(pinPrefix(module)))) {
    const text = keyText(key).slice(KeyPrefix.pin.length);
    const bang = text.lastIndexOf('!');
    if (bang <= 0) continue;
    const owner = text.slice(0, bang);
    let set = calls.get(owner);
    if (set === undefined) calls.set(owner, (set = new Set()));
    set.add(text.slice(bang + 1));
  }
  return new StoredPins(modules, calls);
}

/** Whether one entry is pinned now (two key reads). */
export async function isPinned(store: Store, module: string, call: string): Promise<boolean> {
  return (await store.backend.has(modulePinKey(module))) || (await store.backend.has(pinKey(module, call)));
}

/**
 * Stores a pin of a whole module or of one call (which need not be stored
 * yet: it is pinned once it is). Pinning what is pinned keeps the first pin.
 * Resolves with `true` when the pin is new.
 *
 * @param now - when the pin is set, ms since the epoch (kept for people to read); default `Date.now()`.
 * @throws MemostrataError `INVALID_ARGUMENT` for a bad module name or call digest (nothing is written).
 */
export async function pin(store: Store, target: PinTarget, now: number = Date.now()): Promise<boolean> {
  const key = keyOf(target);
  if (await store.backend.has(key)) return false;
  await store.serialized.put(key, { pinnedAt: now } satisfies PinRecord, { sync: true });
  return true;
}

/**
 * Removes a pin of a whole module or of one call; the entries stay. A call
 * pinned by its module stays pinned until the module is unpinned. Resolves
 * with `true` when there was a pin to remove.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` for a bad module name or call digest (nothing is written).
 */
export async function unpin(store: Store, target: PinTarget): Promise<boolean> {
  const key = keyOf(target);
  if (!(await store.backend.has(key))) return false;
  await store.serialized.delete(key, { sync: true });
  return true;
}

/** The pin key of `target`, after checking it. */
function keyOf(target: PinTarget): Uint8Array {
  assertModuleName(target.module);
  if (target.call === undefined) return modulePinKey(target.module);
  if (typeof target.call !== 'string' || !/^[0-9a-f]{32}$/.test(target.call)) {
    throw new MemostrataError('INVALID_ARGUMENT', `A pinned call is named by its full call digest, 32 lowercase hex digits; got ${JSON.stringify(target.call)}. \`memostrata ls <module>\` lists them.`);
  }
  return pinKey(target.module, target.call);
}
