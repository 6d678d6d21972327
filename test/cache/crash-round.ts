import { join } from 'node:path';
import { openCache } from '../../src/index.js';
import type { MemoRecord } from '../../src/layers/proxy-object-database.js';
import { startJob } from './job.js';

/** What one crash round found. */
export interface CrashRoundResult {
  policy: 'write-through' | 'checkpoint';
  /** Calls the job saw return (write-through) or checkpoint (checkpoint policy) before it was killed. */
  promised: number;
  /** Of those, how many were not hits after the kill: must be 0. */
  lost: number;
  /** Stored records whose values did not load or did not match their inputs: must be 0. */
  broken: number;
  /** Records in the store after the kill. */
  records: number;
}

const random = (below: number): number => Math.floor(Math.random() * below);

/**
 * Runs the child job on a new store, kills it with SIGKILL at a random
 * moment, reopens the store and checks every promise the job was given.
 */
export async function crashRound(dir: string, policy: CrashRoundResult['policy']): Promise<CrashRoundResult> {
  const path = join(dir, 'cache');
  const count = 400;
  const job = startJob(path, policy === 'write-through' ? { count, flush: 'write-through', workMs: 1 } : { count, flush: 'manual', checkpointEvery: 7, workMs: 1 });
  // Let it get going, then kill it at a random moment: mid-call, mid-batch or mid-fsync.
  await job.nextLine((line) => line.startsWith('ack '));
  await new Promise((resolve) => setTimeout(resolve, 20 + random(250)));
  job.kill('SIGKILL');
  await job.exited;

  const acknowledged = job.lines.filter((line) => line.startsWith(policy === 'write-through' ? 'ack ' : 'checkpoint ')).map((line) => Number(line.split(' ')[1]));
  const promised = acknowledged.length === 0 ? 0 : Math.max(...acknowledged) + 1;

  const cache = await openCache({ path, handleExit: false });
  try {
    let runs = 0;
    const offset = cache.memoize('job.offset', (x: number) => x, { version: '1' });
    const square = cache.memoize(
      'job.square',
      (x: number) => {
        runs += 1;
        return { x, square: new Float64Array([x * x]), label: `square of ${x}` };
      },
      { version: '1', dependsOn: [offset] },
    );
    let lost = 0;
    for (let i = 0; i < promised; i += 1) {
      const before = runs;
      await square(i);
      if (runs !== before) lost += 1;
    }
    let broken = 0;
    let records = 0;
    const all: MemoRecord[] = [];
    for await (const record of cache.store.proxy.records('job.square')) all.push(record);
    for (const record of all) {
      records += 1;
      try {
        const { inputs, result } = await cache.store.proxy.unproxy(record);
        const x = inputs[0] as number;
        const value = result as { x: number; square: Float64Array };
        if (value.x !== x || value.square[0] !== x * x) broken += 1;
      } catch {
        broken += 1;
      }
    }
    return { policy, promised, lost, broken, records };
  } finally {
    await cache.close();
  }
}
