import { join } from 'node:path';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { currentCall, openCache } from '../../src/index.js';
import { runCli, runJson, removeScratch, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

describe('memostrata leases', () => {
  it('lists the calls running now on a shared store, with owner, heartbeat and saved state, and none once they finish', async () => {
    const path = join(scratchDir(), 'shared');
    const cache = await openCache({ backend: { type: 'lmdb', path }, handleExit: false, flush: 'manual' });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let saved!: () => void;
    const savedOnce = new Promise<void>((resolve) => (saved = resolve));
    const long = cache.memoize('long.run', async (steps: number) => {
      await currentCall().save({ done: 1 });
      saved();
      await finished;
      return steps;
    });
    const running = long(3);
    await savedOnce;
    try {
      const { code, json } = await runJson(['--store', path, 'leases']);
      expect(code).toBe(0);
      expect(json.leases).toEqual([
        expect.objectContaining({ module: 'long.run', host: hostname(), pid: process.pid, savedState: true, ownerStatus: 'running', damaged: false }),
      ]);
      expect(json.leases[0].call).toMatch(/^[0-9a-f]{32}$/);
      const table = await runCli(['--store', path, 'leases']);
      expect(table.stdout).toContain(`${hostname()}:${process.pid}`);
      expect(table.stdout).toMatch(/long\.run\s+[0-9a-f]{12}/);
    } finally {
      finish();
      expect(await running).toBe(3);
    }
    expect((await runJson(['--store', path, 'leases'])).json.leases).toEqual([]);
    expect((await runCli(['--store', path, 'leases'])).stdout).toContain('no calls running');
    await cache.close();
  });
});
