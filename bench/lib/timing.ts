import { performance } from 'node:perf_hooks';

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Milliseconds that `work` takes, once. */
export async function timeOnce(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** A contender in an interleaved comparison: `run` does one repetition and returns its figure. */
export interface Contender {
  name: string;
  run: () => Promise<number>;
}

/**
 * Runs every contender `repetitions` times, round-robin (A B C, A B C, …) so
 * that a burst of load from another process on this shared machine hits all
 * of them alike, after `warmup` unrecorded rounds. Returns the median figure
 * of each contender by name.
 */
export async function interleaved(contenders: readonly Contender[], repetitions: number, warmup = 1): Promise<Map<string, number>> {
  const figures = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < warmup + repetitions; round++) {
    for (const contender of contenders) {
      const figure = await contender.run();
      if (round >= warmup) figures.get(contender.name)?.push(figure);
    }
  }
  return new Map([...figures].map(([name, values]) => [name, median(values)]));
}

/**
 * Microseconds per call of `call` over `count` sequential awaited calls; the
 * `i`-th call gets `i` so that a contender can cycle through its keys.
 */
export async function microsPerCall(count: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await call(i);
  return ((performance.now() - started) * 1000) / count;
}
