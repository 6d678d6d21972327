import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LevelBackend, levelError } from '../../src/backends/level-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { smashMiddle } from '../fixtures/bit-rot.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const COUNT = 3000;
const keyOf = (i: number) => utf8(`key-${String(i).padStart(5, '0')}`);
const valueOf = (i: number) => `value ${i} `.repeat(20);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : Buffer.from(value).toString('utf8'));

const opened: LevelBackend[] = [];
async function open(path: string): Promise<LevelBackend> {
  const store = await LevelBackend.open(path);
  opened.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(removeTempDirs);

/** A closed store of COUNT entries in table files, with one compressed block zeroed in the middle. */
async function damagedStore(): Promise<string> {
  const path = join(tempDir(), 'store');
  const store = await LevelBackend.open(path);
  for (let i = 0; i < COUNT; i += 1) await store.put(keyOf(i), utf8(valueOf(i)));
  await store.compact();
  await store.close();
  smashMiddle(path);
  return path;
}

/** Reads every key; returns the indices whose read failed, with the error. */
async function readAll(store: LevelBackend): Promise<{ failed: number[]; errors: unknown[] }> {
  const failed: number[] = [];
  const errors: unknown[] = [];
  for (let i = 0; i < COUNT; i += 1) {
    try {
      expect(text(await store.get(keyOf(i)))).toBe(valueOf(i));
    } catch (error) {
      failed.push(i);
      errors.push(error);
    }
  }
  return { failed, errors };
}

describe('LevelBackend on a store with a damaged table block', () => {
  it('rejects reads of the damaged block with CORRUPT, naming the store and verify --fix', async () => {
    const path = await damagedStore();
    const store = await open(path);
    const { failed, errors } = await readAll(store);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(COUNT / 10);
    for (const error of errors) {
      expect(error).toMatchObject({ name: 'MemostrataError', code: 'CORRUPT', message: expect.stringContaining(path) });
      expect((error as Error).message).toContain('memostrata verify --fix');
    }
  });

  it('rejects an iteration that reaches the damaged block with CORRUPT', async () => {
    const store = await open(await damagedStore());
    const iterate = async () => {
      for await (const _ of store.entries()) continue;
    };
    await expect(iterate()).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('repair() keeps every readable entry unchanged, drops the damaged block, and leaves the store open', async () => {
    const path = await damagedStore();
    const store = await open(path);
    const { failed } = await readAll(store);
    await store.repair();

    const kept = new Map<string, string>();
    for await (const [key, value] of store.entries()) kept.set(text(key)!, text(value)!);
    for (let i = 0; i < COUNT; i += 1) {
      const key = text(keyOf(i))!;
      if (failed.includes(i)) expect(kept.get(key)).toBeUndefined();
      else expect(kept.get(key)).toBe(valueOf(i));
    }
    expect(kept.size).toBe(COUNT - failed.length);
    await store.put(utf8('written after repair'), utf8('yes'));
    expect(text(await store.get(utf8('written after repair')))).toBe('yes');
  });

  it('says in the manifest that it can compact and repair', async () => {
    const store = await open(join(tempDir(), 'store'));
    expect(store.manifest).toMatchObject({ compact: true, repair: true });
  });
});

describe('compact', () => {
  it('gives the space of deleted values back to the file system on LevelDB', async () => {
    const store = await open(join(tempDir(), 'store'));
    for (let i = 0; i < 200; i += 1) await store.put(keyOf(i), randomBytes(100_000));
    await store.compact();
    for (let i = 0; i < 200; i += 1) await store.delete(keyOf(i));
    const before = (await store.sizeOnDisk())!;
    expect(before).toBeGreaterThan(200 * 100_000);
    await store.compact({ gte: keyOf(0), lte: keyOf(199) });
    expect(await store.sizeOnDisk()).toBeLessThan(before / 10);
  });

  it('is a no-op in memory, where nothing is on disk and nothing can be repaired', async () => {
    const store = new MemoryBackend();
    await store.put(keyOf(1), utf8('kept'));
    await store.compact();
    expect(text(await store.get(keyOf(1)))).toBe('kept');
    expect(await store.sizeOnDisk()).toBeUndefined();
    expect(store.manifest.repair ?? false).toBe(false);
    await expect(store.repair()).rejects.toMatchObject({ code: 'BACKEND' });
    await store.close();
  });
});

describe('LevelDB failures as MemostrataErrors', () => {
  /** An error shaped as classic-level gives it: a code, and the LevelDB status as message. */
  const levelDbError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('says to free space and then reopen the cache when the disk is full', () => {
    const error = levelError('/data/store', levelDbError('LEVEL_IO_ERROR', 'IO error: /data/store/000003.log: No space left on device'));
    expect(error).toMatchObject({ code: 'BACKEND', message: expect.stringContaining('No space left on device') });
    expect(error.message).toMatch(/Free disk space.*close the cache and open it again/);
  });

  it('says to reopen the cache after other IO errors', () => {
    const error = levelError('/data/store', levelDbError('LEVEL_IO_ERROR', 'IO error: /data/store/000005.ldb: Input/output error'));
    expect(error).toMatchObject({ code: 'BACKEND', message: expect.stringContaining('close the cache and open it again') });
  });

  it('finds a Corruption status given as the cause', () => {
    const wrapped = new Error('Iterator failed', { cause: levelDbError('LEVEL_CORRUPTION', 'Corruption: bad entry in block') });
    expect(levelError('/data/store', wrapped)).toMatchObject({ code: 'CORRUPT', message: expect.stringContaining('Corruption: bad entry in block') });
  });
});

describe('a repair that was killed', () => {
  /** The pid of a process that has exited. */
  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    return child.pid!;
  }

  async function storeWithEntries(path: string): Promise<void> {
    const store = await LevelBackend.open(path);
    for (let i = 0; i < 10; i += 1) await store.put(keyOf(i), utf8(valueOf(i)));
    await store.close();
  }

  it('between moving the store aside and the salvaged copy into place: the next open moves the copy into place', async () => {
    const directory = tempDir();
    const path = join(directory, 'store');
    const stamp = `${hostname()}-${await deadPid()}-${Date.now()}-0`;
    await storeWithEntries(join(directory, `.store.salvage-${stamp}`));
    mkdirSync(join(directory, `.store.damaged-${stamp}`));

    const store = await open(path);
    for (let i = 0; i < 10; i += 1) expect(text(await store.get(keyOf(i)))).toBe(valueOf(i));
    expect(readdirSync(directory)).toEqual(['store']);
  });

  it('leaves nothing of a dead repair beside the store, and keeps what a live process is writing', async () => {
    const directory = tempDir();
    const path = join(directory, 'store');
    await storeWithEntries(path);
    const dead = `${hostname()}-${await deadPid()}-${Date.now()}-0`;
    const live = `${hostname()}-${process.pid}-${Date.now()}-0`;
    for (const name of [`.store.salvage-${dead}`, `.store.damaged-${dead}`, `.store.salvage-${live}`]) mkdirSync(join(directory, name));

    const store = await open(path);
    expect(text(await store.get(keyOf(3)))).toBe(valueOf(3));
    expect(readdirSync(directory).sort()).toEqual([`.store.salvage-${live}`, 'store'].sort());
  });
});
