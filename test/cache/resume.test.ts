import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { currentCall, openCache } from '../../src/index.js';
import { prefixRange } from '../../src/layers/keys.js';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { runJob, startJob } from './job.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('a resumable call', () => {
  it('gets its saved state back after SIGKILL, finishes, and its state is removed', async () => {
    const path = join(tempDir(), 'cache');
    const killed = startJob(path, { mode: 'resume', steps: 20, workMs: 15 });
    const progress = await killed.nextLine((line) => line === 'step 6');
    expect(progress).toBe('step 6');
    killed.kill('SIGKILL');
    await killed.exited;
    const lastSaved = Math.max(...killed.lines.filter((line) => line.startsWith('step ')).map((line) => Number(line.slice(5))));

    const resumed = await runJob(path, { mode: 'resume', steps: 20, workMs: 1 });
    const restored = Number(resumed.lines.find((line) => line.startsWith('restored '))?.slice('restored '.length));
    expect(restored).toBeGreaterThanOrEqual(lastSaved);
    expect(restored).toBeLessThan(20);
    // Steps before the restored one were not run again.
    expect(resumed.lines).not.toContain('step 1');
    expect(resumed.lines).toContain('result 210');

    // A third run hits: the call does not start again, and no saved state is left.
    const third = await runJob(path, { mode: 'resume', steps: 20 });
    expect(third.lines.some((line) => line.startsWith('restored'))).toBe(false);
    expect(third.lines).toContain('result 210');
    const cache = await openCache({ path, handleExit: false });
    const states = [];
    for await (const key of cache.store.serialized.keys(prefixRange('s!'))) states.push(key);
    expect(states).toEqual([]);
    await cache.close();
  });

  it('saves state only from inside a memoized call, and only serializable state', async () => {
    expect(() => currentCall()).toThrow(expect.objectContaining({ code: 'NO_CALL' }));
    const cache = await openCache({ backend: { type: 'memory' }, handleExit: false });
    const bad = cache.memoize('bad.state', async () => {
      await currentCall().save({ progress: 1, callback: () => 1 });
      return 1;
    });
    await expect(bad()).rejects.toMatchObject({ code: 'UNSERIALIZABLE', message: expect.stringContaining('state.callback') });
    await cache.close();
  });
});
