import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openCache, type Cache } from '../../src/index.js';
import type { Store } from '../../src/cache/store.js';
import { keyText } from '../../src/layers/keys.js';

/** A Float64Array of `length` elements (8 × length bytes), over the 1 MiB blob threshold from 131 073 elements on. */
export function ramp(length: number, scale = 1): Float64Array {
  return Float64Array.from({ length }, (_, index) => index * scale + 0.25);
}

/** 200 000 elements: a 1.6 MB result, kept as a blob. */
export const LARGE = 200_000;

/** Opens a cache of `kind` at `path`, lets `fill` memoize and call, checkpoints and closes. */
export async function fillKind(kind: 'level' | 'lmdb', path: string, fill: (cache: Cache) => Promise<void>): Promise<void> {
  const cache = await openCache({ backend: { type: kind, path }, handleExit: false, flush: 'manual' });
  try {
    await fill(cache);
    await cache.checkpoint();
  } finally {
    await cache.close();
  }
}

/** The blob files of a store in files (`<store>/blobs/<aa>/<id>`), without unfinished writes. */
export function blobFiles(storePath: string): string[] {
  const dir = join(storePath, 'blobs');
  let folders: string[];
  try {
    folders = readdirSync(dir);
  } catch {
    return [];
  }
  return folders.filter((folder) => /^[0-9a-f]{2}$/.test(folder)).flatMap((folder) => readdirSync(join(dir, folder)).map((name) => join(dir, folder, name)));
}

/** Σ of the sizes of a store's blob files. */
export function blobFileBytes(storePath: string): number {
  return blobFiles(storePath).reduce((sum, file) => sum + statSync(file).size, 0);
}

/** Every key of the store as text. */
export async function keysOf(store: Store): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.backend.keys()) keys.push(keyText(key));
  return keys;
}

/**
 * Stores a call of `module` with `inputs` and `result` straight through the
 * store's layers (as a checkpoint writes it: values, then the record), without
 * a Cache; its call digest is made from `call`.
 */
export async function storeCall(store: Store, module: string, call: number, inputs: unknown[], result: unknown): Promise<string> {
  const values = [...inputs, result].map((value) => ({ uuid: store.values.uuidOf(value), value }));
  const prepared = await store.values.internOperations(values);
  const callHex = call.toString(16).padStart(32, '0');
  const record = {
    module,
    version: '1',
    deps: '',
    call: callHex,
    inputs: values.slice(0, -1).map(({ uuid }) => uuid),
    result: values.at(-1)!.uuid,
    createdAt: Date.now(),
    computeMs: 1,
    size: 8,
    hits: 0,
    lastHitAt: 0,
  };
  await store.values.batch([...prepared.operations, store.proxy.recordOperation(record)]);
  prepared.commit();
  return callHex;
}
