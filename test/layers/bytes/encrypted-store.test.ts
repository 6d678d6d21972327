import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache, type Cache } from '../../../src/index.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { flipValueBytes, writeKeyFile } from './keys.js';

afterAll(removeTempDirs);

/** A string that is in results but in no key name (module names, digests). */
const MARKER = 'PATIENT-RECORD-7f3a';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function fillStore(cache: Cache, count: number): Promise<string[]> {
  const describe = cache.memoize('describe', (n: number) => `${MARKER} #${n}`);
  const results: string[] = [];
  for (let n = 0; n < count; n += 1) results.push(await describe(n));
  await cache.checkpoint();
  return results;
}

describe('an encrypted LevelDB store', () => {
  it('holds no plaintext of a stored result in any of its files', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, 'store.key');
    const path = join(dir, 'store');
    const cache = await openCache({ path, layers: [{ type: 'encrypt', keyFile }], handleExit: false });
    await fillStore(cache, 50);
    await cache.close();
    const files = filesUnder(path);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(readFileSync(file).includes(MARKER), file).toBe(false);
  });

  it('encrypts large values too (kept as chunks through the layers, not as plain blob files), and hits them after a restart', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, 'store.key');
    const path = join(dir, 'store');
    const options = { path, layers: [{ type: 'encrypt' as const, keyFile }], largeValueBytes: 64 * 1024, handleExit: false };
    const big = (n: number): string => `${MARKER} ${n} `.repeat(20_000);
    const cache = await openCache(options);
    await cache.memoize('big', big)(1);
    await cache.close();
    for (const file of filesUnder(path)) expect(readFileSync(file).includes(MARKER), file).toBe(false);
    const again = await openCache(options);
    let runs = 0;
    const reread = again.memoize('big', (n: number) => {
      runs += 1;
      return big(n);
    });
    expect(await reread(1)).toBe(big(1));
    expect(runs).toBe(0);
    await again.close();
  });

  it('finds the marker in the files of a plain store (so the check above can fail)', async () => {
    const path = join(tempDir(), 'store');
    const cache = await openCache({ path, handleExit: false });
    await fillStore(cache, 50);
    await cache.close();
    expect(filesUnder(path).some((file) => readFileSync(file).includes(MARKER))).toBe(true);
  });

  it('refuses a wrong key with KEY naming the key id, then hits every entry with the right key', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, 'store.key');
    const wrongFile = writeKeyFile(dir, 'wrong.key');
    const path = join(dir, 'store');
    const first = await openCache({ path, layers: [{ type: 'encrypt', keyFile }], handleExit: false });
    const results = await fillStore(first, 20);
    await first.close();

    const refused = openCache({ path, layers: [{ type: 'encrypt', keyFile: wrongFile }], handleExit: false });
    await expect(refused).rejects.toMatchObject({ code: 'KEY', message: expect.stringMatching(/encrypted with key [0-9a-f]{16}.*previousKeyFiles/) });

    const again = await openCache({ path, layers: [{ type: 'encrypt', keyFile }], handleExit: false });
    let runs = 0;
    const describe = again.memoize('describe', (n: number) => {
      runs += 1;
      return `recomputed ${n}`;
    });
    for (let n = 0; n < 20; n += 1) expect(await describe(n)).toBe(results[n]);
    expect(runs).toBe(0);
    await again.close();
  });

  it('opened without its layers, says which layer the store needs (CONFIG) and changes nothing', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, 'store.key');
    const path = join(dir, 'store');
    const layers = [{ type: 'encrypt' as const, keyFile }];
    const cache = await openCache({ path, layers, handleExit: false });
    const results = await fillStore(cache, 3);
    await cache.close();
    await expect(openCache({ path, handleExit: false })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('through the encrypt layer') });
    const again = await openCache({ path, layers, handleExit: false });
    const describe = again.memoize('describe', (n: number) => `recomputed ${n}`);
    expect(await Promise.all([0, 1, 2].map((n) => describe(n)))).toEqual(results);
    await again.close();
  });

  it('reads values of a previous key and writes with the new one', async () => {
    const dir = tempDir();
    const oldKey = writeKeyFile(dir, 'old.key');
    const newKey = writeKeyFile(dir, 'new.key');
    const path = join(dir, 'store');
    const first = await openCache({ path, layers: [{ type: 'encrypt', keyFile: oldKey }], handleExit: false });
    await fillStore(first, 5);
    await first.close();
    const rotated = await openCache({ path, layers: [{ type: 'encrypt', keyFile: newKey, previousKeyFiles: [oldKey] }], handleExit: false });
    let runs = 0;
    const describe = rotated.memoize('describe', (n: number) => {
      runs += 1;
      return `${MARKER} #${n}`;
    });
    for (let n = 0; n < 6; n += 1) await describe(n);
    expect(runs).toBe(1);
    await rotated.close();
  });

  it('never serves a value whose stored bytes were changed, and recomputes it', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, 'store.key');
    const path = join(dir, 'store');
    const layers = [{ type: 'encrypt' as const, keyFile }];
    const cache = await openCache({ path, layers, handleExit: false });
    const square = cache.memoize('square', (n: number) => ({ n, square: n * n, note: MARKER }));
    await square(7);
    await cache.close();
    expect(await flipValueBytes(path)).toBeGreaterThan(0);

    const reopened = await openCache({ path, layers, handleExit: false });
    let runs = 0;
    const again = reopened.memoize('square', (n: number) => {
      runs += 1;
      return { n, square: n * n, note: MARKER };
    });
    expect(await again(7)).toEqual({ n: 7, square: 49, note: MARKER });
    expect(runs).toBe(1);
    await reopened.close();
  });
});
