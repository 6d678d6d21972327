import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache, type Cache } from '../../src/index.js';

/** The built command, as `npm install` links it. */
export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** How a run of the CLI ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  /** Working directory. Default: a fresh temporary directory (so `./.memostrata` is never the repository's). */
  cwd?: string;
  /** Extra environment; `MEMOSTRATA_CONFIG` is removed unless given here. */
  env?: Record<string, string>;
}

/** Runs `node dist/cli/main.js ...args` with stdin, stdout and stderr as pipes (no terminal). */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  const { MEMOSTRATA_CONFIG: _, ...inherited } = process.env;
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: options.cwd ?? scratchDir(),
    env: { ...inherited, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI with `--json` and parses stdout. */
export async function runJson<T = any>(args: readonly string[], options: RunOptions = {}): Promise<{ code: number | null; json: T; stderr: string }> {
  const run = await runCli([...args, '--json'], options);
  let json: T;
  try {
    json = JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`memostrata ${args.join(' ')} --json printed no JSON (exit ${run.code}).\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  return { code: run.code, json, stderr: run.stderr };
}

const scratch: string[] = [];

/** A new temporary directory, removed by {@link removeScratch}. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-cli-'));
  scratch.push(dir);
  return dir;
}

/** Removes every directory {@link scratchDir} made. */
export function removeScratch(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Opens a cache on `path` for building a fixture store (no exit hooks, manual flush). */
export function fixtureCache(path: string): Promise<Cache> {
  return openCache({ path, handleExit: false, flush: 'manual' });
}

/** A grid of 100 000 doubles: large enough that `show` must summarise it. */
export function bigGrid(): Float64Array {
  return Float64Array.from({ length: 100_000 }, (_, index) => index / 10);
}

/**
 * The standard fixture: module `physics.energy` (3 calls, one hit twice,
 * results hold a 100 000-element grid) and module `geometry.relax` (2 calls,
 * nested object results). Checkpointed and closed, so the CLI can take the lock.
 */
export async function makeStore(path: string): Promise<void> {
  const cache = await fixtureCache(path);
  const energy = cache.memoize('physics.energy', (x: number, basis: string) => ({ energy: -x * 1.5, basis, grid: bigGrid() }), { version: '2' });
  const relax = cache.memoize('geometry.relax', (molecule: { atoms: string[]; coords: number[][] }) => ({
    molecule,
    converged: true,
    steps: [1, 2, 3],
    meta: { method: 'bfgs', tolerance: 1e-6 },
  }));
  await energy(1, 'sto-3g');
  await energy(2, 'sto-3g');
  await energy(3, 'cc-pvdz');
  await energy(1, 'sto-3g');
  await energy(1, 'sto-3g');
  await relax({ atoms: ['O', 'H', 'H'], coords: [[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]] });
  await relax({ atoms: ['H', 'H'], coords: [[0, 0, 0], [0, 0, 0.74]] });
  await cache.close();
}
