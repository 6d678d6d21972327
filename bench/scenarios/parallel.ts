import { join } from 'node:path';
import { openCache, type CacheOptions } from 'memostrata';
import { runGang, type GangOutcome } from '../lib/gang.js';
import { redisMissingReason, startBenchRedis, type BenchRedis } from '../lib/redis-server.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { median } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

type Phase = 'hit' | 'miss';
type Backend = 'level' | 'lmdb' | 'redis';

const PROCESS_COUNTS = [1, 2, 4] as const;
const BACKEND_NAMES: Record<Backend, string> = { level: 'LevelDB', lmdb: 'LMDB', redis: 'Redis' };

/**
 * Cache options every worker of a run gets on top of its store. Lease cost
 * per miss (issue 10, leases on against off) goes here when leases land:
 * a second miss variant with `{ lease: false }` beside the default, run by
 * the same gangs, its ratio read as the lease's cost. Nothing else in the
 * scenario needs to change.
 */
const MISS_OPTIONS: CacheOptions = {};

/** What one contender is: a backend and a number of processes sharing its store. */
interface Contender {
  backend: Backend;
  processes: number;
}

export const parallel: Scenario = {
  name: 'parallel',
  title: 'Parallel workers: hit and miss throughput of 1, 2 and 4 processes sharing one store, on LMDB and on Redis',
  async run({ quick, scratch, log }) {
    /** Entries every hit worker reads (all workers read the same ones), and new calls each miss worker makes. */
    const hitEntries = quick ? 3_000 : 20_000;
    const missCalls = quick ? 1_000 : 5_000;
    const repetitions = quick ? 1 : 3;

    const missingRedis = redisMissingReason();
    if (missingRedis !== undefined) log(`Redis part skipped: ${missingRedis}`);
    const redis: BenchRedis | undefined = missingRedis === undefined ? await startBenchRedis(scratch) : undefined;
    try {
      const stores: Record<Backend, (tag: string) => CacheOptions> = {
        level: (tag) => ({ path: join(scratch, `parallel-level-${tag}`) }),
        lmdb: (tag) => ({ backend: { type: 'lmdb', path: join(scratch, `parallel-lmdb-${tag}`) } }),
        redis: (tag) => ({ backend: { type: 'redis', url: redis?.url ?? '', prefix: `bench-parallel-${tag}:` } }),
      };
      // LevelDB serves one process: its single-process figure is the baseline of the others' single-process figures.
      const contenders: Contender[] = [
        { backend: 'level', processes: 1 },
        ...(['lmdb', 'redis'] as const).filter((backend) => backend !== 'redis' || redis !== undefined).flatMap((backend) => PROCESS_COUNTS.map((processes) => ({ backend, processes }))),
      ];

      // One filled store per backend for the hit runs: every hit worker opens it anew, so each of its calls reads the store.
      for (const backend of new Set(contenders.map((contender) => contender.backend))) {
        const cache = await openCache({ ...stores[backend]('hits'), flush: 'manual', handleExit: false });
        const memo = cache.memoize('bench.parallel', work);
        const fill = smallArgs(hitEntries);
        // In checkpoints of 1,000, as the miss workers write: RedisBackend sends a batch as one command whose arguments
        // are spread into one call, which overflows the stack somewhere below 20k results (reported; src/ is not the bench's).
        for (let i = 0; i < fill.length; i++) {
          await memo(...(fill[i] as (typeof fill)[number]));
          if ((i + 1) % 1000 === 0) await cache.checkpoint();
        }
        await cache.close();
      }
      log(`hit stores filled: ${hitEntries.toLocaleString('en-US')} entries each`);

      const figures = new Map<string, GangOutcome[]>();
      const closeFailures = new Set<string>();
      const key = (phase: Phase, contender: Contender) => `${phase} ${contender.backend} ${contender.processes}`;
      let round = 0;
      // Interleaved, a round is every contender once, hits then misses; every miss run gets a new store and new calls.
      for (let repetition = 0; repetition < repetitions; repetition++) {
        for (const phase of ['hit', 'miss'] as const) {
          for (const contender of contenders) {
            const tag = phase === 'hit' ? 'hits' : `miss-${round++}`;
            const options = JSON.stringify({ ...stores[contender.backend](tag), ...(phase === 'miss' ? MISS_OPTIONS : {}) });
            const outcome = await runGang('parallel-worker', contender.processes, (worker) =>
              phase === 'hit' ? ['hit', options, String(hitEntries), '0'] : ['miss', options, String(missCalls), String(worker * missCalls)],
            );
            for (const error of outcome.closeErrors) closeFailures.add(`${key(phase, contender)} processes: ${error.slice(0, 300)}`);
            const list = figures.get(key(phase, contender)) ?? [];
            list.push(outcome);
            figures.set(key(phase, contender), list);
          }
        }
        log(`round ${repetition + 1} of ${repetitions} done`);
      }

      const aggregate = (phase: Phase, contender: Contender) => median((figures.get(key(phase, contender)) ?? []).map((outcome) => outcome.aggregate));
      /** The median over repetitions of the median worker's own rate. */
      const perProcess = (phase: Phase, contender: Contender) => median((figures.get(key(phase, contender)) ?? []).map((outcome) => median(outcome.perProcess)));
      const cpuPerCall = (phase: Phase, contender: Contender) => median((figures.get(key(phase, contender)) ?? []).map((outcome) => median(outcome.cpuMicrosPerCall)));
      const cores = (phase: Phase, contender: Contender) => median((figures.get(key(phase, contender)) ?? []).map((outcome) => outcome.coresUsed));
      const results: BenchResult[] = [];
      for (const phase of ['hit', 'miss'] as const) {
        const what = phase === 'hit' ? 'hit from the store' : 'miss + store';
        const levelOne = aggregate(phase, { backend: 'level', processes: 1 });
        for (const backend of ['lmdb', 'redis'] as const) {
          if (!contenders.some((contender) => contender.backend === backend)) continue;
          const name = BACKEND_NAMES[backend];
          const one = aggregate(phase, { backend, processes: 1 });
          results.push(
            result({ scenario: 'parallel', metric: `${what}, ${name}, 1 process`, unit: 'calls/s', value: one, baselineName: 'LevelDB, 1 process', baseline: levelOne, better: 'higher' }),
          );
          for (const processes of PROCESS_COUNTS.filter((count) => count > 1)) {
            const base = { scenario: 'parallel', unit: 'calls/s', baselineName: `${name}, 1 process`, baseline: one, better: 'higher' as const };
            results.push(
              result({ ...base, metric: `${what}, ${name}, ${processes} processes, aggregate`, value: aggregate(phase, { backend, processes }) }),
              result({ ...base, metric: `${what}, ${name}, ${processes} processes, per process`, value: perProcess(phase, { backend, processes }) }),
              result({
                scenario: 'parallel',
                metric: `${what}, ${name}, ${processes} processes, worker CPU per call`,
                unit: 'µs/call',
                value: cpuPerCall(phase, { backend, processes }),
                baselineName: `${name}, 1 process`,
                baseline: cpuPerCall(phase, { backend, processes: 1 }),
                better: 'lower',
              }),
            );
          }
        }
      }
      return {
        results,
        ...(missingRedis === undefined ? {} : { skipped: `the Redis half: ${missingRedis}` }),
        notes: [
          ...[...closeFailures].map((failure) => `parallel: a worker's close() failed after its figures were taken (${failure})`),
          `parallel, cores the workers had between them (CPU time over the span, median): ${contenders
            .flatMap((contender) => (['hit', 'miss'] as const).map((phase) => `${phase} ${BACKEND_NAMES[contender.backend]} ×${contender.processes} ${cores(phase, contender).toFixed(2)}`))
            .join(', ')}.`,
          `parallel: each run starts N worker processes (tsx loader, memostrata from dist/) that open the store, wait until all are open, then work at once. ` +
            `Hit: every worker awaits one call per entry of a store filled beforehand (${hitEntries.toLocaleString('en-US')} entries, the same ones in every worker), each read from the store as after a restart. ` +
            `Miss: every worker awaits ${missCalls.toLocaleString('en-US')} new calls of its own (no two workers share a call, so no computation is duplicated) with a checkpoint every 1,000 and at the end, into a new store each run. ` +
            `Aggregate = all workers' calls over the span from the first start to the last end; per process = the median worker's calls over its own span; worker CPU per call = the median worker's user + system CPU time over its calls (Redis's own CPU not included); closes (which write hit counters) come after every worker has reported. ` +
            `Redis: a redis-server of the bench's own on 127.0.0.1, no persistence, on the same 2 cores as the workers. Median of ${repetitions}, contenders interleaved.`,
        ],
      };
    } finally {
      await redis?.stop();
    }
  },
};
