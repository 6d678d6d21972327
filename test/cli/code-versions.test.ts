import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureCache, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterEach(removeScratch);

/** Two builds of one program: the code of `scale` changed between them. */
const original = new Function('return (x) => x * 2;')() as (x: number) => number;
const edited = new Function('return (x) => x * 3;')() as (x: number) => number;

/** A store where module `scale` has calls of two code versions (three of the original, one of the edit). */
async function storeWithTwoVersions(): Promise<{ store: string; before: string; after: string }> {
  const store = join(scratchDir(), 'store');
  const first = await fixtureCache(store);
  const old = first.memoize('scale', original, { version: 'auto' });
  for (const x of [1, 2, 3]) await old(x);
  await first.close();
  const second = await fixtureCache(store);
  const current = second.memoize('scale', edited, { version: 'auto' });
  await current(1);
  await second.close();
  return { store, before: old.version, after: current.version };
}

describe('code versions in the CLI', () => {
  it('stats shows each module’s current version and its older ones', async () => {
    const { store, before, after } = await storeWithTwoVersions();
    const { code, json } = await runJson(['stats', '--store', store]);
    expect(code).toBe(0);
    expect(json.modules[0]).toMatchObject({
      name: 'scale',
      version: after,
      versions: [
        { version: after, entries: 1, current: true },
        { version: before, entries: 3, current: false },
      ],
    });
    const text = await runCli(['stats', '--store', store]);
    expect(text.stdout).toMatch(new RegExp(`scale .*${after} +1 \\(3 calls\\)`));
  });

  it('ls shows the whole auto: version of each call, and show says whether it is the current code', async () => {
    const { store, before, after } = await storeWithTwoVersions();
    const { json } = await runJson(['ls', 'scale', '--store', store]);
    expect(json.entries.map((entry: { version: string }) => entry.version).sort()).toEqual([before, before, before, after].sort());
    const listing = await runCli(['ls', 'scale', '--store', store]);
    expect(listing.stdout).toContain(before);

    const old = json.entries.find((entry: { version: string }) => entry.version === before).call as string;
    const shown = await runCli(['show', 'scale', old.slice(0, 10), '--store', store]);
    expect(shown.stdout).toContain(`version   ${before} (older code: the module's current version is ${after}; prune --stale-versions removes this call)`);
    const { json: shownJson } = await runJson(['show', 'scale', old.slice(0, 10), '--store', store]);
    expect(shownJson).toMatchObject({ version: before, currentVersion: after, stale: true });
  });

  it('prune --stale-versions --dry-run counts the older code’s calls; without it they go', async () => {
    const { store, after } = await storeWithTwoVersions();
    const dry = await runJson(['prune', '--stale-versions', '--dry-run', '--store', store]);
    expect(dry.json).toMatchObject({ dryRun: true, records: 3, byModule: { scale: 3 } });
    expect((await runJson(['ls', 'scale', '--store', store])).json.total).toBe(4);
    const { json } = await runJson(['prune', '--stale-versions', '--store', store]);
    expect(json).toMatchObject({ dryRun: false, records: 3, byModule: { scale: 3 } });
    const { json: listing } = await runJson(['ls', 'scale', '--store', store]);
    expect(listing.entries.map((entry: { version: string }) => entry.version)).toEqual([after]);
  });
});
