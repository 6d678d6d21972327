import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { busyLoopRound, busyReports, startBusyLoop } from './busy-loop-round.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('a busy loop over synchronous calls, which never lets a timer fire', () => {
  it('has every call made up to two flush intervals before a SIGKILL stored', async () => {
    const result = await busyLoopRound(tempDir(), 200, 5);
    expect(result.due).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
    expect(result.stored).toBeGreaterThanOrEqual(result.due);
    expect(result.stored).toBeLessThanOrEqual(result.made + 500);
  });

  it('keeps the memory of the process bounded under a memory budget (1 MiB, results of 10 KB, 30k calls)', async () => {
    const child = startBusyLoop(join(tempDir(), 'cache'), { everyMs: 1000, resultBytes: 10_000, memoryBudget: 1 << 20, reportEvery: 5000, limit: 30_000 });
    await child.nextLine((line) => line === 'done');
    const reports = busyReports(child);
    expect(reports.at(-1)?.calls).toBe(30_000);
    // 30k results of 10 KB are 300 MB: kept in memory (as before the flush on the call path), the process reached 450 MB.
    expect(reports.at(-1)!.rss).toBeLessThan(300 << 20);
  });
});
