import type { Command } from 'commander';
import { moduleSummaries } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { formatDuration, formatSize, formatTable } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** `memostrata stats`: per module hits, misses and time saved, with totals. */
export function statsCommand(program: Command): void {
  program
    .command('stats')
    .description('per module: hits, misses (calls computed), compute time, time saved; and totals')
    .action(action(stats));
}

interface StatsRow {
  module: string;
  hits: number;
  misses: number;
  hitRate: number | null;
  computeMs: number;
  savedMs: number;
  bytes: number;
}

async function stats(context: CommandContext): Promise<number> {
  const summaries = await withStore(context.store(), 'existing', (store) => context.withProgress('reading', (onProgress) => moduleSummaries(store, { onProgress })));
  // Every stored call was computed once: a miss. Hits are those counted in the store (as of each call's last flush).
  const rows: StatsRow[] = summaries.map((summary) => row(summary.name, summary.hits, summary.entries, summary.computeMs, summary.savedMs, summary.bytes));
  const totals = rows.reduce(
    (sum, r) => row('total', sum.hits + r.hits, sum.misses + r.misses, sum.computeMs + r.computeMs, sum.savedMs + r.savedMs, sum.bytes + r.bytes),
    row('total', 0, 0, 0, 0, 0),
  );
  if (context.json) {
    const strip = ({ module, ...rest }: StatsRow) => ({ name: module, ...rest });
    const { module: _, ...total } = totals;
    context.printJson({ modules: rows.map(strip), total });
    return 0;
  }
  if (rows.length === 0) {
    context.print('no modules');
    return 0;
  }
  const cells = (r: StatsRow): string[] => [
    r.module,
    r.hits.toLocaleString('en-US'),
    r.misses.toLocaleString('en-US'),
    r.hitRate === null ? '-' : `${(r.hitRate * 100).toFixed(1)}%`,
    formatDuration(r.computeMs),
    formatDuration(r.savedMs),
    formatSize(r.bytes),
  ];
  context.print(
    formatTable(
      [
        { header: 'module' },
        { header: 'hits', align: 'right' },
        { header: 'misses', align: 'right' },
        { header: 'hit rate', align: 'right' },
        { header: 'compute', align: 'right' },
        { header: 'saved', align: 'right' },
        { header: 'results', align: 'right' },
      ],
      [...rows.map(cells), cells(totals)],
    ),
  );
  return 0;
}

function row(module: string, hits: number, misses: number, computeMs: number, savedMs: number, bytes: number): StatsRow {
  return { module, hits, misses, hitRate: hits + misses === 0 ? null : hits / (hits + misses), computeMs, savedMs, bytes };
}
