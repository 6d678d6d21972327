import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ExitJobOptions } from '../fixtures/exit-job.js';
import { fixturePath, killRunningChildren, runTsChild, spawnTsChild, type TsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { runJob, startJob } from './job.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

const exitJob = fixturePath('exit-job.ts');

function startExitJob(path: string, options: ExitJobOptions): TsChild {
  return spawnTsChild(exitJob, [path, JSON.stringify(options)]);
}

/** Runs the exit job to its end (it must succeed) and returns its hits and misses. */
async function runExitJob(path: string, options: ExitJobOptions): Promise<{ hits: number; misses: number }> {
  const run = await runTsChild(exitJob, [path, JSON.stringify(options)]);
  if (run.code !== 0) throw new Error(`exit-job exited with ${run.code ?? run.signal}:\n${run.stderr}`);
  const stats = JSON.parse(run.lines.find((line) => line.startsWith('stats '))?.slice('stats '.length) ?? '{}') as { hits?: number; misses?: number };
  return { hits: stats.hits ?? 0, misses: stats.misses ?? 0 };
}

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

  it('writes results in the background on its interval without close(), so a job SIGKILLed after that flush keeps them', async () => {
    const path = join(tempDir(), 'cache');
    const job = startExitJob(path, { count: 3, flush: { everyMs: 100 }, end: 'idle' });
    // The job says so once its background flush left nothing pending; nothing else wrote.
    await job.nextLine((line) => line === 'written');
    job.kill('SIGKILL');
    expect(await job.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(await runExitJob(path, { count: 3, end: 'exit' })).toMatchObject({ hits: 3, misses: 0 });
  });
});

describe('the exit hooks', () => {
  it('end the process at once on a second signal while the first one still waits for a write', async () => {
    const path = join(tempDir(), 'cache');
    const job = startExitJob(path, { writes: 'hang', end: 'hang' });
    await job.nextLine((line) => line === 'waiting');
    job.kill('SIGTERM');
    // The close() of the first signal is stuck in a write that never finishes.
    await job.nextLine((line) => line === 'write started');
    job.kill('SIGTERM');
    expect(await job.exited).toMatchObject({ signal: 'SIGTERM' });
  });

  it('warn on stderr, with the count, about results that process.exit() left unwritten', async () => {
    const path = join(tempDir(), 'cache');
    const run = await runTsChild(exitJob, [path, JSON.stringify({ count: 3, end: 'process.exit' })]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/exited with 3 result\(s\) of the cache at .* not yet written; call `await cache\.close\(\)` before process\.exit\(\)/);
    // The warning is true: the next run finds nothing.
    expect(await runExitJob(path, { count: 3, end: 'exit' })).toMatchObject({ hits: 0, misses: 3 });
  });

  it('set exit status 1 and say why when the flush at normal exit fails', async () => {
    const path = join(tempDir(), 'cache');
    const run = await runTsChild(exitJob, [path, JSON.stringify({ count: 2, writes: 'fail', end: 'exit' })]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/could not write pending results of the cache at .*disk full \(injected by the test\)/);
  });

  it('leave SIGTERM to Node with handleExit: false: the process ends at once and writes nothing', async () => {
    const path = join(tempDir(), 'cache');
    const job = startExitJob(path, { count: 3, handleExit: false, end: 'hang' });
    await job.nextLine((line) => line === 'waiting');
    job.kill('SIGTERM');
    expect(await job.exited).toMatchObject({ signal: 'SIGTERM' });
    expect(await runExitJob(path, { count: 3, end: 'exit' })).toMatchObject({ hits: 0, misses: 3 });
  });
});
