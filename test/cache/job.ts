import type { JobOptions } from '../fixtures/cache-job.js';
import { fixturePath, runTsChild, spawnTsChild, type TsChild } from '../helpers/child-process.js';

const script = fixturePath('cache-job.ts');

/** Starts the child job on the store at `path`. */
export function startJob(path: string, options: JobOptions): TsChild {
  return spawnTsChild(script, [path, JSON.stringify(options)]);
}

/** Runs the child job to its end and returns its stats line, parsed. */
export async function runJob(path: string, options: JobOptions): Promise<{ hits: number; misses: number; lines: string[] }> {
  const run = await runTsChild(script, [path, JSON.stringify(options)]);
  if (run.code !== 0) throw new Error(`cache-job exited with ${run.code ?? run.signal}:\n${run.stderr}`);
  const statsLine = run.lines.find((line) => line.startsWith('stats '));
  const stats = JSON.parse(statsLine?.slice('stats '.length) ?? '{}') as { hits?: number; misses?: number };
  return { hits: stats.hits ?? 0, misses: stats.misses ?? 0, lines: run.lines };
}
