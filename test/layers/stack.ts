import type { Database } from '../../src/contract/database.js';
import { loadDigester } from '../../src/layers/digest.js';
import { PerModuleObjectDatabase, type PerModuleOptions } from '../../src/layers/per-module-object-database.js';
import { ProxyObjectDatabase } from '../../src/layers/proxy-object-database.js';
import { SerializedDB } from '../../src/layers/serialized-db.js';
import { UUIDDatabase } from '../../src/layers/uuid-database.js';

/** The layers of one store, stacked on `backend`. */
export interface Stack {
  serialized: SerializedDB;
  values: UUIDDatabase;
  proxy: ProxyObjectDatabase;
  module(name: string, options?: PerModuleOptions): PerModuleObjectDatabase;
}

/** Stacks SerializedDB → UUIDDatabase → ProxyObjectDatabase on a byte backend. */
export async function stackOn(backend: Database<Uint8Array, Uint8Array>): Promise<Stack> {
  const serialized = new SerializedDB(backend);
  const values = new UUIDDatabase(serialized, await loadDigester());
  const proxy = new ProxyObjectDatabase(values);
  return { serialized, values, proxy, module: (name, options) => new PerModuleObjectDatabase(proxy, name, options) };
}

/**
 * A contract-suite fixture for a PerModuleObjectDatabase stacked on a new
 * backend: the layer does not own the proxy, so closing it here also closes
 * the stack below.
 */
export function perModuleFixture(openBackend: () => Promise<Database<Uint8Array, Uint8Array>>): { open(): Promise<PerModuleObjectDatabase> } {
  return {
    open: async () => {
      const stack = await stackOn(await openBackend());
      const db = stack.module('contract');
      const close = db.close.bind(db);
      db.close = async () => {
        await close();
        await stack.proxy.close();
      };
      return db;
    },
  };
}
