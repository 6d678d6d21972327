import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { writeAheadLogBytes } from '../../src/backends/level-files.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

const key = (index: number): Uint8Array => new TextEncoder().encode(`v!${String(index).padStart(8, '0')}`);

describe('closing a LevelDB store', () => {
  it('leaves no large write-ahead log for the next open to replay, and nothing is lost', async () => {
    const path = join(tempDir('memostrata-level-close-'), 'store');
    const db = await LevelBackend.open(path);
    const value = new Uint8Array(1000).fill(7);
    // One batch of ~6 MB: LevelDB writes it through its log into the in-memory table.
    await db.batch(Array.from({ length: 6000 }, (_, index) => ({ type: 'put' as const, key: key(index), value })));
    expect(writeAheadLogBytes(path)).toBeGreaterThan(5_000_000);
    await db.close();
    expect(writeAheadLogBytes(path)).toBeLessThan(1_000_000);
    const again = await LevelBackend.open(path);
    try {
      for (const index of [0, 5999]) expect(Buffer.from((await again.get(key(index)))!).equals(value)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('leaves a small log as it is (no flush for a few writes)', async () => {
    const path = join(tempDir('memostrata-level-close-'), 'store');
    const db = await LevelBackend.open(path);
    await db.put(key(1), new Uint8Array(100).fill(1));
    const before = writeAheadLogBytes(path);
    await db.close();
    expect(before).toBeGreaterThan(0);
    expect(writeAheadLogBytes(path)).toBe(before);
  });
});
