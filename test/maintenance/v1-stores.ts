import { openStore } from '../../src/cache/store.js';
import type { BatchOperation } from '../../src/contract/database.js';
import { currentCall, openCache } from '../../src/index.js';
import { formatKey, KeyPrefix, prefixRange } from '../../src/layers/keys.js';

/** The calls {@link makeV1Store} stores: enough records for several migration batches. */
export const GENERATED = { module: 'gen.sample', calls: 2500, resumeModule: 'gen.resume', states: 20 } as const;

export function generatedResult(i: number): { i: number; square: number; label: string; samples: Float64Array } {
  return { i, square: i * i, label: `call ${i}`, samples: Float64Array.from({ length: 8 }, (_, k) => i + k / 8) };
}

export function generatedState(i: number): { step: number; history: number[] } {
  return { step: i, history: Array.from({ length: i % 5 }, (_, k) => k * i) };
}

/**
 * Writes a store of format 1 at `path`: the calls are made by this release,
 * then every record loses its checksum and every saved state its wrapper
 * (a format-1 record is a format-2 record without `check`; a format-1 state
 * is the bare state), written back through the serialized layer with format 1.
 */
export async function makeV1Store(path: string): Promise<void> {
  const cache = await openCache({ path, handleExit: false, flush: 'manual' });
  const sample = cache.memoize(GENERATED.module, generatedResult);
  for (let i = 0; i < GENERATED.calls; i += 1) await sample(i);
  const resume = cache.memoize(GENERATED.resumeModule, async (i: number) => {
    await currentCall().save(generatedState(i));
    throw new Error('interrupted');
  });
  for (let i = 0; i < GENERATED.states; i += 1) await resume(i).catch(() => undefined);
  await cache.close();

  const store = await openStore({ type: 'level', path }, undefined, { checkFormat: false });
  try {
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    for await (const [key, record] of store.serialized.entries(prefixRange(KeyPrefix.record))) {
      const { check: _, ...v1Record } = record as { check?: string };
      operations.push({ type: 'put', key, value: v1Record });
    }
    for await (const [key, saved] of store.serialized.entries(prefixRange(KeyPrefix.state))) {
      operations.push({ type: 'put', key, value: (saved as { state: unknown }).state });
    }
    operations.push({ type: 'put', key: formatKey, value: 1 });
    await store.serialized.batch(operations, { sync: true });
  } finally {
    await store.proxy.close();
  }
}
