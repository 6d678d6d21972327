import type { Store } from '../cache/store.js';
import { readModuleMeta, type ModuleMeta } from '../layers/module-meta.js';
import { rawRecords } from '../maintenance/common.js';
import { EntryIndex } from './entry-index.js';

/*
 * The entry indexes of one open store, kept between page requests. An index
 * is rebuilt when the module's metadata (`meta!module!<module>`, which every
 * checkpoint that adds entries and every removal rewrites) has changed, when
 * the inspector itself removed entries, or when a page asks for a refresh.
 * Hits counted since are not in it: the entry page reads the record afresh.
 */

/** How many modules keep an index at once (each costs about 60 bytes per entry). */
export const KEPT_INDEXES = 4;

interface Kept {
  stamp: string;
  index: Promise<EntryIndex>;
  /** The index once its build finished. */
  built?: EntryIndex;
}

/** Entry indexes by module, for one store. */
export class EntryIndexes {
  readonly #store: Store;
  readonly #kept = new Map<string, Kept>();

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * The module's entry count from its metadata (`undefined` without
   * metadata), and whether its index is built and up to date, so a page
   * request can be answered from it at once.
   */
  async status(module: string): Promise<{ entries: number | undefined; ready: boolean }> {
    const meta = await readModuleMeta(this.#store.serialized, module).catch(() => undefined);
    const kept = this.#kept.get(module);
    return { entries: meta?.entries, ready: kept?.built !== undefined && kept.stamp === stampOf(meta) };
  }

  /** The index of `module`, built now if it is missing, out of date, or `refresh` is asked for. */
  async get(module: string, refresh = false): Promise<EntryIndex> {
    const meta = await readModuleMeta(this.#store.serialized, module).catch(() => undefined);
    const stamp = stampOf(meta);
    const kept = this.#kept.get(module);
    if (kept !== undefined && kept.stamp === stamp && !refresh) {
      // Most recently used last: the first one is dropped when too many are kept.
      this.#kept.delete(module);
      this.#kept.set(module, kept);
      return kept.index;
    }
    const index = EntryIndex.build(rawRecords(this.#store, module), meta?.entries);
    const entry: Kept = { stamp, index };
    this.#kept.delete(module);
    this.#kept.set(module, entry);
    index.then(
      (built) => {
        entry.built = built;
      },
      // A failed build is not kept: the next request tries again.
      () => {
        if (this.#kept.get(module) === entry) this.#kept.delete(module);
      },
    );
    while (this.#kept.size > KEPT_INDEXES) this.#kept.delete(this.#kept.keys().next().value!);
    return index;
  }

  /** Forgets the index of `module` (after the inspector changed its entries). */
  forget(module: string): void {
    this.#kept.delete(module);
  }
}

function stampOf(meta: ModuleMeta | undefined): string {
  return meta === undefined ? 'none' : `${meta.entries}:${meta.updatedAt}`;
}
