import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/index.js';
import { openStore } from '../../src/cache/store.js';
import { fixtureCache, makeStore, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterEach(removeScratch);

async function freshStore(): Promise<string> {
  const store = join(scratchDir(), 'store');
  await makeStore(store);
  return store;
}

async function entryCount(store: string, module?: string): Promise<number> {
  const { json } = await runJson(['ls', ...(module === undefined ? [] : [module]), '--store', store]);
  return json.total as number;
}

describe('memostrata rm and clear', () => {
  it('refuses without --yes when there is no terminal to ask on (exit 2), and removes nothing', async () => {
    const store = await freshStore();
    const run = await runCli(['rm', 'physics.energy', '--store', store]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('memostrata: refusing to remove calls without confirmation: there is no terminal to ask on; pass --yes to remove calls\n');
    const clear = await runCli(['clear', '--store', store]);
    expect(clear.code).toBe(2);
    expect(clear.stderr).toContain('pass --yes');
    expect(await entryCount(store)).toBe(5);
  });

  it('removes one call by digest prefix and frees only the values no other call uses', async () => {
    const store = await freshStore();
    const { json } = await runJson(['ls', 'physics.energy', '--sort', 'hits', '--store', store]);
    const hit = json.entries[0].call as string;
    const { code, json: removed } = await runJson(['rm', 'physics.energy', hit.slice(0, 10), '--yes', '--store', store]);
    expect(code).toBe(0);
    // Its input 1 and its result go; 'sto-3g' stays, energy(2, 'sto-3g') still uses it.
    expect(removed).toEqual({ cancelled: false, records: 1, states: 0, values: 2, bytes: expect.any(Number), blobs: 0, blobBytes: 0, disk: { before: expect.any(Number), after: expect.any(Number) } });
    expect(await entryCount(store, 'physics.energy')).toBe(2);
    expect((await runCli(['verify', '--store', store])).code).toBe(0);
  });

  it('removes a whole module and reports it', async () => {
    const store = await freshStore();
    const run = await runCli(['rm', 'geometry.relax', '-y', '--store', store]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^removed 2 calls; freed 4 values \(\d+ B\); on disk [\d.]+ \S+ -> [\d.]+ \S+\n$/);
    expect(await entryCount(store)).toBe(3);
  });

  it('gives back the disk space of the values it frees, and reports the size on disk before and after', async () => {
    const store = await freshStore();
    // physics.energy's three results each hold a grid of 100 000 doubles: most of the store.
    const { code, json } = await runJson(['rm', 'physics.energy', '--yes', '--store', store]);
    expect(code).toBe(0);
    expect(json.disk.before).toBeGreaterThan(1_000_000);
    expect(json.disk.after).toBeLessThan(json.disk.before / 4);
    const { json: info } = await runJson(['info', '--store', store]);
    expect(info.sizeOnDisk).toBeLessThan(json.disk.before / 4);
  });

  it('exits 2 when nothing matches', async () => {
    const store = await freshStore();
    const run = await runCli(['rm', 'no.such.module', '--yes', '--store', store]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^memostrata: no calls of module no\.such\.module in /);
  });

  it('clears every call and value with --yes', async () => {
    const store = await freshStore();
    const { code, json } = await runJson(['clear', '--yes', '--store', store]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ cancelled: false, records: 5, values: 12 });
    const { json: info } = await runJson(['info', '--store', store]);
    expect(info).toMatchObject({ records: 0, values: { count: 0, bytes: 0 }, modules: [] });
  });
});

describe('memostrata prune', () => {
  it("--stale-versions frees the old version's values but not values the current version still uses", async () => {
    const store = join(scratchDir(), 'store');
    const results: Record<number, Float64Array> = { 1: Float64Array.of(1, 1, 1), 2: Float64Array.of(2, 2, 2), 3: Float64Array.of(3, 3, 3) };
    const scan = (x: number) => results[x]!;
    const v1 = await fixtureCache(store);
    const old = v1.memoize('scan', scan, { version: 1 });
    await old(1);
    await old(2);
    await v1.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const v2 = await fixtureCache(store);
    const current = v2.memoize('scan', scan, { version: 2 });
    await current(2);
    await current(3);
    await v2.close();

    const { code, json } = await runJson(['prune', '--stale-versions', '--store', store]);
    expect(code).toBe(0);
    // The two version-1 records go; of their values only input 1 and result [1, 1, 1] are unused now.
    expect(json).toEqual({ dryRun: false, records: 2, byModule: { scan: 2 }, values: 2, bytes: expect.any(Number), blobs: 0, blobBytes: 0, disk: { before: expect.any(Number), after: expect.any(Number) } });
    const { json: listing } = await runJson(['ls', 'scan', '--store', store]);
    expect(listing.entries.map((entry: { version: string }) => entry.version)).toEqual(['2', '2']);
    expect((await runCli(['verify', '--store', store])).code).toBe(0);

    const after = await fixtureCache(store);
    const again = after.memoize('scan', (_x: number) => Float64Array.of(-1), { version: 2 });
    expect(await again(2)).toEqual(Float64Array.of(2, 2, 2));
    expect(await again(3)).toEqual(Float64Array.of(3, 3, 3));
    await after.close();
  });

  it('--older-than removes what was not used within the duration, and prints what it freed', async () => {
    const store = await freshStore();
    const keep = await runCli(['prune', '--older-than', '30d', '--store', store]);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toMatch(/^removed 0 calls; freed 0 values \(0 B\); on disk [\d.]+ \S+ -> [\d.]+ \S+\n$/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const all = await runCli(['prune', '--older-than', '10ms', '--module', 'geometry.relax', '--store', store]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^removed 2 calls \(geometry\.relax: 2\); freed 4 values \(\d+ B\); on disk [\d.]+ \S+ -> [\d.]+ \S+\n$/);
    expect(await entryCount(store)).toBe(3);
  });

  it('--max-size removes least recently used calls until the values fit; --dry-run removes nothing', async () => {
    const store = await freshStore();
    const dry = await runJson(['prune', '--max-size', '1KB', '--dry-run', '--store', store]);
    expect(dry.json).toMatchObject({ dryRun: true, records: 3, byModule: { 'physics.energy': 3 } });
    const dryText = await runCli(['prune', '--max-size', '1KB', '--dry-run', '--store', store]);
    expect(dryText.stdout).toMatch(/^would remove 3 calls \(physics\.energy: 3\); would free \d+ values \(/);
    expect(await entryCount(store)).toBe(5);
    const real = await runJson(['prune', '--max-size', '1KB', '--store', store]);
    expect(real.json).toMatchObject({ dryRun: false, records: 3, values: dry.json.values, bytes: dry.json.bytes });
    const { json: info } = await runJson(['info', '--store', store]);
    expect(info.values.bytes).toBeLessThanOrEqual(1024);
  });

  it('rejects a malformed duration or size with exit 2', async () => {
    const store = await freshStore();
    const duration = await runCli(['prune', '--older-than', 'soon', '--store', store]);
    expect(duration.code).toBe(2);
    expect(duration.stderr).toBe("memostrata: --older-than takes a duration such as 30d, 12h, 90min, 45s or 500ms; got 'soon'\n");
    const size = await runCli(['prune', '--max-size', '2 elephants', '--store', store]);
    expect(size.code).toBe(2);
    expect(size.stderr).toMatch(/^memostrata: --max-size takes a size/);
  });
});

describe('memostrata verify', () => {
  it('passes a sound store with exit 0', async () => {
    const store = await freshStore();
    const run = await runCli(['verify', '--store', store]);
    expect(run.code).toBe(0);
    // Every key counts: records, values, the format record, each module's metadata, and the hit
    // counter of the call that was hit (physics.energy(1, 'sto-3g'), hit twice).
    expect(run.stdout).toBe('ok: 21 keys checked, no problems\n');
  });

  it('finds exactly the keys corrupted on purpose (exit 1), and --fix removes only them', async () => {
    const store = await freshStore();
    // Break one value (the result of one geometry.relax call) and one physics.energy record.
    const opened = await openStore({ type: 'level', path: store });
    const records = [];
    for await (const record of opened.proxy.records()) records.push(record);
    await opened.proxy.close();
    const relax = records.find((record) => record.module === 'geometry.relax')!;
    const energy = records.find((record) => record.module === 'physics.energy')!;
    const brokenValue = `v!${relax.result}`;
    const brokenRecord = `m!physics.energy!${energy.call}`;
    // The broken record was hit: its hit counter goes with it.
    const itsCounter = `c!physics.energy!${energy.call}!0`;
    const backend = await LevelBackend.open(store);
    const encoder = new TextEncoder();
    await backend.put(encoder.encode(brokenValue), Uint8Array.of(0xff, 0x00, 0x13));
    await backend.put(encoder.encode(brokenRecord), Uint8Array.of(0x1c));
    await backend.close();

    const found = await runJson(['verify', '--store', store]);
    expect(found.code).toBe(1);
    const problems = found.json.problems.map((problem: { key: string; kind: string; fixable: boolean }) => [problem.key, problem.kind, problem.fixable]);
    expect(problems.sort()).toEqual(
      [
        [brokenRecord, 'corrupt', true],
        [itsCounter, 'orphan-counter', true],
        [`m!geometry.relax!${relax.call}`, 'bad-value', true],
        [brokenValue, 'corrupt', true],
      ].sort(),
    );
    const text = await runCli(['verify', '--store', store]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('4 problems in 21 keys checked');
    expect(text.stdout).toContain('run `memostrata verify --fix`');

    const fixed = await runJson(['verify', '--fix', '--store', store]);
    expect(fixed.code).toBe(1);
    expect([...fixed.json.removed].sort()).toEqual([brokenRecord, itsCounter, `m!geometry.relax!${relax.call}`, brokenValue].sort());
    const after = await runCli(['verify', '--store', store]);
    expect(after.code).toBe(0);
    expect(after.stdout).toBe('ok: 17 keys checked, no problems\n');
    expect(await entryCount(store)).toBe(3);
  });
});

describe('memostrata backup, restore, diff, export, import', () => {
  it('backs up a store; the backup has no differences (exit 0); a change shows up (exit 1)', async () => {
    const store = await freshStore();
    const copy = join(scratchDir(), 'backup');
    const backup = await runCli(['backup', copy, '--store', store]);
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(new RegExp(`^backed up 21 keys \\(\\d+(\\.\\d)? MiB\\) into ${copy}\\n$`));
    const same = await runCli(['diff', store, copy]);
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('no differences (5 calls in both)\n');

    const { json } = await runJson(['ls', 'geometry.relax', '--store', copy]);
    expect((await runCli(['rm', 'geometry.relax', json.entries[0].call, '--yes', '--store', copy])).code).toBe(0);
    const differs = await runCli(['diff', store, copy]);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toContain(`geometry.relax: +0 -1 ~0 (=1)\n  - ${json.entries[0].call.slice(0, 12)}\n`);
    expect(differs.stdout).toContain('calls: 0 only in B (+), 1 only in A (-), 0 changed (~), 4 the same\n');
    const asJson = await runJson(['diff', store, copy]);
    expect(asJson.code).toBe(1);
    expect(asJson.json).toMatchObject({ identical: false, records: { added: 0, removed: 1, changed: 0, same: 4 }, modules: [{ module: 'geometry.relax', removed: [json.entries[0].call] }] });
  });

  it('exports, imports into an empty store, and the two have no differences', async () => {
    const store = await freshStore();
    const file = join(scratchDir(), 'store.cbor');
    const exported = await runJson(['export', file, '--store', store]);
    expect(exported.code).toBe(0);
    expect(exported.json).toMatchObject({ file, entries: 21 });
    const empty = join(scratchDir(), 'imported');
    const imported = await runJson(['import', file, '--store', empty]);
    expect(imported.code).toBe(0);
    expect(imported.json).toMatchObject({ source: store, records: { added: 5, skipped: 0 }, values: { added: 12, skipped: 0 } });
    const compared = await runCli(['diff', store, empty]);
    expect(compared.code).toBe(0);
    expect(compared.stdout).toBe('no differences (5 calls in both)\n');
    const again = await runJson(['import', file, '--store', empty]);
    expect(again.json).toMatchObject({ records: { added: 0, skipped: 5 }, values: { added: 0, skipped: 12 } });
    const exportedText = await runCli(['export', file, '--force', '--store', store]);
    expect(exportedText.stdout).toMatch(new RegExp(`^exported 21 keys \\(\\d+(\\.\\d)? [KM]iB\\) to ${file}\\n$`));
    const importedText = await runCli(['import', file, '--store', empty]);
    expect(importedText.stdout).toMatch(/^imported .* \(exported from .* at .*, 21 keys\)\nrecords  0 added, 5 already present\n/);
    const clobber = await runCli(['export', file, '--store', store]);
    expect(clobber.code).toBe(2);
    expect(clobber.stderr).toMatch(/^memostrata: .*force/);
  });

  it('restores a backup into a new store, and replaces a store only with --force', async () => {
    const store = await freshStore();
    const copy = join(scratchDir(), 'backup');
    expect((await runCli(['backup', copy, '--store', store])).code).toBe(0);
    const target = join(scratchDir(), 'restored');
    const restored = await runJson(['restore', copy, target]);
    expect(restored.code).toBe(0);
    expect(restored.json).toMatchObject({ path: target, entries: 21 });
    const restoredText = await runCli(['restore', copy, join(scratchDir(), 'restored-too')]);
    expect(restoredText.stdout).toMatch(/^restored 21 keys \(/);
    expect((await runCli(['diff', store, target])).code).toBe(0);
    const other = await freshStore();
    const refused = await runCli(['restore', copy, other]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds data/);
    expect((await runCli(['restore', copy, other, '--force'])).code).toBe(0);
    expect((await runCli(['diff', store, other])).code).toBe(0);
    expect(existsSync(target)).toBe(true);
  });
});
