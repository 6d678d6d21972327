import type { BatchOperation } from '../contract/database.js';
import { isMemostrataError } from '../errors.js';
import { counterPrefix, keyText, memoKey, prefixRange, stateKey, usedByKey, usedByPrefix } from '../layers/keys.js';
import { recordUses, type CallRef, type MemoRecord } from '../layers/memo-record.js';
import { emptyModuleMeta, moduleMetaOperation, readModuleMeta } from '../layers/module-meta.js';
import type { PerModuleObjectDatabase } from '../layers/per-module-object-database.js';
import type { ProxyObjectDatabase } from '../layers/proxy-object-database.js';
import { runningCall } from './current-call.js';

/*
 * Lineage: which memoized calls a memoized call made while it ran (recorded
 * by the running call's collector, stored as its record's `uses` with `u!`
 * keys for the other direction), and cascade invalidation along it.
 */

/** A memoized module as lineage sees it: who owns it and how its in-memory keys become call digests. */
export interface LineageModule {
  /** The cache the module belongs to: only calls of the same cache are recorded. */
  readonly owner: object;
  /** The stored identity of the call held under in-memory `key`. */
  refOf(key: string): CallRef;
}

/**
 * What one running call collects: the calls it makes (in-memory keys, turned
 * into call digests only when its result is stored, so that a hit inside a
 * running call hashes nothing). `tainted` once a call it used was invalidated
 * while it ran: its result is returned but not stored.
 */
export class LineageCollector {
  /** The cache whose calls count. */
  readonly owner: object;
  /** Set by an invalidation of a call this run used. */
  tainted = false;
  readonly #used = new Map<LineageModule, Set<string>>();

  constructor(owner: object) {
    this.owner = owner;
  }

  /** Notes that the run made the call held under `key` of `module`. */
  add(module: LineageModule, key: string): void {
    let keys = this.#used.get(module);
    if (keys === undefined) this.#used.set(module, (keys = new Set()));
    keys.add(key);
  }

  /** The calls made, each once, in the order of first use; `undefined` for none. */
  refs(): CallRef[] | undefined {
    if (this.#used.size === 0) return undefined;
    const seen = new Set<string>();
    const refs: CallRef[] = [];
    for (const [module, keys] of this.#used) {
      for (const key of keys) {
        const ref = module.refOf(key);
        const id = refId(ref);
        if (seen.has(id)) continue;
        seen.add(id);
        refs.push(ref);
      }
    }
    return refs;
  }
}

/**
 * The collectors of the calls running now, in every cache of the process.
 * Its size is what the hit path reads: while no memoized call runs, a hit
 * does no lineage work at all.
 */
export const runningCollectors = new Set<LineageCollector>();

/** The collector a call's run carries on its {@link CurrentCall}. */
interface WithLineage {
  readonly lineage?: LineageCollector;
}

/**
 * Records, in the memoized call running now (if any, and of the same cache),
 * that it made the call `key` of `module`. Callers check
 * `runningCollectors.size !== 0` first: that keeps it off the hit path of
 * calls made while nothing runs.
 */
export function noteUse(module: LineageModule, key: string): void {
  const lineage = (runningCall() as WithLineage | undefined)?.lineage;
  if (lineage !== undefined && lineage.owner === module.owner) lineage.add(module, key);
}

/** `module!call`: one string per call, for sets and maps. */
export function refId(ref: CallRef): string {
  return `${ref.module}!${ref.call}`;
}

/** The user call a `u!<used>!<call>!<user>!<call>` key names (its last two parts), or `undefined` for a malformed key. */
export function userOfKey(key: Uint8Array): CallRef | undefined {
  const text = keyText(key);
  const callAt = text.lastIndexOf('!');
  const moduleAt = text.lastIndexOf('!', callAt - 1);
  if (moduleAt < 0 || callAt - moduleAt < 2) return undefined;
  return { module: text.slice(moduleAt + 1, callAt), call: text.slice(callAt + 1) };
}

/** What {@link storedUsers} found. */
export interface StoredUsers {
  /** Stored calls whose record says they used the call (damaged records among them: they may have). */
  users: CallRef[];
  /** `u!` keys whose user call is gone or no longer lists the call (recomputed since): stale hints. */
  stale: Uint8Array[];
}

/**
 * The stored calls computed from `used`: its `u!` keys, each checked against
 * the user's record, which is what says what a call used. A damaged user
 * record counts as a user (nothing built on a call is kept by accident).
 */
export async function storedUsers(proxy: ProxyObjectDatabase, used: CallRef): Promise<StoredUsers> {
  const found: StoredUsers = { users: [], stale: [] };
  for await (const key of proxy.keys(prefixRange(usedByPrefix(used.module, used.call)))) {
    const user = userOfKey(key);
    if (user === undefined) continue;
    let record: MemoRecord | undefined;
    try {
      record = await proxy.lookup(user.module, user.call);
    } catch (error) {
      if (!isMemostrataError(error, 'CORRUPT')) throw error;
      found.users.push(user);
      continue;
    }
    if (record !== undefined && recordUses(record, used)) found.users.push(user);
    else found.stale.push(key);
  }
  return found;
}

/** Where {@link invalidateCalls} looks: the store (through its layers) and the modules held in memory. */
export interface InvalidationScope {
  /** The records layer of the store. */
  readonly proxy: ProxyObjectDatabase;
  /** The in-memory layer of each module of the cache, by name. */
  readonly databases: ReadonlyMap<string, PerModuleObjectDatabase>;
  /** The cache: running calls of it that used a removed call are not stored. */
  readonly owner: object;
}

/** A call found by the cascade, and where it lives. */
interface Doomed {
  ref: CallRef;
  /** Its in-memory key, when a module of the cache holds it. */
  memoryKey: string | undefined;
  /** Its stored record; `null` when the record is damaged; `undefined` when not stored. */
  stored: MemoRecord | null | undefined;
}

/**
 * Removes `roots` and, transitively, every call whose computation used one of
 * them: from memory (unwritten entries too) and from the store, in one batch
 * (dependents' records before the roots', `u!` keys last, so that a store
 * applying it in pieces never loses the index of a record it still holds).
 * Calls of the cache running now that used a removed call return their
 * result but do not store it. Run it in the cache's write queue.
 *
 * @returns the calls removed (those memory or the store held), roots first.
 */
export async function invalidateCalls(scope: InvalidationScope, roots: readonly CallRef[]): Promise<CallRef[]> {
  const { proxy, databases } = scope;
  // What memory holds: the key of each call, and who used what among unwritten and read entries alike.
  const memoryKeys = new Map<string, string>();
  const memoryUsers = new Map<string, CallRef[]>();
  for (const [module, db] of databases) {
    for (const [key, entry] of db.liveEntries()) {
      const user: CallRef = { module, call: entry.record.call };
      memoryKeys.set(refId(user), key);
      for (const used of entry.record.uses ?? []) {
        const id = refId(used);
        const users = memoryUsers.get(id);
        if (users === undefined) memoryUsers.set(id, [user]);
        else users.push(user);
      }
    }
  }

  const order: CallRef[] = [];
  const seen = new Set<string>();
  const stale: Uint8Array[] = [];
  const visit = (ref: CallRef): void => {
    const id = refId(ref);
    if (seen.has(id)) return;
    seen.add(id);
    order.push(ref);
  };
  roots.forEach(visit);
  for (let next = 0; next < order.length; next += 1) {
    const used = order[next]!;
    for (const user of memoryUsers.get(refId(used)) ?? []) visit(user);
    const found = await storedUsers(proxy, used);
    found.users.forEach(visit);
    for (const key of found.stale) stale.push(key);
  }

  const doomed: Doomed[] = [];
  for (const ref of order) doomed.push({ ref, memoryKey: memoryKeys.get(refId(ref)), stored: await storedRecord(proxy, ref) });
  taintRunning(scope.owner, new Set(order.map(refId)));

  for (const { ref, memoryKey } of doomed) databases.get(ref.module)?.forgetCall(memoryKey ?? '', ref.call);
  try {
    await proxy.batch(await removalOperations(proxy, doomed, stale));
  } finally {
    // Ends the deletions forgetCall began (nothing stored is left to delete) and lets read-throughs resume.
    for (const { ref } of doomed) await databases.get(ref.module)?.deleteStoredCall(ref.call);
  }
  return doomed.filter((entry) => entry.memoryKey !== undefined || entry.stored !== undefined).map((entry) => entry.ref);
}

/** The stored record of `ref`: `undefined` when there is none, `null` when it is damaged. */
async function storedRecord(proxy: ProxyObjectDatabase, ref: CallRef): Promise<MemoRecord | null | undefined> {
  try {
    return await proxy.lookup(ref.module, ref.call);
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return null;
    throw error;
  }
}

/** Marks the running calls of `owner` that used a removed call, and those that used them, to the end. */
function taintRunning(owner: object, removed: Set<string>): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (const collector of runningCollectors) {
      if (collector.owner !== owner || collector.tainted) continue;
      if (!(collector.refs() ?? []).some((ref) => removed.has(refId(ref)))) continue;
      collector.tainted = true;
      changed = true;
    }
  }
}

/**
 * The operations that remove the doomed calls from the store: records (last
 * found first, so dependents go before what they used), saved states, hit
 * counters and module counts, then every `u!` key naming them on either side.
 */
async function removalOperations(proxy: ProxyObjectDatabase, doomed: readonly Doomed[], stale: readonly Uint8Array[]): Promise<BatchOperation<Uint8Array, unknown>[]> {
  const records: BatchOperation<Uint8Array, unknown>[] = [];
  const index: BatchOperation<Uint8Array, unknown>[] = stale.map((key) => ({ type: 'del', key }));
  const change = new Map<string, { entries: number; bytes: number }>();
  for (const { ref, stored } of [...doomed].reverse()) {
    records.push({ type: 'del', key: memoKey(ref.module, ref.call) }, { type: 'del', key: stateKey(ref.module, ref.call) });
    for await (const key of proxy.keys(prefixRange(counterPrefix(ref.module, ref.call)))) records.push({ type: 'del', key });
    for await (const key of proxy.keys(prefixRange(usedByPrefix(ref.module, ref.call)))) index.push({ type: 'del', key });
    if (stored === undefined) continue;
    const moduleChange = change.get(ref.module) ?? { entries: 0, bytes: 0 };
    moduleChange.entries -= 1;
    moduleChange.bytes -= stored?.size ?? 0;
    change.set(ref.module, moduleChange);
    for (const used of stored?.uses ?? []) index.push({ type: 'del', key: usedByKey(used.module, used.call, ref.module, ref.call) });
  }
  for (const [module, moduleChange] of change) {
    records.push(moduleMetaOperation((await readModuleMeta(proxy, module)) ?? emptyModuleMeta(module), moduleChange));
  }
  return [...records, ...index];
}
