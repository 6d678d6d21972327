import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// Through the package's own name, as in a user's project (dist/, built by test/global-setup.ts).
import { LevelBackend, MemoryBackend, openCache, type LayerConfig } from 'memostrata';
import { runDatabaseContract } from 'memostrata/testing';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { CompressLayer } from './example-compress-layer.js';

afterAll(removeTempDirs);

runDatabaseContract('CompressLayer over MemoryBackend (docs/extending.md)', { open: async () => new CompressLayer(new MemoryBackend()) });

const storeOf = new WeakMap<object, string>();
const compressedLevel = async (path: string): Promise<CompressLayer> => {
  const layer = new CompressLayer(await LevelBackend.open(path));
  storeOf.set(layer, path);
  return layer;
};
runDatabaseContract('CompressLayer over LevelBackend (docs/extending.md)', {
  open: () => compressedLevel(join(tempDir(), 'store')),
  reopen: (closed) => compressedLevel(storeOf.get(closed)!),
});

describe('a user byte layer in openCache', () => {
  it('stores compressed values under the stored keys and hits after a restart', async () => {
    const path = join(tempDir(), 'store');
    const layers: LayerConfig[] = [(below) => new CompressLayer(below)];
    const first = await openCache({ path, layers, handleExit: false });
    await first.memoize('pad', (n: number) => 'x'.repeat(n))(10_000);
    await first.close();
    const raw = await LevelBackend.open(path);
    let largest = 0;
    for await (const [, value] of raw.entries()) largest = Math.max(largest, value.length);
    await raw.close();
    expect(largest).toBeLessThan(1000);
    const second = await openCache({ path, layers, handleExit: false });
    let runs = 0;
    const pad = second.memoize('pad', (n: number) => {
      runs += 1;
      return 'x'.repeat(n);
    });
    expect(await pad(10_000)).toHaveLength(10_000);
    expect(runs).toBe(0);
    await second.close();
  });

  it('is the class docs/extending.md shows', () => {
    const docs = readFileSync(new URL('../../../docs/extending.md', import.meta.url), 'utf8');
    const source = readFileSync(new URL('./example-compress-layer.ts', import.meta.url), 'utf8');
    expect(docs).toContain(source.trim());
  });
});
