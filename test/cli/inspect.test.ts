import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStore, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';
import { FORMAT_VERSION } from '../../src/layers/keys.js';
import { openCache, TypeRegistry } from '../../src/index.js';
import { Point } from '../helpers/user-types.js';

let store: string;

beforeAll(async () => {
  store = join(scratchDir(), 'store');
  await makeStore(store);
});
afterAll(removeScratch);

describe('memostrata info', () => {
  it('prints the format, backend, size on disk and each module with its call count', async () => {
    const run = await runCli(['info', store]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`store     ${store}`);
    expect(run.stdout).toMatch(new RegExp(`^format {4}${FORMAT_VERSION}$`, 'm'));
    expect(run.stdout).toMatch(/^backend {3}LevelDB/m);
    expect(run.stdout).toMatch(/^on disk {3}\d+(\.\d)? (B|KiB|MiB)$/m);
    expect(run.stdout).toMatch(/^module +version +calls +results +hits +last used$/m);
    expect(run.stdout).toMatch(/^geometry\.relax +1 +2 /m);
    expect(run.stdout).toMatch(/^physics\.energy +2 +3 /m);
  });

  it('gives the same facts as JSON', async () => {
    const { code, json } = await runJson(['info', '--store', store]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ store, formatVersion: FORMAT_VERSION, backend: 'level', records: 5, states: { count: 0, bytes: 0 }, types: [] });
    expect(json.sizeOnDisk).toBeGreaterThan(800_000);
    expect(json.modules.map((m: { name: string; version: string; entries: number; hits: number }) => [m.name, m.version, m.entries, m.hits])).toEqual([
      ['geometry.relax', '1', 2, 0],
      ['physics.energy', '2', 3, 2],
    ]);
  });
});

describe('memostrata ls', () => {
  it('lists every call with a short digest, times, hits, size and compute time', async () => {
    const run = await runCli(['ls', '--store', store]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^module +version +digest +created +last hit +hits +size +compute +saved$/);
    expect(lines).toHaveLength(6);
    const energyLines = lines.filter((line) => line.startsWith('physics.energy'));
    expect(energyLines).toHaveLength(3);
    for (const line of energyLines) expect(line).toMatch(/^physics\.energy +2 +[0-9a-f]{12} +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +(never|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +\d+ +\d+(\.\d)? KiB +\d/);
    expect(energyLines.filter((line) => / 2 +78\d KiB /.test(line) || / 2 +\d+(\.\d)? KiB /.test(line))).toHaveLength(1);
  });

  it('lists one module, sorted by hits, as JSON', async () => {
    const { code, json } = await runJson(['ls', 'physics.energy', '--sort', 'hits', '--store', store]);
    expect(code).toBe(0);
    expect(json.total).toBe(3);
    expect(json.entries.map((entry: { hits: number }) => entry.hits)).toEqual([2, 0, 0]);
    const [first] = json.entries;
    expect(Object.keys(first).sort()).toEqual(['call', 'computeMs', 'createdAt', 'deps', 'error', 'hits', 'lastHitAt', 'module', 'pinned', 'savedMs', 'size', 'version'].sort());
    expect(first).toMatchObject({ module: 'physics.energy', version: '2', deps: '', error: null, pinned: false });
    expect(first.call).toMatch(/^[0-9a-f]{32}$/);
    expect(first.size).toBeGreaterThan(800_000);
    expect(Date.parse(first.lastHitAt)).toBeGreaterThanOrEqual(Date.parse(first.createdAt));
    expect(first.savedMs).toBeCloseTo(first.hits * first.computeMs, 6);
  });

  it('sorts by size, largest first, and limits', async () => {
    const { json } = await runJson(['ls', '--sort', 'size', '--limit', '4', '--store', store]);
    expect(json.total).toBe(5);
    expect(json.entries).toHaveLength(4);
    const sizes = json.entries.map((entry: { size: number }) => entry.size);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(json.entries.slice(0, 3).every((entry: { module: string }) => entry.module === 'physics.energy')).toBe(true);
  });

  it('refuses an unknown sort key with exit 2', async () => {
    const run = await runCli(['ls', '--sort', 'colour', '--store', store]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^memostrata: .*colour/);
  });
});

describe('memostrata show', () => {
  async function digestOf(module: string, hits?: number): Promise<string> {
    const { json } = await runJson(['ls', module, '--store', store]);
    const entry = json.entries.find((candidate: { hits: number }) => hits === undefined || candidate.hits === hits);
    return entry.call as string;
  }

  it('decodes the inputs and summarises a large array instead of dumping it', async () => {
    const call = await digestOf('physics.energy', 2);
    const run = await runCli(['show', 'physics.energy', call.slice(0, 8), '--store', store]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`call      ${call}`);
    expect(run.stdout).toMatch(/^hits {6}2$/m);
    expect(run.stdout).toMatch(/^ {2}\[0\] 1$/m);
    expect(run.stdout).toMatch(/^ {2}\[1\] "sto-3g"$/m);
    expect(run.stdout).toContain('energy: -1.5');
    expect(run.stdout).toContain('grid: Float64Array(100000) [0, 0.1, 0.2, 0.3, 0.4, …] min 0 max 9999.9 mean 4999.95');
    expect(run.stdout.length).toBeLessThan(2000);
  });

  it('renders nested objects readably', async () => {
    const { json } = await runJson(['ls', 'geometry.relax', '--store', store]);
    const water = json.entries.find((entry: { size: number }) => entry.size === Math.max(...json.entries.map((e: { size: number }) => e.size)));
    const run = await runCli(['show', 'geometry.relax', water.call.slice(0, 10), '--store', store]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('atoms: ["O", "H", "H"]');
    expect(run.stdout).toContain('coords: [[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]]');
    expect(run.stdout).toContain('meta: { method: "bfgs", tolerance: 0.000001 }');
  });

  it('gives the inputs and a summary of the result as JSON', async () => {
    const call = await digestOf('physics.energy', 2);
    const { code, json } = await runJson(['show', 'physics.energy', call.slice(0, 8), '--store', store]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ module: 'physics.energy', version: '2', call, hits: 2, inputs: [1, 'sto-3g'], error: null });
    expect(json.result.energy).toBe(-1.5);
    expect(json.result.grid).toEqual({ $type: 'Float64Array', length: 100_000, first: [0, 0.1, 0.2, 0.3, 0.4], min: 0, max: 9999.9, mean: expect.closeTo(4999.95, 6), truncated: true });
  });

  it('exits 2 naming the candidates when a prefix is ambiguous, and when nothing matches', async () => {
    const ambiguous = await runCli(['show', 'physics.energy', '', '--store', store]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^memostrata: 3 records of physics\.energy have a call digest starting with "".*Give more digits\.\n$/);
    const none = await runCli(['show', 'physics.energy', 'ffffffffffffffff', '--store', store]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^memostrata: No record of physics\.energy/);
  });
});

describe('memostrata stats', () => {
  it('prints hits, misses and time saved per module, and totals', async () => {
    const run = await runCli(['stats', '--store', store]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^module +hits +misses +hit rate +compute +saved +results +version +older versions$/);
    expect(lines[1]).toMatch(/^geometry\.relax +0 +2 +0\.0% /);
    expect(lines[2]).toMatch(/^physics\.energy +2 +3 +40\.0% /);
    expect(lines[3]).toMatch(/^total +2 +5 +28\.6% /);
  });

  it('gives the same numbers as JSON, with time saved = Σ hits × compute time', async () => {
    const { code, json } = await runJson(['stats', '--store', store]);
    expect(code).toBe(0);
    const { json: listing } = await runJson(['ls', 'physics.energy', '--store', store]);
    const saved = listing.entries.reduce((sum: number, entry: { hits: number; computeMs: number }) => sum + entry.hits * entry.computeMs, 0);
    expect(json.modules).toEqual([
      { name: 'geometry.relax', hits: 0, misses: 2, hitRate: 0, computeMs: expect.any(Number), savedMs: 0, bytes: expect.any(Number), version: expect.any(String), versions: expect.any(Array) },
      {
        name: 'physics.energy',
        hits: 2,
        misses: 3,
        hitRate: 0.4,
        computeMs: expect.any(Number),
        savedMs: expect.closeTo(saved, 6),
        bytes: expect.any(Number),
        version: expect.any(String),
        versions: expect.any(Array),
      },
    ]);
    expect(json.total).toMatchObject({ hits: 2, misses: 5 });
    expect(json.total.savedMs).toBeCloseTo(saved, 6);
  });
});

describe('memostrata show --json encodes every kind of value', () => {
  it('gives each value that plain JSON cannot say a $type', async () => {
    const path = join(scratchDir(), 'kinds');
    const types = new TypeRegistry();
    types.register({ name: 'test.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: number[]) => new Point(x!, y!) });
    let deep: unknown = 'bottom';
    for (let level = 0; level < 20; level += 1) deep = { down: deep };
    const cache = await openCache({ path, handleExit: false, flush: 'manual', types });
    await cache.memoize('kinds', () => ({
      nan: NaN,
      infinity: -Infinity,
      negativeZero: -0,
      big: 12345678901234567890n,
      long: 'x'.repeat(500),
      nothing: undefined,
      deep,
      when: new Date(0),
      point: new Point(1, 2),
      small: Float32Array.of(1, 2),
      many: Array.from({ length: 50 }, (_, index) => `item ${index}`),
      map: new Map([['a', 1]]),
      set: new Set(['s']),
      $type: 'a user key',
    }))();
    await cache.close();

    const { json: listing } = await runJson(['ls', 'kinds', '--store', path]);
    const { code, json } = await runJson(['show', 'kinds', listing.entries[0].call, '--store', path]);
    expect(code).toBe(0);
    const result = json.result;
    expect(result.nan).toEqual({ $type: 'number', value: 'NaN' });
    expect(result.infinity).toEqual({ $type: 'number', value: '-Infinity' });
    expect(result.negativeZero).toEqual({ $type: 'number', value: '-0' });
    expect(result.big).toEqual({ $type: 'bigint', value: '12345678901234567890' });
    expect(result.long).toEqual({ $type: 'string', length: 500, first: 'x'.repeat(120) });
    expect(result.nothing).toEqual({ $type: 'undefined' });
    let node = result.deep;
    while (node.down !== undefined) node = node.down;
    expect(node).toEqual({ $type: 'elided' });
    expect(result.when).toEqual({ $type: 'Date', value: '1970-01-01T00:00:00.000Z' });
    expect(result.point).toEqual({ $type: 'registered', name: 'test.Point', value: [1, 2] });
    expect(result.small).toEqual({ $type: 'Float32Array', length: 2, values: [1, 2] });
    expect(result.many).toEqual({ $type: 'Array', length: 50, first: Array.from({ length: 20 }, (_, index) => `item ${index}`), truncated: true });
    expect(result.map).toEqual({ $type: 'Map', size: 1, entries: [['a', 1]], truncated: false });
    expect(result.set).toEqual({ $type: 'Set', size: 1, values: ['s'], truncated: false });
    expect(result.$$type).toBe('a user key');
  });
});
