import type { Store } from '../cache/store.js';
import { moduleMetaKey } from '../layers/keys.js';
import { readModuleMeta, type ModuleMeta } from '../layers/module-meta.js';
import { rawRecords } from './common.js';

/**
 * Recounts the `meta!module!<module>` metadata (entries, bytes, version of the
 * newest record) of each of `modules` from its records, after maintenance
 * removed or added records behind the Cache's incremental counts. A module
 * left without records keeps its version with zero counts, as `clear()` leaves it.
 */
export async function recountModules(store: Store, modules: Iterable<string>): Promise<void> {
  for (const module of new Set(modules)) {
    const previous = await readModuleMeta(store.serialized, module).catch(() => undefined);
    const meta: ModuleMeta = { module, version: previous?.version ?? '', entries: 0, bytes: 0, updatedAt: Date.now() };
    let newest = -Infinity;
    for await (const record of rawRecords(store, module)) {
      meta.entries += 1;
      meta.bytes += record.size;
      if (record.createdAt > newest) {
        newest = record.createdAt;
        meta.version = record.version;
      }
    }
    await store.serialized.put(moduleMetaKey(module), meta, { sync: true });
  }
}
