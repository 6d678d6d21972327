import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from 'memostrata';
import { runProcess } from '../lib/child.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { median, microsPerCall } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

/**
 * Debian's own interpreter: the first `python3` on PATH here is a separate
 * install that does not see Debian's python3-* packages.
 */
const PYTHON = '/usr/bin/python3';
const PACKAGES = ['python3-joblib', 'python3-diskcache', 'python3-numpy'];

interface PeerFigures {
  smallHit: number;
  smallMissStore: number;
  arrayHit: number;
  arrayMissStore: number;
}

interface PeerOutput {
  versions: Record<string, string>;
  joblib: PeerFigures;
  diskcache: PeerFigures;
}

function pythonReady(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import joblib, diskcache, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs the Debian packages when missing; returns why not when that is impossible. */
function ensurePython(log: (message: string) => void): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (Debian's python3).`;
  if (pythonReady()) return undefined;
  if (process.getuid?.() !== 0) return `${PACKAGES.join(', ')} are not installed and this is not root; run: sudo apt-get install -y ${PACKAGES.join(' ')}`;
  log(`installing ${PACKAGES.join(' ')} with apt-get (not timed)…`);
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (error) {
    return `apt-get install ${PACKAGES.join(' ')} failed: ${(error as Error).message.split('\n')[0]}`;
  }
  return pythonReady() ? undefined : `${PACKAGES.join(', ')} installed, but ${PYTHON} still cannot import them.`;
}

export const pythonPeers: Scenario = {
  name: 'python-peers',
  title: 'Python peers (joblib.Memory, diskcache) on the same job',
  async run({ quick, scratch, log }) {
    const missing = ensurePython(log);
    if (missing !== undefined) return { results: [], skipped: missing };
    const arrayMB = 8;
    const config = {
      dir: join(scratch, 'python'),
      smallHits: quick ? 500 : 2000,
      smallMisses: 500,
      arrayHits: quick ? 10 : 30,
      arrayMisses: quick ? 5 : 15,
      arrayMB,
      repetitions: quick ? 3 : 5,
    };

    // memostrata on the same job, with its LevelDB store. Miss + store: the
    // calls, then checkpoint() (fsync), amortized per call; the peers write
    // each result as the call returns (without fsync).
    const figures: Record<keyof PeerFigures, number[]> = { smallHit: [], smallMissStore: [], arrayHit: [], arrayMissStore: [] };
    const arrayLength = (arrayMB * 2 ** 20) / 8;
    const base = Float64Array.from({ length: arrayLength }, (_, i) => Math.sin(i * 0.001));
    const fresh = Array.from({ length: config.arrayMisses }, (_, i) => {
      const copy = base.slice();
      copy[0] = i + 1.5;
      return copy;
    });
    for (let round = 0; round <= config.repetitions; round++) {
      const cache = await openCache({ path: join(scratch, `peers-memostrata-${round}`), flush: 'manual', handleExit: false });
      const small = cache.memoize('bench.work', work);
      const big = cache.memoize('bench.workArray', (array: Float64Array) => array[0] as number);
      const keys = smallArgs(100);
      for (const args of keys) await small(...args);
      await cache.checkpoint();
      const hit = await microsPerCall(config.smallHits, (i) => small(...keys[i % keys.length]!));
      const missArgs = smallArgs(config.smallMisses, 1000);
      const miss = await microsPerCall(1, async () => {
        for (const args of missArgs) await small(...args);
        await cache.checkpoint();
      });
      await big(base);
      await cache.checkpoint();
      const arrayHit = await microsPerCall(config.arrayHits, () => big(base));
      const arrayMiss = await microsPerCall(1, async () => {
        for (const array of fresh) await big(array);
        await cache.checkpoint();
      });
      await cache.close();
      if (round > 0) {
        figures.smallHit.push(hit);
        figures.smallMissStore.push(miss / config.smallMisses);
        figures.arrayHit.push(arrayHit);
        figures.arrayMissStore.push(arrayMiss / config.arrayMisses);
      }
    }
    const ours = Object.fromEntries(Object.entries(figures).map(([key, values]) => [key, median(values)])) as unknown as PeerFigures;

    const script = fileURLToPath(new URL('../python/peers.py', import.meta.url));
    const { stdout } = await runProcess(PYTHON, [script, JSON.stringify(config)]);
    const peers = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as PeerOutput;

    const metrics: [keyof PeerFigures, string][] = [
      ['smallHit', 'hit, small args'],
      ['smallMissStore', 'miss + store, small args'],
      ['arrayHit', `hit, ${arrayMB} MB array arg`],
      ['arrayMissStore', `miss + store, ${arrayMB} MB array arg`],
    ];
    const results: BenchResult[] = [];
    for (const peer of ['joblib', 'diskcache'] as const) {
      for (const [key, label] of metrics) {
        results.push(
          result({
            scenario: 'python-peers',
            metric: `${label} vs ${peer}`,
            unit: 'µs/call',
            value: ours[key],
            baselineName: peer === 'joblib' ? 'joblib.Memory' : 'diskcache memoize',
            baseline: peers[peer][key],
            better: 'lower',
          }),
        );
      }
    }
    const versions = Object.entries(peers.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ');
    return {
      results,
      notes: [
        `python-peers: ${versions} (Debian packages, ${PYTHON}). Same trivial work functions; a new store per repetition, median of ${config.repetitions}. ` +
          `memostrata's miss + store is the calls then checkpoint() (fsync), per call; joblib and diskcache write each result as the call returns, without fsync. ` +
          `memostrata also stores each ${arrayMB} MB input (content-addressed, once); joblib and diskcache store only results (diskcache keys by the pickled argument).`,
      ],
    };
  },
};
