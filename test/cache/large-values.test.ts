import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);
const open = openedCaches();

/** Bytes of every file under `dir`, recursively, split into those under `dir/blobs` and the rest. */
function diskBytes(dir: string): { blobs: number; rest: number } {
  const sizes = { blobs: 0, rest: 0 };
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    sizes[file.startsWith(join(dir, 'blobs')) ? 'blobs' : 'rest'] += statSync(file).size;
  }
  return sizes;
}

/** The bytes of a typed array, for Buffer.compare: toEqual walks big arrays element by element, slowly. */
const bytesOf = (array: ArrayBufferView): Buffer => Buffer.from(array.buffer, array.byteOffset, array.byteLength);

/** A Float64Array of `length` distinct, non-trivial values (not all zero: a zero-filled read must not pass). */
function field(length: number, seed: number): Float64Array {
  const array = new Float64Array(length);
  for (let index = 0; index < length; index++) array[index] = Math.sin(index * 0.001 + seed) * 1e6 + index;
  return array;
}

const MB = 1024 * 1024;

describe('a 200 MB Float64Array result', () => {
  it('round-trips exactly through a restart as a blob file, not through LevelDB', async () => {
    const path = join(tempDir('memostrata-large-'), 'cache');
    const length = (200 * MB) / 8;
    const expected = field(length, 1);
    let runs = 0;
    const make = (seed: number): Float64Array => {
      runs += 1;
      return field(length, seed);
    };

    const first = await open(path, { flush: 'manual' });
    const simulate = first.memoize('large.simulate', make, { version: '1' });
    await simulate(1);
    await first.checkpoint();
    await first.close();

    const sizes = diskBytes(path);
    expect(sizes.blobs).toBeGreaterThanOrEqual(200 * MB);
    expect(sizes.blobs).toBeLessThan(201 * MB);
    // The database holds a reference; a value written through LevelDB's log would show here as 200 MB.
    expect(sizes.rest).toBeLessThan(1 * MB);

    const second = await open(path, { flush: 'manual' });
    const again = second.memoize('large.simulate', make, { version: '1' });
    const restored = await again(1);
    expect(runs).toBe(1);
    expect(restored).toBeInstanceOf(Float64Array);
    expect(restored.length).toBe(length);
    expect(Buffer.compare(bytesOf(restored), bytesOf(expected))).toBe(0);
  }, 120_000);
});

/** The one blob file of the store at `path`. */
function onlyBlob(path: string): string {
  const files = readdirSync(join(path, 'blobs'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.parentPath.endsWith('tmp'))
    .map((entry) => join(entry.parentPath, entry.name));
  expect(files).toHaveLength(1);
  return files[0]!;
}

describe('a blob with a flipped byte', () => {
  // Where the byte is: in the header (table, skeleton), in the array's bytes, or in the block checksums at the end.
  for (const [where, position] of [
    ['its header', () => 30],
    ['the middle of its array', (size: number) => Math.floor(size / 2)],
    ['its checksums', (size: number) => size - 3],
  ] as const) {
    it(`is never served as a hit when the flip is in ${where}: the call recomputes, warns, and a later process hits the rewritten value`, async () => {
      const path = join(tempDir('memostrata-large-'), 'cache');
      const module = `large.flipped.${where.replaceAll(' ', '-')}`;
      let runs = 0;
      const compute = (seed: number): { grid: Float64Array; seed: number } => {
        runs += 1;
        return { grid: field(300_000, seed), seed };
      };
      const first = await open(path, { flush: 'manual' });
      await first.memoize(module, compute, { version: '1' })(7);
      await first.checkpoint();
      await first.close();

      const file = onlyBlob(path);
      const bytes = readFileSync(file);
      bytes[position(bytes.length)]! ^= 0x01;
      writeFileSync(file, bytes);

      const warnings = captureWarnings();
      const second = await open(path, { flush: 'manual' });
      const again = second.memoize(module, compute, { version: '1' });
      const result = await again(7);
      expect(runs).toBe(2);
      expect(Buffer.compare(bytesOf(result.grid), bytesOf(field(300_000, 7)))).toBe(0);
      expect(second.stats().modules[module]).toMatchObject({ corrupt: 1, hits: 0, misses: 1 });
      expect((await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_CORRUPT' && warning.message.includes(module))).toHaveLength(1);
      await second.checkpoint();
      await second.close();

      const third = await open(path, { flush: 'manual' });
      const restored = await third.memoize(module, compute, { version: '1' })(7);
      expect(runs).toBe(2);
      expect(Buffer.compare(bytesOf(restored.grid), bytesOf(field(300_000, 7)))).toBe(0);
    });
  }
});
