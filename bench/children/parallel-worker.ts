/**
 * One process of the parallel scenario (run by bench/lib/gang.ts, which
 * sends it `go` and `close` over IPC).
 *
 * Usage: parallel-worker.ts hit|miss <openCache options as JSON> <calls> <first argument offset>
 * hit: awaits one call per entry of a store another process filled (`calls` entries from offset 0),
 * each read from the store, as after a restart; every call must hit.
 * miss: awaits `calls` new calls of its own (from `offset`, so that no two workers share one), with a
 * checkpoint every {@link CHECKPOINT_EVERY} calls and at the end, as a job that shares its results would;
 * every call must miss. The JSON options carry the store and any cache option under test.
 * Sends { type: 'ready' } once the cache is open, then on `go` the timed work and
 * { type: 'report', startedAt, endedAt, calls, cpuMs }, then on `close` closes the cache (not timed), sends
 * { type: 'closed', closeError? } and exits.
 */
import { performance } from 'node:perf_hooks';
import { openCache, type CacheOptions } from 'memostrata';
import { smallArgs, work } from '../scenarios/small-args.js';

/** Misses between two checkpoints: other processes see a result at most this many calls after it was computed. */
export const CHECKPOINT_EVERY = 1000;

const [phase, optionsText, callsText, offsetText] = process.argv.slice(2);
if ((phase !== 'hit' && phase !== 'miss') || optionsText === undefined) {
  throw new Error('usage: parallel-worker.ts hit|miss <openCache options as JSON> <calls> <offset>');
}
const calls = Number(callsText);
const args = smallArgs(calls, Number(offsetText));

const cache = await openCache({ ...(JSON.parse(optionsText) as CacheOptions), flush: 'manual', handleExit: false });
const memo = cache.memoize('bench.parallel', work);
const message = (type: string) => new Promise<void>((resolve) => process.on('message', (text) => text === type && resolve()));
const go = message('go');
const closing = message('close');
process.send!({ type: 'ready' });
await go;

const now = () => performance.timeOrigin + performance.now();
const startedAt = now();
const cpuAtStart = process.cpuUsage();
if (phase === 'hit') {
  for (const callArgs of args) await memo(...callArgs);
} else {
  for (let i = 0; i < args.length; i++) {
    await memo(...(args[i] as (typeof args)[number]));
    if ((i + 1) % CHECKPOINT_EVERY === 0) await cache.checkpoint();
  }
  await cache.checkpoint();
}
const endedAt = now();
const cpu = process.cpuUsage(cpuAtStart);

const stats = cache.stats().modules['bench.parallel'];
const expected = phase === 'hit' ? { hits: calls, misses: 0 } : { hits: 0, misses: calls };
if (stats?.hits !== expected.hits || stats.misses !== expected.misses) {
  throw new Error(`parallel ${phase}: expected ${expected.hits} hits and ${expected.misses} misses, got ${stats?.hits} and ${stats?.misses}`);
}
process.send!({ type: 'report', startedAt, endedAt, calls, cpuMs: (cpu.user + cpu.system) / 1000 });
await closing;
// close() writes this worker's hit counters; a failure there is reported, not thrown, so that the figures stand.
let closeError: string | undefined;
try {
  await cache.close();
} catch (error) {
  closeError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
process.send!({ type: 'closed', closeError }, () => process.disconnect());
