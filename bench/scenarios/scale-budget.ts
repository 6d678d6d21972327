import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { ColdOutput, FillOutput } from '../children/scale-budget-worker.js';
import { runChild } from '../lib/child.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { median } from '../lib/timing.js';

/** What the worker runs with (bench/children/scale-budget-worker.ts): issue 15's budget for 10M entries. */
const BUDGET_MB = 256;
/** New processes that only open the store, for the median open time. */
const OPENS = 3;

const labelOf = (entries: number) => (entries >= 1_000_000 ? `${entries / 1_000_000}M` : `${entries / 1000}k`);
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface SizeFigures {
  entries: number;
  fill: FillOutput;
  rawFillMs: number;
  cold: ColdOutput[];
  rawCold: ColdOutput[];
  opens: number[];
  rawOpens: number[];
}

/**
 * Issue 15's scale target: millions of small results under `memoryBudget`
 * 256 MiB on LevelDB. One process fills the store (checkpoint every 100k);
 * new processes then open it and hit scattered entries that are not in
 * memory, against raw classic-level getSync + CBOR decode of the same calls
 * (cold-restart's baseline store, one record per call) at the same size.
 */
export const scaleBudget: Scenario = {
  name: 'scale-budget',
  title: 'Scale under memoryBudget 256 MiB: memory while filling 1M and 10M entries, cold hits and open time after a restart (LevelDB)',
  async run({ quick, scratch, log }) {
    // Quick: small enough to stay short (a 1M fill alone takes minutes); the budget is not reached there.
    const sizes = quick ? [10_000, 100_000] : [1_000_000, 10_000_000];
    const hits = quick ? 5_000 : 50_000;
    const repetitions = quick ? 1 : 3;
    const bySize: SizeFigures[] = [];
    for (const entries of sizes) {
      const label = labelOf(entries);
      const path = join(scratch, `scale-budget-${entries}`);
      const rawPath = join(scratch, `scale-budget-raw-${entries}`);
      const fill = await runChild<FillOutput>('scale-budget-worker', ['fill', path, String(entries)], ['--expose-gc']);
      log(`${label}: filled in ${fixed(fill.fillMs / 1000)} s, peak RSS ${fixed(fill.peakRssMB)} MB, ${fixed(fill.after.inMemory)} entries left in memory`);
      const rawFillMs = (await runChild<{ fillMs: number }>('scale-budget-worker', ['raw-fill', rawPath, String(entries)])).fillMs;
      const figures: SizeFigures = { entries, fill, rawFillMs, cold: [], rawCold: [], opens: [], rawOpens: [] };
      // Alternated, one new process each: a burst of load from elsewhere hits both sides alike.
      for (let round = 0; round < repetitions; round++) {
        figures.cold.push(await runChild<ColdOutput>('scale-budget-worker', ['cold', path, String(entries), String(hits)], ['--expose-gc']));
        figures.rawCold.push(await runChild<ColdOutput>('scale-budget-worker', ['raw-cold', rawPath, String(entries), String(hits)]));
      }
      for (let round = 0; round < OPENS; round++) {
        figures.opens.push((await runChild<{ openMs: number }>('scale-budget-worker', ['open', path, String(entries)])).openMs);
        figures.rawOpens.push((await runChild<ColdOutput>('scale-budget-worker', ['raw-cold', rawPath, String(entries), '1'])).openMs);
      }
      log(
        `${label}: cold hit ${fixed(median(figures.cold.map((c) => c.hitMicros)), 1)} µs (raw ${fixed(median(figures.rawCold.map((c) => c.hitMicros)), 1)} µs), ` +
          `open ${fixed(median(figures.opens), 1)} ms (raw ${fixed(median(figures.rawOpens), 1)} ms)`,
      );
      bySize.push(figures);
      // A 10M store takes gigabytes of scratch: gone once measured.
      rmSync(path, { recursive: true, force: true });
      rmSync(rawPath, { recursive: true, force: true });
    }

    const results: BenchResult[] = [];
    const notes: string[] = [];
    const budget = { baselineName: `memoryBudget (${BUDGET_MB} MiB)`, baseline: BUDGET_MB, better: 'lower' as const };
    for (const { entries, fill, rawFillMs, cold, rawCold, opens, rawOpens } of bySize) {
      const label = labelOf(entries);
      const coldMicros = median(cold.map((c) => c.hitMicros));
      const rawMicros = median(rawCold.map((c) => c.hitMicros));
      results.push(
        result({ scenario: 'scale-budget', metric: `peak RSS filling ${label} entries`, unit: 'MB', value: fill.peakRssMB, ...budget, note: `overhead over the budget ${fixed(fill.peakRssMB - BUDGET_MB)} MB; RSS before opening the cache ${fixed(fill.startRssMB)} MB` }),
        result({ scenario: 'scale-budget', metric: `RSS after filling ${label} entries (checkpointed, GC)`, unit: 'MB', value: fill.after.rssMB, ...budget, note: `anonymous ${fixed(fill.after.rssAnonMB)} MB, mapped files ${fixed(fill.after.rssFileMB)} MB; heap used ${fixed(fill.after.heapMB)} MB of ${fixed(fill.after.heapTotalMB)} MB committed, external ${fixed(fill.after.externalMB)} MB, ${fixed(fill.after.inMemory)} entries in memory` }),
        result({ scenario: 'scale-budget', metric: `peak heap used filling ${label} entries (sampled at checkpoints)`, unit: 'MB', value: fill.peakHeapMB, ...budget }),
        result({
          scenario: 'scale-budget',
          metric: `cold hit from a ${label}-entry store (${hits.toLocaleString('en-US')} scattered calls, new process)`,
          unit: 'µs/hit',
          value: coldMicros,
          baselineName: 'classic-level getSync + cbor decode, same size',
          baseline: rawMicros,
          better: 'lower',
          note: `RSS after the hits ${fixed(median(cold.map((c) => c.memory?.rssMB ?? NaN)))} MB (mapped table files ${fixed(median(cold.map((c) => c.memory?.rssFileMB ?? NaN)))} MB); close() writing their hit counters ${fixed(median(cold.map((c) => c.closeMs ?? NaN)))} ms`,
        }),
        // The first open after the filling process replays its last checkpoint from LevelDB's log (it then sits in a table).
        result({
          scenario: 'scale-budget',
          metric: `first openCache on a ${label}-entry store after the filling process`,
          unit: 'ms',
          value: cold[0]?.openMs ?? NaN,
          baselineName: 'first classic-level open of the raw store after its fill',
          baseline: rawCold[0]?.openMs ?? NaN,
          better: 'lower',
          note: 'issue 15: under a second',
        }),
        result({
          scenario: 'scale-budget',
          metric: `openCache on a ${label}-entry store (new process, after the reading processes)`,
          unit: 'ms',
          value: median(opens),
          baselineName: 'classic-level open of the raw store, same size',
          baseline: median(rawOpens),
          better: 'lower',
          note: 'issue 15: under a second',
        }),
        result({ scenario: 'scale-budget', metric: `fill of ${label} entries (misses, checkpoint every 100k)`, unit: 'ms', value: fill.fillMs, baselineName: 'raw chained batches of the same calls', baseline: rawFillMs, better: 'lower' }),
      );
      const trajectory = fill.samples.map((s) => `${labelOf(s.entries)}: RSS ${fixed(s.rssMB)} (anonymous ${fixed(s.rssAnonMB)}, mapped files ${fixed(s.rssFileMB)}; heap ${fixed(s.heapMB)}/${fixed(s.heapTotalMB)}, ${fixed(s.inMemory)} in memory)`).join('; ');
      if (trajectory !== '') notes.push(`scale-budget ${label}: memory during the fill (after a checkpoint, no forced GC), MB: ${trajectory}.`);
    }
    if (bySize.length === 2) {
      const [small, large] = bySize as [SizeFigures, SizeFigures];
      const hitOf = (figures: SizeFigures) => median(figures.cold.map((c) => c.hitMicros));
      const rawOf = (figures: SizeFigures) => median(figures.rawCold.map((c) => c.hitMicros));
      results.push(
        result({
          scenario: 'scale-budget',
          metric: `cold hit at ${labelOf(large.entries)} vs ${labelOf(small.entries)} entries (flat is 1×)`,
          unit: 'µs/hit',
          value: hitOf(large),
          baselineName: `the same at ${labelOf(small.entries)} entries`,
          baseline: hitOf(small),
          better: 'lower',
          note: `raw getSync + decode: ${fixed(rawOf(large) / rawOf(small), 2)}× from ${labelOf(small.entries)} to ${labelOf(large.entries)}`,
        }),
      );
    }
    notes.push(
      `scale-budget: LevelBackend (defaults), memoryBudget ${BUDGET_MB} MiB, flush 'manual', lease off, checkpoint every 100k new entries, the scale workload's calls. ` +
        `Peak RSS is VmHWM of the filling process (/proc/self/status), heap used is sampled after each checkpoint; no GC is forced during the fill (forced GCs keep RSS lower than a job runs), two after it for the RSS-after row. ` +
        `Cold hits: ${hits.toLocaleString('en-US')} distinct calls in a scattered order (i × 7919 mod N), each a new process that opened the store, median of ${repetitions}, alternated with the raw reader; ` +
        `open: median of ${OPENS} processes that open and close. Files are in the OS page cache (the stores were just written). Ratios, not assertions.`,
    );
    return { results, notes };
  },
};
