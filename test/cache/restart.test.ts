import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { runJob, startJob } from './job.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('a restarted process', () => {
  it('hits for everything the first process checkpointed, without running the function', async () => {
    const path = join(tempDir(), 'cache');
    expect(await runJob(path, { count: 12, flush: 'manual', checkpointEvery: 12, end: 'exit' })).toMatchObject({ hits: 0, misses: 12 });
    expect(await runJob(path, { count: 12 })).toMatchObject({ hits: 12, misses: 0 });
  });

  it('misses after a version bump, and after a bump of a dependency’s version', async () => {
    const path = join(tempDir(), 'cache');
    await runJob(path, { count: 5 });
    expect(await runJob(path, { count: 5, version: '2' })).toMatchObject({ hits: 0, misses: 5 });
    expect(await runJob(path, { count: 5, version: '2', depVersion: '2' })).toMatchObject({ hits: 0, misses: 5 });
    expect(await runJob(path, { count: 5 })).toMatchObject({ hits: 5, misses: 0 });
  });

  it('gets LOCKED while another process holds the store', async () => {
    const path = join(tempDir(), 'cache');
    const holder = startJob(path, { count: 1, end: 'hang' });
    await holder.nextLine((line) => line === 'waiting');
    const { openCache } = await import('../../src/index.js');
    await expect(openCache({ path, handleExit: false })).rejects.toMatchObject({ code: 'LOCKED', message: expect.stringContaining('another process') });
  });
});
