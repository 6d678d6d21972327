import { join } from 'node:path';
import { openCache, type BackendConfig } from 'memostrata';
import { startBenchRedis, redisMissingReason, type BenchRedis } from '../lib/redis-server.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { interleaved, microsPerCall } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

/*
 * What a lease costs per miss: one process making new calls on a store
 * processes share, with leases on (the default) and off, in the same run.
 * With a lease a miss reads the lease, claims it (a conditional write), reads
 * the record again, and stores its result durably in the write that releases
 * the lease; without, the result waits for the next checkpoint (here: one at
 * the end of each repetition, counted in). The work is trivial, so the
 * figure is the lease protocol's own cost: what a module of cheap calls pays.
 */
export const leaseCost: Scenario = {
  name: 'lease-cost',
  title: 'Lease cost per miss: leases on against off, one process, LMDB and Redis',
  async run({ quick, scratch, log }) {
    const calls = quick ? 300 : 2000;
    const repetitions = quick ? 3 : 5;
    const missing = redisMissingReason();
    let redis: BenchRedis | undefined;
    if (missing === undefined) redis = await startBenchRedis(scratch);
    const notes: string[] = [];
    if (missing !== undefined) notes.push(`Redis rows skipped: ${missing}.`);
    try {
      const backends: [string, (tag: string) => BackendConfig][] = [['LMDB', (tag) => ({ type: 'lmdb', path: join(scratch, `lease-${tag}`) })]];
      if (redis !== undefined) backends.push(['Redis', (tag) => ({ type: 'redis', url: redis!.url, prefix: `lease-${tag}:` })]);
      const results: BenchResult[] = [];
      for (const [name, backendOf] of backends) {
        let round = 0;
        const contender = (lease: boolean) => ({
          name: lease ? 'on' : 'off',
          run: async () => {
            const tag = `${name}-${lease ? 'on' : 'off'}-${(round += 1)}`;
            const cache = await openCache({ backend: backendOf(tag), handleExit: false, flush: 'manual', ...(lease ? {} : { lease: false as const }) });
            const f = cache.memoize('lease.cost', work);
            const args = smallArgs(calls);
            const started = performance.now();
            await microsPerCall(calls, (i) => f(...args[i]!));
            await cache.checkpoint();
            const perMiss = ((performance.now() - started) * 1000) / calls;
            await cache.close();
            return perMiss;
          },
        });
        const figures = await interleaved([contender(true), contender(false)], repetitions);
        log(`${name}: leases on ${figures.get('on')!.toFixed(1)} µs/miss, off ${figures.get('off')!.toFixed(1)} µs/miss`);
        results.push(
          result({
            scenario: 'lease-cost',
            metric: `miss + store with a lease, ${name} (${calls} new calls, one process)`,
            unit: 'µs/miss',
            value: figures.get('on')!,
            baselineName: 'the same calls with lease: false, checkpointed once',
            baseline: figures.get('off')!,
            better: 'lower',
            note: 'the difference is the lease protocol per miss: claim, re-read, a durable write of each result',
          }),
        );
      }
      return { results, notes };
    } finally {
      await redis?.stop();
    }
  },
};
