import type { Store } from '../cache/store.js';
import type { MemoRecord } from '../layers/memo-record.js';
import { readModuleMeta } from '../layers/module-meta.js';
import { lastUsedAt } from './common.js';

/** One code version of a module, as the store holds it. */
export interface CodeVersion {
  /** The version (`auto:<16 hex>` for `version: 'auto'`). */
  version: string;
  /** Stored calls of this version. */
  entries: number;
  /** Σ of their approximate result sizes (bytes). */
  bytes: number;
  /** When a call of this version was last created or hit (ms since the epoch). */
  lastUsedAt: number;
  /** Whether this is the module's current version: the one `prune --stale-versions` keeps. */
  current: boolean;
}

/** What a module's current code is: its version, and the dependency fingerprint its newest calls of that version have. */
export interface CurrentCode {
  version: string;
  deps: string;
}

interface Tally {
  entries: number;
  bytes: number;
  lastHitAt: number;
  lastUsedAt: number;
  /** The deps of the most recently used call of this version. */
  deps: string;
}

/**
 * Tallies the code versions of the records it is shown, then says which
 * version of each module is current.
 *
 * A module's current version is the one it was last used with: the version
 * its per-module metadata (`meta!module!<module>`) names, which the Cache
 * writes with the calls it stores, unless calls of another version were
 * hit after that (a run of reverted code that only hit stores nothing new,
 * but its hit counters say when it ran). Without metadata, the version of
 * the most recently created or hit call. Record creation times are compared
 * only then: machines sharing a store may disagree about the time.
 */
export class CodeVersionTally {
  readonly #modules = new Map<string, Map<string, Tally>>();

  /** Counts one record. */
  add(record: MemoRecord): void {
    let versions = this.#modules.get(record.module);
    if (versions === undefined) this.#modules.set(record.module, (versions = new Map()));
    let tally = versions.get(record.version);
    if (tally === undefined) versions.set(record.version, (tally = { entries: 0, bytes: 0, lastHitAt: 0, lastUsedAt: -Infinity, deps: record.deps }));
    tally.entries += 1;
    tally.bytes += record.size;
    tally.lastHitAt = Math.max(tally.lastHitAt, record.lastHitAt);
    if (lastUsedAt(record) >= tally.lastUsedAt) {
      tally.lastUsedAt = lastUsedAt(record);
      tally.deps = record.deps;
    }
  }

  /** The current version of each module counted (see the class). */
  async current(store: Store): Promise<Map<string, CurrentCode>> {
    const current = new Map<string, CurrentCode>();
    for (const [module, versions] of this.#modules) {
      const meta = await readModuleMeta(store.serialized, module).catch(() => undefined);
      const stored = meta === undefined ? undefined : versions.get(meta.version);
      let best: [string, Tally] | undefined;
      let bestAt = -Infinity;
      for (const [version, tally] of versions) {
        // With metadata, a version's last use is its last hit, or for the metadata's version its last store.
        const usedAt = stored === undefined ? tally.lastUsedAt : version === meta!.version ? Math.max(tally.lastHitAt, meta!.updatedAt) : tally.lastHitAt;
        if (usedAt > bestAt || best === undefined) {
          best = [version, tally];
          bestAt = usedAt;
        }
      }
      current.set(module, { version: best![0], deps: best![1].deps });
    }
    return current;
  }

  /** Every module's versions, the current one first, then the most recently used first. */
  async versions(store: Store): Promise<Map<string, CodeVersion[]>> {
    const current = await this.current(store);
    const result = new Map<string, CodeVersion[]>();
    for (const [module, versions] of this.#modules) {
      const currentVersion = current.get(module)?.version;
      const list = [...versions].map(([version, tally]) => ({ version, entries: tally.entries, bytes: tally.bytes, lastUsedAt: tally.lastUsedAt, current: version === currentVersion }));
      list.sort((a, b) => Number(b.current) - Number(a.current) || b.lastUsedAt - a.lastUsedAt);
      result.set(module, list);
    }
    return result;
  }
}

/**
 * The records of `records` whose module's current code (version and
 * dependency fingerprint, see {@link CodeVersionTally}) is not theirs.
 */
export async function staleRecords(store: Store, records: readonly MemoRecord[]): Promise<MemoRecord[]> {
  const tally = new CodeVersionTally();
  for (const record of records) tally.add(record);
  const current = await tally.current(store);
  return records.filter((record) => {
    const code = current.get(record.module)!;
    return record.version !== code.version || record.deps !== code.deps;
  });
}
