import type { BatchOperation, Database } from '../contract/database.js';
import { moduleMetaKey } from './keys.js';

/**
 * Per-module metadata, kept under `meta!module!<module>` and updated in the
 * same batch as the module's entries, so a tool can say what a store holds
 * without reading every record. The counts are maintained incrementally by
 * the Cache; maintenance commands that remove entries recount them.
 */
export interface ModuleMeta {
  /** The module name. */
  module: string;
  /** The version of the module's most recently stored entries. */
  version: string;
  /** How many entries (records) the module has in the store. */
  entries: number;
  /** Approximate encoded bytes of those entries' results. */
  bytes: number;
  /** When this metadata last changed (ms since the epoch). */
  updatedAt: number;
}

/** The stored metadata of `module`, or `undefined` if none was written (or it is not metadata). */
export async function readModuleMeta(db: Database<Uint8Array, unknown>, module: string): Promise<ModuleMeta | undefined> {
  const stored = (await db.get(moduleMetaKey(module))) as Partial<ModuleMeta> | undefined;
  if (stored === null || typeof stored !== 'object' || typeof stored.entries !== 'number' || typeof stored.bytes !== 'number') return undefined;
  return { module, version: String(stored.version ?? ''), entries: stored.entries, bytes: stored.bytes, updatedAt: Number(stored.updatedAt ?? 0) };
}

/** The batch operation that writes `meta` with its counts moved by `entries` and `bytes` (never below zero). */
export function moduleMetaOperation(meta: ModuleMeta, change: { entries: number; bytes: number; version?: string }): BatchOperation<Uint8Array, unknown> {
  const value: ModuleMeta = {
    module: meta.module,
    version: change.version ?? meta.version,
    entries: Math.max(0, meta.entries + change.entries),
    bytes: Math.max(0, meta.bytes + change.bytes),
    updatedAt: Date.now(),
  };
  return { type: 'put', key: moduleMetaKey(meta.module), value };
}

/** Metadata of a module with nothing stored yet. */
export function emptyModuleMeta(module: string): ModuleMeta {
  return { module, version: '', entries: 0, bytes: 0, updatedAt: 0 };
}
