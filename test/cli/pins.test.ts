import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { openStore } from '../../src/cache/store.js';
import { readPins } from '../../src/maintenance/pins.js';
import { fixtureCache, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterEach(removeScratch);

const LARGE = 10_000;

/** A store with module `big` (four ~10 kB results) and module `small` (two tiny ones), closed. */
async function makePinStore(): Promise<string> {
  const path = join(scratchDir(), 'store');
  const cache = await fixtureCache(path);
  const big = cache.memoize('big', (i: number) => String(i).repeat(LARGE));
  const small = cache.memoize('small', (i: number) => i);
  for (let i = 0; i < 4; i++) await big(i);
  for (let i = 0; i < 2; i++) await small(i);
  await cache.close();
  return path;
}

interface Listed {
  call: string;
  module: string;
  pinned: boolean;
}

async function listed(store: string, ...args: string[]): Promise<Listed[]> {
  return (await runJson(['ls', ...args, '--store', store])).json.entries as Listed[];
}

describe('memostrata pin and unpin', () => {
  it('pins one call by digest prefix; ls shows it; prune --max-size in another process keeps it and says the pins exceed the limit', async () => {
    const store = await makePinStore();
    const [first] = await listed(store, 'big');
    const pinned = await runJson(['pin', 'big', '--call', first!.call.slice(0, 10), '--store', store]);
    expect(pinned).toMatchObject({ code: 0, json: { module: 'big', call: first!.call, pinned: true, changed: true } });
    expect((await runJson(['pin', 'big', '--call', first!.call, '--store', store])).json.changed).toBe(false);

    expect((await listed(store, 'big')).filter((entry) => entry.pinned).map((entry) => entry.call)).toEqual([first!.call]);
    expect((await listed(store, '--pinned')).map((entry) => entry.call)).toEqual([first!.call]);
    expect((await runCli(['ls', 'big', '--store', store])).stdout).toMatch(new RegExp(`${first!.call.slice(0, 12)}.*pinned`));

    const pruned = await runCli(['prune', '--max-size', '1kB', '--store', store]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain('note: pinned calls alone take');
    expect((await listed(store)).map((entry) => entry.call)).toEqual([first!.call]);
  });

  it('unpins, after which prune --max-size removes the call', async () => {
    const store = await makePinStore();
    const [first] = await listed(store, 'big');
    await runCli(['pin', 'big', '--call', first!.call, '--store', store]);
    const unpinned = await runJson(['unpin', 'big', '--call', first!.call.slice(0, 8), '--store', store]);
    expect(unpinned.json).toEqual({ module: 'big', call: first!.call, pinned: false, changed: true });
    expect((await runJson(['unpin', 'big', '--call', first!.call, '--store', store])).json.changed).toBe(false);
    await runCli(['prune', '--max-size', '0', '--store', store]);
    expect(await listed(store)).toEqual([]);
  });

  it('pins a module whole: a cache opened later with maxBytes evicts only the other module', async () => {
    const store = await makePinStore();
    expect((await runJson(['pin', 'small', '--store', store])).json).toEqual({ module: 'small', call: null, pinned: true, changed: true });
    const cache = await openCache({ path: store, handleExit: false, maxBytes: 0 });
    try {
      // A write is what makes a cache keep its store under maxBytes.
      await cache.memoize('big', (i: number) => String(i).repeat(LARGE))(9);
      await cache.checkpoint();
      await cache.evict();
    } finally {
      await cache.close();
    }
    expect((await listed(store)).map((entry) => [entry.module, entry.pinned])).toEqual([
      ['small', true],
      ['small', true],
    ]);
    // A call of a pinned module stays pinned when its own pin goes.
    const [one] = await listed(store, 'small');
    const unpin = await runCli(['unpin', 'small', '--call', one!.call, '--store', store]);
    expect(unpin.stdout).toContain('was not pinned; it stays pinned by its module');
    expect((await runJson(['unpin', 'small', '--call', one!.call, '--store', store])).json).toMatchObject({ pinned: true, changed: false });
    expect((await runJson(['unpin', 'small', '--store', store])).json).toEqual({ module: 'small', call: null, pinned: false, changed: true });
  });

  it('removes the pin with the call when the call is removed with rm, and every pin with clear', async () => {
    const store = await makePinStore();
    const [first] = await listed(store, 'big');
    await runCli(['pin', 'big', '--call', first!.call, '--store', store]);
    expect((await runCli(['rm', 'big', first!.call, '--yes', '--store', store])).code).toBe(0);
    const opened = await openStore({ type: 'level', path: store });
    try {
      expect((await readPins(opened)).empty).toBe(true);
    } finally {
      await opened.serialized.close();
    }
    const verified = await runJson(['verify', '--store', store]);
    expect(verified.code).toBe(0);
    await runCli(['pin', 'small', '--store', store]);
    expect((await runCli(['clear', '--yes', '--store', store])).code).toBe(0);
    const cleared = await openStore({ type: 'level', path: store });
    try {
      expect((await readPins(cleared)).empty).toBe(true);
    } finally {
      await cleared.serialized.close();
    }
  });

  it('carries pins through backup, export and import, and merge', async () => {
    const store = await makePinStore();
    const [first] = await listed(store, 'big');
    await runCli(['pin', 'big', '--call', first!.call, '--store', store]);
    await runCli(['pin', 'small', '--store', store]);
    const pinnedIn = async (path: string) => (await listed(path, '--pinned')).map((entry) => `${entry.module}!${entry.call}`).sort();
    const expected = await pinnedIn(store);
    expect(expected).toHaveLength(3);

    const backup = join(scratchDir(), 'backup');
    expect((await runCli(['backup', backup, '--store', store])).code).toBe(0);
    expect(await pinnedIn(backup)).toEqual(expected);

    const file = join(scratchDir(), 'store.export');
    expect((await runCli(['export', file, '--store', store])).code).toBe(0);
    const imported = join(scratchDir(), 'imported');
    const importRun = await runCli(['import', file, '--store', imported]);
    expect(importRun.stderr).toBe('');
    expect(await pinnedIn(imported)).toEqual(expected);

    const merged = join(scratchDir(), 'merged');
    const mergeRun = await runCli(['merge', store, '--into', merged]);
    expect(mergeRun.stderr).toBe('');
    expect(await pinnedIn(merged)).toEqual(expected);
  });

  it('refuses an unknown module, a digest no call has and a malformed digest, and writes nothing', async () => {
    const store = await makePinStore();
    const unknown = await runCli(['pin', 'nosuch', '--store', store]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no module nosuch');
    const missing = await runCli(['pin', 'big', '--call', 'ffffffffffff', '--store', store]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('No record of big');
    const malformed = await runJson(['pin', 'big', '--call', 'xyz', '--store', store]);
    expect(malformed.json.error.code).toBe('INVALID_ARGUMENT');
    expect(await listed(store, '--pinned')).toEqual([]);
  });
});
