import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { runJob, startJob } from './job.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('the default flush policy', () => {
  it('flushes on normal exit when the program never calls close()', async () => {
    const path = join(tempDir(), 'cache');
    // An hour-long interval: only the exit hook can have written the entries.
    await runJob(path, { count: 6, flush: { everyMs: 3_600_000 }, end: 'exit' });
    expect(await runJob(path, { count: 6 })).toMatchObject({ hits: 6, misses: 0 });
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`flushes on ${signal} and then ends the process with that signal`, async () => {
      const path = join(tempDir(), 'cache');
      const job = startJob(path, { count: 4, flush: 'manual', end: 'hang' });
      await job.nextLine((line) => line === 'waiting');
      job.kill(signal);
      expect(await job.exited).toMatchObject({ signal });
      expect(await runJob(path, { count: 4 })).toMatchObject({ hits: 4, misses: 0 });
    });
  }

  it('only checkpoints on SIGINT when the program handles SIGINT itself, and leaves the process to it', async () => {
    const path = join(tempDir(), 'cache');
    const job = startJob(path, { count: 4, flush: 'manual', end: 'hang', ownSigint: true });
    await job.nextLine((line) => line === 'waiting');
    job.kill('SIGINT');
    await job.nextLine((line) => line === 'own handler');
    expect(await job.nextLine((line) => line.startsWith('pending '))).toBe('pending 0');
    // Still running: the program's handler decided not to exit.
    expect(job.process.exitCode).toBeNull();
    job.kill('SIGKILL');
    await job.exited;
    expect(await runJob(path, { count: 4 })).toMatchObject({ hits: 4, misses: 0 });
  });

  it('writes in the background within the interval, so a killed job loses at most one interval', async () => {
    const path = join(tempDir(), 'cache');
    const job = startJob(path, { count: 3, flush: { everyMs: 100 }, end: 'hang' });
    await job.nextLine((line) => line === 'waiting');
    await new Promise((resolve) => setTimeout(resolve, 600));
    job.kill('SIGKILL');
    await job.exited;
    expect(await runJob(path, { count: 3 })).toMatchObject({ hits: 3, misses: 0 });
  });
});
