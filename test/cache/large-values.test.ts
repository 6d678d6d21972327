import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeRegistry } from '../../src/index.js';
import { verify } from '../../src/maintenance/index.js';
import { bytesOf, field } from '../helpers/blob-files.js';
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

const MB = 1024 * 1024;

describe('a 200 MB Float64Array result', () => {
  it('round-trips exactly through a restart as a blob file, not through LevelDB, and f.stored() reads any range of it without computing', async () => {
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
    // Read in part first, before anything loads the whole result.
    expect(await again.stored(2)).toBeUndefined();
    const stored = (await again.stored(1))!;
    expect(runs).toBe(1);
    expect(stored.arrays.map(({ path: at, type, length: elements }) => ({ at, type, elements }))).toEqual([{ at: [], type: 'Float64Array', elements: length }]);
    const [array] = stored.arrays;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: length }), fc.nat({ max: length }), fc.nat({ max: 70_000 }), async (a, b, span) => {
        // Short ranges anywhere, and ranges across 64 KiB checksum blocks: [start, start + span) as well as [min, max).
        const [start, end] = a <= b ? [a, b] : [b, a];
        for (const [from, to] of [[start, Math.min(end, start + 1_000_000)], [start, Math.min(length, start + span)]] as const) {
          const part = await array!.read(from, to);
          expect(part).toBeInstanceOf(Float64Array);
          expect(Buffer.compare(bytesOf(part), bytesOf(expected.subarray(from, to)))).toBe(0);
        }
      }),
      { numRuns: 30, examples: [[0, 0, 0], [length, length, 0], [0, 1, 1], [length - 1, length, 1], [8191, 8193, 8192]] },
    );
    expect(runs).toBe(1);

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
  // Where the byte is: in the header (table, skeleton) or in the array's bytes.
  for (const [where, position] of [
    ['its header', () => 30],
    ['the middle of its array', (size: number) => Math.floor(size / 2)],
  ] as const) {
    it(`is never served when the flip is in ${where}: verify reports it, a read in part is CORRUPT, the call recomputes and warns, and the rewritten value hits later`, async () => {
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
      expect((await verify(second.store)).problems.map((problem) => problem.kind)).toContain('bad-blob');
      // Nor is it served in part: reading the array through f.stored() meets the damage.
      await expect((async () => (await again.stored(7))?.arrays[0]?.read())()).rejects.toMatchObject({ code: 'CORRUPT' });
      const result = await again(7);
      expect(runs).toBe(2);
      expect(Buffer.compare(bytesOf(result.grid), bytesOf(field(300_000, 7)))).toBe(0);
      expect(second.stats().modules[module]).toMatchObject({ corrupt: 1, hits: 0, misses: 1 });
      expect((await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_CORRUPT' && warning.message.includes(module))).toHaveLength(1);
      await second.checkpoint();
      expect((await verify(second.store)).problems).toEqual([]);
      await second.close();

      const third = await open(path, { flush: 'manual' });
      const restored = await third.memoize(module, compute, { version: '1' })(7);
      expect(runs).toBe(2);
      expect(Buffer.compare(bytesOf(restored.grid), bytesOf(field(300_000, 7)))).toBe(0);
    });
  }

  it('with the flip only in its block checksums, serves the intact array checked whole against its content digest, while verify and a read in part report the damage', async () => {
    const path = join(tempDir('memostrata-large-'), 'cache');
    let runs = 0;
    const compute = (seed: number): { grid: Float64Array; seed: number } => {
      runs += 1;
      return { grid: field(300_000, seed), seed };
    };
    const first = await open(path, { flush: 'manual' });
    await first.memoize('large.flipped.checksums', compute, { version: '1' })(7);
    await first.checkpoint();
    await first.close();

    const file = onlyBlob(path);
    const bytes = readFileSync(file);
    // The last CRC covers the array's last (partial) block.
    bytes[bytes.length - 3]! ^= 0x01;
    writeFileSync(file, bytes);

    const second = await open(path, { flush: 'manual' });
    const again = second.memoize('large.flipped.checksums', compute, { version: '1' });
    expect((await verify(second.store)).problems.map((problem) => problem.kind)).toContain('bad-blob');
    const stored = (await again.stored(7))!;
    await expect(stored.arrays[0]!.read(299_990, 300_000)).rejects.toMatchObject({ code: 'CORRUPT' });
    const result = await again(7);
    expect(Buffer.compare(bytesOf(result.grid), bytesOf(field(300_000, 7)))).toBe(0);
    expect(runs).toBe(1);
  });

  it('never serves a wrong value, whichever byte is flipped', async () => {
    const path = join(tempDir('memostrata-large-'), 'cache');
    const expected = field(300_000, 3);
    let runs = 0;
    const compute = (seed: number): { grid: Float64Array; seed: number } => {
      runs += 1;
      return { grid: field(300_000, seed), seed };
    };
    const first = await open(path, { flush: 'manual' });
    await first.memoize('large.flipped.any', compute, { version: '1' })(3);
    await first.checkpoint();
    await first.close();
    const file = onlyBlob(path);
    const original = readFileSync(file);

    await fc.assert(
      fc.asyncProperty(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (position, mask) => {
        const damaged = Buffer.from(original);
        damaged[position]! ^= mask;
        writeFileSync(file, damaged);
        const cache = await open(path, { flush: 'manual' });
        try {
          const result = await cache.memoize('large.flipped.any', compute, { version: '1' })(3);
          // Recomputed or served from a blob whose damage spared the array: either way the right bytes.
          expect(result.seed).toBe(3);
          expect(Buffer.compare(bytesOf(result.grid), bytesOf(expected))).toBe(0);
        } finally {
          await cache.close();
          // close() may have rewritten the blob: put the original back for the next run.
          writeFileSync(file, original);
        }
      }),
      { numRuns: 15, examples: [[0, 1], [original.length - 1, 128], [Math.floor(original.length / 2), 255]] },
    );
    expect(runs).toBeGreaterThan(1);
  });
});

describe('a large value read whole without its content digest', () => {
  /** Stores `compute(7)` of `module` at `path`, with `types`, and returns its blob file. */
  async function storeOne<T>(path: string, module: string, compute: (seed: number) => T, types?: TypeRegistry): Promise<string> {
    const first = await open(path, { flush: 'manual', types });
    await first.memoize(module, compute, { version: '1' })(7);
    await first.checkpoint();
    await first.close();
    return onlyBlob(path);
  }

  it('is never served when a block and its checksum were rewritten together: the blob no longer has its name', async () => {
    const path = join(tempDir('memostrata-large-'), 'cache');
    let runs = 0;
    const compute = (seed: number): { grid: Float64Array; seed: number } => {
      runs += 1;
      return { grid: field(300_000, seed), seed };
    };
    const file = await storeOne(path, 'large.rewritten', compute);
    // A foreign write that keeps every block consistent with its checksum: block 0 of the array and its xxh64.
    const bytes = readFileSync(file);
    const blocks = Math.ceil((300_000 * 8) / 65_536);
    const sums = bytes.length - 8 * blocks;
    const table = JSON.parse(bytes.subarray(24, 24 + bytes.readUInt32LE(8)).toString('utf8')) as { checksum: string };
    expect(table.checksum).toBe('xxh64');
    const segmentStart = sums - 300_000 * 8;
    bytes.writeDoubleLE(-1, segmentStart + 8);
    const { h64Raw } = await (await import('xxhash-wasm')).default();
    bytes.writeBigUInt64LE(h64Raw(bytes.subarray(segmentStart, segmentStart + 65_536), 0n), sums);
    writeFileSync(file, bytes);

    const warnings = captureWarnings();
    const second = await open(path, { flush: 'manual' });
    const result = await second.memoize('large.rewritten', compute, { version: '1' })(7);
    expect(Buffer.compare(bytesOf(result.grid), bytesOf(field(300_000, 7)))).toBe(0);
    expect(runs).toBe(2);
    expect((await warnings.stop()).map((warning) => warning.code)).toContain('MEMOSTRATA_CORRUPT');
    expect((await verify(second.store)).problems.map((problem) => problem.kind)).toContain('bad-blob');
  });

  it('is still checked against its digest when it holds a registered type, so a decode that differs from its encode is never served', async () => {
    class Lossy {
      constructor(
        readonly grid: Float64Array,
        readonly label: string,
      ) {}
    }
    const types = new TypeRegistry();
    // decode(encode(x)) differs from x: the label changes on the way back.
    types.register({ name: 'test.Lossy', type: Lossy, encode: (value) => ({ grid: value.grid, label: value.label }), decode: (plain) => new Lossy(plain.grid, `${plain.label}!`) });
    const path = join(tempDir('memostrata-large-'), 'cache');
    let runs = 0;
    const compute = (seed: number): Lossy => {
      runs += 1;
      return new Lossy(field(300_000, seed), 'energy');
    };
    await storeOne(path, 'large.lossy', compute, types);
    const warnings = captureWarnings();
    const second = await open(path, { flush: 'manual', types });
    const result = await second.memoize('large.lossy', compute, { version: '1' })(7);
    expect(result.label).toBe('energy');
    expect(runs).toBe(2);
    expect((await warnings.stop()).map((warning) => warning.code)).toContain('MEMOSTRATA_CORRUPT');
  });
});
