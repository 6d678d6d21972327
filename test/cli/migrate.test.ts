import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/cache/store.js';
import { OpaqueTypes } from '../../src/cli/opaque-types.js';
import { FORMAT_VERSION, formatKey } from '../../src/layers/keys.js';
import { removeScratch, runCli, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

const fixture = new URL('../fixtures/v1-store', import.meta.url).pathname;

describe('memostrata migrate', () => {
  it('counts what an interrupted run already converted in keys', async () => {
    const path = join(scratchDir(), 'store');
    cpSync(fixture, path, { recursive: true });
    expect((await runCli(['migrate', path])).code).toBe(0);
    // What a run killed just before its last batch leaves: every key converted, the format still 1.
    const store = await openStore({ type: 'level', path }, new OpaqueTypes(), { checkFormat: false });
    await store.serialized.put(formatKey, 1, { sync: true });
    await store.proxy.close();

    const again = await runCli(['migrate', path]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`migrated format 1 to ${FORMAT_VERSION}: sealed 0 records, wrapped 0 saved states; calls stored before the migration have no recorded lineage\n11 keys already converted by an interrupted run\n`);
  });
});
