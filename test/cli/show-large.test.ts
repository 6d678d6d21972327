import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { removeScratch, runCli } from './cli-helpers.js';

afterAll(removeTempDirs);
afterAll(removeScratch);

/** 1.6 MB: over the default largeValueBytes, so a blob file; values 0.5, 1.5, … with one NaN. */
function field(): Float64Array {
  const values = Float64Array.from({ length: 200_000 }, (_, index) => index + 0.5);
  values[1000] = Number.NaN;
  return values;
}

describe('memostrata show of a large result', () => {
  it('summarises each large array where it is stored: type, length, first values, min, max, mean', async () => {
    const path = join(tempDir('memostrata-show-large-'), 'store');
    const cache = await openCache({ path, flush: 'manual', handleExit: false });
    await cache.memoize('field', (_n: number) => ({ values: field(), unit: 'K' }))(1);
    await cache.close();
    const ls = await runCli(['ls', 'field', '--json', '--store', path]);
    const call = (JSON.parse(ls.stdout) as { entries: { call: string }[] }).entries[0]!.call;

    const json = await runCli(['show', 'field', call.slice(0, 8), '--json', '--store', path]);
    expect(json.stderr).toBe('');
    const expected = field().filter((value) => !Number.isNaN(value));
    const mean = expected.reduce((sum, value) => sum + value, 0) / expected.length;
    expect(JSON.parse(json.stdout).result).toEqual({
      values: { $type: 'Float64Array', length: 200_000, first: [0.5, 1.5, 2.5, 3.5, 4.5], min: 0.5, max: 199_999.5, mean, nanCount: 1, truncated: true },
      unit: 'K',
    });
    const text = await runCli(['show', 'field', call.slice(0, 8), '--store', path]);
    expect(text.stdout).toContain('Float64Array(200000)');
  });
});
