import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/cache/store.js';
import type { MemoRecord } from '../../src/index.js';
import { KeyPrefix, prefixRange, usedByKey } from '../../src/layers/keys.js';
import { fixtureCache, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';
import { cpSync } from 'node:fs';

afterAll(removeScratch);

/**
 * A store with lineage: report(n) uses square(n) and cube(n) in parallel,
 * both use load(n); report(2) and an unrelated module stand beside them.
 */
async function makeLineageStore(path: string): Promise<void> {
  const cache = await fixtureCache(path);
  const load = cache.memoize('load', (n: number) => Array.from({ length: n }, (_, i) => i));
  const square = cache.memoize('square', async (n: number) => (await load(n)).map((x) => x * x));
  const cube = cache.memoize('cube', async (n: number) => (await load(n)).map((x) => x * x * x));
  const report = cache.memoize('report', async (n: number) => Promise.all([square(n), cube(n)]), { version: '2' });
  const unrelated = cache.memoize('unrelated', (n: number) => n);
  await report(3);
  await report(2);
  await unrelated(3);
  await cache.close();
}

/** Every stored record, by module, from the store at `path`. */
async function storedRecords(path: string): Promise<MemoRecord[]> {
  const store = await openStore({ type: 'level', path });
  try {
    const records: MemoRecord[] = [];
    for await (const record of store.proxy.records()) records.push(record);
    return records;
  } finally {
    await store.proxy.close();
  }
}

async function callOf(path: string, module: string, uses?: string): Promise<string> {
  const records = (await storedRecords(path)).filter((record) => record.module === module);
  // The call of `n = 3`: load(3) is used by square(3); pick by the one whose lineage names `uses`, else the larger result.
  const sorted = records.sort((a, b) => b.size - a.size);
  if (uses === undefined) return sorted[0]!.call;
  return sorted.find((record) => record.uses?.some((ref) => ref.call === uses))!.call;
}

let pristine: string;
let load3: string;
let square3: string;
let cube3: string;
let report3: string;

beforeAll(async () => {
  pristine = join(scratchDir(), 'store');
  await makeLineageStore(pristine);
  load3 = await callOf(pristine, 'load');
  square3 = await callOf(pristine, 'square', load3);
  cube3 = await callOf(pristine, 'cube', load3);
  report3 = await callOf(pristine, 'report', square3);
});

function copy(): string {
  const path = join(scratchDir(), 'store');
  cpSync(pristine, path, { recursive: true });
  return path;
}

describe('memostrata lineage', () => {
  it('prints the tree a result was computed from, with a call reached twice shown once, and the calls computed from it', async () => {
    const path = copy();
    const run = await runCli(['lineage', 'report', report3.slice(0, 8), '--store', path]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const short = (call: string) => call.slice(0, 12);
    const [first, second] = (await storedRecords(path)).find((record) => record.call === report3)!.uses!;
    const line = (ref: { module: string; call: string }) => `${ref.module} v1 ${short(ref.call)}`;
    expect(run.stdout).toBe(
      [
        `report v2 ${short(report3)}`,
        'computed from:',
        `  ├─ ${line(first!)}`,
        `  │  └─ load v1 ${short(load3)}`,
        `  └─ ${line(second!)}`,
        `     └─ load v1 ${short(load3)} (shown above)`,
        'used by:',
        '  (no stored calls)',
        '',
      ].join('\n'),
    );
  });

  it('prints the calls computed from a leaf, transitively, as JSON too', async () => {
    const path = copy();
    const { code, json } = await runJson<Record<string, unknown>[]>(['lineage', 'load', load3, '--store', path]);
    expect(code).toBe(0);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ module: 'load', call: load3, state: 'stored', version: '1', uses: [] });
    const usedBy = json[0]!.usedBy as { module: string; call: string; children: { module: string; call: string; cut?: string }[] }[];
    expect(usedBy.map((node) => node.call).sort()).toEqual([square3, cube3].sort());
    const reports = usedBy.flatMap((node) => node.children);
    expect(reports.map((node) => [node.module, node.call])).toEqual([
      ['report', report3],
      ['report', report3],
    ]);
    expect(reports.filter((node) => node.cut === 'repeated')).toHaveLength(1);
  });

  it('stops each tree at --depth', async () => {
    const path = copy();
    const run = await runCli(['lineage', 'report', report3, '--depth', '1', '--store', path]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('(…: deeper than --depth)');
    expect(run.stdout).not.toContain('load');
  });

  it('refuses a prefix no call has, naming ls', async () => {
    const path = copy();
    const run = await runCli(['lineage', 'report', 'ffffffffffffffff', '--store', path]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('memostrata ls report');
  });
});

describe('memostrata rm --cascade', () => {
  it('lists with --dry-run what would go: the call and every call computed from it, and removes nothing', async () => {
    const path = copy();
    const before = await storedRecords(path);
    const { code, json } = await runJson<{ dryRun: boolean; calls: { module: string; call: string }[] }>(['rm', 'load', load3, '--cascade', '--dry-run', '--store', path]);
    expect(code).toBe(0);
    expect(json.dryRun).toBe(true);
    expect(json.calls.map((call) => `${call.module} ${call.call}`).sort()).toEqual([`load ${load3}`, `square ${square3}`, `cube ${cube3}`, `report ${report3}`].sort());
    expect(await storedRecords(path)).toEqual(before);

    const text = await runCli(['rm', 'load', load3, '--cascade', '--dry-run', '--store', path]);
    expect(text.stdout).toContain('dry run: would remove 4 calls; nothing was removed');
  });

  it('removes exactly the call and the calls computed from it, and their lineage keys; the store verifies clean', async () => {
    const path = copy();
    const before = await storedRecords(path);
    const run = await runCli(['rm', 'square', square3, '--cascade', '--yes', '--store', path]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('removed 2 calls');
    const gone = new Set([square3, report3]);
    expect((await storedRecords(path)).map((record) => record.call).sort()).toEqual(before.map((record) => record.call).filter((call) => !gone.has(call)).sort());

    const store = await openStore({ type: 'level', path });
    try {
      const lineageKeys: string[] = [];
      for await (const key of store.backend.keys(prefixRange(KeyPrefix.usedBy))) lineageKeys.push(Buffer.from(key).toString());
      // report(3)'s keys and square(3)'s are gone; cube(3) still used load(3).
      expect(lineageKeys).toContain(Buffer.from(usedByKey('load', load3, 'cube', cube3)).toString());
      expect(lineageKeys.some((key) => key.includes(square3) || key.includes(report3))).toBe(false);
    } finally {
      await store.proxy.close();
    }
    const verified = await runCli(['verify', '--store', path]);
    expect(verified.stdout).toContain('no problems');
  });

  it('without --cascade removes only the calls named', async () => {
    const path = copy();
    const run = await runCli(['rm', 'load', load3, '--yes', '--store', path]);
    expect(run.code).toBe(0);
    const left = (await storedRecords(path)).map((record) => record.call);
    expect(left).not.toContain(load3);
    expect(left).toEqual(expect.arrayContaining([square3, cube3, report3]));
  });
});
