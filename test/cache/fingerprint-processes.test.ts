import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixturePath, killRunningChildren, runTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

interface EnergyRun {
  version: string;
  hits: number;
  misses: number;
  values: number[];
}

/** Runs the energy function of `source` (a fixture file) memoized with version 'auto', in a new process, on the store at `path`. */
async function runEnergy(path: string, source: string): Promise<EnergyRun> {
  const run = await runTsChild(fixturePath('fingerprint/run-energy.ts'), [path, pathToFileURL(fixturePath(`fingerprint/${source}`)).href]);
  if (run.code !== 0) throw new Error(`run-energy exited with ${run.code ?? run.signal}:\n${run.stderr}`);
  const line = run.lines.find((text) => text.startsWith('result '));
  return JSON.parse(line!.slice('result '.length)) as EnergyRun;
}

describe("version: 'auto' across processes (TypeScript run through tsx)", () => {
  it('hits after a comment-only edit, misses after a code edit, and hits again after the revert', async () => {
    const path = join(tempDir(), 'cache');
    const original = await runEnergy(path, 'energy-original.ts');
    expect(original).toMatchObject({ hits: 0, misses: 3, values: [10, 18, 12] });
    expect(original.version).toMatch(/^auto:[0-9a-f]{16}$/);

    const commented = await runEnergy(path, 'energy-comment-edit.ts');
    expect(commented).toEqual({ ...original, hits: 3, misses: 0 });

    const edited = await runEnergy(path, 'energy-code-edit.ts');
    expect(edited).toMatchObject({ hits: 0, misses: 3, values: [18, 54, 20] });
    expect(edited.version).not.toBe(original.version);

    // The old entries were kept: going back to the original code finds them.
    expect(await runEnergy(path, 'energy-original.ts')).toEqual({ ...original, hits: 3, misses: 0 });
  });
});
