import { join } from 'node:path';
import { openCache } from '../../src/index.js';
import { fixturePath, spawnTsChild, type TsChild } from '../helpers/child-process.js';

/** The options of the busy-loop job (test/fixtures/busy-loop.ts), passed as JSON. */
export interface BusyLoopOptions {
  /** The flush policy's interval (ms). */
  everyMs: number;
  /** Bytes of each result beyond its number: 0 for a plain number. */
  resultBytes?: number;
  /** `memoryBudget` of the cache, if any. */
  memoryBudget?: number;
  /** Calls between two reports. */
  reportEvery: number;
  /** Calls after which the job prints `done` and exits; default never. */
  limit?: number;
}

/** The result the loop stores for call `i`. */
export function busyResult(i: number, resultBytes: number): number | { i: number; pad: Uint8Array } {
  return resultBytes === 0 ? i * 2 : { i, pad: new Uint8Array(resultBytes).fill(i & 0xff) };
}

/** The module the loop memoizes. */
export const BUSY_MODULE = 'busy.loop';

/** One report line of the busy loop. */
export interface BusyReport {
  calls: number;
  at: number;
  rss: number;
}

/** Parses `calls <n> at <ms> rss <bytes>` lines. */
export function busyReports(child: TsChild): BusyReport[] {
  return child.lines.flatMap((line) => {
    const match = /^calls (\d+) at (\d+) rss (\d+)$/.exec(line);
    return match === null ? [] : [{ calls: Number(match[1]), at: Number(match[2]), rss: Number(match[3]) }];
  });
}

/** Starts the busy-loop job on `path`. */
export function startBusyLoop(path: string, options: BusyLoopOptions): TsChild {
  return spawnTsChild(fixturePath('busy-loop.ts'), [path, JSON.stringify(options)]);
}

/** What one busy-loop kill round found. */
export interface BusyRoundResult {
  /** Calls the loop had made when it was killed (as far as its reports tell). */
  made: number;
  /** Calls it had made two flush intervals before the kill: these must be stored. */
  due: number;
  /** Of those, how many did not hit after the kill: must be 0. */
  lost: number;
  /** Calls stored in all. */
  stored: number;
}

/**
 * Runs the busy loop with `{ everyMs }` on a new store, SIGKILLs it after
 * `intervals` flush intervals of reports, and checks that every call made two
 * intervals before the kill hits with its value: the flush that was due came
 * on the call path, though no timer could fire.
 */
export async function busyLoopRound(dir: string, everyMs: number, intervals: number): Promise<BusyRoundResult> {
  const path = join(dir, 'cache');
  const child = startBusyLoop(path, { everyMs, reportEvery: 500 });
  const first = busyReportOf(await child.nextLine((line) => line.startsWith('calls ')));
  await child.nextLine((line) => line.startsWith('calls ') && busyReportOf(line).at >= first.at + intervals * everyMs);
  child.kill('SIGKILL');
  const killedAt = Date.now();
  await child.exited;

  const reports = busyReports(child);
  const made = reports.at(-1)?.calls ?? 0;
  const due = reports.filter((report) => report.at <= killedAt - 2 * everyMs).at(-1)?.calls ?? 0;
  const cache = await openCache({ path, handleExit: false, flush: 'manual' });
  try {
    let stored = 0;
    for await (const _ of cache.store.proxy.records(BUSY_MODULE)) stored += 1;
    let lost = 0;
    const f = cache.memoize(BUSY_MODULE, (_i: number) => {
      lost += 1;
      return -1;
    });
    for (let i = 0; i < due; i += 1) {
      if ((await f(i)) !== i * 2) lost += 1;
    }
    return { made, due, lost, stored };
  } finally {
    await cache.close();
  }
}

function busyReportOf(line: string): BusyReport {
  const [, calls, , at, , rss] = line.split(' ');
  return { calls: Number(calls), at: Number(at), rss: Number(rss) };
}
