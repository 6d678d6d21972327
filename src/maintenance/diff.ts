import type { Store } from '../cache/store.js';
import { keyText } from '../layers/keys.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { referenceRanges } from './blobs.js';
import { decodeRecord, parseKey, Progress, type ProgressOptions } from './common.js';

/** How one module differs between two stores; call digests are sorted. */
export interface ModuleDiff {
  /** The module name. */
  module: string;
  /** Calls stored in B but not in A. */
  added: string[];
  /** Calls stored in A but not in B. */
  removed: string[];
  /** Calls in both whose result (UUID) or cached error differs. */
  changed: string[];
  /** Calls in both with the same outcome. */
  same: number;
}

/** What {@link diff} returns. */
export interface DiffResult {
  /** True when both stores hold the same records (by outcome), values and saved states. */
  identical: boolean;
  /** Modules with at least one added, removed or changed call, sorted by name. */
  modules: ModuleDiff[];
  /** Totals over every module. */
  records: { added: number; removed: number; changed: number; same: number };
  /** Stored values present in only one store. */
  values: { onlyInA: number; onlyInB: number };
  /** Saved states of unfinished calls present in only one store. */
  states: { onlyInA: number; onlyInB: number };
}

/**
 * Compares two stores: per module, the calls only B has (added), only A has
 * (removed), and both have with a different result or error (changed); and
 * how many values and saved states only one of them holds. Both stores are
 * read once, side by side in key order, so memory stays small.
 *
 * @throws MemostrataError `CORRUPT` when a record in either store does not decode.
 */
export async function diff(storeA: Store, storeB: Store, options: ProgressOptions = {}): Promise<DiffResult> {
  const progress = new Progress(options.onProgress);
  const modules = new Map<string, ModuleDiff>();
  const result: DiffResult = {
    identical: true,
    modules: [],
    records: { added: 0, removed: 0, changed: 0, same: 0 },
    values: { onlyInA: 0, onlyInB: 0 },
    states: { onlyInA: 0, onlyInB: 0 },
  };
  const moduleDiff = (module: string): ModuleDiff => {
    let found = modules.get(module);
    if (found === undefined) modules.set(module, (found = { module, added: [], removed: [], changed: [], same: 0 }));
    return found;
  };
  const onlyIn = (side: 'A' | 'B', key: Uint8Array) => {
    const parsed = parseKey(keyText(key));
    if (parsed.kind === 'record') {
      if (side === 'A') moduleDiff(parsed.module).removed.push(parsed.call);
      else moduleDiff(parsed.module).added.push(parsed.call);
      result.records[side === 'A' ? 'removed' : 'added'] += 1;
    } else if (parsed.kind === 'value') {
      result.values[side === 'A' ? 'onlyInA' : 'onlyInB'] += 1;
    } else if (parsed.kind === 'state') {
      result.states[side === 'A' ? 'onlyInA' : 'onlyInB'] += 1;
    }
  };

  const a = keysAndValues(storeA);
  const b = keysAndValues(storeB);
  try {
    let left = await a.next();
    let right = await b.next();
    while (left.done !== true || right.done !== true) {
      progress.step();
      const order = left.done === true ? 1 : right.done === true ? -1 : Buffer.compare(left.value[0], right.value[0]);
      if (order < 0) {
        onlyIn('A', left.value![0]);
        left = await a.next();
      } else if (order > 0) {
        onlyIn('B', right.value![0]);
        right = await b.next();
      } else {
        const [key, bytesA] = left.value!;
        const bytesB = right.value![1];
        const parsed = parseKey(keyText(key));
        if (parsed.kind === 'record') {
          const same = sameOutcome(decodeRecord(storeA, key, bytesA), decodeRecord(storeB, key, bytesB));
          if (same) moduleDiff(parsed.module).same += 1;
          else moduleDiff(parsed.module).changed.push(parsed.call);
          result.records[same ? 'same' : 'changed'] += 1;
        }
        left = await a.next();
        right = await b.next();
      }
    }
  } finally {
    await a.return(undefined);
    await b.return(undefined);
  }
  result.modules = [...modules.values()]
    .filter((module) => module.added.length + module.removed.length + module.changed.length > 0)
    .sort((x, y) => (x.module < y.module ? -1 : x.module > y.module ? 1 : 0));
  result.identical =
    result.modules.length === 0 && result.values.onlyInA + result.values.onlyInB + result.states.onlyInA + result.states.onlyInB === 0;
  progress.finish();
  return result;
}

/**
 * Every entry of `store` but the `b!` chunks of blobs, in key order. A large
 * value is compared by its `v!` key like any other: the key is its content's
 * UUID, so two stores that hold it under one key hold the same value, whether
 * as a blob (of whatever id) or inline.
 */
async function* keysAndValues(store: Store): AsyncGenerator<[Uint8Array, Uint8Array]> {
  for (const range of referenceRanges()) yield* store.bytes.entries(range);
}

/** Whether two records of one call give the same outcome: the same result UUID, or an equal cached error. */
export function sameOutcome(a: MemoRecord, b: MemoRecord): boolean {
  if (a.result !== b.result) return false;
  if (a.error === undefined || b.error === undefined) return a.error === b.error;
  return a.error.name === b.error.name && a.error.message === b.error.message && a.error.code === b.error.code;
}
