import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { openCache } from 'memostrata';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { median, timeOnce } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

type LayerList = NonNullable<Parameters<typeof openCache>[0]>['layers'];
type BackendKind = 'level' | 'lmdb';

/**
 * What the byte layers (issue 13) cost: checkpoint() of many small new
 * results and the hits of a new Cache on the same store ("after restart":
 * nothing of the store is in the cache's memory), each stack against the
 * plain stack measured in the same rounds on the same backend.
 */
export const layers: Scenario = {
  name: 'layers',
  title: 'Byte layers: checkpoint and hit after restart with encrypt, sign (HMAC, Ed25519) and both, vs the plain stack, on LevelDB and LMDB',
  async run({ quick, scratch, log }) {
    const entries = quick ? 5_000 : 10_000;
    const repetitions = 3;
    const args = smallArgs(entries);

    const keyFile = join(scratch, 'layers-store.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const secretFile = join(scratch, 'layers-sign.key');
    writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const pair = generateKeyPairSync('ed25519');
    const privateKeyFile = join(scratch, 'layers-writer.pem');
    writeFileSync(privateKeyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const publicKeyFile = join(scratch, 'layers-writer.pub.pem');
    writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));

    const stacks: { name: string; layers: LayerList }[] = [
      { name: 'plain', layers: [] },
      { name: 'encrypt', layers: [{ type: 'encrypt', keyFile }] },
      { name: 'sign (HMAC)', layers: [{ type: 'sign', secretFile }] },
      { name: 'sign (Ed25519)', layers: [{ type: 'sign', privateKeyFile, publicKeyFiles: [publicKeyFile] }] },
      // The README's order: signed plaintext, then encrypted.
      { name: 'sign (HMAC) + encrypt', layers: [{ type: 'sign', secretFile }, { type: 'encrypt', keyFile }] },
    ];
    const backends: BackendKind[] = ['level', 'lmdb'];

    let round = 0;
    /** One repetition: a new store filled with `entries` calls, checkpoint() timed, closed, a new Cache reading every entry timed. */
    const once = async (backend: BackendKind, layerList: LayerList): Promise<{ checkpoint: number; hits: number; load: number }> => {
      const path = join(scratch, `layers-${backend}-${round++}`);
      const options = { backend: { type: backend, path }, layers: layerList, flush: 'manual' as const, handleExit: false };
      const writer = await openCache(options);
      // No leases on LMDB: each leased miss is a durable write of its own (lease-cost measures that).
      const fill = writer.memoize('bench.layers', work, { lease: false });
      for (const callArgs of args) await fill(...callArgs);
      const checkpointMs = await timeOnce(() => writer.checkpoint());
      await writer.close();

      const reader = await openCache(options);
      const read = reader.memoize('bench.layers', work, { lease: false });
      const readMs = await timeOnce(async () => {
        for (const callArgs of args) await read(...callArgs);
      });
      const stats = reader.stats();
      await reader.close();
      const hits = stats.modules['bench.layers']?.hits ?? 0;
      if (hits !== entries) throw new Error(`layers bench: ${hits} hits of ${entries} after restart on ${backend} (${JSON.stringify(layerList)})`);
      return { checkpoint: entries / (checkpointMs / 1000), hits: entries / (readMs / 1000), load: loadavg()[0] ?? NaN };
    };

    const results: BenchResult[] = [];
    const loads: number[] = [];
    for (const backend of backends) {
      const figures = new Map<string, { checkpoint: number[]; hits: number[] }>(stacks.map((stack) => [stack.name, { checkpoint: [], hits: [] }]));
      // Round-robin over the stacks, so that a burst of load from others on this shared machine hits all alike; one warm-up round.
      for (let r = 0; r < repetitions + 1; r++) {
        for (const stack of stacks) {
          const figure = await once(backend, stack.layers);
          loads.push(figure.load);
          if (r === 0) continue;
          figures.get(stack.name)?.checkpoint.push(figure.checkpoint);
          figures.get(stack.name)?.hits.push(figure.hits);
        }
        log(`${backend}: round ${r + 1} of ${repetitions + 1} done (load ${loads.at(-1)?.toFixed(1)})`);
      }
      const plain = figures.get('plain')!;
      const label = backend === 'level' ? 'LevelDB' : 'LMDB';
      for (const stack of stacks.slice(1)) {
        const mine = figures.get(stack.name)!;
        results.push(
          result({
            scenario: 'layers',
            metric: `${label}, ${stack.name}: checkpoint() of ${entries / 1000}k new small results`,
            unit: 'entries/s',
            value: median(mine.checkpoint),
            baselineName: 'the plain stack, same calls',
            baseline: median(plain.checkpoint),
            better: 'higher',
          }),
          result({
            scenario: 'layers',
            metric: `${label}, ${stack.name}: hit after restart (new Cache reads ${entries / 1000}k entries)`,
            unit: 'hits/s',
            value: median(mine.hits),
            baselineName: 'the plain stack, same calls',
            baseline: median(plain.hits),
            better: 'higher',
          }),
        );
      }
      results.push(
        result({
          scenario: 'layers',
          metric: `${label}, plain stack: checkpoint() / hit after restart (absolute, for scale)`,
          unit: 'entries/s',
          value: median(plain.checkpoint),
          baselineName: 'hits/s of the same stores',
          baseline: median(plain.hits),
          better: 'higher',
        }),
      );
    }
    return {
      results,
      notes: [
        `layers: each repetition fills a new store with ${entries.toLocaleString('en-US')} calls of small-args' work (no leases), times checkpoint(), closes, opens a new Cache on it in the same process and times awaiting every call (all hits, read from the store through the layers). ` +
          `Stacks run round-robin, one warm-up round, median of ${repetitions}. Load average (1 min) while the figures were taken: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${cpus().length} cores shared with others.`,
      ],
    };
  },
};
