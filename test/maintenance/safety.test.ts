import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModuleMeta } from '../../src/index.js';
import { backup, findRecords, prune, removeRecords, restore, verify } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

describe('removing records keeps the module metadata true', () => {
  it('recounts meta!module after removeRecords (what `memostrata rm` runs)', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const square = cache.memoize('square', (x: number) => x * x);
      for (const x of [1, 2, 3]) await square(x);
    });
    await withStore(path, async (store) => {
      expect(await readModuleMeta(store.serialized, 'square')).toMatchObject({ entries: 3 });
      const records = await findRecords(store, 'square', '');
      await removeRecords(store, records.slice(0, 2), { statePrefix: 's!square!' });
      expect(await readModuleMeta(store.serialized, 'square')).toMatchObject({ entries: 1, bytes: records[2]!.size });
    });
  });
});

describe('backup is never found half-written', () => {
  it('writes nothing at the destination until the copy is complete, and nothing at all when it fails', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('many', (x: number) => [x, x + 1]);
      for (let x = 0; x < 1500; x += 1) await f(x);
    });
    const dest = join(tempDir(), 'backup');
    const seen: boolean[] = [];
    await withStore(path, (store) => backup(store, dest, { onProgress: () => seen.push(existsSync(dest)) }));
    // Every report but the final one comes while the copy is still being written.
    expect(seen.slice(0, -1)).not.toContain(true);
    expect(seen.length).toBeGreaterThan(1);

    const failed = join(tempDir(), 'failed');
    const stop = new Error('interrupted');
    await expect(
      withStore(path, (store) =>
        backup(store, failed, {
          onProgress: (done) => {
            if (done >= 1000) throw stop;
          },
        }),
      ),
    ).rejects.toBe(stop);
    expect(existsSync(failed)).toBe(false);
  });
});

describe('saved states are never collected as garbage', () => {
  it('keeps s! entries through prune and verify --fix', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const { currentCall } = await import('../../src/index.js');
      const job = cache.memoize('job', async (n: number) => {
        await currentCall().save({ step: n, partial: new Float64Array([1, 2, 3]) });
        throw new Error('killed');
      });
      await job(7).catch(() => undefined);
    });
    await withStore(path, async (store) => {
      await prune(store, { olderThanMs: 0, now: Date.now() + 1 });
      const result = await verify(store, { fix: true });
      expect(result.problems).toEqual([]);
      let states = 0;
      for await (const key of store.backend.keys()) if (Buffer.from(key).toString().startsWith('s!job!')) states += 1;
      expect(states).toBe(1);
    });
  });
});

/** The entries of the store at `path`, key text to value hex. */
async function contents(path: string): Promise<Map<string, string>> {
  return withStore(path, async (store) => {
    const entries = new Map<string, string>();
    for await (const [key, value] of store.backend.entries()) entries.set(Buffer.from(key).toString('utf8'), Buffer.from(value).toString('hex'));
    return entries;
  });
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('restore --force that fails', () => {
  it('leaves the old store untouched and nothing beside it', async () => {
    const source = storePath();
    await fillStore(source, async (cache) => {
      const f = cache.memoize('many', (x: number) => [x, x + 1]);
      for (let x = 0; x < 1500; x += 1) await f(x);
    });
    const target = storePath();
    await fillStore(target, async (cache) => {
      await cache.memoize('old', (x: number) => x * 10)(7);
    });
    const before = await contents(target);
    const stop = new Error('interrupted');
    await expect(
      restore(source, target, {
        force: true,
        onProgress: (done) => {
          if (done >= 1000) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    expect(await contents(target)).toEqual(before);
    expect(readdirSync(dirname(target))).toEqual([basename(target)]);
  });
});

describe('backup and restore clean up after a killed run', () => {
  it('remove the copies of processes that are gone and of other hosts a day old, and keep live ones and moved-aside stores', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      await cache.memoize('f', (x: number) => x + 1)(1);
    });
    const directory = tempDir();
    const dest = join(directory, 'backup');
    const host = hostname();
    const dead = await deadPid();
    const now = Date.now();
    const stale = [`.backup.copying-${host}-${dead}-${now}-0`, `.backup.restoring-${host}-${dead}-${now}-0`, `.backup.copying-elsewhere-1-${now - 2 * 86_400_000}-0`];
    const kept = [`.backup.copying-${host}-${process.pid}-${now}-0`, `.backup.copying-elsewhere-1-${now}-0`, `.backup.replaced-${host}-${dead}-${now}-0`, `.other.copying-${host}-${dead}-${now}-0`];
    for (const name of [...stale, ...kept]) mkdirSync(join(directory, name));

    await withStore(path, (store) => backup(store, dest));
    expect(readdirSync(directory).sort()).toEqual(['backup', ...kept].sort());

    // restore cleans up beside the store it replaces, too.
    mkdirSync(join(directory, `.backup.restoring-${host}-${dead}-${now}-1`));
    await restore(path, dest, { force: true });
    expect(readdirSync(directory).sort()).toEqual(['backup', ...kept].sort());
  });
});

describe('backup and restore on a path under a regular file', () => {
  it('refuse with CONFIG naming the file, and leave nothing behind', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      await cache.memoize('f', (x: number) => x + 1)(1);
    });
    const file = join(tempDir(), 'afile.txt');
    writeFileSync(file, 'text');
    const refusal = { name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining(`${file} is a file`) };
    await expect(withStore(path, (store) => backup(store, join(file, 'sub')))).rejects.toMatchObject(refusal);
    await expect(restore(path, join(file, 'sub'))).rejects.toMatchObject(refusal);
    await expect(restore(join(file, 'sub'), storePath())).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining(join(file, 'sub')) });
    expect(readdirSync(dirname(file))).toEqual(['afile.txt']);
  });
});
