import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache, TypeRegistry } from '../../src/index.js';
import { Point } from '../helpers/user-types.js';
import { removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

/** A registry of this test's own: the CLI never has the user's classes, and must cope. */
function pointTypes(): TypeRegistry {
  const types = new TypeRegistry();
  types.register({ name: 'test.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: number[]) => new Point(x!, y!) });
  return types;
}

describe('registered types end to end: openCache, the store, a restart, and every CLI command', () => {
  it('hits after a restart with equal instances, and every command reads the store without the class', async () => {
    const dir = scratchDir();
    const path = join(dir, 'store');
    let runs = 0;
    const shift = (p: Point, by: number) => {
      runs += 1;
      return new Point(p.x + by, p.y + by);
    };
    let cache = await openCache({ path, handleExit: false, flush: 'manual', types: pointTypes() });
    expect(await cache.memoize('shift', shift)(new Point(1, 2), 1)).toEqual(new Point(2, 3));
    await cache.close();
    cache = await openCache({ path, handleExit: false, flush: 'manual', types: pointTypes() });
    const again = await cache.memoize('shift', shift)(new Point(1, 2), 1);
    expect(again).toBeInstanceOf(Point);
    expect(again).toEqual(new Point(2, 3));
    expect(runs).toBe(1);
    await cache.close();

    const { json: info } = await runJson(['info', path]);
    expect(info.types).toEqual(['test.Point']);
    const { json: listing } = await runJson(['ls', 'shift', '--store', path]);
    expect(listing.entries).toHaveLength(1);
    const { json: shown } = await runJson(['show', 'shift', listing.entries[0].call, '--store', path]);
    expect(shown.inputs[0]).toEqual({ $type: 'registered', name: 'test.Point', value: [1, 2] });
    expect(shown.result).toEqual({ $type: 'registered', name: 'test.Point', value: [2, 3] });
    for (const args of [
      ['stats', '--store', path],
      ['verify', '--store', path],
      ['backup', join(dir, 'backup'), '--store', path],
      ['diff', path, join(dir, 'backup')],
      ['export', join(dir, 'all.cbor'), '--store', path],
      ['import', join(dir, 'all.cbor'), '--store', join(dir, 'imported')],
      ['diff', path, join(dir, 'imported')],
      ['prune', '--dry-run', '--store', path],
    ]) {
      const run = await runCli(args);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    }

    // The imported copy serves the same hit to a program that has the class.
    cache = await openCache({ path: join(dir, 'imported'), handleExit: false, types: pointTypes() });
    expect(await cache.memoize('shift', shift)(new Point(1, 2), 1)).toEqual(new Point(2, 3));
    expect(runs).toBe(1);
    await cache.close();
  });
});
